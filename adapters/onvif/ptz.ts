// ONVIF PTZ (ver20) over ptz.cgi (vendor §4.10): one node and one configuration in the generic
// spaces, continuous moves as the camera's direction codes with a stop after the timeout, absolute
// and relative moves as PositionABS, presets as the camera's numbered presets. Only cameras with a
// PTZ head have the service (the four V-series models are N/A for §4.10).
import { parseKeyValue, type CgiDoc } from '../cgi/codec.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { isProblem } from '../../gateway/problems.ts';
import { rateLimitUser } from '../../gateway/rate-limit.ts';
import { cameraNumber, floatAttr, nodeAt, numberOf, objectAt, textOf, boolText } from './camera-values.ts';
import { tokens } from './media-model.ts';
import type { OnvifContext, OnvifOperation, OnvifService } from './service.ts';
import { invalidArg, NS, OnvifFault } from './soap.ts';
import { child, el, formatDuration, opt, parseDuration, utcDateTime, type XmlChild, type XmlNode } from './xml.ts';

// The tokens the Media services put in their profiles.
const PTZ_NODE_TOKEN = tokens.ptzNode(1);
const PTZ_CONFIG_TOKEN = tokens.ptzConfig(1);

const PTZ = '/cgi-bin/ptz.cgi';
// The camera has one PTZ channel, counted from 1 in ptz.cgi.
const CHANNEL = '1';

const SPACES = {
  absolutePanTilt: 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace',
  absoluteZoom: 'http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace',
  relativePanTilt: 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace',
  relativeZoom: 'http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace',
  continuousPanTilt: 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace',
  continuousZoom: 'http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace',
  panTiltSpeed: 'http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace',
  zoomSpeed: 'http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace',
} as const;

// Direction codes and PositionABS take speeds 1-8 (vendor Table 4-125).
const SPEED_MAX = 8;
// PositionABS: pan 0-360°, tilt 0-90° (0 level, 90 straight down: Up lowers it).
const PAN_DEGREES = 360;
const TILT_DEGREES = 90;
// PositionABS and getStatus give the zoom as a magnification; the document states no upper bound,
// so the generic zoom space 0..1 is mapped onto 1x-30x, the usual optical range of PTZ heads.
const ZOOM_MAX = 30;
const DEFAULT_TIMEOUT_MS = 10_000;
const TIMEOUT_RANGE_MS = { min: 1_000, max: 300_000 };

// Profile tokens of the Media services (media-model.ts: MainStream, SubStream<n>; the head is on
// channel 1). Checked by pattern, not against the Encode table: a joystick's moves need no extra read.
const PROFILE = /^(MainStream|SubStream[1-9]\d?)$/;

interface Caps {
  name: string | undefined;
  presetMin: number;
  presetMax: number;
}

// ---------------------------------------------------------------------------------------------
// Probe: getCurrentProtocolCaps once per camera entry; ErrorID 3 (N/A) means no PTZ head

const capsCache = new WeakMap<CameraEntry, Promise<Caps | null>>();

function capsOf(entry: CameraEntry): Promise<Caps | null> {
  let probe = capsCache.get(entry);
  if (!probe) {
    probe = entry.camera.call(PTZ, [['action', 'getCurrentProtocolCaps'], ['channel', CHANNEL]]).then(
      (body) => {
        const { doc } = parseKeyValue(body);
        // The document's own example bounds the presets when the camera leaves them out.
        return { name: textOf(doc.Name)?.trim().slice(0, 64) || undefined, presetMin: numberOf(doc.PresetMin) ?? 1, presetMax: numberOf(doc.PresetMax) ?? 80 };
      },
      (err: unknown) => {
        if (isProblem(err) && err.code === 'NOT_SUPPORTED_BY_MODEL') return null;
        // Transport trouble is not an answer: ask again next time.
        capsCache.delete(entry);
        throw err;
      },
    );
    capsCache.set(entry, probe);
  }
  return probe;
}

/** Whether this camera has a PTZ head; a camera that cannot be reached now counts as without (not cached). */
async function hasPtz(entry: CameraEntry): Promise<boolean> {
  try {
    return (await capsOf(entry)) !== null;
  } catch {
    return false;
  }
}

async function caps(ctx: OnvifContext): Promise<Caps> {
  const c = await capsOf(ctx.entry);
  if (!c) throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], 'this camera has no PTZ head');
  return c;
}

/** A move takes a 'ptz' token of the gateway's limiter, shared with REST; stops never do (a head must always be stoppable). */
function takeMoveToken(ctx: OnvifContext): void {
  if (!ctx.rateLimiter || !ctx.principal) return;
  const r = ctx.rateLimiter.take('ptz', rateLimitUser(ctx.principal), ctx.entry.id);
  if (!r.ok) throw new OnvifFault('Receiver', ['ter:Action'], `too many PTZ moves: retry in ${r.retryAfterSeconds} s`);
}

function checkProfile(request: XmlNode): void {
  const token = child(request, 'ProfileToken')?.text ?? '';
  if (!PROFILE.test(token)) throw invalidArg(`no media profile '${token.slice(0, 64)}'`, 'ter:NoProfile');
}

async function control(ctx: OnvifContext, action: 'start' | 'stop', code: string, args: [number, number, number, number?] = [0, 0, 0], signal: AbortSignal | undefined = ctx.signal): Promise<void> {
  const params: Array<[string, string]> = [['action', action], ['channel', CHANNEL], ['code', code]];
  args.forEach((a, i) => {
    if (a !== undefined) params.push([`arg${i + 1}`, cameraNumber(a)]);
  });
  await ctx.entry.camera.call(PTZ, params, signal ? { signal } : {});
}

// ---------------------------------------------------------------------------------------------
// Positions: the camera's degrees and magnification <-> the generic spaces

interface Position { pan: number; tilt: number; zoom: number }

const round4 = (v: number): number => Math.round(v * 10_000) / 10_000;
const clamp = (v: number, min: number, max: number): number => Math.min(max, Math.max(min, v));
const toX = (pan: number): number => round4(pan / (PAN_DEGREES / 2) - 1);
const toY = (tilt: number): number => round4(1 - tilt / (TILT_DEGREES / 2));
const toZoom = (m: number): number => round4(clamp((m - 1) / (ZOOM_MAX - 1), 0, 1));
const fromX = (x: number): number => (x + 1) * (PAN_DEGREES / 2);
const fromY = (y: number): number => (1 - y) * (TILT_DEGREES / 2);
const fromZoom = (z: number): number => 1 + z * (ZOOM_MAX - 1);
const wrapPan = (pan: number): number => ((pan % PAN_DEGREES) + PAN_DEGREES) % PAN_DEGREES;

interface Status { position: Position | undefined; move: string | undefined; zoom: string | undefined }

async function status(ctx: OnvifContext): Promise<Status> {
  const body = await ctx.entry.camera.call(PTZ, [['action', 'getStatus'], ['channel', CHANNEL]], { signal: ctx.signal });
  const { doc } = parseKeyValue(body);
  const parts = (textOf(doc.Position) ?? '').split(',').map((p) => numberOf(p));
  const [pan, tilt, zoom] = parts;
  return {
    position: parts.length === 3 && pan !== undefined && tilt !== undefined && zoom !== undefined ? { pan, tilt, zoom } : undefined,
    move: textOf(doc.MoveStatus)?.trim(),
    zoom: textOf(doc.ZoomStatus)?.trim(),
  };
}

function moveStatus(s: string | undefined): string {
  if (s === undefined) return 'UNKNOWN';
  return /^idle$/i.test(s) ? 'IDLE' : /^(moving|zooming)$/i.test(s) ? 'MOVING' : 'UNKNOWN';
}

/** A tt:Vector2D / tt:Vector1D of a request, checked against its space and range. */
function vector(node: XmlNode | undefined, space: string, what: string, x: [number, number], y?: [number, number], subcode = 'ter:InvalidPosition'): { x: number; y: number } | undefined {
  if (!node) return undefined;
  const given = node.attrs.get('space');
  if (given !== undefined && given !== space) throw invalidArg(`${what}: space ${given.slice(0, 100)} is not supported (use ${space})`, 'ter:SpaceNotSupported');
  const vx = floatAttr(node, 'x', `${what} x`);
  const vy = y ? floatAttr(node, 'y', `${what} y`) : 0;
  if (vx === undefined || vy === undefined) throw invalidArg(`${what} needs ${y ? 'x and y' : 'x'}`);
  if (vx < x[0] || vx > x[1] || (y && (vy < y[0] || vy > y[1]))) throw invalidArg(`${what} (${vx}${y ? `, ${vy}` : ''}) is outside the space`, subcode);
  return { x: vx, y: vy };
}

/** Speed 0..1 (GenericSpeedSpace) as the camera's 1-8; undefined when not given. */
function speedOf(request: XmlNode): number | undefined {
  const pt = vector(child(child(request, 'Speed'), 'PanTilt'), SPACES.panTiltSpeed, 'Speed PanTilt', [0, 1], [0, 1], 'ter:InvalidSpeed');
  if (!pt) return undefined;
  return clamp(Math.round(Math.max(pt.x, pt.y) * SPEED_MAX), 1, SPEED_MAX);
}

async function positionAbs(ctx: OnvifContext, target: Position, speed: number | undefined): Promise<void> {
  const args: [number, number, number, number?] = [
    Math.round(clamp(target.pan, 0, PAN_DEGREES) * 100) / 100,
    Math.round(clamp(target.tilt, 0, TILT_DEGREES) * 100) / 100,
    Math.round(clamp(target.zoom, 1, ZOOM_MAX) * 100) / 100,
  ];
  if (speed !== undefined) args.push(speed);
  await control(ctx, 'start', 'PositionABS', args);
}

async function currentPosition(ctx: OnvifContext): Promise<Position> {
  const s = await status(ctx);
  if (!s.position) throw new OnvifFault('Receiver', [], 'the camera did not report its position');
  return s.position;
}

// ---------------------------------------------------------------------------------------------
// Continuous moves: what runs per camera, a stop after the timeout, one command at a time

interface Motion {
  entry: CameraEntry;
  panTilt: string | undefined;
  zoom: string | undefined;
  timer: NodeJS.Timeout | undefined;
  queue: Promise<unknown>;
}

const motions = new WeakMap<CameraEntry, Motion>();
// Cameras with a move running (a stop pending), for close().
const moving = new Set<Motion>();

function motionOf(entry: CameraEntry): Motion {
  let m = motions.get(entry);
  if (!m) {
    m = { entry, panTilt: undefined, zoom: undefined, timer: undefined, queue: Promise.resolve() };
    motions.set(entry, m);
  }
  return m;
}

/** Runs camera commands of one camera in order: a Stop never overtakes the start it ends. */
function serial<T>(m: Motion, fn: () => Promise<T>): Promise<T> {
  const run = m.queue.then(fn, fn);
  m.queue = run.catch(() => undefined);
  return run;
}

const DIRECTIONS: Record<string, string> = { '1,0': 'Right', '-1,0': 'Left', '0,1': 'Up', '0,-1': 'Down', '1,1': 'RightUp', '-1,1': 'LeftUp', '1,-1': 'RightDown', '-1,-1': 'LeftDown' };

const speedStep = (v: number): number => (v === 0 ? 0 : clamp(Math.round(Math.abs(v) * SPEED_MAX), 1, SPEED_MAX));

/** The direction code and its arguments for a velocity (vendor Table 4-125: arg1 vertical, arg2 horizontal speed on diagonals; arg2 the speed otherwise). */
function directionOf(x: number, y: number): { code: string; args: [number, number, number] } | undefined {
  const sx = speedStep(x);
  const sy = speedStep(y);
  if (sx === 0 && sy === 0) return undefined;
  const code = DIRECTIONS[`${sx === 0 ? 0 : Math.sign(x)},${sy === 0 ? 0 : Math.sign(y)}`]!;
  if (sx !== 0 && sy !== 0) return { code, args: [sy, sx, 0] };
  return { code, args: [0, sx || sy, 0] };
}

async function stopAxes(ctx: OnvifContext, m: Motion, panTilt: boolean, zoom: boolean, signal?: AbortSignal): Promise<void> {
  if (panTilt && m.panTilt) {
    const code = m.panTilt;
    m.panTilt = undefined;
    await control(ctx, 'stop', code, [0, 0, 0], signal);
  }
  if (zoom && m.zoom) {
    const code = m.zoom;
    m.zoom = undefined;
    await control(ctx, 'stop', code, [0, 0, 0], signal);
  }
  if (!m.panTilt && !m.zoom) {
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    moving.delete(m);
  }
}

async function continuousMove(request: XmlNode, ctx: OnvifContext): Promise<XmlChild> {
  checkProfile(request);
  const velocity = child(request, 'Velocity');
  if (!velocity) throw invalidArg('Velocity is missing');
  const pt = vector(child(velocity, 'PanTilt'), SPACES.continuousPanTilt, 'Velocity PanTilt', [-1, 1], [-1, 1], 'ter:InvalidVelocity');
  const zoom = vector(child(velocity, 'Zoom'), SPACES.continuousZoom, 'Velocity Zoom', [-1, 1], undefined, 'ter:InvalidVelocity');
  const timeoutText = child(request, 'Timeout')?.text;
  const timeout = timeoutText === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(timeoutText);
  if (timeout === undefined) throw invalidArg(`Timeout '${timeoutText!.slice(0, 40)}' is not an xs:duration`);
  const runFor = clamp(timeout, TIMEOUT_RANGE_MS.min, TIMEOUT_RANGE_MS.max);
  await caps(ctx);
  // A zero velocity only stops: no token.
  if ((pt && (pt.x !== 0 || pt.y !== 0)) || (zoom && zoom.x !== 0)) takeMoveToken(ctx);
  const m = motionOf(ctx.entry);
  await serial(m, async () => {
    if (pt) {
      const dir = directionOf(pt.x, pt.y);
      if (m.panTilt && m.panTilt !== dir?.code) await stopAxes(ctx, m, true, false);
      if (dir) {
        await control(ctx, 'start', dir.code, dir.args);
        m.panTilt = dir.code;
      }
    }
    if (zoom) {
      // ZoomTele / ZoomWide take no speed (vendor Table 4-125): only the sign of the velocity counts.
      const code = zoom.x > 0 ? 'ZoomTele' : zoom.x < 0 ? 'ZoomWide' : undefined;
      if (m.zoom && m.zoom !== code) await stopAxes(ctx, m, false, true);
      if (code) {
        await control(ctx, 'start', code);
        m.zoom = code;
      }
    }
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    if (m.panTilt || m.zoom) {
      const { entry, logger } = ctx;
      // The stop after Timeout outlives this request: it has no client signal.
      m.timer = setTimeout(() => {
        m.timer = undefined;
        serial(m, () => stopAxes(ctx, m, true, true, AbortSignal.timeout(10_000))).catch((err: unknown) => logger.warn({ camera: entry.id, err }, 'PTZ stop after the ContinuousMove timeout failed'));
      }, runFor);
      m.timer.unref();
      moving.add(m);
    }
  });
  return el('tptz:ContinuousMoveResponse');
}

// ---------------------------------------------------------------------------------------------
// Presets (numbered on the camera; the token is the number) and the home position

async function presets(ctx: OnvifContext): Promise<Array<{ index: number; name: string | undefined }>> {
  const body = await ctx.entry.camera.call(PTZ, [['action', 'getPresets'], ['channel', CHANNEL]], { signal: ctx.signal });
  const { doc } = parseKeyValue(body);
  const list = nodeAt(doc, 'presets.presets');
  if (!Array.isArray(list)) return [];
  const out: Array<{ index: number; name: string | undefined }> = [];
  for (const item of list) {
    const p = objectAt(item, '');
    const index = numberOf(p?.Index);
    if (index !== undefined) out.push({ index, name: textOf(p?.Name)?.trim() });
  }
  return out;
}

function presetNumber(request: XmlNode, c: Caps): number | undefined {
  const token = child(request, 'PresetToken')?.text;
  if (token === undefined) return undefined;
  const n = /^\d{1,5}$/.test(token) ? Number(token) : NaN;
  if (!(n >= c.presetMin && n <= c.presetMax)) throw invalidArg(`no preset '${token.slice(0, 64)}' (the camera numbers them ${c.presetMin}..${c.presetMax})`, 'ter:NoToken');
  return n;
}

async function existingPreset(request: XmlNode, ctx: OnvifContext): Promise<number> {
  const c = await caps(ctx);
  const n = presetNumber(request, c);
  if (n === undefined) throw invalidArg('PresetToken is missing', 'ter:NoToken');
  if (!(await presets(ctx)).some((p) => p.index === n)) throw invalidArg(`no preset '${n}'`, 'ter:NoToken');
  return n;
}

/** The home position is the preset the camera returns to when idle (Ptz[0].Homing[0], vendor §4.10.1). */
async function homePreset(ctx: OnvifContext, c: Caps): Promise<number | undefined> {
  let doc: CgiDoc;
  try {
    doc = await ctx.entry.camera.getConfig('Ptz', { signal: ctx.signal });
  } catch (err) {
    if (isProblem(err) && (err.code === 'NOT_SUPPORTED_BY_MODEL' || err.code === 'CAMERA_REJECTED')) return undefined;
    throw err;
  }
  const n = numberOf(nodeAt(doc, 'Ptz[0].Homing[0]'));
  return n !== undefined && Number.isInteger(n) && n >= c.presetMin && n <= c.presetMax ? n : undefined;
}

async function requireHome(ctx: OnvifContext): Promise<number> {
  const home = await homePreset(ctx, await caps(ctx));
  if (home === undefined) throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], 'the camera has no home preset (Ptz Homing is off)');
  return home;
}

// ---------------------------------------------------------------------------------------------
// Node and configuration

const range = (name: string, min: number, max: number): XmlChild => el(name, [el('tt:Min', min), el('tt:Max', max)]);
const space2 = (name: string, uri: string, x: [number, number], y: [number, number]): XmlChild => el(name, [el('tt:URI', uri), range('tt:XRange', ...x), range('tt:YRange', ...y)]);
const space1 = (name: string, uri: string, x: [number, number]): XmlChild => el(name, [el('tt:URI', uri), range('tt:XRange', ...x)]);

function spaces(): XmlChild[] {
  return [
    space2('tt:AbsolutePanTiltPositionSpace', SPACES.absolutePanTilt, [-1, 1], [-1, 1]),
    space1('tt:AbsoluteZoomPositionSpace', SPACES.absoluteZoom, [0, 1]),
    space2('tt:RelativePanTiltTranslationSpace', SPACES.relativePanTilt, [-1, 1], [-1, 1]),
    space1('tt:RelativeZoomTranslationSpace', SPACES.relativeZoom, [-1, 1]),
    space2('tt:ContinuousPanTiltVelocitySpace', SPACES.continuousPanTilt, [-1, 1], [-1, 1]),
    space1('tt:ContinuousZoomVelocitySpace', SPACES.continuousZoom, [-1, 1]),
    space1('tt:PanTiltSpeedSpace', SPACES.panTiltSpeed, [0, 1]),
    space1('tt:ZoomSpeedSpace', SPACES.zoomSpeed, [0, 1]),
  ];
}

async function node(ctx: OnvifContext, name: string): Promise<XmlChild> {
  const c = await caps(ctx);
  const home = await homePreset(ctx, c);
  return el(
    name,
    [
      opt('tt:Name', c.name),
      el('tt:SupportedPTZSpaces', spaces()),
      el('tt:MaximumNumberOfPresets', c.presetMax - c.presetMin + 1),
      el('tt:HomeSupported', home !== undefined),
    ],
    { token: PTZ_NODE_TOKEN, FixedHomePosition: home === undefined ? undefined : false },
  );
}

/** The media profiles that carry this configuration: the main stream and each extra stream (Encode, vendor §4.5.5). */
async function useCount(ctx: OnvifContext): Promise<number> {
  const encode = await ctx.entry.camera.getConfig('Encode', { signal: ctx.signal });
  const extra = nodeAt(encode, 'Encode[0].ExtraFormat');
  return 1 + (Array.isArray(extra) ? extra.filter((x) => x !== null).length : 0);
}

/** The one PTZ configuration, as GetConfigurations answers it (name: tt:PTZConfiguration or tptz:PTZConfiguration). */
async function ptzConfiguration(ctx: OnvifContext, name = 'tt:PTZConfiguration'): Promise<XmlChild> {
  await caps(ctx);
  return el(
    name,
    [
      el('tt:Name', PTZ_CONFIG_TOKEN),
      el('tt:UseCount', await useCount(ctx)),
      el('tt:NodeToken', PTZ_NODE_TOKEN),
      // "Pant" is the schema's own spelling.
      el('tt:DefaultAbsolutePantTiltPositionSpace', SPACES.absolutePanTilt),
      el('tt:DefaultAbsoluteZoomPositionSpace', SPACES.absoluteZoom),
      el('tt:DefaultRelativePanTiltTranslationSpace', SPACES.relativePanTilt),
      el('tt:DefaultRelativeZoomTranslationSpace', SPACES.relativeZoom),
      el('tt:DefaultContinuousPanTiltVelocitySpace', SPACES.continuousPanTilt),
      el('tt:DefaultContinuousZoomVelocitySpace', SPACES.continuousZoom),
      el('tt:DefaultPTZSpeed', [el('tt:PanTilt', undefined, { x: 0.5, y: 0.5, space: SPACES.panTiltSpeed }), el('tt:Zoom', undefined, { x: 0.5, space: SPACES.zoomSpeed })]),
      el('tt:DefaultPTZTimeout', formatDuration(DEFAULT_TIMEOUT_MS)),
      el('tt:PanTiltLimits', space2('tt:Range', SPACES.absolutePanTilt, [-1, 1], [-1, 1])),
      el('tt:ZoomLimits', space1('tt:Range', SPACES.absoluteZoom, [0, 1])),
    ],
    { token: PTZ_CONFIG_TOKEN },
  );
}

function checkConfigToken(request: XmlNode, element: string): void {
  const token = child(request, element)?.text ?? '';
  if (token !== PTZ_CONFIG_TOKEN) throw invalidArg(`no PTZ configuration '${token.slice(0, 64)}'`, 'ter:NoConfig');
}

// ---------------------------------------------------------------------------------------------
// Operations

const operations: OnvifOperation[] = [
  {
    name: 'GetServiceCapabilities',
    access: 'preauth',
    handle: async (_req, ctx) => el('tptz:GetServiceCapabilitiesResponse', await ptzService.capabilities(ctx)),
  },
  { name: 'GetNodes', access: 'viewer', handle: async (_req, ctx) => el('tptz:GetNodesResponse', await node(ctx, 'tptz:PTZNode')) },
  {
    name: 'GetNode',
    access: 'viewer',
    handle: async (req, ctx) => {
      const token = child(req, 'NodeToken')?.text ?? '';
      if (token !== PTZ_NODE_TOKEN) throw invalidArg(`no PTZ node '${token.slice(0, 64)}'`, 'ter:NoEntity');
      return el('tptz:GetNodeResponse', await node(ctx, 'tptz:PTZNode'));
    },
  },
  { name: 'GetConfigurations', access: 'viewer', handle: async (_req, ctx) => el('tptz:GetConfigurationsResponse', await ptzConfiguration(ctx, 'tptz:PTZConfiguration')) },
  {
    name: 'GetConfiguration',
    access: 'viewer',
    handle: async (req, ctx) => {
      checkConfigToken(req, 'PTZConfigurationToken');
      return el('tptz:GetConfigurationResponse', await ptzConfiguration(ctx, 'tptz:PTZConfiguration'));
    },
  },
  {
    name: 'GetConfigurationOptions',
    access: 'viewer',
    handle: async (req, ctx) => {
      checkConfigToken(req, 'ConfigurationToken');
      await caps(ctx);
      return el(
        'tptz:GetConfigurationOptionsResponse',
        el('tptz:PTZConfigurationOptions', [
          el('tt:Spaces', spaces()),
          el('tt:PTZTimeout', [el('tt:Min', formatDuration(TIMEOUT_RANGE_MS.min)), el('tt:Max', formatDuration(TIMEOUT_RANGE_MS.max))]),
        ]),
      );
    },
  },
  { name: 'ContinuousMove', access: 'operator', handle: continuousMove },
  {
    name: 'Stop',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const panTilt = boolText(child(req, 'PanTilt')) ?? true;
      const zoom = boolText(child(req, 'Zoom')) ?? true;
      await caps(ctx);
      const m = motionOf(ctx.entry);
      await serial(m, () => stopAxes(ctx, m, panTilt, zoom));
      return el('tptz:StopResponse');
    },
  },
  {
    name: 'AbsoluteMove',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const position = child(req, 'Position');
      const pt = vector(child(position, 'PanTilt'), SPACES.absolutePanTilt, 'Position PanTilt', [-1, 1], [-1, 1]);
      const zoom = vector(child(position, 'Zoom'), SPACES.absoluteZoom, 'Position Zoom', [0, 1]);
      if (!pt && !zoom) throw invalidArg('Position needs PanTilt or Zoom', 'ter:InvalidPosition');
      const speed = speedOf(req);
      await caps(ctx);
      takeMoveToken(ctx);
      // PositionABS sets all three: an axis the client leaves out stays where it is.
      const now = pt && zoom ? undefined : await currentPosition(ctx);
      await positionAbs(ctx, { pan: pt ? fromX(pt.x) : now!.pan, tilt: pt ? fromY(pt.y) : now!.tilt, zoom: zoom ? fromZoom(zoom.x) : now!.zoom }, speed);
      return el('tptz:AbsoluteMoveResponse');
    },
  },
  {
    name: 'RelativeMove',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const translation = child(req, 'Translation');
      const pt = vector(child(translation, 'PanTilt'), SPACES.relativePanTilt, 'Translation PanTilt', [-1, 1], [-1, 1], 'ter:InvalidTranslation');
      const zoom = vector(child(translation, 'Zoom'), SPACES.relativeZoom, 'Translation Zoom', [-1, 1], undefined, 'ter:InvalidTranslation');
      if (!pt && !zoom) throw invalidArg('Translation needs PanTilt or Zoom', 'ter:InvalidTranslation');
      const speed = speedOf(req);
      await caps(ctx);
      takeMoveToken(ctx);
      const now = await currentPosition(ctx);
      await positionAbs(
        ctx,
        {
          pan: wrapPan(now.pan + (pt?.x ?? 0) * (PAN_DEGREES / 2)),
          tilt: clamp(now.tilt - (pt?.y ?? 0) * (TILT_DEGREES / 2), 0, TILT_DEGREES),
          zoom: clamp(now.zoom + (zoom?.x ?? 0) * (ZOOM_MAX - 1), 1, ZOOM_MAX),
        },
        speed,
      );
      return el('tptz:RelativeMoveResponse');
    },
  },
  {
    name: 'GetStatus',
    access: 'viewer',
    handle: async (req, ctx) => {
      checkProfile(req);
      await caps(ctx);
      const s = await status(ctx);
      const p = s.position;
      return el(
        'tptz:GetStatusResponse',
        el('tptz:PTZStatus', [
          p
            ? el('tt:Position', [
                el('tt:PanTilt', undefined, { x: toX(wrapPan(p.pan)), y: toY(clamp(p.tilt, 0, TILT_DEGREES)), space: SPACES.absolutePanTilt }),
                el('tt:Zoom', undefined, { x: toZoom(p.zoom), space: SPACES.absoluteZoom }),
              ])
            : undefined,
          el('tt:MoveStatus', [el('tt:PanTilt', moveStatus(s.move)), el('tt:Zoom', moveStatus(s.zoom))]),
          // The camera's status.UTC is a counter, not a time (the document's example is 6538920).
          el('tt:UtcTime', utcDateTime(ctx.now())),
        ]),
      );
    },
  },
  {
    name: 'GetPresets',
    access: 'viewer',
    handle: async (req, ctx) => {
      checkProfile(req);
      await caps(ctx);
      const list = await presets(ctx);
      return el('tptz:GetPresetsResponse', list.map((p) => el('tptz:Preset', opt('tt:Name', p.name?.slice(0, 64)), { token: String(p.index) })));
    },
  },
  {
    name: 'SetPreset',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const c = await caps(ctx);
      let n = presetNumber(req, c);
      const existing = await presets(ctx);
      if (n !== undefined && !existing.some((p) => p.index === n)) throw invalidArg(`no preset '${n}' to overwrite`, 'ter:NoToken');
      if (n === undefined) {
        const used = new Set(existing.map((p) => p.index));
        for (let i = c.presetMin; i <= c.presetMax && n === undefined; i++) if (!used.has(i)) n = i;
        if (n === undefined) throw new OnvifFault('Receiver', ['ter:Action', 'ter:TooManyPresets'], `all ${c.presetMax - c.presetMin + 1} presets are in use`);
      }
      // ptz.cgi SetPreset stores a position under a number; the camera names presets itself, so a
      // PresetName is not stored (GetPresets shows the camera's name).
      await control(ctx, 'start', 'SetPreset', [0, n, 0]);
      return el('tptz:SetPresetResponse', el('tptz:PresetToken', String(n)));
    },
  },
  {
    name: 'RemovePreset',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const n = await existingPreset(req, ctx);
      await control(ctx, 'start', 'ClearPreset', [0, n, 0]);
      return el('tptz:RemovePresetResponse');
    },
  },
  {
    name: 'GotoPreset',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const n = await existingPreset(req, ctx);
      takeMoveToken(ctx);
      await control(ctx, 'start', 'GotoPreset', [0, n, 0]);
      return el('tptz:GotoPresetResponse');
    },
  },
  {
    name: 'GotoHomePosition',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const home = await requireHome(ctx);
      if (!(await presets(ctx)).some((p) => p.index === home)) throw new OnvifFault('Receiver', ['ter:Action', 'ter:NoHomePosition'], `the home preset ${home} is not set`);
      takeMoveToken(ctx);
      await control(ctx, 'start', 'GotoPreset', [0, home, 0]);
      return el('tptz:GotoHomePositionResponse');
    },
  },
  {
    name: 'SetHomePosition',
    access: 'operator',
    handle: async (req, ctx) => {
      checkProfile(req);
      const home = await requireHome(ctx);
      await control(ctx, 'start', 'SetPreset', [0, home, 0]);
      return el('tptz:SetHomePositionResponse');
    },
  },
];

export const ptzService: OnvifService = {
  key: 'ptz',
  ns: NS.tptz,
  path: 'ptz_service',
  version: { major: 2, minor: 6 },
  available: (ctx) => hasPtz(ctx.entry),
  capabilities: async () => el('tptz:Capabilities', undefined, { EFlip: false, Reverse: false, GetCompatibleConfigurations: false, MoveStatus: true, StatusPosition: true }),
  operations,
  close: async (entry) => {
    // A head left moving by a pending timeout is stopped now rather than never.
    for (const m of [...moving]) {
      if (entry && m.entry !== entry) continue;
      moving.delete(m);
      if (m.timer) clearTimeout(m.timer);
      m.timer = undefined;
      const codes = [m.panTilt, m.zoom];
      m.panTilt = undefined;
      m.zoom = undefined;
      for (const code of codes) {
        if (code) await m.entry.camera.call(PTZ, [['action', 'stop'], ['channel', CHANNEL], ['code', code], ['arg1', '0'], ['arg2', '0'], ['arg3', '0']], { signal: AbortSignal.timeout(3_000) }).catch(() => undefined);
      }
    }
  },
};
