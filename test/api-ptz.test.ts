// §4.10 PTZ through buildApp against the simulator over HTTP. The four models have no PTZ: every
// operation answers 501. The simulator's PTZ variant answers them: control operations send the
// vendor's exact ptz.cgi URL, presets and status follow the commands, bad input reaches no camera.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { parseKeyValue, typeBySchema } from '../adapters/cgi/codec.ts';
import { successSchema, type JsonObject, type Operation } from '../gateway/spec.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const admin = basic(USERS.admin);
const operator = basic(USERS.operator);
const viewer = basic(USERS.viewer);

function ptzOperations(stack: Stack): Operation[] {
  return stack.spec.operations.filter((op) => (op.object.tags as string[]).includes('PTZ'));
}

function resolve(stack: Stack, p: JsonObject): JsonObject {
  return typeof p.$ref === 'string' ? stack.spec.resolveRef(p.$ref) : p;
}

/** The operation's URL with the path parameters' examples. */
function exampleUrl(stack: Stack, op: Operation): string {
  let path = stack.spec.basePath + op.path;
  for (const p of op.parameters.map((x) => resolve(stack, x))) {
    if (p.in !== 'path') continue;
    const value = p.name === 'cameraId' ? 'cam1' : p.example;
    assert.notEqual(value, undefined, `${op.operationId}: ${String(p.name)} has an example`);
    path = path.replace(`{${String(p.name)}}`, String(value));
  }
  return path;
}

function exampleBody(op: Operation): unknown {
  const rb = op.object.requestBody as JsonObject | undefined;
  const json = (rb?.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined;
  return json?.example;
}

function send(stack: Stack, op: Operation, auth = admin) {
  const r = request(stack.app)[op.method](exampleUrl(stack, op)).set('Authorization', auth);
  const body = exampleBody(op);
  return body === undefined ? r : r.send(body as object);
}

// Reads, then stores, then actions, deletions last (a deletion must not remove what a later example needs).
const ORDER = { get: 0, put: 1, patch: 1, post: 2, delete: 3 } as const;

const api = (path: string): string => `/api/v1/cameras/cam1/ptz${path}`;
const camCalls = (stack: Stack) => stack.sim.requestLog.filter((r) => r.authorized).map((r) => r.rawUrl);

describe('PTZ on the four models (N/A)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it('covers every section 4.10.1-4.10.9', () => {
    const sections = new Set(ptzOperations(stack).flatMap((op) => op.cgi.map((s) => s.section)));
    for (let i = 1; i <= 9; i++) assert.ok(sections.has(`4.10.${i}`), `4.10.${i}`);
  });

  it('covers every control code of the vendor table', () => {
    const codes = new Set<string>();
    for (const op of ptzOperations(stack)) {
      for (const step of op.cgi) {
        if (step.section !== '4.10.7') continue;
        if (step.params?.code) codes.add(step.params.code);
        const fromBody = step.args?.find((a) => a.param === 'code')?.from;
        if (fromBody) {
          const schema = successSchemaOfBody(stack, op);
          const prop = (schema.properties as JsonObject)[fromBody.slice('body.'.length)] as JsonObject;
          for (const v of prop.enum as string[]) codes.add(v);
        }
      }
    }
    const vendor = [
      'Up', 'Down', 'Left', 'Right', 'ZoomWide', 'ZoomTele', 'FocusNear', 'FocusFar', 'IrisLarge', 'IrisSmall',
      'GotoPreset', 'SetPreset', 'ClearPreset', 'StartTour', 'StopTour', 'LeftUp', 'RightUp', 'LeftDown', 'RightDown',
      'AddTour', 'DelTour', 'ClearTour', 'AutoPanOn', 'AutoPanOff', 'SetLeftLimit', 'SetRightLimit', 'AutoScanOn',
      'AutoScanOff', 'SetPatternBegin', 'SetPatternEnd', 'StartPattern', 'StopPattern', 'ClearPattern', 'AlarmSearch',
      'Position', 'AuxOn', 'AuxOff', 'Menu', 'Exit', 'Enter', 'MenuUp', 'MenuDown', 'MenuLeft', 'MenuRight', 'Reset',
      'LightController', 'PositionABS', 'PositionReset', 'Continuously',
    ];
    assert.deepEqual([...codes].sort(), vendor.slice().sort());
  });

  it('answers every PTZ operation 501 NOT_SUPPORTED_BY_MODEL', async () => {
    const failures: string[] = [];
    for (const op of ptzOperations(stack)) {
      const res = await send(stack, op);
      if (res.status !== 501 || res.body.code !== 'NOT_SUPPORTED_BY_MODEL') failures.push(`${op.operationId}: ${res.status} ${res.text.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
  });
});

function successSchemaOfBody(stack: Stack, op: Operation): JsonObject {
  const rb = op.object.requestBody as JsonObject;
  const schema = ((rb.content as JsonObject)['application/json'] as JsonObject).schema as JsonObject;
  return resolve(stack, schema);
}

describe('PTZ on the PTZ variant of the simulator', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sim: { ptz: true } });
  });
  after(async () => {
    await stack.close();
  });

  it('answers every PTZ operation with its example request, as the document says', async () => {
    const failures: string[] = [];
    const ops = ptzOperations(stack).sort((a, b) => ORDER[a.method] - ORDER[b.method]);
    for (const op of ops) {
      const res = await send(stack, op);
      if (res.status < 200 || res.status >= 300) failures.push(`${op.method} ${op.operationId}: ${res.status} ${res.text.slice(0, 300)}`);
    }
    assert.deepEqual(failures, []);
  });

  it('types the Ptz and PtzAutoMovement seed data without a warning', () => {
    for (const id of ['getPtzConfig', 'getPtzAutoMovementConfig']) {
      const op = stack.spec.byId.get(id)!;
      const table = op.cgi[0]!.config!;
      const { doc } = parseKeyValue(readFileSync(new URL(`../simulator/data/config/${table}.txt`, import.meta.url), 'utf8'));
      const warnings: string[] = [];
      typeBySchema({ [table]: doc[table]! }, successSchema(stack.spec, op).schema!, stack.spec.resolveRef, warnings);
      assert.deepEqual(warnings, [], id);
    }
  });

  it('starts a move with the exact vendor URL', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).post(api('/move')).set('Authorization', operator).send({ direction: 'Up', speed: 5 });
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), ['/cgi-bin/ptz.cgi?action=start&channel=1&code=Up&arg1=0&arg2=5&arg3=0']);
    const status = await request(stack.app).get(api('/status')).set('Authorization', viewer);
    assert.equal(status.status, 200);
    assert.equal(status.body.MoveStatus, 'Moving');
  });

  it('stops the move with action=stop and the same code', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).post(api('/move/stop')).set('Authorization', operator).send({ direction: 'Up' });
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), ['/cgi-bin/ptz.cgi?action=stop&channel=1&code=Up&arg1=0&arg2=0&arg3=0']);
    const status = await request(stack.app).get(api('/status')).set('Authorization', viewer);
    assert.equal(status.body.MoveStatus, 'Idle');
  });

  it('sends a diagonal move with vertical speed as arg1 and horizontal speed as arg2, on the channel asked for', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).post(api('/move/diagonal?channel=1')).set('Authorization', operator).send({ direction: 'RightDown', verticalSpeed: 2, horizontalSpeed: 7 });
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), ['/cgi-bin/ptz.cgi?action=start&channel=1&code=RightDown&arg1=2&arg2=7&arg3=0']);
  });

  it('sends PositionABS with pan, tilt, zoom and the optional speed as arg1..arg4', async () => {
    stack.sim.resetStats();
    let res = await request(stack.app).post(api('/position')).set('Authorization', operator).send({ pan: 45.5, tilt: 20, zoom: 3, speed: 8 });
    assert.equal(res.status, 204, res.text);
    res = await request(stack.app).post(api('/position')).set('Authorization', operator).send({ pan: 10, tilt: 5, zoom: 1 });
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), [
      '/cgi-bin/ptz.cgi?action=start&channel=1&code=PositionABS&arg1=45.5&arg2=20&arg3=3&arg4=8',
      '/cgi-bin/ptz.cgi?action=start&channel=1&code=PositionABS&arg1=10&arg2=5&arg3=1',
    ]);
    const status = await request(stack.app).get(api('/status')).set('Authorization', viewer);
    assert.equal(status.body.Position, '10,5,1');
  });

  it('stores a preset that the list then shows, and going to it changes the status', async () => {
    let res = await request(stack.app).post(api('/position')).set('Authorization', operator).send({ pan: 200, tilt: 40, zoom: 4 });
    assert.equal(res.status, 204, res.text);
    stack.sim.resetStats();
    res = await request(stack.app).put(api('/presets/42')).set('Authorization', operator);
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), ['/cgi-bin/ptz.cgi?action=start&channel=1&code=SetPreset&arg1=0&arg2=42&arg3=0']);

    const list = await request(stack.app).get(api('/presets')).set('Authorization', viewer);
    assert.equal(list.status, 200);
    assert.ok(list.body.presets.some((p: { Index: number; Name: string }) => p.Index === 42 && p.Name === 'preset42'), JSON.stringify(list.body));

    res = await request(stack.app).post(api('/position')).set('Authorization', operator).send({ pan: 0, tilt: 0, zoom: 1 });
    assert.equal(res.status, 204);
    stack.sim.resetStats();
    res = await request(stack.app).post(api('/presets/42/goto')).set('Authorization', operator);
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), ['/cgi-bin/ptz.cgi?action=start&channel=1&code=GotoPreset&arg1=0&arg2=42&arg3=0']);
    const status = await request(stack.app).get(api('/status')).set('Authorization', viewer);
    assert.equal(status.body.PresetID, 42);
    assert.equal(status.body.Position, '200,40,4');

    res = await request(stack.app).delete(api('/presets/42')).set('Authorization', operator);
    assert.equal(res.status, 204);
    const after = await request(stack.app).get(api('/presets')).set('Authorization', viewer);
    assert.ok(!after.body.presets.some((p: { Index: number }) => p.Index === 42));
  });

  it('answers an empty preset list when the camera has none', async () => {
    const before = await request(stack.app).get(api('/presets')).set('Authorization', viewer);
    for (const p of before.body.presets as Array<{ Index: number }>) {
      const res = await request(stack.app).delete(api(`/presets/${p.Index}`)).set('Authorization', operator);
      assert.equal(res.status, 204);
    }
    const res = await request(stack.app).get(api('/presets')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body, { presets: [] });
  });

  it('maps a preset the camera refuses (beyond its PresetMax) to 422', async () => {
    const res = await request(stack.app).put(api('/presets/200')).set('Authorization', operator);
    assert.equal(res.status, 422, res.text);
    assert.equal(res.body.code, 'CAMERA_REJECTED');
  });

  it('builds tours from presets with AddTour and DelTour', async () => {
    await request(stack.app).put(api('/presets/5')).set('Authorization', operator).expect(204);
    stack.sim.resetStats();
    await request(stack.app).put(api('/tours/6/presets/5')).set('Authorization', operator).expect(204);
    await request(stack.app).delete(api('/tours/6/presets/5')).set('Authorization', operator).expect(204);
    assert.deepEqual(camCalls(stack), [
      '/cgi-bin/ptz.cgi?action=start&channel=1&code=AddTour&arg1=6&arg2=5&arg3=0',
      '/cgi-bin/ptz.cgi?action=start&channel=1&code=DelTour&arg1=6&arg2=5&arg3=0',
    ]);
    const tours = await request(stack.app).get(api('/tours')).set('Authorization', viewer);
    assert.equal(tours.status, 200);
    assert.ok(tours.body.tours.some((t: { Index: number; Name: string }) => t.Index === 6 && t.Name === 'tour6'), JSON.stringify(tours.body));
  });

  it('refuses a bad speed with 400 and sends nothing to the camera', async () => {
    for (const body of [{ direction: 'Up', speed: 9 }, { direction: 'Up', speed: 0 }, { direction: 'Up', speed: '5' }, { direction: 'Up' }, { direction: 'Sideways', speed: 3 }]) {
      stack.sim.resetStats();
      const res = await request(stack.app).post(api('/move')).set('Authorization', operator).send(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(res.body.errors.length > 0);
      assert.equal(stack.sim.stats.requests, 0, `${JSON.stringify(body)} reached the camera`);
    }
    stack.sim.resetStats();
    const res = await request(stack.app).post(api('/move/continuous')).set('Authorization', operator).send({ pan: 9, tilt: 0, zoom: 0 });
    assert.equal(res.status, 400);
    assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer === '/pan'), JSON.stringify(res.body.errors));
    assert.equal(stack.sim.stats.requests, 0);
  });

  it('refuses a preset number outside 1-255 with 400 before the camera', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).post(api('/presets/0/goto')).set('Authorization', operator);
    assert.equal(res.status, 400);
    assert.equal(stack.sim.stats.requests, 0);
  });

  it('lets a viewer read but not move, and needs admin for the PTZ reset', async () => {
    stack.sim.resetStats();
    let res = await request(stack.app).post(api('/move')).set('Authorization', viewer).send({ direction: 'Up', speed: 1 });
    assert.equal(res.status, 403);
    res = await request(stack.app).post(api('/reset')).set('Authorization', operator);
    assert.equal(res.status, 403);
    assert.equal(stack.sim.stats.requests, 0);
    res = await request(stack.app).post(api('/reset')).set('Authorization', admin);
    assert.equal(res.status, 204);
  });

  it('writes one field of the Ptz table and reads it back', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).patch(api('/config')).set('Authorization', operator).send({ Ptz: [{ Homing: [null, 60] }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.Ptz[0].Homing, [0, 60]);
    assert.deepEqual(res.body.ignoredFields, []);
    assert.ok(camCalls(stack).includes('/cgi-bin/configManager.cgi?action=setConfig&Ptz[0].Homing[1]=60'));
    assert.equal(stack.sim.getConfigValue('table.Ptz[0].Homing[1]'), '60');
  });

  it('sends moveDirectly with both corners', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).post(api('/move-directly')).set('Authorization', operator).send({ startPoint: [7253, 2275], endPoint: [7893, 3034] });
    assert.equal(res.status, 204, res.text);
    assert.deepEqual(camCalls(stack), ['/cgi-bin/ptzBase.cgi?action=moveDirectly&channel=1&startPoint[0]=7253&startPoint[1]=2275&endPoint[0]=7893&endPoint[1]=3034']);
  });
});
