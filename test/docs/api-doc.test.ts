/** docs/api.md is generated from the server's own OpenAPI document and must match it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { openApiDocument, renderApiDoc } from '../../scripts/api-doc.js';

test('docs/api.md equals what the running code describes (regenerate with npm run docs:api)', async () => {
  const doc = await openApiDocument();
  assert.ok(doc.paths['/v1/enroll'] && doc.paths['/v1/catalog']);
  assert.equal(await readFile('docs/api.md', 'utf8'), renderApiDoc(doc));
});
