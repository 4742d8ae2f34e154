/**
 * Seeds large states straight through the store, in bulk: consumed install
 * passes, devices with valid offsets and addresses (the address sequence is
 * advanced past them), and the audit rows the API would have written (three
 * per device: pass minted, pass consumed, device enrolled). Then the passes
 * the benchmark will spend are pre-issued, so minting is not what is measured.
 *
 * Pass hashes are SHA-256 of the token, exactly `hashSecret` in
 * src/control-plane/secrets.ts; the bulk path computes the same digest in SQL
 * (checked by `assertSqlHashMatches`).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Db } from '../../src/store/db.js';
import { hashSecret, newSecret } from '../../src/control-plane/secrets.js';
import { parsePools, addressesFor } from '../../src/core/ipam.js';

/** Pools big enough for 100k+ devices (the default /16 holds 65,534). */
export const BENCH_IPV4_POOL = '10.64.0.0/10';
export const BENCH_IPV6_PREFIX = 'fd0d:a44d:66::/64';
const POOLS = parsePools({ ipv4Cidr: BENCH_IPV4_POOL, ipv6Prefix: BENCH_IPV6_PREFIX });
const V4_BASE = BENCH_IPV4_POOL.split('/')[0]!;
const V6_BASE = BENCH_IPV6_PREFIX.split('/')[0]!;

export async function assertSqlHashMatches(db: Db): Promise<void> {
  const token = newSecret('dp');
  const r = await db.query<{ h: Buffer }>("SELECT sha256(convert_to($1, 'UTF8')) AS h", [token]);
  if (!r.rows[0]!.h.equals(hashSecret(token))) throw new Error('SQL sha256 differs from hashSecret: seeding would not match the store');
}

/** Reserves n fresh address offsets from the sequence; returns the first. */
async function reserveOffsets(db: Db, n: number): Promise<number> {
  const r = await db.query<{ last: string }>(
    `SELECT setval('address_offset_seq', (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM address_offset_seq) + $1) AS last`,
    [n],
  );
  return Number(r.rows[0]!.last) - n + 1;
}

export async function countDevices(db: Db): Promise<number> {
  return Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM devices WHERE state = 'active'")).rows[0]!.n);
}

/** A seeded device as the feed needs it. */
export interface SeededDevice {
  id: string;
  public_key: string;
  ipv4: string;
  ipv6: string;
  scope: string;
}

export interface FeedSeeder {
  /** The signed admission record of a device (what the control plane's listener would have written). */
  envelopeFor(d: SeededDevice, now: Date): unknown;
  validitySeconds: number;
}

export async function hasFeed(db: Db): Promise<boolean> {
  const r = await db.query<{ t: string | null }>("SELECT to_regclass('public.feed_events')::text AS t");
  return r.rows[0]!.t !== null;
}

/**
 * Signs admission records with the control plane's own admission keys
 * (read from its data directory), exactly as its device listener does.
 */
export async function feedSeederFor(dataDir: string): Promise<FeedSeeder> {
  const { loadKeyRing } = await import('../../src/control-plane/keyring.js');
  const { admissionRecordFor, signRecord, ADMISSION_VALIDITY_SECONDS } = await import('../../src/core/admission.js');
  const { nodeEd25519 } = await import('../../src/platform/node-ed25519.js');
  const ring = await loadKeyRing(dataDir, { create: false, now: new Date() });
  const ed = nodeEd25519();
  const signers = ring.signers('admission');
  return {
    validitySeconds: ADMISSION_VALIDITY_SECONDS,
    envelopeFor: (d, now) =>
      signRecord(admissionRecordFor({ id: d.id, publicKey: d.public_key, ipv4: d.ipv4, ipv6: d.ipv6, scope: d.scope }, now, ADMISSION_VALIDITY_SECONDS), signers, ed),
  };
}

/** Sequences every pending feed event (as the control plane's sequencer would). */
export async function sequenceAll(db: Db): Promise<void> {
  const { sequencePending } = await import('../../src/store/feed.js');
  while ((await sequencePending(db, 50_000)).more);
}

export interface SeedOptions {
  gatewayId: string;
  /** Required when the store has the gateway feed: seeded devices then get their admission events too. */
  feed?: FeedSeeder;
  region?: string;
  country?: string;
  /** Rows per INSERT statement. */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}

/** Adds `n` enrolled devices (with their consumed passes and audit rows). */
export async function seedDevices(db: Db, n: number, opts: SeedOptions): Promise<void> {
  const region = opts.region ?? 'NL';
  const country = opts.country ?? 'NL';
  const batch = opts.batch ?? 25_000;
  await assertSqlHashMatches(db);
  const withFeed = await hasFeed(db);
  if (withFeed && !opts.feed) throw new Error('this store has the gateway feed: seeding needs a FeedSeeder so devices get admission events');
  // Sanity: the SQL address arithmetic agrees with DAMM's own IPAM.
  const check = await db.query<{ v4: string; v6: string }>('SELECT host($1::inet + 77) AS v4, host($2::inet + 77) AS v6', [V4_BASE, V6_BASE]);
  const want = addressesFor(POOLS, 77);
  if (check.rows[0]!.v4 !== want.ipv4 || check.rows[0]!.v6 !== want.ipv6) throw new Error(`seed address arithmetic disagrees with ipam: ${JSON.stringify(check.rows[0])} vs ${JSON.stringify(want)}`);
  for (let done = 0; done < n; done += batch) {
    const k = Math.min(batch, n - done);
    const tag = randomBytes(6).toString('hex');
    const first = await reserveOffsets(db, k);
    const client = await db.connect();
    try {
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO install_passes (id, token_hash, kind, tier, max_uses, uses_left, expires_at, created_at, created_by)
         SELECT md5($1 || 'p' || i)::uuid, sha256(convert_to('dp_seed_' || $1 || '_' || i, 'UTF8')), 'public', 'public', 1, 0,
                now() + interval '15 minutes', now(), 'public'
         FROM generate_series(1, $2::int) i`,
        [tag, k],
      );
      const inserted = await client.query<SeededDevice>(
        `INSERT INTO devices (id, public_key, address_offset, ipv4, ipv6, tier, pass_id, requested_region, requested_exit,
           region, exit_country, scope, gateway_id, placement_reason, created_at)
         SELECT md5($1 || 'd' || i)::uuid, encode(sha256(convert_to($1 || 'k' || i, 'UTF8')), 'base64'), $3::int + i - 1,
                $4::inet + ($3::int + i - 1), $5::inet + ($3::int + i - 1), 'public', md5($1 || 'p' || i)::uuid, NULL, NULL,
                $6, $7, 'region:' || $6, $8::uuid, 'No preference given; ' || $6 || ' (exit ' || $7 || ') has the most room.', now()
         FROM generate_series(1, $2::int) i
         RETURNING ${withFeed ? 'id, public_key, host(ipv4) AS ipv4, host(ipv6) AS ipv6, scope' : 'id'}`,
        [tag, k, first, V4_BASE, V6_BASE, region, country, opts.gatewayId],
      );
      if (withFeed) {
        const now = new Date();
        const rows = inserted.rows;
        const envelopes = rows.map((d) => JSON.stringify(opts.feed!.envelopeFor(d, now)));
        await client.query(
          `INSERT INTO feed_events (scope, device_id, kind, envelope)
           SELECT scope, id, 'upsert', env FROM unnest($1::text[], $2::uuid[], $3::jsonb[]) AS t(scope, id, env)`,
          [rows.map((d) => d.scope), rows.map((d) => d.id), envelopes],
        );
        await client.query(
          'INSERT INTO admissions (device_id, scope, not_after) SELECT id, scope, $3 FROM unnest($1::uuid[], $2::text[]) AS t(id, scope)',
          [rows.map((d) => d.id), rows.map((d) => d.scope), new Date(now.getTime() + opts.feed!.validitySeconds * 1000)],
        );
      }
      await client.query(
        `INSERT INTO audit_log (at, actor, action, subject, details)
         SELECT now(), a.actor, a.action, a.subject, a.details
         FROM (SELECT i, md5($1 || 'd' || i)::uuid AS did, md5($1 || 'p' || i)::uuid AS pid,
                      encode(sha256(convert_to($1 || 'k' || i, 'UTF8')), 'base64') AS pk,
                      host($4::inet + ($3::int + i - 1)) AS v4
               FROM generate_series(1, $2::int) i) d,
         LATERAL (VALUES
           ('public', 'pass.minted', 'pass:' || d.pid, jsonb_build_object('tier', 'public', 'uses', 1, 'expiresAt', now() + interval '15 minutes')),
           ('device:' || d.did, 'pass.consumed', 'pass:' || d.pid, jsonb_build_object('kind', 'public', 'deviceId', d.did)),
           ('device:' || d.did, 'device.enrolled', 'device:' || d.did,
             jsonb_build_object('publicKey', d.pk, 'ipv4', d.v4, 'region', $5::text, 'gatewayId', $6::text, 'honoured', true))
         ) a(actor, action, subject, details)`,
        [tag, k, first, V4_BASE, region, opts.gatewayId],
      );
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.release();
    }
    opts.onProgress?.(done + k, n);
  }
  if (withFeed) await sequenceAll(db);
}

/** Tops the active device count up to `target`; returns how many were added. */
export async function seedUpTo(db: Db, target: number, opts: SeedOptions): Promise<number> {
  const have = await countDevices(db);
  if (have >= target) return 0;
  await seedDevices(db, target - have, opts);
  return target - have;
}

/**
 * Pre-issues `n` single-use public passes through the store (hash only, with
 * the audit row `issuePass` writes) and returns their tokens.
 */
export async function issuePasses(db: Db, n: number, opts: { ttlSeconds?: number } = {}): Promise<string[]> {
  const tokens: string[] = [];
  const ttl = opts.ttlSeconds ?? 3600;
  for (let done = 0; done < n; done += 5000) {
    const k = Math.min(5000, n - done);
    const ids: string[] = [];
    const hashes: Buffer[] = [];
    for (let i = 0; i < k; i++) {
      const t = newSecret('dp');
      tokens.push(t);
      ids.push(randomUUID());
      hashes.push(hashSecret(t));
    }
    await db.query(
      `WITH p AS (
         INSERT INTO install_passes (id, token_hash, kind, tier, max_uses, uses_left, expires_at, created_at, created_by)
         SELECT id, h, 'public', 'public', 1, 1, now() + make_interval(secs => $3), now(), 'bench'
         FROM unnest($1::uuid[], $2::bytea[]) AS t(id, h)
         RETURNING id, expires_at)
       INSERT INTO audit_log (at, actor, action, subject, details)
       SELECT now(), 'bench', 'pass.minted', 'pass:' || id, jsonb_build_object('tier', 'public', 'uses', 1, 'expiresAt', expires_at) FROM p`,
      [ids, hashes, ttl],
    );
  }
  return tokens;
}

/** Brings the planner statistics up to date after a bulk load, as autovacuum would. */
export async function analyze(db: Db): Promise<void> {
  await db.query(`VACUUM ANALYZE install_passes, devices, audit_log${(await hasFeed(db)) ? ', feed_events, admissions' : ''}`);
}

/** n distinct random WireGuard public keys (32 random bytes, base64). */
export function randomPublicKeys(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    let b = randomBytes(32);
    while (b.every((x) => x === 0)) b = randomBytes(32);
    out.push(b.toString('base64'));
  }
  return out;
}
