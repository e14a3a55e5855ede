// Lockout safety (issue 6 "lockout safety"): whatever the load, the gateway sends at most 3
// refused logins per 300 s to a camera. The simulator locks after 4, so a 4th would show.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginBudget } from '../adapters/cgi/breaker.ts';
import { CameraClient, type CgiLongStream, type CgiRequest } from '../adapters/cgi/client.ts';
import { ProblemError } from '../gateway/problems.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import request from 'supertest';
import { basic, startStack, USERS } from './stack.ts';
import { CameraRegistry } from '../gateway/cameras.ts';
import { createLogger } from '../gateway/logger.ts';

const PASSWORD = 'Lock-pw-1';
const TIME: CgiRequest = { path: '/cgi-bin/global.cgi', query: 'action=getCurrentTime', read: true };
const ATTACH = { path: '/cgi-bin/eventManager.cgi', query: 'action=attach&codes=[All]&keepalive=20', timeoutMs: 6_000 };
const LOCKOUT = { failures: 4, windowMs: 300_000, durationMs: 1_800_000 };

const sims: Simulator[] = [];
const clients: CameraClient[] = [];
const streams: CgiLongStream[] = [];
after(async () => {
  for (const s of streams) s.close();
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(sims.map((s) => s.close()));
});

async function setup(now?: () => number) {
  const sim = await startSimulator({ password: PASSWORD, lockout: LOCKOUT });
  sims.push(sim);
  const client = new CameraClient({ baseUrl: sim.url, username: 'admin', password: PASSWORD, now });
  clients.push(client);
  return { sim, client };
}

type Outcome = { status: number } | ProblemError;
const settle = (p: Promise<{ status: number }>): Promise<Outcome> => p.catch((e: unknown) => {
  assert.ok(e instanceof ProblemError, `expected a ProblemError, got ${String(e)}`);
  return e;
});
const ALLOWED = new Set(['CAMERA_AUTH_FAILED', 'CAMERA_LOCKED_OUT', 'CAMERA_BUSY', 'CAMERA_TIMEOUT']);

describe('row: lockout safety', () => {
  test('LoginBudget: places on the wire count as refusals; an acceptance forgives earlier refusals only', () => {
    let now = 0;
    const b = new LoginBudget(3, 300_000, () => now);
    const t1 = b.take()!, t2 = b.take()!, t3 = b.take()!;
    assert.equal(b.take(), null, 'three outstanding requests fill the budget');
    b.refused();                       // t1's answer: 401
    b.release(t2, true);               // t2 was sent before that 401 arrived: no forgiveness
    assert.equal(b.failed, 1);
    const t4 = b.take()!;
    b.release(t4, true);               // sent after the refusal was received: it was not a wrong password
    assert.equal(b.failed, 0);
    b.refused(); void t3;                                     // at 0
    now = 100_000; const t5 = b.take()!; b.refused(); void t5;  // at 100 s
    now = 200_000; const t6 = b.take()!; b.refused(); void t6;  // at 200 s
    assert.equal(b.failed, 3);
    assert.equal(b.remaining, 0);
    assert.equal(b.take(), null);
    now = 299_999;
    assert.equal(b.take(), null);
    assert.equal(b.freeAt(1), 300_000);
    assert.equal(b.freeAt(2), 400_000);
    now = 300_000;
    assert.equal(b.remaining, 1, 'the oldest refusal left the sliding window');
  });

  for (const changeAfterMs of [0, 8, 25, 60]) {
    test(`100 concurrent calls and 3 event attaches, password changed on the camera ${changeAfterMs} ms in: at most 3 refused logins`, async () => {
      const { sim, client } = await setup();
      sim.faults.latencyMs = 20;
      await Promise.all([1, 2, 3].map(() => client.request(TIME)));   // proven, warm nonce pool
      sim.resetStats();
      const calls = Array.from({ length: 100 }, () => settle(client.request(TIME)));
      const attaches = Array.from({ length: 3 }, () => settle(client.openStream(ATTACH).then((s) => { streams.push(s); return s; })));
      setTimeout(() => sim.setPassword('changed-on-the-camera'), changeAfterMs);
      const results = await Promise.all([...calls, ...attaches]);
      assert.ok(sim.stats.failedLogins <= 3, `refused logins at the camera: ${sim.stats.failedLogins}`);
      for (const r of results) if (r instanceof ProblemError) assert.ok(ALLOWED.has(r.code), r.code);
      assert.ok(results.some((r) => r instanceof ProblemError), 'the change was noticed');

      // Whatever the load next, nothing more is risked inside the window.
      const before = sim.stats.requests;
      const more = await Promise.all(Array.from({ length: 50 }, () => settle(client.request(TIME))));
      for (const r of more) assert.ok(r instanceof ProblemError && r.code === 'CAMERA_LOCKED_OUT', String((r as ProblemError).code));
      assert.ok(sim.stats.failedLogins <= 3);
      assert.equal(sim.stats.requests, before, 'locked out: fails fast without touching the camera');
      assert.equal(client.breaker.state, 'open');
      assert.equal(client.breaker.budget.remaining, 0);
      const e = more[0] as ProblemError;
      assert.ok(e.retryAfter !== undefined && e.retryAfter > 30 && e.retryAfter <= 300, `Retry-After ${e.retryAfter}`);
    });
  }

  test('the window slides: over two hours of load on a wrong password, no 300 s window holds more than 3 refusals', async () => {
    let now = 10_000_000;
    // This camera's own lockout runs on real time, which barely moves here: lift it and count.
    const s2 = await startSimulator({ password: PASSWORD, lockout: { failures: 0, windowMs: 300_000, durationMs: 0 } });
    sims.push(s2);
    const c2 = new CameraClient({ baseUrl: s2.url, username: 'admin', password: PASSWORD, now: () => now });
    clients.push(c2);
    await c2.request(TIME);
    s2.setPassword('changed-on-the-camera');
    const perMinute: number[] = [];
    for (let minute = 0; minute < 120; minute++) {
      const before = s2.stats.failedLogins;
      await Promise.all(Array.from({ length: 20 }, () => settle(c2.request(TIME))));
      perMinute.push(s2.stats.failedLogins - before);
      now += 60_000;
    }
    for (let i = 0; i + 5 <= perMinute.length; i++) {
      const inWindow = perMinute.slice(i, i + 5).reduce((a, b) => a + b, 0);
      assert.ok(inWindow <= 3, `minutes ${i}..${i + 4}: ${inWindow} refusals (${perMinute.join(',')})`);
    }
    assert.ok(s2.stats.failedLogins >= 6, `probes went on after the window slid: ${perMinute.join(',')}`);
    s2.setPassword(PASSWORD);
    now += 300_000;
    assert.equal(c2.breaker.state, 'half-open');
    assert.equal((await c2.request(TIME)).status, 200, 'the right password is taken again at the next probe');
    assert.equal(c2.breaker.state, 'closed');
  });

  test('a connection cap answering 401 does not spend the budget: accepted logins forgive the refusals before them', async () => {
    const { sim, client } = await setup();
    await client.request(TIME);
    sim.faults.maxConnections = 1;
    sim.faults.latencyMs = 15;
    for (let wave = 0; wave < 3; wave++) {
      const results = await Promise.all(Array.from({ length: 30 }, () => settle(client.request(TIME))));
      for (const r of results) assert.ok(!(r instanceof ProblemError) || r.code === 'CAMERA_BUSY', (r as ProblemError).code);
      assert.ok(results.filter((r) => !(r instanceof ProblemError)).length >= 25);
    }
    assert.equal(sim.stats.failedLogins, 0);
    assert.equal(client.breaker.state, 'closed');
    assert.ok(client.breaker.budget.remaining >= 2, `budget left: ${client.breaker.budget.remaining}`);
  });

  test('audio uploads (signed outside the request pool) spend the same budget: 40 POSTs and GETs after a password change, at most 3 refusals', async () => {
    const stack = await startStack({ sim: { lockout: LOCKOUT } });
    try {
      const operator = basic(USERS.operator);
      const CAM = '/api/v1/cameras/cam1';
      const post = () => request(stack.app).post(`${CAM}/audio/stream?channel=1`).set('Authorization', operator)
        .set('Content-Type', 'audio/G.711A').send(Buffer.alloc(2_000, 0xd5));
      assert.equal((await post()).status, 204);
      stack.sim.setPassword('changed-on-the-camera');
      stack.sim.resetStats();
      const results = await Promise.all([
        ...Array.from({ length: 20 }, () => post()),
        ...Array.from({ length: 20 }, () => request(stack.app).get(`${CAM}/system/general`).set('Authorization', operator)),
      ]);
      assert.ok(stack.sim.stats.failedLogins <= 3, `refused logins at the camera: ${stack.sim.stats.failedLogins}`);
      for (const r of results) assert.ok([502, 503, 504].includes(r.status), `${r.status} ${r.text.slice(0, 2000)}`);
      const more = await Promise.all(Array.from({ length: 10 }, () => post()));
      for (const r of more) assert.equal(r.body.code, 'CAMERA_LOCKED_OUT');
      assert.ok(stack.sim.stats.failedLogins <= 3);
    } finally {
      await stack.close();
    }
  });

  test('a client replaced at run time (new credentials) shares the camera budget: three wrong passwords in a row cost at most 3 refusals', async () => {
    const sim = await startSimulator({ password: PASSWORD, lockout: LOCKOUT });
    sims.push(sim);
    const cameras = new CameraRegistry();
    const logger = createLogger('silent');
    const config = { id: 'cam1', baseUrl: sim.url, username: 'admin', password: 'first-wrong', model: 'WV-V2530LK' as const };
    cameras.add(config, logger);
    try {
      for (const password of ['first-wrong', 'second-wrong', 'third-wrong']) {
        const entry = cameras.build({ ...config, password });
        const old = cameras.get('cam1')!;
        cameras.set(entry);
        await old.client.close();
        await Promise.all(Array.from({ length: 10 }, () => settle(entry.client.request(TIME))));
      }
      assert.ok(sim.stats.failedLogins <= 3, `refused logins at the camera: ${sim.stats.failedLogins}`);
      const right = cameras.build({ ...config, password: PASSWORD });
      cameras.set(right);
      const e = await settle(right.client.request(TIME));
      assert.ok(e instanceof ProblemError && e.code === 'CAMERA_LOCKED_OUT', 'even the right password waits for the window');
      assert.ok(sim.stats.failedLogins <= 3);
    } finally {
      await cameras.close();
    }
  });
});
