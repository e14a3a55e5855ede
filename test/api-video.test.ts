// §4.3.1-4.3.2 Audio, §4.4.1 Snap, §4.5 Video attributes and §5.1 video input settings through
// buildApp, against the simulator over HTTP (answers validated against the document): the
// channel → table index conversion on the wire, the vendor example's type quirks read without a
// warning, capabilities typed, the focus actions on a model with and without a motorised lens,
// and refusals that never reach the camera.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const admin = basic(USERS.admin);
const viewer = basic(USERS.viewer);
const operator = basic(USERS.operator);

/** The authorized CGI requests the camera received since the last reset, challenge round trips left out. */
function cameraRequests(stack: Stack): string[] {
  return stack.sim.requestLog.filter((r) => r.authorized).map((r) => r.rawUrl);
}

function setConfigRequests(stack: Stack): string[] {
  return cameraRequests(stack).filter((u) => u.includes('action=setConfig'));
}

function schemaWarnings(stack: Stack): string[] {
  return stack.logs.filter((line) => line.includes('did not fit the schema'));
}

describe('Video on WV-V2530L1 (motorised lens)', () => {
  let stack: Stack;
  const url = (path: string) => stack.spec.basePath + '/cameras/cam1' + path;

  before(async () => {
    stack = await startStack({ model: 'WV-V2530L1' });
  });
  after(async () => {
    await stack.close();
  });

  it('reads every table and getter of the chapter, each answer fitting its schema without a warning', async () => {
    const reads = [
      '/audio/input-channels',
      '/audio/output-channels',
      '/snapshot/schedule',
      '/video/max-extra-streams',
      '/video/color',
      '/video/encode-caps',
      '/video/encode-config-caps',
      '/video/encode',
      '/video/encode-roi',
      '/video/channel-title',
      '/video/input-channels',
      '/video/standard',
      '/video/widget',
      '/video/focus/status',
      '/video/input-options',
      '/video/input-focus',
      '/video/input-zoom',
      '/video/input-sharpness',
    ];
    const before = schemaWarnings(stack).length;
    for (const path of reads) {
      const res = await request(stack.app).get(url(path)).set('Authorization', viewer);
      assert.equal(res.status, 200, `${path}: ${res.status} ${res.text.slice(0, 300)}`);
    }
    assert.deepEqual(schemaWarnings(stack).slice(before), []);
  });

  it('GET + PATCH of one channel field writes exactly VideoColor[0][0].Brightness', async () => {
    const got = await request(stack.app).get(url('/video/color')).set('Authorization', admin);
    assert.equal(got.status, 200);
    assert.ok(Array.isArray(got.body.VideoColor), 'one channel: the list of its colour configs');
    assert.equal(got.body.VideoColor[0].Brightness, 50);
    assert.equal(got.body.VideoColor[0].TimeSection, '1 00:00:00-24:00:00');

    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('/video/color?channel=1'))
      .set('Authorization', operator)
      .send({ VideoColor: [{ Brightness: 60 }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(setConfigRequests(stack), ['/cgi-bin/configManager.cgi?action=setConfig&VideoColor[0][0].Brightness=60']);
    assert.equal(res.body.VideoColor[0].Brightness, 60);
    assert.equal(res.body.VideoColor[1].Brightness, 50);
    assert.deepEqual(res.body.ignoredFields, []);
    assert.equal(stack.sim.getConfigValue('table.VideoColor[0][0].Brightness'), '60');
  });

  it('addresses later colour configs by position, null items untouched', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('/video/color'))
      .set('Authorization', operator)
      .send({ VideoColor: [null, null, { TimeSection: '1 18:00:00-24:00:00' }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(setConfigRequests(stack), [
      '/cgi-bin/configManager.cgi?action=setConfig&VideoColor[0][2].TimeSection=1%2018%3A00%3A00-24%3A00%3A00',
    ]);
    assert.equal(res.body.VideoColor[2].TimeSection, '1 18:00:00-24:00:00');
  });

  it('answers 404 for a channel the camera does not have', async () => {
    const res = await request(stack.app).get(url('/video/color?channel=2')).set('Authorization', admin);
    assert.equal(res.status, 404);
    assert.equal(res.body.code, 'NOT_FOUND');
    const zero = await request(stack.app).get(url('/video/color?channel=0')).set('Authorization', admin);
    assert.equal(zero.status, 400);
    assert.equal(zero.body.code, 'VALIDATION_FAILED');
  });

  it('reads the VideoInOptions quirks (DayNightColor=false, Mirror/Flip booleans, SwitchMode=4, ExposureValue1=0) without error', async () => {
    const before = schemaWarnings(stack).length;
    const res = await request(stack.app).get(url('/video/input-options')).set('Authorization', viewer);
    assert.equal(res.status, 200, res.text);
    const o = res.body.VideoInOptions;
    assert.equal(o.DayNightColor, false);
    assert.equal(o.NightOptions.DayNightColor, 2);
    assert.equal(o.NormalOptions.DayNightColor, 1);
    assert.equal(o.NightOptions.Mirror, false);
    assert.equal(o.NormalOptions.Flip, false);
    assert.equal(o.NightOptions.SwitchMode, 4);
    assert.equal(o.NightOptions.ExposureValue1, 0);
    assert.equal(o.ExposureValue1, 0.1);
    assert.equal(o.ExposureValue2, 80);
    assert.equal(o.FlashControl.Mode, 0);
    assert.deepEqual(o.NightOptions.BacklightRegion, [3096, 3096, 5096, 5096]);
    assert.deepEqual(schemaWarnings(stack).slice(before), []);
  });

  it('writes DayNightColor only as the documented integer', async () => {
    stack.sim.resetStats();
    const refused = await request(stack.app)
      .patch(url('/video/input-options'))
      .set('Authorization', operator)
      .send({ VideoInOptions: { DayNightColor: false } });
    assert.equal(refused.status, 400);
    assert.ok(refused.body.errors.some((e: { pointer: string }) => e.pointer.startsWith('/VideoInOptions/DayNightColor')), refused.text);
    assert.equal(stack.sim.stats.requests, 0);

    const res = await request(stack.app)
      .patch(url('/video/input-options'))
      .set('Authorization', operator)
      .send({ VideoInOptions: { DayNightColor: 1, NightOptions: { SwitchMode: 1 } } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(setConfigRequests(stack), [
      '/cgi-bin/configManager.cgi?action=setConfig&VideoInOptions[0].DayNightColor=1&VideoInOptions[0].NightOptions.SwitchMode=1',
    ]);
    assert.equal(res.body.VideoInOptions.DayNightColor, 1);
    assert.equal(res.body.VideoInOptions.NightOptions.SwitchMode, 1);
    assert.deepEqual(res.body.ignoredFields, []);
  });

  it('types the encoder capabilities and asks for the channel given', async () => {
    const caps = await request(stack.app).get(url('/video/encode-caps')).set('Authorization', viewer);
    assert.equal(caps.status, 200);
    assert.deepEqual(caps.body.PlaybackCompressSplitNumList, [1, 2, 4]);
    assert.equal(caps.body.VideoEncodeDevices[0].MaxExtraStream, 1);
    assert.equal(caps.body.VideoEncodeDevices[0].LadenBitrate, 162201600);
    assert.equal(caps.body.VideoEncodeDevices[0].SupportIndividualResolution, true);

    stack.sim.resetStats();
    const config = await request(stack.app).get(url('/video/encode-config-caps?channel=1')).set('Authorization', viewer);
    assert.equal(config.status, 200);
    assert.deepEqual(cameraRequests(stack), ['/cgi-bin/encode.cgi?action=getConfigCaps&channel=1']);
    const main = config.body.caps[0].MainFormat[0].Video;
    assert.equal(main.FPSMax, 25);
    assert.equal(main.BitRateOptions, '448,2560');
    assert.equal(config.body.caps[0].ExtraFormat[0].Video.BitRateOptions, '80,448');
    assert.equal(config.body.caps[0].SnapFormat.length, 3);

    const max = await request(stack.app).get(url('/video/max-extra-streams')).set('Authorization', viewer);
    assert.deepEqual(max.body, { maxExtraStreams: 1 });
  });

  it('reads the Encode quirks (two audio spellings, a bit rate above the caps, lower-case resolution)', async () => {
    const res = await request(stack.app).get(url('/video/encode')).set('Authorization', viewer);
    assert.equal(res.status, 200);
    const main = res.body.Encode.MainFormat;
    assert.equal(main.length, 4);
    assert.equal(main[0].Audio.Compression, 'G.711 A-law');
    assert.equal(main[1].Audio.Compression, 'G.711A');
    assert.equal(main[0].Video.BitRate, 4096);
    assert.equal(main[0].Video.resolution, '1920x1080');
    assert.equal(main[0].Video.FPS, 18);
    assert.deepEqual(main[0].Audio.Channels, [0]);
    assert.equal(res.body.Encode.ExtraFormat[0].Video.Width, 704);
    assert.equal(res.body.Encode.SnapFormat[0].AudioEnable, false);
  });

  it('writes one extra-stream field as Encode[0].ExtraFormat[0]..., and a read-back spelling can be written back', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('/video/encode'))
      .set('Authorization', operator)
      .send({ Encode: { ExtraFormat: [{ Video: { BitRate: 256 } }] } });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(setConfigRequests(stack), ['/cgi-bin/configManager.cgi?action=setConfig&Encode[0].ExtraFormat[0].Video.BitRate=256']);
    assert.equal(res.body.Encode.ExtraFormat[0].Video.BitRate, 256);

    stack.sim.resetStats();
    const audio = await request(stack.app)
      .patch(url('/video/encode'))
      .set('Authorization', operator)
      .send({ Encode: { MainFormat: [null, { Audio: { Compression: 'G.711 A-law' } }] } });
    assert.equal(audio.status, 200, audio.text);
    assert.deepEqual(setConfigRequests(stack), [
      '/cgi-bin/configManager.cgi?action=setConfig&Encode[0].MainFormat[1].Audio.Compression=G.711%20A-law',
    ]);
    assert.equal(audio.body.Encode.MainFormat[1].Audio.Compression, 'G.711 A-law');
  });

  it('keeps the VideoStandard scalar table flat', async () => {
    stack.sim.resetStats();
    const res = await request(stack.app).patch(url('/video/standard')).set('Authorization', operator).send({ VideoStandard: 'NTSC' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(setConfigRequests(stack), ['/cgi-bin/configManager.cgi?action=setConfig&VideoStandard=NTSC']);
    assert.deepEqual(res.body, { VideoStandard: 'NTSC', ignoredFields: [] });
    const get = await request(stack.app).get(url('/video/standard')).set('Authorization', viewer);
    assert.deepEqual(get.body, { VideoStandard: 'NTSC' });
  });

  it('writes the snapshot schedule, overlays and channel title at the channel index', async () => {
    const cases: Array<[string, object, string]> = [
      ['/snapshot/schedule', { Snap: { TimeSection: [['1 12:00:00-18:00:00']] } }, 'Snap[0].TimeSection[0][0]=1%2012%3A00%3A00-18%3A00%3A00'],
      ['/video/widget', { VideoWidget: { Covers: [null, { Rect: [100, 200, 300, 400] }] } }, 'VideoWidget[0].Covers[1].Rect[0]=100&VideoWidget[0].Covers[1].Rect[1]=200&VideoWidget[0].Covers[1].Rect[2]=300&VideoWidget[0].Covers[1].Rect[3]=400'],
      ['/video/channel-title', { ChannelTitle: { Name: 'Front door' } }, 'ChannelTitle[0].Name=Front%20door'],
      ['/video/encode-roi', { VideoEncodeROI: { DynamicTrack: true } }, 'VideoEncodeROI[0].DynamicTrack=true'],
    ];
    for (const [path, body, wire] of cases) {
      stack.sim.resetStats();
      const res = await request(stack.app).patch(url(path)).set('Authorization', operator).send(body);
      assert.equal(res.status, 200, `${path}: ${res.text}`);
      assert.deepEqual(setConfigRequests(stack), [`/cgi-bin/configManager.cgi?action=setConfig&${wire}`], path);
      assert.deepEqual(res.body.ignoredFields, [], path);
    }
    const widget = await request(stack.app).get(url('/video/widget')).set('Authorization', viewer);
    assert.deepEqual(widget.body.VideoWidget.Covers[1].Rect, [100, 200, 300, 400]);
    assert.deepEqual(widget.body.VideoWidget.Covers[0].Rect, [0, 0, 0, 0]);
  });

  it('reads and writes the §5.1 tables by config (normal, day, night); DigitalZoom booleans read as booleans', async () => {
    const zoom = await request(stack.app).get(url('/video/input-zoom')).set('Authorization', viewer);
    assert.equal(zoom.status, 200);
    assert.deepEqual(
      zoom.body.VideoInZoom.map((z: { DigitalZoom: unknown }) => z.DigitalZoom),
      [true, true, false],
    );
    stack.sim.resetStats();
    const res = await request(stack.app)
      .patch(url('/video/input-zoom'))
      .set('Authorization', operator)
      .send({ VideoInZoom: [null, null, { DigitalZoom: true }] });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(setConfigRequests(stack), ['/cgi-bin/configManager.cgi?action=setConfig&VideoInZoom[0][2].DigitalZoom=true']);
    assert.equal(res.body.VideoInZoom[2].DigitalZoom, true);

    stack.sim.resetStats();
    const focus = await request(stack.app)
      .patch(url('/video/input-focus'))
      .set('Authorization', operator)
      .send({ VideoInFocus: [{ FocusLimit: 1000 }] });
    assert.equal(focus.status, 200, focus.text);
    assert.deepEqual(setConfigRequests(stack), ['/cgi-bin/configManager.cgi?action=setConfig&VideoInFocus[0][0].FocusLimit=1000']);

    const sharp = await request(stack.app).get(url('/video/input-sharpness')).set('Authorization', viewer);
    assert.equal(sharp.body.VideoInSharpness[1].Sharpness, 8);
  });

  it('drives the lens: adjust, move, auto focus and status, with the 1-based channel passed as it is', async () => {
    const calls: Array<[string, object | undefined, string]> = [
      ['/video/focus/adjust', { focus: 0.5, zoom: -1 }, '/cgi-bin/devVideoInput.cgi?action=adjustFocus&focus=0.5&zoom=-1&channel=1'],
      ['/video/focus/continuous', { focus: 0.02, zoom: -1 }, '/cgi-bin/devVideoInput.cgi?action=adjustFocusContinuously&focus=0.02&zoom=-1&channel=1'],
      ['/video/focus/continuous', { focus: 0, zoom: -1 }, '/cgi-bin/devVideoInput.cgi?action=adjustFocusContinuously&focus=0&zoom=-1&channel=1'],
      ['/video/focus/auto', undefined, '/cgi-bin/devVideoInput.cgi?action=autoFocus&channel=1'],
    ];
    for (const [path, body, wire] of calls) {
      stack.sim.resetStats();
      const r = request(stack.app).post(url(path)).set('Authorization', operator);
      const res = body === undefined ? await r : await r.send(body);
      assert.equal(res.status, 204, `${path}: ${res.text}`);
      assert.deepEqual(cameraRequests(stack), [wire], path);
    }
    stack.sim.resetStats();
    const status = await request(stack.app).get(url('/video/focus/status?channel=1')).set('Authorization', viewer);
    assert.equal(status.status, 200);
    assert.deepEqual(status.body, { focus: 0.5, zoom: 0.5, status: 'Normal' });
    assert.deepEqual(cameraRequests(stack), ['/cgi-bin/devVideoInput.cgi?action=getFocusStatus&channel=1']);
  });

  it('refuses out-of-range values with 400, a pointer, and zero camera requests', async () => {
    const cases: Array<['patch' | 'post', string, object, string]> = [
      ['patch', '/video/color', { VideoColor: [{ Brightness: 101 }] }, '/VideoColor/0'],
      ['patch', '/video/input-options', { VideoInOptions: { ExposureValue1: 80.5 } }, '/VideoInOptions/ExposureValue1'],
      ['patch', '/video/input-options', { VideoInOptions: { NightOptions: { SwitchMode: 5 } } }, '/VideoInOptions/NightOptions/SwitchMode'],
      ['patch', '/video/encode', { Encode: { MainFormat: [{ Video: { BitRateControl: 'ABR' } }] } }, '/Encode/MainFormat/0'],
      ['patch', '/video/encode', { Encode: { MainFormat: [{ Video: { GOP: 0 } }] } }, '/Encode/MainFormat/0'],
      ['patch', '/video/standard', { VideoStandard: 'SECAM' }, '/VideoStandard'],
      ['patch', '/snapshot/schedule', { Snap: { TimeSection: [['1 25:00:00-26:00:00']] } }, '/Snap/TimeSection/0'],
      ['patch', '/video/widget', { VideoWidget: { TimeTitle: { FrontColor: [256] } } }, '/VideoWidget/TimeTitle/FrontColor/0'],
      ['patch', '/video/input-zoom', { VideoInZoom: [{ Speed: 8 }] }, '/VideoInZoom/0'],
      ['patch', '/video/input-focus', { VideoInFocus: [{ FocusLimit: 1500 }] }, '/VideoInFocus/0'],
      ['patch', '/video/color', { VideoColor: [] }, '/VideoColor'],
      ['post', '/video/focus/adjust', { focus: 1.5, zoom: 0 }, '/focus'],
      ['post', '/video/focus/adjust', { focus: 0.5 }, '/'],
      ['post', '/video/focus/continuous', { focus: 1, zoom: -1 }, '/focus'],
    ];
    for (const [method, path, body, pointer] of cases) {
      stack.sim.resetStats();
      const res = await request(stack.app)[method](url(path)).set('Authorization', operator).send(body);
      assert.equal(res.status, 400, `${path} ${JSON.stringify(body)}: ${res.status}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
      assert.ok(
        res.body.errors.some((e: { pointer: string }) => e.pointer.startsWith(pointer)),
        `${path}: ${JSON.stringify(res.body.errors)} should point at ${pointer}`,
      );
      assert.equal(stack.sim.stats.requests, 0, `${path} reached the camera`);
    }
  });

  it('lets viewers read but not write', async () => {
    stack.sim.resetStats();
    const patch = await request(stack.app).patch(url('/video/color')).set('Authorization', viewer).send({ VideoColor: [{ Brightness: 40 }] });
    assert.equal(patch.status, 403);
    const post = await request(stack.app).post(url('/video/focus/auto')).set('Authorization', viewer);
    assert.equal(post.status, 403);
    assert.equal(stack.sim.stats.requests, 0);
  });

  it('counts the audio and video inputs as the camera reports them', async () => {
    for (const path of ['/audio/input-channels', '/audio/output-channels', '/video/input-channels']) {
      const res = await request(stack.app).get(url(path)).set('Authorization', viewer);
      assert.deepEqual(res.body, { channels: 1 }, path);
    }
  });
});

describe('Video on WV-V2530LK (fixed lens)', () => {
  let stack: Stack;
  const url = (path: string) => stack.spec.basePath + '/cameras/cam1' + path;

  before(async () => {
    stack = await startStack({ model: 'WV-V2530LK' });
  });
  after(async () => {
    await stack.close();
  });

  it('answers 501 NOT_SUPPORTED_BY_MODEL to the lens operations (§4.5.11-4.5.14 are N/A)', async () => {
    const calls: Array<['get' | 'post', string, object | undefined]> = [
      ['post', '/video/focus/adjust', { focus: 0.5, zoom: 0.5 }],
      ['post', '/video/focus/continuous', { focus: 0.02, zoom: -1 }],
      ['post', '/video/focus/auto', undefined],
      ['get', '/video/focus/status', undefined],
    ];
    for (const [method, path, body] of calls) {
      const r = request(stack.app)[method](url(path)).set('Authorization', admin);
      const res = body === undefined ? await r : await r.send(body);
      assert.equal(res.status, 501, `${path}: ${res.status} ${res.text}`);
      assert.equal(res.body.code, 'NOT_SUPPORTED_BY_MODEL');
    }
  });

  it('still has the §5.1 focus settings table and the colour table', async () => {
    for (const path of ['/video/input-focus', '/video/color', '/video/input-options']) {
      const res = await request(stack.app).get(url(path)).set('Authorization', viewer);
      assert.equal(res.status, 200, path);
    }
  });
});
