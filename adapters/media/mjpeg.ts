// GET /cameras/{cameraId}/video/mjpeg (vendor §4.2.1, mjpg/video.cgi). A camera serves few
// MJPEG streams and each costs it encoder time, so the gateway opens one upstream per camera,
// channel and stream type and fans its frames out to every viewer.
//
// The rule that keeps viewers independent: the upstream is read as fast as the camera sends and
// is never paused for a viewer. Each viewer is written a whole frame only when its socket has
// room (res.write backpressure); while it is full, the newest frame waits in one pending slot
// and older ones are skipped. So a slow viewer gets fewer frames, never late ones, costs at most
// one socket buffer plus one shared frame, and never slows anyone else.
import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import type { CameraEntry, CameraRegistry } from '../../gateway/cameras.ts';
import { ProblemError } from '../../gateway/problems.ts';
import type { OperationHandler } from '../rest/translator.ts';
import { boundaryOf, MultipartReader } from './multipart.ts';
import { answerProblem, channelOf, contentTypeOf, entryOf } from './upstream.ts';

export const MJPEG_LINGER_MS = 1_000;      // the upstream outlives its last viewer this long (a reload reuses it)
const OPEN_TIMEOUT_MS = 10_000;
const SILENCE_MS = 10_000;                 // no frame this long: the upstream is re-opened
const MAX_FRAME_BYTES = 8 * 1024 * 1024;
const RETRY_DELAYS_MS = [250, 500, 1_000, 2_000, 4_000];
const BOUNDARY = 'camgateframe';
const CLOSING = Buffer.from(`--${BOUNDARY}--\r\n`, 'latin1');

interface Viewer {
  res: Response;
  started: boolean;
  /** The socket is full: frames wait in `pending` until 'drain'. */
  blocked: boolean;
  pending: Buffer | null;
  sent: number;
  skipped: number;
  maxFrames: number;
  settle(err?: unknown): void;
}

export interface MjpegHubStats {
  channel: number; subtype: number; viewers: number; upstreamOpen: boolean;
  framesIn: number; framesSent: number; framesSkipped: number; reconnects: number;
  /** Bytes queued in viewers' sockets right now (the bound a slow viewer must respect). */
  queuedBytes: number;
}

class MjpegHub {
  readonly viewers = new Set<Viewer>();
  private state: 'idle' | 'connecting' | 'live' = 'idle';
  private body: Readable | null = null;
  private closeStream: (() => void) | null = null;
  private abort: AbortController | null = null;
  private linger: NodeJS.Timeout | undefined;
  private retry: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private failures = 0;
  private latest: Buffer | null = null;
  private stats = { framesIn: 0, framesSent: 0, framesSkipped: 0, reconnects: 0 };

  constructor(private readonly entry: CameraEntry, readonly channel: number, readonly subtype: number, private readonly onIdle: () => void) {}

  snapshotStats(): MjpegHubStats {
    let queued = 0;
    for (const v of this.viewers) queued += v.res.writableLength;
    return {
      channel: this.channel, subtype: this.subtype, viewers: this.viewers.size, upstreamOpen: this.body !== null,
      ...this.stats, queuedBytes: queued,
    };
  }

  join(v: Viewer): void {
    this.viewers.add(v);
    if (this.linger !== undefined) { clearTimeout(this.linger); this.linger = undefined; }
    v.res.once('close', () => this.leave(v));
    if (this.state === 'live') {
      this.start(v);
      // A new viewer sees a picture at once instead of waiting for the next frame.
      if (this.latest !== null) this.offer(v, this.latest);
    } else if (this.state === 'idle' && this.retry === undefined) {
      void this.connect();
    }
  }

  private leave(v: Viewer): void {
    if (!this.viewers.delete(v)) return;
    v.pending = null;
    v.settle();
    if (this.viewers.size === 0 && this.linger === undefined) {
      this.linger = setTimeout(() => {
        this.linger = undefined;
        if (this.viewers.size === 0) this.shutdown();
      }, MJPEG_LINGER_MS);
      this.linger.unref();
    }
  }

  /** No viewer left: the camera's stream is closed and the hub forgotten. */
  private shutdown(): void {
    if (this.retry !== undefined) { clearTimeout(this.retry); this.retry = undefined; }
    this.closeUpstream();
    this.state = 'idle';
    this.latest = null;
    this.onIdle();
  }

  private closeUpstream(): void {
    if (this.watchdog !== undefined) { clearTimeout(this.watchdog); this.watchdog = undefined; }
    const body = this.body;
    this.body = null;
    this.abort?.abort(new ProblemError('CAMERA_UNREACHABLE', { detail: 'the MJPEG stream was closed' }));
    this.abort = null;
    body?.removeAllListeners('data');
    body?.destroy();
    this.closeStream?.();
    this.closeStream = null;
  }

  private async connect(): Promise<void> {
    this.state = 'connecting';
    const abort = new AbortController();
    this.abort = abort;
    let body: Readable;
    let boundary: string | null;
    let close: () => void = () => undefined;
    try {
      // Its own connection, outside the request pool: an endless stream must not hold a slot.
      const upstream = await this.entry.client.openStream({
        path: '/cgi-bin/mjpg/video.cgi', query: `channel=${this.channel}&subtype=${this.subtype}`,
        timeoutMs: OPEN_TIMEOUT_MS, idleTimeoutMs: SILENCE_MS, signal: abort.signal,
      });
      body = upstream.body as Readable;
      close = upstream.close;
      const contentType = contentTypeOf(upstream.headers);
      boundary = upstream.status === 200 && /^multipart\//i.test(contentType) ? boundaryOf(contentType) : null;
      if (boundary === null) {
        const head = await firstBytes(body, 4096);
        close();
        throw answerProblem(upstream.status, contentType, head);
      }
    } catch (err) {
      if (this.abort !== abort) return;   // shut down meanwhile
      this.abort = null;
      this.upstreamFailed(err);
      return;
    }
    if (this.abort !== abort) {
      close();
      return;
    }
    this.body = body;
    this.closeStream = close;
    this.state = 'live';
    for (const v of this.viewers) this.start(v);
    const reader = new MultipartReader(boundary, MAX_FRAME_BYTES);
    this.armWatchdog();
    body.on('data', (chunk: Buffer) => {
      for (const part of reader.push(chunk)) {
        const type = part.headers['content-type'];
        if (type !== undefined && !/^image\/jpe?g/i.test(type)) continue;
        if (part.body.length < 2 || part.body[0] !== 0xff || part.body[1] !== 0xd8) continue;
        this.failures = 0;
        this.armWatchdog();
        this.broadcast(part.body);
      }
    });
    const ended = (err?: unknown): void => {
      if (this.body !== body) return;
      this.closeUpstream();
      this.upstreamFailed(err ?? new ProblemError('CAMERA_UNREACHABLE', { detail: 'the camera ended the MJPEG stream' }));
    };
    body.once('end', () => ended());
    body.once('error', (err) => ended(err));
    body.once('close', () => ended());
  }

  private armWatchdog(): void {
    if (this.watchdog !== undefined) clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => {
      this.watchdog = undefined;
      const body = this.body;
      if (body === null) return;
      this.entry.client.logger?.warn({ channel: this.channel, subtype: this.subtype, silenceMs: SILENCE_MS }, 'MJPEG stream silent: re-opening');
      body.destroy(new ProblemError('CAMERA_TIMEOUT', { detail: `no MJPEG frame for ${SILENCE_MS} ms` }));
    }, SILENCE_MS);
    this.watchdog.unref();
  }

  // Viewers that have not got their headers yet get the problem; viewers already watching wait
  // for a reconnect, with backoff, and are ended cleanly when the camera stays away.
  private upstreamFailed(err: unknown): void {
    this.state = 'idle';
    const problem = err instanceof ProblemError ? err : new ProblemError('CAMERA_UNREACHABLE', { detail: 'the MJPEG stream broke' });
    for (const v of [...this.viewers]) {
      if (!v.started) {
        this.viewers.delete(v);
        v.settle(problem);
      }
    }
    if (this.viewers.size === 0) {
      this.shutdown();
      return;
    }
    const delay = RETRY_DELAYS_MS[this.failures];
    if (delay === undefined) {
      this.entry.client.logger?.warn({ channel: this.channel, subtype: this.subtype, code: problem.code }, 'MJPEG stream lost: ending the viewers');
      for (const v of [...this.viewers]) this.finish(v);
      this.shutdown();
      return;
    }
    this.failures++;
    this.stats.reconnects++;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.viewers.size > 0) void this.connect();
      else this.shutdown();
    }, delay * (0.75 + Math.random() * 0.5));
    this.retry.unref();
  }

  private start(v: Viewer): void {
    if (v.started) return;
    v.started = true;
    v.res.status(200);
    v.res.setHeader('Content-Type', `multipart/x-mixed-replace; boundary=${BOUNDARY}`);
    v.res.setHeader('Cache-Control', 'no-cache, no-store, private');
    v.res.setHeader('X-Accel-Buffering', 'no');
    v.res.flushHeaders();
  }

  private broadcast(jpeg: Buffer): void {
    this.stats.framesIn++;
    // One buffer per frame, shared by every viewer: fan-out copies nothing.
    const part = Buffer.concat([
      Buffer.from(`--${BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`, 'latin1'),
      jpeg,
      Buffer.from('\r\n', 'latin1'),
    ]);
    this.latest = part;
    for (const v of this.viewers) if (v.started) this.offer(v, part);
  }

  private offer(v: Viewer, part: Buffer): void {
    if (v.blocked) {
      if (v.pending !== null) { v.skipped++; this.stats.framesSkipped++; }
      v.pending = part;
      return;
    }
    this.write(v, part);
  }

  private write(v: Viewer, part: Buffer): void {
    if (v.res.destroyed || v.res.writableEnded) return;
    const room = v.res.write(part);
    v.sent++;
    this.stats.framesSent++;
    if (v.sent >= v.maxFrames) { this.finish(v); return; }
    if (!room) {
      v.blocked = true;
      v.res.once('drain', () => {
        v.blocked = false;
        const next = v.pending;
        v.pending = null;
        if (next !== null && this.viewers.has(v)) this.write(v, next);
      });
    }
  }

  /** The camera was removed or changed, or the gateway stops: viewers end now (watching ones on a boundary, waiting ones with the problem). */
  end(problem: ProblemError): void {
    for (const v of [...this.viewers]) {
      if (v.started) {
        this.finish(v);
      } else {
        this.viewers.delete(v);
        v.settle(problem);
      }
    }
    this.shutdown();
  }

  private finish(v: Viewer): void {
    this.viewers.delete(v);
    v.pending = null;
    if (!v.res.writableEnded && !v.res.destroyed) v.res.end(CLOSING);
    v.settle();
    if (this.viewers.size === 0) this.leaveLast();
  }

  private leaveLast(): void {
    if (this.linger !== undefined || this.state === 'idle' && this.body === null) return;
    this.linger = setTimeout(() => {
      this.linger = undefined;
      if (this.viewers.size === 0) this.shutdown();
    }, MJPEG_LINGER_MS);
    this.linger.unref();
  }
}

function firstBytes(body: Readable, max: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      body.off('data', onData); body.off('end', done); body.off('error', done); body.off('close', done);
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    };
    const onData = (c: Buffer): void => {
      chunks.push(c);
      size += c.length;
      if (size >= max) done();
    };
    const timer = setTimeout(done, 2_000);
    body.on('data', onData); body.once('end', done); body.once('error', done); body.once('close', done);
  });
}

const hubs = new WeakMap<CameraEntry, Map<string, MjpegHub>>();

function hubFor(entry: CameraEntry, channel: number, subtype: number): MjpegHub {
  let byKey = hubs.get(entry);
  if (!byKey) hubs.set(entry, (byKey = new Map()));
  const key = `${channel}/${subtype}`;
  let hub = byKey.get(key);
  if (!hub) {
    const map = byKey;
    const created: MjpegHub = new MjpegHub(entry, channel, subtype, () => { if (map.get(key) === created) map.delete(key); });
    hub = created;
    byKey.set(key, hub);
  }
  return hub;
}

/** Ends every MJPEG viewer and upstream of a camera removed or changed at run time (instead of reconnect attempts). */
export function closeMjpeg(entry: CameraEntry, problem: ProblemError): void {
  const byKey = hubs.get(entry);
  hubs.delete(entry);
  for (const hub of [...(byKey?.values() ?? [])]) hub.end(problem);
}

/** The open hubs of one camera: for tests, benchmarks and health views. */
export function mjpegStats(entry: CameraEntry): MjpegHubStats[] {
  return [...(hubs.get(entry)?.values() ?? [])].map((h) => h.snapshotStats());
}

export function mjpegHandler(cameras: CameraRegistry): OperationHandler {
  return async (req: Request, res: Response) => {
    const entry = entryOf(cameras, req);
    const channel = channelOf(req);
    const subtype = req.query.subtype === undefined ? 0 : Number(req.query.subtype);
    const maxFrames = req.query.frames === undefined ? Number.POSITIVE_INFINITY : Number(req.query.frames);
    const hub = hubFor(entry, channel, subtype);
    // Resolves when the viewer's stream ends (it left, it had its frames, or the camera went
    // away); rejects with the problem when the stream could not start at all.
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      const viewer: Viewer = {
        res, started: false, blocked: false, pending: null, sent: 0, skipped: 0, maxFrames,
        settle: (err?: unknown) => {
          if (settled) return;
          settled = true;
          if (err === undefined) resolve();
          else reject(err);
        },
      };
      hub.join(viewer);
    });
  };
}
