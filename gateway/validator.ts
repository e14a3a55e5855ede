// express-openapi-validator, set up once for the whole document.
import { createRequire } from 'node:module';
import * as OpenApiValidator from 'express-openapi-validator';
import type { RequestHandler } from 'express';
import type { LoadedSpec } from './spec.ts';

type PathToRegexp = (path: string, options?: Record<string, unknown>) => unknown;

let memoized = false;
const MEMO_OPTIONS = new Set(['sensitive', 'strict', 'end', 'trailing', 'delimiter']);

/**
 * The validator finds an operation by compiling every route of the document with path-to-regexp
 * on every request (openapi.metadata.js lookupRoute): 31 µs per request with the 23 paths of §4.6,
 * growing with each path. The compiled pattern depends only on the route and the options, so the
 * validator's copy of path-to-regexp is given a cache. Measured in bench/RESULTS.md.
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

// One validator per document and mode for the whole process: its compiled operations are kept,
// so every app built from the same document (tests build many) compiles each operation once.
const validators = new WeakMap<LoadedSpec, Map<boolean, RequestHandler[]>>();

export function openApiValidator(spec: LoadedSpec, validateResponses: boolean): RequestHandler[] {
  memoizeValidatorRouteCompilation();
  let byMode = validators.get(spec);
  if (!byMode) validators.set(spec, (byMode = new Map()));
  let middleware = byMode.get(validateResponses);
  if (!middleware) byMode.set(validateResponses, (middleware = createValidator(spec, validateResponses)));
  return middleware;
}

function createValidator(spec: LoadedSpec, validateResponses: boolean): RequestHandler[] {
  return OpenApiValidator.middleware({
    apiSpec: spec.document as never,
    // Every field's error at once (design.md §5). Ajv warns that collecting all errors costs more
    // on hostile input; the 64 kB body limit and maxItems on every array bound that work.
    validateRequests: { allErrors: true, allowUnknownQueryParameters: false, removeAdditional: false },
    validateResponses: validateResponses ? { removeAdditional: false } : false,
    validateSecurity: false,
    ignoreUndocumented: false,
  }) as unknown as RequestHandler[];
}
