// The generic x-cgi handler: one per operation, built once at start from the document.
// request → CGI parameters → camera → key=value answer → typed JSON (design.md §1, §3).
import type { Request, Response } from 'express';
import type { Camera } from '../cgi/camera.ts';
import { isReadAction } from '../cgi/client.ts';
import { parseKeyValue, toParams, typeBySchema, type CgiDoc, type CgiNode } from '../cgi/codec.ts';
import { buildQuery } from '../cgi/query.ts';
import { ProblemError } from '../../gateway/problems.ts';
import { successSchema, type CgiStep, type JsonObject, type LoadedSpec, type Operation } from '../../gateway/spec.ts';
import { untilClientLeaves } from './client-abort.ts';
import { fromCamera, KNOWN_FORMATS, toCamera } from './formats.ts';

export interface TranslatorContext {
  spec: LoadedSpec;
  camera(req: Request): Camera;
  warn(details: object, message: string): void;
  /** Responses are validated (tests): answer through res.json, where the validator hooks in. */
  validateResponses?: boolean;
}

type Params = Array<[string, string]>;

interface CompiledStep {
  step: CgiStep;
  fixed: Params;
  isWrite: boolean;
}

export type OperationHandler = (req: Request, res: Response) => Promise<void>;

/** Checks an operation's x-cgi at start, so that a bad mapping fails the start, not a request. */
export function compileCgiHandler(ctx: TranslatorContext, op: Operation): OperationHandler {
  if (op.cgi.length === 0) throw new Error(`${op.operationId} has no x-cgi`);
  const steps = op.cgi.map((step) => compileStep(op, step));
  const { status, schema } = successSchema(ctx.spec, op);
  const last = steps[steps.length - 1]!;
  const writeStep = steps.find((s) => s.isWrite && s.step.action === 'setConfig');
  if (writeStep && last.step.action !== 'getConfig') {
    throw new Error(`${op.operationId}: a setConfig must be followed by the getConfig that reads it back`);
  }
  if (status !== 204 && !schema) throw new Error(`${op.operationId}: a ${status} answer needs an application/json schema`);
  for (const [name, map] of Object.entries(last.step.result ?? {})) {
    if (map.format !== undefined && !KNOWN_FORMATS.has(map.format)) throw new Error(`${op.operationId}: result ${name} has unknown format ${map.format}`);
  }

  // A camera may read a password back masked: written secrets are not compared. The body's
  // key has no channel index where the table is channel-indexed.
  const bodyKey = (key: string): string => (writeStep?.step.channelIndexed ? key.replace(/^([A-Za-z0-9_]+)\[\d+\]/, '$1') : key);
  const compared = (sent: Params): Params => sent.filter(([key]) => !isWriteOnlyKey(ctx.spec, op, bodyKey(key)));

  return async (req, res) => {
    const camera = ctx.camera(req);
    // Every step's parameters are built and checked before the first camera call, so that bad
    // input never leaves a half-done change on the camera.
    const planned = steps.map((s) => ({ ...s, params: paramsFor(s, req) }));
    for (const p of planned) buildQuery(p.params);

    // The camera calls run one after another: they share the client-abort controller as theirs.
    await untilClientLeaves(res, async (_signal, controller) => {
      let text = '';
      let sent: Params | undefined;
      for (const p of planned) {
        text = await camera.call(p.step.path, p.params, { controller });
        if (p.step.action === 'setConfig') {
          expectOk(text);
          sent = p.params.slice(1);
        }
      }
      if (status === 204) {
        expectOk(text);
        // Node's own methods: gateway/fast-lane.ts runs this handler without express's prototypes.
        res.statusCode = 204;
        res.end();
        return;
      }
      const parsed = parseKeyValue(text);
      const warnings = parsed.warnings.slice();
      let body = shapeBody(op, last.step, parsed.doc, req);
      if (sent) body = { ...body, ignoredFields: ignoredFields(compared(sent), parsed.doc) };
      const typed = typeBySchema(body as CgiNode, schema!, ctx.spec.resolveRef, warnings);
      if (warnings.length > 0) ctx.warn({ operationId: op.operationId, warnings }, 'camera answer did not fit the schema');
      if (ctx.validateResponses) res.status(status).json(typed);
      else sendJson(res, status, typed);
    });
  };
}

/**
 * What express's res.json sends, written at once: res.json goes through send's content-type,
 * charset, length and freshness work on every request. (HEAD never gets here: the document has
 * no HEAD operations, so the validator answers it with 405.)
 */
export function sendJson(res: Response, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

function compileStep(op: Operation, step: CgiStep): CompiledStep {
  if (!step.section || !step.path) throw new Error(`${op.operationId}: every x-cgi step needs section and path`);
  const fixed: Params = [];
  if (step.action) fixed.push(['action', step.action]);
  if (step.action === 'getConfig') {
    if (!step.config) throw new Error(`${op.operationId}: getConfig needs config`);
    fixed.push(['name', step.config]);
  }
  if (step.action === 'setConfig' && !step.config) throw new Error(`${op.operationId}: setConfig needs config`);
  for (const [k, v] of Object.entries(step.params ?? {})) fixed.push([k, String(v)]);
  for (const arg of step.args ?? []) {
    if (!/^(body|query|path)\.[A-Za-z0-9_]+$/.test(arg.from)) throw new Error(`${op.operationId}: bad arg source ${arg.from}`);
    if (arg.format !== undefined && !KNOWN_FORMATS.has(arg.format)) throw new Error(`${op.operationId}: unknown format ${arg.format}`);
  }
  return { step, fixed, isWrite: !isReadAction(step.action ?? '') };
}

function paramsFor(s: CompiledStep, req: Request): Params {
  const params: Params = s.fixed.slice();
  if (s.step.action === 'setConfig') {
    const config = s.step.config!;
    const body = req.body as Record<string, unknown> | undefined;
    const prefix = s.step.channelIndexed ? `${config}[${channelIndex(req)}]` : config;
    const table = toParams(body?.[config], prefix);
    if (table.length === 0) {
      throw new ProblemError('VALIDATION_FAILED', { errors: [{ pointer: `/${config}`, message: 'nothing to change' }] });
    }
    params.push(...table);
  }
  for (const arg of s.step.args ?? []) {
    const [source, name] = arg.from.split('.') as [string, string];
    const container = (source === 'body' ? req.body : source === 'query' ? req.query : req.params) as Record<string, unknown> | undefined;
    const value = container?.[name];
    if (value === undefined || value === null) continue;
    const pointer = source === 'body' ? `/${name}` : `/${source}/${name}`;
    params.push(...toParams(toCamera(arg.format, value, pointer), arg.param));
  }
  return s.step.order ? inOrder(params, s.step.order) : params;
}

/** Parameters sorted as `order` lists them; the rest keep their place after those. */
function inOrder(params: Params, order: string[]): Params {
  const rank = (key: string): number => {
    const i = order.indexOf(key);
    return i < 0 ? order.length : i;
  };
  return params.slice().sort((a, b) => rank(a[0]) - rank(b[0]));
}

function expectOk(text: string): void {
  if (text.trim() !== 'OK') {
    throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: 'the camera did not confirm the request with OK' });
  }
}

/**
 * The table index of the request's channel: URLs count channels from 1 (the `Channel`
 * parameter), config tables from 0. This is the one place that converts.
 */
export function channelIndex(req: Request): number {
  const channel = req.query.channel === undefined ? 1 : Number(req.query.channel);
  return channel - 1;
}

function shapeBody(op: Operation, step: CgiStep, doc: CgiDoc, req: Request): Record<string, unknown> {
  if (step.result) {
    const body: Record<string, unknown> = {};
    for (const [name, map] of Object.entries(step.result)) {
      const raw = doc[map.from];
      if (typeof raw !== 'string') {
        throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera's answer has no ${map.from} value` });
      }
      body[name] = fromCamera(map.format, raw);
    }
    return body;
  }
  if (step.config !== undefined) {
    if (!(step.config in doc)) {
      throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera's answer has no ${step.config} table` });
    }
    const table = doc[step.config];
    if (!step.channelIndexed) return { [step.config]: table };
    const index = channelIndex(req);
    const entry = Array.isArray(table) ? table[index] : undefined;
    if (entry === undefined || entry === null) {
      throw new ProblemError('NOT_FOUND', { detail: `the camera has no channel ${index + 1} in ${step.config}` });
    }
    return { [step.config]: entry };
  }
  if (Object.keys(doc).length === 0) {
    throw new ProblemError('CAMERA_PROTOCOL_ERROR', { detail: `the camera's answer to ${op.operationId} is empty` });
  }
  return doc;
}

/** Whether the request body schema marks the field a camera key names as writeOnly. */
function isWriteOnlyKey(spec: LoadedSpec, op: Operation, key: string): boolean {
  const rb = op.object.requestBody as JsonObject | undefined;
  let schema = ((rb?.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema as JsonObject | undefined;
  for (const segment of key.split(/\.|\[\d+\]/).filter((x) => x !== '')) {
    while (schema && typeof schema.$ref === 'string') schema = spec.resolveRef(schema.$ref);
    if (!schema) return false;
    if (schema.type === 'array' || schema.items) schema = schema.items as JsonObject | undefined;
    while (schema && typeof schema.$ref === 'string') schema = spec.resolveRef(schema.$ref);
    schema = (schema?.properties as JsonObject | undefined)?.[segment] as JsonObject | undefined;
  }
  while (schema && typeof schema.$ref === 'string') {
    if (schema.writeOnly === true) return true;
    schema = spec.resolveRef(schema.$ref);
  }
  return schema?.writeOnly === true;
}

/** Fields sent in a setConfig that the read-back does not show with the value sent. */
function ignoredFields(sent: Params, readBack: CgiDoc): string[] {
  const now = new Map(toParams(readBack));
  const ignored: string[] = [];
  for (const [key, value] of sent) {
    const got = now.get(key);
    if (got === undefined || !sameValue(value, got)) ignored.push(keyToPointer(key));
  }
  return ignored;
}

/** Whether a value read back is the one written (the camera writes 0.5 back as 0.500000). */
export function sameValue(sent: string, got: string): boolean {
  if (sent === got) return true;
  const a = sent.trim();
  const b = got.trim();
  if (a.toLowerCase() === b.toLowerCase() && (a.toLowerCase() === 'true' || a.toLowerCase() === 'false')) return true;
  return a !== '' && b !== '' && !Number.isNaN(Number(a)) && Number(a) === Number(b);
}

export function keyToPointer(key: string): string {
  return '/' + key.replace(/\[(\d+)\]/g, '.$1').split('.').join('/');
}
