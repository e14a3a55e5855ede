// ONVIF PTZ over the simulator: absent on the V-series models, present on the PTZ variant; continuous
// moves reach ptz.cgi as direction codes with a stop after the Timeout; absolute and relative
// moves as PositionABS; presets round trip; bad input refused before the camera sees it.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { after, before, beforeEach, describe, it } from 'node:test';
import { NS } from '../adapters/onvif/soap.ts';
import { RateLimiter } from '../gateway/rate-limit.ts';
import { child, children, type XmlNode } from '../adapters/onvif/xml.ts';
import { op, soapCall } from './onvif-client.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const PATH = '/onvif/cam1/ptz_service';
const PROFILE = '<tptz:ProfileToken>MainStream</tptz:ProfileToken>';

function call(stack: Stack, name: string, inner = '', user: { name: string; password: string } = USERS.operator) {
  return soapCall(stack.app, op('tptz', NS.tptz, name, inner), { user, path: PATH });
}

const ptzRequests = (stack: Stack, match = 'ptz.cgi?action='): string[] =>
  stack.sim.requestLog.filter((r) => r.authorized && r.rawUrl.includes(match)).map((r) => r.rawUrl.replace('/cgi-bin/ptz.cgi?', ''));

const moves = (stack: Stack): string[] => ptzRequests(stack).filter((u) => /^action=(start|stop)/.test(u));

async function until(check: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return true;
    await sleep(25);
  }
  return check();
}

async function position(stack: Stack): Promise<{ x: number; y: number; zoom: number; pt: string; z: string }> {
  const a = await call(stack, 'GetStatus', PROFILE);
  assert.equal(a.status, 200, a.text);
  const s = child(a.body, 'PTZStatus');
  const pt = child(child(s, 'Position'), 'PanTilt');
  return {
    x: Number(pt?.attrs.get('x')),
    y: Number(pt?.attrs.get('y')),
    zoom: Number(child(child(s, 'Position'), 'Zoom')?.attrs.get('x')),
    pt: child(child(s, 'MoveStatus'), 'PanTilt')?.text ?? '',
    z: child(child(s, 'MoveStatus'), 'Zoom')?.text ?? '',
  };
}

const continuous = (x: number, y: number, timeout?: string, zoom?: number) =>
  `${PROFILE}<tptz:Velocity><tt:PanTilt x="${x}" y="${y}"/>${zoom === undefined ? '' : `<tt:Zoom x="${zoom}"/>`}</tptz:Velocity>${timeout ? `<tptz:Timeout>${timeout}</tptz:Timeout>` : ''}`;

describe('ONVIF PTZ on a camera without a PTZ head', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });

  it('answers every PTZ operation with ActionNotSupported and moves nothing', async () => {
    for (const [name, inner] of [['GetNodes', ''], ['GetConfigurations', ''], ['ContinuousMove', continuous(1, 0)], ['GetPresets', PROFILE]] as const) {
      const a = await call(stack, name, inner);
      assert.equal(a.status, 500, name);
      assert.deepEqual(a.subcodes, ['ter:ActionNotSupported'], name);
    }
    assert.deepEqual(moves(stack), []);
  });
});

describe('ONVIF PTZ on a PTZ head', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sim: { ptz: true } });
  });
  after(async () => {
    await stack.close();
  });
  beforeEach(async () => {
    // Each test starts from a head at rest with no stop pending.
    await call(stack, 'Stop', PROFILE);
    stack.sim.resetStats();
  });

  it('describes one node from the camera protocol caps, in XSD order', async () => {
    const a = await call(stack, 'GetNodes', '', USERS.viewer);
    assert.equal(a.status, 200, a.text);
    const nodes = children(a.body, 'PTZNode');
    assert.equal(nodes.length, 1);
    const node = nodes[0]!;
    assert.equal(node.attrs.get('token'), 'PTZNode_1');
    assert.deepEqual(node.children.map((c) => c.local), ['Name', 'SupportedPTZSpaces', 'MaximumNumberOfPresets', 'HomeSupported']);
    // getCurrentProtocolCaps: PresetMin=1, PresetMax=80, Name=DH-SD1.
    assert.equal(child(node, 'MaximumNumberOfPresets')?.text, '80');
    assert.equal(child(node, 'Name')?.text, 'DH-SD1');
    assert.equal(child(node, 'HomeSupported')?.text, 'false', 'Ptz[0].Homing[0]=0 is no preset');
    const spaces = child(node, 'SupportedPTZSpaces')!;
    assert.deepEqual(spaces.children.map((c) => c.local), [
      'AbsolutePanTiltPositionSpace', 'AbsoluteZoomPositionSpace', 'RelativePanTiltTranslationSpace', 'RelativeZoomTranslationSpace',
      'ContinuousPanTiltVelocitySpace', 'ContinuousZoomVelocitySpace', 'PanTiltSpeedSpace', 'ZoomSpeedSpace',
    ]);
    const g = await call(stack, 'GetNode', '<tptz:NodeToken>PTZNode_1</tptz:NodeToken>');
    assert.equal(child(g.body, 'PTZNode')?.attrs.get('token'), 'PTZNode_1');
    assert.deepEqual((await call(stack, 'GetNode', '<tptz:NodeToken>other</tptz:NodeToken>')).subcodes, ['ter:InvalidArgVal', 'ter:NoEntity']);
  });

  it('gives one configuration bound to the node, and its options', async () => {
    const a = await call(stack, 'GetConfigurations');
    assert.equal(a.status, 200, a.text);
    const configs = children(a.body, 'PTZConfiguration');
    assert.equal(configs.length, 1);
    const c = configs[0]!;
    assert.equal(c.attrs.get('token'), 'PTZConfig_1');
    assert.deepEqual(c.children.map((x) => x.local), [
      'Name', 'UseCount', 'NodeToken', 'DefaultAbsolutePantTiltPositionSpace', 'DefaultAbsoluteZoomPositionSpace',
      'DefaultRelativePanTiltTranslationSpace', 'DefaultRelativeZoomTranslationSpace', 'DefaultContinuousPanTiltVelocitySpace',
      'DefaultContinuousZoomVelocitySpace', 'DefaultPTZSpeed', 'DefaultPTZTimeout', 'PanTiltLimits', 'ZoomLimits',
    ]);
    assert.equal(child(c, 'NodeToken')?.text, 'PTZNode_1');
    // One main stream and the Encode table's one extra stream.
    assert.equal(child(c, 'UseCount')?.text, '2');
    const one = await call(stack, 'GetConfiguration', '<tptz:PTZConfigurationToken>PTZConfig_1</tptz:PTZConfigurationToken>');
    assert.equal(child(one.body, 'PTZConfiguration')?.attrs.get('token'), 'PTZConfig_1');
    const o = await call(stack, 'GetConfigurationOptions', '<tptz:ConfigurationToken>PTZConfig_1</tptz:ConfigurationToken>');
    assert.deepEqual(child(o.body, 'PTZConfigurationOptions')!.children.map((x) => x.local), ['Spaces', 'PTZTimeout']);
    assert.deepEqual((await call(stack, 'GetConfiguration', '<tptz:PTZConfigurationToken>x</tptz:PTZConfigurationToken>')).subcodes, ['ter:InvalidArgVal', 'ter:NoConfig']);
  });

  it('sends a continuous move as the direction code and stops it after the Timeout', async () => {
    const started = Date.now();
    const a = await call(stack, 'ContinuousMove', continuous(1, 0, 'PT1S'));
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(moves(stack), ['action=start&channel=1&code=Right&arg1=0&arg2=8&arg3=0']);
    assert.equal((await position(stack)).pt, 'MOVING');
    assert.ok(await until(() => moves(stack).length === 2, 10_000), 'a stop follows the timeout');
    const elapsed = Date.now() - started;
    assert.deepEqual(moves(stack)[1], 'action=stop&channel=1&code=Right&arg1=0&arg2=0&arg3=0');
    assert.ok(elapsed >= 900, `stopped after ${elapsed} ms, not before the 1 s timeout`);
    assert.equal((await position(stack)).pt, 'IDLE');
  });

  it('maps diagonal velocities and zoom to the camera codes and speeds; Stop ends both and cancels the timeout', async () => {
    const a = await call(stack, 'ContinuousMove', continuous(-0.5, -0.25, 'PT1S', 0.4));
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(moves(stack), ['action=start&channel=1&code=LeftDown&arg1=2&arg2=4&arg3=0', 'action=start&channel=1&code=ZoomTele&arg1=0&arg2=0&arg3=0']);
    assert.equal((await call(stack, 'Stop', PROFILE)).status, 200);
    assert.deepEqual(moves(stack).slice(2), ['action=stop&channel=1&code=LeftDown&arg1=0&arg2=0&arg3=0', 'action=stop&channel=1&code=ZoomTele&arg1=0&arg2=0&arg3=0']);
    await sleep(1_500);
    assert.equal(moves(stack).length, 4, 'no second stop after the cancelled timeout');
  });

  it('stops the old direction before starting a new one, and stops only the axis asked', async () => {
    await call(stack, 'ContinuousMove', continuous(0.3, 0, 'PT5S', -1));
    await call(stack, 'ContinuousMove', continuous(0, 1, 'PT5S'));
    assert.equal((await call(stack, 'Stop', `${PROFILE}<tptz:PanTilt>true</tptz:PanTilt><tptz:Zoom>false</tptz:Zoom>`)).status, 200);
    assert.deepEqual(moves(stack), [
      'action=start&channel=1&code=Right&arg1=0&arg2=2&arg3=0',
      'action=start&channel=1&code=ZoomWide&arg1=0&arg2=0&arg3=0',
      'action=stop&channel=1&code=Right&arg1=0&arg2=0&arg3=0',
      'action=start&channel=1&code=Up&arg1=0&arg2=8&arg3=0',
      'action=stop&channel=1&code=Up&arg1=0&arg2=0&arg3=0',
    ]);
    assert.equal((await position(stack)).z, 'MOVING', 'zoom still runs');
  });

  it('moves to an absolute position with PositionABS and reports it back in the generic space', async () => {
    const a = await call(stack, 'AbsoluteMove', `${PROFILE}<tptz:Position><tt:PanTilt x="0.5" y="0"/><tt:Zoom x="0.5"/></tptz:Position><tptz:Speed><tt:PanTilt x="0.25" y="0.25"/></tptz:Speed>`);
    assert.equal(a.status, 200, a.text);
    // x 0.5 → 270°, y 0 → 45°, zoom 0.5 → 15.5x, speed 0.25 → 2.
    assert.deepEqual(moves(stack), ['action=start&channel=1&code=PositionABS&arg1=270&arg2=45&arg3=15.5&arg4=2']);
    const p = await position(stack);
    assert.deepEqual([p.x, p.y, p.zoom], [0.5, 0, 0.5]);
  });

  it('keeps an axis the absolute move leaves out, and moves relative to the position', async () => {
    await call(stack, 'AbsoluteMove', `${PROFILE}<tptz:Position><tt:PanTilt x="0" y="0.5"/><tt:Zoom x="0"/></tptz:Position>`);
    await call(stack, 'AbsoluteMove', `${PROFILE}<tptz:Position><tt:Zoom x="1"/></tptz:Position>`);
    let p = await position(stack);
    assert.deepEqual([p.x, p.y, p.zoom], [0, 0.5, 1]);
    const a = await call(stack, 'RelativeMove', `${PROFILE}<tptz:Translation><tt:PanTilt x="0.25" y="-0.5"/><tt:Zoom x="-0.5"/></tptz:Translation>`);
    assert.equal(a.status, 200, a.text);
    p = await position(stack);
    assert.deepEqual([p.x, p.y, p.zoom], [0.25, 0, 0.5]);
  });

  it('refuses positions outside the space, unknown spaces and profiles, with nothing sent', async () => {
    const bad: Array<[string, string, string[]]> = [
      ['AbsoluteMove', `${PROFILE}<tptz:Position><tt:PanTilt x="1.5" y="0"/></tptz:Position>`, ['ter:InvalidArgVal', 'ter:InvalidPosition']],
      ['AbsoluteMove', `${PROFILE}<tptz:Position><tt:PanTilt x="0" y="0" space="http://example.com/degrees"/></tptz:Position>`, ['ter:InvalidArgVal', 'ter:SpaceNotSupported']],
      ['ContinuousMove', continuous(2, 0), ['ter:InvalidArgVal', 'ter:InvalidVelocity']],
      ['ContinuousMove', continuous(0.5, 0, 'soon'), ['ter:InvalidArgVal']],
      ['ContinuousMove', continuous(0.5, 0).replace('MainStream', 'NoSuchProfile'), ['ter:InvalidArgVal', 'ter:NoProfile']],
      ['RelativeMove', `${PROFILE}<tptz:Translation><tt:PanTilt x="nan" y="0"/></tptz:Translation>`, ['ter:InvalidArgVal']],
    ];
    for (const [name, inner, subcodes] of bad) {
      const a = await call(stack, name, inner);
      assert.equal(a.status, 400, inner);
      assert.deepEqual(a.subcodes, subcodes, inner);
    }
    assert.deepEqual(moves(stack), []);
  });

  it('needs the operator role to move; a viewer may read the status', async () => {
    assert.deepEqual((await call(stack, 'ContinuousMove', continuous(1, 0), USERS.viewer)).subcodes, ['ter:NotAuthorized']);
    assert.equal((await call(stack, 'GetStatus', PROFILE, USERS.viewer)).status, 200);
    assert.deepEqual(moves(stack), []);
  });

  it('round-trips presets: set, list, go to, remove', async () => {
    const list = async (): Promise<string[]> => children((await call(stack, 'GetPresets', PROFILE)).body, 'Preset').map((p: XmlNode) => p.attrs.get('token') ?? '');
    assert.deepEqual(await list(), ['1', '2', '3']);
    await call(stack, 'AbsoluteMove', `${PROFILE}<tptz:Position><tt:PanTilt x="-0.5" y="0.2"/><tt:Zoom x="0.25"/></tptz:Position>`);
    const set = await call(stack, 'SetPreset', `${PROFILE}<tptz:PresetName>door</tptz:PresetName>`);
    assert.equal(set.status, 200, set.text);
    const token = child(set.body, 'PresetToken')?.text;
    assert.equal(token, '4', 'the lowest free preset number');
    assert.deepEqual(await list(), ['1', '2', '3', '4']);
    await call(stack, 'AbsoluteMove', `${PROFILE}<tptz:Position><tt:PanTilt x="0.9" y="-0.9"/><tt:Zoom x="1"/></tptz:Position>`);
    assert.equal((await call(stack, 'GotoPreset', `${PROFILE}<tptz:PresetToken>4</tptz:PresetToken>`)).status, 200);
    const p = await position(stack);
    assert.deepEqual([p.x, p.y, p.zoom], [-0.5, 0.2, 0.25]);
    assert.equal((await call(stack, 'RemovePreset', `${PROFILE}<tptz:PresetToken>4</tptz:PresetToken>`)).status, 200);
    assert.deepEqual(await list(), ['1', '2', '3']);
    assert.deepEqual(moves(stack).filter((m) => /Preset/.test(m)), [
      'action=start&channel=1&code=SetPreset&arg1=0&arg2=4&arg3=0',
      'action=start&channel=1&code=GotoPreset&arg1=0&arg2=4&arg3=0',
      'action=start&channel=1&code=ClearPreset&arg1=0&arg2=4&arg3=0',
    ]);
    for (const name of ['RemovePreset', 'GotoPreset']) {
      const a = await call(stack, name, `${PROFILE}<tptz:PresetToken>4</tptz:PresetToken>`);
      assert.deepEqual(a.subcodes, ['ter:InvalidArgVal', 'ter:NoToken'], name);
    }
    assert.deepEqual((await call(stack, 'SetPreset', `${PROFILE}<tptz:PresetToken>81</tptz:PresetToken>`)).subcodes, ['ter:InvalidArgVal', 'ter:NoToken']);
  });

  it('uses the camera homing preset as the home position', async () => {
    stack.sim.setConfigValue('table.Ptz[0].Homing[0]', '2');
    try {
      const node = child((await call(stack, 'GetNodes')).body, 'PTZNode');
      assert.equal(child(node, 'HomeSupported')?.text, 'true');
      assert.equal((await call(stack, 'GotoHomePosition', PROFILE)).status, 200);
      assert.equal((await call(stack, 'SetHomePosition', PROFILE)).status, 200);
      assert.deepEqual(moves(stack), ['action=start&channel=1&code=GotoPreset&arg1=0&arg2=2&arg3=0', 'action=start&channel=1&code=SetPreset&arg1=0&arg2=2&arg3=0']);
    } finally {
      stack.sim.setConfigValue('table.Ptz[0].Homing[0]', '0');
    }
    assert.deepEqual((await call(stack, 'GotoHomePosition', PROFILE)).subcodes, ['ter:ActionNotSupported']);
  });
});

describe('ONVIF PTZ rate limit', () => {
  let stack: Stack;
  before(async () => {
    // Two moves per user and no refill: the third is refused; stops are never limited.
    stack = await startStack({ sim: { ptz: true }, rateLimiter: new RateLimiter({ ptz: { perUser: { burst: 2, perMinute: 0 }, perCamera: null } }) });
  });
  after(async () => {
    await stack.close();
  });

  it('takes a ptz token per move, shares the budget with REST, and never limits a stop', async () => {
    assert.equal((await call(stack, 'ContinuousMove', continuous(1, 0, 'PT5S'))).status, 200);
    assert.equal((await call(stack, 'AbsoluteMove', `${PROFILE}<tptz:Position><tt:Zoom x="0.5"/></tptz:Position>`)).status, 200);
    stack.sim.resetStats();
    const refused = await call(stack, 'GotoPreset', `${PROFILE}<tptz:PresetToken>1</tptz:PresetToken>`);
    assert.equal(refused.status, 500, refused.text);
    assert.deepEqual(refused.subcodes, ['ter:Action']);
    assert.match(child(child(refused.body, 'Reason'), 'Text')?.text ?? '', /too many PTZ moves/);
    const rest = await request(stack.app).post('/api/v1/cameras/cam1/ptz/presets/1/goto').set('Authorization', basic(USERS.operator));
    assert.equal(rest.status, 429, 'the REST face draws on the same budget');
    assert.deepEqual(moves(stack), []);
    assert.equal((await call(stack, 'Stop', PROFILE)).status, 200);
    assert.equal((await call(stack, 'ContinuousMove', continuous(0, 0))).status, 200, 'a zero velocity is a stop');
    assert.deepEqual(moves(stack), ['action=stop&channel=1&code=Right&arg1=0&arg2=0&arg3=0']);
    // Another user has a budget of their own.
    assert.equal((await call(stack, 'GotoPreset', `${PROFILE}<tptz:PresetToken>1</tptz:PresetToken>`, USERS.admin)).status, 200);
  });
});
