// The REST face of the event hub: Server-Sent Events (design.md §5), the current-state table,
// and §4.9.16 event indexes.
import type { Request, Response } from 'express';
import { ProblemError } from '../../gateway/problems.ts';
import type { CameraEntry } from '../../gateway/cameras.ts';
import { eventIndexes, existingHub, hubFor, INDEXED_CODES, type EventFilter, type GatewayEvent } from '../events/hub.ts';
import { untilClientLeaves } from './client-abort.ts';
import type { HandlerFactory } from './handlers.ts';

/** SSE settings (tests shorten the heartbeat). */
export const sseSettings = { heartbeatMs: 15_000, maxBufferedBytes: 1024 * 1024, retryMs: 3_000 };

function entryOf(ctx: Parameters<HandlerFactory>[0], req: Request): CameraEntry {
  const entry = ctx.cameras.get(String(req.params.cameraId));
  if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${String(req.params.cameraId)}` });
  return entry;
}

function filterOf(req: Request): EventFilter {
  const filter: EventFilter = {};
  if (typeof req.query.codes === 'string' && req.query.codes !== '') filter.codes = req.query.codes.split(',');
  if (req.query.channel !== undefined) filter.channels = [Number(req.query.channel)];
  return filter;
}

function lastEventId(req: Request): number | undefined {
  const raw = req.headers['last-event-id'] ?? req.query.lastEventId;
  if (typeof raw !== 'string' || !/^\d{1,15}$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** The wire form of one event: `id:` and one `data:` line of JSON. */
export function sseMessage(e: GatewayEvent): string {
  return `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`;
}

export const eventStream: HandlerFactory = (ctx) => async (req: Request, res: Response) => {
  const entry = entryOf(ctx, req);
  const hub = hubFor(entry);
  res.status(200);
  res.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
  res.setHeader('Cache-Control', 'no-cache, no-transform');
  res.setHeader('X-Accel-Buffering', 'no');
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  res.write(`retry: ${sseSettings.retryMs}\n: camgate events of ${entry.id}\n\n`);

  let finished = false;
  let heartbeat: NodeJS.Timeout | undefined;
  let sub: { unsubscribe(): void } | undefined;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (heartbeat !== undefined) clearInterval(heartbeat);
    sub?.unsubscribe();
    if (!res.writableEnded) res.end();
  };
  const send = (text: string): void => {
    if (finished) return;
    // A client that does not read is dropped, not buffered without bound; EventSource reconnects
    // with Last-Event-ID and gets the rest from the ring.
    if (res.writableLength > sseSettings.maxBufferedBytes) { res.destroy(); finish(); return; }
    res.write(text);
  };
  res.on('close', finish);
  heartbeat = setInterval(() => send(`: heartbeat ${new Date().toISOString()}\n\n`), sseSettings.heartbeatMs);
  sub = hub.subscribe(filterOf(req), (e) => send(sseMessage(e)), {
    ...(lastEventId(req) !== undefined ? { afterId: lastEventId(req)! } : {}),
    onClose: finish,
  });
  if (finished) sub.unsubscribe();
};

export const eventsActive: HandlerFactory = (ctx) => async (req: Request, res: Response) => {
  const entry = entryOf(ctx, req);
  const hub = existingHub(entry);
  if (hub?.connected && hub.synchronised) {
    res.json({ source: 'stream', items: hub.currentState() });
    return;
  }
  // Nobody is attached: ask the camera directly (one getEventIndexes per code).
  const items = await untilClientLeaves(res, async (signal) => {
    const found: Array<{ code: string; channel: number }> = [];
    for (const code of INDEXED_CODES) {
      let indexes: number[];
      try {
        indexes = await eventIndexes(entry.camera, code, signal);
      } catch (err) {
        if (err instanceof ProblemError && (err.code === 'NOT_SUPPORTED_BY_MODEL' || err.code === 'CAMERA_REJECTED' || err.code === 'CAMERA_PROTOCOL_ERROR')) continue;
        throw err;
      }
      for (const i of indexes) found.push({ code, channel: i + 1 });
    }
    return found;
  });
  res.json({ source: 'poll', items });
};

export const eventIndexesHandler: HandlerFactory = (ctx) => async (req: Request, res: Response) => {
  const entry = entryOf(ctx, req);
  const code = String(req.query.code);
  const indexes = await untilClientLeaves(res, (signal) => eventIndexes(entry.camera, code, signal));
  res.json({ code, channels: indexes.map((i) => i + 1) });
};
