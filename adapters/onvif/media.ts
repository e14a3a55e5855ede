// ONVIF Media (ver10, trt): fixed profiles, one per stream of the camera's Encode table
// (media-model.ts), their configurations and options, encoder changes written to the camera, and
// the RTSP and snapshot URIs. Element order follows onvif.xsd and media.wsdl.
import type { OnvifContext, OnvifOperation, OnvifService } from './service.ts';
import { invalidArg, NS, OnvifFault } from './soap.ts';
import {
  audioSourceConfigXml,
  audioSourceXml,
  encodingAndResolution,
  fixedProfiles,
  streamOfOptions,
  checkAudioEncoderConfig,
  checkVideoSourceConfig,
  channelByAudioSourceConfig,
  channelBySourceConfig,
  encoderParams,
  GOP_RANGE,
  H264_PROFILES,
  hasAudio,
  intRange,
  mediaUriXml,
  modelForCapabilities,
  multicastXml,
  numberIn,
  ptzConfigXml,
  readModel,
  readModelAndRtsp,
  SESSION_TIMEOUT,
  snapshotUri,
  streamByAudioEncoder,
  streamByEncoder,
  streamByToken,
  streamUri,
  streamsOf,
  tokens,
  ver10AudioEncoding,
  ver10Encoding,
  videoSourceConfigOptionsXml,
  videoSourceConfigXml,
  videoSourceXml,
  writeEncoder,
  type EncoderChange,
  type MediaModel,
  type Stream,
} from './media-model.ts';
import { child, el, textAt, type XmlChild, type XmlNode, type XmlOut } from './xml.ts';

// ---------------------------------------------------------------------------------------------
// tt: elements of this version

/** tt:VideoEncoderConfiguration; undefined when ver10 has no name for the stream's codec (H.265). */
function videoEncoderXml(s: Stream, name: string): XmlOut | undefined {
  const encoding = ver10Encoding(s.video.compression);
  if (!encoding) return undefined;
  const v = s.video;
  const gov = el('tt:GovLength', v.gop ?? 1);
  return el(
    name,
    [
      el('tt:Name', s.encoderToken),
      el('tt:UseCount', 1),
      el('tt:Encoding', encoding),
      el('tt:Resolution', [el('tt:Width', v.width ?? 0), el('tt:Height', v.height ?? 0)]),
      el('tt:Quality', v.quality ?? 0),
      el('tt:RateControl', [
        // xs:int: a camera rate below 1 fps (0.2 = one frame in 5 s) is written as 1.
        el('tt:FrameRateLimit', Math.max(1, Math.round(v.fps ?? 0))),
        el('tt:EncodingInterval', 1),
        el('tt:BitrateLimit', v.bitrate ?? 0),
      ]),
      encoding === 'MPEG4' ? el('tt:MPEG4', [gov, el('tt:Mpeg4Profile', 'SP')]) : undefined,
      encoding === 'H264' && v.profile !== undefined && (H264_PROFILES as readonly string[]).includes(v.profile)
        ? el('tt:H264', [gov, el('tt:H264Profile', v.profile)])
        : undefined,
      multicastXml(),
      el('tt:SessionTimeout', SESSION_TIMEOUT),
    ],
    { token: s.encoderToken },
  );
}

/** tt:AudioEncoderConfiguration; undefined when the stream has no audio ver10 can name. */
function audioEncoderXml(s: Stream, name: string): XmlOut | undefined {
  const a = s.audio;
  const encoding = ver10AudioEncoding(a?.compression);
  if (!a || !encoding) return undefined;
  return el(
    name,
    [
      el('tt:Name', s.audioEncoderToken),
      el('tt:UseCount', hasAudio(s) ? 1 : 0),
      el('tt:Encoding', encoding),
      el('tt:Bitrate', a.bitrate ?? 0),
      // ONVIF counts kHz; the camera keeps Hz.
      el('tt:SampleRate', Math.round((a.frequency ?? 0) / 1000)),
      multicastXml(),
      el('tt:SessionTimeout', SESSION_TIMEOUT),
    ],
    { token: s.audioEncoderToken },
  );
}

function profileXml(model: MediaModel, s: Stream, name: string): XmlOut {
  const channel = model.channels.find((c) => c.channel === s.channel)!;
  const audio = hasAudio(s) && channel.audio ? audioEncoderXml(s, 'tt:AudioEncoderConfiguration') : undefined;
  return el(
    name,
    [
      el('tt:Name', s.name),
      videoSourceConfigXml(model, channel, 'tt:VideoSourceConfiguration'),
      audio ? audioSourceConfigXml(model, channel, 'tt:AudioSourceConfiguration') : undefined,
      videoEncoderXml(s, 'tt:VideoEncoderConfiguration'),
      audio,
      model.ptz ? ptzConfigXml(model, s.channel, 'tt:PTZConfiguration') : undefined,
    ],
    { token: s.token, fixed: true },
  );
}

function videoEncoderOptionsXml(s: Stream): XmlOut {
  const c = s.caps;
  const has = (enc: string): boolean => c.compressions.some((x) => ver10Encoding(x) === enc);
  const resolutions = c.resolutions.map((r) => el('tt:ResolutionsAvailable', [el('tt:Width', r.width), el('tt:Height', r.height)]));
  const fps = intRange('tt:FrameRateRange', 1, c.fpsMax ?? Math.max(1, Math.round(s.video.fps ?? 1)));
  const interval = intRange('tt:EncodingIntervalRange', 1, 1);
  const bitrate = c.bitrate ? intRange('tt:BitrateRange', c.bitrate.min, c.bitrate.max) : undefined;
  const jpeg = (name: string, extended: boolean): XmlOut => el(name, [resolutions, fps, interval, extended ? bitrate : undefined]);
  const h264 = (name: string, extended: boolean): XmlOut =>
    el(name, [
      resolutions,
      intRange('tt:GovLengthRange', GOP_RANGE.min, GOP_RANGE.max),
      fps,
      interval,
      H264_PROFILES.map((p) => el('tt:H264ProfilesSupported', p)),
      extended ? bitrate : undefined,
    ]);
  // The Extension repeats each codec with its bit-rate range (JpegOptions2 / H264Options2).
  const extension = bitrate && (has('JPEG') || has('H264')) ? el('tt:Extension', [has('JPEG') ? jpeg('tt:JPEG', true) : undefined, has('H264') ? h264('tt:H264', true) : undefined]) : undefined;
  return el('trt:Options', [
    intRange('tt:QualityRange', 1, s.video.qualityMax),
    has('JPEG') ? jpeg('tt:JPEG', false) : undefined,
    has('H264') ? h264('tt:H264', false) : undefined,
    extension,
  ]);
}

function audioEncoderOptionsXml(streams: Stream[]): XmlOut {
  // The camera publishes no audio caps: what it holds now is what it is known to take.
  const options: XmlChild[] = [];
  const seen = new Set<string>();
  for (const s of streams) {
    const encoding = ver10AudioEncoding(s.audio?.compression);
    if (!s.audio || !encoding) continue;
    const key = `${encoding}/${s.audio.bitrate}/${s.audio.frequency}`;
    if (seen.has(key)) continue;
    seen.add(key);
    options.push(
      el('tt:Options', [
        el('tt:Encoding', encoding),
        el('tt:BitrateList', el('tt:Items', s.audio.bitrate ?? 0)),
        el('tt:SampleRateList', el('tt:Items', Math.round((s.audio.frequency ?? 0) / 1000))),
      ]),
    );
  }
  return el('trt:Options', options);
}

// ---------------------------------------------------------------------------------------------
// Requests

function encoderChange(s: Stream, config: XmlNode): EncoderChange {
  const { encoding, change } = encodingAndResolution(s, config, 10);
  const quality = numberIn(textAt(config, 'Quality'), 'Quality');
  if (quality !== undefined) change.quality = quality;
  const rate = child(config, 'RateControl');
  if (rate) {
    const fps = numberIn(textAt(rate, 'FrameRateLimit'), 'FrameRateLimit');
    const interval = numberIn(textAt(rate, 'EncodingInterval'), 'EncodingInterval');
    const bitrate = numberIn(textAt(rate, 'BitrateLimit'), 'BitrateLimit');
    if (interval !== undefined && interval !== 1) throw invalidArg('EncodingInterval must be 1: the camera encodes every frame it is given', 'ter:ConfigModify');
    // A rate below 1 fps is shown as 1 (xs:int): sent back unchanged, it is not a change.
    if (fps !== undefined && fps !== Math.max(1, Math.round(s.video.fps ?? 0))) change.fps = fps;
    if (bitrate !== undefined) change.bitrate = bitrate;
  }
  const codec = encoding ?? ver10Encoding(s.video.compression);
  const h264 = child(config, 'H264');
  if (h264 && codec === 'H264') {
    const gop = numberIn(textAt(h264, 'GovLength'), 'H264/GovLength');
    if (gop !== undefined) change.gop = gop;
    const profile = textAt(h264, 'H264Profile');
    if (profile !== undefined) change.profile = profile;
  }
  const mpeg4 = child(config, 'MPEG4');
  if (mpeg4 && codec === 'MPEG4') {
    const gop = numberIn(textAt(mpeg4, 'GovLength'), 'MPEG4/GovLength');
    if (gop !== undefined) change.gop = gop;
  }
  return change;
}

function op(name: string, access: OnvifOperation['access'], handle: (request: XmlNode, ctx: OnvifContext) => Promise<XmlChild>): OnvifOperation {
  return { name, access, handle };
}

/** `GetX` answered with one model read: the common shape of the read operations. */
function read(name: string, build: (model: MediaModel, request: XmlNode, ctx: OnvifContext) => XmlChild | Promise<XmlChild>): OnvifOperation {
  return op(name, 'viewer', async (request, ctx) => el(`trt:${name}Response`, await build(await readModel(ctx), request, ctx)));
}

/** Add*Configuration: accepted when it names what the profile already holds (clients re-add on connect). */
function addConfiguration(name: string, holds: (model: MediaModel, s: Stream, token: string) => boolean): OnvifOperation {
  return op(name, 'operator', async (request, ctx) => {
    const model = await readModel(ctx);
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    const token = textAt(request, 'ConfigurationToken') ?? '';
    if (!holds(model, s, token)) {
      throw new OnvifFault('Receiver', ['ter:Action', 'ter:ConfigurationConflict'], `profile ${s.token} is fixed: it holds its own configurations`);
    }
    return el(`trt:${name}Response`);
  });
}

const operations: OnvifOperation[] = [
  op('GetServiceCapabilities', 'viewer', async (_request, ctx) => el('trt:GetServiceCapabilitiesResponse', await capabilities(ctx))),

  read('GetProfiles', (model) => model.streams.map((s) => profileXml(model, s, 'trt:Profiles'))),
  read('GetProfile', (model, request) => profileXml(model, streamByToken(model, textAt(request, 'ProfileToken')), 'trt:Profile')),

  read('GetVideoSources', (model) => model.channels.map((c) => videoSourceXml(c))),
  read('GetVideoSourceConfigurations', (model) => model.channels.map((c) => videoSourceConfigXml(model, c, 'trt:Configurations'))),
  read('GetVideoSourceConfiguration', (model, request) =>
    videoSourceConfigXml(model, channelBySourceConfig(model, textAt(request, 'ConfigurationToken')), 'trt:Configuration'),
  ),
  read('GetCompatibleVideoSourceConfigurations', (model, request) => {
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    return model.channels.filter((c) => c.channel === s.channel).map((c) => videoSourceConfigXml(model, c, 'trt:Configurations'));
  }),
  read('GetVideoSourceConfigurationOptions', (model, request) => {
    const config = textAt(request, 'ConfigurationToken');
    const profile = textAt(request, 'ProfileToken');
    const channel =
      config !== undefined
        ? channelBySourceConfig(model, config)
        : profile !== undefined
          ? model.channels.find((c) => c.channel === streamByToken(model, profile).channel)!
          : model.channels[0];
    if (!channel) throw invalidArg('this camera has no video source', 'ter:NoConfig');
    return videoSourceConfigOptionsXml(model, channel, 'trt:Options');
  }),

  read('GetVideoEncoderConfigurations', (model) => model.streams.map((s) => videoEncoderXml(s, 'trt:Configurations'))),
  read('GetVideoEncoderConfiguration', (model, request) => {
    const s = streamByEncoder(model, textAt(request, 'ConfigurationToken'));
    const xml = videoEncoderXml(s, 'trt:Configuration');
    if (!xml) throw invalidArg(`${s.encoderToken} encodes ${s.video.compression ?? 'a codec'} that Media ver10 cannot describe: use Media2`, 'ter:NoConfig');
    return xml;
  }),
  read('GetCompatibleVideoEncoderConfigurations', (model, request) => {
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    return videoEncoderXml(s, 'trt:Configurations');
  }),
  read('GetVideoEncoderConfigurationOptions', (model, request) => videoEncoderOptionsXml(streamOfOptions(model, request))),
  // Each stream is its own encoder: the channel runs as many at once as it has streams.
  read('GetGuaranteedNumberOfVideoEncoderInstances', (model, request) => {
    const s = streamByEncoder(model, textAt(request, 'ConfigurationToken'));
    return el('trt:TotalNumber', streamsOf(model, s.channel).length);
  }),
  op('SetVideoEncoderConfiguration', 'operator', async (request, ctx) => {
    const config = child(request, 'Configuration');
    if (!config) throw invalidArg('Configuration is missing');
    const model = await readModel(ctx);
    const s = streamByEncoder(model, config.attrs.get('token'));
    await writeEncoder(ctx, s, encoderParams(s, encoderChange(s, config)));
    return el('trt:SetVideoEncoderConfigurationResponse');
  }),

  op('SetVideoSourceConfiguration', 'operator', async (request, ctx) => {
    checkVideoSourceConfig(await readModel(ctx), child(request, 'Configuration'));
    return el('trt:SetVideoSourceConfigurationResponse');
  }),
  op('SetAudioEncoderConfiguration', 'operator', async (request, ctx) => {
    const config = child(request, 'Configuration');
    if (!config) throw invalidArg('Configuration is missing');
    checkAudioEncoderConfig(streamByAudioEncoder(await readModel(ctx), config.attrs.get('token')), config, ver10AudioEncoding);
    return el('trt:SetAudioEncoderConfigurationResponse');
  }),

  read('GetAudioSources', (model) => model.channels.filter((c) => c.audio).map((c) => audioSourceXml(c, model))),
  read('GetAudioSourceConfigurations', (model) => model.channels.filter((c) => c.audio).map((c) => audioSourceConfigXml(model, c, 'trt:Configurations'))),
  read('GetAudioSourceConfiguration', (model, request) =>
    audioSourceConfigXml(model, channelByAudioSourceConfig(model, textAt(request, 'ConfigurationToken')), 'trt:Configuration'),
  ),
  read('GetCompatibleAudioSourceConfigurations', (model, request) => {
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    return model.channels.filter((c) => c.channel === s.channel && c.audio).map((c) => audioSourceConfigXml(model, c, 'trt:Configurations'));
  }),
  read('GetAudioEncoderConfigurations', (model) => model.streams.map((s) => audioEncoderXml(s, 'trt:Configurations'))),
  read('GetAudioEncoderConfiguration', (model, request) => {
    const s = streamByAudioEncoder(model, textAt(request, 'ConfigurationToken'));
    const xml = audioEncoderXml(s, 'trt:Configuration');
    if (!xml) throw invalidArg(`${s.audioEncoderToken} encodes ${s.audio?.compression ?? 'a codec'} that Media ver10 cannot describe`, 'ter:NoConfig');
    return xml;
  }),
  read('GetCompatibleAudioEncoderConfigurations', (model, request) => {
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    return audioEncoderXml(s, 'trt:Configurations');
  }),
  read('GetAudioEncoderConfigurationOptions', (model, request) => {
    const config = textAt(request, 'ConfigurationToken');
    const profile = textAt(request, 'ProfileToken');
    const streams = config !== undefined ? [streamByAudioEncoder(model, config)] : profile !== undefined ? [streamByToken(model, profile)] : model.streams;
    return audioEncoderOptionsXml(streams);
  }),

  // No metadata streams, analytics or audio outputs on the profiles.
  read('GetMetadataConfigurations', () => []),
  read('GetCompatibleMetadataConfigurations', (model, request) => (streamByToken(model, textAt(request, 'ProfileToken')), [])),
  read('GetVideoAnalyticsConfigurations', () => []),
  read('GetCompatibleVideoAnalyticsConfigurations', (model, request) => (streamByToken(model, textAt(request, 'ProfileToken')), [])),
  read('GetAudioOutputs', () => []),
  read('GetAudioOutputConfigurations', () => []),
  // OSDs are served by Media2 (trt Capabilities say OSD=false).
  read('GetOSDs', () => []),

  op('GetStreamUri', 'viewer', async (request, ctx) => {
    const [model, base] = await readModelAndRtsp(ctx);
    const s = streamByToken(model, textAt(request, 'ProfileToken'));
    const setup = child(request, 'StreamSetup');
    const stream = textAt(setup, 'Stream');
    const protocol = textAt(setup, 'Transport', 'Protocol');
    if (stream !== undefined && stream !== 'RTP-Unicast') {
      throw invalidArg(`${stream.slice(0, 32)} is not offered: the camera streams RTP-Unicast over RTSP`, 'ter:InvalidStreamSetup');
    }
    if (protocol !== undefined && !['UDP', 'TCP', 'RTSP'].includes(protocol)) {
      throw invalidArg(`transport ${protocol.slice(0, 32)} is not offered: UDP, TCP (interleaved) or RTSP`, 'ter:InvalidStreamSetup');
    }
    return el('trt:GetStreamUriResponse', el('trt:MediaUri', mediaUriXml(streamUri(base, s))));
  }),
  read('GetSnapshotUri', (model, request, ctx) => el('trt:MediaUri', mediaUriXml(snapshotUri(ctx, streamByToken(model, textAt(request, 'ProfileToken')))))),

  fixedProfiles('CreateProfile', 'ter:MaxNVTProfiles'),
  fixedProfiles('DeleteProfile', 'ter:DeletionOfFixedProfile'),
  addConfiguration('AddVideoSourceConfiguration', (_model, s, token) => token === tokens.videoSourceConfig(s.channel)),
  addConfiguration('AddVideoEncoderConfiguration', (_model, s, token) => token === s.encoderToken),
  addConfiguration('AddAudioSourceConfiguration', (_model, s, token) => hasAudio(s) && token === tokens.audioSourceConfig(s.channel)),
  addConfiguration('AddAudioEncoderConfiguration', (_model, s, token) => hasAudio(s) && token === s.audioEncoderToken),
  addConfiguration('AddPTZConfiguration', (model, s, token) => model.ptz && token === tokens.ptzConfig(s.channel)),
  fixedProfiles('RemoveVideoSourceConfiguration', 'ter:ConfigurationConflict'),
  fixedProfiles('RemoveVideoEncoderConfiguration', 'ter:ConfigurationConflict'),
  fixedProfiles('RemoveAudioSourceConfiguration', 'ter:ConfigurationConflict'),
  fixedProfiles('RemoveAudioEncoderConfiguration', 'ter:ConfigurationConflict'),
  fixedProfiles('RemovePTZConfiguration', 'ter:ConfigurationConflict'),
];

async function capabilities(ctx: OnvifContext): Promise<XmlOut> {
  const model = await modelForCapabilities(ctx);
  return el(
    'trt:Capabilities',
    [
      el('trt:ProfileCapabilities', undefined, { MaximumNumberOfProfiles: model?.streams.length }),
      // RTSP over TCP (interleaved) and UDP; no multicast.
      el('trt:StreamingCapabilities', undefined, { RTPMulticast: false, RTP_TCP: true, RTP_RTSP_TCP: true, NonAggregateControl: false, NoRTSPStreaming: false }),
    ],
    { SnapshotUri: true, Rotation: false, VideoSourceMode: false, OSD: false },
  );
}

export const mediaService: OnvifService = {
  key: 'media',
  ns: NS.trt,
  path: 'media_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities,
  operations,
};
