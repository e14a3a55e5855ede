// Camera faults seen through the REST API: each ends in its catalog problem, nothing is retried
// that must not be, and no secret appears in an answer.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { request as undiciRequest } from 'undici';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import request from 'supertest';
import { buildApp } from '../gateway/app.ts';
import { UserStore } from '../gateway/auth.ts';
import { CameraRegistry } from '../gateway/cameras.ts';
import { createLogger } from '../gateway/logger.ts';
import { loadSpec } from '../gateway/spec.ts';
import { basic, startStack, USERS, type Stack, type StackOptions } from './stack.ts';

const admin = basic(USERS.admin);
const GENERAL = '/api/v1/cameras/cam1/system/general';
const stacks: Stack[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function stack(options: StackOptions = {}): Promise<Stack> {
  const s = await startStack(options);
  stacks.push(s);
  return s;
}

/** A simulator whose firmware lacks one key: it answers OK to a write of it and drops it. */
async function stackWithout(key: string): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'camgate-sim-'));
  dirs.push(dir);
  cpSync(fileURLToPath(new URL('../simulator/data/', import.meta.url)), dir, { recursive: true });
  const table = join(dir, 'config', `${key.split('.')[1]}.txt`);
  const line = new RegExp(`^${key.replaceAll('.', '\\.')}=.*\n`, 'm');
  writeFileSync(table, readFileSync(table, 'utf8').replace(line, ''));
  return stack({ sim: { dataDir: dir } });
}

function assertNoSecrets(text: string): void {
  assert.ok(!text.includes('cam-pass-Secret9'), 'camera password leaked');
  assert.ok(!text.includes('wrong-password-9'), 'configured password leaked');
  assert.ok(!/action=|name=General/.test(text), 'camera query string leaked');
}

describe('camera faults through REST', () => {
  it('a hanging camera → 504 CAMERA_TIMEOUT', async () => {
    const s = await stack({ client: { requestTimeoutMs: 300 } });
    await request(s.app).get(GENERAL).set('Authorization', admin).expect(200);
    s.sim.faults.hang = true;
    const started = performance.now();
    const res = await request(s.app).get(GENERAL).set('Authorization', admin);
    s.sim.faults.hang = false;
    assert.equal(res.status, 504);
    assert.equal(res.body.code, 'CAMERA_TIMEOUT');
    assert.ok(performance.now() - started < 2_000);
    assertNoSecrets(res.text);
  });

  it('a dropped connection → 502 CAMERA_UNREACHABLE; the write is sent once, the read retried once', async () => {
    const s = await stack();
    await request(s.app).get(GENERAL).set('Authorization', admin).expect(200);
    s.sim.faults.drop = true;
    s.sim.resetStats();
    const write = await request(s.app).patch(GENERAL).set('Authorization', admin).send({ General: { MachineName: 'x' } });
    assert.equal(write.status, 502);
    assert.equal(write.body.code, 'CAMERA_UNREACHABLE');
    assert.equal(s.sim.requestLog.filter((r) => r.rawUrl.includes('action=setConfig')).length, 1, 'setConfig is never retried');
    assertNoSecrets(write.text);
    s.sim.resetStats();
    const read = await request(s.app).get(GENERAL).set('Authorization', admin);
    assert.equal(read.status, 502);
    assert.equal(s.sim.requestLog.filter((r) => r.rawUrl.includes('action=getConfig')).length, 2, 'a read is retried once');
    s.sim.faults.drop = false;
  });

  it('a wrong camera password → CAMERA_AUTH_FAILED, then CAMERA_LOCKED_OUT with Retry-After, at most 2 failed logins', async () => {
    const s = await stack({ cameraPassword: 'wrong-password-9' });
    const answers = await Promise.all(Array.from({ length: 30 }, () => request(s.app).get(GENERAL).set('Authorization', admin)));
    const codes = new Set(answers.map((r) => r.body.code));
    assert.ok(codes.has('CAMERA_AUTH_FAILED'), [...codes].join());
    assert.ok([...codes].every((c) => c === 'CAMERA_AUTH_FAILED' || c === 'CAMERA_LOCKED_OUT'), [...codes].join());
    const locked = answers.find((r) => r.body.code === 'CAMERA_LOCKED_OUT');
    assert.ok(locked, 'the breaker opened');
    assert.equal(locked.status, 503);
    assert.ok(Number(locked.headers['retry-after']) > 0);
    assert.ok(s.sim.stats.failedLogins <= 2, `camera saw ${s.sim.stats.failedLogins} failed logins`);
    for (const r of answers) assertNoSecrets(r.text);
  });

  it('maps ErrorID 3, 5, 6 to 501, 502, 504', async () => {
    const s = await stack({ client: { requestTimeoutMs: 500 } });
    for (const [id, status, code] of [
      [3, 501, 'NOT_SUPPORTED_BY_MODEL'],
      [5, 502, 'CAMERA_ERROR'],
      [6, 504, 'CAMERA_TIMEOUT'],
    ] as const) {
      s.sim.faults.errorId = id;
      const res = await request(s.app).get(GENERAL).set('Authorization', admin);
      assert.equal(res.status, status, `ErrorID ${id}`);
      assert.equal(res.body.code, code);
      assert.equal(res.body.cameraErrorId, id);
    }
    s.sim.faults.errorId = null;
    s.sim.faults.hang = true;
    const timedOut = await request(s.app).get(GENERAL).set('Authorization', admin);
    s.sim.faults.hang = false;
    assert.equal(timedOut.status, 504);
    // The camera's health shows the last transport error (validated against CameraSummary).
    const health = await request(s.app).get('/api/v1/cameras/cam1').set('Authorization', admin);
    assert.equal(health.status, 200, health.text);
    assert.match(health.body.health.lastError, /CAMERA_TIMEOUT/);
  });

  it('a full queue → 503 CAMERA_BUSY with Retry-After', async () => {
    const s = await stack({ client: { maxInFlight: 1, queueLimit: 1 } });
    await request(s.app).get(GENERAL).set('Authorization', admin).expect(200);
    s.sim.faults.latencyMs = 200;
    const answers = await Promise.all(Array.from({ length: 6 }, () => request(s.app).get(GENERAL).set('Authorization', admin)));
    s.sim.faults.latencyMs = 0;
    const busy = answers.filter((r) => r.status === 503);
    assert.ok(busy.length >= 3, answers.map((r) => r.status).join());
    assert.equal(busy[0]!.body.code, 'CAMERA_BUSY');
    assert.ok(Number(busy[0]!.headers['retry-after']) >= 1);
    assert.equal(answers.filter((r) => r.status === 200).length, 6 - busy.length);
  });
});

describe('a client that leaves', () => {
  it('aborts its camera call and is not logged as an internal error', async () => {
    const s = await stack();
    await request(s.app).get(GENERAL).set('Authorization', admin).expect(200);
    s.sim.faults.latencyMs = 400;
    const server = s.app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const controller = new AbortController();
      const pending = undiciRequest(`http://127.0.0.1:${(server.address() as AddressInfo).port}${GENERAL}`, {
        headers: { authorization: admin },
        signal: controller.signal,
      }).catch((err: unknown) => err);
      await new Promise((r) => setTimeout(r, 100));
      controller.abort();
      await pending;
      await new Promise((r) => setTimeout(r, 600));
      assert.deepEqual(s.logs.filter((l) => l.includes('"level":50')), []);
      assert.ok(s.logs.some((l) => l.includes('client left before its answer')));
    } finally {
      s.sim.faults.latencyMs = 0;
      server.close();
    }
  });
});

describe('silent setConfig failures', () => {
  it('lists a field the camera ignored', async () => {
    const s = await stackWithout('table.General.LocalNo');
    const res = await request(s.app).patch(GENERAL).set('Authorization', admin).send({ General: { MachineName: 'kept', LocalNo: 5 } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.ignoredFields, ['/General/LocalNo']);
    assert.equal(res.body.General.MachineName, 'kept');
  });
});

describe('secrets read back', () => {
  it('does not list a password the camera does not show back as ignored, and never answers it', async () => {
    // A camera that masks or omits passwords in getConfig: the write of one cannot be checked.
    const s = await stackWithout('table.PPPoE.Password');
    const res = await request(s.app)
      .patch('/api/v1/cameras/cam1/network/pppoe')
      .set('Authorization', admin)
      .send({ PPPoE: { Password: 'n3w-Secret', UserName: 'isp-user' } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.ignoredFields, []);
    assert.ok(!res.text.includes('n3w-Secret'));
    assert.equal(res.body.PPPoE.UserName, 'isp-user');
  });
});

describe('gateway endpoints', () => {
  const spec = loadSpec();
  const logger = createLogger('silent');
  const users = new UserStore([{ name: 'admin', password: 'pw-admin-123', role: 'admin' }]);

  it('/readyz says 503 until ready, /healthz is always 200', async () => {
    let ready = false;
    const app = buildApp({ spec, cameras: new CameraRegistry(), users, logger, isReady: () => ready });
    await request(app).get('/readyz').expect(503);
    await request(app).get('/healthz').expect(200);
    ready = true;
    await request(app).get('/readyz').expect(200);
  });

  it('closes /docs and /openapi.json when docs are not public', async () => {
    const app = buildApp({ spec, cameras: new CameraRegistry(), users, logger, docsPublic: false });
    const closed = await request(app).get('/openapi.json');
    assert.equal(closed.status, 401);
    assert.equal(closed.body.code, 'UNAUTHENTICATED');
    await request(app).get('/openapi.json').set('Authorization', basic({ name: 'admin', password: 'pw-admin-123' })).expect(200);
    const open = buildApp({ spec, cameras: new CameraRegistry(), users, logger });
    await request(open).get('/openapi.json').expect(200);
  });

  it('refuses a gzip bomb by its inflated size, quickly', async () => {
    const app = buildApp({ spec, cameras: new CameraRegistry(), users, logger });
    // 50 MB of JSON whitespace inflates from about 50 kB.
    const bomb = gzipSync(Buffer.concat([Buffer.from('{"General":{"MachineName":"x"'), Buffer.alloc(50 * 2 ** 20, 0x20), Buffer.from('}}')]));
    assert.ok(bomb.length < 100_000);
    // Sent raw: supertest would serialise a Buffer given with a JSON content type.
    const server = app.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const started = performance.now();
      const res = await undiciRequest(`http://127.0.0.1:${(server.address() as AddressInfo).port}${GENERAL}`, {
        method: 'PATCH',
        headers: {
          authorization: basic({ name: 'admin', password: 'pw-admin-123' }),
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
        body: bomb,
      });
      const body = (await res.body.json()) as { code: string };
      assert.equal(res.statusCode, 413);
      assert.equal(body.code, 'PAYLOAD_TOO_LARGE');
      assert.ok(performance.now() - started < 500, `took ${Math.round(performance.now() - started)} ms`);
    } finally {
      server.close();
    }
  });

  it('refuses a JSON body over 64 kB with 413', async () => {
    const app = buildApp({ spec, cameras: new CameraRegistry(), users, logger });
    const res = await request(app)
      .patch(GENERAL)
      .set('Authorization', basic({ name: 'admin', password: 'pw-admin-123' }))
      .set('Content-Type', 'application/json')
      .send(JSON.stringify({ General: { MachineName: 'x'.repeat(70_000) } }));
    assert.equal(res.status, 413);
    assert.equal(res.body.code, 'PAYLOAD_TOO_LARGE');
  });
});
