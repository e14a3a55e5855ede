// Vendor §4.8.1 motion detection and §4.9 events through buildApp, against the simulator over HTTP:
// channel-indexed tables, the motion grids as rows of 0/1, the shared EventHandler, alarm states
// decoded from their bit masks, and the models without alarm terminals.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { gridErrors, rowToString, stringToRow } from '../adapters/rest/motion-regions.ts';
import type { JsonObject } from '../gateway/spec.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const admin = basic(USERS.admin);
const viewer = basic(USERS.viewer);
let stack: Stack;

before(async () => {
  stack = await startStack();
});
after(async () => {
  await stack.close();
});

const url = (path: string) => `${stack.spec.basePath}/cameras/cam1/events/${path}`;
const setConfigCalls = () => stack.sim.requestLog.filter((r) => r.authorized && r.rawUrl.includes('action=setConfig'));
const paramsOf = (rawUrl: string) => rawUrl.split('?')[1]!.split('&').filter((p) => !p.startsWith('action='));
const misfits = () => stack.logs.filter((l) => l.includes('did not fit the schema'));

describe('MotionDetect (4.8.1), channel-indexed', () => {
  it('reads channel 1 typed by the schema', async () => {
    const res = await request(stack.app).get(url('motion-detect')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    const md = res.body.MotionDetect;
    assert.equal(md.Enable, false);
    assert.equal(md.MotionDetectWindow.length, 4);
    assert.equal(md.MotionDetectWindow[0].Region[0], 4194303);
    assert.equal(md.EventHandler.Dejitter, 5);
    assert.deepEqual(md.EventHandler.PtzLink, [['None', 1]]);
    assert.equal(md.EventHandler.TimeSection[0][0], '1 00:00:00-23:59:59');
  });

  it('a channel the camera does not have is 404', async () => {
    const res = await request(stack.app).get(url('motion-detect') + '?channel=2').set('Authorization', viewer);
    assert.equal(res.status, 404);
  });

  it('PATCH of one field of channel 1 writes exactly one key and reads back', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('motion-detect') + '?channel=1')
      .set('Authorization', admin)
      .send({ MotionDetect: { MotionDetectWindow: [null, { Sensitive: 80 }] } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.MotionDetect.MotionDetectWindow[1].Sensitive, 80);
    assert.deepEqual(res.body.ignoredFields, []);
    const writes = setConfigCalls();
    assert.equal(writes.length, 1);
    assert.deepEqual(paramsOf(writes[0]!.rawUrl), ['MotionDetect[0].MotionDetectWindow[1].Sensitive=80']);
    assert.equal(stack.sim.getConfigValue('table.MotionDetect[0].MotionDetectWindow[1].Sensitive'), '80');
  });

  it('refuses a sensitivity above 100 before the camera', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('motion-detect'))
      .set('Authorization', admin)
      .send({ MotionDetect: { MotionDetectWindow: [{ Sensitive: 101 }] } });
    assert.equal(res.status, 400);
    assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer === '/MotionDetect/MotionDetectWindow/0/Sensitive'), JSON.stringify(res.body.errors));
    assert.equal(stack.sim.stats.requests, 0);
  });
});

describe('motion detection grids (4.8.1 regions)', () => {
  it('converts rows both ways: bit n is block n+1 from the left', () => {
    assert.equal(rowToString(3), '1100000000000000000000');
    assert.equal(rowToString(4194303), '1'.repeat(22));
    assert.equal(rowToString(0), '0'.repeat(22));
    assert.equal(stringToRow('1100000000000000000000'), 3);
    assert.equal(stringToRow('0000000000000000000001'), 2 ** 21);
    for (const v of [0, 1, 5, 123456, 4194303]) assert.equal(stringToRow(rowToString(v)), v);
  });

  it('GET answers each window as 18 rows of 22 blocks', async () => {
    const res = await request(stack.app).get(url('motion-detect/regions')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.windows.length, 4);
    for (const w of res.body.windows) {
      assert.equal(w.region.length, 18);
      for (const row of w.region) assert.match(row, /^[01]{22}$/);
    }
    assert.deepEqual(res.body.windows[0].region, Array(18).fill('1'.repeat(22)));
    assert.deepEqual(res.body.windows[1].region, Array(18).fill('0'.repeat(22)));
  });

  it('PUT writes the rows as integers in one setConfig, then reads back the same grid', async () => {
    // A diagonal band and the left two blocks of the last row (the vendor's own example: 3).
    const region = Array.from({ length: 18 }, (_, r) => (r === 17 ? '11' + '0'.repeat(20) : '0'.repeat(r) + '1111' + '0'.repeat(18)).slice(0, 22));
    stack.sim.resetStats();
    const res = await request(stack.app)
      .put(url('motion-detect/regions') + '?channel=1')
      .set('Authorization', admin)
      .send({ windows: [null, null, { region }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.body.ignoredFields, []);
    assert.deepEqual(res.body.windows[2].region, region);

    const writes = setConfigCalls();
    assert.equal(writes.length, 1, 'one setConfig');
    const params = paramsOf(writes[0]!.rawUrl);
    // Exactly the 18 Region rows of window 2, plus the DetectVersion the vendor notice requires.
    assert.equal(params.length, 19);
    assert.ok(params.every((p) => p.startsWith('MotionDetect[0].MotionDetectWindow[2].Region[') || p === 'MotionDetect[0].DetectVersion=V3.0'), params.join('&'));
    assert.equal(stack.sim.getConfigValue('table.MotionDetect[0].MotionDetectWindow[2].Region[17]'), '3');
    assert.equal(stack.sim.getConfigValue('table.MotionDetect[0].MotionDetectWindow[2].Region[0]'), '15');
    assert.equal(stack.sim.getConfigValue('table.MotionDetect[0].MotionDetectWindow[2].Region[1]'), '30');
    // Windows not sent are untouched.
    assert.equal(stack.sim.getConfigValue('table.MotionDetect[0].MotionDetectWindow[0].Region[0]'), '4194303');

    const again = await request(stack.app).get(url('motion-detect/regions')).set('Authorization', viewer);
    assert.deepEqual(again.body.windows[2].region, region);
    const raw = await request(stack.app).get(url('motion-detect')).set('Authorization', viewer);
    assert.equal(raw.body.MotionDetect.MotionDetectWindow[2].Region[17], 3);
  });

  it('refuses a malformed grid with 400 and sends nothing to the camera', async () => {
    const good = Array(18).fill('0'.repeat(22));
    const bad: Array<[unknown, string]> = [
      [{ windows: [{ region: good.slice(1) }] }, '/windows/0/region'],
      [{ windows: [{ region: [...good.slice(1), '0'.repeat(21)] }] }, '/windows/0/region/17'],
      [{ windows: [{ region: [...good.slice(1), '0'.repeat(23)] }] }, '/windows/0/region/17'],
      [{ windows: [{ region: ['2' + '0'.repeat(21), ...good.slice(1)] }] }, '/windows/0/region/0'],
      [{ windows: [{ region: [...good.slice(1), 4194303] }] }, '/windows/0/region/17'],
      [{ windows: [] }, '/windows'],
      [{ windows: [{ region: good }, { region: good }, { region: good }, { region: good }, { region: good }] }, '/windows'],
      [{ windows: [{ region: good, extra: 1 }] }, '/windows/0'],
    ];
    for (const [body, pointer] of bad) {
      stack.sim.resetStats();
      const res = await request(stack.app).put(url('motion-detect/regions')).set('Authorization', admin).send(body as object);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(res.body.errors.some((e: { pointer: string }) => e.pointer.startsWith(pointer)), `${pointer}: ${JSON.stringify(res.body.errors)}`);
      assert.equal(stack.sim.stats.requests, 0, 'no camera request');
    }
  });

  it('checks the grid on its own too (the handler does not rely on the validator alone)', () => {
    assert.deepEqual(gridErrors({ windows: [null, { region: Array(18).fill('1'.repeat(22)) }] }), []);
    assert.deepEqual(gridErrors({ windows: [{ region: ['1'] }] }), [{ pointer: '/windows/0/region', message: 'must be 18 rows' }]);
    assert.equal(gridErrors({ windows: [{ region: [...Array(17).fill('1'.repeat(22)), 'x'.repeat(22)] }] })[0]!.pointer, '/windows/0/region/17');
    assert.equal(gridErrors({})[0]!.pointer, '/windows');
  });

  it('needs the operator role to write', async () => {
    const res = await request(stack.app)
      .put(url('motion-detect/regions'))
      .set('Authorization', viewer)
      .send({ windows: [{ region: Array(18).fill('0'.repeat(22)) }] });
    assert.equal(res.status, 403);
  });
});

describe('EventHandler (4.9.1)', () => {
  const TABLE_SCHEMAS: Array<[string, string]> = [
    ['MotionDetect', 'MotionDetectTable'],
    ['Alarm', 'AlarmInput'],
    ['BlindDetect', 'BlindDetectTable'],
    ['LossDetect', 'LossDetectTable'],
    ['LoginFailureAlarm', 'LoginFailureAlarmTable'],
    ['StorageNotExist', 'StorageNotExistTable'],
    ['StorageFailure', 'StorageFailureTable'],
    ['StorageLowSpace', 'StorageLowSpaceTable'],
    ['NetAbort', 'NetAbortTable'],
    ['IPConflict', 'IPConflictTable'],
  ];

  it('is one shared schema (and one patch twin) used by every event table', () => {
    const schemas = (stack.spec.document.components as JsonObject).schemas as Record<string, JsonObject>;
    for (const [table, name] of TABLE_SCHEMAS) {
      const read = schemas[name]!.properties as Record<string, JsonObject>;
      assert.equal(read.EventHandler!.$ref, '#/components/schemas/EventHandler', `${table} read`);
      const patchName = name === 'AlarmInput' ? 'AlarmInputPatch' : `${name}Patch`;
      const patch = schemas[patchName]!.properties as Record<string, JsonObject>;
      assert.equal(patch.EventHandler!.$ref, '#/components/schemas/EventHandlerPatch', `${table} patch`);
    }
    // Every event table's GET really reaches that table schema.
    for (const [table] of TABLE_SCHEMAS) {
      const op = stack.spec.operations.find((o) => o.method === 'get' && o.cgi[0]?.config === table);
      assert.ok(op, `${table} has a GET`);
    }
  });

  it('reads the EventHandler of one source alone', async () => {
    const res = await request(stack.app).get(url('handlers/blind-detect')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body), ['EventHandler']);
    assert.equal(res.body.EventHandler.Delay, 30);
    assert.equal(res.body.EventHandler.TimeSection.length, 7);
    assert.ok(stack.sim.requestLog.some((r) => r.rawUrl.includes('name=BlindDetect%5B0%5D.EventHandler')));
  });

  it('writes one field of alarm input 2 as Alarm[1].EventHandler.<field>', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('handlers/alarm') + '?channel=2')
      .set('Authorization', admin)
      .send({ EventHandler: { RecordLatch: 120 } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.EventHandler.RecordLatch, 120);
    assert.deepEqual(res.body.ignoredFields, []);
    const writes = setConfigCalls();
    assert.equal(writes.length, 1);
    assert.deepEqual(paramsOf(writes[0]!.rawUrl), ['Alarm[1].EventHandler.RecordLatch=120']);
    assert.equal(stack.sim.getConfigValue('table.Alarm[1].EventHandler.RecordLatch'), '120');
    assert.equal(stack.sim.getConfigValue('table.Alarm[0].EventHandler.RecordLatch'), '10');
  });

  it('writes a time section and a PTZ link by position, null leaving the rest', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('handlers/motion-detect'))
      .set('Authorization', admin)
      .send({ EventHandler: { TimeSection: [null, [null, '1 08:00:00-18:00:00']], PtzLink: [['Preset', 3]] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(paramsOf(setConfigCalls()[0]!.rawUrl), [
      'MotionDetect[0].EventHandler.TimeSection[1][1]=1%2008%3A00%3A00-18%3A00%3A00',
      'MotionDetect[0].EventHandler.PtzLink[0][0]=Preset',
      'MotionDetect[0].EventHandler.PtzLink[0][1]=3',
    ]);
    assert.equal(res.body.EventHandler.TimeSection[1][1], '1 08:00:00-18:00:00');
    assert.deepEqual(res.body.EventHandler.PtzLink[0], ['Preset', 3]);
  });

  it('refuses a bad time section and an unknown event source before the camera', async () => {
    stack.sim.resetStats();
    for (const [path, body] of [
      ['handlers/motion-detect', { EventHandler: { TimeSection: [['1 25:00:00-26:00:00']] } }],
      ['handlers/motion-detect', { EventHandler: { PtzLink: [[3, 'Preset']] } }],
      ['handlers/storage-failure', { EventHandler: { RecordEnable: true } }],
    ] as const) {
      const res = await request(stack.app).patch(url(path)).set('Authorization', admin).send(body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}: ${res.status}`);
    }
    assert.equal(stack.sim.stats.requests, 0);
  });
});

describe('alarm inputs and outputs (4.9.2 - 4.9.7)', () => {
  it('Alarm is indexed by alarm input: the whole list, written by position', async () => {
    const res = await request(stack.app).get(url('alarm')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.Alarm.length, 2);
    assert.equal(res.body.Alarm[0].Name, 'Door1');
    assert.equal(res.body.Alarm[1].SensorType, 'NC');
    stack.sim.resetStats();
    const patched = await request(stack.app).patch(url('alarm')).set('Authorization', admin).send({ Alarm: [null, { SensorType: 'NO' }] });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(paramsOf(setConfigCalls()[0]!.rawUrl), ['Alarm[1].SensorType=NO']);
    assert.equal(patched.body.Alarm[1].SensorType, 'NO');
    assert.equal(patched.body.Alarm[0].SensorType, 'NC');
  });

  it('counts the alarm slots', async () => {
    const inputs = await request(stack.app).get(url('alarm-input-slots')).set('Authorization', viewer);
    assert.deepEqual(inputs.body, { count: 2 });
    const outputs = await request(stack.app).get(url('alarm-output-slots')).set('Authorization', viewer);
    assert.deepEqual(outputs.body, { count: 1 });
  });

  it('decodes the input and output state masks into active channels counted from 1', async () => {
    const inputs = await request(stack.app).get(url('alarm-input-states')).set('Authorization', viewer);
    assert.equal(inputs.status, 200, inputs.text);
    // The camera's canned answer is result=3: bits 0 and 1.
    assert.deepEqual(inputs.body, { active: [1, 2], raw: 3 });
    const outputs = await request(stack.app).get(url('alarm-output-states')).set('Authorization', viewer);
    assert.deepEqual(outputs.body, { active: [], raw: 0 });
  });

  it('types the decoded states without a warning', async () => {
    const before = misfits().length;
    await request(stack.app).get(url('alarm-input-states')).set('Authorization', viewer);
    assert.deepEqual(misfits().slice(before), []);
  });

  it('AlarmOut is a list of outputs', async () => {
    const res = await request(stack.app).get(url('alarm-out')).set('Authorization', viewer);
    assert.deepEqual(res.body, { AlarmOut: [{ Mode: 0, Name: 'Beep' }] });
  });

  it('reads the event manager capabilities', async () => {
    const res = await request(stack.app).get(url('caps')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.MMSEnable, true);
    assert.equal(Object.keys(res.body).length, 11);
  });

  it('reads and writes the tables without index', async () => {
    for (const [path, table] of [
      ['login-failure-alarm', 'LoginFailureAlarm'],
      ['storage-not-exist', 'StorageNotExist'],
      ['storage-failure', 'StorageFailure'],
      ['storage-low-space', 'StorageLowSpace'],
      ['net-abort', 'NetAbort'],
      ['ip-conflict', 'IPConflict'],
    ] as const) {
      const res = await request(stack.app).get(url(path)).set('Authorization', viewer);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.equal(res.body[table].Enable, false);
      assert.equal(res.body[table].EventHandler.SnapshotPeriod, 3);
      stack.sim.resetStats();
      const patched = await request(stack.app).patch(url(path)).set('Authorization', admin).send({ [table]: { EventHandler: { MailEnable: false } } });
      assert.equal(patched.status, 200, `${path}: ${patched.text}`);
      assert.deepEqual(paramsOf(setConfigCalls()[0]!.rawUrl), [`${table}.EventHandler.MailEnable=false`]);
      assert.equal(stack.sim.getConfigValue(`table.${table}.EventHandler.MailEnable`), 'false');
    }
  });
});

describe('answers', () => {
  it('every answer of this file fit its schema', () => {
    assert.deepEqual(misfits(), []);
  });
});

describe('a model without alarm terminals (WV-V1330LK)', () => {
  let small: Stack;
  before(async () => {
    small = await startStack({ model: 'WV-V1330LK' });
  });
  after(async () => {
    await small.close();
  });
  const smallUrl = (path: string) => `${small.spec.basePath}/cameras/cam1/events/${path}`;

  it('answers 501 for Alarm, AlarmOut and the alarm states', async () => {
    for (const path of ['alarm', 'alarm-out', 'alarm-input-states', 'alarm-output-states', 'handlers/alarm', 'storage-failure']) {
      const res = await request(small.app).get(smallUrl(path)).set('Authorization', viewer);
      assert.equal(res.status, 501, `${path}: ${res.status} ${res.text}`);
      assert.equal(res.body.code, 'NOT_SUPPORTED_BY_MODEL');
      assert.equal(res.body.cameraErrorId, 3);
    }
  });

  it('still has motion detection, its grids and the alarm slot counts', async () => {
    for (const path of ['motion-detect', 'motion-detect/regions', 'alarm-input-slots', 'handlers/motion-detect', 'caps']) {
      const res = await request(small.app).get(smallUrl(path)).set('Authorization', viewer);
      assert.equal(res.status, 200, `${path}: ${res.status} ${res.text}`);
    }
  });
});
