/**
 * The agent's persisted snapshot is written in pieces (src/gateway/agent/state.ts)
 * so 65,000 records are never one ~50 MB string: the file must still be exactly
 * JSON.stringify of the set, and load back the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StateDir, type PersistedFeed } from '../../src/gateway/agent/state.js';

test('a snapshot of 2,500 records written in pieces is byte for byte JSON.stringify of it, and loads back the same', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-state-'));
  try {
    const state = new StateDir(dir);
    await state.init();
    const feed: PersistedFeed = {
      revision: 4242,
      records: Array.from({ length: 2500 }, (_, i) => ({ deviceId: `d-${i}`, kind: 'upsert' as const, envelope: { payloadType: 't', payload: `p"${i}\u00e9`, signatures: [{ keyid: 'k', sig: String(i) }] } })),
      tombstones: [['gone', 1700000000000]],
    };
    await state.saveSnapshot(feed);
    assert.equal(await readFile(path.join(dir, 'feed.snapshot.json'), 'utf8'), JSON.stringify(feed));
    const loaded = await state.loadFeed();
    assert.deepEqual(loaded.base, feed);
    // The empty set too (no record piece at all).
    await state.saveSnapshot({ revision: null, records: [], tombstones: [] });
    assert.equal(await readFile(path.join(dir, 'feed.snapshot.json'), 'utf8'), JSON.stringify({ revision: null, records: [], tombstones: [] }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
