/**
 * Writes docs/api.md from the OpenAPI document the server itself serves, so
 * the readable API reference can never drift from the code: a test fails
 * when docs/api.md differs from what this script produces.
 * Usage: node --import tsx scripts/gen-api-doc.ts [--check]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { renderApiDoc, openApiDocument } from './api-doc.js';

const doc = await openApiDocument();
const md = renderApiDoc(doc);
if (process.argv.includes('--check')) {
  const current = await readFile('docs/api.md', 'utf8').catch(() => '');
  if (current !== md) {
    console.error('docs/api.md is out of date: run "npm run docs:api"');
    process.exit(1);
  }
} else {
  await writeFile('docs/api.md', md);
  console.log('wrote docs/api.md');
}
process.exit(0);
