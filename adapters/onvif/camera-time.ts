// The camera's clock as ONVIF wants it (pure). The camera keeps a naive local wall time
// (global.cgi getCurrentTime), a time-zone index (NTP.TimeZone) and a DST rule (Locales); ONVIF
// wants true UTC, the local time and a POSIX TZ string, and clients sign their tokens with the UTC.
//
// The vendor document prints NTP.TimeZone=9 but not the list it indexes. Cameras of this API
// family (the Dahua-derived firmware) use the list of their SDK's time-zone enum, 0..32, which is
// the table below; an index outside it is reported as unknown, never guessed.

/** Minutes east of UTC for each NTP.TimeZone index. */
export const TIME_ZONES: readonly number[] = [
  0, 60, 120, 180, 210, 240, 270, 300, 330, 345, 360, 390, 420, 480, 540, 570, 600, 660, 720, 780,
  -60, -120, -180, -210, -240, -300, -360, -420, -480, -540, -600, -660, -720,
];

export function zoneOffsetMinutes(index: number): number | undefined {
  return Number.isInteger(index) ? TIME_ZONES[index] : undefined;
}

/** The NTP.TimeZone index of an offset (minutes east), or undefined when the camera has none. */
export function zoneIndexOf(minutesEast: number): number | undefined {
  const i = TIME_ZONES.indexOf(minutesEast);
  return i < 0 ? undefined : i;
}

/** A DST boundary as the Locales table holds it (Week 0 = Day is a month day; else Day is a week day, Week -1 = last). */
export interface DstRule {
  Month: number;
  Week: number;
  Day: number;
  Hour: number;
  Minute: number;
}

export interface Dst {
  enabled: boolean;
  start: DstRule;
  end: DstRule;
}

const HOUR_MS = 3_600_000;

/** The instant (naive local, as UTC fields) a rule falls on in a year; undefined for an impossible rule. */
export function ruleInstant(rule: DstRule, year: number): number | undefined {
  const { Month, Week, Day, Hour, Minute } = rule;
  if (!(Month >= 1 && Month <= 12 && Hour >= 0 && Hour <= 23 && Minute >= 0 && Minute <= 59)) return undefined;
  let day: number;
  if (Week === 0) {
    if (!(Day >= 1 && Day <= 31)) return undefined;
    day = Day;
  } else {
    if (!(Day >= 0 && Day <= 6) || ![1, 2, 3, 4, -1].includes(Week)) return undefined;
    const first = new Date(Date.UTC(year, Month - 1, 1)).getUTCDay();
    day = 1 + ((Day - first + 7) % 7) + (Week === -1 ? 0 : (Week - 1) * 7);
    if (Week === -1) {
      const days = new Date(Date.UTC(year, Month, 0)).getUTCDate();
      while (day + 7 <= days) day += 7;
    }
  }
  return Date.UTC(year, Month - 1, day, Hour, Minute);
}

/**
 * Whether DST is in force at a naive local standard time. The start is a standard-time wall
 * instant, the end a summer-time one (as in POSIX TZ), so the end is an hour earlier in standard
 * time. Southern-hemisphere rules wrap the year end.
 */
export function dstActive(dst: Dst, localMs: number): boolean {
  if (!dst.enabled) return false;
  const year = new Date(localMs).getUTCFullYear();
  const start = ruleInstant(dst.start, year);
  const endWall = ruleInstant(dst.end, year);
  const end = endWall === undefined ? undefined : endWall - HOUR_MS;
  if (start === undefined || end === undefined || start === end) return false;
  return start < end ? localMs >= start && localMs < end : localMs >= start || localMs < end;
}

/** UTC of the camera's wall time: minus the zone, minus an hour while DST is in force. */
export function cameraWallToUtc(wallMs: number, offsetMinutes: number, dst: Dst): number {
  const standard = dstActive(dst, wallMs - HOUR_MS) ? wallMs - HOUR_MS : wallMs;
  return standard - offsetMinutes * 60_000;
}

/** The camera's wall time for a UTC instant. */
export function utcToCameraWall(utcMs: number, offsetMinutes: number, dst: Dst): number {
  const standard = utcMs + offsetMinutes * 60_000;
  return dstActive(dst, standard) ? standard + HOUR_MS : standard;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** `2011-7-3 21:02:32` (the vendor's "Y-M-D H-m-S") → naive ms; undefined when not a date. */
export function parseCameraTime(text: string): number | undefined {
  const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})\s*$/.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return undefined;
  return ms;
}

export function formatCameraTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
}

// ---------------------------------------------------------------------------------------------
// POSIX TZ (IEEE 1003.1 §8.3), the form tt:TimeZone carries: `UTC-05:45DST,M3.5.0/02:00,M10.5.0/03:00`.
// The sign is west-positive, the opposite of "GMT+05:45".

function posixOffset(minutesEast: number): string {
  const west = -minutesEast;
  const abs = Math.abs(west);
  return `${west < 0 ? '-' : ''}${pad2(Math.floor(abs / 60))}${abs % 60 ? `:${pad2(abs % 60)}` : ''}`;
}

const CUMULATIVE_DAYS = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];

function posixRule(rule: DstRule): string {
  const at = `/${pad2(rule.Hour)}:${pad2(rule.Minute)}`;
  if (rule.Week === 0) return `J${CUMULATIVE_DAYS[rule.Month - 1]! + rule.Day}${at}`;
  return `M${rule.Month}.${rule.Week === -1 ? 5 : rule.Week}.${rule.Day}${at}`;
}

export function posixTz(offsetMinutes: number, dst: Dst): string {
  const std = `UTC${posixOffset(offsetMinutes)}`;
  if (!dst.enabled || ruleInstant(dst.start, 2024) === undefined || ruleInstant(dst.end, 2024) === undefined) return std;
  return `${std}DST,${posixRule(dst.start)},${posixRule(dst.end)}`;
}

export interface ParsedTz {
  /** Standard offset, minutes east of UTC. */
  offsetMinutes: number;
  /** DST boundaries when the string has them (a DST name alone gives none). */
  start?: DstRule;
  end?: DstRule;
  hasDst: boolean;
}

const NAME = String.raw`(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)`;
const OFFSET = String.raw`([+-]?)(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?`;
const RULE = String.raw`(M\d{1,2}\.\d\.\d|J\d{1,3}|\d{1,3})(?:/([+-]?\d{1,3})(?::(\d{1,2}))?(?::(\d{1,2}))?)?`;
const TZ = new RegExp(`^${NAME}${OFFSET}(?:(${NAME})(?:${OFFSET})?(?:,${RULE},${RULE})?)?$`);

/** Reads a POSIX TZ string; undefined when it is not one or its rules cannot be held by the camera. */
export function parsePosixTz(text: string): ParsedTz | undefined {
  const m = TZ.exec(text.trim());
  if (!m) return undefined;
  const [, sign, hh, mm, ss] = m;
  if (ss !== undefined && Number(ss) !== 0) return undefined;
  const west = (Number(hh) * 60 + Number(mm ?? 0)) * (sign === '-' ? -1 : 1);
  if (Number(hh) > 24 || Number(mm ?? 0) > 59) return undefined;
  const result: ParsedTz = { offsetMinutes: -west, hasDst: m[5] !== undefined };
  if (m[10] !== undefined) {
    const start = ruleOf(m[10], m[11], m[12]);
    const end = ruleOf(m[14]!, m[15], m[16]);
    if (!start || !end) return undefined;
    result.start = start;
    result.end = end;
  }
  return result;
}

function ruleOf(spec: string, hour: string | undefined, minute: string | undefined): DstRule | undefined {
  const h = hour === undefined ? 2 : Number(hour);
  const min = minute === undefined ? 0 : Number(minute);
  if (!(h >= 0 && h <= 23 && min >= 0 && min <= 59)) return undefined;
  const mRule = /^M(\d{1,2})\.(\d)\.(\d)$/.exec(spec);
  if (mRule) {
    const [month, week, day] = mRule.slice(1).map(Number) as [number, number, number];
    if (month < 1 || month > 12 || week < 1 || week > 5 || day > 6) return undefined;
    return { Month: month, Week: week === 5 ? -1 : week, Day: day, Hour: h, Minute: min };
  }
  // Jn counts 1..365 without 29 February; n (zero-based, leap days counted) is read the same way.
  const n = spec.startsWith('J') ? Number(spec.slice(1)) : Number(spec) + 1;
  if (!(n >= 1 && n <= 365)) return undefined;
  let month = 0;
  while (month < 11 && CUMULATIVE_DAYS[month + 1]! < n) month++;
  return { Month: month + 1, Week: 0, Day: n - CUMULATIVE_DAYS[month]!, Hour: h, Minute: min };
}
