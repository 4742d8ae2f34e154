import pg from 'pg';
import { DammError } from '../core/errors.js';

export type Db = pg.Pool;
export type Tx = pg.PoolClient;
/** Anything that runs a statement: the pool, a checked-out client, or a client of its own. */
export type Queryable = pg.Pool | pg.ClientBase;

// int8 (bigint) columns come back as strings by default; DAMM's bigints
// (revisions, byte counters) stay below 2^53 in practice, but we keep them
// as strings at the driver and convert explicitly where they matter.

/**
 * How long a request may wait for a database connection (a new one, or a
 * free one from a busy pool) before it is answered 503. Without a bound, a
 * request arriving while the database is down queues until it is back.
 */
export const CONNECT_TIMEOUT_MS = 3000;
/** What a client is told to wait before retrying while the database is unreachable. */
export const STORE_RETRY_AFTER_SECONDS = 2;

/** Clients whose ROLLBACK failed: their session state is unknown, so the pool must not reuse them. */
const unusable = new WeakSet<Tx>();
/** The first connection error each pooled client met (recorded by the listener every client has from birth). */
const connectionErrors = new WeakMap<pg.ClientBase, Error>();

export function createPool(connectionString: string, max = 10): Db {
  const pool = new pg.Pool({ connectionString, max, application_name: 'damm', connectionTimeoutMillis: CONNECT_TIMEOUT_MS, keepAlive: true });
  // The pool listens for a client's 'error' only while the client is idle.
  // A checked-out client between two statements, or a new one whose server
  // says 57P01 in the same packet as "ready" (before the caller could attach
  // anything), would otherwise emit an 'error' nobody handles, and the
  // process dies. So every client gets a listener the moment the pool hands
  // it out for the first time ('connect' fires before the caller sees it),
  // and keeps it for life.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      if (!connectionErrors.has(client)) connectionErrors.set(client, err);
    });
  });
  // An idle client losing its server: the pool discards it; the next query reports any outage.
  pool.on('error', () => {});
  return pool;
}

/** The connection error a pooled client met, if any (a client with one must be released with it, so the pool drops it). */
export function connectionError(client: pg.ClientBase): Error | undefined {
  return connectionErrors.get(client);
}

// SQLSTATEs that mean "the server went away or will not take us now", not "our query is wrong":
// 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now, 53300 too_many_connections;
// class 08 (connection exception) is matched by prefix.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const UNAVAILABLE_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres reports a dropped socket and its own timeouts with plain Errors and no code.
const UNAVAILABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

/**
 * True for failures that say the database is unreachable, restarting or out
 * of connections (a dependency down), as opposed to a bug or a bad query.
 * Looks through `cause` chains and AggregateErrors (Node's multi-address connect).
 */
export function isStoreUnavailable(err: unknown, depth = 0): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  if (err instanceof DammError) return err.code === 'store_unavailable';
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (UNAVAILABLE_SQLSTATES.has(e.code) || UNAVAILABLE_ERRNOS.has(e.code) || /^08[0-9A-Z]{3}$/.test(e.code))) return true;
  if (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isStoreUnavailable(x, depth + 1))) return true;
  return e.cause !== undefined && isStoreUnavailable(e.cause, depth + 1);
}

/** The one DammError every "database unreachable" failure becomes: a 503 with a Retry-After. */
export function storeUnavailable(cause: unknown): DammError {
  if (cause instanceof DammError && cause.code === 'store_unavailable') return cause;
  return new DammError('store_unavailable', 'The database behind this service cannot be reached right now. Please try again in a few seconds.', {
    cause,
    details: { retryAfterSeconds: STORE_RETRY_AFTER_SECONDS },
  });
}

/**
 * Runs fn with a client checked out of the pool. A client whose connection
 * failed (its error recorded by createPool's listener, or a connection-class
 * error thrown at fn) is released with the error, so the pool discards it
 * instead of handing a dead connection to the next request.
 */
export async function withClient<T>(db: Db, fn: (client: Tx) => Promise<T>): Promise<T> {
  let client: Tx;
  try {
    client = await db.connect();
  } catch (cause) {
    throw storeUnavailable(cause);
  }
  let thrown: unknown;
  try {
    return await fn(client);
  } catch (err) {
    thrown = err;
    throw err;
  } finally {
    const broken = connectionError(client) ?? (isStoreUnavailable(thrown) ? (thrown as Error) : unusable.has(client) ? new Error('ROLLBACK failed') : undefined);
    client.release(broken);
  }
}

/** Runs fn in a transaction; rolls back on any throw. */
export async function withTx<T>(db: Db, fn: (tx: Tx) => Promise<T>): Promise<T> {
  return withClient(db, async (client) => {
    await client.query('BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      // A dead connection has nothing to roll back (the server already did); the rollback's own failure is not the news.
      await client.query('ROLLBACK').catch(() => unusable.add(client));
      throw err;
    }
  });
}

export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = err as { code?: string; constraint?: string };
  return e?.code === '23505' && (constraint === undefined || e.constraint === constraint);
}
