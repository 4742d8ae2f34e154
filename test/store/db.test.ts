/**
 * Connection failures against a real Postgres: which errors count as "the
 * database is unavailable" (503) and which are ours (500), and a client cut
 * by the server inside a transaction neither crashes the process nor goes
 * back to the pool.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { createPool, isStoreUnavailable, storeUnavailable, withTx, CONNECT_TIMEOUT_MS } from '../../src/store/db.js';
import { DammError } from '../../src/core/errors.js';

const databases: TestDatabase[] = [];
after(async () => {
  for (const d of databases) await d.close();
});

async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

test('a refused connection, a server that never answers and a terminated session are "store unavailable"; query errors are not', async () => {
  const database = await createTestDatabase({ poolSize: 2 });
  databases.push(database);

  const refused = createPool(`postgres://postgres@127.0.0.1:${await closedPort()}/x`, 1);
  const e1 = await refused.query('SELECT 1').catch((e: unknown) => e);
  await refused.end();
  assert.ok(isStoreUnavailable(e1), `refused: ${String(e1)}`);

  // Accepts TCP and never says a word: the pool's connect timeout must end the wait.
  const held: net.Socket[] = [];
  const mute = net.createServer((sock) => void held.push(sock));
  await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
  const silent = createPool(`postgres://postgres@127.0.0.1:${(mute.address() as net.AddressInfo).port}/x`, 1);
  const t = Date.now();
  const e2 = await silent.query('SELECT 1').catch((e: unknown) => e);
  const waited = Date.now() - t;
  await silent.end();
  for (const sock of held) sock.destroy();
  await new Promise((r) => mute.close(r));
  assert.ok(isStoreUnavailable(e2), `silent server: ${String(e2)}`);
  assert.ok(waited < CONNECT_TIMEOUT_MS + 2000, `waited ${waited} ms`);

  const victim = new pg.Client({ connectionString: database.url });
  const errors: Error[] = [];
  victim.on('error', (e) => errors.push(e));
  await victim.connect();
  const pid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const sleeping = victim.query('SELECT pg_sleep(30)').catch((e: unknown) => e);
  await database.db.query('SELECT pg_terminate_backend($1)', [pid]);
  const e3 = await sleeping;
  await victim.end().catch(() => {});
  assert.equal((e3 as { code?: string }).code, '57P01');
  assert.ok(isStoreUnavailable(e3));

  const syntax = await database.db.query('SELEC 1').catch((e: unknown) => e);
  assert.equal(isStoreUnavailable(syntax), false, 'a syntax error is our bug, not an outage');
  assert.equal(isStoreUnavailable(new Error('boom')), false);
  assert.equal(isStoreUnavailable(new DammError('invalid_request', 'no')), false);
  assert.ok(isStoreUnavailable(new Error('wrapped', { cause: e1 })), 'looked up through the cause');

  const d = storeUnavailable(e1);
  assert.equal(d.code, 'store_unavailable');
  assert.equal(typeof d.details?.['retryAfterSeconds'], 'number');
  assert.equal(storeUnavailable(d), d, 'not wrapped twice');
});

test('a session terminated between two statements of a transaction: the caller gets the error, the process lives, the pool discards the client', async () => {
  const database = await createTestDatabase({ poolSize: 2 });
  databases.push(database);
  const db = createPool(database.url, 1);
  try {
    const killer = database.db;
    const err = await withTx(db, async (tx) => {
      const pid = (await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      // No statement in flight: node-postgres reports this as an 'error' event on the client,
      // which crashed the process when nothing listened (issue 9, point 1). The test waits on
      // the socket, not on the client's 'error', so it adds no listener that would hide a crash.
      const socket = (tx as unknown as { connection: { stream: net.Socket } }).connection.stream;
      const lost = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      await killer.query('SELECT pg_terminate_backend($1)', [pid]);
      await lost;
      await tx.query('SELECT 1');
    }).catch((e: unknown) => e);
    assert.ok(isStoreUnavailable(err), `expected a connection error, got ${String(err)}`);
    assert.equal(db.totalCount, 0, 'the dead client was removed from the pool');
    // The next transaction gets a fresh connection and works.
    assert.equal(await withTx(db, async (tx) => (await tx.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n), 1);
  } finally {
    await db.end();
  }
});
