/** The embedded Postgres is the default store: real, durable across restarts, migrated at start. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startEmbeddedStore } from '../../src/store/embedded.js';
import { createPool } from '../../src/store/db.js';
import { migrate, listMigrations } from '../../src/store/migrate.js';

test('embedded Postgres keeps committed data across a stop and restart, with fsync on', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-embedded-'));
  try {
    let store = await startEmbeddedStore(dir);
    let db = createPool(store.url, 2);
    const applied = await migrate(db);
    assert.deepEqual(applied, (await listMigrations()).map((m) => m.version));
    assert.equal((await db.query('SHOW fsync')).rows[0].fsync, 'on');
    assert.equal((await db.query('SHOW synchronous_commit')).rows[0].synchronous_commit, 'on');
    await db.query("INSERT INTO settings (key, value) VALUES ('probe', '\"kept\"')");
    await db.end();
    await store.stop();

    store = await startEmbeddedStore(dir);
    db = createPool(store.url, 2);
    assert.deepEqual(await migrate(db), [], 'nothing to migrate the second time');
    const r = await db.query("SELECT value FROM settings WHERE key = 'probe'");
    assert.equal(r.rows[0].value, 'kept');
    assert.match((await db.query('SELECT version()')).rows[0].version, /PostgreSQL/);
    await db.end();
    await store.stop();
    assert.equal(((await stat(path.join(dir, 'embedded-postgres.json'))).mode & 0o777), 0o600, 'its password file is private');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
