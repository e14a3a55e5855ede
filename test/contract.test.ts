// The contract suite: walks the whole OpenAPI document. For each of the four models, every
// operation is called with the valid request its document describes (examples), against the
// simulator over HTTP, and its answer is validated against the document; a section the model
// does not support answers 501. Per config table: the PATCH example writes exactly one key, and
// a value outside the document's range is refused with 400 before any camera request.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { JsonObject, LoadedSpec, Operation } from '../gateway/spec.ts';
import { loadSpec } from '../gateway/spec.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';
import type { CameraModel } from '../simulator/server.ts';

const MODELS: CameraModel[] = ['WV-V1330LK', 'WV-V2530LK', 'WV-V1330L1', 'WV-V2530L1'];
const admin = basic(USERS.admin);
const spec: LoadedSpec = loadSpec();

/** section → model → supported, from the support matrix the simulator also uses. */
const support = new Map<string, Record<string, boolean>>();
{
  const [header, ...rows] = readFileSync(new URL('../simulator/data/cgi-surface.tsv', import.meta.url), 'utf8').trim().split('\n');
  const columns = header!.split('\t');
  for (const row of rows) {
    const cells = row.split('\t');
    const entry: Record<string, boolean> = {};
    for (const model of MODELS) entry[model] = cells[columns.indexOf(model)] === 'Yes';
    support.set(cells[0]!, entry);
  }
}

function supported(op: Operation, model: CameraModel): boolean {
  return op.cgi.every((step) => support.get(step.section)?.[model] === true);
}

function parameters(op: Operation): JsonObject[] {
  return op.parameters.map((p) => (typeof p.$ref === 'string' ? spec.resolveRef(p.$ref) : p));
}

function exampleOf(p: JsonObject): unknown {
  const schema = p.schema as JsonObject | undefined;
  return p.example ?? schema?.example ?? (Array.isArray(schema?.examples) ? (schema!.examples as unknown[])[0] : undefined) ?? schema?.default;
}

function requestBodyExample(op: Operation): unknown {
  const rb = op.object.requestBody as JsonObject | undefined;
  const json = (rb?.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined;
  return json?.example;
}

/** The URL of the operation's example request. */
function exampleUrl(op: Operation): string {
  let path = spec.basePath + op.path;
  const query: string[] = [];
  for (const p of parameters(op)) {
    const value = p.name === 'cameraId' ? 'cam1' : exampleOf(p);
    if (p.in === 'path') {
      assert.notEqual(value, undefined, `${op.operationId}: path parameter ${String(p.name)} needs an example`);
      path = path.replace(`{${String(p.name)}}`, encodeURIComponent(String(value)));
    } else if (p.in === 'query' && p.required === true) {
      assert.notEqual(value, undefined, `${op.operationId}: required query parameter ${String(p.name)} needs an example`);
      query.push(`${String(p.name)}=${encodeURIComponent(String(value))}`);
    }
  }
  return query.length ? `${path}?${query.join('&')}` : path;
}

// Reads first, then writes, deletions last: a deletion's example must not remove what a later
// example needs.
const ORDER = { get: 0, put: 1, patch: 1, post: 2, delete: 3 } as const;
// Endless streams (x-stream: true) are called by their own tests, which can stop reading.
const operations = spec.operations.filter((op) => op.cgi.length > 0 && op.object['x-stream'] !== true).sort((a, b) => ORDER[a.method] - ORDER[b.method]);

function send(stack: Stack, op: Operation) {
  const r = request(stack.app)[op.method](exampleUrl(op)).set('Authorization', admin);
  const body = requestBodyExample(op);
  return body === undefined ? r : r.send(body as object);
}

it('gives every operation with a body an example request', () => {
  for (const op of spec.operations) {
    // A streamed upload (x-stream) has no JSON body to give an example of.
    if (op.object.requestBody !== undefined && op.object['x-stream'] !== true) assert.notEqual(requestBodyExample(op), undefined, `${op.operationId} has no request example`);
  }
});

for (const model of MODELS) {
  describe(`contract on ${model}`, () => {
    let stack: Stack;
    before(async () => {
      stack = await startStack({ model });
    });
    after(async () => {
      await stack.close();
    });

    it('answers every operation as the document says (N/A → 501)', async () => {
      const failures: string[] = [];
      for (const op of operations) {
        const res = await send(stack, op);
        const ok = supported(op, model) ? res.status >= 200 && res.status < 300 : res.status === 501 && res.body.code === 'NOT_SUPPORTED_BY_MODEL';
        if (!ok) failures.push(`${op.method.toUpperCase()} ${op.operationId}: ${res.status} ${res.text.slice(0, 300)}`);
      }
      assert.deepEqual(failures, []);
    });
  });
}

describe('config tables', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await stack.close();
  });
  const patches = spec.operations.filter((op) => op.method === 'patch' && op.cgi[0]?.action === 'setConfig' && supported(op, 'WV-V2530LK'));

  it('a PATCH of one field sends exactly one key=value to the camera and nothing is ignored', async () => {
    assert.ok(patches.length >= 7);
    for (const op of patches) {
      stack.sim.resetStats();
      const res = await send(stack, op);
      assert.equal(res.status, 200, `${op.operationId}: ${res.text.slice(0, 300)}`);
      const writes = stack.sim.requestLog.filter((r) => r.authorized && r.rawUrl.includes('action=setConfig'));
      assert.equal(writes.length, 1, op.operationId);
      const params = writes[0]!.rawUrl.split('?')[1]!.split('&').filter((p) => !p.startsWith('action='));
      assert.equal(params.length, 1, `${op.operationId} sent ${params.join('&')}`);
      assert.deepEqual(res.body.ignoredFields, [], op.operationId);
    }
  });

  it('refuses a value outside the document range with 400 and no camera request', async () => {
    for (const op of patches) {
      const bad = outOfRange(op);
      assert.ok(bad, `${op.operationId}: no constrained field found`);
      stack.sim.resetStats();
      const res = await request(stack.app)[op.method](exampleUrl(op)).set('Authorization', admin).send(bad.body as object);
      assert.equal(res.status, 400, `${op.operationId} ${bad.pointer}: ${res.status}`);
      assert.ok(
        res.body.errors.some((e: { pointer: string }) => e.pointer === bad.pointer || e.pointer.startsWith(bad.pointer)),
        `${op.operationId}: ${JSON.stringify(res.body.errors)} should point at ${bad.pointer}`,
      );
      assert.equal(stack.sim.stats.requests, 0, op.operationId);
    }
  });
});

/** A body that puts one value just outside its schema: above a maximum, off an enum, or too long. */
function outOfRange(op: Operation): { body: unknown; pointer: string } | undefined {
  const rb = op.object.requestBody as JsonObject;
  const root = ((rb.content as JsonObject)['application/json'] as JsonObject).schema as JsonObject;
  const deref = (s: JsonObject): JsonObject => (typeof s.$ref === 'string' ? deref(spec.resolveRef(s.$ref)) : s);
  const search = (node: JsonObject, path: Array<string | number>, depth: number): { value: unknown; path: Array<string | number> } | undefined => {
    const s = deref(node);
    if (depth > 10) return undefined;
    if (typeof s.maximum === 'number') return { value: s.maximum + 1, path };
    if (Array.isArray(s.enum) && s.enum.every((v) => typeof v === 'string')) return { value: 'NotAValue', path };
    if (Array.isArray(s.enum) && s.enum.every((v) => typeof v === 'number')) return { value: Math.max(...(s.enum as number[])) + 1000, path };
    if (typeof s.maxLength === 'number' && s.maxLength < 10_000) return { value: 'x'.repeat(s.maxLength + 1), path };
    if (s.type === 'boolean') return { value: 'maybe', path };
    for (const key of ['anyOf', 'oneOf']) {
      const first = (s[key] as JsonObject[] | undefined)?.[0];
      if (first) {
        const hit = search(first, path, depth + 1);
        if (hit) return hit;
      }
    }
    for (const [name, prop] of Object.entries((s.properties as JsonObject | undefined) ?? {})) {
      const hit = search(prop as JsonObject, [...path, name], depth + 1);
      if (hit) return hit;
    }
    if (s.items && typeof s.items === 'object') return search(s.items as JsonObject, [...path, 0], depth + 1);
    return undefined;
  };
  const hit = search(root, [], 0);
  if (!hit) return undefined;
  const build = (path: Array<string | number>): unknown => {
    if (path.length === 0) return hit.value;
    const [head, ...rest] = path;
    return typeof head === 'number' ? [build(rest)] : { [head!]: build(rest) };
  };
  return { body: build(hit.path), pointer: '/' + hit.path.join('/') };
}
