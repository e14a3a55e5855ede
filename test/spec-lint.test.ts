// The document's own rules (openapi/README.md, design.md §3): checked on every test run.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { builtinHandlers } from '../adapters/rest/handlers.ts';
import { loadSpec, type JsonObject } from '../gateway/spec.ts';

const spec = loadSpec();
const surfaceSections = new Set(
  readFileSync(new URL('../simulator/data/cgi-surface.tsv', import.meta.url), 'utf8')
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => line.split('\t')[0]!),
);

/** Visits every schema reachable from `root`, following $refs once each. */
function walkSchemas(root: unknown, visit: (schema: JsonObject, where: string) => void, where = '', seen = new Set<unknown>()): void {
  if (root === null || typeof root !== 'object' || seen.has(root)) return;
  seen.add(root);
  const schema = root as JsonObject;
  if (typeof schema.$ref === 'string') {
    walkSchemas(spec.resolveRef(schema.$ref), visit, schema.$ref, seen);
    return;
  }
  visit(schema, where);
  for (const key of ['items', 'additionalProperties', 'not']) walkSchemas(schema[key], visit, `${where}/${key}`, seen);
  for (const key of ['oneOf', 'anyOf', 'allOf', 'prefixItems']) {
    const list = schema[key];
    if (Array.isArray(list)) list.forEach((s, i) => walkSchemas(s, visit, `${where}/${key}/${i}`, seen));
  }
  const props = schema.properties as JsonObject | undefined;
  for (const [name, s] of Object.entries(props ?? {})) walkSchemas(s, visit, `${where}/properties/${name}`, seen);
}

function allSchemas(): Array<[JsonObject, string]> {
  const found: Array<[JsonObject, string]> = [];
  const seen = new Set<unknown>();
  const components = (spec.document.components as JsonObject).schemas as JsonObject;
  for (const [name, s] of Object.entries(components)) walkSchemas(s, (schema, w) => found.push([schema, w]), `#/components/schemas/${name}`, seen);
  for (const op of spec.operations) {
    const visit = (schema: JsonObject, w: string) => found.push([schema, w]);
    for (const p of (op.object.parameters as JsonObject[] | undefined) ?? []) walkSchemas(p.schema, visit, `${op.operationId} parameter`, seen);
    JSON.stringify(op.object, (key, value) => {
      if (key === 'schema') walkSchemas(value, visit, `${op.operationId} inline`, seen);
      return value;
    });
  }
  return found;
}

function types(schema: JsonObject): string[] {
  const t = schema.type;
  return Array.isArray(t) ? (t as string[]) : typeof t === 'string' ? [t] : [];
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with a server prefix', () => {
    assert.equal(spec.document.openapi, '3.1.0');
    assert.equal(spec.basePath, '/api/v1');
  });

  it('gives every operation an operationId, a tag, a summary, and x-cgi or a registered handler', () => {
    for (const op of spec.operations) {
      assert.ok(Array.isArray(op.object.tags) && (op.object.tags as unknown[]).length === 1, `${op.operationId} has one tag`);
      assert.equal(typeof op.object.summary, 'string', `${op.operationId} has a summary`);
      if (op.handler) assert.ok(op.handler in builtinHandlers, `${op.operationId}: handler ${op.handler} is registered`);
      else assert.ok(op.cgi.length > 0, `${op.operationId} has x-cgi`);
    }
  });

  it('names in x-cgi only sections of the vendor document, with a CGI path', () => {
    for (const op of spec.operations) {
      for (const step of op.cgi) {
        assert.ok(surfaceSections.has(step.section), `${op.operationId}: section ${step.section}`);
        assert.match(step.path, /^\/cgi-bin\/([A-Za-z]+\/)?[A-Za-z]+\.(cgi|backup)$|^rtsp:/, `${op.operationId}: path ${step.path}`);
      }
    }
  });

  it('constrains every string (pattern, enum, const, format or maxLength)', () => {
    const loose = allSchemas()
      .filter(([s]) => types(s).includes('string'))
      .filter(([s]) => !('pattern' in s || 'enum' in s || 'const' in s || 'format' in s || 'maxLength' in s))
      .map(([, w]) => w);
    assert.deepEqual(loose, []);
  });

  it('closes every object schema (additionalProperties)', () => {
    const open = allSchemas()
      .filter(([s]) => types(s).includes('object') || 'properties' in s)
      .filter(([s]) => !('additionalProperties' in s))
      .map(([, w]) => w);
    assert.deepEqual(open, []);
  });

  it('has no required and no default in patch schemas', () => {
    for (const op of spec.operations.filter((o) => o.method === 'patch')) {
      const content = ((op.object.requestBody as JsonObject).content as JsonObject)['application/json'] as JsonObject;
      walkSchemas(content.schema, (schema, where) => {
        assert.ok(!('default' in schema), `${op.operationId}: default at ${where}`);
        assert.ok(!('required' in schema), `${op.operationId}: required at ${where}`);
      });
    }
  });

  it('marks secrets writeOnly', () => {
    for (const [schema, where] of allSchemas()) {
      for (const [name, prop] of Object.entries((schema.properties as JsonObject | undefined) ?? {})) {
        if (/passw|pwd|secret/i.test(name)) assert.equal((prop as JsonObject).writeOnly, true, `${where}/${name}`);
      }
    }
  });
});
