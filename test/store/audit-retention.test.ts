/** Audit entries older than the retention are pruned; newer ones stay. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase } from '../helpers/db.js';
import { audit, listAudit, pruneAudit } from '../../src/store/audit.js';

test('pruning removes only entries older than the retention', async () => {
  const database = await createTestDatabase();
  try {
    const now = new Date('2026-06-01T00:00:00Z');
    for (const daysAgo of [200, 91, 89, 1]) {
      await audit(database.db, { at: new Date(now.getTime() - daysAgo * 86400_000), actor: 'test', action: 'probe', subject: `d${daysAgo}` });
    }
    const removed = await pruneAudit(database.db, new Date(now.getTime() - 90 * 86400_000));
    assert.equal(removed, 2);
    assert.deepEqual((await listAudit(database.db, { limit: 10 })).map((e) => e.subject), ['d89', 'd1']);
  } finally {
    await database.close();
  }
});
