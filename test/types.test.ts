// The generated TypeScript types follow the document: regenerate and compare.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { generateTypes, TYPES_FILE } from '../openapi/generate-types.ts';

it('openapi/types.gen.ts is up to date (run npm run gen:types)', async () => {
  assert.equal(readFileSync(TYPES_FILE, 'utf8'), await generateTypes());
});
