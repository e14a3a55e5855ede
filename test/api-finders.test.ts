// Finder sessions as paginated collections (vendor §4.11.5, §4.13.1, §4.13.2): paging returns
// every item once, tokens are bound to their user and camera, and the camera's finder is freed
// after the last page, on an error, a timeout, a client abort, when the client stops paging
// (reaper) and at shutdown.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { parse } from 'yaml';
import { closeAllFinders, configureFinders, finderItems, finderSessions } from '../adapters/rest/finders.ts';
import { loadSpec } from '../gateway/spec.ts';
import { LOG_DAYS, LOG_INTERVAL_MINUTES, RECORDED_HOURS } from '../simulator/finders.ts';
import { basic, startStack, TOKEN, USERS, type Stack, type StackOptions } from './stack.ts';

const admin = basic(USERS.admin);
const operator = basic(USERS.operator);
const viewer = basic(USERS.viewer);
const bearer = `Bearer ${TOKEN.token}`;
const RECORDINGS = '/api/v1/cameras/cam1/recordings';
const LOGS = '/api/v1/cameras/cam1/logs';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

const stacks: Stack[] = [];
after(async () => {
  for (const s of stacks) await closeAllFinders(s.cameras);
  await Promise.all(stacks.map((s) => s.close()));
});

async function stack(options: StackOptions = {}): Promise<Stack> {
  const s = await startStack(options);
  stacks.push(s);
  return s;
}

async function eventually(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > until) assert.fail(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function cameraCalls(s: Stack, action: string): string[] {
  const pattern = new RegExp(`[?&]action=${action.replace('.', '\\.')}(&|$)`);
  return s.sim.requestLog.filter((r) => r.authorized && pattern.test(r.rawUrl)).map((r) => r.rawUrl);
}

/** Pages through a collection; answers the items and the number of pages. */
async function pageAll(s: Stack, url: string, auth = admin): Promise<{ items: Array<Record<string, unknown>>; pages: number }> {
  const items: Array<Record<string, unknown>> = [];
  let token: string | undefined;
  let pages = 0;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const res = await request(s.app).get(token === undefined ? url : `${url}${sep}pageToken=${token}`).set('Authorization', auth);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    items.push(...(res.body.items as Array<Record<string, unknown>>));
    token = res.body.nextPageToken as string | undefined;
    pages++;
    assert.ok(pages < 1000);
  } while (token !== undefined);
  return { items, pages };
}

/** Local camera time as the gateway shows it: the simulator's clock is the host clock read in UTC fields. */
function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

describe("the vendor's example answers", () => {
  const spec = loadSpec();
  const answers = parse(readFileSync(new URL('../simulator/data/answers.yaml', import.meta.url), 'utf8')) as Array<{ request: string; body: string }>;
  const body = (request: string) => answers.find((a) => a.request === request)!.body;

  it('findNextFile (Table 4-137) types as a recording without a warning', () => {
    const { items, warnings } = finderItems('recordings', body('/cgi-bin/mediaFileFind.cgi?action=findNextFile'), spec);
    assert.deepEqual(warnings, []);
    assert.deepEqual(items, [{
      channel: 2, startTime: '2011-01-01T12:00:00', endTime: '2011-01-01T13:00:00', type: 'dav', events: ['AlarmLocal'],
      videoStream: 'Main', filePath: '/mnt/dvr/sda0/2010/8/11/dav/15:40:50.jpg', length: 790, duration: 3600,
    }]);
  });

  it('doFind (Table 4-151) types as log entries without a warning', () => {
    const { items, warnings } = finderItems('logs', body('/cgi-bin/log.cgi?action=doFind'), spec);
    assert.deepEqual(warnings, []);
    assert.deepEqual(items, [
      { recNo: 789, time: '2011-05-20T11:59:10', type: 'ClearLog', user: 'admin' },
      { detail: { Compression: 'H.264->MJPG', Data: 'Encode' }, recNo: 790, time: '2011-05-20T11:59:21', type: 'SaveConfig', user: 'System' },
    ]);
  });

  it('keeps what it cannot read and says so: an odd time, a field the document does not know', () => {
    const text = 'found=1\r\nitems[0].Channel=0\r\nitems[0].StartTime=yesterday\r\nitems[0].EndTime=2011-1-1 13:00:00\r\nitems[0].Disk=3\r\n';
    const { items, warnings } = finderItems('recordings', text, spec);
    assert.deepEqual(items, [{ channel: 1, startTime: 'yesterday', endTime: '2011-01-01T13:00:00' }]);
    assert.equal(warnings.length, 2, warnings.join('; '));
    assert.match(warnings.join(), /startTime.*yesterday/);
    assert.match(warnings.join(), /Disk/);
  });
});

describe('recordings (§4.11.5 mediaFileFind)', () => {
  it('pages through every recording once with pageSize 5 and leaves no finder open', async () => {
    const s = await stack();
    s.sim.resetStats();
    const { items, pages } = await pageAll(s, `${RECORDINGS}?pageSize=5`);
    assert.equal(items.length, RECORDED_HOURS);
    assert.equal(pages, Math.ceil(RECORDED_HOURS / 5));
    assert.equal(new Set(items.map((i) => i.startTime)).size, items.length, 'no item twice');
    assert.equal(new Set(items.map((i) => i.filePath)).size, items.length);
    for (const item of items) {
      assert.match(String(item.startTime), ISO);
      assert.match(String(item.endTime), ISO);
      assert.equal(item.channel, 1, 'the camera counts channels from 0, the API from 1');
      assert.equal(item.type, 'dav');
      assert.equal(item.duration, 3600);
    }
    assert.equal(s.sim.openFinders(), 0);
    assert.equal(finderSessions(s.cameras).size.open, 0);
    assert.ok(!s.logs.some((l) => l.includes('did not fit')), 'every item fits the document');
    assert.equal(cameraCalls(s, 'factory.create').length, 1);
    assert.equal(cameraCalls(s, 'close').length, 1);
    assert.equal(cameraCalls(s, 'destroy').length, 1);
    for (const url of cameraCalls(s, 'findNextFile')) assert.ok(Number(/count=(\d+)/.exec(url)![1]) <= 100, url);
  });

  it('answers a page of at most pageSize, and one big page without a token', async () => {
    const s = await stack();
    const res = await request(s.app).get(`${RECORDINGS}?pageSize=1000`).set('Authorization', admin);
    assert.equal(res.status, 200);
    assert.equal(res.body.items.length, RECORDED_HOURS);
    assert.equal(res.body.nextPageToken, undefined);
    assert.equal(s.sim.openFinders(), 0);
    // The camera answers at most 100 files per findNextFile.
    assert.ok(cameraCalls(s, 'findNextFile').every((u) => Number(/count=(\d+)/.exec(u)![1]) <= 100));
  });

  it('takes and gives times as ISO 8601 local date-times; sends the camera its own format', async () => {
    const s = await stack();
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const start = iso(hour - 10 * 3_600_000);
    const end = iso(hour - 5 * 3_600_000 - 1_000);
    s.sim.resetStats();
    const res = await request(s.app).get(`${RECORDINGS}?startTime=${start}&endTime=${end}&channel=1`).set('Authorization', viewer);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(res.body.items.length >= 5 && res.body.items.length <= 6, String(res.body.items.length));
    for (const item of res.body.items) {
      assert.ok(item.startTime <= end && item.endTime >= start, `${item.startTime}..${item.endTime} overlaps ${start}..${end}`);
    }
    const findFile = cameraCalls(s, 'findFile')[0]!;
    const cameraStart = start.replace('T', '%20').replaceAll(':', '%3A');
    assert.ok(findFile.includes(`condition.StartTime=${cameraStart}`), findFile);
    assert.ok(findFile.includes('condition.Channel=1'), findFile);
    assert.equal(s.sim.openFinders(), 0);
  });

  it('narrows by flags and events; no match is an empty page and the finder is still freed', async () => {
    const s = await stack();
    const events = await request(s.app).get(`${RECORDINGS}?flags=Event&events=VideoMotion`).set('Authorization', admin);
    assert.equal(events.status, 200, JSON.stringify(events.body));
    assert.equal(events.body.items.length, RECORDED_HOURS / 6);
    for (const item of events.body.items) assert.deepEqual(item.events, ['VideoMotion']);
    s.sim.resetStats();
    const none = await request(s.app).get(`${RECORDINGS}?types=jpg&types=mp4`).set('Authorization', admin);
    assert.equal(none.status, 200, JSON.stringify(none.body));
    assert.deepEqual(none.body, { items: [] });
    assert.ok(cameraCalls(s, 'findFile')[0]!.includes('condition.Types[0]=jpg&condition.Types[1]=mp4'));
    assert.equal(cameraCalls(s, 'destroy').length, 1);
    assert.equal(s.sim.openFinders(), 0);
  });

  it('refuses a bad time with 400 and sends nothing to the camera', async () => {
    const s = await stack();
    s.sim.resetStats();
    for (const [query, pointer] of [
      ['startTime=2024-02-30T00:00:00', '/query/startTime'],
      ['startTime=2024-1-1%2000:00:00', '/query/startTime'],
      ['endTime=2024-01-01T24:00:00', '/query/endTime'],
      ['startTime=2024-05-02T00:00:00&endTime=2024-05-01T00:00:00', '/query/endTime'],
      ['types=avi', '/query/types/0'],
      ['pageSize=0', '/query/pageSize'],
      ['pageToken=not%20a%20token', '/query/pageToken'],
    ] as const) {
      const res = await request(s.app).get(`${RECORDINGS}?${query}`).set('Authorization', admin);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer.startsWith(pointer)), `${query}: ${JSON.stringify(res.body.errors)}`);
    }
    for (const query of ['startTime=2024-02-30T00:00:00', 'endTime=yesterday']) {
      const res = await request(s.app).get(`${LOGS}?${query}`).set('Authorization', admin);
      assert.equal(res.status, 400, query);
    }
    assert.equal(s.sim.stats.requests, 0);
  });

  it('binds a page token to its user, camera and collection; a token is good once', async () => {
    const s = await stack();
    const first = await request(s.app).get(`${RECORDINGS}?pageSize=5`).set('Authorization', admin);
    const token = first.body.nextPageToken as string;
    assert.match(token, /^[A-Za-z0-9_-]{20,128}$/);
    for (const auth of [viewer, operator, bearer]) {
      const res = await request(s.app).get(`${RECORDINGS}?pageToken=${token}`).set('Authorization', auth);
      assert.equal(res.status, 404, JSON.stringify(res.body));
      assert.equal(res.body.code, 'NOT_FOUND');
    }
    const wrongCollection = await request(s.app).get(`${LOGS}?pageToken=${token}`).set('Authorization', admin);
    assert.equal(wrongCollection.status, 404);
    const otherCamera = await request(s.app).get(`/api/v1/cameras/cam2/recordings?pageToken=${token}`).set('Authorization', admin);
    assert.equal(otherCamera.status, 404);
    // The failed attempts did not use the token up: its owner goes on.
    const second = await request(s.app).get(`${RECORDINGS}?pageToken=${token}&pageSize=5`).set('Authorization', admin);
    assert.equal(second.status, 200);
    assert.notEqual(second.body.items[0].startTime, first.body.items[0].startTime);
    const again = await request(s.app).get(`${RECORDINGS}?pageToken=${token}`).set('Authorization', admin);
    assert.equal(again.status, 404, 'a token is good for one request');
    await closeAllFinders(s.cameras);
    assert.equal(s.sim.openFinders(), 0);
  });

  it('a client that stops after the first page: the reaper closes the finder after the idle TTL', async () => {
    const s = await stack();
    configureFinders(s.cameras, { idleTtlMs: 500 });
    const first = await request(s.app).get(`${RECORDINGS}?pageSize=5`).set('Authorization', admin);
    assert.equal(first.status, 200);
    assert.ok(first.body.nextPageToken);
    assert.equal(s.sim.openFinders(), 1);
    await eventually('the reaper freed the finder', () => s.sim.openFinders() === 0);
    assert.equal(cameraCalls(s, 'destroy').length, 1);
    const late = await request(s.app).get(`${RECORDINGS}?pageToken=${first.body.nextPageToken}`).set('Authorization', admin);
    assert.equal(late.status, 404);
  });

  it('a camera error on findNextFile → the mapped problem, and the finder is freed', async () => {
    const s = await stack();
    s.sim.faults.errorId = 5;
    s.sim.faults.errorMatch = 'findNextFile';
    const res = await request(s.app).get(`${RECORDINGS}?pageSize=5`).set('Authorization', admin);
    assert.equal(res.status, 502);
    assert.equal(res.body.code, 'CAMERA_ERROR');
    assert.equal(res.body.cameraErrorId, 5);
    assert.equal(s.sim.openFinders(), 0);
    // Mid-session too.
    s.sim.faults.errorId = null;
    const first = await request(s.app).get(`${RECORDINGS}?pageSize=5`).set('Authorization', admin);
    assert.equal(s.sim.openFinders(), 1);
    s.sim.faults.errorId = 4;
    const second = await request(s.app).get(`${RECORDINGS}?pageToken=${first.body.nextPageToken}`).set('Authorization', admin);
    s.sim.faults.errorId = null;
    assert.equal(second.status, 422);
    assert.equal(second.body.code, 'CAMERA_REJECTED');
    assert.equal(s.sim.openFinders(), 0);
    assert.equal(finderSessions(s.cameras).size.open, 0);
  });

  it('a client that goes away mid-request: the finder is freed', async () => {
    // Each camera call takes 150 ms: the client leaves during factory.create, findFile, findNextFile.
    for (const leaveAfterMs of [75, 225, 375]) {
      const t = await stack();
      t.sim.faults.latencyMs = 150;
      await assert.rejects(request(t.app).get(`${RECORDINGS}?pageSize=5`).set('Authorization', admin).timeout(leaveAfterMs));
      await eventually(`the finder of a request abandoned after ${leaveAfterMs} ms is freed`,
        () => cameraCalls(t, 'factory.create').length === 1 && t.sim.openFinders() === 0 && cameraCalls(t, 'destroy').length === 1);
      assert.equal(finderSessions(t.cameras).size.open, 0);
    }
  });

  it('a hanging camera → 504, and the finder is freed once the camera answers again', async () => {
    const s = await stack({ client: { requestTimeoutMs: 300 } });
    // A short TTL makes the reaper, which retries releases, tick every 250 ms.
    configureFinders(s.cameras, { idleTtlMs: 1_000 });
    const first = await request(s.app).get(`${RECORDINGS}?pageSize=5`).set('Authorization', admin);
    assert.equal(first.status, 200);
    s.sim.faults.hang = true;
    const started = performance.now();
    const res = await request(s.app).get(`${RECORDINGS}?pageToken=${first.body.nextPageToken}`).set('Authorization', admin);
    assert.equal(res.status, 504);
    assert.equal(res.body.code, 'CAMERA_TIMEOUT');
    assert.ok(performance.now() - started < 1_000, 'the client is not kept waiting for the release');
    assert.equal(s.sim.openFinders(), 1);
    await new Promise((r) => setTimeout(r, 400));
    s.sim.faults.hang = false;
    await eventually('the release is retried', () => s.sim.openFinders() === 0);
    assert.equal(finderSessions(s.cameras).size.pendingReleases, 0);
  });

  it('closes every finder at shutdown', async () => {
    const s = await stack();
    for (let i = 0; i < 3; i++) await request(s.app).get(`${RECORDINGS}?pageSize=2`).set('Authorization', admin).expect(200);
    await request(s.app).get(`${LOGS}?pageSize=2`).set('Authorization', admin).expect(200);
    assert.equal(s.sim.openFinders(), 4);
    await closeAllFinders(s.cameras);
    assert.equal(s.sim.openFinders(), 0);
    const after = await request(s.app).get(`${RECORDINGS}?pageSize=2`).set('Authorization', admin);
    assert.equal(after.status, 503);
  });

  it('holds at most maxPerCamera sessions: the least recently used idle one is closed', async () => {
    const s = await stack();
    configureFinders(s.cameras, { maxPerCamera: 2 });
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(s.app).get(`${RECORDINGS}?pageSize=2`).set('Authorization', admin);
      tokens.push(res.body.nextPageToken as string);
    }
    await eventually('the oldest session is freed', () => s.sim.openFinders() === 2);
    assert.equal((await request(s.app).get(`${RECORDINGS}?pageToken=${tokens[0]}`).set('Authorization', admin)).status, 404);
    assert.equal((await request(s.app).get(`${RECORDINGS}?pageToken=${tokens[2]}&pageSize=2`).set('Authorization', admin)).status, 200);
  });

  it('is N/A on WV-V1330LK: 501 and no finder', async () => {
    const s = await stack({ model: 'WV-V1330LK' });
    const res = await request(s.app).get(RECORDINGS).set('Authorization', admin);
    assert.equal(res.status, 501);
    assert.equal(res.body.code, 'NOT_SUPPORTED_BY_MODEL');
    assert.equal(s.sim.openFinders(), 0);
  });
});

describe('logs (§4.13.1 find, §4.13.2 clear)', () => {
  const total = (LOG_DAYS * 24 * 60) / LOG_INTERVAL_MINUTES;

  it('pages through every log entry once and stops the finder', async () => {
    const s = await stack();
    s.sim.resetStats();
    const { items } = await pageAll(s, `${LOGS}?pageSize=50`, viewer);
    assert.equal(items.length, total);
    assert.equal(new Set(items.map((i) => i.recNo)).size, total);
    for (const item of items) assert.match(String(item.time), ISO);
    const config = items.find((i) => i.type === 'SaveConfig')!;
    assert.deepEqual(config.detail, { Compression: 'H.264->MJPG', Data: 'Encode' });
    assert.ok(!s.logs.some((l) => l.includes('did not fit')), 'every entry fits the document');
    assert.equal(s.sim.openFinders(), 0);
    assert.equal(cameraCalls(s, 'startFind').length, 1);
    assert.equal(cameraCalls(s, 'stopFind').length, 1);
  });

  it('narrows by type and time; nothing found is an empty page with no finder', async () => {
    const s = await stack();
    const config = await request(s.app).get(`${LOGS}?type=Config&pageSize=1000`).set('Authorization', admin);
    assert.equal(config.status, 200, JSON.stringify(config.body));
    assert.ok(config.body.items.length > 0);
    assert.ok(config.body.items.every((i: { type: string }) => i.type === 'SaveConfig'));
    s.sim.resetStats();
    const none = await request(s.app).get(`${LOGS}?startTime=2001-01-01T00:00:00&endTime=2001-01-02T00:00:00`).set('Authorization', admin);
    assert.deepEqual(none.body, { items: [] });
    assert.ok(cameraCalls(s, 'startFind')[0]!.includes('condition.StartTime=2001-01-01%2000%3A00%3A00'));
    assert.equal(cameraCalls(s, 'stopFind').length, 0, 'token=0: the camera holds no finder');
    assert.equal(s.sim.openFinders(), 0);
  });

  it('clearing the log needs admin', async () => {
    const s = await stack();
    for (const auth of [viewer, operator, bearer]) {
      const res = await request(s.app).post(`${LOGS}/clear`).set('Authorization', auth);
      assert.equal(res.status, 403);
      assert.equal(res.body.code, 'FORBIDDEN');
    }
    await request(s.app).post(`${LOGS}/clear`).set('Authorization', admin).expect(204);
    const res = await request(s.app).get(LOGS).set('Authorization', admin);
    assert.equal(res.body.items.length, 1);
    assert.equal(res.body.items[0].type, 'ClearLog');
  });
});
