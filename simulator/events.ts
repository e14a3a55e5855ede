// The camera's event manager (vendor §4.9.16 getEventIndexes, §4.9.17 attach): which events are
// active now, and the multipart/x-mixed-replace streams of attached clients, with Heartbeat
// parts at the keepalive interval, events raised on command or on a schedule, and the stream
// faults of the field (stall, malformed multipart, split chunks, stray status line, reset).
import type { ServerResponse } from 'node:http';
import type { CameraContext, CgiRequest } from './camera.ts';
import { formatCameraTime, type CameraClock } from './clock.ts';
import type { Faults } from './faults.ts';
import { text, type Reply } from './replies.ts';

export type EventAction = 'Start' | 'Stop' | 'Pulse';

const BOUNDARY = 'myboundary';
const MAX_KEEPALIVE_S = 60;

interface Attached {
  res: ServerResponse;
  codes: Set<string> | null;   // null = All
  timer: NodeJS.Timeout | undefined;
  /** Split writes waiting for their turn (streamSplitChunks), in order. */
  queue: Buffer[];
  pumping: boolean;
}

export class EventManager {
  /** code → active indexes (counted from 0). */
  private readonly active = new Map<string, Set<number>>();
  private readonly streams = new Set<Attached>();
  private schedule: NodeJS.Timeout | undefined;
  attachTotal = 0;

  constructor(private readonly faults: Faults, private readonly clock: CameraClock) {
    // The vendor example of §4.9.16: alarm inputs 0, 2 and 3 are active.
    this.active.set('AlarmLocal', new Set([0, 2, 3]));
  }

  /** Attach streams open now. */
  get open(): number { return this.streams.size; }

  indexes(code: string): number[] {
    return [...(this.active.get(code) ?? [])].sort((a, b) => a - b);
  }

  raise(code: string, action: EventAction, index: number, data?: unknown): void {
    let set = this.active.get(code);
    if (action === 'Start') {
      if (!set) this.active.set(code, (set = new Set()));
      set.add(index);
    } else if (action === 'Stop') {
      set?.delete(index);
    }
    const now = this.clock.current();
    const payload = { LocaleTime: formatCameraTime(now), UTC: Math.floor(now.getTime() / 1000), ...(data as object | undefined) };
    const info = `Code=${code}; action=${action}; index=${index}; data=${JSON.stringify(payload)}`;
    for (const s of this.streams) {
      if (s.codes === null || s.codes.has(code)) this.writePart(s, info);
    }
  }

  /** Raises `code` Start and Stop in turn on index 0 every `everyMs` (SimulatorOptions.events). */
  startSchedule(everyMs: number, code = 'VideoMotion'): void {
    let on = false;
    this.schedule = setInterval(() => {
      on = !on;
      this.raise(code, on ? 'Start' : 'Stop', 0);
    }, everyMs);
    this.schedule.unref?.();
  }

  /** Drops every attached stream at once (the streamReset fault and close()). */
  resetStreams(): void {
    for (const s of [...this.streams]) s.res.socket?.destroy();
  }

  close(): void {
    if (this.schedule !== undefined) clearInterval(this.schedule);
    for (const s of [...this.streams]) {
      if (s.timer !== undefined) clearInterval(s.timer);
      s.res.destroy();
    }
    this.streams.clear();
  }

  /** Serves an authorized attach request; the Reply carries the streaming function. */
  attach(req: CgiRequest): Reply {
    const rawCodes = req.url.get('codes') ?? '';
    const list = rawCodes.replace(/^\[|\]$/g, '').split(',').map((c) => c.trim()).filter(Boolean);
    if (list.length === 0) return text('Error\r\nErrorID=4, Detail=Request invalid param!');
    const codes = list.some((c) => c.toLowerCase() === 'all') ? null : new Set(list);
    const ka = req.url.get('keepalive');
    let keepaliveS: number | undefined;
    if (ka !== undefined) {
      keepaliveS = Number(ka.trim());
      if (!Number.isInteger(keepaliveS) || keepaliveS < 1 || keepaliveS > MAX_KEEPALIVE_S) {
        return text('Error\r\nErrorID=4, Detail=Request invalid param!');
      }
    }
    return {
      status: 200,
      headers: {
        'Cache-Control': 'no-cache',
        Pragma: 'no-cache',
        Expires: 'Thu, 01 Dec 2099 16:00:00 GMT',
        Connection: 'close',
        'Content-Type': `multipart/x-mixed-replace; boundary=${BOUNDARY}`,
      },
      body: '',
      stream: (_req, res) => this.serve(res, codes, keepaliveS),
    };
  }

  private serve(res: ServerResponse, codes: Set<string> | null, keepaliveS: number | undefined): void {
    this.attachTotal++;
    const s: Attached = { res, codes, timer: undefined, queue: [], pumping: false };
    this.streams.add(s);
    res.once('close', () => {
      if (s.timer !== undefined) clearInterval(s.timer);
      this.streams.delete(s);
    });
    // The head goes out now, as the camera's does, not with the first part.
    res.flushHeaders();
    if (this.faults.streamReset) {
      setImmediate(() => res.socket?.destroy());
      return;
    }
    if (keepaliveS !== undefined) {
      s.timer = setInterval(() => this.writePart(s, 'Heartbeat'), keepaliveS * 1000);
      s.timer.unref?.();
    }
  }

  private writePart(s: Attached, info: string): void {
    const f = this.faults;
    if (s.res.destroyed || s.res.writableEnded) return;
    if (f.streamReset) { s.res.socket?.destroy(); return; }
    if (f.streamStall) return;   // the connection stays open and silent
    const body = Buffer.from(info, 'utf8');
    let out: string;
    if (f.streamMalformed) {
      // The vendor document's own form: spaced boundary, a Content-Length that is off, junk between parts.
      out = `-- ${BOUNDARY} \r\nContent-Type: text/plain\r\nContent-Length: ${Math.max(0, body.length - 3)}\r\n\r\n${info}\r\n\r\nnoise line\r\n`;
    } else {
      out = `--${BOUNDARY}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${info}\r\n\r\n`;
    }
    if (f.streamStrayStatusLine) {
      out += `HTTP/1.1 200 OK\r\nCache-Control: no-cache\r\nContent-Type: multipart/x-mixed-replace; boundary=${BOUNDARY}\r\n\r\n`;
    }
    const bytes = Buffer.from(out, 'utf8');
    if (f.streamSplitChunks || s.pumping) {
      // Small writes a few milliseconds apart, so they arrive as separate chunks: lines and
      // boundaries are cut anywhere.
      s.res.socket?.setNoDelay(true);
      for (let at = 0; at < bytes.length; at += 7) s.queue.push(bytes.subarray(at, at + 7));
      this.pump(s);
    } else {
      s.res.write(bytes);
    }
  }

  private pump(s: Attached): void {
    if (s.pumping) return;
    s.pumping = true;
    const next = (): void => {
      const chunk = s.queue.shift();
      if (chunk === undefined || s.res.destroyed) { s.pumping = false; s.queue.length = 0; return; }
      s.res.write(chunk);
      setTimeout(next, 2).unref?.();
    };
    next();
  }
}

// ---------------------------------------------------------------- CGI behaviours

const managers = new WeakMap<CameraContext, EventManager>();

/** Gives a simulated camera its event manager (server.ts, at start). */
export function bindEvents(camera: CameraContext, events: EventManager): void {
  managers.set(camera, events);
}

function eventsOf(camera: CameraContext): EventManager {
  const m = managers.get(camera);
  if (!m) throw new Error('the simulated camera has no event manager');
  return m;
}

export function getEventIndexes(req: CgiRequest): Reply {
  const code = req.url.get('code') ?? '';
  const lines = eventsOf(req.camera).indexes(code).map((index, i) => `channels[${i}]=${index}`);
  return text(lines.join('\r\n'));
}

export function attach(req: CgiRequest): Reply {
  return eventsOf(req.camera).attach(req);
}
