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
    const { buildApp } = await import('../gateway/app.ts');
    const { UserStore } = await import('../gateway/auth.ts');
    const { createLogger } = await import('../gateway/logger.ts');
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

void CAM_PASSWORD;
