// ONVIF Media2 (ver20, tr2): the same fixed profiles as Media ver10 (media-model.ts) with the
// ver20 configuration types (VideoEncoder2Configuration names H.265 too), and OSDs over the
// camera's VideoWidget (§4.5.10) and ChannelTitle (§4.5.7) tables: the channel title is a Plain
// text OSD, the time title a DateAndTime one; EncodeBlend says whether each is shown.
import type { CgiDoc } from '../cgi/codec.ts';
import { boolOf, nodeAt, numberOf, objectAt, textOf } from './camera-values.ts';
import {
  audioSourceConfigXml,
  encodingAndResolution,
  fixedProfiles,
  streamOfOptions,
  checkAudioEncoderConfig,
  checkVideoSourceConfig,
  codecKey,
  encoderParams,
  GOP_RANGE,
  H264_PROFILES,
  hasAudio,
  intRange,
  modelForCapabilities,
  numberIn,
  ptzConfigXml,
  readModel,
  readModelAndRtsp,
  snapshotUri,
  streamByAudioEncoder,
  streamByEncoder,
  streamByToken,
  streamUri,
  streamsOf,
  tokens,
  ver20AudioEncoding,
  ver20Encoding,
  videoSourceConfigOptionsXml,
  videoSourceConfigXml,
  writeEncoder,
  type Channel,
  type EncoderChange,
  type MediaModel,
  type Stream,
} from './media-model.ts';
import type { OnvifContext, OnvifOperation, OnvifService } from './service.ts';
import { invalidArg, NS, OnvifFault } from './soap.ts';
import { child, children, el, textAt, type XmlChild, type XmlNode, type XmlOut } from './xml.ts';

// ---------------------------------------------------------------------------------------------
// Configurations

function encoding20(s: Stream): string {
  return ver20Encoding(s.video.compression) ?? codecKey(s.video.compression);
}

function videoEncoder2Xml(s: Stream, name: string): XmlOut {
  const v = s.video;
  const enc = encoding20(s);
  const profiled = enc === 'H264' || enc === 'H265';
  return el(
    name,
    [
      el('tt:Name', s.encoderToken),
      el('tt:UseCount', 1),
      el('tt:Encoding', enc),
      el('tt:Resolution', [el('tt:Width', v.width ?? 0), el('tt:Height', v.height ?? 0)]),
      el('tt:RateControl', [el('tt:FrameRateLimit', v.fps ?? 0), el('tt:BitrateLimit', v.bitrate ?? 0)], {
        ConstantBitRate: v.rateControl === undefined ? undefined : v.rateControl.toUpperCase() === 'CBR',
      }),
      el('tt:Quality', v.quality ?? 0),
    ],
    { token: s.encoderToken, GovLength: profiled ? v.gop : undefined, Profile: profiled ? v.profile : undefined },
  );
}

function audioEncoder2Xml(s: Stream, name: string): XmlOut | undefined {
  const a = s.audio;
  if (!a) return undefined;
  return el(
    name,
    [
      el('tt:Name', s.audioEncoderToken),
      el('tt:UseCount', hasAudio(s) ? 1 : 0),
      el('tt:Encoding', ver20AudioEncoding(a.compression) ?? codecKey(a.compression)),
      el('tt:Bitrate', a.bitrate ?? 0),
      // ONVIF counts kHz; the camera keeps Hz.
      el('tt:SampleRate', Math.round((a.frequency ?? 0) / 1000)),
    ],
    { token: s.audioEncoderToken },
  );
}

const CONFIG_TYPES = ['VideoSource', 'VideoEncoder', 'AudioSource', 'AudioEncoder', 'PTZ'] as const;

function profileXml(model: MediaModel, s: Stream, types: ReadonlySet<string>): XmlOut {
  const channel = model.channels.find((c) => c.channel === s.channel)!;
  const want = (t: string): boolean => types.has('All') || types.has(t);
  const audio = hasAudio(s) && channel.audio;
  const set =
    types.size === 0
      ? undefined
      : el('tr2:Configurations', [
          want('VideoSource') ? videoSourceConfigXml(model, channel, 'tr2:VideoSource') : undefined,
          want('AudioSource') && audio ? audioSourceConfigXml(model, channel, 'tr2:AudioSource') : undefined,
          want('VideoEncoder') ? videoEncoder2Xml(s, 'tr2:VideoEncoder') : undefined,
          want('AudioEncoder') && audio ? audioEncoder2Xml(s, 'tr2:AudioEncoder') : undefined,
          want('PTZ') && model.ptz ? ptzConfigXml(model, s.channel, 'tr2:PTZ') : undefined,
        ]);
  return el('tr2:Profiles', [el('tr2:Name', s.name), set], { token: s.token, fixed: true });
}

function videoEncoderOptions2Xml(s: Stream): XmlOut[] {
  const c = s.caps;
  const fpsMax = c.fpsMax ?? Math.max(1, Math.round(s.video.fps ?? 1));
  const rates: number[] = [];
  for (let f = fpsMax; f >= 1; f--) rates.push(f);
  const bitrate = c.bitrate ?? (s.video.bitrate !== undefined ? { min: s.video.bitrate, max: s.video.bitrate } : { min: 0, max: 0 });
  const seen = new Set<string>();
  const out: XmlOut[] = [];
  for (const compression of c.compressions) {
    const enc = ver20Encoding(compression) ?? codecKey(compression);
    if (seen.has(enc)) continue;
    seen.add(enc);
    const gop = enc === 'H264' || enc === 'H265';
    out.push(
      el(
        'tr2:Options',
        [
          el('tt:Encoding', enc),
          el('tt:QualityRange', [el('tt:Min', 1), el('tt:Max', s.video.qualityMax)]),
          c.resolutions.map((r) => el('tt:ResolutionsAvailable', [el('tt:Width', r.width), el('tt:Height', r.height)])),
          intRange('tt:BitrateRange', bitrate.min, bitrate.max),
        ],
        {
          GovLengthRange: gop ? `${GOP_RANGE.min} ${GOP_RANGE.max}` : undefined,
          FrameRatesSupported: rates.join(' '),
          // The vendor table lists H.264 profiles only.
          ProfilesSupported: enc === 'H264' ? H264_PROFILES.join(' ') : undefined,
          ConstantBitRateSupported: true,
        },
      ),
    );
  }
  return out;
}

function encoderChange(s: Stream, config: XmlNode): EncoderChange {
  const { encoding, change } = encodingAndResolution(s, config, 20);
  const rate = child(config, 'RateControl');
  if (rate) {
    const fps = numberIn(textAt(rate, 'FrameRateLimit'), 'FrameRateLimit');
    const bitrate = numberIn(textAt(rate, 'BitrateLimit'), 'BitrateLimit');
    if (fps !== undefined) change.fps = fps;
    if (bitrate !== undefined) change.bitrate = bitrate;
    const cbr = rate.attrs.get('ConstantBitRate');
    if (cbr !== undefined) change.cbr = cbr.trim() === 'true' || cbr.trim() === '1';
  }
  const quality = numberIn(textAt(config, 'Quality'), 'Quality');
  if (quality !== undefined) change.quality = quality;
  const enc = encoding ?? encoding20(s);
  const gop = numberIn(config.attrs.get('GovLength'), 'GovLength');
  if (gop !== undefined && (enc === 'H264' || enc === 'H265')) change.gop = gop;
  const profile = config.attrs.get('Profile');
  if (profile !== undefined && enc === 'H264') change.profile = profile.trim();
  return change;
}

// ---------------------------------------------------------------------------------------------
// OSDs over VideoWidget and ChannelTitle

type Widget = 'ChannelTitle' | 'TimeTitle';
const WIDGETS: readonly Widget[] = ['ChannelTitle', 'TimeTitle'];
const TEXT_TYPE: Record<Widget, string> = { ChannelTitle: 'Plain', TimeTitle: 'DateAndTime' };
const osdToken = (w: Widget, channel: number): string => `${w}_${channel}`;
const YCBCR = 'http://www.onvif.org/ver10/colorspace/YCbCr';
/** Vendor §4.5.10: widget coordinates run 0..8191 from the top left. */
const RECT_MAX = 8191;

interface Osd {
  widget: Widget;
  channel: number;
  token: string;
  shown: boolean;
  left: number;
  top: number;
  front: number[];
  back: number[];
  title: string | undefined;
}

/** The model and the OSDs, read together (one round trip, not two). */
async function readOsds(ctx: OnvifContext): Promise<[MediaModel, Osd[]]> {
  const [model, widgets, titles] = await Promise.all([
    readModel(ctx),
    ctx.entry.camera.getConfig('VideoWidget', { signal: ctx.signal }),
    ctx.entry.camera.getConfig('ChannelTitle', { signal: ctx.signal }),
  ]);
  return [model, osdsOf(model, widgets, titles)];
}

function osdsOf(model: MediaModel, widgets: CgiDoc, titles: CgiDoc): Osd[] {
  const out: Osd[] = [];
  for (const c of model.channels) {
    for (const widget of WIDGETS) {
      const w = objectAt(widgets, `VideoWidget[${c.channel - 1}].${widget}`);
      if (!w) continue;
      const color = (key: string): number[] => [0, 1, 2, 3].map((i) => numberOf(nodeAt(w, `${key}[${i}]`)) ?? 0);
      out.push({
        widget,
        channel: c.channel,
        token: osdToken(widget, c.channel),
        shown: boolOf(w.EncodeBlend) ?? false,
        left: numberOf(nodeAt(w, 'Rect[0]')) ?? 0,
        top: numberOf(nodeAt(w, 'Rect[1]')) ?? 0,
        front: color('FrontColor'),
        back: color('BackColor'),
        title: widget === 'ChannelTitle' ? textOf(nodeAt(titles, `ChannelTitle[${c.channel - 1}].Name`)) : undefined,
      });
    }
  }
  return out;
}

const round3 = (v: number): number => Math.round(v * 1000) / 1000;
const clamp255 = (v: number): number => Math.min(255, Math.max(0, Math.round(v)));

/** BT.601 full-range YCbCr, the ONVIF default colorspace. */
function toYCbCr([r, g, b]: number[]): [number, number, number] {
  const [R, G, B] = [r ?? 0, g ?? 0, b ?? 0];
  return [
    clamp255(0.299 * R + 0.587 * G + 0.114 * B),
    clamp255(128 - 0.168736 * R - 0.331264 * G + 0.5 * B),
    clamp255(128 + 0.5 * R - 0.418688 * G - 0.081312 * B),
  ];
}

function toRgb([y, cb, cr]: number[]): [number, number, number] {
  const [Y, Cb, Cr] = [y ?? 0, (cb ?? 128) - 128, (cr ?? 128) - 128];
  return [clamp255(Y + 1.402 * Cr), clamp255(Y - 0.344136 * Cb - 0.714136 * Cr), clamp255(Y + 1.772 * Cb)];
}

function colorXml(name: string, rgba: number[]): XmlOut {
  const [x, y, z] = toYCbCr(rgba);
  // The widget's fourth byte is its transparency: 0 is opaque (white titles on the camera are 0).
  return el(name, el('tt:Color', undefined, { X: x, Y: y, Z: z, Colorspace: YCBCR }), { Transparent: rgba[3] ?? 0 });
}

function osdXml(o: Osd, name: string): XmlOut {
  return el(
    name,
    [
      el('tt:VideoSourceConfigurationToken', tokens.videoSourceConfig(o.channel)),
      el('tt:Type', 'Text'),
      // ONVIF custom positions run -1..1, y upwards.
      el('tt:Position', [el('tt:Type', 'Custom'), el('tt:Pos', undefined, { x: round3((o.left / RECT_MAX) * 2 - 1), y: round3(1 - (o.top / RECT_MAX) * 2) })]),
      el('tt:TextString', [
        el('tt:Type', TEXT_TYPE[o.widget]),
        colorXml('tt:FontColor', o.front),
        colorXml('tt:BackgroundColor', o.back),
        o.widget === 'ChannelTitle' ? el('tt:PlainText', o.title ?? '') : undefined,
      ]),
    ],
    { token: o.token },
  );
}

function osdOptionsXml(): XmlOut {
  const colorOptions = (name: string): XmlOut =>
    el(name, [
      el(
        'tt:Color',
        el('tt:ColorspaceRange', [
          el('tt:X', [el('tt:Min', 0), el('tt:Max', 255)]),
          el('tt:Y', [el('tt:Min', 0), el('tt:Max', 255)]),
          el('tt:Z', [el('tt:Min', 0), el('tt:Max', 255)]),
          el('tt:Colorspace', YCBCR),
        ]),
      ),
      intRange('tt:Transparent', 0, 255),
    ]);
  return el('tr2:OSDOptions', [
    el('tt:MaximumNumberOfOSDs', undefined, { Total: 2, PlainText: 1, DateAndTime: 1 }),
    el('tt:Type', 'Text'),
    el('tt:PositionOption', 'Custom'),
    el('tt:TextOption', [el('tt:Type', 'Plain'), el('tt:Type', 'DateAndTime'), colorOptions('tt:FontColor'), colorOptions('tt:BackgroundColor')]),
  ]);
}

function noOsd(token: string | undefined): OnvifFault {
  return invalidArg(`no OSD '${(token ?? '').slice(0, 64)}'`, 'ter:NoConfig');
}

function osdModify(reason: string): OnvifFault {
  return invalidArg(reason, 'ter:ConfigModify');
}

/** A requested color as the camera's RGBA, or undefined when it names the color already held. */
function colorChange(node: XmlNode | undefined, held: number[]): number[] | undefined {
  if (!node) return undefined;
  const color = child(node, 'Color');
  const transparent = numberIn(node.attrs.get('Transparent'), 'Transparent');
  let rgb = held.slice(0, 3);
  if (color) {
    const space = color.attrs.get('Colorspace');
    if (space !== undefined && space.trim() !== YCBCR) throw osdModify(`colorspace ${space.slice(0, 80)} is not offered: ${YCBCR}`);
    const xyz = ['X', 'Y', 'Z'].map((k) => numberIn(color.attrs.get(k), `Color ${k}`));
    if (xyz.some((v) => v === undefined || v < 0 || v > 255)) throw osdModify('Color X, Y and Z must be 0..255');
    const wanted = xyz.map((v) => Math.round(v!));
    const now = toYCbCr(held);
    // The color the camera holds, as we reported it: nothing to write (rounding would drift).
    if (!wanted.every((v, i) => v === now[i])) rgb = toRgb(wanted);
  }
  let alpha = held[3] ?? 0;
  if (transparent !== undefined) {
    if (!Number.isInteger(transparent) || transparent < 0 || transparent > 255) throw osdModify('Transparent must be 0..255');
    alpha = transparent;
  }
  const next = [...rgb, alpha];
  return next.every((v, i) => v === held[i]) ? undefined : next;
}

/** The keys SetOSD / CreateOSD write: only what differs from what the camera holds. */
function osdParams(o: Osd, osd: XmlNode, show: boolean | undefined): Array<[string, string]> {
  const head = `VideoWidget[${o.channel - 1}].${o.widget}.`;
  const out: Array<[string, string]> = [];
  const type = textAt(osd, 'Type');
  if (type !== undefined && type !== 'Text') throw osdModify(`${o.token} is a text OSD`);
  const vsc = textAt(osd, 'VideoSourceConfigurationToken');
  if (vsc !== undefined && vsc !== tokens.videoSourceConfig(o.channel)) throw osdModify(`${o.token} belongs to ${tokens.videoSourceConfig(o.channel)}`);
  const position = child(osd, 'Position');
  if (position) {
    const ptype = textAt(position, 'Type');
    if (ptype !== undefined && ptype !== 'Custom') throw osdModify(`position ${ptype.slice(0, 32)} is not offered: Custom`);
    const pos = child(position, 'Pos');
    if (pos) {
      const x = numberIn(pos.attrs.get('x'), 'Pos x');
      const y = numberIn(pos.attrs.get('y'), 'Pos y');
      if (x === undefined || y === undefined || x < -1 || x > 1 || y < -1 || y > 1) throw osdModify('Pos x and y must be -1..1');
      const left = Math.round(((x + 1) / 2) * RECT_MAX);
      const top = Math.round(((1 - y) / 2) * RECT_MAX);
      // Unchanged within the rounding of what we reported: nothing to write.
      if (round3((o.left / RECT_MAX) * 2 - 1) !== round3(x) || round3(1 - (o.top / RECT_MAX) * 2) !== round3(y)) {
        // The title is placed by its top left corner: Rect[2], Rect[3] repeat it (vendor §4.5.10).
        out.push([`${head}Rect[0]`, String(left)], [`${head}Rect[1]`, String(top)], [`${head}Rect[2]`, String(left)], [`${head}Rect[3]`, String(top)]);
      }
    }
  }
  const text = child(osd, 'TextString');
  if (text) {
    const ttype = textAt(text, 'Type');
    if (ttype !== undefined && ttype !== TEXT_TYPE[o.widget]) throw osdModify(`${o.token} shows ${TEXT_TYPE[o.widget]} text`);
    for (const [name, key, held] of [
      ['FontColor', 'FrontColor', o.front],
      ['BackgroundColor', 'BackColor', o.back],
    ] as const) {
      const next = colorChange(child(text, name), held);
      if (next) next.forEach((v, i) => v !== held[i] && out.push([`${head}${key}[${i}]`, String(v)]));
    }
    const plain = textAt(text, 'PlainText');
    if (plain !== undefined && o.widget === 'ChannelTitle' && plain !== o.title) {
      if (plain.length > 63) throw osdModify('PlainText is longer than 63 characters');
      out.push([`ChannelTitle[${o.channel - 1}].Name`, plain]);
    }
  }
  if (show !== undefined && show !== o.shown) out.push([`${head}EncodeBlend`, String(show)]);
  return out;
}

async function writeOsd(ctx: OnvifContext, o: Osd, params: Array<[string, string]>): Promise<void> {
  if (params.length === 0) return;
  await ctx.entry.camera.setConfig(params, { signal: ctx.signal });
  const [widgets, titles] = await Promise.all([
    ctx.entry.camera.getConfig('VideoWidget', { signal: ctx.signal }),
    ctx.entry.camera.getConfig('ChannelTitle', { signal: ctx.signal }),
  ]);
  const ignored = params.filter(([key, value]) => textOf(nodeAt(key.startsWith('ChannelTitle') ? titles : widgets, key))?.trim() !== value);
  if (ignored.length > 0) {
    throw new OnvifFault('Receiver', ['ter:Action', 'ter:ConfigModify'], `the camera did not take ${ignored.map(([k]) => k).join(', ')} for ${o.token}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Requests

function op(name: string, access: OnvifOperation['access'], handle: (request: XmlNode, ctx: OnvifContext) => Promise<XmlChild>): OnvifOperation {
  return { name, access, handle };
}

function read(name: string, build: (model: MediaModel, request: XmlNode, ctx: OnvifContext) => XmlChild | Promise<XmlChild>): OnvifOperation {
  return op(name, 'viewer', async (request, ctx) => el(`tr2:${name}Response`, await build(await readModel(ctx), request, ctx)));
}

/** tr2:GetConfiguration: an optional ConfigurationToken and ProfileToken narrow the list. */
function selected<T>(model: MediaModel, request: XmlNode, items: T[], tokenOf: (item: T) => string, channelOf: (item: T) => number, inProfile: (item: T, s: Stream) => boolean): T[] {
  const config = textAt(request, 'ConfigurationToken');
  const profile = textAt(request, 'ProfileToken');
  let out = items;
  if (profile !== undefined) {
    const s = streamByToken(model, profile);
    out = out.filter((i) => channelOf(i) === s.channel && inProfile(i, s));
  }
  if (config !== undefined) {
    out = out.filter((i) => tokenOf(i) === config);
    if (out.length === 0 && !items.some((i) => tokenOf(i) === config)) throw invalidArg(`no configuration '${config.slice(0, 64)}'`, 'ter:NoConfig');
  }
  return out;
}

function channelOfOptions(model: MediaModel, request: XmlNode): Channel {
  const config = textAt(request, 'ConfigurationToken');
  const profile = textAt(request, 'ProfileToken');
  const c =
    config !== undefined
      ? model.channels.find((x) => tokens.videoSourceConfig(x.channel) === config)
      : profile !== undefined
        ? model.channels.find((x) => x.channel === streamByToken(model, profile).channel)
        : model.channels[0];
  if (!c) throw invalidArg(`no video source configuration '${(config ?? '').slice(0, 64)}'`, 'ter:NoConfig');
  return c;
}

function streamProtocol(request: XmlNode): void {
  const protocol = textAt(request, 'Protocol');
  // RtspUnicast (and the older spelling RTSP) is what the camera serves; no multicast, no tunnels.
  if (protocol !== undefined && protocol !== 'RtspUnicast' && protocol !== 'RTSP') {
    throw invalidArg(`protocol ${protocol.slice(0, 32)} is not offered: RtspUnicast`, 'ter:InvalidStreamSetup');
  }
}

const operations: OnvifOperation[] = [
  op('GetServiceCapabilities', 'viewer', async (_request, ctx) => el('tr2:GetServiceCapabilitiesResponse', await capabilities(ctx))),

  read('GetProfiles', (model, request) => {
    const token = textAt(request, 'Token');
    const types = new Set(children(request, 'Type').map((t) => t.text));
    const streams = token === undefined ? model.streams : [streamByToken(model, token)];
    return streams.map((s) => profileXml(model, s, types));
  }),

  read('GetVideoSourceConfigurations', (model, request) =>
    selected(model, request, model.channels, (c) => tokens.videoSourceConfig(c.channel), (c) => c.channel, () => true).map((c) =>
      videoSourceConfigXml(model, c, 'tr2:Configurations'),
    ),
  ),
  read('GetVideoSourceConfigurationOptions', (model, request) => videoSourceConfigOptionsXml(model, channelOfOptions(model, request), 'tr2:Options')),

  read('GetVideoEncoderConfigurations', (model, request) =>
    selected(model, request, model.streams, (s) => s.encoderToken, (s) => s.channel, (i, s) => i === s).map((s) => videoEncoder2Xml(s, 'tr2:Configurations')),
  ),
  read('GetVideoEncoderConfigurationOptions', (model, request) => videoEncoderOptions2Xml(streamOfOptions(model, request))),
  // Each stream is its own encoder: the channel runs as many at once as it has streams.
  read('GetVideoEncoderInstances', (model, request) => {
    const c = channelOfOptions(model, request);
    return el('tr2:Info', el('tr2:Total', streamsOf(model, c.channel).length));
  }),
  op('SetVideoEncoderConfiguration', 'operator', async (request, ctx) => {
    const config = child(request, 'Configuration');
    if (!config) throw invalidArg('Configuration is missing');
    const model = await readModel(ctx);
    const s = streamByEncoder(model, config.attrs.get('token'));
    await writeEncoder(ctx, s, encoderParams(s, encoderChange(s, config)));
    return el('tr2:SetVideoEncoderConfigurationResponse');
  }),

  op('SetVideoSourceConfiguration', 'operator', async (request, ctx) => {
    checkVideoSourceConfig(await readModel(ctx), child(request, 'Configuration'));
    return el('tr2:SetVideoSourceConfigurationResponse');
  }),
  op('SetAudioEncoderConfiguration', 'operator', async (request, ctx) => {
    const config = child(request, 'Configuration');
    if (!config) throw invalidArg('Configuration is missing');
    const s = streamByAudioEncoder(await readModel(ctx), config.attrs.get('token'));
    checkAudioEncoderConfig(s, config, (c) => ver20AudioEncoding(c) ?? codecKey(c));
    return el('tr2:SetAudioEncoderConfigurationResponse');
  }),

  read('GetAudioSourceConfigurations', (model, request) =>
    selected(model, request, model.channels.filter((c) => c.audio), (c) => tokens.audioSourceConfig(c.channel), (c) => c.channel, (_c, s) => hasAudio(s)).map((c) =>
      audioSourceConfigXml(model, c, 'tr2:Configurations'),
    ),
  ),
  read('GetAudioEncoderConfigurations', (model, request) =>
    selected(model, request, model.streams.filter((s) => s.audio), (s) => s.audioEncoderToken, (s) => s.channel, (i, s) => i === s && hasAudio(s)).map((s) =>
      audioEncoder2Xml(s, 'tr2:Configurations'),
    ),
  ),
  read('GetAudioEncoderConfigurationOptions', (model, request) => {
    const config = textAt(request, 'ConfigurationToken');
    const profile = textAt(request, 'ProfileToken');
    const streams = config !== undefined ? [streamByAudioEncoder(model, config)] : profile !== undefined ? [streamByToken(model, profile)] : model.streams;
    // The camera publishes no audio caps: what it holds now is what it is known to take.
    const seen = new Set<string>();
    const out: XmlOut[] = [];
    for (const s of streams) {
      if (!s.audio) continue;
      const enc = ver20AudioEncoding(s.audio.compression) ?? codecKey(s.audio.compression);
      const key = `${enc}/${s.audio.bitrate}/${s.audio.frequency}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(
        el('tr2:Options', [
          el('tt:Encoding', enc),
          el('tt:BitrateList', el('tt:Items', s.audio.bitrate ?? 0)),
          el('tt:SampleRateList', el('tt:Items', Math.round((s.audio.frequency ?? 0) / 1000))),
        ]),
      );
    }
    return out;
  }),

  read('GetMetadataConfigurations', () => []),
  read('GetAnalyticsConfigurations', () => []),
  read('GetAudioOutputConfigurations', () => []),
  read('GetAudioDecoderConfigurations', () => []),

  op('GetStreamUri', 'viewer', async (request, ctx) => {
    const [model, base] = await readModelAndRtsp(ctx);
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    streamProtocol(request);
    return el('tr2:GetStreamUriResponse', el('tr2:Uri', streamUri(base, s)));
  }),
  read('GetSnapshotUri', (model, request, ctx) => el('tr2:Uri', snapshotUri(ctx, streamByToken(model, textAt(request, 'ProfileToken'))))),

  op('GetOSDs', 'viewer', async (request, ctx) => {
    const token = textAt(request, 'OSDToken');
    const config = textAt(request, 'ConfigurationToken');
    const [model, all] = await readOsds(ctx);
    let osds = all.filter((o) => o.shown);
    if (token !== undefined) {
      osds = osds.filter((o) => o.token === token);
      if (osds.length === 0) throw noOsd(token);
    }
    if (config !== undefined) {
      if (!model.channels.some((c) => tokens.videoSourceConfig(c.channel) === config)) throw invalidArg(`no video source configuration '${config.slice(0, 64)}'`, 'ter:NoConfig');
      osds = osds.filter((o) => tokens.videoSourceConfig(o.channel) === config);
    }
    return el('tr2:GetOSDsResponse', osds.map((o) => osdXml(o, 'tr2:OSDs')));
  }),
  read('GetOSDOptions', (model, request) => {
    channelOfOptions(model, request);
    return osdOptionsXml();
  }),
  op('SetOSD', 'operator', async (request, ctx) => {
    const osd = child(request, 'OSD');
    const token = osd?.attrs.get('token');
    const o = (await readOsds(ctx))[1].find((x) => x.token === token && x.shown);
    if (!osd || !o) throw noOsd(token);
    await writeOsd(ctx, o, osdParams(o, osd, undefined));
    return el('tr2:SetOSDResponse');
  }),
  // The camera has one title and one clock per channel: creating shows the hidden one of that kind.
  op('CreateOSD', 'operator', async (request, ctx) => {
    const osd = child(request, 'OSD');
    if (!osd) throw invalidArg('OSD is missing');
    const [model, osds] = await readOsds(ctx);
    const textType = textAt(osd, 'TextString', 'Type');
    const vsc = textAt(osd, 'VideoSourceConfigurationToken');
    const channel = model.channels.find((c) => tokens.videoSourceConfig(c.channel) === vsc);
    if (!channel) throw invalidArg(`no video source configuration '${(vsc ?? '').slice(0, 64)}'`, 'ter:NoConfig');
    const widget = WIDGETS.find((w) => TEXT_TYPE[w] === textType);
    if (textAt(osd, 'Type') !== 'Text' || !widget) throw osdModify('the camera shows Plain text (its channel title) and DateAndTime (its clock) OSDs only');
    const o = osds.find((x) => x.widget === widget && x.channel === channel.channel);
    if (!o) throw osdModify(`the camera has no ${widget} on ${vsc}`);
    if (o.shown) throw new OnvifFault('Receiver', ['ter:Action', 'ter:MaxOSDs'], `${o.token} is already shown: the camera has one ${TEXT_TYPE[widget]} OSD per video source`);
    await writeOsd(ctx, o, osdParams(o, osd, true));
    return el('tr2:CreateOSDResponse', el('tr2:OSDToken', o.token));
  }),
  op('DeleteOSD', 'operator', async (request, ctx) => {
    const token = textAt(request, 'OSDToken');
    const o = (await readOsds(ctx))[1].find((x) => x.token === token && x.shown);
    if (!o) throw noOsd(token);
    await writeOsd(ctx, o, [[`VideoWidget[${o.channel - 1}].${o.widget}.EncodeBlend`, 'false']]);
    return el('tr2:DeleteOSDResponse');
  }),

  fixedProfiles('CreateProfile', 'ter:MaxProfiles'),
  fixedProfiles('DeleteProfile', 'ter:DeletionOfFixedProfile'),
  op('AddConfiguration', 'operator', async (request, ctx) => {
    const model = await readModel(ctx);
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    // Re-adding what the profile already holds is accepted: clients do it when they connect.
    const held: Record<string, string | undefined> = {
      VideoSource: tokens.videoSourceConfig(s.channel),
      VideoEncoder: s.encoderToken,
      AudioSource: hasAudio(s) ? tokens.audioSourceConfig(s.channel) : undefined,
      AudioEncoder: hasAudio(s) ? s.audioEncoderToken : undefined,
      PTZ: model.ptz ? tokens.ptzConfig(s.channel) : undefined,
    };
    for (const ref of children(request, 'Configuration')) {
      const type = textAt(ref, 'Type') ?? '';
      const token = textAt(ref, 'Token');
      const have = (CONFIG_TYPES as readonly string[]).includes(type) ? held[type] : undefined;
      if (have === undefined || (token !== undefined && token !== have)) {
        throw new OnvifFault('Receiver', ['ter:Action', 'ter:ConfigurationConflict'], `profile ${s.token} is fixed: it holds its own ${type.slice(0, 32)} configuration`);
      }
    }
    return el('tr2:AddConfigurationResponse');
  }),
  fixedProfiles('RemoveConfiguration', 'ter:ConfigurationConflict'),
];

async function capabilities(ctx: OnvifContext): Promise<XmlOut> {
  const model = await modelForCapabilities(ctx);
  const supported = ['VideoSource', 'VideoEncoder', ...(model?.channels.some((c) => c.audio) ? ['AudioSource', 'AudioEncoder'] : []), ...(model?.ptz ? ['PTZ'] : [])];
  return el(
    'tr2:Capabilities',
    [
      el('tr2:ProfileCapabilities', undefined, { MaximumNumberOfProfiles: model?.streams.length, ConfigurationsSupported: supported.join(' ') }),
      el('tr2:StreamingCapabilities', undefined, { RTSPStreaming: true, RTPMulticast: false, RTP_RTSP_TCP: true, NonAggregateControl: false, AutoStartMulticast: false }),
    ],
    { SnapshotUri: true, Rotation: false, VideoSourceMode: false, OSD: true, Mask: false, SourceMask: false },
  );
}

export const media2Service: OnvifService = {
  key: 'media2',
  ns: NS.tr2,
  path: 'media2_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities,
  operations,
};
