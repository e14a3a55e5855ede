// Every example answer of the vendor document (the simulator's seed data) parses without a
// warning, and the §4.6 tables type cleanly by their response schemas.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { parseKeyValue, typeBySchema, type CgiNode } from '../adapters/cgi/codec.ts';
import { loadSpec, successSchema } from '../gateway/spec.ts';

const DATA = new URL('../simulator/data/', import.meta.url);
const configFiles = readdirSync(new URL('config/', DATA)).filter((f) => f.endsWith('.txt'));
const answers = parse(readFileSync(new URL('answers.yaml', DATA), 'utf8')) as Array<{ section: string; request: string; body: string }>;

describe('vendor example answers', () => {
  it('has the 44 config tables of the document', () => {
    assert.equal(configFiles.length, 44);
  });

  for (const file of configFiles) {
    it(`parses config/${file} without a warning`, () => {
      const { doc, warnings } = parseKeyValue(readFileSync(new URL(`config/${file}`, DATA), 'utf8'));
      assert.deepEqual(warnings, []);
      assert.deepEqual(Object.keys(doc), [file.replace(/\.txt$/, '')]);
    });
  }

  it('parses every other example answer without a warning', () => {
    assert.ok(answers.length >= 60);
    for (const a of answers) {
      if (a.body.trim() === 'OK') continue;
      const { doc, warnings } = parseKeyValue(a.body);
      assert.deepEqual(warnings, [], `${a.section} ${a.request}`);
      assert.ok(Object.keys(doc).length > 0, `${a.section} ${a.request}`);
    }
  });

  it('types every config table by its GET schema without a warning', () => {
    const spec = loadSpec();
    // Hand-written handlers (motion grids, event handlers) answer their own shapes.
    const reads = spec.operations.filter((op) => op.method === 'get' && !op.handler && op.cgi.length === 1 && op.cgi[0]!.action === 'getConfig');
    assert.ok(reads.length >= 7);
    for (const op of reads) {
      const step = op.cgi[0]!;
      const table = step.config!;
      const { doc } = parseKeyValue(readFileSync(new URL(`config/${table}.txt`, DATA), 'utf8'));
      // A channel-indexed GET answers one channel's entry: the seed's channel 0.
      const value = step.channelIndexed ? (doc[table] as CgiNode[])[0]! : doc[table]!;
      const warnings: string[] = [];
      const typed = typeBySchema({ [table]: value }, successSchema(spec, op).schema!, spec.resolveRef, warnings) as Record<string, unknown>;
      assert.deepEqual(warnings, [], op.operationId);
      assert.ok(typed[table] !== undefined);
    }
  });
});
