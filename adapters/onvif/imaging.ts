// ONVIF Imaging (ver20) over the camera's picture tables: VideoColor (§4.5.2), VideoInOptions
// (§4.5.15), VideoInSharpness (§5.1.3), VideoInFocus (§5.1.1), and the lens CGIs of
// devVideoInput.cgi (§4.5.11-4.5.14) for focus moves. Values keep the camera's own scales (0..100,
// sharpness 0..15); GetOptions says so.
import type { CgiDoc, CgiNode } from '../cgi/codec.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { isProblem } from '../../gateway/problems.ts';
import { boolOf, cameraNumber, floatOf, nodeAt, numberOf, objectAt, textOf } from './camera-values.ts';
import { tokens } from './media-model.ts';
import type { OnvifContext, OnvifOperation, OnvifService } from './service.ts';
import { invalidArg, NS, OnvifFault } from './soap.ts';
import { child, el, opt, type XmlChild, type XmlNode } from './xml.ts';

const CONFIG = '/cgi-bin/configManager.cgi';
const LENS = '/cgi-bin/devVideoInput.cgi';

// Ranges of the vendor tables: VideoColor 0-100 (Saturation has no printed range: the same scale),
// Sharpness 0-15, gains 0-100, exposure values 0.1-80 ms (ONVIF speaks microseconds); the
// document's own examples send and show ExposureValue1=0, so 0 is taken too.
const PERCENT = { min: 0, max: 100 };
const SHARPNESS = { min: 0, max: 15 };
const EXPOSURE_US = { min: 0, max: 80_000 };
// Focus positions and speeds of adjustFocus / adjustFocusContinuously: 0..1 and -1 < speed < 1.
const FOCUS_POSITION = { min: 0, max: 1 };
const FOCUS_SPEED = { min: -1, max: 1 };
// adjustFocusContinuously takes -1 < focus < 1 (open): full speed is sent as this.
const FOCUS_SPEED_LIMIT = 0.99;

const AUTO_WHITE_BALANCE = new Set(['Auto', 'ATW', 'AutoOutdoor']);
const CUSTOM_WHITE_BALANCE = new Set(['Custom', 'Manual']);
const IR_CUT_BY_DAY_NIGHT: Record<string, string> = { '0': 'ON', '1': 'AUTO', '2': 'OFF' };
const DAY_NIGHT_BY_IR_CUT: Record<string, string> = { ON: '0', AUTO: '1', OFF: '2' };

function settingsInvalid(reason: string): OnvifFault {
  return invalidArg(reason, 'ter:SettingsInvalid');
}

/** The 0-based channel of a `VideoSourceToken` element (the Media services' `VideoSource_1`), or `ter:NoSource`. */
function channelOf(request: XmlNode): number {
  const token = child(request, 'VideoSourceToken')?.text ?? '';
  const m = /^VideoSource_([1-9]\d{0,2})$/.exec(token);
  if (!m) throw invalidArg(`no video source '${token.slice(0, 64)}'`, 'ter:NoSource');
  return Number(m[1]) - 1;
}

/**
 * The settings in force: the tables keep day, night and normal variants. VideoInOptions has the day
 * set at its top level and NightOptions / NormalOptions; the ConfigNo of VideoInSharpness and
 * VideoInFocus counts 0 normal, 1 day, 2 night. NightOptions.SwitchMode 3 and 4 pin the night and
 * normal sets; otherwise (no switch, or switching by brightness or time) the day set is written.
 */
interface Profile {
  configNo: number;
  options: '' | 'NightOptions' | 'NormalOptions';
}

function profileOf(vio: Record<string, CgiNode>): Profile {
  const mode = numberOf(nodeAt(vio, 'NightOptions.SwitchMode'));
  if (mode === 3) return { configNo: 2, options: 'NightOptions' };
  if (mode === 4) return { configNo: 0, options: 'NormalOptions' };
  return { configNo: 1, options: '' };
}

interface Tables {
  ch: number;
  docs: Record<string, CgiDoc>;
  color: Record<string, CgiNode>;
  colorKey: string;
  options: Record<string, CgiNode>;
  optionsKey: string;
  sharpness: Record<string, CgiNode> | undefined;
  sharpnessKey: string;
  focus: Record<string, CgiNode> | undefined;
  focusKey: string;
}

/** A table this model may not have: NOT_SUPPORTED_BY_MODEL and "no such table" read as absent. */
async function optionalConfig(entry: CameraEntry, name: string, signal: AbortSignal): Promise<CgiDoc | undefined> {
  try {
    return await entry.camera.getConfig(name, { signal });
  } catch (err) {
    if (isProblem(err) && (err.code === 'NOT_SUPPORTED_BY_MODEL' || err.code === 'CAMERA_REJECTED')) return undefined;
    throw err;
  }
}

async function readTables(ctx: OnvifContext, ch: number): Promise<Tables> {
  const { entry, signal } = ctx;
  const [color, vio, sharp, focus] = await Promise.all([
    entry.camera.getConfig('VideoColor', { signal }),
    entry.camera.getConfig('VideoInOptions', { signal }),
    optionalConfig(entry, 'VideoInSharpness', signal),
    optionalConfig(entry, 'VideoInFocus', signal),
  ]);
  const channelColors = nodeAt(color, `VideoColor[${ch}]`);
  const options = objectAt(vio, `VideoInOptions[${ch}]`);
  if (!Array.isArray(channelColors) || !options) throw invalidArg(`no video source '${tokens.videoSource(ch + 1)}'`, 'ter:NoSource');
  // The colour config whose time section is in force (mask 1), else the first.
  let colorNo = channelColors.findIndex((c) => textOf(objectAt(c, '')?.TimeSection)?.trim().startsWith('1') === true);
  if (colorNo < 0) colorNo = 0;
  const profile = profileOf(options);
  const optionsKey = `VideoInOptions[${ch}]${profile.options ? `.${profile.options}` : ''}`;
  const sharpnessKey = `VideoInSharpness[${ch}][${profile.configNo}]`;
  const focusKey = `VideoInFocus[${ch}][${profile.configNo}]`;
  const docs: Record<string, CgiDoc> = { VideoColor: color, VideoInOptions: vio };
  if (sharp) docs.VideoInSharpness = sharp;
  if (focus) docs.VideoInFocus = focus;
  return {
    ch,
    docs,
    color: objectAt(color, `VideoColor[${ch}][${colorNo}]`) ?? {},
    colorKey: `VideoColor[${ch}][${colorNo}]`,
    options: (profile.options ? objectAt(options, profile.options) : options) ?? {},
    optionsKey,
    sharpness: sharp ? objectAt(sharp, sharpnessKey) : undefined,
    sharpnessKey,
    focus: focus ? objectAt(focus, focusKey) : undefined,
    focusKey,
  };
}

// ---------------------------------------------------------------------------------------------
// Reading: the tables as tt:ImagingSettings20 (XSD order)

function exposureMode(o: Record<string, CgiNode>): 'AUTO' | 'MANUAL' | undefined {
  const mode = numberOf(o.ExposureMode);
  if (mode !== undefined) return mode === 4 ? 'MANUAL' : 'AUTO';
  // The day set of the document's example has no ExposureMode: ExposureSpeed 0 is auto exposure.
  const speed = numberOf(o.ExposureSpeed);
  return speed === undefined ? undefined : speed === 0 ? 'AUTO' : 'MANUAL';
}

const us = (ms: number | undefined): number | undefined => (ms === undefined ? undefined : Math.round(ms * 1000));

function exposureOf(o: Record<string, CgiNode>): XmlChild {
  const mode = exposureMode(o);
  if (!mode) return undefined;
  const v1 = us(numberOf(o.ExposureValue1));
  const v2 = us(numberOf(o.ExposureValue2));
  const gain = numberOf(o.Gain);
  const auto = mode === 'AUTO';
  const maxGain = numberOf(o.GainMax) ?? (boolOf(o.GainAuto) !== false ? gain : undefined);
  return el('tt:Exposure', [
    el('tt:Mode', mode),
    opt('tt:Priority', numberOf(o.ExposureMode) === 1 ? 'LowNoise' : undefined),
    opt('tt:MinExposureTime', auto ? v1 : undefined),
    opt('tt:MaxExposureTime', auto ? v2 : undefined),
    opt('tt:MinGain', auto ? numberOf(o.GainMin) : undefined),
    opt('tt:MaxGain', auto ? maxGain : undefined),
    opt('tt:ExposureTime', auto ? undefined : v1),
    opt('tt:Gain', auto ? undefined : gain),
  ]);
}

function whiteBalanceOf(o: Record<string, CgiNode>): XmlChild {
  const wb = textOf(o.WhiteBalance)?.trim();
  if (!wb) return undefined;
  const auto = AUTO_WHITE_BALANCE.has(wb);
  const custom = CUSTOM_WHITE_BALANCE.has(wb);
  return el('tt:WhiteBalance', [
    el('tt:Mode', auto ? 'AUTO' : 'MANUAL'),
    opt('tt:CrGain', custom ? numberOf(o.GainRed) : undefined),
    opt('tt:CbGain', custom ? numberOf(o.GainBlue) : undefined),
  ]);
}

function settingsOf(t: Tables): XmlChild[] {
  const o = t.options;
  const backlight = numberOf(o.Backlight);
  const focusMode = numberOf(t.focus?.Mode);
  const wdr = numberOf(o.WideDynamicRangeMode);
  return [
    backlight === undefined ? undefined : el('tt:BacklightCompensation', [el('tt:Mode', backlight > 0 ? 'ON' : 'OFF'), opt('tt:Level', backlight > 0 ? backlight : undefined)]),
    opt('tt:Brightness', numberOf(t.color.Brightness)),
    opt('tt:ColorSaturation', numberOf(t.color.Saturation)),
    opt('tt:Contrast', numberOf(t.color.Contrast)),
    exposureOf(o),
    focusMode === undefined ? undefined : el('tt:Focus', el('tt:AutoFocusMode', focusMode === 2 ? 'AUTO' : 'MANUAL')),
    // The IR cut filter is in (ON) for colour, out (OFF) for monochrome.
    opt('tt:IrCutFilter', IR_CUT_BY_DAY_NIGHT[textOf(o.DayNightColor)?.trim() ?? '']),
    opt('tt:Sharpness', numberOf(t.sharpness?.Sharpness)),
    wdr === undefined ? undefined : el('tt:WideDynamicRange', el('tt:Mode', wdr !== 0 ? 'ON' : 'OFF')),
    whiteBalanceOf(o),
  ];
}

function range(name: string, r: { min: number; max: number }): XmlChild {
  return el(name, [el('tt:Min', r.min), el('tt:Max', r.max)]);
}

function optionsOf(t: Tables): XmlChild[] {
  const o = t.options;
  const auto = exposureMode(o);
  const has = (k: string): boolean => o[k] !== undefined;
  return [
    has('Backlight') ? el('tt:BacklightCompensation', [el('tt:Mode', 'OFF'), el('tt:Mode', 'ON')]) : undefined,
    t.color.Brightness !== undefined ? range('tt:Brightness', PERCENT) : undefined,
    t.color.Saturation !== undefined ? range('tt:ColorSaturation', PERCENT) : undefined,
    t.color.Contrast !== undefined ? range('tt:Contrast', PERCENT) : undefined,
    auto === undefined
      ? undefined
      : el('tt:Exposure', [
          el('tt:Mode', 'AUTO'),
          el('tt:Mode', 'MANUAL'),
          has('ExposureMode') ? el('tt:Priority', 'LowNoise') : undefined,
          has('ExposureValue1') ? range('tt:MinExposureTime', EXPOSURE_US) : undefined,
          has('ExposureValue2') ? range('tt:MaxExposureTime', EXPOSURE_US) : undefined,
          has('GainMin') ? range('tt:MinGain', PERCENT) : undefined,
          has('GainMax') || has('Gain') ? range('tt:MaxGain', PERCENT) : undefined,
          has('ExposureValue1') ? range('tt:ExposureTime', EXPOSURE_US) : undefined,
          has('Gain') ? range('tt:Gain', PERCENT) : undefined,
        ]),
    t.focus?.Mode !== undefined ? el('tt:Focus', [el('tt:AutoFocusModes', 'AUTO'), el('tt:AutoFocusModes', 'MANUAL')]) : undefined,
    has('DayNightColor') ? ['ON', 'OFF', 'AUTO'].map((m) => el('tt:IrCutFilterModes', m)) : undefined,
    t.sharpness?.Sharpness !== undefined ? range('tt:Sharpness', SHARPNESS) : undefined,
    has('WideDynamicRangeMode') ? el('tt:WideDynamicRange', [el('tt:Mode', 'OFF'), el('tt:Mode', 'ON')]) : undefined,
    has('WhiteBalance')
      ? el('tt:WhiteBalance', [el('tt:Mode', 'AUTO'), el('tt:Mode', 'MANUAL'), has('GainRed') ? range('tt:YrGain', PERCENT) : undefined, has('GainBlue') ? range('tt:YbGain', PERCENT) : undefined])
      : undefined,
  ];
}

// ---------------------------------------------------------------------------------------------
// Writing: tt:ImagingSettings20 → the minimal set of keys, every value checked before any write

class Changes {
  readonly params = new Map<string, string>();
  constructor(private readonly t: Tables) {}

  /** Sets `key` (`<table path>.<field>`) unless the camera has that value already. */
  set(key: string, value: string): void {
    const current = nodeAt(this.t.docs[key.slice(0, key.indexOf('['))], key);
    if (sameValue(current, value)) this.params.delete(key);
    else this.params.set(key, value);
  }
}

function sameValue(current: CgiNode | undefined, value: string): boolean {
  if (typeof current !== 'string') return false;
  const a = numberOf(current);
  const b = numberOf(value);
  if (a !== undefined && b !== undefined) return a === b;
  return current.trim() === value;
}

function inRange(node: XmlNode | undefined, what: string, r: { min: number; max: number }): number | undefined {
  const v = floatOf(node, what, 'ter:SettingsInvalid');
  if (v !== undefined && (v < r.min || v > r.max)) throw settingsInvalid(`${what} ${v} is outside ${r.min}..${r.max}`);
  return v;
}

function enumOf(node: XmlNode | undefined, what: string, allowed: readonly string[]): string | undefined {
  if (node === undefined) return undefined;
  const v = node.text.trim();
  if (!allowed.includes(v)) throw settingsInvalid(`${what} '${v.slice(0, 40)}' is not one of ${allowed.join(', ')}`);
  return v;
}

function needs<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw settingsInvalid(`this camera has no ${what} setting`);
  return value;
}

function planChanges(t: Tables, s: XmlNode): Changes {
  const c = new Changes(t);
  const o = t.options;
  const ok = t.optionsKey;

  const color = (name: string, field: string): void => {
    const v = inRange(child(s, name), name, PERCENT);
    if (v === undefined) return;
    needs(t.color[field], name);
    c.set(`${t.colorKey}.${field}`, String(Math.round(v)));
  };
  color('Brightness', 'Brightness');
  color('ColorSaturation', 'Saturation');
  color('Contrast', 'Contrast');

  const sharpness = inRange(child(s, 'Sharpness'), 'Sharpness', SHARPNESS);
  if (sharpness !== undefined) {
    needs(t.sharpness?.Sharpness, 'sharpness');
    c.set(`${t.sharpnessKey}.Sharpness`, String(Math.round(sharpness)));
  }

  const blc = child(s, 'BacklightCompensation');
  if (blc) {
    const current = needs(numberOf(o.Backlight), 'backlight compensation');
    const mode = enumOf(child(blc, 'Mode'), 'BacklightCompensation Mode', ['OFF', 'ON']) ?? (current > 0 ? 'ON' : 'OFF');
    const level = floatOf(child(blc, 'Level'), 'BacklightCompensation Level', 'ter:SettingsInvalid');
    if (level !== undefined && (!Number.isInteger(level) || level < 1)) throw settingsInvalid(`BacklightCompensation Level ${level}: the camera takes grades 1..n`);
    if (mode === 'OFF') c.set(`${ok}.Backlight`, '0');
    else c.set(`${ok}.Backlight`, String(level ?? (current > 0 ? current : 1)));
  }

  const ir = enumOf(child(s, 'IrCutFilter'), 'IrCutFilter', ['ON', 'OFF', 'AUTO']);
  if (ir !== undefined) {
    needs(o.DayNightColor, 'day/night (IR cut filter)');
    c.set(`${ok}.DayNightColor`, DAY_NIGHT_BY_IR_CUT[ir]!);
  }

  const wdr = child(s, 'WideDynamicRange');
  if (wdr) {
    const current = needs(numberOf(o.WideDynamicRangeMode), 'wide dynamic range');
    const mode = enumOf(child(wdr, 'Mode'), 'WideDynamicRange Mode', ['OFF', 'ON']);
    if (child(wdr, 'Level')) throw settingsInvalid('this camera takes no wide dynamic range level');
    if (mode === 'OFF') c.set(`${ok}.WideDynamicRangeMode`, '0');
    else if (mode === 'ON' && current === 0) c.set(`${ok}.WideDynamicRangeMode`, '1');
  }

  const focus = child(s, 'Focus');
  if (focus) {
    const current = needs(numberOf(t.focus?.Mode), 'focus mode');
    const mode = enumOf(child(focus, 'AutoFocusMode'), 'AutoFocusMode', ['AUTO', 'MANUAL']);
    for (const extra of ['DefaultSpeed', 'NearLimit', 'FarLimit']) {
      if (child(focus, extra)) throw settingsInvalid(`this camera takes no focus ${extra}`);
    }
    // Half-auto (3) stays as it is for MANUAL: it is manual focus with one-push assistance.
    if (mode === 'AUTO') c.set(`${t.focusKey}.Mode`, '2');
    else if (mode === 'MANUAL' && current === 2) c.set(`${t.focusKey}.Mode`, '4');
  }

  const wb = child(s, 'WhiteBalance');
  if (wb) {
    const current = needs(textOf(o.WhiteBalance)?.trim(), 'white balance');
    const mode = enumOf(child(wb, 'Mode'), 'WhiteBalance Mode', ['AUTO', 'MANUAL']);
    const red = inRange(child(wb, 'CrGain'), 'WhiteBalance CrGain', PERCENT);
    const blue = inRange(child(wb, 'CbGain'), 'WhiteBalance CbGain', PERCENT);
    if (mode === 'AUTO' && (red !== undefined || blue !== undefined)) throw settingsInvalid('white balance gains apply to MANUAL only');
    if (mode === 'AUTO') {
      if (!AUTO_WHITE_BALANCE.has(current)) c.set(`${ok}.WhiteBalance`, 'Auto');
    } else if (mode === 'MANUAL' || red !== undefined || blue !== undefined) {
      // The gains take effect in Custom mode only (vendor §4.5.15).
      const gains = red !== undefined || blue !== undefined;
      if (red !== undefined) needs(o.GainRed, 'red gain');
      if (blue !== undefined) needs(o.GainBlue, 'blue gain');
      if (AUTO_WHITE_BALANCE.has(current) || (gains && !CUSTOM_WHITE_BALANCE.has(current))) c.set(`${ok}.WhiteBalance`, 'Custom');
      if (red !== undefined) c.set(`${ok}.GainRed`, String(Math.round(red)));
      if (blue !== undefined) c.set(`${ok}.GainBlue`, String(Math.round(blue)));
    }
  }

  const exp = child(s, 'Exposure');
  if (exp) planExposure(c, t, exp);
  return c;
}

function planExposure(c: Changes, t: Tables, exp: XmlNode): void {
  const o = t.options;
  const ok = t.optionsKey;
  const current = needs(exposureMode(o), 'exposure');
  const mode = enumOf(child(exp, 'Mode'), 'Exposure Mode', ['AUTO', 'MANUAL']) ?? current;
  const priority = enumOf(child(exp, 'Priority'), 'Exposure Priority', ['LowNoise', 'FrameRate']);
  if (priority === 'FrameRate') throw settingsInvalid('this camera has no frame-rate exposure priority');
  for (const name of ['Window', 'MinIris', 'MaxIris', 'Iris']) {
    if (child(exp, name)) throw settingsInvalid(`this camera takes no exposure ${name}`);
  }
  const minTime = inRange(child(exp, 'MinExposureTime'), 'MinExposureTime', EXPOSURE_US);
  const maxTime = inRange(child(exp, 'MaxExposureTime'), 'MaxExposureTime', EXPOSURE_US);
  const time = inRange(child(exp, 'ExposureTime'), 'ExposureTime', EXPOSURE_US);
  const minGain = inRange(child(exp, 'MinGain'), 'MinGain', PERCENT);
  const maxGain = inRange(child(exp, 'MaxGain'), 'MaxGain', PERCENT);
  const gain = inRange(child(exp, 'Gain'), 'Gain', PERCENT);
  const ms = (v: number): string => cameraNumber(v / 1000);

  if (mode === 'MANUAL') {
    if (minTime !== undefined || maxTime !== undefined || minGain !== undefined || maxGain !== undefined || priority !== undefined) {
      throw settingsInvalid('MANUAL exposure takes ExposureTime and Gain only');
    }
    if (time !== undefined) needs(o.ExposureValue1, 'exposure time');
    if (gain !== undefined) needs(o.Gain, 'gain');
    if (current !== 'MANUAL') c.set(`${ok}.ExposureMode`, '4');
    if (time !== undefined) c.set(`${ok}.ExposureValue1`, ms(time));
    if (gain !== undefined) c.set(`${ok}.Gain`, String(Math.round(gain)));
    return;
  }
  if (time !== undefined || gain !== undefined) throw settingsInvalid('AUTO exposure takes MinExposureTime, MaxExposureTime, MinGain and MaxGain');
  const em = numberOf(o.ExposureMode);
  if (priority === 'LowNoise') {
    if (em !== 1) c.set(`${ok}.ExposureMode`, '1');
  } else if (current !== 'AUTO') {
    c.set(`${ok}.ExposureMode`, '0');
    c.set(`${ok}.ExposureSpeed`, '0');
  }
  const lo = minTime ?? us(numberOf(o.ExposureValue1));
  const hi = maxTime ?? us(numberOf(o.ExposureValue2));
  if (lo !== undefined && hi !== undefined && lo > hi) throw settingsInvalid(`MinExposureTime ${lo} is above MaxExposureTime ${hi}`);
  if (minTime !== undefined) {
    needs(o.ExposureValue1, 'exposure time');
    c.set(`${ok}.ExposureValue1`, ms(minTime));
  }
  if (maxTime !== undefined) {
    needs(o.ExposureValue2, 'exposure time limit');
    c.set(`${ok}.ExposureValue2`, ms(maxTime));
  }
  if (minGain !== undefined) {
    needs(o.GainMin, 'minimum gain');
    c.set(`${ok}.GainMin`, String(Math.round(minGain)));
  }
  if (maxGain !== undefined) {
    const key = o.GainMax !== undefined ? 'GainMax' : 'Gain';
    needs(o[key], 'maximum gain');
    c.set(`${ok}.${key}`, String(Math.round(maxGain)));
  }
  const gLo = minGain ?? numberOf(o.GainMin);
  const gHi = maxGain ?? numberOf(o.GainMax);
  if (gLo !== undefined && gHi !== undefined && gLo > gHi) throw settingsInvalid(`MinGain ${gLo} is above MaxGain ${gHi}`);
}

// ---------------------------------------------------------------------------------------------
// Focus lens (devVideoInput.cgi): models without a motorised lens answer ErrorID 3

const lensSupport = new WeakMap<CameraEntry, Promise<boolean>>();

/** Whether this camera drives its focus lens: probed once per entry with getFocusStatus. */
function hasLens(ctx: OnvifContext): Promise<boolean> {
  let probe = lensSupport.get(ctx.entry);
  if (!probe) {
    probe = ctx.entry.camera.call(LENS, [['action', 'getFocusStatus'], ['channel', '1']]).then(
      () => true,
      (err: unknown) => {
        if (isProblem(err) && err.code === 'NOT_SUPPORTED_BY_MODEL') return false;
        lensSupport.delete(ctx.entry);
        throw err;
      },
    );
    lensSupport.set(ctx.entry, probe);
  }
  return probe;
}

async function requireLens(ctx: OnvifContext): Promise<void> {
  if (!(await hasLens(ctx))) throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], 'this camera model has no motorised focus (vendor §4.5.11-4.5.14 N/A)');
}

async function focusStatus(ctx: OnvifContext, ch: number): Promise<{ focus: number | undefined; zoom: number | undefined; status: string | undefined }> {
  const body = await ctx.entry.camera.call(LENS, [['action', 'getFocusStatus'], ['channel', String(ch + 1)]], { signal: ctx.signal });
  const line = (k: string): string | undefined => new RegExp(`^status\\.${k}=(.*)$`, 'm').exec(body)?.[1]?.replace(/\r$/, '');
  const n = (k: string): number | undefined => numberOf(line(k));
  return { focus: n('Focus'), zoom: n('Zoom'), status: line('Status')?.trim() };
}

async function focusMove(request: XmlNode, ctx: OnvifContext): Promise<XmlChild> {
  const ch = channelOf(request);
  const move = child(request, 'Focus');
  const absolute = child(move, 'Absolute');
  const relative = child(move, 'Relative');
  const continuous = child(move, 'Continuous');
  const kinds = [absolute, relative, continuous].filter((x) => x !== undefined).length;
  if (kinds !== 1) throw invalidArg('Focus needs exactly one of Absolute, Relative or Continuous');
  const position = absolute ? floatOf(child(absolute, 'Position'), 'Absolute Position') : undefined;
  const distance = relative ? floatOf(child(relative, 'Distance'), 'Relative Distance') : undefined;
  const speed = continuous ? floatOf(child(continuous, 'Speed'), 'Continuous Speed') : undefined;
  if (absolute && (position === undefined || position < FOCUS_POSITION.min || position > FOCUS_POSITION.max)) throw invalidArg(`Absolute Position must be within 0..1`);
  if (relative && (distance === undefined || distance < -1 || distance > 1)) throw invalidArg('Relative Distance must be within -1..1');
  if (continuous && (speed === undefined || speed < FOCUS_SPEED.min || speed > FOCUS_SPEED.max)) throw invalidArg('Continuous Speed must be within -1..1');
  await requireLens(ctx);
  const channel: [string, string] = ['channel', String(ch + 1)];
  if (speed !== undefined) {
    const sent = Math.max(-FOCUS_SPEED_LIMIT, Math.min(FOCUS_SPEED_LIMIT, speed));
    // zoom=-1 leaves the zoom motor alone while the focus motor runs (vendor §4.5.12).
    await ctx.entry.camera.call(LENS, [['action', 'adjustFocusContinuously'], ['focus', cameraNumber(sent)], ['zoom', '-1'], channel], { signal: ctx.signal });
  } else {
    // adjustFocus sets focus and zoom together: the zoom is sent back as it is.
    const now = await focusStatus(ctx, ch);
    if (now.zoom === undefined) throw new OnvifFault('Receiver', [], 'the camera did not report its zoom position');
    const target = position ?? Math.max(0, Math.min(1, (now.focus ?? 0) + distance!));
    await ctx.entry.camera.call(LENS, [['action', 'adjustFocus'], ['focus', cameraNumber(target)], ['zoom', cameraNumber(now.zoom)], channel], { signal: ctx.signal });
  }
  return el('timg:MoveResponse');
}

// ---------------------------------------------------------------------------------------------
// Operations

const operations: OnvifOperation[] = [
  {
    name: 'GetServiceCapabilities',
    access: 'preauth',
    handle: async (_req, ctx) => el('timg:GetServiceCapabilitiesResponse', await imagingService.capabilities(ctx)),
  },
  {
    name: 'GetImagingSettings',
    access: 'viewer',
    handle: async (req, ctx) => {
      const t = await readTables(ctx, channelOf(req));
      return el('timg:GetImagingSettingsResponse', el('timg:ImagingSettings', settingsOf(t)));
    },
  },
  {
    name: 'SetImagingSettings',
    access: 'operator',
    handle: async (req, ctx) => {
      const ch = channelOf(req);
      const settings = child(req, 'ImagingSettings');
      if (!settings) throw invalidArg('ImagingSettings is missing');
      const t = await readTables(ctx, ch);
      const changes = planChanges(t, settings);
      if (changes.params.size === 0) return el('timg:SetImagingSettingsResponse');
      const params = [...changes.params];
      await ctx.entry.camera.setConfig(params, { signal: ctx.signal });
      // Read back: a camera ignores keys it does not take without a word (design.md §4 "Writes").
      const after = await readTables(ctx, ch);
      const ignored = params.filter(([k, v]) => !sameValue(nodeAt(after.docs[k.slice(0, k.indexOf('['))], k), v)).map(([k]) => k);
      if (ignored.length > 0) throw settingsInvalid(`the camera did not take ${ignored.join(', ')}`);
      return el('timg:SetImagingSettingsResponse');
    },
  },
  {
    name: 'GetOptions',
    access: 'viewer',
    handle: async (req, ctx) => {
      const t = await readTables(ctx, channelOf(req));
      return el('timg:GetOptionsResponse', el('timg:ImagingOptions', optionsOf(t)));
    },
  },
  {
    name: 'GetMoveOptions',
    access: 'viewer',
    handle: async (req, ctx) => {
      channelOf(req);
      await requireLens(ctx);
      return el(
        'timg:GetMoveOptionsResponse',
        el('timg:MoveOptions', [
          el('tt:Absolute', range('tt:Position', FOCUS_POSITION)),
          el('tt:Relative', range('tt:Distance', { min: -1, max: 1 })),
          el('tt:Continuous', range('tt:Speed', FOCUS_SPEED)),
        ]),
      );
    },
  },
  { name: 'Move', access: 'operator', handle: focusMove },
  {
    name: 'Stop',
    access: 'operator',
    handle: async (req, ctx) => {
      const ch = channelOf(req);
      await requireLens(ctx);
      await ctx.entry.camera.call(LENS, [['action', 'adjustFocusContinuously'], ['focus', '0'], ['zoom', '-1'], ['channel', String(ch + 1)]], { signal: ctx.signal });
      return el('timg:StopResponse');
    },
  },
  {
    name: 'GetStatus',
    access: 'viewer',
    handle: async (req, ctx) => {
      const ch = channelOf(req);
      await requireLens(ctx);
      const s = await focusStatus(ctx, ch);
      if (s.focus === undefined) throw new OnvifFault('Receiver', [], 'the camera did not report its focus position');
      // "Autofocus" while the lens hunts, "Normal" when it rests (vendor §4.5.14).
      const moving = s.status === 'Autofocus' ? 'MOVING' : s.status === 'Normal' ? 'IDLE' : 'UNKNOWN';
      return el('timg:GetStatusResponse', el('timg:Status', el('tt:FocusStatus20', [el('tt:Position', s.focus), el('tt:MoveStatus', moving)])));
    },
  },
  {
    name: 'GetPresets',
    access: 'viewer',
    handle: async () => {
      // The camera has no imaging presets, and the response needs at least one.
      throw new OnvifFault('Receiver', ['ter:ActionNotSupported'], 'this camera has no imaging presets');
    },
  },
];

export const imagingService: OnvifService = {
  key: 'imaging',
  ns: NS.timg,
  path: 'imaging_service',
  version: { major: 2, minor: 6 },
  available: async () => true,
  capabilities: async () => el('timg:Capabilities', undefined, { ImageStabilization: false, Presets: false, AdaptablePreset: false }),
  operations,
};
