// Parameter smuggling: '&' or a control character in any string a client can send to a §4.6
// operation is refused with 400 before anything reaches the camera (fast-check, 1,000 runs).
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, it } from 'node:test';
import fc from 'fast-check';
import request from 'supertest';
import type { JsonObject, Operation } from '../gateway/spec.ts';
import { basic, startStack, USERS, type Stack } from './stack.ts';

let stack: Stack;
let server: Server;
before(async () => {
  stack = await startStack();
  server = stack.app.listen(0, '127.0.0.1');
});
after(async () => {
  server.close();
  await stack.close();
});

interface StringField {
  op: Operation;
  /** Property names and array indexes from the body's root to the string. */
  path: Array<string | number>;
}

/** Every place in an operation's request body where the schema allows a string. */
function stringFields(op: Operation): StringField[] {
  const rb = op.object.requestBody as JsonObject | undefined;
  const schema = ((rb?.content as JsonObject | undefined)?.['application/json'] as JsonObject | undefined)?.schema;
  const found: StringField[] = [];
  const visit = (node: unknown, path: Array<string | number>, depth: number): void => {
    if (!node || typeof node !== 'object' || depth > 12) return;
    let s = node as JsonObject;
    if (typeof s.$ref === 'string') s = stack.spec.resolveRef(s.$ref);
    const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type];
    if (types.includes('string')) found.push({ op, path });
    for (const key of ['anyOf', 'oneOf']) {
      const alternatives = s[key] as unknown[] | undefined;
      if (alternatives?.length) visit(alternatives[0], path, depth + 1);
    }
    for (const [name, prop] of Object.entries((s.properties as JsonObject | undefined) ?? {})) visit(prop, [...path, name], depth + 1);
    if (s.items) visit(s.items, [...path, 0], depth + 1);
  };
  visit(schema, [], 0);
  return found;
}

function bodyWith(path: Array<string | number>, value: string): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  if (typeof head === 'number') return [bodyWith(rest, value)];
  return { [head!]: bodyWith(rest, value) };
}

it('refuses & and control characters in every string field, with zero camera requests', async () => {
  const ops = stack.spec.operations.filter((op) => op.method !== 'get' && op.cgi.some((s) => s.section.startsWith('4.6.')));
  const fields = ops.flatMap(stringFields);
  assert.ok(fields.length >= 10, `found ${fields.length} string fields`);
  const url = (op: Operation) => stack.spec.basePath + op.path.replace('{cameraId}', 'cam1');
  const bad = fc
    .tuple(fc.string({ maxLength: 16 }), fc.constantFrom('&', '\r', '\n', '\0', '\t', '\x1b', '\x7f', '\x85', '&action=reboot'), fc.string({ maxLength: 16 }))
    .map(([a, c, b]) => a + c + b);
  stack.sim.resetStats();
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...fields), bad, async (field, value) => {
      const res = await request(server)[field.op.method](url(field.op)).set('Authorization', basic(USERS.admin)).send(bodyWith(field.path, value) as object);
      assert.equal(res.status, 400, `${field.op.operationId} ${field.path.join('/')} ${JSON.stringify(value)}: ${res.status}`);
      assert.equal(res.body.code, 'VALIDATION_FAILED');
    }),
    { numRuns: 1000 },
  );
  assert.equal(stack.sim.stats.requests, 0, 'nothing reached the camera');
});
