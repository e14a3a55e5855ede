// Stateful finders (vendor §4.11.5 mediaFileFind, §4.13.1 log find, §4.13.2 log clear) over
// generated recordings and log entries. Like the camera, a finder lives until it is destroyed
// (media) or stopped (log): a client that forgets to do so leaks it, and the camera holds only a
// few at a time.
import type { CameraContext, CgiHandler } from './camera.ts';
import { formatCameraTime, parseCameraTime } from './clock.ts';
import { cameraError, ok, text } from './replies.ts';

/** How many finders of each kind the camera holds at once; one more is refused with ErrorID 5. */
export const MAX_OPEN_FINDERS = 16;
/** The recordings: one file per hour over the last RECORDED_HOURS complete hours, channel 0. */
export const RECORDED_HOURS = 72;
/** The log: one entry every LOG_INTERVAL_MINUTES over the last LOG_DAYS days. */
export const LOG_DAYS = 3;
export const LOG_INTERVAL_MINUTES = 30;
/** findNextFile and doFind: "The maximum value of fileCount/logCount is 100". */
const MAX_COUNT = 100;

const HOUR_MS = 3_600_000;

interface MediaFile {
  channel: number;          // counted from 0: the findFile condition's channel minus one (vendor appendix)
  start: Date;
  end: Date;
  type: string;
  events: string[];
  flags: string[];
  stream: string;
  path: string;
  length: number;
  duration: number;
}

interface MediaFinder {
  files: MediaFile[] | null;   // null until findFile arms it
  next: number;
  closed: boolean;
}

interface LogEntry {
  recNo: number;
  time: Date;
  category: string;          // the startFind condition.Type this entry falls under
  type: string;              // what the entry answers as Type (ClearLog, SaveConfig, ...)
  user: string;
  detail: Array<[string, string]>;
}

interface LogFinder {
  entries: LogEntry[];
  next: number;
}

interface FinderState {
  nextObject: number;
  media: Map<string, MediaFinder>;
  nextToken: number;
  logFinders: Map<string, LogFinder>;
  log: LogEntry[] | null;      // generated on first use, relative to the camera clock then
  nextRecNo: number;
}

const states = new WeakMap<CameraContext, FinderState>();

function stateOf(camera: CameraContext): FinderState {
  let s = states.get(camera);
  if (!s) {
    // Object ids look like the document's (result= 2086170840); tokens count from 1 (token=1).
    s = { nextObject: 2086170840, media: new Map(), nextToken: 1, logFinders: new Map(), log: null, nextRecNo: 1 };
    states.set(camera, s);
  }
  return s;
}

/** Media finders not yet destroyed plus log finders not yet stopped. */
export function openFinders(camera: CameraContext): number {
  const s = states.get(camera);
  return s ? s.media.size + s.logFinders.size : 0;
}

// ------------------------------------------------------------------ generated data

function recordings(now: Date): MediaFile[] {
  const currentHour = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS;
  const files: MediaFile[] = [];
  for (let i = RECORDED_HOURS; i >= 1; i--) {
    const start = new Date(currentHour - i * HOUR_MS);
    const end = new Date(start.getTime() + HOUR_MS);
    // Every sixth hour a motion event recording; the rest timed recordings.
    const motion = start.getUTCHours() % 6 === 0;
    const day = `${start.getUTCFullYear()}-${start.getUTCMonth() + 1}-${start.getUTCDate()}`;
    const pad = (n: number) => String(n).padStart(2, '0');
    const clock = `${pad(start.getUTCHours())}.00.00-${pad(end.getUTCHours())}.00.00`;
    files.push({
      channel: 0,
      start,
      end,
      type: 'dav',
      events: motion ? ['VideoMotion'] : [],
      flags: motion ? ['Event'] : ['Timing'],
      stream: 'Main',
      path: `/mnt/dvr/sda0/${day}/001/dav/${pad(start.getUTCHours())}/${clock}[${motion ? 'M' : 'R'}][0@0][0].dav`,
      length: 1_048_576 + (start.getUTCHours() * 7919) % 65_536,
      duration: 3600,
    });
  }
  return files;
}

const LOG_KINDS: ReadonlyArray<Omit<LogEntry, 'recNo' | 'time'>> = [
  { category: 'Account', type: 'Login', user: 'admin', detail: [['Address', '192.168.1.20']] },
  { category: 'Config', type: 'SaveConfig', user: 'System', detail: [['Compression', 'H.264->MJPG'], ['Data', 'Encode']] },
  { category: 'Event', type: 'EventStart', user: 'System', detail: [['Code', 'VideoMotion'], ['Channel', '0']] },
  { category: 'Storage', type: 'DiskFull', user: 'System', detail: [] },
  { category: 'Account', type: 'Logout', user: 'admin', detail: [['Address', '192.168.1.20']] },
  { category: 'System', type: 'Reboot', user: 'System', detail: [] },
];

function generateLog(s: FinderState, now: Date): LogEntry[] {
  const entries: LogEntry[] = [];
  const step = LOG_INTERVAL_MINUTES * 60_000;
  const last = Math.floor(now.getTime() / step) * step;
  const count = (LOG_DAYS * 24 * 60) / LOG_INTERVAL_MINUTES;
  for (let i = count - 1; i >= 0; i--) {
    const kind = LOG_KINDS[(count - 1 - i) % LOG_KINDS.length]!;
    entries.push({ ...kind, recNo: s.nextRecNo++, time: new Date(last - i * step) });
  }
  return entries;
}

function logOf(camera: CameraContext): LogEntry[] {
  const s = stateOf(camera);
  s.log ??= generateLog(s, camera.clock.current());
  return s.log;
}

// The doFind example pads month and day (2011-05-20 11:59:10); findNextFile's does not (2011-1-1 12:00:00).
function paddedTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

function countOf(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,3}$/.test(value)) return null;
  const n = Number(value);
  return n >= 1 && n <= MAX_COUNT ? n : null;
}

/** The values of `prefix[0]`, `prefix[1]`, ... in order of their index. */
function listOf(params: Array<[string, string]>, prefix: string): string[] {
  const found: Array<[number, string]> = [];
  for (const [k, v] of params) {
    if (!k.startsWith(prefix + '[')) continue;
    const m = /^\[(\d{1,3})\]$/.exec(k.slice(prefix.length));
    if (m) found.push([Number(m[1]), v]);
  }
  return found.sort((a, b) => a[0] - b[0]).map(([, v]) => v);
}

// ------------------------------------------------------------------ mediaFileFind.cgi (4.11.5)

export const createMediaFinder: CgiHandler = ({ camera }) => {
  const s = stateOf(camera);
  if (s.media.size >= MAX_OPEN_FINDERS) return cameraError(5);
  const id = String(s.nextObject++);
  s.media.set(id, { files: null, next: 0, closed: false });
  // The document prints the answer with a space after `=`: kept, clients must cope.
  return text(`result= ${id}`);
};

export const findFile: CgiHandler = ({ url, camera }) => {
  const finder = stateOf(camera).media.get(url.get('object') ?? '');
  if (!finder || finder.closed) return cameraError(4);
  const channel = url.get('condition.Channel') ?? '';
  const start = parseCameraTime(url.get('condition.StartTime') ?? '');
  const end = parseCameraTime(url.get('condition.EndTime') ?? '');
  if (!/^\d{1,3}$/.test(channel) || Number(channel) < 1 || !start || !end || start > end) return cameraError(4);
  const dirs = listOf(url.params, 'condition.Dirs');
  const types = listOf(url.params, 'condition.Types');
  const flags = listOf(url.params, 'condition.Flag');
  const events = listOf(url.params, 'condition.Events');
  const stream = url.get('condition.VideoStream');
  const files = recordings(camera.clock.current()).filter((f) =>
    f.channel === Number(channel) - 1 &&
    f.start <= end && f.end >= start &&
    (dirs.length === 0 || dirs.some((d) => f.path.startsWith(d + '/'))) &&
    (types.length === 0 || types.includes(f.type)) &&
    (flags.length === 0 || flags.some((x) => f.flags.includes(x))) &&
    (events.length === 0 || events.some((e) => f.events.includes(e) || (e.endsWith('*') && f.events.some((fe) => fe.startsWith(e.slice(0, -1)))))) &&
    (stream === undefined || stream === f.stream));
  finder.files = files;
  finder.next = 0;
  // "If files exist, return OK, else return Error."
  return files.length > 0 ? ok() : text('Error');
};

export const findNextFile: CgiHandler = ({ url, camera }) => {
  const finder = stateOf(camera).media.get(url.get('object') ?? '');
  const count = countOf(url.get('count'));
  if (!finder || finder.closed || !finder.files || count === null) return cameraError(4);
  const batch = finder.files.slice(finder.next, finder.next + count);
  finder.next += batch.length;
  const lines = [`found=${batch.length}`];
  batch.forEach((f, i) => {
    const p = `items[${i}].`;
    lines.push(`${p}Channel=${f.channel}`, `${p}StartTime=${formatCameraTime(f.start)}`, `${p}EndTime=${formatCameraTime(f.end)}`, `${p}Type=${f.type}`);
    f.events.forEach((e, j) => lines.push(`${p}Events[${j}]=${e}`));
    f.flags.forEach((x, j) => lines.push(`${p}Flags[${j}]=${x}`));
    lines.push(`${p}VideoStream=${f.stream}`, `${p}FilePath=${f.path}`, `${p}Length=${f.length}`, `${p}Duration=${f.duration}`);
  });
  return text(lines.join('\r\n'));
};

export const closeMediaFinder: CgiHandler = ({ url, camera }) => {
  const finder = stateOf(camera).media.get(url.get('object') ?? '');
  if (!finder) return cameraError(4);
  finder.closed = true;
  return ok();
};

export const destroyMediaFinder: CgiHandler = ({ url, camera }) => {
  return stateOf(camera).media.delete(url.get('object') ?? '') ? ok() : cameraError(4);
};

// ------------------------------------------------------------------ log.cgi (4.13.1, 4.13.2)

const LOG_TYPES = new Set(['System', 'Config', 'Event', 'Storage', 'Account', 'Data', 'File', 'CourseRecord']);

export const startLogFind: CgiHandler = ({ url, camera }) => {
  const start = parseCameraTime(url.get('condition.StartTime') ?? '');
  const end = parseCameraTime(url.get('condition.EndTime') ?? '');
  const type = url.get('condition.Type');
  if (!start || !end || start > end || (type !== undefined && !LOG_TYPES.has(type))) return cameraError(4);
  const entries = logOf(camera).filter((e) => e.time >= start && e.time <= end && (type === undefined || e.category === type));
  // "If token is greater than 0, logs are found; otherwise no logs are found": no finder is held then.
  if (entries.length === 0) return text('token=0');
  const s = stateOf(camera);
  if (s.logFinders.size >= MAX_OPEN_FINDERS) return cameraError(5);
  const token = String(s.nextToken++);
  s.logFinders.set(token, { entries, next: 0 });
  return text(`token=${token}`);
};

export const doLogFind: CgiHandler = ({ url, camera }) => {
  const finder = stateOf(camera).logFinders.get(url.get('token') ?? '');
  const count = countOf(url.get('count'));
  if (!finder || count === null) return cameraError(4);
  const batch = finder.entries.slice(finder.next, finder.next + count);
  finder.next += batch.length;
  const lines = [`found=${batch.length}`];
  batch.forEach((e, i) => {
    const p = `items[${i}].`;
    for (const [k, v] of e.detail) lines.push(`${p}Detail.${k}=${v}`);
    lines.push(`${p}RecNo=${e.recNo}`, `${p}Time=${paddedTime(e.time)}`, `${p}Type=${e.type}`, `${p}User=${e.user}`);
  });
  return text(lines.join('\r\n'));
};

export const stopLogFind: CgiHandler = ({ url, camera }) => {
  return stateOf(camera).logFinders.delete(url.get('token') ?? '') ? ok() : cameraError(4);
};

// The camera empties its log and records who did it (the doFind example's ClearLog entry).
export const clearLog: CgiHandler = ({ camera }) => {
  const s = stateOf(camera);
  logOf(camera).length = 0;
  s.log!.push({ recNo: s.nextRecNo++, time: camera.clock.current(), category: 'System', type: 'ClearLog', user: 'admin', detail: [] });
  return ok();
};
