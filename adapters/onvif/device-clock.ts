// The camera's clock for ONVIF (GetSystemDateAndTime, pre-auth, and SetSystemDateAndTime): true
// UTC from the camera's wall clock (global.cgi), its time-zone index (NTP.TimeZone) and DST rule
// (Locales); clients sign their UsernameTokens with this UTC (design.md §6).
import { recordClockOffset } from './clock-offset.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import type { CgiDoc, CgiNode } from '../cgi/codec.ts';
import { bool, cgiValue, int, obj, str } from './camera-facts.ts';
import {
  cameraWallToUtc,
  formatCameraTime,
  parseCameraTime,
  parsePosixTz,
  posixTz,
  utcToCameraWall,
  zoneIndexOf,
  zoneOffsetMinutes,
  type Dst,
  type DstRule,
} from './camera-time.ts';
import { invalidArg, OnvifFault } from './soap.ts';
import type { OnvifContext, OnvifOperation } from './service.ts';
import { child, el, textAt, type XmlNode, type XmlOut } from './xml.ts';

const GLOBAL = '/cgi-bin/global.cgi';

export interface CameraClock {
  /** The camera's wall time (naive, as UTC fields). */
  wallMs: number;
  /** True UTC; undefined when the camera's time-zone index is not one we know. */
  utcMs: number | undefined;
  ntp: boolean;
  offsetMinutes: number | undefined;
  dst: Dst;
}

function dstRule(node: CgiNode | undefined): DstRule {
  const o = obj(node) ?? {};
  return { Month: int(o.Month) ?? 1, Week: int(o.Week) ?? 0, Day: int(o.Day) ?? 1, Hour: int(o.Hour) ?? 0, Minute: int(o.Minute) ?? 0 };
}

function dstOf(locales: CgiDoc): Dst {
  const l = obj(locales.Locales) ?? {};
  return { enabled: bool(l.DSTEnable) ?? false, start: dstRule(l.DSTStart), end: dstRule(l.DSTEnd) };
}

/** The camera's clock read as ONVIF wants it (also for the events service's UTC times). */
export async function readCameraClock(entry: CameraEntry, signal?: AbortSignal): Promise<CameraClock> {
  const opts = signal ? { signal } : {};
  // The clock first and alone: on a fresh client it is the login, which parallel calls would wait on.
  const now = await cgiValue(entry, GLOBAL, 'getCurrentTime', 'result', signal);
  const [ntp, locales] = await Promise.all([entry.camera.getConfig('NTP', opts), entry.camera.getConfig('Locales', opts)]);
  const wallMs = parseCameraTime(now ?? '');
  if (wallMs === undefined) throw new OnvifFault('Receiver', [], `the camera's clock answered '${now ?? ''}', which is not a time`);
  const n = obj(ntp.NTP) ?? {};
  const offsetMinutes = zoneOffsetMinutes(int(n.TimeZone) ?? -1);
  const dst = dstOf(locales);
  return {
    wallMs,
    utcMs: offsetMinutes === undefined ? undefined : cameraWallToUtc(wallMs, offsetMinutes, dst),
    ntp: bool(n.Enable) ?? false,
    offsetMinutes,
    dst,
  };
}

function dateTime(name: string, ms: number): XmlOut {
  const d = new Date(ms);
  return el(name, [
    el('tt:Time', [el('tt:Hour', d.getUTCHours()), el('tt:Minute', d.getUTCMinutes()), el('tt:Second', d.getUTCSeconds())]),
    el('tt:Date', [el('tt:Year', d.getUTCFullYear()), el('tt:Month', d.getUTCMonth() + 1), el('tt:Day', d.getUTCDate())]),
  ]);
}

async function getSystemDateAndTime(_request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const clock = await readCameraClock(ctx.entry, ctx.signal);
  if (clock.utcMs !== undefined) recordClockOffset(ctx.entry, clock.utcMs, ctx.now());
  if (clock.utcMs === undefined) ctx.logger.warn({ camera: ctx.entry.id }, 'camera time-zone index unknown: ONVIF clients get no UTC time');
  return el(
    'tds:GetSystemDateAndTimeResponse',
    el('tds:SystemDateAndTime', [
      el('tt:DateTimeType', clock.ntp ? 'NTP' : 'Manual'),
      el('tt:DaylightSavings', clock.dst.enabled),
      clock.offsetMinutes === undefined ? undefined : el('tt:TimeZone', el('tt:TZ', posixTz(clock.offsetMinutes, clock.dst))),
      clock.utcMs === undefined ? undefined : dateTime('tt:UTCDateTime', clock.utcMs),
      dateTime('tt:LocalDateTime', clock.wallMs),
    ]),
  );
}

function intIn(node: XmlNode | undefined, path: string[], min: number, max: number): number {
  const text = textAt(node, ...path);
  if (text === undefined || !/^\d{1,4}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw invalidArg(`UTCDateTime ${path.join('/')} '${text ?? ''}' is out of range`, 'ter:InvalidDateTime');
  }
  return Number(text);
}

async function setSystemDateAndTime(request: XmlNode, ctx: OnvifContext): Promise<XmlOut> {
  const type = textAt(request, 'DateTimeType');
  if (type !== 'Manual' && type !== 'NTP') throw invalidArg(`DateTimeType must be Manual or NTP (got '${type ?? ''}')`);
  const dstText = textAt(request, 'DaylightSavings');
  if (dstText !== 'true' && dstText !== 'false' && dstText !== '1' && dstText !== '0') throw invalidArg('DaylightSavings must be a boolean');
  const daylight = dstText === 'true' || dstText === '1';

  // Everything is checked before anything is written.
  const params: Array<[string, string]> = [['NTP.Enable', type === 'NTP' ? 'true' : 'false'], ['Locales.DSTEnable', String(daylight)]];
  const tzText = textAt(request, 'TimeZone', 'TZ');
  let offset: number | undefined;
  let rules: { start: DstRule; end: DstRule } | undefined;
  if (tzText !== undefined && tzText !== '') {
    const tz = parsePosixTz(tzText);
    if (!tz) throw invalidArg(`'${tzText}' is not a POSIX time zone`, 'ter:InvalidTimeZone');
    const index = zoneIndexOf(tz.offsetMinutes);
    if (index === undefined) throw invalidArg(`the camera has no time zone at UTC${tz.offsetMinutes >= 0 ? '+' : '-'}${Math.abs(tz.offsetMinutes)} min`, 'ter:InvalidTimeZone');
    offset = tz.offsetMinutes;
    params.push(['NTP.TimeZone', String(index)]);
    if (tz.start && tz.end) {
      rules = { start: tz.start, end: tz.end };
      for (const [name, r] of [['DSTStart', tz.start], ['DSTEnd', tz.end]] as const) {
        for (const k of ['Month', 'Week', 'Day', 'Hour', 'Minute'] as const) params.push([`Locales.${name}.${k}`, String(r[k])]);
      }
    }
  }
  const utcEl = child(request, 'UTCDateTime');
  let utcMs: number | undefined;
  if (type === 'Manual' && utcEl) {
    const y = intIn(utcEl, ['Date', 'Year'], 2000, 2037);
    const mo = intIn(utcEl, ['Date', 'Month'], 1, 12);
    const d = intIn(utcEl, ['Date', 'Day'], 1, 31);
    const h = intIn(utcEl, ['Time', 'Hour'], 0, 23);
    const mi = intIn(utcEl, ['Time', 'Minute'], 0, 59);
    const s = intIn(utcEl, ['Time', 'Second'], 0, 59);
    utcMs = Date.UTC(y, mo - 1, d, h, mi, s);
    if (new Date(utcMs).getUTCDate() !== d) throw invalidArg(`${y}-${mo}-${d} is not a date`, 'ter:InvalidDateTime');
  }
  if (type === 'NTP') {
    const address = str(obj((await ctx.entry.camera.getConfig('NTP', { signal: ctx.signal })).NTP)?.Address)?.trim();
    if (!address) throw new OnvifFault('Sender', ['ter:InvalidArgVal', 'ter:NtpServerUndefined'], 'the camera has no NTP server: SetNTP first');
  }
  let wall: string | undefined;
  if (utcMs !== undefined) {
    const current = await readCameraClock(ctx.entry, ctx.signal);
    const zone = offset ?? current.offsetMinutes;
    if (zone === undefined) throw invalidArg('the camera time zone is unknown: give a TimeZone with the time', 'ter:InvalidTimeZone');
    const dst: Dst = { enabled: daylight, start: rules?.start ?? current.dst.start, end: rules?.end ?? current.dst.end };
    wall = formatCameraTime(utcToCameraWall(utcMs, zone, dst));
  }
  await ctx.entry.camera.setConfig(params, { signal: ctx.signal });
  if (wall !== undefined) await ctx.entry.camera.call(GLOBAL, [['action', 'setCurrentTime'], ['time', wall]], { signal: ctx.signal });
  return el('tds:SetSystemDateAndTimeResponse');
}

export const clockOperations: readonly OnvifOperation[] = [
  { name: 'GetSystemDateAndTime', access: 'preauth', handle: getSystemDateAndTime },
  { name: 'SetSystemDateAndTime', access: 'admin', handle: setSystemDateAndTime },
];
