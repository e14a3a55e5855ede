// ONVIF Media ver10 over the simulator: profiles are the camera's Encode streams, options come from
// its encode caps, SetVideoEncoderConfiguration writes only what changed (and nothing when the
// request is refused), the stream URI is the camera's RTSP URL without credentials, and the
// snapshot URI serves a JPEG with Digest and Basic.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { digestAuthorization, parseChallenge } from '../adapters/cgi/digest.ts';
import { NS } from '../adapters/onvif/soap.ts';
import { child, children, textAt, type XmlNode } from '../adapters/onvif/xml.ts';
import { op, soapCall, type SoapAnswer } from './onvif-client.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

const PATH = '/onvif/cam1/media_service';
const MAIN = 'table.Encode[0].MainFormat[0].Video.';
const EXTRA = 'table.Encode[0].ExtraFormat[0].Video.';

type User = (typeof USERS)[keyof typeof USERS];

function call(stack: Stack, name: string, inner = '', user: User = USERS.admin): Promise<SoapAnswer> {
  return soapCall(stack.app, op('trt', NS.trt, name, inner), { user, path: PATH });
}

function locals(node: XmlNode | undefined): string[] {
  return node?.children.map((c) => c.local) ?? [];
}

/** The setConfig calls the simulator received since `from`, as decoded key=value pairs. */
function setConfigs(stack: Stack, from: number): Array<Array<[string, string]>> {
  return stack.sim.requestLog
    .slice(from)
    .filter((e) => e.rawUrl.includes('action=setConfig'))
    .map((e) => [...new URL(e.rawUrl, 'http://x').searchParams].filter(([k]) => k !== 'action'));
}

/** GetVideoEncoderConfiguration of a token, as the XML a client would send back in a Set. */
async function encoderXml(stack: Stack, token: string): Promise<string> {
  const a = await call(stack, 'GetVideoEncoderConfiguration', `<trt:ConfigurationToken>${token}</trt:ConfigurationToken>`);
  assert.equal(a.status, 200, a.text);
  return /<trt:Configuration\b[\s\S]*<\/trt:Configuration>/.exec(a.text)![0];
}

function setEncoder(stack: Stack, configXml: string, user: User = USERS.operator): Promise<SoapAnswer> {
  return call(stack, 'SetVideoEncoderConfiguration', `${configXml}<trt:ForcePersistence>true</trt:ForcePersistence>`, user);
}

describe('ONVIF Media ver10', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
    // The simulator loads its seed on its first request: take that cost before the tests' clocks run.
    await fetch(`${stack.sim.url}/`).then((r) => r.arrayBuffer());
  });
  after(async () => {
    await stack.close();
  });

  it('lists one fixed profile per stream of the Encode table, with its values and XSD element order', async () => {
    const a = await call(stack, 'GetProfiles');
    assert.equal(a.status, 200, a.text);
    const profiles = children(a.body, 'Profiles', NS.trt);
    assert.deepEqual(profiles.map((p) => p.attrs.get('token')), ['MainStream', 'SubStream1']);
    assert.ok(profiles.every((p) => p.attrs.get('fixed') === 'true'));
    const main = profiles[0]!;
    assert.deepEqual(locals(main), ['Name', 'VideoSourceConfiguration', 'AudioSourceConfiguration', 'VideoEncoderConfiguration', 'AudioEncoderConfiguration']);
    const vec = child(main, 'VideoEncoderConfiguration')!;
    assert.deepEqual(locals(vec), ['Name', 'UseCount', 'Encoding', 'Resolution', 'Quality', 'RateControl', 'H264', 'Multicast', 'SessionTimeout']);
    assert.equal(textAt(vec, 'Encoding'), 'H264');
    assert.equal(textAt(vec, 'Resolution', 'Width'), stack.sim.getConfigValue(`${MAIN}Width`));
    assert.equal(textAt(vec, 'Resolution', 'Height'), stack.sim.getConfigValue(`${MAIN}Height`));
    assert.equal(textAt(vec, 'Quality'), stack.sim.getConfigValue(`${MAIN}Quality`));
    assert.equal(textAt(vec, 'RateControl', 'FrameRateLimit'), stack.sim.getConfigValue(`${MAIN}FPS`));
    assert.equal(textAt(vec, 'RateControl', 'BitrateLimit'), stack.sim.getConfigValue(`${MAIN}BitRate`));
    assert.equal(textAt(vec, 'H264', 'GovLength'), stack.sim.getConfigValue(`${MAIN}GOP`));
    assert.equal(textAt(vec, 'H264', 'H264Profile'), stack.sim.getConfigValue(`${MAIN}Profile`));
    assert.equal(textAt(vec, 'SessionTimeout'), 'PT60S');
    const sub = child(profiles[1], 'VideoEncoderConfiguration')!;
    assert.equal(textAt(sub, 'Resolution', 'Width'), stack.sim.getConfigValue(`${EXTRA}Width`));
    assert.equal(textAt(sub, 'RateControl', 'BitrateLimit'), stack.sim.getConfigValue(`${EXTRA}BitRate`));
    const vsc = child(main, 'VideoSourceConfiguration')!;
    assert.equal(vsc.attrs.get('token'), 'VideoSourceConfig_1');
    assert.deepEqual(locals(vsc), ['Name', 'UseCount', 'SourceToken', 'Bounds']);
    assert.equal(textAt(vsc, 'SourceToken'), 'VideoSource_1');
    const aec = child(main, 'AudioEncoderConfiguration')!;
    assert.equal(textAt(aec, 'Encoding'), 'G711');
    assert.equal(textAt(aec, 'Bitrate'), stack.sim.getConfigValue('table.Encode[0].MainFormat[0].Audio.Bitrate'));
    assert.equal(Number(textAt(aec, 'SampleRate')) * 1000, Number(stack.sim.getConfigValue('table.Encode[0].MainFormat[0].Audio.Frequency')));
  });

  it('follows the camera: a value changed on the simulator shows in the profile', async () => {
    const fps = stack.sim.getConfigValue(`${EXTRA}FPS`)!;
    stack.sim.setConfigValue(`${EXTRA}FPS`, '12');
    stack.sim.setConfigValue(`${EXTRA}GOP`, '24');
    try {
      const a = await call(stack, 'GetProfile', '<trt:ProfileToken>SubStream1</trt:ProfileToken>');
      assert.equal(a.status, 200, a.text);
      const vec = child(child(a.body, 'Profile'), 'VideoEncoderConfiguration');
      assert.equal(textAt(vec, 'RateControl', 'FrameRateLimit'), '12');
      assert.equal(textAt(vec, 'H264', 'GovLength'), '24');
    } finally {
      stack.sim.setConfigValue(`${EXTRA}FPS`, fps);
      stack.sim.setConfigValue(`${EXTRA}GOP`, '50');
    }
  });

  it('drops the disabled audio of a stream from its profile and leaves H.265 to Media2', async () => {
    stack.sim.setConfigValue('table.Encode[0].ExtraFormat[0].AudioEnable', 'false');
    stack.sim.setConfigValue(`${EXTRA}Compression`, 'H.265');
    try {
      const a = await call(stack, 'GetProfile', '<trt:ProfileToken>SubStream1</trt:ProfileToken>');
      assert.deepEqual(locals(child(a.body, 'Profile')), ['Name', 'VideoSourceConfiguration']);
      const b = await call(stack, 'GetVideoEncoderConfiguration', '<trt:ConfigurationToken>SubStream1Encoder</trt:ConfigurationToken>');
      assert.deepEqual(b.subcodes, ['ter:InvalidArgVal', 'ter:NoConfig']);
    } finally {
      stack.sim.setConfigValue('table.Encode[0].ExtraFormat[0].AudioEnable', 'true');
      stack.sim.setConfigValue(`${EXTRA}Compression`, 'H.264');
    }
  });

  it('answers an unknown profile token with ter:InvalidArgVal / ter:NoProfile', async () => {
    for (const name of ['GetProfile', 'GetSnapshotUri', 'GetCompatibleVideoEncoderConfigurations']) {
      const a = await call(stack, name, '<trt:ProfileToken>NoSuchProfile</trt:ProfileToken>');
      assert.equal(a.status, 400, name);
      assert.deepEqual(a.subcodes, ['ter:InvalidArgVal', 'ter:NoProfile'], name);
    }
  });

  it('has a video source and its configuration options sized from the encode caps', async () => {
    const a = await call(stack, 'GetVideoSources');
    const source = child(a.body, 'VideoSources')!;
    assert.equal(source.attrs.get('token'), 'VideoSource_1');
    // getConfigCaps: main stream FPSMax=25, largest resolution "2048 x 1536".
    assert.equal(textAt(source, 'Framerate'), '25');
    assert.equal(textAt(source, 'Resolution', 'Width'), '2048');
    const o = await call(stack, 'GetVideoSourceConfigurationOptions', '<trt:ConfigurationToken>VideoSourceConfig_1</trt:ConfigurationToken>');
    assert.equal(textAt(o.body, 'Options', 'VideoSourceTokensAvailable'), 'VideoSource_1');
    assert.equal(textAt(o.body, 'Options', 'BoundsRange', 'HeightRange', 'Max'), '1536');
  });

  it('offers the encoder options of the encode caps (resolutions by name and size, FPS, GOP, bit rate)', async () => {
    const a = await call(stack, 'GetVideoEncoderConfigurationOptions', '<trt:ConfigurationToken>MainStreamEncoder</trt:ConfigurationToken>');
    assert.equal(a.status, 200, a.text);
    const options = child(a.body, 'Options')!;
    assert.deepEqual(locals(options), ['QualityRange', 'JPEG', 'H264', 'Extension']);
    const h264 = child(options, 'H264')!;
    const sizes = children(h264, 'ResolutionsAvailable').map((r) => `${textAt(r, 'Width')}x${textAt(r, 'Height')}`);
    // "2048 x 1536,1080,SXGA, 1280 x 960,720,D1,CIF" on a PAL camera.
    assert.deepEqual(sizes, ['2048x1536', '1920x1080', '1280x1024', '1280x960', '1280x720', '704x576', '352x288']);
    assert.equal(textAt(h264, 'FrameRateRange', 'Max'), '25');
    assert.equal(textAt(h264, 'GovLengthRange', 'Max'), '100');
    assert.deepEqual(children(h264, 'H264ProfilesSupported').map((p) => p.text), ['Baseline', 'Main', 'Extended', 'High']);
    assert.equal(textAt(options, 'Extension', 'H264', 'BitrateRange', 'Min'), '448');
    assert.equal(textAt(options, 'Extension', 'H264', 'BitrateRange', 'Max'), '2560');
    const sub = await call(stack, 'GetVideoEncoderConfigurationOptions', '<trt:ProfileToken>SubStream1</trt:ProfileToken>');
    const subSizes = children(child(child(sub.body, 'Options'), 'H264'), 'ResolutionsAvailable').map((r) => textAt(r, 'Width'));
    assert.deepEqual(subSizes, ['704', '352']);
  });

  it('follows NTSC for named resolutions (D1 is 704x480)', async () => {
    stack.sim.setConfigValue('table.VideoStandard', 'NTSC');
    try {
      const a = await call(stack, 'GetVideoEncoderConfigurationOptions', '<trt:ProfileToken>SubStream1</trt:ProfileToken>');
      const sizes = children(child(child(a.body, 'Options'), 'H264'), 'ResolutionsAvailable').map((r) => `${textAt(r, 'Width')}x${textAt(r, 'Height')}`);
      assert.deepEqual(sizes, ['704x480', '352x240']);
    } finally {
      stack.sim.setConfigValue('table.VideoStandard', 'PAL');
    }
  });

  it('SetVideoEncoderConfiguration writes exactly the changed keys, once, and they reach the camera', async () => {
    const current = await encoderXml(stack, 'MainStreamEncoder');
    // The main stream holds BitRate=4096, above the caps' 2560: sent back unchanged, it is not judged.
    const changed = current
      .replace(/<tt:FrameRateLimit>\d+<\/tt:FrameRateLimit>/, '<tt:FrameRateLimit>15</tt:FrameRateLimit>')
      .replace(/<tt:GovLength>\d+<\/tt:GovLength>/, '<tt:GovLength>30</tt:GovLength>');
    const from = stack.sim.requestLog.length;
    const a = await setEncoder(stack, changed);
    assert.equal(a.status, 200, a.text);
    assert.equal(a.body.local, 'SetVideoEncoderConfigurationResponse');
    assert.deepEqual(setConfigs(stack, from), [
      [
        ['Encode[0].MainFormat[0].Video.FPS', '15'],
        ['Encode[0].MainFormat[0].Video.GOP', '30'],
      ],
    ]);
    assert.equal(stack.sim.getConfigValue(`${MAIN}FPS`), '15');
    assert.equal(stack.sim.getConfigValue(`${MAIN}GOP`), '30');
    assert.equal(stack.sim.getConfigValue(`${MAIN}BitRate`), '4096');

    // Sending back what is there writes nothing at all.
    const again = stack.sim.requestLog.length;
    const b = await setEncoder(stack, await encoderXml(stack, 'MainStreamEncoder'));
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(setConfigs(stack, again), []);
  });

  it('shows a rate below 1 fps as 1 and does not rewrite it when a client sends it back', async () => {
    stack.sim.setConfigValue(`${EXTRA}FPS`, '0.5');
    try {
      const current = await encoderXml(stack, 'SubStream1Encoder');
      assert.match(current, /<tt:FrameRateLimit>1<\/tt:FrameRateLimit>/);
      const from = stack.sim.requestLog.length;
      const a = await setEncoder(stack, current);
      assert.equal(a.status, 200, a.text);
      assert.deepEqual(setConfigs(stack, from), []);
      assert.equal(stack.sim.getConfigValue(`${EXTRA}FPS`), '0.5');
    } finally {
      stack.sim.setConfigValue(`${EXTRA}FPS`, '25');
    }
  });

  it('counts one encoder instance per stream of the channel', async () => {
    const a = await call(stack, 'GetGuaranteedNumberOfVideoEncoderInstances', '<trt:ConfigurationToken>MainStreamEncoder</trt:ConfigurationToken>');
    assert.equal(a.status, 200, a.text);
    assert.equal(textAt(a.body, 'TotalNumber'), '2');
  });

  it('changes resolution, codec, profile and quality within the caps', async () => {
    const current = await encoderXml(stack, 'SubStream1Encoder');
    const changed = current
      .replace(/<tt:Width>\d+<\/tt:Width>/, '<tt:Width>352</tt:Width>')
      .replace(/<tt:Height>\d+<\/tt:Height>/, '<tt:Height>288</tt:Height>')
      .replace(/<tt:Quality>[\d.]+<\/tt:Quality>/, '<tt:Quality>5</tt:Quality>')
      .replace(/<tt:BitrateLimit>\d+<\/tt:BitrateLimit>/, '<tt:BitrateLimit>256</tt:BitrateLimit>')
      .replace(/<tt:H264Profile>\w+<\/tt:H264Profile>/, '<tt:H264Profile>Baseline</tt:H264Profile>');
    const from = stack.sim.requestLog.length;
    const a = await setEncoder(stack, changed);
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(
      setConfigs(stack, from).flat().map(([k, v]) => `${k}=${v}`),
      ['Width=352', 'Height=288', 'Quality=5', 'BitRate=256', 'Profile=Baseline'].map((kv) => `Encode[0].ExtraFormat[0].Video.${kv}`),
    );
    assert.equal(stack.sim.getConfigValue(`${EXTRA}Width`), '352');
    assert.equal(stack.sim.getConfigValue(`${EXTRA}Profile`), 'Baseline');

    const jpeg = (await encoderXml(stack, 'SubStream1Encoder')).replace('<tt:Encoding>H264</tt:Encoding>', '<tt:Encoding>JPEG</tt:Encoding>');
    const b = await setEncoder(stack, jpeg);
    assert.equal(b.status, 200, b.text);
    assert.equal(stack.sim.getConfigValue(`${EXTRA}Compression`), 'MJPG');
    const c = await call(stack, 'GetVideoEncoderConfiguration', '<trt:ConfigurationToken>SubStream1Encoder</trt:ConfigurationToken>');
    assert.equal(textAt(c.body, 'Configuration', 'Encoding'), 'JPEG');
    assert.equal(child(child(c.body, 'Configuration'), 'H264'), undefined);
    stack.sim.setConfigValue(`${EXTRA}Compression`, 'H.264');
  });

  it('refuses values outside the caps with ter:ConfigModify and writes nothing', async () => {
    const current = await encoderXml(stack, 'SubStream1Encoder');
    const bad: Array<[string, string]> = [
      ['bit rate above the extra stream caps', current.replace(/<tt:BitrateLimit>\d+<\/tt:BitrateLimit>/, '<tt:BitrateLimit>9999</tt:BitrateLimit>')],
      ['resolution not offered', current.replace(/<tt:Width>\d+<\/tt:Width>/, '<tt:Width>1920</tt:Width>').replace(/<tt:Height>\d+<\/tt:Height>/, '<tt:Height>1080</tt:Height>')],
      ['frame rate above FPSMax', current.replace(/<tt:FrameRateLimit>\d+<\/tt:FrameRateLimit>/, '<tt:FrameRateLimit>60</tt:FrameRateLimit>')],
      ['GOP above 100', current.replace(/<tt:GovLength>\d+<\/tt:GovLength>/, '<tt:GovLength>500</tt:GovLength>')],
      ['quality above the range', current.replace(/<tt:Quality>[\d.]+<\/tt:Quality>/, '<tt:Quality>9</tt:Quality>')],
      ['codec not in the caps', current.replace('<tt:Encoding>H264</tt:Encoding>', '<tt:Encoding>MPEG4</tt:Encoding>')],
      ['not a number', current.replace(/<tt:BitrateLimit>\d+<\/tt:BitrateLimit>/, '<tt:BitrateLimit>fast</tt:BitrateLimit>')],
    ];
    const from = stack.sim.requestLog.length;
    for (const [what, xml] of bad) {
      const a = await setEncoder(stack, xml);
      assert.equal(a.status, 400, `${what}: ${a.text}`);
      assert.deepEqual(a.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify'], what);
    }
    const unknown = await setEncoder(stack, current.replace(/token="SubStream1Encoder"/, 'token="Nope"'));
    assert.deepEqual(unknown.subcodes, ['ter:InvalidArgVal', 'ter:NoConfig']);
    assert.deepEqual(setConfigs(stack, from), []);
  });

  it('lets a viewer read but not set the encoder', async () => {
    const current = await encoderXml(stack, 'MainStreamEncoder');
    const from = stack.sim.requestLog.length;
    const a = await setEncoder(stack, current.replace(/<tt:GovLength>\d+<\/tt:GovLength>/, '<tt:GovLength>10</tt:GovLength>'), USERS.viewer);
    assert.equal(a.status, 400);
    assert.deepEqual(a.subcodes, ['ter:NotAuthorized']);
    assert.deepEqual(setConfigs(stack, from), []);
    const b = await call(stack, 'GetProfiles', '', USERS.viewer);
    assert.equal(b.status, 200);
  });

  it('gives the camera RTSP URL for each profile: no credentials, the RTSP table port, the stream subtype', async () => {
    const setup = '<trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup>';
    const a = await call(stack, 'GetStreamUri', `${setup}<trt:ProfileToken>SubStream1</trt:ProfileToken>`, USERS.viewer);
    assert.equal(a.status, 200, a.text);
    const uri = textAt(a.body, 'MediaUri', 'Uri')!;
    assert.equal(uri, `rtsp://127.0.0.1:${stack.sim.getConfigValue('table.RTSP.Port')}/cam/realmonitor?channel=1&subtype=1`);
    assert.doesNotMatch(uri, /@|cam-pass|admin/);
    assert.deepEqual(locals(child(a.body, 'MediaUri')), ['Uri', 'InvalidAfterConnect', 'InvalidAfterReboot', 'Timeout']);
    assert.equal(textAt(a.body, 'MediaUri', 'Timeout'), 'PT0S');

    stack.sim.setConfigValue('table.RTSP.Port', '8554');
    try {
      const b = await call(stack, 'GetStreamUri', `${setup}<trt:ProfileToken>MainStream</trt:ProfileToken>`);
      assert.equal(textAt(b.body, 'MediaUri', 'Uri'), 'rtsp://127.0.0.1:8554/cam/realmonitor?channel=1&subtype=0');
    } finally {
      stack.sim.setConfigValue('table.RTSP.Port', '554');
    }

    const multicast = await call(stack, 'GetStreamUri', '<trt:StreamSetup><tt:Stream>RTP-Multicast</tt:Stream><tt:Transport><tt:Protocol>UDP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>MainStream</trt:ProfileToken>');
    assert.deepEqual(multicast.subcodes, ['ter:InvalidArgVal', 'ter:InvalidStreamSetup']);
  });

  it('gives a snapshot URI on the gateway that serves a JPEG with Digest and with Basic', async () => {
    const a = await call(stack, 'GetSnapshotUri', '<trt:ProfileToken>MainStream</trt:ProfileToken>', USERS.viewer);
    assert.equal(a.status, 200, a.text);
    const uri = new URL(textAt(a.body, 'MediaUri', 'Uri')!);
    assert.equal(uri.pathname, '/onvif/cam1/snapshot');
    assert.equal(uri.search, '?channel=1');
    const target = uri.pathname + uri.search;

    const challenge = await request(stack.app).get(target);
    assert.equal(challenge.status, 401);
    const digest = parseChallenge(challenge.headers['www-authenticate']);
    assert.ok(digest && digest.scheme === 'digest', String(challenge.headers['www-authenticate']));
    const authorization = digestAuthorization({ challenge: digest, username: USERS.viewer.name, password: USERS.viewer.password, method: 'GET', uri: target, nc: 1 });
    const withDigest = await request(stack.app).get(target).set('Authorization', authorization);
    assert.equal(withDigest.status, 200);
    assert.equal(withDigest.headers['content-type'], 'image/jpeg');
    assert.deepEqual([...(withDigest.body as Buffer).subarray(0, 2)], [0xff, 0xd8]);

    const withBasic = await request(stack.app).get(target).set('Authorization', basic(USERS.viewer));
    assert.equal(withBasic.status, 200);
    assert.deepEqual([...(withBasic.body as Buffer).subarray(0, 2)], [0xff, 0xd8]);

    const wrong = await request(stack.app).get(target).set('Authorization', basic({ name: USERS.viewer.name, password: 'wrong' }));
    assert.equal(wrong.status, 401);
  });

  it('has audio where the camera has an audio input, with options from what it holds', async () => {
    const a = await call(stack, 'GetAudioSources');
    assert.deepEqual(children(a.body, 'AudioSources').map((s) => s.attrs.get('token')), ['AudioSource_1']);
    const b = await call(stack, 'GetAudioEncoderConfigurations');
    assert.deepEqual(children(b.body, 'Configurations').map((c) => c.attrs.get('token')), ['MainStreamAudioEncoder', 'SubStream1AudioEncoder']);
    const c = await call(stack, 'GetAudioEncoderConfigurationOptions', '<trt:ProfileToken>MainStream</trt:ProfileToken>');
    const opt = child(child(c.body, 'Options'), 'Options');
    assert.equal(textAt(opt, 'Encoding'), 'G711');
    assert.equal(textAt(opt, 'BitrateList', 'Items'), '64');
    assert.equal(textAt(opt, 'SampleRateList', 'Items'), '8');
    const d = await call(stack, 'GetAudioSourceConfigurations');
    assert.equal(textAt(d.body, 'Configurations', 'SourceToken'), 'AudioSource_1');
  });

  it('accepts the video source and audio encoder configurations the camera has, without writing, and refuses others', async () => {
    const vsc = /<trt:Configurations\b[\s\S]*?<\/trt:Configurations>/.exec((await call(stack, 'GetVideoSourceConfigurations')).text)![0].replace(/trt:Configurations/g, 'trt:Configuration');
    const aec = /<trt:Configuration\b[\s\S]*<\/trt:Configuration>/.exec(
      (await call(stack, 'GetAudioEncoderConfiguration', '<trt:ConfigurationToken>MainStreamAudioEncoder</trt:ConfigurationToken>')).text,
    )![0];
    const persist = '<trt:ForcePersistence>true</trt:ForcePersistence>';
    const from = stack.sim.requestLog.length;
    const same = await call(stack, 'SetVideoSourceConfiguration', vsc + persist, USERS.operator);
    assert.equal(same.status, 200, same.text);
    const cropped = await call(stack, 'SetVideoSourceConfiguration', vsc.replace(/width="\d+"/, 'width="640"') + persist, USERS.operator);
    assert.deepEqual(cropped.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify']);
    const audio = await call(stack, 'SetAudioEncoderConfiguration', aec + persist, USERS.operator);
    assert.equal(audio.status, 200, audio.text);
    const aac = await call(stack, 'SetAudioEncoderConfiguration', aec.replace('<tt:Encoding>G711</tt:Encoding>', '<tt:Encoding>AAC</tt:Encoding>') + persist, USERS.operator);
    assert.deepEqual(aac.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify']);
    assert.deepEqual(setConfigs(stack, from), []);
  });

  it('still answers its capabilities when the camera cannot be read (GetServices runs them first); operations fault', async () => {
    stack.sim.faults.errorId = 2;
    stack.sim.faults.errorMatch = 'name=Encode';
    try {
      const caps = await call(stack, 'GetServiceCapabilities');
      assert.equal(caps.status, 200, caps.text);
      const c = child(caps.body, 'Capabilities')!;
      assert.equal(c.attrs.get('SnapshotUri'), 'true');
      assert.equal(child(c, 'ProfileCapabilities')?.attrs.get('MaximumNumberOfProfiles'), undefined);
      const profiles = await call(stack, 'GetProfiles');
      assert.notEqual(profiles.status, 200);
      assert.equal(profiles.body.local, 'Fault');
    } finally {
      stack.sim.faults.errorId = null;
      stack.sim.faults.errorMatch = '';
    }
  });

  it('keeps the profiles fixed and says so; multicast and metadata are not offered', async () => {
    const create = await call(stack, 'CreateProfile', '<trt:Name>mine</trt:Name>', USERS.operator);
    assert.equal(create.status, 500);
    assert.deepEqual(create.subcodes, ['ter:Action', 'ter:MaxNVTProfiles']);
    const del = await call(stack, 'DeleteProfile', '<trt:ProfileToken>MainStream</trt:ProfileToken>', USERS.operator);
    assert.deepEqual(del.subcodes, ['ter:Action', 'ter:DeletionOfFixedProfile']);
    const readd = await call(stack, 'AddVideoEncoderConfiguration', '<trt:ProfileToken>MainStream</trt:ProfileToken><trt:ConfigurationToken>MainStreamEncoder</trt:ConfigurationToken>', USERS.operator);
    assert.equal(readd.status, 200, readd.text);
    const swap = await call(stack, 'AddVideoEncoderConfiguration', '<trt:ProfileToken>MainStream</trt:ProfileToken><trt:ConfigurationToken>SubStream1Encoder</trt:ConfigurationToken>', USERS.operator);
    assert.deepEqual(swap.subcodes, ['ter:Action', 'ter:ConfigurationConflict']);
    const multicast = await call(stack, 'StartMulticastStreaming', '<trt:ProfileToken>MainStream</trt:ProfileToken>', USERS.operator);
    assert.deepEqual(multicast.subcodes, ['ter:ActionNotSupported']);
    const meta = await call(stack, 'GetMetadataConfigurations');
    assert.equal(meta.status, 200);
    assert.deepEqual(locals(meta.body), []);
    const caps = await call(stack, 'GetServiceCapabilities');
    const c = child(caps.body, 'Capabilities')!;
    assert.equal(c.attrs.get('SnapshotUri'), 'true');
    assert.equal(child(c, 'ProfileCapabilities')?.attrs.get('MaximumNumberOfProfiles'), '2');
    assert.equal(child(c, 'StreamingCapabilities')?.attrs.get('RTPMulticast'), 'false');
  });
});

describe('ONVIF Media ver10 with a PTZ head', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sim: { ptz: true } });
    await fetch(`${stack.sim.url}/`).then((r) => r.arrayBuffer());
  });
  after(async () => {
    await stack.close();
  });

  it('puts the PTZ configuration into every profile, before metadata', async () => {
    const a = await call(stack, 'GetProfiles');
    for (const p of children(a.body, 'Profiles')) {
      assert.equal(locals(p).at(-1), 'PTZConfiguration');
      assert.equal(textAt(p, 'PTZConfiguration', 'NodeToken'), 'PTZNode_1');
    }
  });

  it('carries the PTZ service\'s own configuration (default spaces) in the profile', async () => {
    const ptz = await soapCall(stack.app, op('tptz', NS.tptz, 'GetConfigurations'), { user: USERS.admin, path: '/onvif/cam1/ptz_service' });
    assert.equal(ptz.status, 200, ptz.text);
    const own = child(ptz.body, 'PTZConfiguration')!;
    const a = await call(stack, 'GetProfile', '<trt:ProfileToken>MainStream</trt:ProfileToken>');
    const inProfile = child(child(a.body, 'Profile'), 'PTZConfiguration')!;
    assert.equal(inProfile.ns, NS.tt);
    assert.deepEqual(locals(inProfile), locals(own));
    assert.ok(textAt(inProfile, 'DefaultContinuousPanTiltVelocitySpace')?.startsWith('http://www.onvif.org/ver10/tptz/'));
  });
});


describe('ONVIF Media ver10 with a second extra stream', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
    await fetch(`${stack.sim.url}/`).then((r) => r.arrayBuffer());
    // A camera with MaxExtraStream=2: ExtraFormat[1] appears in its Encode table.
    for (const [k, v] of Object.entries({ Compression: 'H.264', Width: '352', Height: '288', FPS: '10', BitRate: '128', BitRateControl: 'VBR', GOP: '20', Profile: 'Baseline', Quality: '3' })) {
      stack.sim.setConfigValue(`table.Encode[0].ExtraFormat[1].Video.${k}`, v);
    }
  });
  after(async () => {
    await stack.close();
  });

  it('adds SubStream2 with RTSP subtype 2, keeping the other tokens', async () => {
    const a = await call(stack, 'GetProfiles');
    assert.deepEqual(children(a.body, 'Profiles').map((p) => p.attrs.get('token')), ['MainStream', 'SubStream1', 'SubStream2']);
    const vec = child(children(a.body, 'Profiles')[2], 'VideoEncoderConfiguration');
    assert.equal(textAt(vec, 'RateControl', 'BitrateLimit'), '128');
    assert.equal(textAt(vec, 'H264', 'H264Profile'), 'Baseline');
    const uri = await call(stack, 'GetStreamUri', '<trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>UDP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>SubStream2</trt:ProfileToken>');
    assert.equal(textAt(uri.body, 'MediaUri', 'Uri'), 'rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=2');
    // The caps list no second extra stream, so no resolution is known to fit it: refused, nothing sent.
    const from = stack.sim.requestLog.length;
    const current = /<trt:Configuration\b[\s\S]*<\/trt:Configuration>/.exec((await call(stack, 'GetVideoEncoderConfiguration', '<trt:ConfigurationToken>SubStream2Encoder</trt:ConfigurationToken>')).text)![0];
    const b = await setEncoder(stack, current.replace(/<tt:BitrateLimit>\d+<\/tt:BitrateLimit>/, '<tt:BitrateLimit>256</tt:BitrateLimit>').replace(/<tt:Width>\d+<\/tt:Width>/, '<tt:Width>704</tt:Width>'));
    assert.deepEqual(b.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify']);
    assert.deepEqual(setConfigs(stack, from), []);
  });
});
