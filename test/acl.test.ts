// Per-camera access lists (users[].cameras, tokens[].cameras): a principal limited to some cameras
// gets 404 for every other camera on every camera-scoped path, as if it did not exist (BOLA row),
// and sees only its cameras in the list.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { buildApp } from '../gateway/app.ts';
import { mayAccessCamera, UserStore } from '../gateway/auth.ts';
import { ConfigError, loadConfig } from '../gateway/config.ts';
import { addCamera } from '../gateway/fleet.ts';
import { createLogger } from '../gateway/logger.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { basic, startStack, type Stack } from './stack.ts';

const TOKEN_A = 'tok-limited-to-cam1-0123456789';
const TOKEN_ALL = 'tok-every-camera-0123456789ab';
const ADMIN_A = { name: 'ada', password: 'ada-secret-12' };
const OPERATOR_A = { name: 'otto', password: 'otto-secret-12' };
const ADMIN = { name: 'admin', password: 'root-secret-12' };

const YAML = `
users:
  - { name: ada, password: ada-secret-12, role: admin, cameras: [cam1] }
  - { name: otto, password: otto-secret-12, role: operator, cameras: [cam1] }
tokens:
  - { name: limited, token: ${TOKEN_A}, role: viewer, cameras: [cam1] }
  - { name: everything, token: ${TOKEN_ALL}, role: viewer }
`;

function withoutInstance(body: Record<string, unknown>): Record<string, unknown> {
  const { instance: _instance, ...rest } = body;
  return rest;
}

describe('per-camera access lists', () => {
  let s: Stack;
  let sim2: Simulator;
  let app: Express;
  let store: UserStore;
  let dir: string;
  const bearerA = `Bearer ${TOKEN_A}`;

  before(async () => {
    s = await startStack();
    sim2 = await startSimulator({ username: 'admin', password: 'second-Cam-pass7' });
    await addCamera(s.cameras, { id: 'cam2', baseUrl: sim2.url, username: 'admin', password: 'second-Cam-pass7', model: 'WV-V2530LK' });
    dir = await mkdtemp(join(tmpdir(), 'camgate-acl-'));
    await writeFile(join(dir, 'camgate.yaml'), YAML);
    const config = loadConfig(['--config', join(dir, 'camgate.yaml')], { CAMGATE_ADMIN_PASSWORD: ADMIN.password, CAMERA_URL: '' });
    store = new UserStore(config.users, config.tokens);
    app = buildApp({ spec: s.spec, cameras: s.cameras, users: store, logger: createLogger('silent'), validateResponses: true });
  });

  after(async () => {
    await s.close();
    await sim2.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('BOLA: a token limited to cam1 gets 404 on every camera-scoped operation of cam2, exactly as for a camera that does not exist, and cam2 sees no request', async () => {
    sim2.resetStats();
    const scoped = s.spec.operations.filter((op) => op.path.startsWith('/cameras/{cameraId}'));
    assert.ok(scoped.length > 50, `only ${scoped.length} camera-scoped operations`);
    for (const auth of [bearerA, basic(OPERATOR_A), basic(ADMIN_A)]) {
      for (const op of scoped) {
        const path = (id: string) => s.spec.basePath + op.path.replace('{cameraId}', id).replace(/\{[A-Za-z0-9_]+\}/g, '1');
        const send = (id: string) => {
          const r = request(app)[op.method](path(id)).set('Authorization', auth);
          return op.method === 'get' || op.method === 'delete' ? r : r.send({});
        };
        const denied = await send('cam2');
        assert.equal(denied.status, 404, `${op.operationId} ${auth.slice(0, 12)}: ${denied.text}`);
        const missing = await send('nope');
        assert.deepEqual(withoutInstance(denied.body), { ...withoutInstance(missing.body), detail: 'no camera cam2' }, op.operationId);
        assert.equal(missing.body.detail, 'no camera nope');
      }
    }
    assert.equal(sim2.stats.requests, 0, 'nothing reached the camera outside the list');
    assert.ok(s.cameras.get('cam2'), 'a limited admin could not remove it');
  });

  it('the answer for a camera outside the list equals the one an unlimited principal gets for a missing camera', async () => {
    const denied = await request(app).get('/api/v1/cameras/cam2/system/general').set('Authorization', bearerA);
    const missing = await request(app).get('/api/v1/cameras/cam3/system/general').set('Authorization', `Bearer ${TOKEN_ALL}`);
    assert.equal(denied.status, 404);
    assert.equal(missing.status, 404);
    assert.deepEqual(Object.keys(denied.body).sort(), Object.keys(missing.body).sort());
    assert.equal(denied.body.title, missing.body.title);
    assert.equal(denied.body.code, 'NOT_FOUND');
  });

  it('/metrics, which names every camera, is refused to a limited principal and served to an unlimited one', async () => {
    const limited = await request(app).get('/metrics').set('Authorization', bearerA);
    assert.equal(limited.status, 403);
    assert.ok(!limited.text.includes('cam2'));
    const all = await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN_ALL}`);
    assert.equal(all.status, 200);
    assert.match(all.text, /camera="cam2"/);
  });

  it('the limited token works on its own camera and lists only it', async () => {
    const general = await request(app).get('/api/v1/cameras/cam1/system/general').set('Authorization', bearerA);
    assert.equal(general.status, 200, general.text);
    const mine = await request(app).get('/api/v1/cameras').set('Authorization', bearerA);
    assert.equal(mine.status, 200, mine.text);
    assert.deepEqual(mine.body.items.map((c: { id: string }) => c.id), ['cam1']);
    const all = await request(app).get('/api/v1/cameras').set('Authorization', `Bearer ${TOKEN_ALL}`);
    assert.deepEqual(all.body.items.map((c: { id: string }) => c.id).sort(), ['cam1', 'cam2']);
    const adminAll = await request(app).get('/api/v1/cameras/cam2').set('Authorization', basic(ADMIN));
    assert.equal(adminAll.status, 200, 'no list = every camera');
  });

  it('a limited admin manages its own camera but may not add cameras (403)', async () => {
    const own = await request(app).patch('/api/v1/cameras/cam1').set('Authorization', basic(ADMIN_A)).send({ name: 'Lobby' });
    assert.equal(own.status, 200, own.text);
    const add = await request(app).post('/api/v1/cameras').set('Authorization', basic(ADMIN_A))
      .send({ id: 'cam7', url: sim2.url, username: 'admin', password: 'x' });
    assert.equal(add.status, 403, add.text);
    assert.equal(add.body.code, 'FORBIDDEN');
    assert.equal(s.cameras.get('cam7'), undefined);
  });

  it('principals carry their list whichever way they log in (Basic, Bearer, Digest/UsernameToken via principalOf)', () => {
    const viaBasic = store.authenticate(basic(OPERATOR_A))!;
    assert.deepEqual([...viaBasic.cameras!], ['cam1']);
    assert.deepEqual([...store.authenticate(bearerA)!.cameras!], ['cam1']);
    assert.equal(store.authenticate(`Bearer ${TOKEN_ALL}`)!.cameras, undefined);
    const viaDigest = store.principalOf('otto', 'digest')!;
    assert.equal(mayAccessCamera(viaDigest, 'cam1'), true);
    assert.equal(mayAccessCamera(viaDigest, 'cam2'), false);
    assert.equal(mayAccessCamera(store.principalOf('admin', 'wsse')!, 'cam2'), true);
    // A password change (ONVIF SetUser) keeps the list.
    store.setUser('otto', 'otto-new-secret-1', 'operator');
    assert.equal(mayAccessCamera(store.principalOf('otto', 'digest')!, 'cam2'), false);
  });

  it('the YAML file refuses malformed access lists', async () => {
    for (const [bad, pattern] of [
      ['users:\n  - { name: u, password: p, role: viewer, cameras: cam1 }\n', /users\[0\]\.cameras must be a list/],
      ['tokens:\n  - { name: t, token: 0123456789abcdef0, role: viewer, cameras: ["../x"] }\n', /tokens\[0\]\.cameras\[0\] must be a camera id/],
    ] as const) {
      const file = join(dir, 'bad.yaml');
      await writeFile(file, bad);
      assert.throws(() => loadConfig(['--config', file], { CAMGATE_ADMIN_PASSWORD: 'x' }), (err) => err instanceof ConfigError && pattern.test(err.message));
    }
  });
});
