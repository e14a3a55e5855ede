// Loads the OpenAPI document once: the root plus one file per chapter, merged into one object
// that the validator, Swagger UI, the translator and the type generator all share.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { isRateLimitClass, type RateLimitClass } from './rate-limit.ts';

export type JsonObject = { [key: string]: unknown };

export const OPENAPI_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'openapi');
export const HTTP_METHODS = ['get', 'put', 'post', 'patch', 'delete'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];
export type Role = 'viewer' | 'operator' | 'admin';

/** One step of an operation's x-cgi mapping (design.md §3, openapi/README.md). */
export interface CgiStep {
  section: string;
  path: string;
  action?: string;
  config?: string;
  /** The table's first index is the video channel: picked by the Channel query parameter. */
  channelIndexed?: boolean;
  params?: Record<string, string>;
  /** The order of the camera's parameters where the vendor's syntax fixes one (others follow). */
  order?: string[];
  args?: Array<{ from: string; param: string; format?: string }>;
  result?: Record<string, { from: string; format?: string }>;
}

export interface Operation {
  operationId: string;
  method: HttpMethod;
  /** The path as the document writes it, without the server prefix: /cameras/{cameraId}/system/general */
  path: string;
  role: Role;
  cgi: CgiStep[];
  handler: string | undefined;
  /** `x-rate-limit`: the rate-limit class the operation takes a token of (gateway/rate-limit.ts). */
  rateLimit: RateLimitClass | undefined;
  object: JsonObject;
  /** Path-item and operation parameters together (the operation's win), references unresolved. */
  parameters: JsonObject[];
}

export interface LoadedSpec {
  document: JsonObject;
  operations: Operation[];
  byId: Map<string, Operation>;
  /** Resolves a local `#/components/...` reference of the merged document. */
  resolveRef(ref: string): JsonObject;
  /** The server prefix of every path: /api/v1 */
  basePath: string;
}

const ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

export function loadSpec(dir: string = OPENAPI_DIR): LoadedSpec {
  const root = parse(readFileSync(join(dir, 'openapi.yaml'), 'utf8')) as JsonObject;
  const chapters = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'openapi.yaml')
    .sort();
  for (const file of chapters) mergeChapter(root, parse(readFileSync(join(dir, file), 'utf8')) as JsonObject, file);
  return indexSpec(root);
}

function mergeChapter(root: JsonObject, chapter: JsonObject, file: string): void {
  const paths = (root.paths ??= {}) as JsonObject;
  for (const [p, item] of Object.entries((chapter.paths ?? {}) as JsonObject)) {
    if (p in paths) throw new Error(`${file}: path ${p} is defined twice`);
    paths[p] = item;
  }
  const rootComponents = (root.components ??= {}) as JsonObject;
  for (const [kind, entries] of Object.entries((chapter.components ?? {}) as JsonObject)) {
    const target = (rootComponents[kind] ??= {}) as JsonObject;
    for (const [name, value] of Object.entries(entries as JsonObject)) {
      if (name in target) throw new Error(`${file}: components.${kind}.${name} is defined twice`);
      target[name] = value;
    }
  }
  if (Array.isArray(chapter.tags)) {
    const tags = (root.tags ??= []) as JsonObject[];
    for (const tag of chapter.tags as JsonObject[]) {
      if (!tags.some((t) => t.name === tag.name)) tags.push(tag);
    }
  }
}

function indexSpec(document: JsonObject): LoadedSpec {
  const operations: Operation[] = [];
  const byId = new Map<string, Operation>();
  for (const [path, item] of Object.entries((document.paths ?? {}) as JsonObject)) {
    for (const method of HTTP_METHODS) {
      const object = (item as JsonObject)[method] as JsonObject | undefined;
      if (!object) continue;
      const operationId = object.operationId;
      if (typeof operationId !== 'string') throw new Error(`${method.toUpperCase()} ${path} has no operationId`);
      if (byId.has(operationId)) throw new Error(`operationId ${operationId} is used twice`);
      const rawCgi = object['x-cgi'];
      const cgi = rawCgi === undefined ? [] : ((Array.isArray(rawCgi) ? rawCgi : [rawCgi]) as CgiStep[]);
      const role = (object['x-role'] as Role | undefined) ?? (method === 'get' ? 'viewer' : 'operator');
      if (!ROLES.includes(role)) throw new Error(`${operationId}: x-role ${String(role)} is not a role`);
      const rateLimit = object['x-rate-limit'];
      if (rateLimit !== undefined && !isRateLimitClass(rateLimit)) throw new Error(`${operationId}: x-rate-limit ${String(rateLimit)} is not a rate-limit class`);
      const own = (object.parameters as JsonObject[] | undefined) ?? [];
      const shared = ((item as JsonObject).parameters as JsonObject[] | undefined) ?? [];
      const key = (p: JsonObject) => (typeof p.$ref === 'string' ? p.$ref : `${String(p.in)}:${String(p.name)}`);
      const parameters = [...shared.filter((p) => !own.some((o) => key(o) === key(p))), ...own];
      const op: Operation = {
        operationId,
        method,
        path,
        role,
        cgi,
        handler: typeof object['x-handler'] === 'string' ? object['x-handler'] : undefined,
        rateLimit,
        object,
        parameters,
      };
      operations.push(op);
      byId.set(operationId, op);
    }
  }
  const servers = document.servers as Array<{ url: string }> | undefined;
  const basePath = servers?.[0]?.url ?? '';
  // Typing a camera answer resolves the same few references on every request: remember them.
  const resolved = new Map<string, JsonObject>();
  const resolveRef = (ref: string): JsonObject => {
    const hit = resolved.get(ref);
    if (hit) return hit;
    if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
    let node: unknown = document;
    for (const part of ref.slice(2).split('/')) {
      node = (node as JsonObject | undefined)?.[part.replaceAll('~1', '/').replaceAll('~0', '~')];
    }
    if (node === undefined || node === null || typeof node !== 'object') throw new Error(`unresolved reference ${ref}`);
    resolved.set(ref, node as JsonObject);
    return node as JsonObject;
  };
  return { document, operations, byId, resolveRef, basePath };
}

/** The JSON schema of an operation's success response (application/json), or undefined for 204 and streams. */
export function successSchema(spec: LoadedSpec, op: Operation): { status: number; schema: JsonObject | undefined } {
  const responses = op.object.responses as JsonObject;
  const code = Object.keys(responses).find((c) => /^2\d\d$/.test(c));
  if (!code) throw new Error(`${op.operationId} has no 2xx response`);
  let response = responses[code] as JsonObject;
  if (typeof response.$ref === 'string') response = spec.resolveRef(response.$ref);
  const content = response.content as JsonObject | undefined;
  const json = content?.['application/json'] as JsonObject | undefined;
  return { status: Number(code), schema: json?.schema as JsonObject | undefined };
}
