// GET /cameras/{cameraId}/snapshot (vendor §4.4.2, snapshot.cgi). A camera makes a snapshot
// slowly and can make few at once, while dashboards ask for one every second from many browsers:
// so concurrent callers of one camera and channel share one camera request (single-flight), and
// a snapshot younger than SNAPSHOT_MAX_AGE_MS is served again, its age in Camgate-Snapshot-Age.
import type { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import type { CameraEntry, CameraRegistry } from '../../gateway/cameras.ts';
import { ProblemError } from '../../gateway/problems.ts';
import type { OperationHandler } from '../rest/translator.ts';
import { answerProblem, channelOf, contentTypeOf, entryOf, readAll } from './upstream.ts';

export const SNAPSHOT_MAX_AGE_MS = 1_000;
export const SNAPSHOT_TIMEOUT_MS = 10_000;
const MAX_IMAGE_BYTES = 16 * 1024 * 1024;
export const AGE_HEADER = 'Camgate-Snapshot-Age';

interface Shot { image: Buffer; at: number; contentType: string }

interface Flight {
  promise: Promise<Shot>;
  /** Callers still waiting: when all have left, the camera request is abandoned. */
  waiters: number;
  abort: AbortController;
}

interface Slot { flight: Flight | null; last: Shot | null }

/** Per camera entry (a registry built again gets fresh state), then per channel. */
const slots = new WeakMap<CameraEntry, Map<number, Slot>>();

function slotOf(entry: CameraEntry, channel: number): Slot {
  let byChannel = slots.get(entry);
  if (!byChannel) slots.set(entry, (byChannel = new Map()));
  let slot = byChannel.get(channel);
  if (!slot) byChannel.set(channel, (slot = { flight: null, last: null }));
  return slot;
}

async function fetchSnapshot(entry: CameraEntry, channel: number, signal: AbortSignal): Promise<Shot> {
  const upstream = await entry.client.stream({
    path: '/cgi-bin/snapshot.cgi', query: `channel=${channel}`, read: true, timeoutMs: SNAPSHOT_TIMEOUT_MS, signal,
  });
  const body = upstream.body as Readable;
  const contentType = contentTypeOf(upstream.headers);
  let image: Buffer;
  try {
    image = await readAll(body, MAX_IMAGE_BYTES);
  } catch (err) {
    body.destroy();
    if (signal.aborted) throw signal.reason;
    throw err;
  }
  // The camera says errors with 200 and an `Error` text body; a JPEG starts with FF D8.
  const isJpeg = upstream.status === 200 && image.length > 2 && image[0] === 0xff && image[1] === 0xd8;
  if (!isJpeg) throw answerProblem(upstream.status, contentType, image);
  return { image, at: Date.now(), contentType: /^image\//i.test(contentType) ? contentType.split(';')[0]!.trim() : 'image/jpeg' };
}

/** One camera request for every concurrent caller; the caller's own signal only lets it stop waiting. */
export function sharedSnapshot(entry: CameraEntry, channel: number, signal: AbortSignal): Promise<Shot> {
  const slot = slotOf(entry, channel);
  let flight = slot.flight;
  if (!flight) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new ProblemError('CAMERA_TIMEOUT', {
      detail: `The camera did not deliver a snapshot within ${SNAPSHOT_TIMEOUT_MS} ms`,
    })), SNAPSHOT_TIMEOUT_MS);
    const f: Flight = { waiters: 0, abort, promise: undefined as unknown as Promise<Shot> };
    f.promise = fetchSnapshot(entry, channel, abort.signal)
      .then((shot) => { slot.last = shot; return shot; })
      .catch((err: unknown) => { throw abort.signal.aborted && abort.signal.reason instanceof ProblemError ? abort.signal.reason : err; })
      .finally(() => {
        clearTimeout(timer);
        if (slot.flight === f) slot.flight = null;
      });
    // Nobody may be left to observe a failure.
    f.promise.catch(() => undefined);
    slot.flight = flight = f;
  }
  const f = flight;
  f.waiters++;
  return new Promise<Shot>((resolve, reject) => {
    let settled = false;
    const leave = (): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      f.waiters--;
    };
    const onAbort = (): void => {
      leave();
      // The last waiter gone: the image would only be cached, and a new caller starts anew.
      if (f.waiters === 0 && slot.flight === f) {
        slot.flight = null;
        f.abort.abort(new ProblemError('CAMERA_UNREACHABLE', { detail: 'every caller left' }));
      }
      reject(signal.reason);
    };
    if (signal.aborted) { onAbort(); return; }
    signal.addEventListener('abort', onAbort, { once: true });
    f.promise.then((shot) => { leave(); resolve(shot); }, (err: unknown) => { leave(); reject(err); });
  });
}

function fresh(slot: Slot): Shot | null {
  const last = slot.last;
  return last !== null && Date.now() - last.at < SNAPSHOT_MAX_AGE_MS ? last : null;
}

export function snapshotHandler(cameras: CameraRegistry): OperationHandler {
  return async (req: Request, res: Response) => {
    const entry = entryOf(cameras, req);
    const channel = channelOf(req);
    const slot = slotOf(entry, channel);
    let shot = fresh(slot);
    if (shot === null) {
      const abort = new AbortController();
      const onClose = (): void => { if (!res.writableFinished) abort.abort(new ProblemError('CAMERA_UNREACHABLE', { detail: 'the client left' })); };
      res.on('close', onClose);
      try {
        shot = await sharedSnapshot(entry, channel, abort.signal);
      } finally {
        res.off('close', onClose);
      }
      if (abort.signal.aborted) return;
    }
    const age = Math.max(0, Date.now() - shot.at);
    res.status(200);
    res.setHeader('Content-Type', shot.contentType);
    res.setHeader('Content-Length', String(shot.image.length));
    res.setHeader(AGE_HEADER, String(age));
    // Private (one camera's picture behind a login), and a browser must ask again each time:
    // the gateway's own cache already answers repeated asks within a second.
    res.setHeader('Cache-Control', 'private, no-cache');
    res.end(shot.image);
  };
}
