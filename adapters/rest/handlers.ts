// The few hand-written handlers (x-handler): gateway resources and streamed downloads, which the
// generic translator cannot express.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import { cameraErrorFromBody, cameraErrorFromStatus } from '../cgi/errors.ts';
import type { CameraRegistry } from '../../gateway/cameras.ts';
import { ProblemError } from '../../gateway/problems.ts';
import type { LoadedSpec, Operation } from '../../gateway/spec.ts';
import type { OperationHandler, TranslatorContext } from './translator.ts';
import { logFind, mediaFileFind } from './finders.ts';
import { ptzList } from './ptz.ts';
import { eventHandler } from './event-handler.ts';
import { motionRegions } from './motion-regions.ts';
import { eventIndexesHandler, eventsActive, eventStream } from './event-stream.ts';
import { snapshotHandler } from '../media/snapshot.ts';
import { mjpegHandler } from '../media/mjpeg.ts';
import { cameraHandlers } from './cameras.ts';
// streams.ts uses relayDownload from here: a cycle that is safe because neither reads the other at load time.
import { streamHandlers } from '../media/streams.ts';

export interface HandlerContext extends TranslatorContext {
  spec: LoadedSpec;
  cameras: CameraRegistry;
}

export type HandlerFactory = (ctx: HandlerContext, op: Operation) => OperationHandler;

/**
 * A download relayed as it arrives (design.md §4: never held whole in memory). The first chunk is
 * looked at before anything is sent, because the camera reports errors as a 200 `Error` body.
 */
export function relayDownload(ctx: HandlerContext, path: string, query: string, filename: (req: Request) => string): OperationHandler {
  return async (req: Request, res: Response) => {
    const entry = ctx.cameras.get(String(req.params.cameraId));
    if (!entry) throw new ProblemError('NOT_FOUND', { detail: `no camera ${String(req.params.cameraId)}` });
    const abort = new AbortController();
    const onClose = () => abort.abort();
    res.on('close', onClose);
    try {
      const upstream = await entry.client.stream({ path, query, read: true, signal: abort.signal, timeoutMs: 30_000 });
      const body = upstream.body as Readable;
      const statusError = cameraErrorFromStatus(upstream.status, '');
      if (statusError) {
        body.destroy();
        throw statusError;
      }
      const first = await firstChunk(body);
      const head = first ? first.subarray(0, 64).toString('latin1') : '';
      if (/^\s*Error\b/.test(head)) {
        const text = first!.toString('latin1') + (await drainText(body, 4096));
        body.destroy();
        throw cameraErrorFromBody(text) ?? new ProblemError('CAMERA_REJECTED');
      }
      res.status(200);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Disposition', `attachment; filename="${filename(req)}"`);
      const length = upstream.headers['content-length'];
      if (typeof length === 'string') res.setHeader('Content-Length', length);
      if (first) res.write(first);
      await pipeline(body, res);
    } catch (err) {
      // A client that left mid-download is not a gateway error (nothing to answer, nothing to log).
      if (abort.signal.aborted && res.headersSent) return;
      throw err;
    } finally {
      res.off('close', onClose);
    }
  };
}

function firstChunk(body: Readable): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const onReadable = () => {
      const chunk = body.read() as Buffer | null;
      if (chunk === null) return;
      cleanup();
      resolve(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(undefined);
    };
    const onError = (err: Error) => {
      cleanup();
      reject(err);
    };
    const cleanup = () => {
      body.off('readable', onReadable);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    body.on('readable', onReadable);
    body.on('end', onEnd);
    body.on('error', onError);
  });
}

async function drainText(body: Readable, max: number): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += (chunk as Buffer).toString('latin1');
    if (text.length >= max) break;
  }
  return text;
}

const configBackup: HandlerFactory = (ctx) =>
  relayDownload(ctx, '/cgi-bin/Config.backup', 'action=All', (req) => `${String(req.params.cameraId)}-config.backup`);

const snapshot: HandlerFactory = (ctx) => snapshotHandler(ctx.cameras);
const mjpeg: HandlerFactory = (ctx) => mjpegHandler(ctx.cameras);

export const builtinHandlers: Record<string, HandlerFactory> = { ...cameraHandlers, configBackup, ptzList, motionRegions, eventHandler, mediaFileFind, logFind, snapshot, mjpeg, eventStream, eventsActive, eventIndexes: eventIndexesHandler, ...streamHandlers };
