// PTZ handlers (vendor §4.10). The control operations are the generic x-cgi translation; only
// the order of the camera parameters differs, and the preset and tour lists get their own shape.
import type { Request } from 'express';
import type { Camera } from '../cgi/camera.ts';
import { parseKeyValue, typeBySchema, type CgiNode } from '../cgi/codec.ts';
import { buildQuery } from '../cgi/query.ts';
import { successSchema } from '../../gateway/spec.ts';
import type { HandlerFactory } from './handlers.ts';
import { compileCgiHandler } from './translator.ts';

// ptz.cgi?action=<action>&channel=<ch>&code=<code>&arg1=..&arg2=..&arg3=..[&arg4=..], as the
// vendor's syntax writes it. The translator sends fixed parameters before request ones.
const VENDOR_ORDER = ['action', 'channel', 'code', 'arg1', 'arg2', 'arg3', 'arg4'];

export function inVendorOrder(params: Array<[string, string]>): Array<[string, string]> {
  const rank = (key: string): number => {
    const i = VENDOR_ORDER.indexOf(key);
    return i < 0 ? VENDOR_ORDER.length : i;
  };
  return params.slice().sort((a, b) => rank(a[0]) - rank(b[0]));
}

function reordering(camera: Camera): Camera {
  const view = Object.create(camera) as Camera;
  view.call = (path, params, opts) => camera.call(path, inVendorOrder(params), opts);
  return view;
}

/** The x-cgi mapping of a control code (§4.10.7), sent in the vendor's parameter order. */
export const ptzControl: HandlerFactory = (ctx, op) => compileCgiHandler({ ...ctx, camera: (req) => reordering(ctx.camera(req)) }, op);

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
    const abort = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) abort.abort();
    };
    res.on('close', onClose);
    try {
      const text = await camera.call(step.path, params, { signal: abort.signal });
      const { doc, warnings } = parseKeyValue(text);
      const head = doc[name];
      const list = head !== null && typeof head === 'object' && !Array.isArray(head) ? head[name] : undefined;
      if (text.trim() !== '' && !Array.isArray(list)) warnings.push(`/${name}: the camera's answer has no ${name}.${name} list`);
      // Holes of a sparse answer are not entries.
      const items = Array.isArray(list) ? list.filter((x): x is CgiNode => x !== null) : [];
      const typed = typeBySchema({ [name]: items }, schema, ctx.spec.resolveRef, warnings);
      if (warnings.length > 0) ctx.warn({ operationId: op.operationId, warnings }, 'camera answer did not fit the schema');
      res.status(200).json(typed);
    } finally {
      res.off('close', onClose);
    }
  };
};
