// express-openapi-validator, one per operation, set up once per process.
import { createRequire } from 'node:module';
import * as OpenApiValidator from 'express-openapi-validator';
import type { RequestHandler } from 'express';
import type { JsonObject, LoadedSpec, Operation } from './spec.ts';

type PathToRegexp = (path: string, options?: Record<string, unknown>) => unknown;

let memoized = false;
const MEMO_OPTIONS = new Set(['sensitive', 'strict', 'end', 'trailing', 'delimiter']);

/**
 * The validator compiles the routes of its document with path-to-regexp on every request
 * (openapi.metadata.js lookupRoute): 31 µs per request with the 23 paths of §4.6 in one
 * document. Each validator now has one route, but it would still compile it per request; the
 * pattern depends only on the route and the options, so the validator's copy of path-to-regexp
 * is given a cache. Measured in bench/RESULTS.md.
 */
function memoizeValidatorRouteCompilation(): void {
  if (memoized) return;
  memoized = true;
  const fromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
  const p2r = fromValidator('path-to-regexp') as { pathToRegexp: PathToRegexp };
  const original = p2r.pathToRegexp;
  // Keyed by route, then by the options that change the pattern; this runs once per route per
  // request, so the key is cheap to build.
  const cache = new Map<string, Map<string, unknown>>();
  p2r.pathToRegexp = (path, options) => {
    if (typeof path !== 'string') return original(path, options);
    const o = options ?? {};
    for (const k in o) if (!MEMO_OPTIONS.has(k)) return original(path, options);
    const flags = `${o.sensitive ? 1 : 0}${o.strict ? 1 : 0}${o.end === false ? 0 : 1}${o.trailing === false ? 0 : 1}${String(o.delimiter ?? '')}`;
    let byFlags = cache.get(path);
    if (byFlags === undefined) cache.set(path, (byFlags = new Map()));
    let compiled = byFlags.get(flags);
    if (compiled === undefined) {
      compiled = original(path, options);
      if (cache.size < 10_000) byFlags.set(flags, compiled);
    }
    return compiled;
  };
}

let sharedMetaSchema = false;

/**
 * Every validator compiles the OpenAPI meta-schema with ajv to check its document, even with
 * validateApiSpec off: half of the start-up CPU with one validator per operation. The compiled
 * check depends only on the OpenAPI version and the option, so the validators share one; each
 * document is still checked against it.
 */
function shareMetaSchemaValidator(): void {
  if (sharedMetaSchema) return;
  sharedMetaSchema = true;
  const fromValidator = createRequire(createRequire(import.meta.url).resolve('express-openapi-validator'));
  const mod = fromValidator('./framework/openapi.schema.validator') as { OpenAPISchemaValidator: new (opts: { version: string; validateApiSpec: boolean }) => object };
  const Original = mod.OpenAPISchemaValidator;
  const compiled = new Map<string, object>();
  // Called with `new`: a constructor that returns an object hands out that object.
  mod.OpenAPISchemaValidator = function SharedOpenAPISchemaValidator(opts: { version: string; validateApiSpec: boolean }) {
    const key = `${opts.version}:${opts.validateApiSpec}`;
    let validator = compiled.get(key);
    if (validator === undefined) compiled.set(key, (validator = new Original(opts)));
    return validator;
  } as unknown as typeof Original;
}

// One validator per operation and mode for the whole process. The validator compiles an
// operation against a schema that embeds the document's whole `paths` and `components`
// (openapi.request.validator.js `_schemaGeneral`), and finds the operation of a request by
// scanning every route (`lookupRoute`): with one document for 185 operations that cost 46 ms
// per operation to compile and 8% of a request's CPU to look up. Mounted on the operation's
// own express route with a document of that path alone, it compiles small and looks up one
// route; every app built from the same document (tests build many) shares it.
const validators = new WeakMap<LoadedSpec, Map<string, RequestHandler[]>>();

export function operationValidator(spec: LoadedSpec, op: Operation, validateResponses: boolean): RequestHandler[] {
  memoizeValidatorRouteCompilation();
  shareMetaSchemaValidator();
  let byOperation = validators.get(spec);
  if (!byOperation) validators.set(spec, (byOperation = new Map()));
  const key = `${op.operationId}:${validateResponses}`;
  let middleware = byOperation.get(key);
  if (!middleware) byOperation.set(key, (middleware = createValidator(operationDocument(spec, op), validateResponses)));
  return middleware;
}

/** The document of one operation: its path item with that method, and the components it reaches. */
function operationDocument(spec: LoadedSpec, op: Operation): JsonObject {
  const doc = spec.document;
  const item = (doc.paths as JsonObject)[op.path] as JsonObject;
  const paths = { [op.path]: { ...(item.parameters ? { parameters: item.parameters } : {}), [op.method]: op.object } };
  const components: Record<string, JsonObject> = { securitySchemes: ((doc.components as JsonObject).securitySchemes ?? {}) as JsonObject };
  const seen = new Set<string>();
  const visit = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string' && value.startsWith('#/components/')) {
        if (seen.has(value)) continue;
        seen.add(value);
        const [, , kind, name] = value.split('/') as [string, string, string, string];
        const target = spec.resolveRef(value);
        (components[kind] ??= {})[name] = target;
        visit(target);
      } else {
        visit(value);
      }
    }
  };
  visit(paths);
  // The validator rewrites the document it is given: each operation gets its own copy.
  return structuredClone({ openapi: doc.openapi, info: doc.info, servers: doc.servers, paths, components });
}

/** The validator's options but the document and response validation (gateway/param-validator.ts derives its ajv from them). */
export const VALIDATOR_OPTIONS = {
  // Every field's error at once (design.md §5). Ajv warns that collecting all errors costs more
  // on hostile input; the 64 kB body limit and maxItems on every array bound that work.
  validateRequests: { allErrors: true, allowUnknownQueryParameters: false, removeAdditional: false },
  validateSecurity: false,
  ignoreUndocumented: false,
} as const;

function createValidator(document: JsonObject, validateResponses: boolean): RequestHandler[] {
  return OpenApiValidator.middleware({
    ...structuredClone(VALIDATOR_OPTIONS),
    apiSpec: document as never,
    validateResponses: validateResponses ? { removeAdditional: false } : false,
  }) as unknown as RequestHandler[];
}
