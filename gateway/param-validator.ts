// The request check of operations whose input is only path and query parameters, without
// express-openapi-validator's per-request work (five promise-chained middlewares, a route scan, a
// parameter mutator built per request). Same ajv options, same schema layout and the same error
// shaping as the validator's own request check, compiled once per operation, so the answers are
// the same (test/fast-paths.test.ts compares them). Requests whose query string the validator
// would rewrite or refuse before ajv runs (reserved characters, bracket keys) are not taken here.
import { createRequire } from 'node:module';
import type { ValidateFunction } from 'ajv';
import type { JsonObject, LoadedSpec, Operation } from './spec.ts';
import { VALIDATOR_OPTIONS } from './validator.ts';

type Ajv = { compile(schema: object): ValidateFunction };
interface AjvError { instancePath: string; schemaPath: string; keyword: string; params: Record<string, unknown>; message?: string }

const fromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
const { OpenApiValidator } = fromValidator('./openapi.validator') as { OpenApiValidator: new (options: object) => { ajvOpts: { request: Record<string, unknown> } } };
const { createRequestAjv } = fromValidator('./framework/ajv') as { createRequestAjv(doc: object, options: object): Ajv };
const { augmentAjvErrors, ajvErrorsToValidatorError } = fromValidator('./middlewares/util') as {
  augmentAjvErrors(errors: AjvError[]): AjvError[];
  ajvErrorsToValidatorError(status: number, errors: AjvError[]): { errors: Array<{ path: string; message: string }> };
};

/** What the validator's BadRequest carries; toProblem (app.ts) turns it into VALIDATION_FAILED. */
export class InvalidParameters extends Error {
  readonly status = 400;
  constructor(readonly errors: Array<{ path: string; message: string }>) {
    super('invalid parameters');
  }
}

export interface ParamsInput {
  /** Parsed as express's "simple" query parser does (node:querystring); coerced and defaulted in place. */
  query: Record<string, unknown>;
  /** The route's path parameters; coerced in place. */
  params: Record<string, unknown>;
  headers: object;
}

export type ParamCheck = (input: ParamsInput) => void;

// Keywords whose meaning the validator's preprocessing leaves alone (no serdes formats, no
// nullable, no objects or arrays, whose query forms the validator rewrites).
const PLAIN_KEYWORDS = new Set(['type', 'pattern', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'enum', 'default', 'minLength', 'maxLength', 'description', 'title', 'example']);
const PLAIN_TYPES = new Set(['string', 'integer', 'number', 'boolean']);

const ajvs = new WeakMap<LoadedSpec, Ajv>();
const checks = new WeakMap<LoadedSpec, Map<string, ParamCheck | null>>();

/** The operation's check, or undefined when its request is not only plain path and query parameters. */
export function paramCheck(spec: LoadedSpec, op: Operation): ParamCheck | undefined {
  let byOp = checks.get(spec);
  if (!byOp) checks.set(spec, (byOp = new Map()));
  let check = byOp.get(op.operationId);
  if (check === undefined) byOp.set(op.operationId, (check = compile(spec, op) ?? null));
  return check ?? undefined;
}

function requestAjv(spec: LoadedSpec): Ajv {
  let ajv = ajvs.get(spec);
  if (!ajv) {
    // The options the validator derives from ours; its request check coerces all but the body.
    const request = new OpenApiValidator({ ...structuredClone(VALIDATOR_OPTIONS), apiSpec: {} }).ajvOpts.request;
    const options = request.coerceTypes ? request : { ...request, coerceTypes: true };
    ajvs.set(spec, (ajv = createRequestAjv({ openapi: spec.document.openapi, components: {} }, options)));
  }
  return ajv;
}

function compile(spec: LoadedSpec, op: Operation): ParamCheck | undefined {
  if (op.object.requestBody !== undefined || Object.keys(op.object).some((k) => k.startsWith('x-eov-') || k === 'x-allow-unknown-query-parameters')) return undefined;
  const schemas: Record<'query' | 'params', { type: 'object'; properties: Record<string, JsonObject>; required?: string[] }> | Record<string, never> = {};
  const known: Record<'query' | 'params', JsonObject> = { query: {}, params: {} };
  for (const raw of validatorParameters(spec, op)) {
    const p = typeof raw.$ref === 'string' ? spec.resolveRef(raw.$ref) : raw;
    if (p.in !== 'query' && p.in !== 'path') return undefined;
    if (p.content !== undefined || p.style !== undefined || p.explode !== undefined || p.allowEmptyValue !== undefined) return undefined;
    const name = String(p.name);
    if (name.includes('[')) return undefined;
    let schema = p.schema as JsonObject | undefined;
    if (schema && typeof schema.$ref === 'string') schema = spec.resolveRef(schema.$ref);
    if (!schema || !PLAIN_TYPES.has(schema.type as string) || Object.keys(schema).some((k) => !PLAIN_KEYWORDS.has(k))) return undefined;
    const field = p.in === 'path' ? 'params' : 'query';
    const target = ((schemas as Record<string, { type: 'object'; properties: Record<string, JsonObject>; required?: string[] }>)[field] ??= { type: 'object', properties: {} });
    target.properties[name] = schema;
    known[field][name] = schema;
    if (p.required === true) (target.required ??= []).push(name);
  }
  // The layout of the validator's own request schema: the same order, the same error paths.
  const validate = requestAjv(spec).compile({
    required: ['query', 'headers', 'params'],
    properties: { query: schemas.query ?? {}, headers: {}, params: schemas.params ?? {}, cookies: {}, body: {} },
  });
  const queryNames = new Set(Object.keys(known.query));
  return (input) => {
    // The validator's unknown and empty query parameter checks, first failure only, in key order.
    for (const key of Object.keys(input.query)) {
      if (!queryNames.has(key)) throw new InvalidParameters([{ path: `/query/${key}`, message: `Unknown query parameter '${key}'` }]);
      if (input.query[key] === '') throw new InvalidParameters([{ path: `/query/${key}`, message: `Empty value found for query parameter '${key}'` }]);
    }
    if (validate({ query: input.query, headers: input.headers, params: input.params, cookies: undefined, body: undefined })) return;
    throw new InvalidParameters(ajvErrorsToValidatorError(400, augmentAjvErrors([...(validate.errors as AjvError[])])).errors);
  };
}

/**
 * The parameters as the validator lists them: the operation's own, then the path item's that no
 * own parameter matches by name or by reference.
 */
function validatorParameters(spec: LoadedSpec, op: Operation): JsonObject[] {
  const own = (op.object.parameters as JsonObject[] | undefined) ?? [];
  const item = (spec.document.paths as JsonObject)[op.path] as JsonObject;
  const shared = (item.parameters as JsonObject[] | undefined) ?? [];
  const matches = (p: JsonObject, o: JsonObject): boolean => (o.name !== undefined && o.name === p.name) || (o.$ref !== undefined && o.$ref === p.$ref);
  return [...own, ...shared.filter((p) => !own.some((o) => matches(p, o)))];
}
