/** Migrations are applied by the number in their file name: two files with one number would skip one of them. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listMigrations } from '../../src/store/migrate.js';

test('every migration has its own number, and the numbers run 1, 2, 3, ... without a gap', async () => {
  const versions = (await listMigrations()).map((m) => m.version);
  assert.ok(versions.length > 0);
  assert.deepEqual(versions, versions.map((_, i) => i + 1), `migration numbers: ${versions.join(', ')}`);
});
