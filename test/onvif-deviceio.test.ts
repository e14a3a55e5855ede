// ONVIF DeviceIO against the simulator: relays are the camera's alarm outputs (AlarmOut), digital
// inputs its alarm inputs; the tds relay operations answer on the device and deviceio paths alike;
// relay changes need the operator role and reach the camera, bad tokens and settings write nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseKeyValue } from '../adapters/cgi/codec.ts';
import { NS } from '../adapters/onvif/soap.ts';
import { child, children, textAt, type XmlNode } from '../adapters/onvif/xml.ts';
import type { Simulator } from '../simulator/server.ts';
import { op, soapCall, type SoapAnswer } from './onvif-client.ts';
import { startStack, USERS, type Stack } from './stack.ts';

type User = { name: string; password: string };
const DEVICEIO = '/onvif/cam1/deviceio_service';

function call(stack: Stack, prefix: 'tds' | 'tmd', name: string, inner = '', user: User | null = USERS.operator, path = DEVICEIO): Promise<SoapAnswer> {
  return soapCall(stack.app, op(prefix, NS[prefix], name, inner), { ...(user !== null ? { user } : {}), path });
}

function ok(a: SoapAnswer, name: string, ns: string): XmlNode {
  assert.equal(a.status, 200, `${name}: ${a.text.slice(-400)}`);
  assert.equal(a.body.local, `${name}Response`);
  assert.equal(a.body.ns, ns);
  return a.body;
}

function fault(a: SoapAnswer, status: number, ...subcodes: string[]): void {
  assert.equal(a.status, status, a.text.slice(-400));
  assert.deepEqual(a.subcodes, subcodes);
}

function writes(sim: Simulator): string[] {
  return sim.requestLog.map((r) => decodeURIComponent(r.rawUrl)).filter((u) => /action=set/.test(u));
}

async function alarmSlots(stack: Stack, action: string): Promise<number> {
  const body = await stack.cameras.get('cam1')!.camera.call('/cgi-bin/alarm.cgi', [['action', action]]);
  return Number(parseKeyValue(body).doc.result);
}

const state = (s: string) => `<tds:RelayOutputToken>RelayOutput1</tds:RelayOutputToken><tds:LogicalState>${s}</tds:LogicalState>`;
const props = (mode: string, idle: string) => `<tt:Mode>${mode}</tt:Mode><tt:DelayTime>PT5S</tt:DelayTime><tt:IdleState>${idle}</tt:IdleState>`;

describe('ONVIF DeviceIO (a model with alarm outputs)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ model: 'WV-V2530LK' });
  });
  after(async () => {
    await stack.close();
  });

  it('GetServiceCapabilities (pre-auth) counts the camera alarm inputs and outputs', async () => {
    const caps = child(ok(await call(stack, 'tmd', 'GetServiceCapabilities', '', null), 'GetServiceCapabilities', NS.tmd), 'Capabilities', NS.tmd)!;
    assert.equal(Number(caps.attrs.get('RelayOutputs')), await alarmSlots(stack, 'getOutSlots'));
    assert.equal(Number(caps.attrs.get('DigitalInputs')), await alarmSlots(stack, 'getInSlots'));
    assert.equal(caps.attrs.get('SerialPorts'), '0');
    assert.equal(caps.attrs.get('VideoOutputs'), '0');
  });

  it('other operations need credentials: 401 ter:NotAuthorized', async () => {
    for (const [prefix, name] of [['tmd', 'GetDigitalInputs'], ['tmd', 'GetRelayOutputOptions'], ['tds', 'GetRelayOutputs'], ['tds', 'SetRelayOutputState']] as const) {
      fault(await call(stack, prefix, name, name === 'SetRelayOutputState' ? state('active') : '', null), 401, 'ter:NotAuthorized');
    }
  });

  it('GetRelayOutputs answers on the device and the deviceio paths, one Bistable relay per alarm output', async () => {
    for (const path of ['/onvif/cam1/device_service', DEVICEIO]) {
      const relays = children(ok(await call(stack, 'tds', 'GetRelayOutputs', '', USERS.viewer, path), 'GetRelayOutputs', NS.tds), 'RelayOutputs');
      assert.equal(relays.length, await alarmSlots(stack, 'getOutSlots'));
      assert.equal(relays[0]!.attrs.get('token'), 'RelayOutput1');
      const p = child(relays[0], 'Properties');
      assert.deepEqual(p?.children.map((c) => [c.ns, c.local]), [[NS.tt, 'Mode'], [NS.tt, 'DelayTime'], [NS.tt, 'IdleState']]);
      assert.equal(textAt(p, 'Mode'), 'Bistable');
    }
    const options = children(ok(await call(stack, 'tmd', 'GetRelayOutputOptions', '', USERS.viewer), 'GetRelayOutputOptions', NS.tmd), 'RelayOutputOptions');
    assert.deepEqual(options.map((o) => [o.attrs.get('token'), textAt(o, 'Mode')]), [['RelayOutput1', 'Bistable']]);
    fault(await call(stack, 'tmd', 'GetRelayOutputOptions', '<tmd:RelayOutputToken>RelayOutput9</tmd:RelayOutputToken>', USERS.viewer), 400, 'ter:InvalidArgVal', 'ter:RelayToken');
  });

  it('SetRelayOutputState drives AlarmOut Mode (1 on, 0 back to automatic) for operators; viewers and bad input write nothing', async () => {
    stack.sim.resetStats();
    fault(await call(stack, 'tds', 'SetRelayOutputState', state('active'), USERS.viewer), 400, 'ter:NotAuthorized');
    fault(await call(stack, 'tds', 'SetRelayOutputState', state('on')), 400, 'ter:InvalidArgVal');
    fault(await call(stack, 'tds', 'SetRelayOutputState', state('active').replace('RelayOutput1', 'RelayOutput2')), 400, 'ter:InvalidArgVal', 'ter:RelayToken');
    fault(await call(stack, 'tds', 'SetRelayOutputState', state('active').replace('RelayOutput1', 'Relay1')), 400, 'ter:InvalidArgVal', 'ter:RelayToken');
    assert.deepEqual(writes(stack.sim), []);

    ok(await call(stack, 'tds', 'SetRelayOutputState', state('active')), 'SetRelayOutputState', NS.tds);
    assert.equal(stack.sim.getConfigValue('table.AlarmOut[0].Mode'), '1');
    ok(await call(stack, 'tds', 'SetRelayOutputState', state('inactive'), USERS.operator, '/onvif/cam1/device_service'), 'SetRelayOutputState', NS.tds);
    assert.equal(stack.sim.getConfigValue('table.AlarmOut[0].Mode'), '0');
    assert.deepEqual(writes(stack.sim), ['/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[0].Mode=1', '/cgi-bin/configManager.cgi?action=setConfig&AlarmOut[0].Mode=0']);
  });

  it('SetRelayOutputSettings (tds and tmd) accepts what the camera holds and refuses the rest', async () => {
    stack.sim.resetStats();
    ok(await call(stack, 'tds', 'SetRelayOutputSettings', `<tds:RelayOutputToken>RelayOutput1</tds:RelayOutputToken><tds:Properties>${props('Bistable', 'open')}</tds:Properties>`), 'SetRelayOutputSettings', NS.tds);
    ok(await call(stack, 'tmd', 'SetRelayOutputSettings', `<tmd:RelayOutput token="RelayOutput1"><tt:Properties>${props('Bistable', 'open')}</tt:Properties></tmd:RelayOutput>`), 'SetRelayOutputSettings', NS.tmd);
    fault(await call(stack, 'tmd', 'SetRelayOutputSettings', `<tmd:RelayOutput token="RelayOutput1"><tt:Properties>${props('Monostable', 'open')}</tt:Properties></tmd:RelayOutput>`), 400, 'ter:InvalidArgVal', 'ter:ModeError');
    fault(await call(stack, 'tds', 'SetRelayOutputSettings', `<tds:RelayOutputToken>RelayOutput1</tds:RelayOutputToken><tds:Properties>${props('Bistable', 'closed')}</tds:Properties>`), 400, 'ter:InvalidArgVal', 'ter:ModeError');
    fault(await call(stack, 'tmd', 'SetRelayOutputSettings', `<tmd:RelayOutput token="RelayOutput7"><tt:Properties>${props('Bistable', 'open')}</tt:Properties></tmd:RelayOutput>`), 400, 'ter:InvalidArgVal', 'ter:RelayToken');
    fault(await call(stack, 'tmd', 'SetRelayOutputSettings', `<tmd:RelayOutput token="RelayOutput1"><tt:Properties>${props('Bistable', 'open')}</tt:Properties></tmd:RelayOutput>`, USERS.viewer), 400, 'ter:NotAuthorized');
    assert.deepEqual(writes(stack.sim), []);
  });

  it('GetDigitalInputs: one per alarm input, idle state from the sensor type (NC closed, NO open)', async () => {
    stack.sim.setConfigValue('table.Alarm[1].SensorType', 'NO');
    const inputs = children(ok(await call(stack, 'tmd', 'GetDigitalInputs', '', USERS.viewer), 'GetDigitalInputs', NS.tmd), 'DigitalInputs');
    assert.equal(inputs.length, await alarmSlots(stack, 'getInSlots'));
    assert.deepEqual(inputs.map((i) => [i.attrs.get('token'), i.attrs.get('IdleState')]), [['DigitalInput1', stack.sim.getConfigValue('table.Alarm[0].SensorType') === 'NO' ? 'open' : 'closed'], ['DigitalInput2', 'open']]);
  });

  it('GetVideoSources lists the camera video inputs with the media tokens', async () => {
    const body = await stack.cameras.get('cam1')!.camera.call('/cgi-bin/devVideoInput.cgi', [['action', 'getCollect']]);
    const n = Number(parseKeyValue(body).doc.result);
    const tokens = children(ok(await call(stack, 'tmd', 'GetVideoSources', '', USERS.viewer), 'GetVideoSources', NS.tmd), 'Token').map((t) => t.text);
    assert.deepEqual(tokens, Array.from({ length: n }, (_, i) => `VideoSource_${i + 1}`));
  });
});

describe('ONVIF DeviceIO (a model without alarm outputs)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ model: 'WV-V1330LK' });
  });
  after(async () => {
    await stack.close();
  });

  it('has no relays: none listed, none counted, a relay token refused without a camera write', async () => {
    stack.sim.resetStats();
    const caps = child(ok(await call(stack, 'tmd', 'GetServiceCapabilities', '', null), 'GetServiceCapabilities', NS.tmd), 'Capabilities', NS.tmd)!;
    assert.equal(caps.attrs.get('RelayOutputs'), '0');
    assert.deepEqual(children(ok(await call(stack, 'tds', 'GetRelayOutputs'), 'GetRelayOutputs', NS.tds), 'RelayOutputs'), []);
    fault(await call(stack, 'tds', 'SetRelayOutputState', state('active')), 400, 'ter:InvalidArgVal', 'ter:RelayToken');
    assert.deepEqual(writes(stack.sim), []);
    // Alarm inputs are counted (alarm.cgi getInSlots is on every model); their sensor type is not known here.
    const inputs = children(ok(await call(stack, 'tmd', 'GetDigitalInputs'), 'GetDigitalInputs', NS.tmd), 'DigitalInputs');
    assert.equal(inputs.length, await alarmSlots(stack, 'getInSlots'));
    assert.ok(inputs.every((i) => i.attrs.get('IdleState') === undefined));
  });
});
