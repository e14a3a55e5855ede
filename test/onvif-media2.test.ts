// ONVIF Media2 (ver20) over the simulator: the same fixed profiles with ver20 configurations
// (H.265 included), encoder writes of exactly the changed keys, RTSP and snapshot URIs, and OSDs
// backed by the camera's VideoWidget and ChannelTitle tables.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { digestAuthorization, parseChallenge } from '../adapters/cgi/digest.ts';
import { NS } from '../adapters/onvif/soap.ts';
import { child, children, textAt, type XmlNode } from '../adapters/onvif/xml.ts';
import { op, soapCall, type SoapAnswer } from './onvif-client.ts';
import { startStack, USERS, type Stack } from './stack.ts';

const PATH = '/onvif/cam1/media2_service';
const MAIN = 'table.Encode[0].MainFormat[0].Video.';
const EXTRA = 'table.Encode[0].ExtraFormat[0].Video.';
const TITLE = 'table.VideoWidget[0].ChannelTitle.';

type User = (typeof USERS)[keyof typeof USERS];

function call(stack: Stack, name: string, inner = '', user: User = USERS.admin): Promise<SoapAnswer> {
  return soapCall(stack.app, op('tr2', NS.tr2, name, inner), { user, path: PATH });
}

function locals(node: XmlNode | undefined): string[] {
  return node?.children.map((c) => c.local) ?? [];
}

function setConfigs(stack: Stack, from: number): Array<[string, string]> {
  return stack.sim.requestLog
    .slice(from)
    .filter((e) => e.rawUrl.includes('action=setConfig'))
    .flatMap((e) => [...new URL(e.rawUrl, 'http://x').searchParams].filter(([k]) => k !== 'action'));
}

async function encoderXml(stack: Stack, token: string): Promise<string> {
  const a = await call(stack, 'GetVideoEncoderConfigurations', `<tr2:ConfigurationToken>${token}</tr2:ConfigurationToken>`);
  assert.equal(a.status, 200, a.text);
  return /<tr2:Configurations\b[\s\S]*<\/tr2:Configurations>/.exec(a.text)![0].replace(/tr2:Configurations/g, 'tr2:Configuration');
}

async function osdXml(stack: Stack, token: string): Promise<string> {
  const a = await call(stack, 'GetOSDs', `<tr2:OSDToken>${token}</tr2:OSDToken>`);
  assert.equal(a.status, 200, a.text);
  return /<tr2:OSDs\b[\s\S]*<\/tr2:OSDs>/.exec(a.text)![0].replace(/tr2:OSDs/g, 'tr2:OSD');
}

describe('ONVIF Media2 (ver20)', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
    // The simulator loads its seed on its first request: take that cost before the tests' clocks run.
    await fetch(`${stack.sim.url}/`).then((r) => r.arrayBuffer());
  });
  after(async () => {
    await stack.close();
  });

  it('lists the profiles by name only, and with their configurations inline for Type=All', async () => {
    const bare = await call(stack, 'GetProfiles');
    assert.equal(bare.status, 200, bare.text);
    const profiles = children(bare.body, 'Profiles', NS.tr2);
    assert.deepEqual(profiles.map((p) => p.attrs.get('token')), ['MainStream', 'SubStream1']);
    assert.deepEqual(locals(profiles[0]), ['Name']);
    assert.equal(profiles[0]!.attrs.get('fixed'), 'true');

    const all = await call(stack, 'GetProfiles', '<tr2:Type>All</tr2:Type>');
    const main = children(all.body, 'Profiles')[0]!;
    const set = child(main, 'Configurations')!;
    assert.deepEqual(locals(set), ['VideoSource', 'AudioSource', 'VideoEncoder', 'AudioEncoder']);
    const vec = child(set, 'VideoEncoder')!;
    assert.deepEqual(locals(vec), ['Name', 'UseCount', 'Encoding', 'Resolution', 'RateControl', 'Quality']);
    assert.equal(textAt(vec, 'Encoding'), 'H264');
    assert.equal(vec.attrs.get('GovLength'), stack.sim.getConfigValue(`${MAIN}GOP`));
    assert.equal(vec.attrs.get('Profile'), stack.sim.getConfigValue(`${MAIN}Profile`));
    assert.equal(textAt(vec, 'RateControl', 'FrameRateLimit'), stack.sim.getConfigValue(`${MAIN}FPS`));
    assert.equal(child(vec, 'RateControl')?.attrs.get('ConstantBitRate'), String(stack.sim.getConfigValue(`${MAIN}BitRateControl`) === 'CBR'));
    assert.equal(textAt(set, 'AudioEncoder', 'Encoding'), 'PCMA');
    assert.equal(textAt(set, 'VideoSource', 'SourceToken'), 'VideoSource_1');

    const one = await call(stack, 'GetProfiles', '<tr2:Token>SubStream1</tr2:Token><tr2:Type>VideoEncoder</tr2:Type>');
    const only = children(one.body, 'Profiles');
    assert.equal(only.length, 1);
    assert.deepEqual(locals(child(only[0], 'Configurations')), ['VideoEncoder']);
    assert.equal(textAt(only[0], 'Configurations', 'VideoEncoder', 'Resolution', 'Width'), stack.sim.getConfigValue(`${EXTRA}Width`));

    const none = await call(stack, 'GetProfiles', '<tr2:Token>Nope</tr2:Token>');
    assert.deepEqual(none.subcodes, ['ter:InvalidArgVal', 'ter:NoProfile']);
  });

  it('names H.265 where ver10 cannot', async () => {
    stack.sim.setConfigValue(`${EXTRA}Compression`, 'H.265');
    try {
      const a = await call(stack, 'GetVideoEncoderConfigurations', '<tr2:ProfileToken>SubStream1</tr2:ProfileToken>');
      const configs = children(a.body, 'Configurations');
      assert.equal(configs.length, 1);
      assert.equal(textAt(configs[0], 'Encoding'), 'H265');
    } finally {
      stack.sim.setConfigValue(`${EXTRA}Compression`, 'H.264');
    }
  });

  it('offers one option set per codec of the caps', async () => {
    const a = await call(stack, 'GetVideoEncoderConfigurationOptions', '<tr2:ConfigurationToken>SubStream1Encoder</tr2:ConfigurationToken>');
    assert.equal(a.status, 200, a.text);
    const options = children(a.body, 'Options');
    assert.deepEqual(options.map((o) => textAt(o, 'Encoding')), ['H264', 'JPEG']);
    const h264 = options[0]!;
    assert.deepEqual(locals(h264), ['Encoding', 'QualityRange', 'ResolutionsAvailable', 'ResolutionsAvailable', 'BitrateRange']);
    assert.equal(textAt(h264, 'BitrateRange', 'Min'), '80');
    assert.equal(textAt(h264, 'BitrateRange', 'Max'), '448');
    assert.equal(h264.attrs.get('GovLengthRange'), '1 100');
    assert.equal(h264.attrs.get('FrameRatesSupported')?.split(' ')[0], '25');
    assert.equal(h264.attrs.get('ProfilesSupported'), 'Baseline Main Extended High');
    assert.equal(options[1]!.attrs.get('GovLengthRange'), undefined);
  });

  it('counts one encoder instance per stream of the video source', async () => {
    const a = await call(stack, 'GetVideoEncoderInstances', '<tr2:ConfigurationToken>VideoSourceConfig_1</tr2:ConfigurationToken>');
    assert.equal(a.status, 200, a.text);
    assert.equal(textAt(a.body, 'Info', 'Total'), '2');
  });

  it('SetVideoEncoderConfiguration writes exactly the changed keys and refuses out-of-caps values without writing', async () => {
    const current = await encoderXml(stack, 'SubStream1Encoder');
    const changed = current
      .replace(/GovLength="\d+"/, 'GovLength="25"')
      .replace('ConstantBitRate="true"', 'ConstantBitRate="false"')
      .replace(/<tt:BitrateLimit>\d+<\/tt:BitrateLimit>/, '<tt:BitrateLimit>400</tt:BitrateLimit>');
    let from = stack.sim.requestLog.length;
    const a = await call(stack, 'SetVideoEncoderConfiguration', changed, USERS.operator);
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(
      setConfigs(stack, from).map(([k, v]) => `${k}=${v}`),
      ['BitRate=400', 'GOP=25', 'BitRateControl=VBR'].map((kv) => `Encode[0].ExtraFormat[0].Video.${kv}`),
    );
    assert.equal(stack.sim.getConfigValue(`${EXTRA}BitRateControl`), 'VBR');
    assert.equal(stack.sim.getConfigValue(`${EXTRA}GOP`), '25');

    from = stack.sim.requestLog.length;
    const bad = await call(stack, 'SetVideoEncoderConfiguration', changed.replace(/<tt:BitrateLimit>\d+<\/tt:BitrateLimit>/, '<tt:BitrateLimit>5000</tt:BitrateLimit>'), USERS.operator);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify']);
    const codec = await call(stack, 'SetVideoEncoderConfiguration', changed.replace('<tt:Encoding>H264</tt:Encoding>', '<tt:Encoding>H265</tt:Encoding>'), USERS.operator);
    assert.deepEqual(codec.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify']);
    const viewer = await call(stack, 'SetVideoEncoderConfiguration', changed.replace(/GovLength="\d+"/, 'GovLength="10"'), USERS.viewer);
    assert.deepEqual(viewer.subcodes, ['ter:NotAuthorized']);
    assert.deepEqual(setConfigs(stack, from), []);
  });

  it('gives the RTSP URL for RtspUnicast and refuses multicast', async () => {
    const a = await call(stack, 'GetStreamUri', '<tr2:Protocol>RtspUnicast</tr2:Protocol><tr2:ProfileToken>SubStream1</tr2:ProfileToken>', USERS.viewer);
    assert.equal(a.status, 200, a.text);
    assert.equal(textAt(a.body, 'Uri'), 'rtsp://127.0.0.1:554/cam/realmonitor?channel=1&subtype=1');
    const b = await call(stack, 'GetStreamUri', '<tr2:Protocol>RtspMulticast</tr2:Protocol><tr2:ProfileToken>MainStream</tr2:ProfileToken>');
    assert.deepEqual(b.subcodes, ['ter:InvalidArgVal', 'ter:InvalidStreamSetup']);
  });

  it('gives a snapshot URI that serves a JPEG with Digest', async () => {
    const a = await call(stack, 'GetSnapshotUri', '<tr2:ProfileToken>SubStream1</tr2:ProfileToken>', USERS.viewer);
    const uri = new URL(textAt(a.body, 'Uri')!);
    const target = uri.pathname + uri.search;
    assert.equal(target, '/onvif/cam1/snapshot?channel=1');
    const challenge = await request(stack.app).get(target);
    const digest = parseChallenge(challenge.headers['www-authenticate']);
    assert.ok(digest && digest.scheme === 'digest');
    const res = await request(stack.app)
      .get(target)
      .set('Authorization', digestAuthorization({ challenge: digest, username: USERS.viewer.name, password: USERS.viewer.password, method: 'GET', uri: target, nc: 1 }));
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'image/jpeg');
    assert.deepEqual([...(res.body as Buffer).subarray(0, 2)], [0xff, 0xd8]);
  });

  it('shows the channel title and the clock as OSDs, from VideoWidget and ChannelTitle', async () => {
    const a = await call(stack, 'GetOSDs', '', USERS.viewer);
    assert.equal(a.status, 200, a.text);
    const osds = children(a.body, 'OSDs');
    assert.deepEqual(osds.map((o) => o.attrs.get('token')), ['ChannelTitle_1', 'TimeTitle_1']);
    const title = osds[0]!;
    assert.deepEqual(locals(title), ['VideoSourceConfigurationToken', 'Type', 'Position', 'TextString']);
    assert.equal(textAt(title, 'TextString', 'PlainText'), stack.sim.getConfigValue('table.ChannelTitle[0].Name'));
    assert.equal(textAt(title, 'TextString', 'Type'), 'Plain');
    assert.equal(textAt(osds[1], 'TextString', 'Type'), 'DateAndTime');
    // Rect (0, 8191) is the bottom left corner: ONVIF (-1, -1).
    const pos = child(child(title, 'Position'), 'Pos')!;
    assert.deepEqual([pos.attrs.get('x'), pos.attrs.get('y')], ['-1', '-1']);
    // White text: Y=255 with neutral chroma; the widget's fourth byte is the transparency.
    const font = child(child(title, 'TextString'), 'FontColor')!;
    assert.deepEqual(['X', 'Y', 'Z'].map((k) => child(font, 'Color')?.attrs.get(k)), ['255', '128', '128']);
    assert.equal(child(child(title, 'TextString'), 'BackgroundColor')?.attrs.get('Transparent'), stack.sim.getConfigValue(`${TITLE}BackColor[3]`));

    const opts = await call(stack, 'GetOSDOptions', '<tr2:ConfigurationToken>VideoSourceConfig_1</tr2:ConfigurationToken>');
    assert.equal(opts.status, 200, opts.text);
    assert.equal(child(child(opts.body, 'OSDOptions'), 'MaximumNumberOfOSDs')?.attrs.get('Total'), '2');
  });

  it('SetOSD writes the title text and position it changes, nothing else', async () => {
    const current = await osdXml(stack, 'ChannelTitle_1');
    const changed = current.replace(/<tt:PlainText>[^<]*<\/tt:PlainText>/, '<tt:PlainText>Lobby door</tt:PlainText>').replace(/<tt:Pos [^>]*\/>/, '<tt:Pos x="0" y="1"/>');
    const from = stack.sim.requestLog.length;
    const a = await call(stack, 'SetOSD', changed, USERS.operator);
    assert.equal(a.status, 200, a.text);
    assert.deepEqual(
      setConfigs(stack, from).map(([k, v]) => `${k}=${v}`),
      ['VideoWidget[0].ChannelTitle.Rect[0]=4096', 'VideoWidget[0].ChannelTitle.Rect[1]=0', 'VideoWidget[0].ChannelTitle.Rect[2]=4096', 'VideoWidget[0].ChannelTitle.Rect[3]=0', 'ChannelTitle[0].Name=Lobby door'],
    );
    assert.equal(stack.sim.getConfigValue('table.ChannelTitle[0].Name'), 'Lobby door');
    assert.equal(stack.sim.getConfigValue(`${TITLE}Rect[0]`), '4096');

    const red = (await osdXml(stack, 'ChannelTitle_1')).replace(/<tt:FontColor Transparent="\d+"><tt:Color X="\d+" Y="\d+" Z="\d+"/, '<tt:FontColor Transparent="0"><tt:Color X="76" Y="85" Z="255"');
    const mark = stack.sim.requestLog.length;
    const b = await call(stack, 'SetOSD', red, USERS.operator);
    assert.equal(b.status, 200, b.text);
    const writes = setConfigs(stack, mark).map(([k]) => k);
    assert.deepEqual(writes, ['VideoWidget[0].ChannelTitle.FrontColor[0]', 'VideoWidget[0].ChannelTitle.FrontColor[1]', 'VideoWidget[0].ChannelTitle.FrontColor[2]']);
    assert.ok(Number(stack.sim.getConfigValue(`${TITLE}FrontColor[0]`)) > 240);
    assert.ok(Number(stack.sim.getConfigValue(`${TITLE}FrontColor[1]`)) < 10);

    const far = await call(stack, 'SetOSD', changed.replace(/<tt:Pos [^>]*\/>/, '<tt:Pos x="3" y="0"/>'), USERS.operator);
    assert.deepEqual(far.subcodes, ['ter:InvalidArgVal', 'ter:ConfigModify']);
    const viewer = await call(stack, 'SetOSD', changed, USERS.viewer);
    assert.deepEqual(viewer.subcodes, ['ter:NotAuthorized']);
    // The firmware cannot carry `&` even encoded: refused before anything reaches the camera.
    const before = stack.sim.requestLog.length;
    const amp = await call(stack, 'SetOSD', changed.replace(/<tt:PlainText>[^<]*<\/tt:PlainText>/, '<tt:PlainText>Gate &amp; door</tt:PlainText>'), USERS.operator);
    assert.equal(amp.status, 400, amp.text);
    assert.equal(amp.subcodes[0], 'ter:InvalidArgVal');
    assert.deepEqual(setConfigs(stack, before), []);
    assert.equal(stack.sim.getConfigValue('table.ChannelTitle[0].Name'), 'Lobby door');
  });

  it('DeleteOSD hides a title (EncodeBlend=false) and CreateOSD shows it again', async () => {
    const del = await call(stack, 'DeleteOSD', '<tr2:OSDToken>TimeTitle_1</tr2:OSDToken>', USERS.operator);
    assert.equal(del.status, 200, del.text);
    assert.equal(stack.sim.getConfigValue('table.VideoWidget[0].TimeTitle.EncodeBlend'), 'false');
    const listed = await call(stack, 'GetOSDs');
    assert.deepEqual(children(listed.body, 'OSDs').map((o) => o.attrs.get('token')), ['ChannelTitle_1']);
    const gone = await call(stack, 'DeleteOSD', '<tr2:OSDToken>TimeTitle_1</tr2:OSDToken>', USERS.operator);
    assert.deepEqual(gone.subcodes, ['ter:InvalidArgVal', 'ter:NoConfig']);

    const create = await call(
      stack,
      'CreateOSD',
      '<tr2:OSD token=""><tt:VideoSourceConfigurationToken>VideoSourceConfig_1</tt:VideoSourceConfigurationToken><tt:Type>Text</tt:Type><tt:Position><tt:Type>Custom</tt:Type><tt:Pos x="-1" y="1"/></tt:Position><tt:TextString><tt:Type>DateAndTime</tt:Type></tt:TextString></tr2:OSD>',
      USERS.operator,
    );
    assert.equal(create.status, 200, create.text);
    assert.equal(textAt(create.body, 'OSDToken'), 'TimeTitle_1');
    assert.equal(stack.sim.getConfigValue('table.VideoWidget[0].TimeTitle.EncodeBlend'), 'true');
    const twice = await call(
      stack,
      'CreateOSD',
      '<tr2:OSD token=""><tt:VideoSourceConfigurationToken>VideoSourceConfig_1</tt:VideoSourceConfigurationToken><tt:Type>Text</tt:Type><tt:Position><tt:Type>Custom</tt:Type></tt:Position><tt:TextString><tt:Type>DateAndTime</tt:Type></tt:TextString></tr2:OSD>',
      USERS.operator,
    );
    assert.deepEqual(twice.subcodes, ['ter:Action', 'ter:MaxOSDs']);
  });

  it('has audio configurations, fixed profiles, and ver20 capabilities', async () => {
    const a = await call(stack, 'GetAudioEncoderConfigurations', '<tr2:ProfileToken>MainStream</tr2:ProfileToken>');
    const aec = children(a.body, 'Configurations');
    assert.equal(aec.length, 1);
    assert.deepEqual(locals(aec[0]), ['Name', 'UseCount', 'Encoding', 'Bitrate', 'SampleRate']);
    const s = await call(stack, 'GetAudioSourceConfigurations');
    assert.equal(textAt(s.body, 'Configurations', 'SourceToken'), 'AudioSource_1');
    const del = await call(stack, 'DeleteProfile', '<tr2:Token>MainStream</tr2:Token>', USERS.operator);
    assert.deepEqual(del.subcodes, ['ter:Action', 'ter:DeletionOfFixedProfile']);
    const caps = await call(stack, 'GetServiceCapabilities');
    const c = child(caps.body, 'Capabilities')!;
    assert.equal(c.attrs.get('OSD'), 'true');
    assert.equal(child(c, 'ProfileCapabilities')?.attrs.get('ConfigurationsSupported'), 'VideoSource VideoEncoder AudioSource AudioEncoder');
    assert.equal(child(c, 'StreamingCapabilities')?.attrs.get('RTSPStreaming'), 'true');
  });
});
