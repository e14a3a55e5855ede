// The camera HTTP client against the simulator over real HTTP on 127.0.0.1 (never a mock).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request as undiciRequest } from 'undici';
import { Camera } from '../adapters/cgi/camera.ts';
import { CameraClient, isReadAction, type CameraClientOptions, type CgiRequest } from '../adapters/cgi/client.ts';
import { ProblemError } from '../gateway/problems.ts';
import { startSimulator, type Simulator, type SimulatorOptions } from '../simulator/server.ts';

const PASSWORD = 'S3cret-pw!x';
const WRONG = 'Wr0ng-pw?y';
const TIME: CgiRequest = { path: '/cgi-bin/global.cgi', query: 'action=getCurrentTime', read: true };
// Secrets and query strings that must never show up in an error or a log line.
const FORBIDDEN = [PASSWORD, WRONG, 'action=', 'name=General', 'MachineName=', 'getCurrentTime'];

const sims: Simulator[] = [];
const clients: CameraClient[] = [];
const seenErrors: unknown[] = [];
const logLines: string[] = [];

after(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(sims.map((s) => s.close()));
});

const logger = {
  debug: (o: object, m?: string) => { logLines.push(JSON.stringify(o) + (m ?? '')); },
  warn: (o: object, m?: string) => { logLines.push(JSON.stringify(o) + (m ?? '')); },
};

async function setup(simOptions: SimulatorOptions = {}, clientOptions: Partial<CameraClientOptions> = {}) {
  const sim = await startSimulator({ password: PASSWORD, ...simOptions });
  sims.push(sim);
  const client = new CameraClient({ baseUrl: sim.url, username: 'admin', password: PASSWORD, logger, ...clientOptions });
  clients.push(client);
  return { sim, client, camera: new Camera('cam1', sim.model, client) };
}

/** Settles a promise into its error (recorded for the no-secrets check) or fails the test. */
async function rejection(p: Promise<unknown>): Promise<ProblemError> {
  try {
    await p;
  } catch (err) {
    seenErrors.push(err);
    assert.ok(err instanceof ProblemError, `expected a ProblemError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

const count = (sim: Simulator, needle: string) => sim.requestLog.filter((e) => e.rawUrl.includes(needle)).length;

describe('round trips', () => {
  test('sequential calls: one camera round trip per call after the first', async () => {
    const { sim, client } = await setup();
    const calls = 10;
    for (let i = 0; i < calls; i++) assert.equal((await client.request(TIME)).status, 200);
    assert.equal(sim.stats.requests, calls + 1);
    assert.equal(sim.stats.challenges, 1);
    assert.equal(client.stats.requests, calls + 1);
    assert.equal(client.stats.authRoundTrips, 1);
    assert.equal(sim.stats.maxOpenConnections, 1, 'keep-alive: one connection');
  });

  test('20 concurrent reads with strict nc: no refusals beyond the first challenges', async () => {
    const maxInFlight = 3;
    const { sim, client } = await setup({}, { maxInFlight });
    sim.faults.latencyMs = 15;
    const names = ['General', 'Encode', 'VideoColor', 'Network', 'NTP'];
    const wave = () => Promise.all(Array.from({ length: 20 }, (_, i) => client.request({
      path: '/cgi-bin/configManager.cgi', query: `action=getConfig&name=${names[i % names.length]}`, read: true,
    })));
    for (const r of await wave()) assert.equal(r.status, 200);
    assert.ok(sim.stats.challenges <= maxInFlight + 1, `401s: ${sim.stats.challenges}`);
    assert.equal(sim.stats.failedLogins, 0);
    assert.ok(sim.stats.maxInFlight <= maxInFlight);
    assert.equal(sim.stats.requests, 20 + sim.stats.challenges);
    // Warm nonce pool: a second wave costs exactly one request per call.
    sim.resetStats();
    for (const r of await wave()) assert.equal(r.status, 200);
    assert.equal(sim.stats.challenges, 0);
    assert.equal(sim.stats.requests, 20);
    assert.equal(client.stats.retries, 0);
  });

  test('stale nonce (evicted from the camera nonce table): one resend, not an auth failure', async () => {
    const { sim, client } = await setup();
    await client.request(TIME);
    // 64 unauthenticated requests fill the camera's nonce table and push our nonce out.
    for (let i = 0; i < 64; i++) {
      const r = await undiciRequest(`${sim.url}/cgi-bin/global.cgi?action=getCurrentTime`);
      await r.body.dump();
    }
    sim.resetStats();
    const before = { ...client.stats };
    assert.equal((await client.request(TIME)).status, 200);
    assert.equal(sim.stats.requests, 2);
    assert.equal(sim.stats.challenges, 1);
    assert.equal(client.stats.authRoundTrips - before.authRoundTrips, 1);
    assert.equal(client.stats.authFailures, 0);
    assert.equal(client.breaker.state, 'closed');
    // ...and the adopted nonce serves the next call directly.
    assert.equal((await client.request(TIME)).status, 200);
    assert.equal(sim.stats.requests, 3);
  });

  test('newNoncePerResponse: two requests per call, never a loop, sequential and concurrent', async () => {
    const { sim, client } = await setup();
    await client.request(TIME);
    sim.faults.newNoncePerResponse = true;
    await client.request(TIME);  // spends the nonce issued before the fault was switched on
    sim.resetStats();
    for (let i = 0; i < 10; i++) assert.equal((await client.request(TIME)).status, 200);
    assert.equal(sim.stats.requests, 20);
    assert.equal(sim.stats.challenges, 10);
    sim.resetStats();
    sim.faults.latencyMs = 10;
    const res = await Promise.all(Array.from({ length: 12 }, () => client.request(TIME)));
    for (const r of res) assert.equal(r.status, 200);
    assert.equal(sim.stats.requests, 24);
    assert.equal(sim.stats.failedLogins, 0);
    assert.equal(client.stats.authFailures, 0);
  });

  test('Basic: learnt from the challenge, then sent preemptively', async () => {
    const { sim, client, camera } = await setup({ auth: 'basic' });
    for (let i = 0; i < 5; i++) assert.equal((await client.request(TIME)).status, 200);
    assert.equal(sim.stats.requests, 6);
    assert.equal(sim.stats.challenges, 1);
    const doc = await camera.getConfig('General');
    assert.equal(typeof (doc.General as Record<string, unknown>).MachineName, 'string');
  });
});

describe('retries and timeouts', () => {
  test('drop: setConfig is never retried, a read is retried once', async () => {
    const { sim, client, camera } = await setup();
    await client.request(TIME);
    sim.faults.drop = true;
    sim.resetStats();
    const w = await rejection(camera.setConfig([['General.MachineName', 'cam-a']]));
    assert.equal(w.code, 'CAMERA_UNREACHABLE');
    assert.equal(count(sim, 'action=setConfig'), 1);
    assert.equal(client.stats.retries, 0);
    const r = await rejection(camera.getConfig('General'));
    assert.equal(r.code, 'CAMERA_UNREACHABLE');
    assert.equal(count(sim, 'action=getConfig'), 2);
    assert.equal(client.stats.retries, 1);
    sim.faults.drop = false;
    await camera.setConfig([['General.MachineName', 'cam b+c[1]']]);
    assert.equal(sim.getConfigValue('table.General.MachineName'), 'cam b+c[1]', 'signed URI == sent URI, encoded value intact');
  });

  test('503: a read is retried once, a write is not', async () => {
    let n = 0;
    const server: Server = createServer((req, res) => {
      n++;
      const busy = n === 1 || req.url?.includes('setConfig');
      res.writeHead(busy ? 503 : 200, { 'content-type': 'text/plain' }).end(busy ? 'busy' : 'OK\r\n');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const client = new CameraClient({ baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, username: 'admin', password: PASSWORD, logger });
      clients.push(client);
      const read = await client.request(TIME);
      assert.equal(read.status, 200);
      assert.equal(client.stats.retries, 1);
      const before = n;
      const write = await client.request({ path: '/cgi-bin/configManager.cgi', query: 'action=setConfig&General.MachineName=x', read: false });
      assert.equal(write.status, 503);
      assert.equal(n - before, 1);
      assert.equal(client.stats.retries, 1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  test('hang: CAMERA_TIMEOUT after about the request timeout, not retried', async () => {
    const { sim, client } = await setup({}, { requestTimeoutMs: 5_000 });
    await client.request(TIME);
    sim.faults.hang = true;
    sim.resetStats();
    const started = performance.now();
    const e = await rejection(client.request({ ...TIME, timeoutMs: 300 }));
    const ms = performance.now() - started;
    assert.equal(e.code, 'CAMERA_TIMEOUT');
    assert.ok(ms >= 280 && ms < 1_000, `took ${ms} ms`);
    assert.equal(sim.stats.requests, 1);
    assert.equal(client.stats.retries, 0);
    sim.faults.hang = false;
    assert.equal((await client.request(TIME)).status, 200, 'the client recovers');
  });

  test('first contact with a camera that does not answer: waiting calls share the outcome, not a timeout each', async () => {
    const { sim, client } = await setup({}, { requestTimeoutMs: 300 });
    sim.faults.hang = true;
    const started = performance.now();
    const errors = await Promise.all(Array.from({ length: 5 }, () => rejection(client.request(TIME))));
    const ms = performance.now() - started;
    for (const e of errors) assert.equal(e.code, 'CAMERA_TIMEOUT');
    assert.ok(ms < 900, `took ${ms} ms`);
    assert.equal(sim.stats.requests, 1, 'only the first call tried');
  });

  test('refused connections: a read is retried once, then CAMERA_UNREACHABLE', async () => {
    const gone = await startSimulator();
    const url = gone.url;
    await gone.close();
    const client = new CameraClient({ baseUrl: url, username: 'admin', password: PASSWORD, logger });
    clients.push(client);
    const e = await rejection(client.request(TIME));
    assert.equal(e.code, 'CAMERA_UNREACHABLE');
    assert.equal(client.stats.retries, 1);
    assert.equal(client.stats.requests, 2);
    const w = await rejection(client.request({ path: '/cgi-bin/magicBox.cgi', query: 'action=reboot', read: false }));
    assert.equal(w.code, 'CAMERA_UNREACHABLE');
    assert.equal(client.stats.retries, 1);
    assert.equal(client.stats.requests, 3);
  });

  test('queue overflow: CAMERA_BUSY with retryAfter; aborted calls free their slots', async () => {
    const { sim, client } = await setup({}, { maxInFlight: 3, queueLimit: 2, requestTimeoutMs: 5_000 });
    await client.request(TIME);
    sim.faults.hang = true;
    const abort = new AbortController();
    const pending = Array.from({ length: 5 }, () => client.request({ ...TIME, signal: abort.signal }).then(() => 'ok', (e: unknown) => e));
    const busy = await rejection(client.request(TIME));
    assert.equal(busy.code, 'CAMERA_BUSY');
    assert.equal(busy.status, 503);
    assert.ok(typeof busy.retryAfter === 'number' && busy.retryAfter >= 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(sim.stats.maxInFlight, 3);
    abort.abort();
    const outcomes = await Promise.all(pending);
    for (const o of outcomes) assert.equal((o as Error).name, 'AbortError');
    sim.faults.hang = false;
    const started = performance.now();
    const ok = await Promise.all([1, 2, 3].map(() => client.request(TIME)));
    for (const r of ok) assert.equal(r.status, 200);
    assert.ok(performance.now() - started < 1_000, 'slots were freed by the aborts');
  });
});

describe('streams', () => {
  test('stream(): the slot is held until the body ends or is destroyed', async () => {
    const { sim, client } = await setup({}, { maxInFlight: 1 });
    const backup = { path: '/cgi-bin/Config.backup', query: 'action=All', read: true };
    const up = await client.stream(backup);
    assert.equal(up.status, 200);
    let bytes = 0;
    for await (const chunk of up.body) bytes += (chunk as Buffer).length;
    assert.ok(bytes > 0);
    assert.equal((await client.request(TIME)).status, 200, 'slot free after the end');
    const half = await client.stream(backup);
    const waiting = client.request(TIME);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(count(sim, 'getCurrentTime'), 1, 'the read waits while the stream holds the only slot');
    (half.body as unknown as { destroy(): void }).destroy();
    assert.equal((await waiting).status, 200, 'slot free after destroy');
  });
});

describe('auth failures and lockout', () => {
  test('breaker: 100 concurrent calls with a wrong password reach the camera with at most 2 failed logins', async () => {
    let now = 1_000_000;
    // The lockout guard (own test below) is switched off here to see the plain doubling.
    const { sim, client } = await setup({}, { password: WRONG, now: () => now, breaker: { maxRejections: Infinity } });
    const results = await Promise.all(Array.from({ length: 100 }, () => rejection(client.request(TIME))));
    assert.ok(sim.stats.failedLogins <= 2, `failed logins: ${sim.stats.failedLogins}`);
    for (const e of results) assert.ok(e.code === 'CAMERA_AUTH_FAILED' || e.code === 'CAMERA_LOCKED_OUT', e.code);
    const locked = results.filter((e) => e.code === 'CAMERA_LOCKED_OUT');
    assert.ok(locked.length >= 98);
    for (const e of locked) {
      assert.equal(e.status, 503);
      assert.ok(e.retryAfter !== undefined && e.retryAfter >= 1 && e.retryAfter <= 30);
    }
    assert.equal(client.breaker.state, 'open');
    assert.equal(client.stats.authFailures, 2);

    // Open: fails fast without touching the camera.
    const requests = sim.stats.requests;
    assert.equal((await rejection(client.request(TIME))).code, 'CAMERA_LOCKED_OUT');
    assert.equal(sim.stats.requests, requests);

    // Half-open after 30 s: exactly one probe among concurrent calls; it fails, the cool-down doubles.
    now += 30_000;
    assert.equal(client.breaker.state, 'half-open');
    const probe = await Promise.all(Array.from({ length: 10 }, () => rejection(client.request(TIME))));
    assert.equal(sim.stats.failedLogins, 3);
    assert.equal(probe.filter((e) => e.code === 'CAMERA_AUTH_FAILED').length, 1);
    assert.equal(client.breaker.state, 'open');
    now += 59_000;
    assert.equal(client.breaker.state, 'open');
    now += 1_000;
    assert.equal(client.breaker.state, 'half-open', 'the second cool-down is 60 s');

    // The camera's password is changed to what the gateway has: the next probe closes the breaker.
    sim.setPassword(WRONG);
    const ok = await Promise.all(Array.from({ length: 10 }, () => client.request(TIME)));
    for (const r of ok) assert.equal(r.status, 200);
    assert.equal(client.breaker.state, 'closed');
    assert.equal(sim.stats.failedLogins, 3);
  });

  test('lockout guard: the doubling cool-down waits until the camera window holds fewer than 3 refusals', async () => {
    let now = 5_000_000;
    const { sim, client } = await setup({}, { password: WRONG, now: () => now });
    await Promise.all(Array.from({ length: 5 }, () => client.request(TIME).catch((e: unknown) => e)));
    now += 30_000;
    await client.request(TIME).catch((e: unknown) => e);  // third refusal
    assert.equal(sim.stats.failedLogins, 3);
    now += 60_000;
    assert.equal(client.breaker.state, 'open', 'a fourth refusal inside 300 s is not risked');
    now += 300_000 - 90_000;
    assert.equal(client.breaker.state, 'half-open');
  });

  test('401 from a connection shortage (maxConnections) is not an auth failure', async () => {
    const { sim, client } = await setup();
    await client.request(TIME);
    sim.faults.maxConnections = 2;
    sim.faults.latencyMs = 20;
    sim.resetStats();
    const wave = () => Promise.all(Array.from({ length: 30 }, () => client.request(TIME)));
    for (const r of await wave()) assert.equal(r.status, 200);
    const firstWave = { requests: sim.stats.requests, challenges: sim.stats.challenges };
    assert.equal(sim.stats.failedLogins, 0);
    assert.equal(client.stats.authFailures, 0);
    assert.equal(client.breaker.state, 'closed');
    assert.equal(client.inFlightLimit, 2, 'the in-flight limit learnt the camera cap');
    assert.ok(firstWave.challenges <= 4, `401s in the first wave: ${firstWave.challenges}`);
    sim.resetStats();
    for (const r of await wave()) assert.equal(r.status, 200);
    assert.equal(sim.stats.challenges, 0, 'no 401 once the limit is learnt');
    assert.equal(sim.stats.requests, 30);
  });

  test('password changed on the camera after it was proven: bounded refusals, then locked out', async () => {
    const { sim, client } = await setup();
    sim.faults.latencyMs = 20;
    await Promise.all([1, 2, 3].map(() => client.request(TIME)));
    sim.setPassword('changed-elsewhere');
    sim.resetStats();
    const results = await Promise.all(Array.from({ length: 20 }, () => rejection(client.request(TIME))));
    for (const e of results) assert.ok(e.code === 'CAMERA_AUTH_FAILED' || e.code === 'CAMERA_LOCKED_OUT', e.code);
    assert.ok(sim.stats.failedLogins <= 4, `failed logins: ${sim.stats.failedLogins} (camera locks at 5)`);
    assert.equal(client.breaker.state, 'open');
  });
});

describe('camera layer', () => {
  test('ErrorID bodies map through camera.call; getConfig parses', async () => {
    const { sim, camera } = await setup();
    const doc = await camera.getConfig('General');
    assert.ok(doc.General && typeof doc.General === 'object');
    const cases: Array<[number, string, string]> = [
      [3, 'getSerialNo', 'NOT_SUPPORTED_BY_MODEL'],
      [4, 'setConfig', 'CAMERA_REJECTED'],
      [1, 'getSerialNo', 'CAMERA_PROTOCOL_ERROR'],
      [5, 'getSerialNo', 'CAMERA_ERROR'],
      [0, 'getSerialNo', 'CAMERA_AUTH_FAILED'],
    ];
    for (const [id, match, code] of cases) {
      sim.faults.errorId = id;
      sim.faults.errorMatch = match;
      const p = match === 'setConfig'
        ? camera.setConfig([['General.MachineName', 'x']])
        : camera.call('/cgi-bin/magicBox.cgi', [['action', 'getSerialNo']]);
      const e = await rejection(p);
      assert.equal(e.code, code, `ErrorID ${id}`);
      assert.equal(e.cameraErrorId, id);
    }
    sim.faults.errorId = null;
    // Unsupported table on this model: the camera's own ErrorID answer.
    const unknown = await rejection(camera.getConfig('NoSuchTable'));
    assert.equal(unknown.code, 'CAMERA_REJECTED');
    // A value the firmware cannot carry never reaches the camera.
    sim.resetStats();
    const bad = await rejection(camera.setConfig([['General.MachineName', 'a&b']]));
    assert.equal(bad.code, 'VALIDATION_FAILED');
    assert.equal(sim.stats.requests, 0);
  });

  test('isReadAction decides retries by action name', () => {
    const cases: Array<[string, boolean]> = [
      ['getConfig', true], ['getCurrentTime', true], ['factory.getCollect', true], ['setConfig', false],
      ['factory.create', false], ['reboot', false], ['attach', false], ['', false], ['Getx', false], ['x.getConfig', false],
    ];
    for (const [a, r] of cases) assert.equal(isReadAction(a), r, a);
  });

  test('no error message, detail or log line carries the password or the query string', () => {
    assert.ok(seenErrors.length > 100);
    for (const e of seenErrors) {
      const p = e as ProblemError;
      const text = [p.message, p.detail ?? '', JSON.stringify(p.toJSON()), String(p.stack ?? '')].join('\n');
      for (const f of FORBIDDEN) assert.ok(!text.includes(f), `error ${p.code} mentions ${f}: ${text.slice(0, 200)}`);
    }
    assert.ok(logLines.length > 0);
    for (const line of logLines) for (const f of [PASSWORD, WRONG, 'action=', 'name=']) assert.ok(!line.includes(f), `log line mentions ${f}: ${line}`);
  });
});
