// ONVIF Imaging over the simulator: settings read from the picture tables in force, writes of the
// minimal set of keys (nothing written when one value is out of range), the options' ranges, and
// focus moves on the models with a motorised lens (ActionNotSupported on the others).
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { NS } from '../adapters/onvif/soap.ts';
import { child, children, type XmlNode } from '../adapters/onvif/xml.ts';
import { op, soapCall } from './onvif-client.ts';
import { startStack, USERS, type Stack } from './stack.ts';

const PATH = '/onvif/cam1/imaging_service';
const SOURCE = '<timg:VideoSourceToken>VideoSource_1</timg:VideoSourceToken>';

function call(stack: Stack, name: string, inner = SOURCE, user: { name: string; password: string } = USERS.operator) {
  return soapCall(stack.app, op('timg', NS.timg, name, inner), { user, path: PATH });
}

const setSettings = (stack: Stack, settings: string) =>
  call(stack, 'SetImagingSettings', `${SOURCE}<timg:ImagingSettings>${settings}</timg:ImagingSettings>`);

const text = (node: XmlNode | undefined, ...path: string[]): string | undefined => {
  let cur = node;
  for (const p of path) cur = child(cur, p);
  return cur?.text;
};

const cgiRequests = (stack: Stack, match: string): string[] => stack.sim.requestLog.filter((r) => r.authorized && r.rawUrl.includes(match)).map((r) => r.rawUrl);

function plant(stack: Stack, values: Record<string, string>): void {
  for (const [k, v] of Object.entries(values)) stack.sim.setConfigValue(`table.${k}`, v);
}

describe('ONVIF imaging: settings', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });
  beforeEach(() => {
    stack.sim.resetStats();
  });

  it('reads the colour, sharpness, focus and the in-force VideoInOptions set, in XSD order', async () => {
    // The seed pins NormalOptions (NightOptions.SwitchMode=4): sharpness and focus config 0.
    plant(stack, {
      'VideoColor[0][0].Brightness': '37', 'VideoColor[0][0].Contrast': '44', 'VideoColor[0][0].Saturation': '61',
      'VideoInSharpness[0][0].Sharpness': '11', 'VideoInSharpness[0][1].Sharpness': '3',
      'VideoInFocus[0][0].Mode': '2',
      'VideoInOptions[0].NormalOptions.Backlight': '2', 'VideoInOptions[0].Backlight': '0',
      'VideoInOptions[0].NormalOptions.DayNightColor': '2',
      'VideoInOptions[0].NormalOptions.WhiteBalance': 'Custom', 'VideoInOptions[0].NormalOptions.GainRed': '23', 'VideoInOptions[0].NormalOptions.GainBlue': '77',
      'VideoInOptions[0].NormalOptions.ExposureMode': '4', 'VideoInOptions[0].NormalOptions.ExposureValue1': '12.5', 'VideoInOptions[0].NormalOptions.Gain': '33',
    });
    const a = await call(stack, 'GetImagingSettings');
    assert.equal(a.status, 200, a.text);
    const s = child(a.body, 'ImagingSettings')!;
    assert.equal(s.ns, NS.timg);
    assert.deepEqual(s.children.map((c) => c.local), ['BacklightCompensation', 'Brightness', 'ColorSaturation', 'Contrast', 'Exposure', 'Focus', 'IrCutFilter', 'Sharpness', 'WhiteBalance']);
    assert.ok(s.children.every((c) => c.ns === NS.tt));
    assert.equal(text(s, 'Brightness'), '37');
    assert.equal(text(s, 'Contrast'), '44');
    assert.equal(text(s, 'ColorSaturation'), '61');
    assert.equal(text(s, 'Sharpness'), '11');
    assert.equal(text(s, 'BacklightCompensation', 'Mode'), 'ON');
    assert.equal(text(s, 'BacklightCompensation', 'Level'), '2');
    assert.equal(text(s, 'IrCutFilter'), 'OFF', 'always monochrome = IR cut filter out');
    assert.equal(text(s, 'Focus', 'AutoFocusMode'), 'AUTO');
    assert.deepEqual(child(s, 'Exposure')!.children.map((c) => [c.local, c.text]), [['Mode', 'MANUAL'], ['ExposureTime', '12500'], ['Gain', '33']]);
    assert.deepEqual(child(s, 'WhiteBalance')!.children.map((c) => [c.local, c.text]), [['Mode', 'MANUAL'], ['CrGain', '23'], ['CbGain', '77']]);
  });

  it('follows NightOptions.SwitchMode to the night set', async () => {
    plant(stack, { 'VideoInOptions[0].NightOptions.SwitchMode': '3', 'VideoInOptions[0].NightOptions.Backlight': '3', 'VideoInSharpness[0][2].Sharpness': '6' });
    try {
      const s = child((await call(stack, 'GetImagingSettings')).body, 'ImagingSettings');
      assert.equal(text(s, 'BacklightCompensation', 'Level'), '3');
      assert.equal(text(s, 'Sharpness'), '6');
    } finally {
      plant(stack, { 'VideoInOptions[0].NightOptions.SwitchMode': '4' });
    }
  });

  it('writes only the keys that change, in one setConfig, and reads them back', async () => {
    plant(stack, { 'VideoColor[0][0].Brightness': '50', 'VideoColor[0][0].Contrast': '50', 'VideoInSharpness[0][0].Sharpness': '8', 'VideoInOptions[0].NormalOptions.DayNightColor': '1' });
    stack.sim.resetStats();
    const a = await setSettings(stack, '<tt:Brightness>70</tt:Brightness><tt:Contrast>50</tt:Contrast><tt:IrCutFilter>ON</tt:IrCutFilter><tt:Sharpness>12</tt:Sharpness>');
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.local, 'SetImagingSettingsResponse');
    const writes = cgiRequests(stack, 'action=setConfig');
    assert.equal(writes.length, 1);
    const keys = [...new URL(`http://x${writes[0]}`).searchParams.keys()].filter((k) => k !== 'action').sort();
    assert.deepEqual(keys, ['VideoColor[0][0].Brightness', 'VideoInOptions[0].NormalOptions.DayNightColor', 'VideoInSharpness[0][0].Sharpness']);
    assert.equal(stack.sim.getConfigValue('table.VideoColor[0][0].Brightness'), '70');
    assert.equal(stack.sim.getConfigValue('table.VideoInSharpness[0][0].Sharpness'), '12');
    assert.equal(stack.sim.getConfigValue('table.VideoInOptions[0].NormalOptions.DayNightColor'), '0');
    const s = child((await call(stack, 'GetImagingSettings')).body, 'ImagingSettings');
    assert.equal(text(s, 'Brightness'), '70');
    assert.equal(text(s, 'IrCutFilter'), 'ON');
  });

  it('sends no write when nothing changes', async () => {
    plant(stack, { 'VideoColor[0][0].Brightness': '42' });
    stack.sim.resetStats();
    const a = await setSettings(stack, '<tt:Brightness>42</tt:Brightness>');
    assert.equal(a.status, 200, a.text);
    assert.equal(cgiRequests(stack, 'action=setConfig').length, 0);
  });

  it('writes nothing when a client sends back the settings it read (ONVIF Device Manager does)', async () => {
    const states: Array<Record<string, string>> = [
      {},
      { 'VideoInOptions[0].NormalOptions.ExposureMode': '4', 'VideoInOptions[0].NormalOptions.WhiteBalance': 'Custom', 'VideoInOptions[0].NormalOptions.Backlight': '3' },
      { 'VideoInOptions[0].NightOptions.SwitchMode': '3', 'VideoInOptions[0].NightOptions.ExposureMode': '1', 'VideoInOptions[0].NightOptions.WideDynamicRangeMode': '1' },
    ];
    for (const state of states) {
      plant(stack, state);
      const read = await call(stack, 'GetImagingSettings');
      const inner = read.text.slice(read.text.indexOf('<timg:ImagingSettings>'), read.text.indexOf('</timg:ImagingSettings>') + '</timg:ImagingSettings>'.length);
      assert.ok(inner.includes('<tt:Exposure>'), inner);
      stack.sim.resetStats();
      const a = await call(stack, 'SetImagingSettings', `${SOURCE}${inner.replace(/<timg:ImagingSettings>/, `<timg:ImagingSettings xmlns:tt="${NS.tt}">`)}`);
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(cgiRequests(stack, 'action=setConfig'), [], JSON.stringify(state));
    }
    plant(stack, { 'VideoInOptions[0].NightOptions.SwitchMode': '4' });
  });

  it('writes exposure, white balance and backlight to the set in force', async () => {
    plant(stack, { 'VideoInOptions[0].NormalOptions.ExposureMode': '0', 'VideoInOptions[0].NormalOptions.WhiteBalance': 'Auto', 'VideoInOptions[0].NormalOptions.Backlight': '0' });
    stack.sim.resetStats();
    const a = await setSettings(
      stack,
      '<tt:BacklightCompensation><tt:Mode>ON</tt:Mode><tt:Level>4</tt:Level></tt:BacklightCompensation>' +
        '<tt:Exposure><tt:Mode>MANUAL</tt:Mode><tt:ExposureTime>20000</tt:ExposureTime><tt:Gain>30</tt:Gain></tt:Exposure>' +
        '<tt:WhiteBalance><tt:Mode>MANUAL</tt:Mode><tt:CrGain>40</tt:CrGain><tt:CbGain>60</tt:CbGain></tt:WhiteBalance>',
    );
    assert.equal(a.status, 200, a.text);
    const v = (k: string) => stack.sim.getConfigValue(`table.VideoInOptions[0].NormalOptions.${k}`);
    assert.deepEqual([v('Backlight'), v('ExposureMode'), v('ExposureValue1'), v('Gain'), v('WhiteBalance'), v('GainRed'), v('GainBlue')], ['4', '4', '20', '30', 'Custom', '40', '60']);
    assert.equal(stack.sim.getConfigValue('table.VideoInOptions[0].Backlight'), '0', 'the day set is left alone');
  });

  it('refuses an out-of-range value with SettingsInvalid and writes nothing, not even the valid ones', async () => {
    const before = stack.sim.getConfigValue('table.VideoColor[0][0].Brightness');
    stack.sim.resetStats();
    for (const settings of [
      '<tt:Brightness>20</tt:Brightness><tt:Sharpness>16</tt:Sharpness>',
      '<tt:Brightness>101</tt:Brightness>',
      '<tt:Brightness>bright</tt:Brightness>',
      '<tt:Brightness>20</tt:Brightness><tt:Exposure><tt:Mode>AUTO</tt:Mode><tt:MinExposureTime>50000</tt:MinExposureTime><tt:MaxExposureTime>1000</tt:MaxExposureTime></tt:Exposure>',
      '<tt:Brightness>20</tt:Brightness><tt:IrCutFilter>SOMETIMES</tt:IrCutFilter>',
    ]) {
      const a = await setSettings(stack, settings);
      assert.equal(a.status, 400, settings);
      assert.deepEqual(a.subcodes, ['ter:InvalidArgVal', 'ter:SettingsInvalid'], settings);
    }
    assert.equal(cgiRequests(stack, 'action=setConfig').length, 0);
    assert.equal(stack.sim.getConfigValue('table.VideoColor[0][0].Brightness'), before);
  });

  it('answers ter:NoSource for a video source the camera does not have', async () => {
    for (const token of ['VideoSource_2', 'VideoSource_0', 'MainStream']) {
      const a = await call(stack, 'GetImagingSettings', `<timg:VideoSourceToken>${token}</timg:VideoSourceToken>`);
      assert.equal(a.status, 400, token);
      assert.deepEqual(a.subcodes, ['ter:InvalidArgVal', 'ter:NoSource'], token);
    }
  });

  it('lets a viewer read but not write', async () => {
    assert.equal((await call(stack, 'GetImagingSettings', SOURCE, USERS.viewer)).status, 200);
    const a = await call(stack, 'SetImagingSettings', `${SOURCE}<timg:ImagingSettings><tt:Brightness>1</tt:Brightness></timg:ImagingSettings>`, USERS.viewer);
    assert.deepEqual(a.subcodes, ['ter:NotAuthorized']);
  });

  it('gives the ranges of the vendor tables in GetOptions', async () => {
    const a = await call(stack, 'GetOptions');
    assert.equal(a.status, 200, a.text);
    const o = child(a.body, 'ImagingOptions')!;
    const r = (name: string) => [text(o, name, 'Min'), text(o, name, 'Max')];
    assert.deepEqual(r('Brightness'), ['0', '100']);
    assert.deepEqual(r('Contrast'), ['0', '100']);
    assert.deepEqual(r('ColorSaturation'), ['0', '100']);
    assert.deepEqual(r('Sharpness'), ['0', '15']);
    assert.deepEqual(children(o, 'IrCutFilterModes').map((m) => m.text), ['ON', 'OFF', 'AUTO']);
    assert.deepEqual(children(child(o, 'Exposure'), 'Mode').map((m) => m.text), ['AUTO', 'MANUAL']);
    assert.deepEqual([text(o, 'Exposure', 'ExposureTime', 'Min'), text(o, 'Exposure', 'ExposureTime', 'Max')], ['0', '80000']);
    const order = o.children.map((c) => c.local);
    assert.deepEqual(order.filter((n, i) => order.indexOf(n) === i), ['BacklightCompensation', 'Brightness', 'ColorSaturation', 'Contrast', 'Exposure', 'Focus', 'IrCutFilterModes', 'Sharpness', 'WhiteBalance']);
  });

  it('has no imaging presets and no lens on this model', async () => {
    assert.deepEqual((await call(stack, 'GetPresets')).subcodes, ['ter:ActionNotSupported']);
    stack.sim.resetStats();
    for (const [name, inner] of [['Move', `${SOURCE}<timg:Focus><tt:Continuous><tt:Speed>0.5</tt:Speed></tt:Continuous></timg:Focus>`], ['GetMoveOptions', SOURCE], ['GetStatus', SOURCE], ['Stop', SOURCE]] as const) {
      const a = await call(stack, name, inner);
      assert.equal(a.status, 500, name);
      assert.deepEqual(a.subcodes, ['ter:ActionNotSupported'], name);
    }
    assert.equal(cgiRequests(stack, 'adjustFocus').length, 0);
  });

  it('answers GetServiceCapabilities without credentials', async () => {
    const a = await soapCall(stack.app, op('timg', NS.timg, 'GetServiceCapabilities'), { path: PATH });
    assert.equal(a.status, 200);
    assert.equal(child(a.body, 'Capabilities')?.attrs.get('Presets'), 'false');
  });
});

describe('ONVIF imaging: focus lens (WV-V2530L1)', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ model: 'WV-V2530L1' });
  });
  after(async () => {
    await stack.close();
  });
  beforeEach(() => {
    stack.sim.resetStats();
  });

  const move = (focus: string) => call(stack, 'Move', `${SOURCE}<timg:Focus>${focus}</timg:Focus>`);

  it('drives the focus motor continuously and stops it', async () => {
    assert.equal((await move('<tt:Continuous><tt:Speed>-0.5</tt:Speed></tt:Continuous>')).status, 200);
    assert.equal((await call(stack, 'Stop')).status, 200);
    assert.deepEqual(cgiRequests(stack, 'adjustFocusContinuously'), [
      '/cgi-bin/devVideoInput.cgi?action=adjustFocusContinuously&focus=-0.5&zoom=-1&channel=1',
      '/cgi-bin/devVideoInput.cgi?action=adjustFocusContinuously&focus=0&zoom=-1&channel=1',
    ]);
  });

  it('sets an absolute and a relative focus position, keeping the zoom the camera reports', async () => {
    assert.equal((await move('<tt:Absolute><tt:Position>0.25</tt:Position></tt:Absolute>')).status, 200);
    // getFocusStatus reports Focus=0.5 and Zoom=0.5 (the document's example).
    assert.equal((await move('<tt:Relative><tt:Distance>-0.2</tt:Distance></tt:Relative>')).status, 200);
    assert.deepEqual(cgiRequests(stack, 'action=adjustFocus&'), [
      '/cgi-bin/devVideoInput.cgi?action=adjustFocus&focus=0.25&zoom=0.5&channel=1',
      '/cgi-bin/devVideoInput.cgi?action=adjustFocus&focus=0.3&zoom=0.5&channel=1',
    ]);
  });

  it('refuses bad moves before the camera sees them', async () => {
    for (const focus of ['<tt:Continuous><tt:Speed>2</tt:Speed></tt:Continuous>', '<tt:Absolute><tt:Position>-0.1</tt:Position></tt:Absolute>', '', '<tt:Absolute><tt:Position>0.1</tt:Position></tt:Absolute><tt:Continuous><tt:Speed>0.1</tt:Speed></tt:Continuous>']) {
      const a = await move(focus);
      assert.equal(a.status, 400, focus);
      assert.equal(a.subcodes[0], 'ter:InvalidArgVal', focus);
    }
    assert.equal(cgiRequests(stack, 'adjustFocus').length, 0);
  });

  it('reports the focus position and the move options', async () => {
    const s = await call(stack, 'GetStatus');
    assert.equal(s.status, 200, s.text);
    assert.equal(text(s.body, 'Status', 'FocusStatus20', 'Position'), '0.5');
    assert.equal(text(s.body, 'Status', 'FocusStatus20', 'MoveStatus'), 'IDLE');
    const o = await call(stack, 'GetMoveOptions');
    assert.deepEqual(child(o.body, 'MoveOptions')!.children.map((c) => c.local), ['Absolute', 'Relative', 'Continuous']);
    assert.equal(text(o.body, 'MoveOptions', 'Continuous', 'Speed', 'Min'), '-1');
  });

  it('needs the operator role to move the lens', async () => {
    const a = await call(stack, 'Move', `${SOURCE}<timg:Focus><tt:Continuous><tt:Speed>0.1</tt:Speed></tt:Continuous></timg:Focus>`, USERS.viewer);
    assert.deepEqual(a.subcodes, ['ter:NotAuthorized']);
    assert.equal(cgiRequests(stack, 'adjustFocus').length, 0);
  });
});
