// Every §4.6 System operation through buildApp, against the simulator over HTTP: success (the
// response validated against the document), a validation error that reaches no camera, and a
// camera error mapped to its problem code.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { JsonObject, Operation } from '../gateway/spec.ts';
import { basic, startStack, TOKEN, USERS, type Stack } from './stack.ts';

let stack: Stack;
const admin = basic(USERS.admin);

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack.close();
});

function systemOperations(): Operation[] {
  return stack.spec.operations.filter((op) => op.cgi.some((s) => s.section.startsWith('4.6.')));
}

function urlOf(op: Operation): string {
  return stack.spec.basePath + op.path.replace('{cameraId}', 'cam1');
}

function exampleBody(op: Operation): unknown {
  const rb = op.object.requestBody as JsonObject | undefined;
  const content = rb?.content as JsonObject | undefined;
  const json = content?.['application/json'] as JsonObject | undefined;
  return json?.example;
}

function send(op: Operation, body?: unknown, auth = admin) {
  const r = request(stack.app)[op.method](urlOf(op)).set('Authorization', auth);
  return body === undefined ? r : r.send(body as object);
}

describe('every §4.6 operation', () => {
  it('covers all 24 sections of §4.6', () => {
    const sections = new Set(systemOperations().flatMap((op) => op.cgi.map((s) => s.section)));
    for (let i = 1; i <= 24; i++) assert.ok(sections.has(`4.6.${i}`), `4.6.${i} has an operation`);
  });

  it('succeeds, and every answer fits the document', async () => {
    for (const op of systemOperations()) {
      if (op.operationId === 'shutdownCamera' || op.operationId === 'rebootCamera') continue; // below, on their own
      const res = await send(op, exampleBody(op));
      assert.ok(res.status >= 200 && res.status < 300, `${op.operationId}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  });

  it('refuses a request that does not fit, with a field pointer, and sends nothing to the camera', async () => {
    for (const op of systemOperations()) {
      stack.sim.resetStats();
      const hasBody = op.object.requestBody !== undefined;
      const res = hasBody
        ? await send(op, { unexpectedField: 1 })
        : await request(stack.app)[op.method](urlOf(op) + '?unexpected=1').set('Authorization', admin);
      assert.equal(res.status, 400, `${op.operationId}: ${res.status}`);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(res.body.errors.length > 0 && typeof res.body.errors[0].pointer === 'string', op.operationId);
      assert.equal(stack.sim.stats.requests, 0, `${op.operationId} reached the camera`);
    }
  });

  it('maps a camera error (ErrorID=4) to CAMERA_REJECTED 422 with the camera detail', async () => {
    stack.sim.faults.errorId = 4;
    stack.sim.faults.errorMatch = '';
    try {
      for (const op of systemOperations()) {
        const res = await send(op, exampleBody(op));
        assert.equal(res.status, 422, `${op.operationId}: ${res.status}`);
        assert.equal(res.body.code, 'CAMERA_REJECTED');
        assert.equal(res.body.cameraErrorId, 4);
        assert.match(res.body.detail, /invalid param/i);
      }
    } finally {
      stack.sim.faults.errorId = null;
    }
  });
});

describe('System behaviour', () => {
  const general = () => stack.spec.basePath + '/cameras/cam1/system/general';

  it('reads General typed by the schema', async () => {
    const res = await request(stack.app).get(general()).set('Authorization', admin);
    assert.equal(res.status, 200);
    assert.equal(typeof res.body.General.LocalNo, 'number');
    assert.equal(typeof res.body.General.MachineName, 'string');
  });

  it('PATCH writes one field with one setConfig, reads back, reports nothing ignored', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).patch(general()).set('Authorization', admin).send({ General: { MachineName: 'lobby-cam' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.General.MachineName, 'lobby-cam');
    assert.deepEqual(res.body.ignoredFields, []);
    const writes = stack.sim.requestLog.filter((r) => r.rawUrl.includes('action=setConfig'));
    assert.equal(writes.length, 1);
    assert.equal(writes[0]!.rawUrl, '/cgi-bin/configManager.cgi?action=setConfig&General.MachineName=lobby-cam');
    assert.equal(stack.sim.getConfigValue('table.General.MachineName'), 'lobby-cam');
  });

  it('carries "a b#c+d%e" percent-encoded and reads it back intact', async () => {
    stack.sim.resetStats();
    const value = 'a b#c+d%e';
    const res = await request(stack.app).patch(general()).set('Authorization', admin).send({ General: { MachineName: value } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(stack.sim.requestLog.some((r) => r.rawUrl.endsWith('General.MachineName=a%20b%23c%2Bd%25e')));
    const read = await request(stack.app).get(general()).set('Authorization', admin);
    assert.equal(read.body.General.MachineName, value);
  });

  it('keeps brackets literal on the wire', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(stack.spec.basePath + '/cameras/cam1/system/holiday')
      .set('Authorization', admin)
      .send({ Holiday: { MonthMask: [null, 5] } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const write = stack.sim.requestLog.find((r) => r.rawUrl.includes('action=setConfig'));
    assert.equal(write?.rawUrl, '/cgi-bin/configManager.cgi?action=setConfig&Holiday.MonthMask[1]=5');
    assert.equal(res.body.Holiday.MonthMask[1], 5);
  });

  it('refuses & CR LF in a string with 400 and zero camera requests', async () => {
    for (const bad of ['a&b', 'a\rb', 'a\nb', 'x&action=reboot']) {
      stack.sim.resetStats();
      const res = await request(stack.app).patch(general()).set('Authorization', admin).send({ General: { MachineName: bad } });
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.equal(res.body.errors[0].pointer, '/General/MachineName');
      assert.equal(stack.sim.stats.requests, 0);
    }
  });

  it('sets and reads the camera clock as ISO 8601 local time', async () => {
    const url = stack.spec.basePath + '/cameras/cam1/system/time';
    const put = await request(stack.app).put(url).set('Authorization', admin).send({ time: '2016-01-01T21:02:32' });
    assert.equal(put.status, 204);
    const get = await request(stack.app).get(url).set('Authorization', admin);
    assert.equal(get.status, 200);
    assert.match(get.body.time, /^2016-01-01T21:0[23]:\d\d$/);
    const bad = await request(stack.app).put(url).set('Authorization', admin).send({ time: '2016-02-30T21:02:32' });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].pointer, '/time');
  });

  it('lists the language capability as an array and trims padded system info', async () => {
    const caps = await request(stack.app).get(stack.spec.basePath + '/cameras/cam1/system/language-caps').set('Authorization', admin);
    assert.ok(Array.isArray(caps.body.languages) && caps.body.languages.includes('English'), JSON.stringify(caps.body));
    const info = await request(stack.app).get(stack.spec.basePath + '/cameras/cam1/system/info').set('Authorization', admin);
    assert.equal(info.status, 200);
    assert.equal(info.body.serialNumber, info.body.serialNumber.trim());
  });

  it('restores a table to its factory value', async () => {
    await request(stack.app).patch(general()).set('Authorization', admin).send({ General: { MachineName: 'changed' } });
    const res = await request(stack.app)
      .post(stack.spec.basePath + '/cameras/cam1/system/config/restore')
      .set('Authorization', admin)
      .send({ names: ['General'] });
    assert.equal(res.status, 204);
    const rawUrl = stack.sim.requestLog.at(-1)?.rawUrl;
    assert.equal(rawUrl, '/cgi-bin/configManager.cgi?action=restore&names[0]=General');
    assert.notEqual(stack.sim.getConfigValue('table.General.MachineName'), 'changed');
  });

  it('reboots and shuts down as admin only', async () => {
    for (const [path, body] of [
      ['/system/reboot', { delay: 5 }],
      ['/system/shutdown', undefined],
    ] as const) {
      const url = stack.spec.basePath + '/cameras/cam1' + path;
      const op = await request(stack.app).post(url).set('Authorization', basic(USERS.operator)).send(body);
      assert.equal(op.status, 403, path);
      assert.equal(op.body.code, 'FORBIDDEN');
      stack.sim.resetStats();
      const ok = await request(stack.app).post(url).set('Authorization', admin).send(body);
      assert.equal(ok.status, 204, `${path}: ${JSON.stringify(ok.body)}`);
      assert.equal(stack.sim.stats.requests >= 1, true);
    }
    assert.ok(stack.sim.requestLog.some((r) => r.rawUrl === '/cgi-bin/magicBox.cgi?action=shutdown'));
  });

  it('streams the config backup to admins', async () => {
    const url = stack.spec.basePath + '/cameras/cam1/system/config-backup';
    const viewer = await request(stack.app).get(url).set('Authorization', basic(USERS.viewer));
    assert.equal(viewer.status, 403);
    const res = await request(stack.app).get(url).set('Authorization', admin).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-disposition']), /attachment/);
    const doc = JSON.parse((res.body as Buffer).toString('utf8'));
    assert.ok(doc.General, 'the backup holds the General table');
  });
});

describe('gateway auth and errors', () => {
  const url = () => stack.spec.basePath + '/cameras/cam1/system/general';

  it('lists the cameras with their health, and no credentials', async () => {
    const res = await request(stack.app).get(stack.spec.basePath + '/cameras').set('Authorization', basic(USERS.viewer));
    assert.equal(res.status, 200);
    assert.equal(res.body.items.length, 1);
    assert.equal(res.body.items[0].id, 'cam1');
    assert.equal(res.body.items[0].health.breaker, 'closed');
    assert.ok(!res.text.includes('cam-pass-Secret9') && !res.text.includes(stack.sim.url));
    const one = await request(stack.app).get(stack.spec.basePath + '/cameras/cam1').set('Authorization', basic(USERS.viewer));
    assert.deepEqual(one.body.id, 'cam1');
    await request(stack.app).get(stack.spec.basePath + '/cameras/nope').set('Authorization', basic(USERS.viewer)).expect(404);
  });

  it('needs credentials, and says how', async () => {
    const res = await request(stack.app).get(url());
    assert.equal(res.status, 401);
    assert.equal(res.body.code, 'UNAUTHENTICATED');
    assert.match(String(res.headers['www-authenticate']), /Basic/);
  });

  it('takes a named Bearer token with its role', async () => {
    const ok = await request(stack.app).get(url()).set('Authorization', `Bearer ${TOKEN.token}`);
    assert.equal(ok.status, 200);
    const denied = await request(stack.app)
      .patch(url())
      .set('Authorization', `Bearer ${TOKEN.token}`)
      .send({ General: { MachineName: 'x' } });
    assert.equal(denied.status, 403);
  });

  it('answers 404 problem for an unknown camera and an unknown path', async () => {
    const cam = await request(stack.app).get(stack.spec.basePath + '/cameras/nope/system/general').set('Authorization', admin);
    assert.equal(cam.status, 404);
    assert.equal(cam.body.code, 'NOT_FOUND');
    const path = await request(stack.app).get(stack.spec.basePath + '/RPC2').set('Authorization', admin);
    assert.equal(path.status, 404);
  });

  it('sends no X-Powered-By and no stack', async () => {
    const res = await request(stack.app).patch(url()).set('Authorization', admin).set('Content-Type', 'application/json').send('{bad json');
    assert.equal(res.status, 400);
    assert.equal(res.headers['x-powered-by'], undefined);
    assert.doesNotMatch(res.text, /at .*\.ts:\d+/);
  });

  it('never logs a password', async () => {
    await request(stack.app).get(url()).set('Authorization', admin);
    const all = stack.logs.join('');
    assert.ok(all.length > 0);
    assert.ok(!all.includes('cam-pass-Secret9'));
    assert.ok(!all.includes(USERS.admin.password));
  });
});

describe('validation errors', () => {
  it('lists every field that does not fit, each with its pointer', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(stack.spec.basePath + '/cameras/cam1/system/general')
      .set('Authorization', admin)
      .send({ General: { LocalNo: 'eight', Foo: 1 } });
    assert.equal(res.status, 400);
    const pointers = res.body.errors.map((e: { pointer: string }) => e.pointer).sort();
    assert.deepEqual(pointers, ['/General/Foo', '/General/LocalNo']);
    assert.equal(stack.sim.stats.requests, 0);
  });
});
