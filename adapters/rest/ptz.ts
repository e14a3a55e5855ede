// PTZ preset and tour lists (vendor §4.10.5, §4.10.6) get their own shape; every other PTZ
// operation is the generic x-cgi translation.
import type { Request } from 'express';
import { parseKeyValue, typeBySchema, type CgiNode } from '../cgi/codec.ts';
import { buildQuery } from '../cgi/query.ts';
import { successSchema } from '../../gateway/spec.ts';
import { untilClientLeaves } from './client-abort.ts';
import type { HandlerFactory } from './handlers.ts';

/**
 * getPresets / getTours answer `presets.presets[n].Index=..` (`tours.tours[n]...`); the REST body
 * is `{ presets: [...] }`, named by the response schema's one property. A camera without presets
 * answers nothing at all, which is an empty list, not an error.
 */
export const ptzList: HandlerFactory = (ctx, op) => {
  const step = op.cgi[0];
  if (!step?.action || op.cgi.length !== 1) throw new Error(`${op.operationId}: ptzList needs one x-cgi step with an action`);
  const { schema } = successSchema(ctx.spec, op);
  const resolved = typeof schema?.$ref === 'string' ? ctx.spec.resolveRef(schema.$ref) : schema;
  const names = Object.keys((resolved?.properties ?? {}) as object);
  if (!schema || names.length !== 1) throw new Error(`${op.operationId}: ptzList needs a response schema with one property`);
  const name = names[0]!;
  for (const arg of step.args ?? []) {
    if (!/^query\.[A-Za-z0-9_]+$/.test(arg.from)) throw new Error(`${op.operationId}: ptzList takes arguments from the query only`);
  }

  const paramsFor = (req: Request): Array<[string, string]> => {
    const params: Array<[string, string]> = [['action', step.action!]];
    for (const arg of step.args ?? []) {
      const value = (req.query as Record<string, unknown>)[arg.from.slice('query.'.length)];
      if (value !== undefined && value !== null) params.push([arg.param, String(value)]);
    }
    return params;
  };

  return async (req, res) => {
    const camera = ctx.camera(req);
    const params = paramsFor(req);
    buildQuery(params);
    await untilClientLeaves(res, async (signal) => {
      const text = await camera.call(step.path, params, { signal });
      const { doc, warnings } = parseKeyValue(text);
      const head = doc[name];
      const list = head !== null && typeof head === 'object' && !Array.isArray(head) ? head[name] : undefined;
      if (text.trim() !== '' && !Array.isArray(list)) warnings.push(`/${name}: the camera's answer has no ${name}.${name} list`);
      // Holes of a sparse answer are not entries.
      const items = Array.isArray(list) ? list.filter((x): x is CgiNode => x !== null) : [];
      const typed = typeBySchema({ [name]: items }, schema, ctx.spec.resolveRef, warnings);
      if (warnings.length > 0) ctx.warn({ operationId: op.operationId, warnings }, 'camera answer did not fit the schema');
      res.status(200).json(typed);
    });
  };
};
