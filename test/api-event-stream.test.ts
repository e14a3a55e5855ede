// Live events (§4.9.16, §4.9.17): one upstream attach shared by every SSE client, Last-Event-ID
// replay, filters, a stalled stream detected and recovered with synthetic stops, stream faults,
// the upstream closed after the last client leaves; the active-state and index endpoints.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { CameraClient } from '../adapters/cgi/client.ts';
import { boundaryFromContentType, MultipartParser, parseEventInfo } from '../adapters/cgi/multipart.ts';
import { closeAll, hubDefaults, hubFor } from '../adapters/events/hub.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { sseSettings } from '../adapters/rest/event-stream.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const KEEPALIVE_S = 1;
hubDefaults.keepaliveSeconds = KEEPALIVE_S;
hubDefaults.backoffMinMs = 100;
hubDefaults.backoffMaxMs = 1_000;
sseSettings.heartbeatMs = 300;

const viewer = basic(USERS.viewer);

interface SseEvent { id: number; code: string; action: string; channel: number; synthetic: boolean; data?: unknown; cameraTime: string | null; gatewayTime: string }

class SseClient {
  events: SseEvent[] = [];
  comments = 0;
  opened = false;
  ended = false;
  private waiters: Array<() => void> = [];
  private buf = '';
  private body: { destroy(): void } | undefined;

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const c = new SseClient();
    const res = await request(url, { headers: { authorization: viewer, accept: 'text/event-stream', ...headers }, bodyTimeout: 0 });
    assert.equal(res.statusCode, 200, `SSE open: ${res.statusCode}`);
    assert.match(String(res.headers['content-type']), /^text\/event-stream/);
    c.body = res.body;
    c.opened = true;
    res.body.on('data', (chunk: Buffer) => c.feed(chunk.toString('utf8')));
    res.body.on('end', () => { c.ended = true; c.notify(); });
    res.body.on('error', () => { c.ended = true; c.notify(); });
    return c;
  }

  private feed(text: string): void {
    this.buf += text;
    let i: number;
    while ((i = this.buf.indexOf('\n\n')) >= 0) {
      const block = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 2);
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) this.comments++;
        else if (line.startsWith('data: ')) this.events.push(JSON.parse(line.slice(6)) as SseEvent);
      }
    }
    this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async waitFor(pred: (c: SseClient) => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => [e.id, e.code, e.action, e.channel, e.synthetic]))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }

  close(): void { this.body?.destroy(); }
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('event stream (SSE)', () => {
  let stack: Stack;
  let server: Server;
  let base: string;
  const clients: SseClient[] = [];
  const open = async (query = '', headers: Record<string, string> = {}): Promise<SseClient> => {
    const c = await SseClient.open(`${base}/api/v1/cameras/cam1/events/stream${query}`, headers);
    clients.push(c);
    return c;
  };
  const hub = () => hubFor(stack.cameras.get('cam1')!);

  before(async () => {
    stack = await startStack();
    server = stack.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // The first request compiles validators; keep that out of the timings below.
    const warm = await request(`${base}/api/v1/cameras/cam1/events/indexes?code=AlarmLocal`, { headers: { authorization: viewer } });
    await warm.body.text();
  });

  after(async () => {
    for (const c of clients) c.close();
    await closeAll();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await stack.close();
  });

  it('50 clients share one upstream attach; an injected event reaches all of them within 1 s', async () => {
    const many = await Promise.all(Array.from({ length: 50 }, () => open()));
    await until(() => hub().connected && hub().synchronised, 5_000, 'the hub to attach');
    assert.equal(stack.sim.attachCount(), 1);
    assert.equal(stack.sim.attachTotal(), 1);
    const started = performance.now();
    stack.sim.raiseEvent('VideoMotion', 'Start', 0, { RegionName: ['Region1'], Note: 'a=b; c=d' });
    await Promise.all(many.map((c) => c.waitFor((x) => x.events.some((e) => e.code === 'VideoMotion' && e.action === 'Start'), 1_000, 'VideoMotion Start')));
    const ms = performance.now() - started;
    assert.ok(ms < 1_000, `fan-out took ${ms} ms`);
    const e = many[0]!.events.find((x) => x.code === 'VideoMotion')!;
    assert.equal(e.channel, 1);
    assert.equal(e.synthetic, false);
    assert.deepEqual((e.data as Record<string, unknown>).Note, 'a=b; c=d');
    assert.match(String(e.cameraTime), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    assert.ok(!Number.isNaN(Date.parse(e.gatewayTime)));
    // Same ids for everyone.
    assert.ok(many.every((c) => c.events.find((x) => x.code === 'VideoMotion')!.id === e.id));
    stack.sim.raiseEvent('VideoMotion', 'Stop', 0);
    await many[0]!.waitFor((x) => x.events.some((y) => y.code === 'VideoMotion' && y.action === 'Stop'), 1_000, 'Stop');
    for (const c of many) c.close();
  });

  it('sends heartbeat comments', async () => {
    const c = await open();
    await c.waitFor((x) => x.comments >= 2, 2_000, 'heartbeat comments');
    c.close();
  });

  it('replays from Last-Event-ID, then goes on live', async () => {
    const first = await open();
    await until(() => hub().connected, 5_000, 'attach');
    stack.sim.raiseEvent('VideoBlind', 'Start', 0);
    await first.waitFor((x) => x.events.some((e) => e.code === 'VideoBlind'), 1_000, 'VideoBlind');
    const mark = first.events.find((e) => e.code === 'VideoBlind')!.id;
    stack.sim.raiseEvent('VideoBlind', 'Stop', 0);
    stack.sim.raiseEvent('VideoLoss', 'Pulse', 0);
    await first.waitFor((x) => x.events.some((e) => e.code === 'VideoLoss'), 1_000, 'VideoLoss');
    const replay = await open('', { 'last-event-id': String(mark) });
    await replay.waitFor((x) => x.events.length >= 2, 1_000, 'the replay');
    assert.deepEqual(replay.events.slice(0, 2).map((e) => [e.code, e.action]), [['VideoBlind', 'Stop'], ['VideoLoss', 'Pulse']]);
    assert.ok(replay.events.every((e) => e.id > mark));
    stack.sim.raiseEvent('VideoLoss', 'Pulse', 0, { n: 2 });
    await replay.waitFor((x) => x.events.length >= 3, 1_000, 'the live event after the replay');
    const ids = replay.events.map((e) => e.id);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'ids increase');
    first.close();
    replay.close();
  });

  it('filters by code and channel on the gateway side', async () => {
    const filtered = await open('?codes=AlarmLocal,VideoLoss&channel=2');
    const all = await open();
    await until(() => hub().connected, 5_000, 'attach');
    stack.sim.raiseEvent('VideoMotion', 'Pulse', 1);
    stack.sim.raiseEvent('AlarmLocal', 'Pulse', 0);
    stack.sim.raiseEvent('AlarmLocal', 'Pulse', 1);
    stack.sim.raiseEvent('VideoLoss', 'Pulse', 1);
    await all.waitFor((x) => x.events.filter((e) => e.action === 'Pulse').length >= 4, 1_000, 'all four');
    await filtered.waitFor((x) => x.events.length >= 2, 1_000, 'the filtered two');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(filtered.events.map((e) => [e.code, e.channel]), [['AlarmLocal', 2], ['VideoLoss', 2]]);
    assert.equal(stack.sim.attachCount(), 1);
    filtered.close();
    all.close();
  });

  it('refuses a malformed filter with 400', async () => {
    const res = await request(`${base}/api/v1/cameras/cam1/events/stream?codes=a%20b`, { headers: { authorization: viewer } });
    assert.equal(res.statusCode, 400);
    await res.body.text();
  });

  it('reads the stream through malformed multipart, split chunks and stray status lines', async () => {
    const c = await open('?codes=VideoMotion');
    await until(() => hub().connected, 5_000, 'attach');
    Object.assign(stack.sim.faults, { streamMalformed: true, streamSplitChunks: true, streamStrayStatusLine: true });
    try {
      stack.sim.raiseEvent('VideoMotion', 'Pulse', 0, { json: '{"x":"a;b=c"}' });
      stack.sim.raiseEvent('VideoMotion', 'Pulse', 1);
      await c.waitFor((x) => x.events.length >= 2, 2_000, 'two events through the faults');
      assert.deepEqual(c.events.map((e) => e.channel), [1, 2]);
      assert.equal((c.events[0]!.data as Record<string, unknown>).json, '{"x":"a;b=c"}');
    } finally {
      Object.assign(stack.sim.faults, { streamMalformed: false, streamSplitChunks: false, streamStrayStatusLine: false });
    }
    c.close();
  });

  it('detects a stalled stream within 3x the keepalive, reconnects and emits a synthetic stop', async () => {
    const c = await open('?codes=AlarmLocal');
    await until(() => hub().connected && hub().synchronised, 5_000, 'attach');
    stack.sim.raiseEvent('AlarmLocal', 'Start', 1);
    await c.waitFor((x) => x.events.some((e) => e.channel === 2 && e.action === 'Start'), 1_000, 'Start');
    const stalls = hub().stats.stalls;
    const attaches = stack.sim.attachTotal();
    stack.sim.faults.streamStall = true;
    const stalledAt = performance.now();
    // Ends while the gateway cannot hear it.
    stack.sim.raiseEvent('AlarmLocal', 'Stop', 1);
    await until(() => hub().stats.stalls > stalls, 3 * KEEPALIVE_S * 1000 + 200, 'the watchdog');
    const detectedMs = performance.now() - stalledAt;
    assert.ok(detectedMs <= 3 * KEEPALIVE_S * 1000 + 100, `stall detected after ${detectedMs} ms`);
    stack.sim.faults.streamStall = false;
    await c.waitFor((x) => x.events.some((e) => e.channel === 2 && e.action === 'Stop'), 3_000, 'the synthetic Stop');
    const stop = c.events.find((e) => e.channel === 2 && e.action === 'Stop')!;
    assert.equal(stop.synthetic, true);
    assert.ok(stack.sim.attachTotal() > attaches, 'a new attach');
    await until(() => stack.sim.attachCount() === 1, 2_000, 'the stalled upstream to be closed');
    // Live again.
    stack.sim.raiseEvent('AlarmLocal', 'Pulse', 0);
    await c.waitFor((x) => x.events.some((e) => e.action === 'Pulse'), 1_000, 'a live event after recovery');
    c.close();
  });

  it('reconnects after the camera resets the stream', async () => {
    const c = await open('?codes=VideoLoss');
    await until(() => hub().connected, 5_000, 'attach');
    const attaches = stack.sim.attachTotal();
    stack.sim.faults.streamReset = true;
    await until(() => hub().stats.reconnects > 0 && !hub().connected, 3_000, 'the reset to be seen');
    stack.sim.faults.streamReset = false;
    await until(() => hub().connected && stack.sim.attachTotal() > attaches, 5_000, 'the reconnect');
    stack.sim.raiseEvent('VideoLoss', 'Start', 0);
    await c.waitFor((x) => x.events.some((e) => e.code === 'VideoLoss' && !e.synthetic), 1_000, 'an event after the reset');
    stack.sim.raiseEvent('VideoLoss', 'Stop', 0);
    c.close();
  });

  it('serves the active state from the hub while attached', async () => {
    const c = await open();
    await until(() => hub().connected && hub().synchronised, 5_000, 'attach');
    stack.sim.raiseEvent('VideoMotion', 'Start', 2);
    await c.waitFor((x) => x.events.some((e) => e.code === 'VideoMotion' && e.channel === 3), 1_000, 'Start');
    const res = await request(`${base}/api/v1/cameras/cam1/events/active`, { headers: { authorization: viewer } });
    const body = (await res.body.json()) as { source: string; items: Array<{ code: string; channel: number; since?: string }> };
    assert.equal(res.statusCode, 200);
    assert.equal(body.source, 'stream');
    assert.ok(body.items.some((i) => i.code === 'VideoMotion' && i.channel === 3 && typeof i.since === 'string'));
    assert.ok(body.items.some((i) => i.code === 'AlarmLocal' && i.channel === 1));
    stack.sim.raiseEvent('VideoMotion', 'Stop', 2);
    c.close();
  });

  it('closes the upstream after the last client leaves', async () => {
    for (const c of clients) c.close();
    await until(() => stack.sim.attachCount() === 0, 2_000, 'the upstream to close');
    assert.equal(hub().subscriberCount, 0);
    assert.equal(hub().connected, false);
  });

  it('answers the active state by polling when nobody is attached, and event indexes counted from 1', async () => {
    const res = await request(`${base}/api/v1/cameras/cam1/events/active`, { headers: { authorization: viewer } });
    const body = (await res.body.json()) as { source: string; items: Array<{ code: string; channel: number }> };
    assert.equal(res.statusCode, 200);
    assert.equal(body.source, 'poll');
    assert.deepEqual(body.items.filter((i) => i.code === 'AlarmLocal').map((i) => i.channel), [1, 3, 4]);
    const idx = await request(`${base}/api/v1/cameras/cam1/events/indexes?code=AlarmLocal`, { headers: { authorization: viewer } });
    assert.deepEqual(await idx.body.json(), { code: 'AlarmLocal', channels: [1, 3, 4] });
    const none = await request(`${base}/api/v1/cameras/cam1/events/indexes?code=VideoMotion`, { headers: { authorization: viewer } });
    assert.deepEqual(await none.body.json(), { code: 'VideoMotion', channels: [] });
    assert.equal(stack.sim.attachCount(), 0);
  });

  it('ends every SSE response when the hubs close (gateway stop)', async () => {
    const c = await open();
    await until(() => hub().connected, 5_000, 'attach');
    await closeAll();
    await c.waitFor((x) => x.ended, 2_000, 'the response to end');
    await until(() => stack.sim.attachCount() === 0, 2_000, 'the upstream to close');
  });
});

describe('CameraClient.openStream', () => {
  let sim: Simulator;
  let client: CameraClient;
  before(async () => {
    sim = await startSimulator({ password: 'pw-Stream1' });
    client = new CameraClient({ baseUrl: sim.url, username: 'admin', password: 'pw-Stream1', maxInFlight: 3 });
  });
  after(async () => {
    await client.close();
    await sim.close();
  });

  it('holds no scheduler slot: four streams open and requests still go through', async () => {
    const streams = await Promise.all(Array.from({ length: 4 }, () =>
      client.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]&keepalive=1' })));
    assert.ok(streams.every((s) => s.status === 200));
    assert.equal(sim.attachCount(), 4);
    const started = performance.now();
    const res = await Promise.all(Array.from({ length: 6 }, () =>
      client.request({ path: '/cgi-bin/eventManager.cgi', query: 'action=getEventIndexes&code=AlarmLocal', read: true })));
    assert.ok(res.every((r) => r.status === 200 && r.body.includes('channels[0]=0')));
    assert.ok(performance.now() - started < 2_000);
    // Digest once: the streams and the requests share the nonce logic (no 401 per stream after the first).
    assert.ok(client.stats.authRoundTrips <= 4, `auth round trips ${client.stats.authRoundTrips}`);
    for (const s of streams) s.close();
    await until(() => sim.attachCount() === 0, 2_000, 'the streams to close');
  });

  it('ends on its signal, before and after the answer', async () => {
    const abort = new AbortController();
    const s = await client.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]', signal: abort.signal });
    assert.equal(sim.attachCount(), 1);
    abort.abort();
    await until(() => sim.attachCount() === 0, 2_000, 'the aborted stream to close');
    assert.ok((s.body as unknown as { destroyed: boolean }).destroyed);
    const early = new AbortController();
    early.abort();
    await assert.rejects(client.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]', signal: early.signal }));
  });

  it('is refused while the breaker is open, like every call', async () => {
    const bad = new CameraClient({ baseUrl: sim.url, username: 'admin', password: 'wrong' });
    try {
      await assert.rejects(bad.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]' }), { code: 'CAMERA_AUTH_FAILED' });
      await assert.rejects(bad.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]' }));
      assert.ok(bad.stats.authFailures <= 2);
    } finally {
      await bad.close();
    }
  });
});

describe('simulator event manager', () => {
  let sim: Simulator;
  let client: CameraClient;
  before(async () => {
    sim = await startSimulator({ password: 'pw-Events1', control: true, events: { everyMs: 100 } });
    client = new CameraClient({ baseUrl: sim.url, username: 'admin', password: 'pw-Events1' });
  });
  after(async () => {
    await client.close();
    await sim.close();
  });

  it('streams scheduled and commanded events as multipart, filtered by codes, with heartbeats', async () => {
    const s = await client.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[VideoMotion,AlarmLocal]&keepalive=1' });
    assert.match(String(s.headers['content-type']), /^multipart\/x-mixed-replace; boundary=myboundary$/);
    const parser = new MultipartParser(boundaryFromContentType(s.headers['content-type'])!);
    const seen: string[] = [];
    s.body.on('data', (c: Buffer) => {
      for (const p of parser.push(c)) {
        const e = parseEventInfo(p.body.toString('utf8'));
        seen.push(e.kind === 'event' ? `${e.event.code}:${e.event.action}:${e.event.index}` : e.kind);
      }
    });
    await until(() => seen.includes('VideoMotion:Start:0') && seen.includes('VideoMotion:Stop:0'), 2_000, 'scheduled events');
    const res = await request(`${sim.url}/__sim/events`, { method: 'POST', body: JSON.stringify({ code: 'AlarmLocal', action: 'Stop', index: 2 }) });
    assert.equal(res.statusCode, 200);
    await res.body.text();
    sim.raiseEvent('VideoBlind', 'Start', 0);   // not among the codes asked for
    await until(() => seen.includes('AlarmLocal:Stop:2'), 1_000, 'the commanded event');
    await until(() => seen.includes('heartbeat'), 2_000, 'a heartbeat');
    assert.ok(!seen.some((x) => x.startsWith('VideoBlind')));
    const idx = await client.request({ path: '/cgi-bin/eventManager.cgi', query: 'action=getEventIndexes&code=AlarmLocal', read: true });
    assert.equal(idx.body, 'channels[0]=0\r\nchannels[1]=3\r\n');
    const blind = await client.request({ path: '/cgi-bin/eventManager.cgi', query: 'action=getEventIndexes&code=VideoBlind', read: true });
    assert.equal(blind.body, 'channels[0]=0\r\n');
    s.close();
  });

  it('refuses a keepalive outside 1..60 s', async () => {
    const s = await client.openStream({ path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]&keepalive=61' });
    let text = '';
    for await (const c of s.body) text += (c as Buffer).toString();
    assert.match(text, /ErrorID=4/);
  });
});
