/**
 * raw-pg: DAMM's enrollment transaction, statement for statement (copied
 * from src/control-plane/services/enroll.ts and, when the gateway feed
 * exists, the feed listener's rows), run straight from a `pg` Pool with no
 * HTTP, no Fastify and no placement: what the database alone sustains here.
 * DAMM's HTTP rate from enroll-throughput in the same run is then stated as
 * a fraction of it.
 */
import { randomUUID } from 'node:crypto';
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase, backendPids } from './lib/pg.js';
import { analyze, feedSeederFor, hasFeed, issuePasses, seedUpTo, BENCH_IPV4_POOL, BENCH_IPV6_PREFIX } from './lib/seed.js';
import { buildNotes, keepGatewayOnline, registerGateway, startControlPlane } from './lib/cp.js';
import { measurePhase, phaseSummary, type PhaseResult } from './lib/phases.js';
import { enrollLoad } from './lib/load.js';
import { trackCpu } from './lib/cpu.js';
import { distribution, ratio, round } from './lib/stats.js';
import { randomPublicKeys } from './lib/seed.js';
import { createPool, type Db } from '../src/store/db.js';
import { hashSecret } from '../src/control-plane/secrets.js';
import { addressesFor, parsePools } from '../src/core/ipam.js';

/** perPhase × phases + warmup stays below the next size, so each size starts where it says. */
export const FULL = { sizes: [1_000, 10_000, 100_000], warmup: 300, perPhase: 1_500, blockSize: 250 };
export const SMOKE = { sizes: [20, 300], warmup: 10, perPhase: 40, blockSize: 10 };

/**
 * Transaction shapes. 'damm' is the headline (what DAMM runs). At the largest
 * size two diagnostics also run: 'no-feed' (the shape before the gateway feed:
 * what the feed rows cost) and 'fewer-round-trips' (the same rows written in
 * 4 round trips instead of 9: a proposed change, measured).
 */
type Shape = 'damm' | 'no-feed' | 'fewer-round-trips';

const POOLS = parsePools({ ipv4Cidr: BENCH_IPV4_POOL, ipv6Prefix: BENCH_IPV6_PREFIX });

/** A stand-in admission envelope of the real size (the database does not check signatures). */
function templateEnvelope(d: { id: string; public_key: string; ipv4: string; ipv6: string; scope: string }, now: Date) {
  const rec = { kind: 'admission', deviceId: d.id, publicKey: d.public_key, allowedIps: [`${d.ipv4}/32`, `${d.ipv6}/128`], scope: d.scope, notBefore: now.toISOString().replace(/\.\d+Z$/, 'Z'), notAfter: new Date(now.getTime() + 86400_000).toISOString().replace(/\.\d+Z$/, 'Z') };
  return { payloadType: 'application/vnd.damm.admission+json', payload: Buffer.from(JSON.stringify(rec)).toString('base64'), signatures: [{ keyid: 'a'.repeat(64), sig: Buffer.alloc(64, 1).toString('base64') }] };
}


/** BEGIN; pass + address in one statement; device + audit + feed + admissions in one statement; COMMIT. */
async function enrollTxFewerRoundTrips(db: Db, gatewayId: string, token: string, publicKey: string, feed: boolean): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const now = new Date();
    const a = await client.query<{ id: string; kind: string; tier: string; address_offset: number }>(
      `WITH p AS (
         UPDATE install_passes SET uses_left = uses_left - 1
         WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2 AND revoked_at IS NULL
         RETURNING id, kind, tier),
       r AS (
         DELETE FROM free_offsets WHERE EXISTS (SELECT 1 FROM p) AND address_offset = (
           SELECT address_offset FROM free_offsets ORDER BY address_offset LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING address_offset)
       SELECT p.id, p.kind, p.tier, coalesce((SELECT address_offset FROM r), nextval('address_offset_seq'))::int AS address_offset FROM p`,
      [hashSecret(token), now],
    );
    const p = a.rows[0];
    if (!p) throw new Error('pass not consumable');
    const addr = addressesFor(POOLS, p.address_offset);
    const id = randomUUID();
    const d = { id, public_key: publicKey, ipv4: addr.ipv4, ipv6: addr.ipv6, scope: 'region:NL' };
    await client.query(
      `WITH d AS (
         INSERT INTO devices (id, public_key, address_offset, ipv4, ipv6, tier, pass_id, requested_region, requested_exit,
           region, exit_country, scope, gateway_id, placement_reason, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, 'NL', 'NL', 'region:NL', $8, $9, $10)
         RETURNING id, public_key, address_offset, host(ipv4) AS ipv4, host(ipv6) AS ipv6, tier, region, exit_country, scope,
           gateway_id, state, state_reason, created_at),
       a AS (
         INSERT INTO audit_log (at, actor, action, subject, details)
         SELECT $10, 'device:' || d.id, x.action, x.subject, x.details FROM d, (VALUES ('pass.consumed', $11, $12::jsonb), ('device.enrolled', 'device:' || $1, $13::jsonb)) x(action, subject, details)),
       f AS (
         INSERT INTO feed_events (scope, device_id, kind, envelope) SELECT d.scope, d.id, 'upsert', $14::jsonb FROM d WHERE $15::boolean),
       m AS (
         INSERT INTO admissions (device_id, scope, not_after) SELECT d.id, d.scope, $16 FROM d WHERE $15::boolean)
       SELECT * FROM d`,
      [id, publicKey, p.address_offset, addr.ipv4, addr.ipv6, p.tier, p.id, gatewayId, 'No preference given; NL (exit NL) has the most room.', now,
        `pass:${p.id}`, JSON.stringify({ kind: p.kind, deviceId: id }), JSON.stringify({ publicKey, ipv4: addr.ipv4, region: 'NL', gatewayId, honoured: true }),
        JSON.stringify(templateEnvelope(d, now)), feed, new Date(now.getTime() + 86400_000)],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

/** One enrollment, as DAMM's transaction does it. */
async function enrollTx(db: Db, gatewayId: string, token: string, publicKey: string, feed: boolean): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('BEGIN');
    const now = new Date();
    const pass = await client.query<{ id: string; kind: string; tier: string }>(
      `UPDATE install_passes SET uses_left = uses_left - 1
       WHERE token_hash = $1 AND uses_left > 0 AND expires_at > $2 AND revoked_at IS NULL
       RETURNING id, kind, tier`,
      [hashSecret(token), now],
    );
    const p = pass.rows[0];
    if (!p) throw new Error('pass not consumable');
    const reused = await client.query<{ address_offset: number }>(
      `DELETE FROM free_offsets WHERE address_offset = (
         SELECT address_offset FROM free_offsets ORDER BY address_offset LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING address_offset`,
    );
    const offset = reused.rows[0]?.address_offset ?? Number((await client.query<{ n: string }>("SELECT nextval('address_offset_seq') AS n")).rows[0]!.n);
    const addr = addressesFor(POOLS, offset);
    const id = randomUUID();
    const reason = 'No preference given; NL (exit NL) has the most room.';
    const row = await client.query(
      `INSERT INTO devices (id, public_key, address_offset, ipv4, ipv6, tier, pass_id, requested_region, requested_exit,
         region, exit_country, scope, gateway_id, placement_reason, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
       RETURNING id, public_key, address_offset, host(ipv4) AS ipv4, host(ipv6) AS ipv6, tier, region, exit_country, scope,
         gateway_id, state, state_reason, created_at`,
      [id, publicKey, offset, addr.ipv4, addr.ipv6, p.tier, p.id, null, null, 'NL', 'NL', 'region:NL', gatewayId, reason, now],
    );
    await client.query(
      `INSERT INTO audit_log (at, actor, action, subject, details) VALUES
         ($1, $2, 'pass.consumed', $3, $4), ($1, $2, 'device.enrolled', $5, $6)`,
      [now, `device:${id}`, `pass:${p.id}`, JSON.stringify({ kind: p.kind, deviceId: id }),
        `device:${id}`, JSON.stringify({ publicKey, ipv4: addr.ipv4, region: 'NL', gatewayId, honoured: true })],
    );
    if (feed) {
      const d = row.rows[0] as { id: string; public_key: string; ipv4: string; ipv6: string; scope: string };
      await client.query(
        `INSERT INTO feed_events (scope, device_id, kind, envelope, reason)
         SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::jsonb[], $5::text[])`,
        [[d.scope], [d.id], ['upsert'], [JSON.stringify(templateEnvelope(d, now))], [null]],
      );
      await client.query('INSERT INTO admissions (device_id, scope, not_after) VALUES ($1, $2, $3)', [d.id, d.scope, new Date(now.getTime() + 86400_000)]);
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

interface RawPhase {
  shape: Shape;
  poolSize: number;
  withSequencer: boolean;
  count: number;
  devicesAtStart: number;
  wallMs: number;
  throughputPerS: number;
  medianBlockThroughputPerS: number;
  latency: ReturnType<typeof distribution>;
  cpuMsPerTx: { postgres: number; client: number };
  machineBusyPct: number;
  neighbourCores: number;
  failures: number;
  latenciesMs: number[];
  blockThroughputPerS: number[];
}

async function runPhase(o: { url: string; dbName: string; admin: Db; gatewayId: string; tokens: string[]; poolSize: number; feed: boolean; withSequencer: boolean; shape: Shape; blockSize: number; onProgress: (d: number, n: number) => void }): Promise<RawPhase> {
  const pool = createPool(o.url, o.poolSize);
  const keys = randomPublicKeys(o.tokens.length);
  // Open every connection first so connection set-up is not measured.
  await Promise.all(Array.from({ length: o.poolSize }, async () => (await pool.connect())).map(async (c) => (await c).release()));
  const devicesAtStart = Number((await o.admin.query<{ n: string }>('SELECT count(*) AS n FROM devices')).rows[0]!.n);
  let stopSeq = false;
  let sequencer: Promise<void> = Promise.resolve();
  if (o.withSequencer) {
    // DAMM runs its sequencer right after commits (coalesced): the same here, in a loop.
    const { sequencePending } = await import('../src/store/feed.js');
    const seqPool = createPool(o.url, 1);
    sequencer = (async () => {
      while (!stopSeq) {
        const r = await sequencePending(seqPool, 5000);
        if (r.count === 0) await new Promise((res) => setTimeout(res, 1));
      }
      await seqPool.end();
    })();
  }
  const lat: number[] = [];
  const blocks: number[] = [];
  let next = 0;
  let done = 0;
  let failures = 0;
  let blockStart = performance.now();
  const tracker = await trackCpu({ pg: () => backendPids(o.admin, o.dbName) });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.poolSize }, async () => {
      while (next < o.tokens.length) {
        const i = next++;
        const s = performance.now();
        try {
          if (o.shape === 'fewer-round-trips') await enrollTxFewerRoundTrips(pool, o.gatewayId, o.tokens[i]!, keys[i]!, o.feed);
          else await enrollTx(pool, o.gatewayId, o.tokens[i]!, keys[i]!, o.shape === 'damm' && o.feed);
          lat.push(performance.now() - s);
        } catch {
          failures++;
        }
        done++;
        if (done % o.blockSize === 0) {
          const now = performance.now();
          blocks.push(round((o.blockSize / (now - blockStart)) * 1000, 1));
          blockStart = now;
        }
        o.onProgress(done, o.tokens.length);
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const cpu = await tracker.stop();
  stopSeq = true;
  await sequencer;
  await pool.end();
  const ok = lat.length;
  const sorted = [...blocks].sort((x, y) => x - y);
  return {
    shape: o.shape,
    poolSize: o.poolSize,
    withSequencer: o.withSequencer,
    count: ok,
    devicesAtStart,
    wallMs: round(wallMs, 1),
    throughputPerS: round((ok / wallMs) * 1000, 1),
    medianBlockThroughputPerS: sorted.length ? sorted[Math.floor(sorted.length / 2)]! : round((ok / wallMs) * 1000, 1),
    latency: distribution(lat),
    cpuMsPerTx: { postgres: round(cpu['pg']! / Math.max(1, ok), 3), client: round(cpu.loadgen / Math.max(1, ok), 3) },
    machineBusyPct: cpu.machineBusyPct,
    neighbourCores: cpu.neighbourCores,
    failures,
    latenciesMs: lat.map((x) => round(x, 3)),
    blockThroughputPerS: blocks,
  };
}

export const bench: Benchmark = {
  name: 'raw-pg',
  title: "DAMM's enrollment transaction straight on a pg Pool (the database's own limit), interleaved with DAMM over HTTP",
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const notes = buildNotes((m) => ctx.progress.note(m));
    const database = await createBenchDatabase();
    const cp = await startControlPlane({ databaseUrl: database.url });
    let stopBeat = () => {};
    try {
      const feed = await hasFeed(database.db);
      const gw = await registerGateway(cp);
      stopBeat = await keepGatewayOnline(database.db, cp, gw);
      const gatewayId = gw.gatewayId;
      const seeder = feed ? await feedSeederFor(cp.dataDir) : undefined;
      notes.push(feed
        ? 'the store has the gateway feed: each raw transaction also inserts its feed event (a real-size admission envelope) and admissions row; "+sequencer" also runs the feed sequencer as DAMM does'
        : 'no gateway feed in this build: the transaction is pass, address, device, audit');
      notes.push('DAMM over HTTP (damm serve on the same database, 16 clients) runs before and after the raw phases at each size, so the fraction compares numbers from the same few seconds on this shared machine');
      type Step = { kind: 'http' } | { kind: 'raw'; poolSize: number; withSequencer: boolean; shape: Shape };
      const base: Step[] = [{ kind: 'http' }, { kind: 'raw', poolSize: 16, withSequencer: false, shape: 'damm' }, { kind: 'raw', poolSize: 8, withSequencer: false, shape: 'damm' }];
      if (feed) base.push({ kind: 'raw', poolSize: 16, withSequencer: true, shape: 'damm' });
      base.push({ kind: 'http' });
      const diagnostics: Step[] = [{ kind: 'raw', poolSize: 16, withSequencer: false, shape: 'fewer-round-trips' }];
      if (feed) diagnostics.unshift({ kind: 'raw', poolSize: 16, withSequencer: false, shape: 'no-feed' });
      const perSize: Array<{ size: number; phases: RawPhase[]; http: PhaseResult[] }> = [];
      for (const size of P.sizes) {
        const steps = size === P.sizes[P.sizes.length - 1] ? [...base, ...diagnostics] : base;
        await seedUpTo(database.db, size, { gatewayId, ...(seeder ? { feed: seeder } : {}), onProgress: (d, n) => ctx.progress.update(`size ${size}: seeding ${d}/${n}`) });
        const tokens = await issuePasses(database.db, 2 * P.warmup + steps.length * P.perPhase);
        await analyze(database.db);
        await database.db.query('CHECKPOINT');
        await runPhase({ url: database.url, dbName: database.name, admin: database.db, gatewayId, tokens: tokens.slice(0, P.warmup), poolSize: 16, feed, withSequencer: feed, shape: 'damm', blockSize: P.blockSize, onProgress: (d, n) => ctx.progress.update(`size ${size}: raw warm-up ${d}/${n}`) });
        await enrollLoad({ url: cp.url, passes: tokens.slice(P.warmup, 2 * P.warmup), concurrency: 16 });
        const phases: RawPhase[] = [];
        const http: PhaseResult[] = [];
        for (const [vi, v] of steps.entries()) {
          const slice = tokens.slice(2 * P.warmup + vi * P.perPhase, 2 * P.warmup + (vi + 1) * P.perPhase);
          if (v.kind === 'http') {
            const ph = await measurePhase({ url: cp.url, db: database.db, dbName: database.name, cpPids: [cp.pid], concurrency: 16, blockSize: P.blockSize, passes: slice, onProgress: (d, n) => ctx.progress.update(`size ${size}: DAMM over HTTP ${d}/${n}`) });
            if ((ph.statuses['201'] ?? 0) !== ph.count) notes.push(`size ${size} DAMM over HTTP: ${JSON.stringify(ph.statuses)} ${ph.failures.join(' / ')}`);
            http.push(ph);
            continue;
          }
          const ph = await runPhase({ url: database.url, dbName: database.name, admin: database.db, gatewayId, tokens: slice, ...v, feed, blockSize: P.blockSize, onProgress: (d, n) => ctx.progress.update(`size ${size}: ${v.shape} pool ${v.poolSize}${v.withSequencer ? ' +sequencer' : ''} ${d}/${n}`) });
          if (ph.failures) notes.push(`size ${size} pool ${v.poolSize}: ${ph.failures} transactions failed`);
          phases.push(ph);
        }
        ctx.progress.note(`size ${size}: DAMM over HTTP ${http.map((h) => `${h.medianBlockThroughputPerS}/s`).join(' and ')}; raw ${phases.map((p) => `${p.shape === 'damm' ? '' : `${p.shape} `}pool ${p.poolSize}${p.withSequencer ? '+seq' : ''} ${p.medianBlockThroughputPerS}/s (pg ${p.cpuMsPerTx.postgres} ms CPU/tx)`).join(', ')}`);
        perSize.push({ size, phases, http });
      }
      const fractions = perSize.map((s) => {
        const best = Math.max(...s.phases.filter((p) => !p.withSequencer && p.shape === 'damm').map((p) => p.medianBlockThroughputPerS));
        const seq = s.phases.find((p) => p.withSequencer)?.medianBlockThroughputPerS ?? null;
        const d = round(s.http.reduce((a, h) => a + h.medianBlockThroughputPerS, 0) / s.http.length, 1);
        return { size: s.size, rawBestPerS: best, rawWithSequencerPerS: seq, dammPerS: d, dammRuns: s.http.map((h) => h.medianBlockThroughputPerS), dammFractionOfRaw: ratio(d, best), dammFractionOfRawWithSequencer: seq === null ? null : ratio(d, seq) };
      });
      const last = fractions[fractions.length - 1]!;
      return {
        status: 'ok',
        parameters: { ...P, feed, client: 'pg Pool in the benchmark process, one transaction per checkout (as withTx does)', http: 'damm serve on the same database, 16 clients, before and after the raw phases' },
        samples: Object.fromEntries([
          ...perSize.flatMap((s) => s.phases.map((p) => [`size${s.size}.${p.shape}.pool${p.poolSize}${p.withSequencer ? '+sequencer' : ''}.latenciesMs`, p.latenciesMs])),
          ...perSize.flatMap((s) => s.http.map((h, i) => [`size${s.size}.dammHttp${i}.latenciesMs`, h.latenciesMs])),
        ]),
        summary: {
          sizes: perSize.map((s) => ({ size: s.size, phases: s.phases.map(({ latenciesMs: _l, ...rest }) => rest), damm: s.http.map((h) => phaseSummary(h)) })),
          fractions,
        },
        targets: {
          fractionOfRaw: {
            target: `DAMM over HTTP ≥ 70% of the raw database rate at ${last.size.toLocaleString('en')} devices`,
            measured: `${Math.round((last.dammFractionOfRaw ?? 0) * 100)}% (DAMM ${last.dammPerS}/s, mean of ${last.dammRuns.join(' and ')}, vs raw ${last.rawBestPerS}/s${last.rawWithSequencerPerS !== null ? `; ${Math.round((last.dammFractionOfRawWithSequencer ?? 0) * 100)}% of raw + sequencer ${last.rawWithSequencerPerS}/s` : ''})`,
            met: ctx.smoke || last.dammFractionOfRaw === null ? null : last.dammFractionOfRaw >= 0.7,
          },
        },
        notes,
      };
    } finally {
      stopBeat();
      await cp.stop();
      await database.drop();
    }
  },
};
