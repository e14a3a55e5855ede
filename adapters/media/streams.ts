// REST handlers for the camera's HTTP media (vendor §4.1–§4.3, §4.11.6, §4.13.3): RTSP URLs,
// real-time and playback streams in the appendix §7 format (raw, as an H.264 elementary stream,
// or as JSON lines of packet metadata), playback control, audio in both directions, and the
// two downloads. Every relay is a pipeline: the client's pace is the camera's pace (backpressure),
// nothing is held whole, and a client that leaves closes the camera's stream.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { CgiLongStream, CgiStreamResponse } from '../cgi/client.ts';
import { cameraErrorFromBody, cameraErrorFromStatus } from '../cgi/errors.ts';
import { buildQuery } from '../cgi/query.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { ProblemError } from '../../gateway/problems.ts';
import { isoToCameraTime } from '../rest/formats.ts';
import { untilClientLeaves } from '../rest/client-abort.ts';
import type { HandlerContext, HandlerFactory } from '../rest/handlers.ts';
import { relayDownload } from '../rest/handlers.ts';
import { davTransform, type DavView } from './dav.ts';
import { postStream } from './upload.ts';

type Params = Array<[string, string]>;

// The vendor support matrix for the RTSP sections: no URL is asked of the camera, so the
// gateway answers "not supported" itself where the matrix says N/A (models without storage).
const RTSP_SUPPORT: Record<string, readonly string[]> = {
  '4.1.2': ['WV-V2530LK', 'WV-V1330L1', 'WV-V2530L1'],
  '4.1.3': ['WV-V2530LK', 'WV-V1330L1', 'WV-V2530L1'],
};

function entryOf(ctx: HandlerContext, req: Request): CameraEntry {
  const entry = ctx.cameras.get(String(req.params.cameraId));
  if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${String(req.params.cameraId)}` });
  return entry;
}

function q(req: Request, name: string): string | undefined {
  const v = req.query[name];
  return typeof v === 'string' ? v : undefined;
}

function invalid(pointer: string, message: string): ProblemError {
  return new ProblemError('VALIDATION_FAILED', { errors: [{ pointer, message }] });
}

/** startTime and endTime (ISO 8601 local, the document checked the shape) in the camera's form, end after start. */
function timeRange(req: Request): [string, string] {
  const start = q(req, 'startTime')!;
  const end = q(req, 'endTime')!;
  const from = isoToCameraTime(start, '/query/startTime');
  const to = isoToCameraTime(end, '/query/endTime');
  if (end <= start) throw invalid('/query/endTime', 'must be after startTime');
  return [from, to];
}

// ---------------------------------------------------------------- RTSP URLs (§4.1)

function rtspHost(entry: CameraEntry): string {
  // The camera's configured address, never the credentials that may sit in it.
  return new URL(entry.connection.baseUrl).hostname;
}

/** `rtsp://host:port` of the camera (no credentials) and whether its RTSP server is on; ONVIF GetStreamUri uses it too. */
export async function rtspBase(entry: CameraEntry, signal: AbortSignal): Promise<{ base: string; enabled: boolean }> {
  const doc = await entry.camera.getConfig('RTSP', { signal });
  const table = (doc.RTSP ?? {}) as Record<string, unknown>;
  const port = Number(table.Port);
  const host = rtspHost(entry);
  const p = Number.isInteger(port) && port > 0 && port < 65536 ? port : 554;
  // The port is written even when it is the default 554: some clients assume another default.
  return { base: `rtsp://${host}:${p}`, enabled: String(table.Enable) !== 'false' };
}

function rtspHandler(section: string, build: (req: Request) => string): HandlerFactory {
  return (ctx) => async (req, res) => {
    const entry = entryOf(ctx, req);
    const models = RTSP_SUPPORT[section];
    if (models && !models.includes(entry.model)) {
      throw new ProblemError('NOT_SUPPORTED_BY_MODEL', { detail: `${entry.model} has no §${section} stream` });
    }
    const tail = build(req);
    await untilClientLeaves(res, async (signal) => {
      const { base, enabled } = await rtspBase(entry, signal);
      res.json({ url: base + tail, rtspEnabled: enabled, authentication: ['digest', 'basic'] });
    });
  };
}

const channelOf = (req: Request): number => (req.query.channel === undefined ? 1 : Number(req.query.channel));
const subtypeOf = (req: Request): number => (req.query.subtype === undefined ? 0 : Number(req.query.subtype));

/** The RTSP playback time form: `2012_09_15_12_37_05`. */
function rtspTime(cameraTime: string): string {
  return cameraTime.replace(/[- :]/g, '_');
}

const rtspLive = rtspHandler('4.1.1', (req) => `/cam/realmonitor?channel=${channelOf(req)}&subtype=${subtypeOf(req)}`);
const rtspPlayback = rtspHandler('4.1.2', (req) => {
  const [from, to] = timeRange(req);
  return `/cam/playback?channel=${channelOf(req)}&starttime=${rtspTime(from)}&endtime=${rtspTime(to)}`;
});
const rtspFile = rtspHandler('4.1.3', (req) => {
  const path = q(req, 'path')!;
  if (path.split('/').some((s) => s === '..' || s === '.')) throw invalid('/query/path', 'must be an absolute path without . or .. segments');
  // As the vendor example: the absolute path follows the authority, hence the double slash.
  return `/${path}`;
});

// ---------------------------------------------------------------- §7 streams (§4.2.2, §4.2.3)

const STREAM_TYPES: Record<string, string> = {
  dav: 'application/octet-stream',
  h264: 'video/h264',
  metadata: 'application/x-ndjson',
};

/** Reads until `test` says the head is complete (or `max` bytes); the bytes read are handed back. */
function readHead(body: Readable, max: number, complete: (head: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = body.read() as Buffer | null) !== null) {
        parts.push(chunk);
        total += chunk.length;
        const head = Buffer.concat(parts, total);
        if (total >= max || complete(head)) {
          cleanup();
          resolve(head);
          return;
        }
      }
    };
    const onEnd = (): void => { cleanup(); resolve(Buffer.concat(parts, total)); };
    const onError = (err: Error): void => { cleanup(); reject(err); };
    body.on('readable', onReadable);
    body.on('end', onEnd);
    body.on('error', onError);
    onReadable();
  });
}

function rejectError(upstream: CgiStreamResponse, head: Buffer): void {
  const statusError = cameraErrorFromStatus(upstream.status, head.toString('latin1'));
  if (statusError) throw statusError;
  if (/^\s*Error\b/.test(head.subarray(0, 64).toString('latin1'))) {
    throw cameraErrorFromBody(head.toString('latin1')) ?? new ProblemError('CAMERA_REJECTED');
  }
}

interface StreamPlan {
  path: string;
  params: Params;
  /** playBack.cgi opens with `streamId=<id>\r\n`: taken off the body and put in a header. */
  preamble: boolean;
}

/**
 * Opens a camera stream for this response, refuses an `Error` body in its first bytes, and
 * hands those bytes and the rest to `relay`. A client that leaves ends it quietly.
 */
async function relayCameraStream(
  entry: CameraEntry,
  res: Response,
  path: string,
  params: Params,
  headComplete: (head: Buffer) => boolean,
  relay: (head: Buffer, body: Readable, upstream: CgiLongStream) => Promise<void>,
): Promise<void> {
  const query = buildQuery(params);
  const abort = new AbortController();
  const onClose = (): void => abort.abort();
  res.once('close', onClose);
  let upstream: CgiLongStream | undefined;
  try {
    upstream = await entry.client.openStream({ path, query, signal: abort.signal, idleTimeoutMs: 15_000 });
    const body = upstream.body as Readable;
    const head = await readHead(body, 512, headComplete);
    rejectError(upstream, head);
    res.status(200);
    await relay(head, body, upstream);
  } catch (err) {
    // A client that left ends the relay; nothing to report to anyone.
    if (abort.signal.aborted || res.headersSent) return;
    throw err;
  } finally {
    res.off('close', onClose);
    upstream?.close();
  }
}

function streamHandler(plan: (req: Request) => StreamPlan): HandlerFactory {
  return (ctx) => async (req, res) => {
    const entry = entryOf(ctx, req);
    const view = (q(req, 'format') ?? 'dav') as 'dav' | DavView;
    const p = plan(req);
    await relayCameraStream(entry, res, p.path, p.params, (h) => (p.preamble ? h.includes(0x0a) : h.length >= 8), async (first, body) => {
      let head = first;
      if (p.preamble) {
        const nl = head.indexOf(0x0a);
        const m = /^streamId=(\d{1,10})\r?$/.exec(head.subarray(0, nl < 0 ? 0 : nl).toString('latin1'));
        if (m) {
          res.setHeader('Camgate-Stream-Id', m[1]!);
          head = head.subarray(nl + 1);
        }
      }
      res.setHeader('Content-Type', STREAM_TYPES[view]!);
      res.setHeader('Cache-Control', 'no-store');
      res.flushHeaders();
      if (view === 'dav') {
        if (head.length > 0) res.write(head);
        await pipeline(body, res);
      } else {
        const transform = davTransform(view);
        if (head.length > 0) transform.write(head);
        await pipeline(body, transform, res);
      }
    });
  };
}

function streamParams(req: Request, extra: Params = []): Params {
  return [['action', 'getStream'], ['channel', String(channelOf(req))], ['subtype', String(subtypeOf(req))], ...extra];
}

const liveStream = streamHandler((req) => ({ path: '/cgi-bin/realmonitor.cgi', params: streamParams(req), preamble: false }));
const playbackStream = streamHandler((req) => {
  const [from, to] = timeRange(req);
  return { path: '/cgi-bin/playBack.cgi', params: streamParams(req, [['startTime', from], ['endTime', to]]), preamble: true };
});

// ---------------------------------------------------------------- §4.2.4 playback control

const playbackControl: HandlerFactory = (ctx) => async (req, res) => {
  const body = req.body as { streamId: number; cmd: 'play' | 'pause' | 'cancel'; speed?: number; iframe?: boolean; seekTime?: string };
  const params: Params = [['action', 'control'], ['streamId', String(body.streamId)], ['cmd', body.cmd]];
  if (body.cmd === 'play') {
    if (body.speed !== undefined) params.push(['speed', String(body.speed)]);
    if (body.iframe !== undefined) params.push(['iframe', body.iframe ? '1' : '0']);
    if (body.seekTime !== undefined) params.push(['seekTime', isoToCameraTime(body.seekTime, '/seekTime')]);
  } else if (body.speed !== undefined || body.iframe !== undefined || body.seekTime !== undefined) {
    throw invalid('/cmd', 'speed, iframe and seekTime go with play only');
  }
  const camera = ctx.camera(req);
  await untilClientLeaves(res, async (signal) => {
    const text = await camera.call('/cgi-bin/playBack.cgi', params, { signal });
    const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
    if (lines[0] !== 'OK') throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera did not confirm the request with OK' });
    const m = lines.map((l) => /^operateId=(\d{1,10})$/.exec(l)).find(Boolean);
    res.status(200).json(m ? { operateId: Number(m[1]) } : {});
  });
};

// ---------------------------------------------------------------- §4.3.4 / §4.3.3 audio

const getAudio: HandlerFactory = (ctx) => async (req, res) => {
  const entry = entryOf(ctx, req);
  const params: Params = [['action', 'getAudio'], ['httptype', q(req, 'httptype') ?? 'singlepart'], ['channel', String(channelOf(req))]];
  await relayCameraStream(entry, res, '/cgi-bin/audio.cgi', params, (h) => h.length >= 8, async (head, body, upstream) => {
    const type = String(upstream.headers['content-type'] ?? '');
    // The camera's `Audio/G.711A` is kept (lowercased); a multipart answer keeps its boundary.
    if (/^multipart\/x-mixed-replace;\s*boundary=[A-Za-z0-9'()+_,./:=?-]{1,70}$/i.test(type)) res.setHeader('Content-Type', type);
    else if (/^audio\/[A-Za-z0-9.+_-]{1,40}$/i.test(type.trim())) res.setHeader('Content-Type', type.trim().toLowerCase());
    else res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Cache-Control', 'no-store');
    res.flushHeaders();
    if (head.length > 0) res.write(head);
    await pipeline(body, res);
  });
};

const AUDIO_UPLOAD_TYPE = /^(audio\/[A-Za-z0-9.+_ -]{1,40}|application\/octet-stream|multipart\/x-mixed-replace;\s*boundary=[A-Za-z0-9'()+_,./:=?-]{1,70})$/i;

const postAudio: HandlerFactory = (ctx) => async (req, res) => {
  const entry = entryOf(ctx, req);
  const httptype = q(req, 'httptype') ?? 'singlepart';
  const type = String(req.headers['content-type'] ?? '').trim();
  if (!AUDIO_UPLOAD_TYPE.test(type) || (httptype === 'multipart') !== /^multipart\//i.test(type)) {
    throw new ProblemError('UNSUPPORTED_MEDIA_TYPE', { detail: 'send audio/<codec> (singlepart) or multipart/x-mixed-replace with a boundary (multipart)' });
  }
  const params: Params = [['action', 'postAudio'], ['httptype', httptype], ['channel', String(channelOf(req))]];
  await untilClientLeaves(res, async (signal) => {
    let answer: { status: number; body: string };
    try {
      answer = await postStream(entry, {
        path: '/cgi-bin/audio.cgi', query: buildQuery(params), contentType: type, body: req, signal,
        length: typeof req.headers['content-length'] === 'string' ? req.headers['content-length'] : undefined,
      });
    } catch (err) {
      // The speaker stopped talking (the client left): the camera's side is closed, nobody to answer.
      if (signal.aborted) return;
      throw err;
    }
    const err = cameraErrorFromStatus(answer.status, answer.body) ?? cameraErrorFromBody(answer.body);
    if (err) throw err;
    if (answer.body.trim() !== 'OK') throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera did not confirm the upload with OK' });
    res.status(204).end();
  });
};

// ---------------------------------------------------------------- downloads (§4.11.6, §4.13.3)

const fileTime = (t: string): string => t.replace(/[^0-9]/g, '');

const recordingDownload: HandlerFactory = (ctx) => async (req, res) => {
  const [from, to] = timeRange(req);
  const query = buildQuery([['action', 'startLoad'], ['channel', String(channelOf(req))], ['startTime', from], ['endTime', to], ['subtype', String(subtypeOf(req))]]);
  await relayDownload(ctx, '/cgi-bin/loadfile.cgi', query, (r) => `${String(r.params.cameraId)}-ch${channelOf(r)}-${fileTime(from)}-${fileTime(to)}.dav`)(req, res);
};

const logBackup: HandlerFactory = (ctx) => async (req, res) => {
  const [from, to] = timeRange(req);
  const query = buildQuery([['action', 'All'], ['condition.StartTime', from], ['condition.EndTime', to]]);
  await relayDownload(ctx, '/cgi-bin/Log.backup', query, (r) => `${String(r.params.cameraId)}-${fileTime(from)}-${fileTime(to)}.log`)(req, res);
};

export const streamHandlers: Record<string, HandlerFactory> = {
  rtspLive, rtspPlayback, rtspFile, liveStream, playbackStream, playbackControl, getAudio, postAudio, recordingDownload, logBackup,
};

