// The EventHandler of one event source (vendor §4.9.1, x-handler eventHandler): the camera reads
// and writes it as `<Table>[n].EventHandler`, a config name the generic translator cannot build
// because the table comes from the URL.
import type { Request } from 'express';
import type { Camera } from '../cgi/camera.ts';
import { toParams, typeBySchema, type CgiNode } from '../cgi/codec.ts';
import { ProblemError } from '../../gateway/problems.ts';
import { successSchema } from '../../gateway/spec.ts';
import type { HandlerFactory } from './handlers.ts';
import { untilClientLeaves } from './client-abort.ts';
import { channelIndex, keyToPointer, sameValue } from './translator.ts';

/** The four handler names the vendor document lists for §4.9.1, by the URL's `event`. */
export const EVENT_TABLES: Record<string, string> = {
  alarm: 'Alarm',
  'motion-detect': 'MotionDetect',
  'blind-detect': 'BlindDetect',
  'loss-detect': 'LossDetect',
};

interface Source {
  table: string;
  index: number;
  /** `MotionDetect[0]`: what comes before `.EventHandler` in the camera's keys. */
  head: string;
}

function sourceOf(req: Request): Source {
  const event = String(req.params.event);
  const table = EVENT_TABLES[event];
  if (table === undefined) throw new ProblemError('NOT_FOUND', { detail: `no event source ${event}` });
  // The `channel` parameter also numbers alarm inputs from 1 for the Alarm table.
  const index = channelIndex(req);
  return { table, index, head: `${table}[${index}]` };
}

async function readHandler(camera: Camera, source: Source, signal: AbortSignal): Promise<CgiNode> {
  const name = `${source.head}.EventHandler`;
  const doc = await camera.getConfig(name, { signal });
  const rows = doc[source.table];
  const entry = Array.isArray(rows) ? rows[source.index] : undefined;
  const handler = entry !== null && typeof entry === 'object' && !Array.isArray(entry) ? entry.EventHandler : undefined;
  if (handler === undefined || handler === null || typeof handler !== 'object' || Array.isArray(handler)) {
    throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera's answer has no ${name}` });
  }
  return handler;
}



export const eventHandler: HandlerFactory = (ctx, op) => {
  const { schema } = successSchema(ctx.spec, op);
  if (!schema) throw new Error(`${op.operationId}: eventHandler needs an application/json answer`);
  const typed = (body: Record<string, unknown>): unknown => {
    const warnings: string[] = [];
    const value = typeBySchema(body as CgiNode, schema, ctx.spec.resolveRef, warnings);
    if (warnings.length > 0) ctx.warn({ operationId: op.operationId, warnings }, 'camera answer did not fit the schema');
    return value;
  };

  if (op.method === 'get') {
    return (req, res) =>
      untilClientLeaves(res, async (signal) => {
        const source = sourceOf(req);
        const handler = await readHandler(ctx.camera(req), source, signal);
        res.json(typed({ EventHandler: handler }));
      });
  }

  if (op.method === 'patch') {
    return (req, res) =>
      untilClientLeaves(res, async (signal) => {
        const source = sourceOf(req);
        const body = req.body as { EventHandler?: unknown } | undefined;
        // Keys relative to the request body (`EventHandler.X[0]`) give the pointers of ignoredFields.
        const sent = toParams(body?.EventHandler, 'EventHandler');
        if (sent.length === 0) {
          throw new ProblemError('VALIDATION_FAILED', { errors: [{ pointer: '/EventHandler', message: 'nothing to change' }] });
        }
        const camera = ctx.camera(req);
        await camera.setConfig(
          sent.map(([key, value]) => [`${source.head}.${key}`, value]),
          { signal },
        );
        const handler = await readHandler(camera, source, signal);
        const now = new Map(toParams(handler, 'EventHandler'));
        const ignoredFields = sent.filter(([key, value]) => {
          const got = now.get(key);
          return got === undefined || !sameValue(value, got);
        }).map(([key]) => keyToPointer(key));
        res.json(typed({ EventHandler: handler, ignoredFields }));
      });
  }

  throw new Error(`${op.operationId}: eventHandler serves GET and PATCH only`);
};
