// Every section of the vendor document (cgi-surface.tsv) has an operation.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { loadSpec } from '../gateway/spec.ts';

it('covers the CGI surface of the vendor document', (t) => {
  const rows = readFileSync(new URL('../simulator/data/cgi-surface.tsv', import.meta.url), 'utf8').split('\n').slice(1).filter(Boolean);
  const sections = [...new Set(rows.map((r) => r.split('\t')[0]!))];
  assert.equal(sections.length, 116, 'the vendor document has 116 sections');
  assert.equal(rows.length, 167, 'and 167 requests');
  const covered = new Set(loadSpec().operations.flatMap((op) => op.cgi.map((s) => s.section)));
  const missing = sections.filter((s) => !covered.has(s));
  t.diagnostic(`CGI surface: ${sections.length - missing.length} of ${sections.length} sections have an operation`);
  if (missing.length > 0) t.diagnostic(`not yet covered: ${missing.join(' ')}`);
  assert.deepEqual(missing, [], 'every section has an operation');
});
