// What the Media (ver10) and Media2 (ver20) services show, read from the camera: one fixed profile
// per stream of the Encode table (vendor §4.5.5: MainFormat[0] is the regular main stream,
// ExtraFormat[n] the extra streams), what each stream may become from the encode caps (§4.5.4),
// the video and audio inputs (§4.5.8, §4.3.1), and the writes of SetVideoEncoderConfiguration,
// checked against those caps before anything is sent and read back after.
import type { CgiDoc, CgiNode } from '../cgi/codec.ts';
import { parseKeyValue } from '../cgi/codec.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { rtspBase } from '../media/streams.ts';
import { counts, remembered } from './camera-facts.ts';
import { boolOf, nodeAt, numberOf, objectAt, textOf } from './camera-values.ts';
import type { OnvifContext, OnvifOperation } from './service.ts';
import { invalidArg, OnvifFault } from './soap.ts';
import { child, el, formatDuration, textAt, type XmlNode, type XmlOut } from './xml.ts';

// ---------------------------------------------------------------------------------------------
// Tokens (stable: clients keep them). Channels count from 1; the tables index from 0.

/** Shared with imaging (`VideoSource_1`) and events (`VideoSourceConfig_1`). */
export const tokens = {
  videoSource: (channel: number) => `VideoSource_${channel}`,
  videoSourceConfig: (channel: number) => `VideoSourceConfig_${channel}`,
  audioSource: (channel: number) => `AudioSource_${channel}`,
  audioSourceConfig: (channel: number) => `AudioSourceConfig_${channel}`,
  ptzConfig: (channel: number) => `PTZConfig_${channel}`,
  ptzNode: (channel: number) => `PTZNode_${channel}`,
};

/** `MainStream`, `SubStream1` on channel 1; `MainStream_2`, `SubStream1_2` on channel 2. */
function profileToken(channel: number, kind: StreamKind, index: number): string {
  const base = kind === 'MainFormat' ? 'MainStream' : `SubStream${index + 1}`;
  return channel === 1 ? base : `${base}_${channel}`;
}

// ---------------------------------------------------------------------------------------------
// The model

export type StreamKind = 'MainFormat' | 'ExtraFormat';

export interface Resolution {
  width: number;
  height: number;
}

export interface EncodeCaps {
  /** The camera's own spellings (`H.264`, `MJPG`). */
  compressions: string[];
  /** Largest first. */
  resolutions: Resolution[];
  fpsMax: number | undefined;
  bitrate: { min: number; max: number } | undefined;
}

export interface VideoEncode {
  compression: string | undefined;
  width: number | undefined;
  height: number | undefined;
  fps: number | undefined;
  bitrate: number | undefined;
  rateControl: string | undefined;
  gop: number | undefined;
  profile: string | undefined;
  quality: number | undefined;
  /** The top of the quality scale (`Video.QualityRange`, 6 by the vendor table). */
  qualityMax: number;
}

export interface AudioEncode {
  compression: string | undefined;
  bitrate: number | undefined;
  /** Hz as the camera keeps it; ONVIF speaks kHz. */
  frequency: number | undefined;
  channels: number;
  enabled: boolean;
}

export interface Stream {
  channel: number;
  kind: StreamKind;
  index: number;
  /** The RTSP `subtype`: 0 main, n for extra stream n. */
  subtype: number;
  token: string;
  name: string;
  encoderToken: string;
  audioEncoderToken: string;
  video: VideoEncode;
  audio: AudioEncode | undefined;
  caps: EncodeCaps;
}

export interface Channel {
  channel: number;
  /** The sensor: the largest resolution and the highest frame rate the main stream may have. */
  resolution: Resolution | undefined;
  fpsMax: number | undefined;
  audio: boolean;
}

export interface MediaModel {
  channels: Channel[];
  streams: Stream[];
  ptz: boolean;
  /** The PTZ service's own tt:PTZConfiguration elements (GetConfigurations), for the profiles. */
  ptzConfigs: XmlOut[];
}

/** Vendor §4.5.4 Appendix B: fixed resolution names; [PAL, NTSC] where they differ. */
const NAMED: Record<string, [Resolution, Resolution?]> = {
  D1: [{ width: 704, height: 576 }, { width: 704, height: 480 }],
  HD1: [{ width: 352, height: 576 }, { width: 352, height: 480 }],
  BCIF: [{ width: 704, height: 288 }, { width: 704, height: 240 }],
  '2CIF': [{ width: 704, height: 288 }, { width: 704, height: 240 }],
  CIF: [{ width: 352, height: 288 }, { width: 352, height: 240 }],
  QCIF: [{ width: 176, height: 144 }, { width: 176, height: 120 }],
  '960H': [{ width: 960, height: 576 }, { width: 960, height: 480 }],
  NHD: [{ width: 640, height: 360 }],
  VGA: [{ width: 640, height: 480 }],
  QVGA: [{ width: 320, height: 240 }],
  SVCD: [{ width: 480, height: 480 }],
  QQVGA: [{ width: 160, height: 128 }],
  SVGA: [{ width: 800, height: 592 }],
  SVGA1: [{ width: 800, height: 600 }],
  WVGA: [{ width: 800, height: 480 }],
  FWVGA: [{ width: 854, height: 480 }],
  DVGA: [{ width: 960, height: 640 }],
  XVGA: [{ width: 1024, height: 768 }],
  WXGA: [{ width: 1280, height: 800 }],
  WXGA2: [{ width: 1280, height: 768 }],
  WXGA3: [{ width: 1280, height: 854 }],
  WXGA4: [{ width: 1366, height: 768 }],
  SXGA: [{ width: 1280, height: 1024 }],
  'SXGA+': [{ width: 1400, height: 1050 }],
  WSXGA: [{ width: 1600, height: 1024 }],
  UXGA: [{ width: 1600, height: 1200 }],
  WUXGA: [{ width: 1920, height: 1200 }],
  ND1: [{ width: 240, height: 192 }],
  '720P': [{ width: 1280, height: 720 }],
  // The caps example writes `720` and `1080` for these.
  '720': [{ width: 1280, height: 720 }],
  '1080P': [{ width: 1920, height: 1080 }],
  '1080': [{ width: 1920, height: 1080 }],
  QFHD: [{ width: 3840, height: 2160 }],
  '1_3M': [{ width: 1280, height: 960 }],
  '2_5M': [{ width: 1872, height: 1408 }],
  '5M': [{ width: 3744, height: 1408 }],
  '3M': [{ width: 2048, height: 1536 }],
  '5_0M': [{ width: 2432, height: 2048 }],
  '1_2M': [{ width: 1216, height: 1024 }],
  '5_1M': [{ width: 2560, height: 1920 }],
  DV720P: [{ width: 960, height: 720 }],
};

/** A resolution name or `W x H` / `WxH` of the camera; undefined when it is neither. */
export function resolutionOf(text: string, ntsc: boolean): Resolution | undefined {
  const t = text.trim();
  const m = /^(\d{2,5})\s*[xX*]\s*(\d{2,5})$/.exec(t);
  if (m) return { width: Number(m[1]), height: Number(m[2]) };
  const named = NAMED[t.toUpperCase()];
  if (!named) return undefined;
  return (ntsc ? named[1] : undefined) ?? named[0];
}

function parseResolutions(list: string | undefined, ntsc: boolean): Resolution[] {
  const out: Resolution[] = [];
  for (const part of (list ?? '').split(',')) {
    const r = resolutionOf(part, ntsc);
    if (r && !out.some((o) => o.width === r.width && o.height === r.height)) out.push(r);
  }
  return out.sort((a, b) => b.width * b.height - a.width * a.height);
}

function capsOf(node: CgiNode | undefined, ntsc: boolean): EncodeCaps {
  const video = objectAt(node, 'Video');
  const rates = (textOf(video?.BitRateOptions) ?? '').split(',').map((s) => Number(s.trim()));
  const compressions = (textOf(video?.CompressionTypes) ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return {
    compressions,
    resolutions: parseResolutions(textOf(video?.ResolutionTypes), ntsc),
    fpsMax: numberOf(video?.FPSMax),
    bitrate: rates.length === 2 && rates.every((r) => Number.isFinite(r) && r > 0) ? { min: rates[0]!, max: rates[1]! } : undefined,
  };
}

function videoOf(format: Record<string, CgiNode> | undefined, ntsc: boolean): VideoEncode {
  const v = objectAt(format, 'Video');
  let width = numberOf(v?.Width);
  let height = numberOf(v?.Height);
  // Width/Height are the documented keys; the example also carries `resolution` and a name.
  if (width === undefined || height === undefined) {
    const r = resolutionOf(textOf(v?.resolution) ?? '', ntsc) ?? resolutionOf(textOf(v?.CustomResolutionName) ?? '', ntsc);
    width = r?.width;
    height = r?.height;
  }
  return {
    compression: textOf(v?.Compression)?.trim(),
    width,
    height,
    fps: numberOf(v?.FPS),
    bitrate: numberOf(v?.BitRate),
    rateControl: textOf(v?.BitRateControl)?.trim(),
    gop: numberOf(v?.GOP),
    profile: textOf(v?.Profile)?.trim(),
    quality: numberOf(v?.Quality),
    qualityMax: numberOf(v?.QualityRange) ?? 6,
  };
}

function audioOf(format: Record<string, CgiNode> | undefined): AudioEncode | undefined {
  const a = objectAt(format, 'Audio');
  if (!a) return undefined;
  const channels = Array.isArray(a.Channels) ? a.Channels.length : 1;
  return {
    compression: textOf(a.Compression)?.trim(),
    bitrate: numberOf(a.Bitrate),
    frequency: numberOf(a.Frequency),
    channels: Math.max(1, channels),
    enabled: boolOf(format?.AudioEnable) ?? false,
  };
}

/** encode.cgi getConfigCaps of one channel (from 1): fixed for a camera, read once per entry. */
function encodeCaps(entry: CameraEntry, channel: number, signal: AbortSignal): Promise<CgiDoc> {
  return remembered(entry, `media:getConfigCaps:${channel}`, async () => {
    const body = await entry.camera.call('/cgi-bin/encode.cgi', [['action', 'getConfigCaps'], ['channel', String(channel)]], { signal });
    return parseKeyValue(body).doc;
  });
}

async function ptzAvailable(ctx: OnvifContext): Promise<boolean> {
  const ptz = ctx.services.find((s) => s.key === 'ptz');
  if (!ptz) return false;
  try {
    return await ptz.available(ctx);
  } catch {
    return false;
  }
}

/**
 * The PTZ configurations as the PTZ service answers GetConfigurations (default spaces, limits):
 * a profile carries the same element. Asked through its operation, so the service keeps its own
 * details; when it cannot answer, the profile gets the minimal element (ptzConfigXml).
 */
async function ptzConfigurations(ctx: OnvifContext): Promise<XmlOut[]> {
  const ptz = ctx.services.find((s) => s.key === 'ptz');
  const op = ptz?.operations.find((o) => o.name === 'GetConfigurations');
  if (!ptz || !op) return [];
  try {
    const answer = await op.handle({ ns: ptz.ns, local: 'GetConfigurations', attrs: new Map(), children: [], text: '' }, ctx);
    const content = (answer as XmlOut | undefined)?.content;
    const list = (Array.isArray(content) ? content : [content]) as unknown[];
    return list.filter((c): c is XmlOut => typeof c === 'object' && c !== null && /:PTZConfiguration$/.test((c as XmlOut).name));
  } catch (err) {
    ctx.logger.warn({ err, camera: ctx.entry.id }, 'the PTZ configuration could not be read for the media profiles');
    return [];
  }
}

/** The camera's streams as profiles, read now (the Encode table can change at any time). */
export async function readModel(ctx: OnvifContext): Promise<MediaModel> {
  const { entry, signal } = ctx;
  const [encode, standard, videoInputs, audioInputs, ptz] = await Promise.all([
    entry.camera.getConfig('Encode', { signal }),
    entry.camera.getConfig('VideoStandard', { signal }).catch(() => ({}) as CgiDoc),
    counts.videoSources(entry),
    counts.audioSources(entry),
    ptzAvailable(ctx),
  ]);
  const ntsc = textOf(standard.VideoStandard)?.trim().toUpperCase() === 'NTSC';
  const table = Array.isArray(encode.Encode) ? encode.Encode : [encode.Encode];
  // A camera that reports no count still has the channels its Encode table holds.
  const channelCount = Math.max(1, Math.min(videoInputs || table.length, table.length));
  const channels: Channel[] = [];
  const streams: Stream[] = [];
  for (let c = 1; c <= channelCount; c++) {
    const enc = objectAt(table[c - 1] as CgiNode, '');
    if (!enc) continue;
    const capsDoc = await encodeCaps(entry, c, signal);
    const capsList = Array.isArray(capsDoc.caps) ? capsDoc.caps : [];
    const caps = capsList[c - 1] ?? capsList[0];
    const main = capsOf(nodeAt(caps, 'MainFormat[0]'), ntsc);
    channels.push({ channel: c, resolution: main.resolutions[0], fpsMax: main.fpsMax, audio: audioInputs >= c });
    const formats: Array<[StreamKind, number, CgiNode | undefined]> = [['MainFormat', 0, nodeAt(enc, 'MainFormat[0]')]];
    const extras = Array.isArray(enc.ExtraFormat) ? enc.ExtraFormat : [];
    extras.forEach((x, i) => formats.push(['ExtraFormat', i, x]));
    for (const [kind, index, node] of formats) {
      const format = objectAt(node, '');
      if (!format || !objectAt(format, 'Video')) continue;
      const token = profileToken(c, kind, index);
      const streamCaps = kind === 'MainFormat' ? main : capsOf(nodeAt(caps, `ExtraFormat[${index}]`), ntsc);
      streams.push({
        channel: c,
        kind,
        index,
        subtype: kind === 'MainFormat' ? 0 : index + 1,
        token,
        name: token,
        encoderToken: `${token}Encoder`,
        audioEncoderToken: `${token}AudioEncoder`,
        video: videoOf(format, ntsc),
        audio: audioInputs >= c ? audioOf(format) : undefined,
        caps: streamCaps,
      });
    }
  }
  return { channels, streams, ptz, ptzConfigs: ptz ? await ptzConfigurations(ctx) : [] };
}

/**
 * The model for a capabilities answer, or undefined when the camera cannot be read: GetServices
 * (pre-auth, run by every client first) answers without the counts instead of failing whole.
 */
export async function modelForCapabilities(ctx: OnvifContext): Promise<MediaModel | undefined> {
  try {
    return await readModel(ctx);
  } catch (err) {
    ctx.logger.warn({ err, camera: ctx.entry.id }, 'media capabilities without the camera: it could not be read');
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Look-ups with the faults ONVIF names for them

export function streamByToken(model: MediaModel, token: string | undefined): Stream {
  const s = model.streams.find((x) => x.token === token?.trim());
  if (!s) throw invalidArg(`no profile '${(token ?? '').slice(0, 64)}'`, 'ter:NoProfile');
  return s;
}

export function streamByEncoder(model: MediaModel, token: string | undefined): Stream {
  const s = model.streams.find((x) => x.encoderToken === token?.trim());
  if (!s) throw invalidArg(`no video encoder configuration '${(token ?? '').slice(0, 64)}'`, 'ter:NoConfig');
  return s;
}

export function streamByAudioEncoder(model: MediaModel, token: string | undefined): Stream {
  const s = model.streams.find((x) => x.audioEncoderToken === token?.trim() && x.audio);
  if (!s) throw invalidArg(`no audio encoder configuration '${(token ?? '').slice(0, 64)}'`, 'ter:NoConfig');
  return s;
}

export function channelBySourceConfig(model: MediaModel, token: string | undefined): Channel {
  const c = model.channels.find((x) => tokens.videoSourceConfig(x.channel) === token?.trim());
  if (!c) throw invalidArg(`no video source configuration '${(token ?? '').slice(0, 64)}'`, 'ter:NoConfig');
  return c;
}

export function channelByAudioSourceConfig(model: MediaModel, token: string | undefined): Channel {
  const c = model.channels.find((x) => x.audio && tokens.audioSourceConfig(x.channel) === token?.trim());
  if (!c) throw invalidArg(`no audio source configuration '${(token ?? '').slice(0, 64)}'`, 'ter:NoConfig');
  return c;
}

/** Whether the stream carries audio in its RTSP session (the profile then lists audio). */
export function hasAudio(s: Stream): boolean {
  return s.audio !== undefined && s.audio.enabled;
}

/** Streams on a channel, for UseCount and options. */
export function streamsOf(model: MediaModel, channel: number): Stream[] {
  return model.streams.filter((s) => s.channel === channel);
}

// ---------------------------------------------------------------------------------------------
// Encodings: the camera's names, ONVIF ver10 (tt:VideoEncoding) and ver20 (MIME subtypes)

/** `H.264` → `H264`, `MJPG` → `MJPG`, `H.265` → `H265`: one key per codec whatever the spelling. */
export function codecKey(compression: string | undefined): string {
  return (compression ?? '').toUpperCase().replace(/[.\s_-]/g, '');
}

const VER10: Record<string, string> = { H264: 'H264', MJPG: 'JPEG', MJPEG: 'JPEG', JPEG: 'JPEG', MPEG4: 'MPEG4' };
const VER20: Record<string, string> = { H264: 'H264', H265: 'H265', MJPG: 'JPEG', MJPEG: 'JPEG', JPEG: 'JPEG', MPEG4: 'MPV4-ES' };

/** tt:VideoEncoding of a camera compression; undefined for codecs ver10 cannot name (H.265). */
export function ver10Encoding(compression: string | undefined): string | undefined {
  return VER10[codecKey(compression)];
}

export function ver20Encoding(compression: string | undefined): string | undefined {
  return VER20[codecKey(compression)];
}

/** The camera's spelling (from its caps) of an ONVIF encoding name of either version. */
export function cameraCompression(caps: EncodeCaps, onvif: string, version: 10 | 20): string | undefined {
  const table = version === 10 ? VER10 : VER20;
  return caps.compressions.find((c) => table[codecKey(c)] === onvif.trim());
}

export const H264_PROFILES = ['Baseline', 'Main', 'Extended', 'High'] as const;
/** Vendor §4.5.5 Appendix A: GOP 1-100. */
export const GOP_RANGE = { min: 1, max: 100 } as const;

/** ver10 audio: tt:AudioEncoding; undefined for codecs it has no name for. */
export function ver10AudioEncoding(compression: string | undefined): string | undefined {
  const k = codecKey(compression);
  if (k.startsWith('G711')) return 'G711';
  if (k.startsWith('G726')) return 'G726';
  if (k === 'AAC') return 'AAC';
  return undefined;
}

/** ver20 audio: the RTP payload names (PCMU, PCMA, G726, MP4A-LATM). */
export function ver20AudioEncoding(compression: string | undefined): string | undefined {
  const k = codecKey(compression);
  if (k === 'G711A' || k === 'G711ALAW') return 'PCMA';
  if (k === 'G711MU' || k === 'G711U' || k === 'G711MULAW' || k === 'G711ULAW') return 'PCMU';
  if (k.startsWith('G726')) return 'G726';
  if (k === 'AAC') return 'MP4A-LATM';
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// XML shared by both versions (tt: types)

export function intRange(name: string, min: number, max: number): XmlOut {
  return el(name, [el('tt:Min', Math.round(min)), el('tt:Max', Math.round(max))]);
}

export function videoSourceXml(c: Channel, name = 'trt:VideoSources'): XmlOut {
  return el(
    name,
    [
      el('tt:Framerate', c.fpsMax ?? 0),
      el('tt:Resolution', [el('tt:Width', c.resolution?.width ?? 0), el('tt:Height', c.resolution?.height ?? 0)]),
    ],
    { token: tokens.videoSource(c.channel) },
  );
}

export function videoSourceConfigXml(model: MediaModel, c: Channel, name: string): XmlOut {
  return el(
    name,
    [
      el('tt:Name', tokens.videoSourceConfig(c.channel)),
      el('tt:UseCount', streamsOf(model, c.channel).length),
      el('tt:SourceToken', tokens.videoSource(c.channel)),
      el('tt:Bounds', undefined, { x: 0, y: 0, width: c.resolution?.width ?? 0, height: c.resolution?.height ?? 0 }),
    ],
    { token: tokens.videoSourceConfig(c.channel) },
  );
}

export function videoSourceConfigOptionsXml(model: MediaModel, c: Channel, name: string): XmlOut {
  const w = c.resolution?.width ?? 0;
  const h = c.resolution?.height ?? 0;
  return el(
    name,
    [
      el('tt:BoundsRange', [intRange('tt:XRange', 0, 0), intRange('tt:YRange', 0, 0), intRange('tt:WidthRange', w, w), intRange('tt:HeightRange', h, h)]),
      el('tt:VideoSourceTokensAvailable', tokens.videoSource(c.channel)),
    ],
    { MaximumNumberOfProfiles: streamsOf(model, c.channel).length },
  );
}

export function audioSourceXml(c: Channel, model: MediaModel, name = 'trt:AudioSources'): XmlOut {
  const first = streamsOf(model, c.channel).find((s) => s.audio);
  return el(name, el('tt:Channels', first?.audio?.channels ?? 1), { token: tokens.audioSource(c.channel) });
}

export function audioSourceConfigXml(model: MediaModel, c: Channel, name: string): XmlOut {
  return el(
    name,
    [
      el('tt:Name', tokens.audioSourceConfig(c.channel)),
      el('tt:UseCount', streamsOf(model, c.channel).filter(hasAudio).length),
      el('tt:SourceToken', tokens.audioSource(c.channel)),
    ],
    { token: tokens.audioSourceConfig(c.channel) },
  );
}

/** tt:PTZConfiguration of a profile: the PTZ service's own element, renamed; a minimal one without it. */
export function ptzConfigXml(model: MediaModel, channel: number, name: string): XmlOut {
  const own = model.ptzConfigs.find((c) => c.attrs?.token === tokens.ptzConfig(channel));
  if (own) return { ...own, name };
  return el(
    name,
    [el('tt:Name', tokens.ptzConfig(channel)), el('tt:UseCount', streamsOf(model, channel).length), el('tt:NodeToken', tokens.ptzNode(channel))],
    { token: tokens.ptzConfig(channel) },
  );
}

/** No multicast on these cameras: the required element says "none". */
export function multicastXml(): XmlOut {
  return el('tt:Multicast', [
    el('tt:Address', [el('tt:Type', 'IPv4'), el('tt:IPv4Address', '0.0.0.0')]),
    el('tt:Port', 0),
    el('tt:TTL', 0),
    el('tt:AutoStart', false),
  ]);
}

/** RTSP keeps a session alive with its own timeout; ONVIF clients only need a sane value. */
export const SESSION_TIMEOUT = 'PT60S';

// ---------------------------------------------------------------------------------------------
// URIs

/** The camera's RTSP URL of a stream, without credentials (design.md §6). */
export function streamUri(base: string, s: Stream): string {
  return `${base}/cam/realmonitor?channel=${s.channel}&subtype=${s.subtype}`;
}

/** The model and the camera's `rtsp://host:port`, read together (one round trip, not two). */
export async function readModelAndRtsp(ctx: OnvifContext): Promise<[MediaModel, string]> {
  const [model, rtsp] = await Promise.all([readModel(ctx), rtspBase(ctx.entry, ctx.signal)]);
  return [model, rtsp.base];
}

/** The gateway's own snapshot route (Digest and Basic), served by router.ts. */
export function snapshotUri(ctx: OnvifContext, s: Stream): string {
  return `${ctx.origin}/onvif/${encodeURIComponent(ctx.entry.id)}/snapshot?channel=${s.channel}`;
}

export function mediaUriXml(uri: string): XmlOut[] {
  return [el('tt:Uri', uri), el('tt:InvalidAfterConnect', false), el('tt:InvalidAfterReboot', false), el('tt:Timeout', formatDuration(0))];
}

// ---------------------------------------------------------------------------------------------
// SetVideoEncoderConfiguration, for both versions

/** What a client asks of a stream's encoder; absent fields stay as they are. */
export interface EncoderChange {
  /** The camera's spelling, already matched against the caps. */
  compression?: string;
  resolution?: Resolution;
  quality?: number;
  fps?: number;
  bitrate?: number;
  gop?: number;
  profile?: string;
  cbr?: boolean;
}

function configModify(reason: string): OnvifFault {
  return invalidArg(reason, 'ter:ConfigModify');
}

function same(a: number | undefined, b: number): boolean {
  return a !== undefined && Math.abs(a - b) < 1e-6;
}

/** A number as the Encode table writes it. */
function numText(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}

/**
 * The Encode keys a change writes: only values that differ from what the camera holds, each
 * checked against the stream's caps (values the client sends back unchanged are not judged, so a
 * camera holding an out-of-caps value can still take other changes). Throws ter:ConfigModify
 * before anything is sent.
 */
export function encoderParams(s: Stream, change: EncoderChange): Array<[string, string]> {
  const head = `Encode[${s.channel - 1}].${s.kind}[${s.index}].Video.`;
  const v = s.video;
  const out: Array<[string, string]> = [];
  if (change.compression !== undefined && codecKey(change.compression) !== codecKey(v.compression)) {
    if (!s.caps.compressions.includes(change.compression)) throw configModify(`${s.token} cannot be encoded as ${change.compression}`);
    out.push([`${head}Compression`, change.compression]);
  }
  const r = change.resolution;
  if (r !== undefined && !(same(v.width, r.width) && same(v.height, r.height))) {
    if (!s.caps.resolutions.some((x) => x.width === r.width && x.height === r.height)) {
      throw configModify(`${r.width}x${r.height} is not a resolution of ${s.token}`);
    }
    if (!same(v.width, r.width)) out.push([`${head}Width`, String(r.width)]);
    if (!same(v.height, r.height)) out.push([`${head}Height`, String(r.height)]);
  }
  if (change.quality !== undefined) {
    const q = Math.round(change.quality);
    if (!same(v.quality, q)) {
      if (q < 1 || q > v.qualityMax) throw configModify(`Quality must be 1..${v.qualityMax}`);
      out.push([`${head}Quality`, String(q)]);
    }
  }
  if (change.fps !== undefined && !same(v.fps, change.fps)) {
    const max = s.caps.fpsMax ?? 30;
    if (!(change.fps >= 1 && change.fps <= max)) throw configModify(`the frame rate of ${s.token} must be 1..${max}`);
    out.push([`${head}FPS`, numText(change.fps)]);
  }
  if (change.bitrate !== undefined && !same(v.bitrate, change.bitrate)) {
    const b = s.caps.bitrate;
    if (!Number.isInteger(change.bitrate) || (b && (change.bitrate < b.min || change.bitrate > b.max)) || change.bitrate <= 0) {
      throw configModify(`the bit rate of ${s.token} must be ${b ? `${b.min}..${b.max}` : 'a positive number of'} kbit/s`);
    }
    out.push([`${head}BitRate`, String(change.bitrate)]);
  }
  if (change.gop !== undefined && !same(v.gop, change.gop)) {
    if (!Number.isInteger(change.gop) || change.gop < GOP_RANGE.min || change.gop > GOP_RANGE.max) throw configModify(`GovLength must be ${GOP_RANGE.min}..${GOP_RANGE.max}`);
    out.push([`${head}GOP`, String(change.gop)]);
  }
  if (change.profile !== undefined && change.profile !== v.profile) {
    if (!(H264_PROFILES as readonly string[]).includes(change.profile)) throw configModify(`H.264 profile ${change.profile.slice(0, 32)} is not one of ${H264_PROFILES.join(', ')}`);
    out.push([`${head}Profile`, change.profile]);
  }
  if (change.cbr !== undefined) {
    const control = change.cbr ? 'CBR' : 'VBR';
    if (control !== v.rateControl?.toUpperCase()) out.push([`${head}BitRateControl`, control]);
  }
  return out;
}

/** Writes the keys, reads the table back and faults when the camera silently kept another value. */
export async function writeEncoder(ctx: OnvifContext, s: Stream, params: Array<[string, string]>): Promise<void> {
  if (params.length === 0) return;
  await ctx.entry.camera.setConfig(params, { signal: ctx.signal });
  const after = await ctx.entry.camera.getConfig('Encode', { signal: ctx.signal });
  const ignored = params.filter(([key, value]) => {
    const got = textOf(nodeAt(after, key));
    if (got === undefined) return true;
    const a = Number(got);
    const b = Number(value);
    return Number.isFinite(a) && Number.isFinite(b) && got.trim() !== '' ? Math.abs(a - b) > 1e-6 : got.trim() !== value;
  });
  if (ignored.length > 0) {
    throw new OnvifFault('Receiver', ['ter:Action', 'ter:ConfigModify'], `the camera did not take ${ignored.map(([k]) => k.replace(/^.*\.Video\./, '')).join(', ')} for ${s.token}`);
  }
}

/** A number of a request element; ter:ConfigModify naming it when it is not one. */
export function numberIn(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const v = text.trim() === '' ? NaN : Number(text.trim());
  if (!Number.isFinite(v)) throw configModify(`${what} is not a number: '${text.slice(0, 40)}'`);
  return v;
}

/**
 * SetVideoSourceConfiguration: the camera has no cropping or source switching, so the one valid
 * configuration is the one it has (full-sensor bounds on its own source); that is accepted without
 * a write (clients save every configuration of a profile), anything else is ter:ConfigModify.
 */
export function checkVideoSourceConfig(model: MediaModel, config: XmlNode | undefined): void {
  if (!config) throw invalidArg('Configuration is missing');
  const c = model.channels.find((x) => tokens.videoSourceConfig(x.channel) === config.attrs.get('token')?.trim());
  if (!c) throw invalidArg(`no video source configuration '${(config.attrs.get('token') ?? '').slice(0, 64)}'`, 'ter:NoConfig');
  const source = child(config, 'SourceToken')?.text;
  if (source !== undefined && source !== tokens.videoSource(c.channel)) throw configModify(`${tokens.videoSourceConfig(c.channel)} takes ${tokens.videoSource(c.channel)} only`);
  const b = child(config, 'Bounds');
  if (b) {
    const want = [0, 0, c.resolution?.width ?? 0, c.resolution?.height ?? 0];
    const got = ['x', 'y', 'width', 'height'].map((k) => Number(b.attrs.get(k)));
    if (!got.every((v, i) => v === want[i])) throw configModify(`the bounds of ${tokens.videoSourceConfig(c.channel)} are the whole picture: 0 0 ${want[2]} ${want[3]}`);
  }
}

/**
 * SetAudioEncoderConfiguration: the camera publishes no audio caps, so only what it holds is known
 * to work; that is accepted without a write, any other codec or rate is ter:ConfigModify.
 */
export function checkAudioEncoderConfig(s: Stream, config: XmlNode, encodingOf: (compression: string | undefined) => string | undefined): void {
  const a = s.audio!;
  const encoding = textAt(config, 'Encoding');
  const bitrate = numberIn(textAt(config, 'Bitrate'), 'Bitrate');
  const rate = numberIn(textAt(config, 'SampleRate'), 'SampleRate');
  if (encoding !== undefined && encoding !== encodingOf(a.compression)) throw configModify(`${s.audioEncoderToken} encodes ${encodingOf(a.compression) ?? a.compression ?? 'its own codec'} only`);
  if (bitrate !== undefined && bitrate !== a.bitrate) throw configModify(`${s.audioEncoderToken} runs at ${a.bitrate ?? '?'} kbit/s only`);
  if (rate !== undefined && rate !== Math.round((a.frequency ?? 0) / 1000)) throw configModify(`${s.audioEncoderToken} samples at ${Math.round((a.frequency ?? 0) / 1000)} kHz only`);
}

// ---------------------------------------------------------------------------------------------
// Request pieces both Media versions read the same way

/** The stream of a request that names a ConfigurationToken or a ProfileToken (the options calls). */
export function streamOfOptions(model: MediaModel, request: XmlNode): Stream {
  const config = textAt(request, 'ConfigurationToken');
  if (config !== undefined) return streamByEncoder(model, config);
  const profile = textAt(request, 'ProfileToken');
  if (profile !== undefined) return streamByToken(model, profile);
  return model.streams[0] ?? streamByToken(model, undefined);
}

/** Encoding and Resolution of an encoder configuration, checked against the camera's caps (ver10 or ver20 names). */
export function encodingAndResolution(s: Stream, config: XmlNode, version: 10 | 20): { encoding: string | undefined; change: EncoderChange } {
  const change: EncoderChange = {};
  const encoding = textAt(config, 'Encoding');
  if (encoding !== undefined) {
    const compression = cameraCompression(s.caps, encoding, version);
    if (compression === undefined) throw invalidArg(`${s.token} cannot be encoded as ${encoding.slice(0, 16)}`, 'ter:ConfigModify');
    change.compression = compression;
  }
  const res = child(config, 'Resolution');
  if (res) {
    const width = numberIn(textAt(res, 'Width'), 'Resolution/Width');
    const height = numberIn(textAt(res, 'Height'), 'Resolution/Height');
    if (width === undefined || height === undefined) throw invalidArg('Resolution needs Width and Height', 'ter:ConfigModify');
    change.resolution = { width, height };
  }
  return { encoding, change };
}

/** The profiles are the camera's streams: they cannot be created, deleted or recomposed. */
export function fixedProfiles(name: string, subcode: string): OnvifOperation {
  return {
    name,
    access: 'operator',
    handle: async () => {
      throw new OnvifFault('Receiver', ['ter:Action', subcode], `the profiles are the camera's streams and are fixed: ${name} is not possible`);
    },
  };
}
