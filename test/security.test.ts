// Security rows of the reliability and security plan (docs/TEST-PLAN.md): each test names its row.
// Everything runs through buildApp against the simulator over loopback.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { ConfigError, loadConfig } from '../gateway/config.ts';
import { DEFAULT_RATE_LIMITS, parseRateLimits, RateLimiter, rateLimitUser } from '../gateway/rate-limit.ts';
import { buildApp } from '../gateway/app.ts';
import { UserStore } from '../gateway/auth.ts';
import { createLogger } from '../gateway/logger.ts';
import { basic, startStack, TOKEN, USERS, type Stack } from './stack.ts';

const admin = basic(USERS.admin);
const operator = basic(USERS.operator);
const viewer = basic(USERS.viewer);
const CAM = '/api/v1/cameras/cam1';
const CAM_PASSWORD = 'cam-pass-Secret9';

const stacks: Stack[] = [];
after(async () => {
  await Promise.all(stacks.map((s) => s.close()));
});
async function stack(options: Parameters<typeof startStack>[0] = {}): Promise<Stack> {
  const s = await startStack(options);
  stacks.push(s);
  return s;
}
const cameraSaw = (s: Stack, needle: string) => s.sim.requestLog.filter((e) => e.authorized && e.rawUrl.includes(needle)).length;

describe('row: rate limits (429 + Retry-After)', () => {
  it('token buckets: a burst, then refusals with the time until the next token; per user and per camera', () => {
    let now = 0;
    const limiter = new RateLimiter({ reboot: { perUser: { burst: 2, perMinute: 6 }, perCamera: { burst: 3, perMinute: 6 } } }, () => now);
    assert.deepEqual(limiter.take('reboot', 'user:a', 'c1'), { ok: true });
    assert.deepEqual(limiter.take('reboot', 'user:a', 'c1'), { ok: true });
    assert.deepEqual(limiter.take('reboot', 'user:a', 'c1'), { ok: false, retryAfterSeconds: 10 });
    assert.deepEqual(limiter.take('reboot', 'user:a', 'c2'), { ok: true }, 'the same user on another camera has its own bucket');
    assert.deepEqual(limiter.take('reboot', 'user:b', 'c1'), { ok: true }, 'another user on the same camera');
    assert.deepEqual(limiter.take('reboot', 'user:c', 'c1'), { ok: false, retryAfterSeconds: 10 }, "the camera's bucket is shared by all users");
    now += 4_000;
    assert.deepEqual(limiter.take('reboot', 'user:a', 'c1'), { ok: false, retryAfterSeconds: 6 });
    now += 6_000;
    assert.deepEqual(limiter.take('reboot', 'user:a', 'c1'), { ok: true });
    // A refusal takes nothing: the user's token was not spent on the camera's empty bucket.
    now += 10_000;
    assert.deepEqual(limiter.take('reboot', 'user:d', 'c1'), { ok: true });
    assert.deepEqual(limiter.take('reboot', 'user:d', 'c1'), { ok: false, retryAfterSeconds: 10 });
    now += 10_000;
    assert.deepEqual(limiter.take('reboot', 'user:d', 'c1'), { ok: true });
    assert.equal(rateLimitUser({ name: 'x', via: 'basic' }), rateLimitUser({ name: 'x', via: 'digest' }), 'one bucket per user whatever the scheme');
    assert.notEqual(rateLimitUser({ name: 'x', via: 'basic' }), rateLimitUser({ name: 'x', via: 'bearer' }));
  });

  it('defaults: every class limited on both sides; overrides merge; YAML errors are reported', () => {
    for (const [cls, l] of Object.entries(DEFAULT_RATE_LIMITS)) {
      assert.ok(l.perUser && l.perUser.burst >= 1 && l.perUser.perMinute > 0, cls);
      assert.ok(l.perCamera && l.perCamera.burst >= 1 && l.perCamera.perMinute > 0, cls);
    }
    const ok = parseRateLimits({ ptz: { perUser: { burst: 50, perMinute: 3000 }, perCamera: null } });
    assert.deepEqual(ok.errors, []);
    const limiter = new RateLimiter(ok.overrides);
    assert.deepEqual(limiter.limits.ptz, { perUser: { burst: 50, perMinute: 3000 }, perCamera: null });
    assert.deepEqual(limiter.limits.reboot, DEFAULT_RATE_LIMITS.reboot);
    const bad = parseRateLimits({ teleport: {}, ptz: { perUser: { burst: 0, perMinute: 1 }, perGroup: {} }, reboot: [] });
    assert.equal(bad.errors.length, 4, bad.errors.join('\n'));

    const dir = mkdtempSync(join(tmpdir(), 'camgate-rl-'));
    try {
      const file = join(dir, 'camgate.yaml');
      writeFileSync(file, 'rateLimits:\n  snapshot:\n    perUser: { burst: 4, perMinute: 60 }\n');
      assert.deepEqual(loadConfig(['--config', file], {}).rateLimits, { snapshot: { perUser: { burst: 4, perMinute: 60 } } });
      writeFileSync(file, 'rateLimits:\n  snapshot:\n    perUser: { burst: -1 }\n');
      assert.throws(() => loadConfig(['--config', file], {}), ConfigError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('over REST', () => {
    let s: Stack;
    let now = 1_000_000;
    before(async () => {
      s = await stack({
        sim: { ptz: true },
        rateLimiter: new RateLimiter({
          reboot: { perUser: { burst: 2, perMinute: 1 }, perCamera: { burst: 3, perMinute: 1 } },
          snapshot: { perUser: { burst: 3, perMinute: 60 }, perCamera: { burst: 5, perMinute: 60 } },
          ptz: { perUser: { burst: 2, perMinute: 60 }, perCamera: { burst: 10, perMinute: 60 } },
        }, () => now),
      });
    });

    it('reboot: the third in a row is 429 problem+json with Retry-After, and never reaches the camera', async () => {
      for (let i = 0; i < 2; i++) await request(s.app).post(`${CAM}/system/reboot`).set('Authorization', admin).send({}).expect(204);
      assert.equal(cameraSaw(s, 'action=reboot'), 2);
      const res = await request(s.app).post(`${CAM}/system/reboot`).set('Authorization', admin).send({});
      assert.equal(res.status, 429);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.equal(res.body.code, 'RATE_LIMITED');
      assert.equal(res.headers['retry-after'], '60');
      assert.equal(cameraSaw(s, 'action=reboot'), 2, 'nothing reached the camera');
      // Shutdown is the same class: same bucket.
      assert.equal((await request(s.app).post(`${CAM}/system/shutdown`).set('Authorization', admin)).status, 429);
      assert.equal(cameraSaw(s, 'action=shutdown'), 0);
      now += 60_000;
      await request(s.app).post(`${CAM}/system/reboot`).set('Authorization', admin).send({}).expect(204);
    });

    it('a request refused by validation or by role costs no token', async () => {
      const before = cameraSaw(s, 'snapshot.cgi');
      for (let i = 0; i < 10; i++) await request(s.app).get(`${CAM}/snapshot?channel=abc`).set('Authorization', operator).expect(400);
      for (let i = 0; i < 10; i++) await request(s.app).post(`${CAM}/system/reboot`).set('Authorization', operator).send({}).expect(403);
      await request(s.app).get(`${CAM}/snapshot`).set('Authorization', operator).expect(200);
      assert.equal(cameraSaw(s, 'snapshot.cgi'), before + 1);
    });

    it('snapshot: per user, then per camera across users; a token is its own user', async () => {
      now += 120_000;
      const codes = async (auth: string, n: number) => {
        const out: number[] = [];
        for (let i = 0; i < n; i++) out.push((await request(s.app).get(`${CAM}/snapshot`).set('Authorization', auth)).status);
        return out;
      };
      assert.deepEqual(await codes(viewer, 4), [200, 200, 200, 429]);
      assert.deepEqual(await codes(`Bearer ${TOKEN.token}`, 3), [200, 200, 429], "the camera's 5 are spent");
      const res = await request(s.app).get(`${CAM}/snapshot`).set('Authorization', admin);
      assert.equal(res.status, 429);
      assert.equal(res.headers['retry-after'], '1');
    });

    it('ptz: moves are limited, stops never', async () => {
      now += 120_000;
      const move = () => request(s.app).post(`${CAM}/ptz/move`).set('Authorization', operator).send({ direction: 'Left', speed: 4 });
      const stop = () => request(s.app).post(`${CAM}/ptz/move/stop`).set('Authorization', operator).send({ direction: 'Left' });
      assert.equal((await move()).status, 204);
      assert.equal((await move()).status, 204);
      assert.equal((await move()).status, 429);
      const starts = cameraSaw(s, 'action=start&channel=1&code=Left');
      assert.equal(starts, 2);
      for (let i = 0; i < 5; i++) assert.equal((await stop()).status, 204);
      assert.equal(cameraSaw(s, 'action=stop&channel=1&code=Left'), 5);
    });
  });

  it('the gateway limits by default (buildApp without a limiter uses DEFAULT_RATE_LIMITS)', async () => {
    const base = await stack();
    const app = buildApp({ spec: base.spec, cameras: base.cameras, users: new UserStore(Object.values(USERS), [TOKEN]), logger: createLogger('silent') });
    const statuses: number[] = [];
    for (let i = 0; i < DEFAULT_RATE_LIMITS.reboot.perCamera!.burst + 1; i++) {
      statuses.push((await request(app).post(`${CAM}/system/reboot`).set('Authorization', admin).send({})).status);
    }
    assert.deepEqual(statuses.slice(-1), [429]);
    assert.ok(statuses.slice(0, -1).every((c) => c === 204));
  });
});

describe('row: mass assignment and __proto__', () => {
  let s: Stack;
  before(async () => { s = await stack(); });

  it('PATCH bodies with __proto__, constructor, prototype or unknown fields: 400, nothing sent, nothing polluted', async () => {
    await request(s.app).get(`${CAM}/system/general`).set('Authorization', operator).expect(200);
    const bodies = [
      '{"General":{"MachineName":"x","__proto__":{"admin":true}}}',
      '{"__proto__":{"General":{"MachineName":"x"}},"General":{"MachineName":"y"}}',
      '{"General":{"MachineName":"x"},"constructor":{"prototype":{"polluted":1}}}',
      '{"General":{"constructor":{"prototype":{"polluted":1}}}}',
      '{"General":{"MachineName":"x","prototype":1}}',
      '{"General":{"MachineName":"x","Evil":"y"}}',
      '{"General":{"MachineName":"x"},"ignoredFields":["General.LocalNo"]}',
      '{"General":{"MachineName":"x"},"role":"admin"}',
    ];
    const sent = s.sim.stats.requests;
    for (const body of bodies) {
      const res = await request(s.app).patch(`${CAM}/system/general`).set('Authorization', operator).set('Content-Type', 'application/json').send(body);
      assert.equal(res.status, 400, `${body} → ${res.status}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
    }
    assert.equal(s.sim.stats.requests, sent, 'no camera request');
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(s.sim.getConfigValue('table.General.MachineName') === 'x', false);
  });

  it('camera users: a POST cannot smuggle a prototype or an authority list the schema does not have', async () => {
    const sent = s.sim.stats.requests;
    const res = await request(s.app).post(`${CAM}/users`).set('Authorization', admin).set('Content-Type', 'application/json')
      .send('{"user":{"Name":"mallory","Password":"Mallory-pw-1","Group":"user","Sharable":true,"__proto__":{"Group":"admin"},"AuthorityList":["all"]}}');
    assert.equal(res.status, 400);
    assert.equal(s.sim.stats.requests, sent);
  });
});

describe('row: id abuse (..%2f, huge ids)', () => {
  let s: Stack;
  before(async () => { s = await stack({ sim: { ptz: true } }); });

  it('hostile camera ids and path parameters: 400/404 problems, never 500, never a camera request', async () => {
    await request(s.app).get(`${CAM}/system/general`).set('Authorization', admin).expect(200);
    const sent = s.sim.stats.requests;
    const paths = [
      '/api/v1/cameras/..%2f..%2fcgi-bin%2fmagicBox.cgi/system/general',
      '/api/v1/cameras/cam1%2f..%2f..%2f/system/general',
      '/api/v1/cameras/..%252f/system/general',
      '/api/v1/cameras/cam1%00/system/general',
      '/api/v1/cameras/%E0%A4%A/system/general',
      '/api/v1/cameras/__proto__/system/general',
      '/api/v1/cameras/constructor/system/general',
      '/api/v1/cameras/hasOwnProperty/system/general',
      `/api/v1/cameras/${'a'.repeat(4_000)}/system/general`,
      '/api/v1/cameras/cam1/ptz/presets/99999999999999999999999/goto',
      '/api/v1/cameras/cam1/ptz/presets/-1/goto',
      '/api/v1/cameras/cam1/ptz/presets/1e3/goto',
      '/api/v1/cameras/cam1/ptz/presets/..%2f..%2f/goto',
      '/api/v1/cameras/cam1/system/general/..%2f..%2f..%2fusers',
    ];
    for (const path of paths) {
      const isPost = path.endsWith('/goto');
      const res = isPost
        ? await request(s.app).post(path + '?channel=1').set('Authorization', admin).send({})
        : await request(s.app).get(path).set('Authorization', admin);
      assert.ok([400, 404, 405].includes(res.status), `${path.slice(0, 80)} → ${res.status}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/, path.slice(0, 80));
      assert.ok(res.text.length < 10_000, 'the problem does not echo a huge id back in full');
    }
    assert.equal(s.sim.stats.requests, sent, 'no camera request');
  });

  it('an id of 100 kB is refused by the HTTP layer (431) or as not found, and the gateway goes on', async () => {
    const server = s.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/cameras/${'b'.repeat(100_000)}/system/general`, { headers: { authorization: admin } });
      assert.ok(res.status === 431 || res.status === 404 || res.status === 414, String(res.status));
      await res.arrayBuffer();
      const ok = await fetch(`http://127.0.0.1:${port}${CAM}/system/general`, { headers: { authorization: admin } });
      assert.equal(ok.status, 200);
      await ok.arrayBuffer();
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('row: only documented routes reach the camera (no /RPC2, no passthrough)', () => {
  let s: Stack;
  before(async () => { s = await stack(); });

  it('CGI, RPC and passthrough shapes get 404/405/400 and the camera sees nothing', async () => {
    await request(s.app).get(`${CAM}/system/general`).set('Authorization', admin).expect(200);
    s.sim.resetStats();
    const attempts: Array<[string, string, string?]> = [
      ['get', '/RPC2'], ['post', '/RPC2', '{"method":"magicBox.reboot","params":null,"id":1}'], ['post', '/RPC2_Login', '{}'],
      ['get', '/cgi-bin/magicBox.cgi?action=reboot'], ['get', '/api/v1/cgi-bin/magicBox.cgi?action=reboot'],
      ['get', `${CAM}/cgi-bin/magicBox.cgi?action=reboot`], ['get', `${CAM}/cgi-bin/configManager.cgi?action=getConfig&name=All`],
      ['post', `${CAM}/RPC2`, '{}'], ['get', `${CAM}/passthrough?path=/cgi-bin/magicBox.cgi&action=reboot`],
      ['get', `${CAM}/system/general?action=reboot`], ['get', `${CAM}/system/general?name=All`], ['get', `${CAM}/system/general?path=/cgi-bin/x`],
      ['get', `${CAM}/../../cgi-bin/magicBox.cgi?action=reboot`], ['get', `${CAM}/system/%2e%2e/%2e%2e/cgi-bin/magicBox.cgi`],
      ['delete', `${CAM}/system/general`], ['put', `${CAM}/system/general`, '{}'],
      ['get', `${CAM}/snapshot?channel=1&action=reboot`],
    ];
    for (const [method, path, body] of attempts) {
      let r = request(s.app)[method as 'get'](path).set('Authorization', admin);
      if (body !== undefined) r = r.set('Content-Type', 'application/json').send(body);
      const res = await r;
      assert.ok([400, 404, 405].includes(res.status), `${method.toUpperCase()} ${path} → ${res.status}`);
    }
    assert.equal(s.sim.stats.requests, 0, `camera saw: ${s.sim.requestLog.map((e) => e.rawUrl).join(', ')}`);
  });

  it('a documented call reaches exactly its x-cgi path and action, nothing else', async () => {
    s.sim.resetStats();
    await request(s.app).get(`${CAM}/system/general`).set('Authorization', admin).expect(200);
    const urls = s.sim.requestLog.map((e) => e.rawUrl);
    assert.ok(urls.length >= 1);
    for (const u of urls) assert.equal(u, '/cgi-bin/configManager.cgi?action=getConfig&name=General');
  });
});

describe('row: credential leaks on every error path', () => {
  it('no camera password, gateway password, Authorization value or token in any answer or log line', async () => {
    const s = await stack({ client: { requestTimeoutMs: 200 } });
    const wrong = await stack({ cameraPassword: 'wrong-Cam-pass-7' });
    const secrets = [CAM_PASSWORD, 'wrong-Cam-pass-7', USERS.admin.password, USERS.operator.password, USERS.viewer.password, TOKEN.token,
      admin.slice('Basic '.length), operator.slice('Basic '.length), basic({ name: 'admin', password: 'nope-nope-1' }).slice('Basic '.length)];
    const answers: string[] = [];
    const keep = (res: request.Response) => { answers.push(JSON.stringify(res.headers) + res.text); return res; };
    const g = (st: Stack, path: string, auth = admin) => request(st.app).get(path).set('Authorization', auth).then(keep);

    await g(s, `${CAM}/system/general`);                                                     // 200
    await g(s, `${CAM}/system/general`, basic({ name: 'admin', password: 'nope-nope-1' }));    // 401 wrong gateway password
    await g(s, `${CAM}/system/general`, 'Bearer not-a-token-at-all-1234');                    // 401 wrong token
    await request(s.app).patch(`${CAM}/system/general`).set('Authorization', viewer).send({ General: { MachineName: 'x' } }).then(keep); // 403
    await g(s, `${CAM}/system/general?x=${CAM_PASSWORD}`);                                    // 400 (the secret in a query)
    await request(s.app).patch(`${CAM}/system/general`).set('Authorization', admin).set('Content-Type', 'application/json').send(`{"General":{"MachineName":"${CAM_PASSWORD}&"}}`).then(keep); // 400 with the value
    await request(s.app).patch(`${CAM}/system/general`).set('Authorization', admin).set('Content-Type', 'application/json').send(`{"General":`).then(keep); // malformed
    await request(s.app).post(`${CAM}/users`).set('Authorization', admin).send({ user: { Name: 'bob', Password: `${CAM_PASSWORD}\u0001`, Group: 'user', Sharable: true } }).then(keep);
    await g(s, '/api/v1/cameras/nope/system/general');                                        // 404
    await request(s.app).delete(`${CAM}/system/general`).set('Authorization', admin).then(keep); // 405
    await request(s.app).patch(`${CAM}/system/general`).set('Authorization', admin).set('Content-Type', 'application/json').send('{"a":"' + 'x'.repeat(70_000) + '"}').then(keep); // 413
    s.sim.faults.errorId = 4; s.sim.faults.errorMatch = 'getConfig';
    await g(s, `${CAM}/system/general`);                                                      // 422 camera error
    s.sim.faults.errorId = null;
    s.sim.faults.hang = true;
    await g(s, `${CAM}/system/time`);                                                         // 504
    s.sim.faults.hang = false; s.sim.faults.drop = true;
    await g(s, `${CAM}/system/serial-number`);                                                // 502 unreachable
    s.sim.faults.drop = false;
    for (let i = 0; i < 3; i++) await g(wrong, `${CAM}/system/general`);                      // 502 auth failed, 503 locked out
    const codes = new Set(answers.map((a) => /"code":"([A-Z_]+)"/.exec(a)?.[1]).filter(Boolean));
    for (const c of ['UNAUTHENTICATED', 'FORBIDDEN', 'VALIDATION_FAILED', 'NOT_FOUND', 'METHOD_NOT_ALLOWED', 'PAYLOAD_TOO_LARGE', 'CAMERA_REJECTED',
      'CAMERA_TIMEOUT', 'CAMERA_UNREACHABLE', 'CAMERA_AUTH_FAILED', 'CAMERA_LOCKED_OUT']) assert.ok(codes.has(c), `error path ${c} was exercised (${[...codes].join(',')})`);
    // The camera's list of users never carries a password either.
    await g(s, `${CAM}/users`);
    const logs = [...s.logs, ...wrong.logs];
    for (const secret of secrets) {
      for (const a of answers) assert.ok(!a.includes(secret), `an answer carries ${secret.slice(0, 4)}…: ${a.slice(0, 300)}`);
      for (const l of logs) assert.ok(!l.includes(secret), `a log line carries ${secret.slice(0, 4)}…: ${l.slice(0, 300)}`);
    }
    for (const l of logs) assert.ok(!/authorization/i.test(l) || !/Basic |Bearer |Digest /.test(l), `a log line carries an Authorization header: ${l.slice(0, 300)}`);
  });
});

describe('row: stack hygiene', () => {
  it('a handler that throws (sync, async, a non-Error) answers 500 INTERNAL with no message, path or stack; the log keeps it', async () => {
    const base = await stack();
    const lines: string[] = [];
    const { Writable } = await import('node:stream');
    const logger = createLogger('debug', new Writable({ write(c: Buffer, _e, done) { lines.push(c.toString()); done(); } }));
    const throwers = [
      () => { throw new Error('boom at /work/main/secret/place.ts:12:3 token=abc'); },
      async () => { await Promise.resolve(); throw new TypeError("Cannot read properties of undefined (reading 'x')"); },
      () => { throw { message: 'plain object', stack: 'at x (/y.ts:1:1)' }; },
      () => { throw 'a string'; },
    ];
    for (const thrower of throwers) {
      const app = buildApp({
        spec: base.spec, cameras: base.cameras, users: new UserStore(Object.values(USERS), [TOKEN]), logger,
        handlers: { snapshot: () => thrower as unknown as () => Promise<void> },
      });
      const res = await request(app).get(`${CAM}/snapshot`).set('Authorization', admin);
      assert.equal(res.status, 500);
      assert.equal(res.body.code, 'INTERNAL');
      assert.deepEqual(Object.keys(res.body).sort(), ['code', 'instance', 'status', 'title', 'type']);
      assert.ok(!/boom|secret|\.ts|Cannot read|plain object|a string|\bat /.test(res.text), res.text);
      assert.equal(res.headers['x-powered-by'], undefined);
    }
    assert.ok(lines.some((l) => l.includes('internal error') && l.includes('boom')), 'the log keeps what happened');
  });

  it('malformed JSON, a wrong charset and a wrong type answer catalog problems without parser internals', async () => {
    const s = await stack();
    const cases: Array<[string, string]> = [
      ['application/json', '{"General": {'],
      ['application/json', '\u0000\u0001'],
      ['application/json; charset=utf-7', '{}'],
      ['text/plain', 'General.MachineName=x'],
    ];
    for (const [type, body] of cases) {
      const res = await request(s.app).patch(`${CAM}/system/general`).set('Authorization', admin).set('Content-Type', type).send(body);
      assert.ok([400, 415].includes(res.status), `${type} → ${res.status}`);
      assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
      assert.ok(!/SyntaxError|Unexpected token|at JSON\.parse|node_modules|body-parser/.test(res.text), res.text);
    }
  });
});
