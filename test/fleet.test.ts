// The fleet at run time: cameras added, changed and removed through /api/v1/cameras, written back
// to the YAML file atomically, and each camera's health in its resource.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { parse, parseDocument } from 'yaml';
import { existingHub, hubFor } from '../adapters/events/hub.ts';
import { mjpegStats } from '../adapters/media/mjpeg.ts';
import { CameraFile } from '../gateway/camera-file.ts';
import { persistCamerasTo, retired } from '../gateway/fleet.ts';
import { loadConfig } from '../gateway/config.ts';
import { startGateway } from '../gateway/gateway.ts';
import { createLogger } from '../gateway/logger.ts';
import { isProblem } from '../gateway/problems.ts';
import { startSimulator, type Simulator } from '../simulator/server.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const admin = basic(USERS.admin);
const SIM2_PASSWORD = 'second-Cam-pass7';
const WRONG_PASSWORD = 'not-the-Right-one3';

const ORIGINAL = `# camgate configuration (hand-written; this comment must survive)
port: 8080
cameras: [] # filled at run time
users:
  - { name: olga, password: change-me, role: operator }
docs:
  public: true
`;

describe('fleet: cameras at run time', () => {
  let s: Stack;
  let sim2: Simulator;
  let dir: string;
  let file: string;
  let failRename = false;
  const answers: string[] = [];

  /** Every answer is kept, for the secret-leak check at the end. */
  async function call<T extends request.Test>(req: T): Promise<request.Response> {
    const res = await req;
    answers.push(JSON.stringify(res.headers) + res.text);
    return res;
  }
  const api = () => request(s.app);

  before(async () => {
    s = await startStack({ client: { requestTimeoutMs: 1_500 } });
    sim2 = await startSimulator({ model: 'WV-V1330LK', username: 'admin', password: SIM2_PASSWORD });
    dir = await mkdtemp(join(tmpdir(), 'camgate-fleet-'));
    file = join(dir, 'camgate.yaml');
    await writeFile(file, ORIGINAL, { mode: 0o644 });
    persistCamerasTo(s.cameras, new CameraFile(file, {
      rename: async (from, to) => {
        // A crash between the write and the rename: the rename never happens.
        if (failRename) throw Object.assign(new Error('simulated crash before rename'), { code: 'EIO' });
        const { rename } = await import('node:fs/promises');
        await rename(from, to);
      },
    }));
  });

  after(async () => {
    await s.close();
    await sim2.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a camera is fresh: health says unknown before any call', async () => {
    const res = await call(api().get('/api/v1/cameras/cam1').set('Authorization', admin));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.health.reachable, null);
    assert.equal(res.body.health.authOk, null);
    assert.equal(res.body.persisted, false);
    assert.deepEqual(res.body.health.events, { connected: false, subscribers: 0, lastEventAt: null, lastEventAgeSeconds: null });
  });

  it('adds a second camera at run time, serves it at once and writes it to the YAML file atomically (0600, comments kept)', async () => {
    const res = await call(api().post('/api/v1/cameras').set('Authorization', admin).send({
      id: 'cam2', url: sim2.url, username: 'admin', password: SIM2_PASSWORD, model: 'WV-V1330LK', name: 'Back door',
    }));
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers.location, '/api/v1/cameras/cam2');
    assert.equal(res.body.id, 'cam2');
    assert.equal(res.body.persisted, true);
    assert.equal(res.body.name, 'Back door');
    assert.equal(res.body.model, 'WV-V1330LK');

    const general = await call(api().get('/api/v1/cameras/cam2/system/general').set('Authorization', admin));
    assert.equal(general.status, 200, general.text);
    assert.equal(typeof general.body.General.MachineName, 'string');
    assert.ok(sim2.stats.authorized > 0, 'the second simulator served the call');

    const text = await readFile(file, 'utf8');
    assert.match(text, /this comment must survive/);
    const doc = parse(text) as { port: number; users: unknown[]; docs: unknown; cameras: Array<Record<string, string>> };
    assert.equal(doc.port, 8080);
    assert.equal(doc.users.length, 1);
    assert.deepEqual(doc.cameras, [{ id: 'cam2', url: sim2.url, username: 'admin', password: SIM2_PASSWORD, model: 'WV-V1330LK', name: 'Back door' }]);
    assert.deepEqual(await readdir(dir), ['camgate.yaml'], 'no temp file left');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
  });

  it('refuses a second camera with the same id (409) and malformed definitions (400), and changes nothing', async () => {
    const before = await readFile(file, 'utf8');
    const dup = await call(api().post('/api/v1/cameras').set('Authorization', admin).send({ id: 'cam2', url: sim2.url, username: 'admin', password: 'x' }));
    assert.equal(dup.status, 409, dup.text);
    assert.equal(dup.body.code, 'CONFLICT');
    for (const body of [
      { id: 'cam3', url: `http://admin:${SIM2_PASSWORD}@127.0.0.1:1`, username: 'admin', password: 'x' }, // credentials in the URL
      { id: '../x', url: sim2.url, username: 'admin', password: 'x' },
      { id: 'cam3', url: sim2.url, username: 'admin', password: 'x', role: 'admin' }, // unknown field
      { id: 'cam3', url: 'file:///etc/passwd', username: 'admin', password: 'x' },
      { id: 'cam3', url: sim2.url, username: 'admin', password: 'a\nb' },
    ]) {
      const res = await call(api().post('/api/v1/cameras').set('Authorization', admin).send(body));
      assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    }
    assert.equal(await readFile(file, 'utf8'), before);
    assert.equal(s.cameras.get('cam3'), undefined);
  });

  it('a crash between write and rename leaves the old file intact, no temp file, and no camera added', async () => {
    const before = await readFile(file, 'utf8');
    failRename = true;
    try {
      const res = await call(api().post('/api/v1/cameras').set('Authorization', admin).send({ id: 'cam3', url: sim2.url, username: 'admin', password: SIM2_PASSWORD }));
      assert.equal(res.status, 500, res.text);
      assert.equal(res.body.code, 'CONFIG_WRITE_FAILED');
      assert.match(res.body.detail, /EIO/);
      assert.ok(s.logs.some((l) => l.includes('could not add the camera to the configuration file') && l.includes('"code":"EIO"')), 'the operator finds it in the log');
    } finally {
      failRename = false;
    }
    assert.equal(await readFile(file, 'utf8'), before);
    assert.deepEqual(await readdir(dir), ['camgate.yaml']);
    const gone = await call(api().get('/api/v1/cameras/cam3').set('Authorization', admin));
    assert.equal(gone.status, 404);
  });

  it('a camera id an operator wrote into the file meanwhile is not added a second time', async () => {
    const before = await readFile(file, 'utf8');
    const edited = parseDocument(before);
    edited.addIn(['cameras'], { id: 'cam5', url: 'http://192.0.2.5', username: 'admin', password: 'x' });
    await writeFile(file, String(edited));
    try {
      const res = await call(api().post('/api/v1/cameras').set('Authorization', admin).send({ id: 'cam5', url: sim2.url, username: 'admin', password: SIM2_PASSWORD }));
      assert.equal(res.status, 500, res.text);
      assert.equal(res.body.code, 'CONFIG_WRITE_FAILED');
      assert.match(res.body.detail, /EEXIST/);
      assert.equal(s.cameras.get('cam5'), undefined);
    } finally {
      await writeFile(file, before);
    }
  });

  it('viewer and operator get 403 on every camera CRUD operation', async () => {
    for (const user of [USERS.viewer, USERS.operator]) {
      const auth = basic(user);
      const attempts = [
        api().post('/api/v1/cameras').send({ id: 'cam9', url: sim2.url, username: 'admin', password: 'x' }),
        api().put('/api/v1/cameras/cam2').send({ url: sim2.url, username: 'admin', password: 'x' }),
        api().patch('/api/v1/cameras/cam2').send({ name: 'x' }),
        api().delete('/api/v1/cameras/cam2'),
      ];
      for (const attempt of attempts) {
        const res = await call(attempt.set('Authorization', auth));
        assert.equal(res.status, 403, `${user.name}: ${res.text}`);
        assert.equal(res.body.code, 'FORBIDDEN');
      }
    }
    assert.ok(s.cameras.get('cam2'));
  });

  it('changing the credentials replaces the client: a wrong password shows in health, the right one works again', async () => {
    const wrong = await call(api().patch('/api/v1/cameras/cam2').set('Authorization', admin).send({ password: WRONG_PASSWORD }));
    assert.equal(wrong.status, 200, wrong.text);
    assert.equal(wrong.body.health.requests, 0, 'a new client');
    const refused = await call(api().get('/api/v1/cameras/cam2/system/general').set('Authorization', admin));
    assert.equal(refused.status, 502, refused.text);
    assert.equal(refused.body.code, 'CAMERA_AUTH_FAILED');
    const health = (await call(api().get('/api/v1/cameras/cam2').set('Authorization', admin))).body.health;
    assert.equal(health.authOk, false);
    assert.equal(health.reachable, true);
    assert.equal(health.lastErrorCode, 'CAMERA_AUTH_FAILED');
    assert.ok(Date.parse(health.lastErrorAt) > Date.now() - 60_000);
    assert.equal(parse(await readFile(file, 'utf8')).cameras[0].password, WRONG_PASSWORD);

    const right = await call(api().patch('/api/v1/cameras/cam2').set('Authorization', admin).send({ password: SIM2_PASSWORD }));
    assert.equal(right.status, 200, right.text);
    const ok = await call(api().get('/api/v1/cameras/cam2/system/general').set('Authorization', admin));
    assert.equal(ok.status, 200, ok.text);
    const healthy = (await call(api().get('/api/v1/cameras/cam2').set('Authorization', admin))).body.health;
    assert.equal(healthy.authOk, true);
    assert.equal(healthy.reachable, true);
    assert.equal(healthy.lastErrorCode, null);
    const saved = parse(await readFile(file, 'utf8'));
    assert.equal(saved.cameras[0].password, SIM2_PASSWORD);
    assert.equal(saved.cameras[0].name, 'Back door', 'fields not sent stay');
  });

  it('a call running during a change finishes on the old client, which is closed after it', async () => {
    const old = s.cameras.get('cam2')!;
    sim2.faults.latencyMs = 600;
    try {
      const slow = call(api().get('/api/v1/cameras/cam2/system/general').set('Authorization', admin));
      await new Promise((r) => setTimeout(r, 150));
      const put = await call(api().put('/api/v1/cameras/cam2').set('Authorization', admin).send({ url: sim2.url, username: 'admin', password: SIM2_PASSWORD, model: 'WV-V2530LK' }));
      assert.equal(put.status, 200, put.text);
      assert.equal(put.body.name, undefined, 'PUT without a name removes it');
      assert.equal(put.body.model, 'WV-V2530LK');
      assert.notEqual(s.cameras.get('cam2'), old, 'new look-ups get the new entry at once');
      const res = await slow;
      assert.equal(res.status, 200, res.text);
    } finally {
      sim2.faults.latencyMs = 0;
    }
    await retired(s.cameras);
    await assert.rejects(old.client.request({ path: '/cgi-bin/magicBox.cgi', query: 'action=getSerialNo', read: true }), (err) => isProblem(err) && /reconfigured/.test(err.detail ?? ''));
    const saved = parse(await readFile(file, 'utf8')).cameras[0];
    assert.equal(saved.name, undefined);
    assert.equal(saved.model, 'WV-V2530LK');
  });

  it('health shows an unreachable camera (hang → timeout) and its recovery', async () => {
    s.sim.faults.hang = true;
    try {
      const res = await call(api().get('/api/v1/cameras/cam1/system/general').set('Authorization', admin));
      assert.equal(res.status, 504, res.text);
      const health = (await call(api().get('/api/v1/cameras/cam1').set('Authorization', admin))).body.health;
      assert.equal(health.reachable, false);
      assert.equal(health.lastErrorCode, 'CAMERA_TIMEOUT');
      assert.match(health.lastError, /CAMERA_TIMEOUT/);
    } finally {
      s.sim.faults.hang = false;
    }
    const ok = await call(api().get('/api/v1/cameras/cam1/system/general').set('Authorization', admin));
    assert.equal(ok.status, 200, ok.text);
    const list = await call(api().get('/api/v1/cameras').set('Authorization', admin));
    const cam1 = list.body.items.find((c: { id: string }) => c.id === 'cam1');
    assert.equal(cam1.health.reachable, true);
    assert.equal(cam1.health.authOk, true);
    assert.equal(cam1.health.lastErrorCode, 'CAMERA_TIMEOUT', 'the last error stays visible');
  });

  it('health shows the event stream: connected while subscribed, and the age of the last event', async () => {
    const entry = s.cameras.get('cam1')!;
    const got: string[] = [];
    const sub = hubFor(entry).subscribe({}, (e) => got.push(e.code));
    try {
      const deadline = Date.now() + 5_000;
      while (!existingHub(entry)!.connected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      s.sim.raiseEvent('VideoMotion', 'Start', 0);
      while (!got.includes('VideoMotion') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const events = (await call(api().get('/api/v1/cameras/cam1').set('Authorization', admin))).body.health.events;
      assert.equal(events.connected, true);
      assert.equal(events.subscribers, 1);
      assert.ok(Date.parse(events.lastEventAt) > Date.now() - 10_000, JSON.stringify(events));
      assert.ok(events.lastEventAgeSeconds >= 0 && events.lastEventAgeSeconds < 10, JSON.stringify(events));
    } finally {
      sub.unsubscribe();
    }
  });

  it('removing a camera ends its running calls, event subscribers and MJPEG viewers, closes its client, and removes it from the file', async () => {
    const entry = s.cameras.get('cam2')!;
    let subscriberClosed = false;
    hubFor(entry).subscribe({}, () => undefined, { onClose: () => { subscriberClosed = true; } });
    const viewer = request(s.app).get('/api/v1/cameras/cam2/video/mjpeg').set('Authorization', admin).buffer(false).then((r) => r);
    const watching = Date.now() + 5_000;
    while (!(mjpegStats(entry)[0]?.framesSent ?? 0) && Date.now() < watching) await new Promise((r) => setTimeout(r, 20));
    assert.ok(mjpegStats(entry)[0]!.framesSent > 0, 'the viewer is watching');
    sim2.faults.hang = true;
    const started = Date.now();
    const hung = call(api().get('/api/v1/cameras/cam2/system/general').set('Authorization', admin));
    await new Promise((r) => setTimeout(r, 200));
    const del = await call(api().delete('/api/v1/cameras/cam2').set('Authorization', admin));
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.body, { id: 'cam2', removed: true, persisted: true });
    const res = await hung;
    assert.equal(res.status, 404, res.text);
    assert.match(res.body.detail, /cam2 was removed/);
    assert.ok(Date.now() - started < 1_400, 'ended by the removal, not by the 1.5 s timeout');
    assert.equal(subscriberClosed, true);
    assert.equal(existingHub(entry), undefined);
    const watched = await viewer;
    assert.equal(watched.status, 200);
    assert.ok(Date.now() - started < 1_400, 'the MJPEG viewer ended with the removal, not after reconnect attempts');
    assert.deepEqual(mjpegStats(entry), []);
    sim2.faults.hang = false;

    await new Promise((r) => setTimeout(r, 100));
    sim2.resetStats();
    for (const path of ['/api/v1/cameras/cam2', '/api/v1/cameras/cam2/system/general', '/api/v1/cameras/cam2/snapshot']) {
      const gone = await call(api().get(path).set('Authorization', admin));
      assert.equal(gone.status, 404, `${path}: ${gone.text}`);
    }
    await assert.rejects(entry.client.request({ path: '/cgi-bin/magicBox.cgi', query: 'action=getSerialNo', read: true }));
    assert.equal(sim2.stats.requests, 0, 'the removed camera gets no more requests');
    const doc = parse(await readFile(file, 'utf8')) as { cameras: unknown[] };
    assert.deepEqual(doc.cameras, []);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const list = await call(api().get('/api/v1/cameras').set('Authorization', admin));
    assert.deepEqual(list.body.items.map((c: { id: string }) => c.id), ['cam1']);
  });

  it('a camera not in the file (the stack camera) changes in memory only and says so; a new name alone keeps its client and subscribers', async () => {
    const before = await readFile(file, 'utf8');
    const entry = s.cameras.get('cam1')!;
    let subscriberClosed = false;
    const sub = hubFor(entry).subscribe({}, () => undefined, { onClose: () => { subscriberClosed = true; } });
    const res = await call(api().patch('/api/v1/cameras/cam1').set('Authorization', admin).send({ name: 'Front' }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.persisted, false);
    assert.equal(res.body.name, 'Front');
    assert.equal(s.cameras.get('cam1'), entry);
    assert.equal(subscriberClosed, false);
    sub.unsubscribe();
    assert.equal(await readFile(file, 'utf8'), before);
    const ok = await call(api().get('/api/v1/cameras/cam1/system/general').set('Authorization', admin));
    assert.equal(ok.status, 200, ok.text);
  });

  it('no camera password appears in any answer or log line', async () => {
    await retired(s.cameras);
    const logs = s.logs.join('\n');
    const everything = answers.join('\n');
    assert.ok(answers.length > 30);
    for (const secret of [SIM2_PASSWORD, WRONG_PASSWORD, 'cam-pass-Secret9']) {
      assert.ok(!everything.includes(secret), `an answer contains ${secret}`);
      assert.ok(!logs.includes(secret), `a log line contains ${secret}`);
    }
  });
});

describe('fleet: a gateway started from a YAML file and CAMERA_URL', () => {
  let sim: Simulator;
  let dir: string;
  let file: string;
  let stop: () => Promise<void>;
  let url: string;
  const auth = basic({ name: 'admin', password: 'gw-admin-secret-1' });

  before(async () => {
    sim = await startSimulator({ username: 'admin', password: SIM2_PASSWORD });
    dir = await mkdtemp(join(tmpdir(), 'camgate-gw-'));
    file = join(dir, 'camgate.yaml');
    await writeFile(file, `# the lobby camera\ncameras:\n  - id: lobby # keep\n    url: http://admin:${SIM2_PASSWORD}@${new URL(sim.url).host}\n    model: WV-V2530LK\n`);
    const config = loadConfig(['--config', file], {
      CAMGATE_ADMIN_PASSWORD: 'gw-admin-secret-1', HOST: '127.0.0.1', PORT: '0',
      CAMERA_URL: `http://admin:${SIM2_PASSWORD}@${new URL(sim.url).host}`, CAMERA_ID: 'envcam',
    });
    const gw = await startGateway(config, createLogger('silent'));
    stop = gw.stop;
    url = gw.url;
  });

  after(async () => {
    await stop();
    await sim.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cameras from the file are persisted, the CAMERA_URL camera is not; a change of each goes where it lives', async () => {
    const list = await request(url).get('/api/v1/cameras').set('Authorization', auth);
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body.items.map((c: { id: string; persisted: boolean }) => [c.id, c.persisted]), [['lobby', true], ['envcam', false]]);

    const env = await request(url).patch('/api/v1/cameras/envcam').set('Authorization', auth).send({ name: 'From the environment' });
    assert.equal(env.status, 200, env.text);
    assert.equal(env.body.persisted, false);
    assert.doesNotMatch(await readFile(file, 'utf8'), /envcam|From the environment/);

    const lobby = await request(url).patch('/api/v1/cameras/lobby').set('Authorization', auth).send({ name: 'Lobby' });
    assert.equal(lobby.status, 200, lobby.text);
    assert.equal(lobby.body.persisted, true);
    const text = await readFile(file, 'utf8');
    assert.match(text, /# the lobby camera/);
    assert.match(text, /id: lobby # keep/);
    // The credentials leave the URL for their own keys.
    assert.deepEqual(parse(text).cameras, [{ id: 'lobby', url: sim.url, model: 'WV-V2530LK', username: 'admin', password: SIM2_PASSWORD, name: 'Lobby' }]);
    const general = await request(url).get('/api/v1/cameras/lobby/system/general').set('Authorization', auth);
    assert.equal(general.status, 200, general.text);
    const reloaded = loadConfig(['--config', file], {});
    assert.deepEqual(reloaded.cameras.map((c) => [c.id, c.baseUrl, c.username, c.password, c.name]), [['lobby', sim.url, 'admin', SIM2_PASSWORD, 'Lobby']]);
  });
});
