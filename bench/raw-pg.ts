/**
 * raw-pg: DAMM's enrollment transaction, statement for statement (copied
 * from src/control-plane/services/enroll.ts and, when the gateway feed
 * exists, the feed listener's rows), run straight from a `pg` Pool with no
 * HTTP, no Fastify and no placement: what the database alone sustains here.
 * DAMM's HTTP rate from enroll-throughput in the same run is then stated as
 * a fraction of it.
 */
import { randomUUID } from 'node:crypto';
import type { Benchmark, BenchOutput, BenchResult, RunContext } from './lib/result.js';
import { createBenchDatabase, backendPids } from './lib/pg.js';
import { analyze, hasFeed, issuePasses, seedUpTo, BENCH_IPV4_POOL, BENCH_IPV6_PREFIX, type FeedSeeder } from './lib/seed.js';
import { cpuBetween, snapshot } from './lib/cpu.js';
import { distribution, ratio, round } from './lib/stats.js';
import { randomPublicKeys } from './lib/seed.js';
import { createPool, type Db } from '../src/store/db.js';
import { hashSecret } from '../src/control-plane/secrets.js';
import { addressesFor, parsePools } from '../src/core/ipam.js';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const FULL = { sizes: [1_000, 10_000, 100_000], poolSizes: [8, 16], warmup: 500, perPhase: 4_000, blockSize: 500 };
export const SMOKE = { sizes: [20, 300], poolSizes: [8, 16], warmup: 10, perPhase: 60, blockSize: 20 };

const POOLS = parsePools({ ipv4Cidr: BENCH_IPV4_POOL, ipv6Prefix: BENCH_IPV6_PREFIX });

/** A stand-in admission envelope of the real size (the database does not check signatures). */
function templateEnvelope(d: { id: string; public_key: string; ipv4: string; ipv6: string; scope: string }, now: Date) {
  const rec = { kind: 'admission', deviceId: d.id, publicKey: d.public_key, allowedIps: [`${d.ipv4}/32`, `${d.ipv6}/128`], scope: d.scope, notBefore: now.toISOString().replace(/\.\d+Z$/, 'Z'), notAfter: new Date(now.getTime() + 86400_000).toISOString().replace(/\.\d+Z$/, 'Z') };
  return { payloadType: 'application/vnd.damm.admission+json', payload: Buffer.from(JSON.stringify(rec)).toString('base64'), signatures: [{ keyid: 'a'.repeat(64), sig: Buffer.alloc(64, 1).toString('base64') }] };
}

const templateFeed: FeedSeeder = { validitySeconds: 86400, envelopeFor: templateEnvelope };

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
  failures: number;
  latenciesMs: number[];
  blockThroughputPerS: number[];
}

async function runPhase(o: { url: string; dbName: string; admin: Db; gatewayId: string; tokens: string[]; poolSize: number; feed: boolean; withSequencer: boolean; blockSize: number; onProgress: (d: number, n: number) => void }): Promise<RawPhase> {
  const pool = createPool(o.url, o.poolSize);
  const keys = randomPublicKeys(o.tokens.length);
  // Open every connection first so connection set-up is not measured.
  await Promise.all(Array.from({ length: o.poolSize }, async () => (await pool.connect())).map(async (c) => (await c).release()));
  const devicesAtStart = Number((await o.admin.query<{ n: string }>('SELECT count(*) AS n FROM devices')).rows[0]!.n);
  const pids = await backendPids(o.admin, o.dbName);
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
  const a = snapshot(pids);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.poolSize }, async () => {
      while (next < o.tokens.length) {
        const i = next++;
        const s = performance.now();
        try {
          await enrollTx(pool, o.gatewayId, o.tokens[i]!, keys[i]!, o.feed);
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
  const b = snapshot(pids);
  stopSeq = true;
  await sequencer;
  await pool.end();
  const cpu = cpuBetween(a, b, { pg: pids });
  const ok = lat.length;
  const sorted = [...blocks].sort((x, y) => x - y);
  return {
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
    failures,
    latenciesMs: lat.map((x) => round(x, 3)),
    blockThroughputPerS: blocks,
  };
}

function earlierResult(ctx: RunContext, name: string): { r: BenchResult | null; sameRun: boolean } {
  const mine = ctx.earlier.get(name);
  if (mine && mine.status === 'ok') return { r: mine, sameRun: true };
  const f = path.join(ctx.outDir, `${name}.json`);
  if (!existsSync(f)) return { r: null, sameRun: false };
  const r = JSON.parse(readFileSync(f, 'utf8')) as BenchResult;
  return { r: r.status === 'ok' ? r : null, sameRun: r.runId === ctx.runId };
}

export const bench: Benchmark = {
  name: 'raw-pg',
  title: "DAMM's enrollment transaction straight on a pg Pool: the database's own limit here",
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const notes: string[] = [];
    const database = await createBenchDatabase();
    try {
      const feed = await hasFeed(database.db);
      const gatewayId = randomUUID();
      await database.db.query(
        `INSERT INTO gateways (id, name, region, country, wg_public_key, endpoints, egress_ips, registered_at, last_heartbeat_at)
         VALUES ($1, 'gw-nl-raw', 'NL', 'NL', $2, '[{"tier":"T0","host":"192.0.2.10","port":51820}]', '{192.0.2.10}', now(), now())`,
        [gatewayId, randomPublicKeys(1)[0]],
      );
      notes.push(feed
        ? 'the store has the gateway feed: each transaction also inserts its feed event (a real-size admission envelope) and admissions row; variant "+sequencer" also runs the feed sequencer as DAMM does'
        : 'no gateway feed in this build: the transaction is pass, address, device, audit');
      const variants: Array<{ poolSize: number; withSequencer: boolean }> = P.poolSizes.map((poolSize) => ({ poolSize, withSequencer: false }));
      if (feed) variants.push({ poolSize: 16, withSequencer: true });
      const perSize: Array<{ size: number; phases: RawPhase[] }> = [];
      for (const size of P.sizes) {
        await seedUpTo(database.db, size, { gatewayId, ...(feed ? { feed: templateFeed } : {}), onProgress: (d, n) => ctx.progress.update(`size ${size}: seeding ${d}/${n}`) });
        const tokens = await issuePasses(database.db, P.warmup + variants.length * P.perPhase);
        await analyze(database.db);
        await database.db.query('CHECKPOINT');
        await runPhase({ url: database.url, dbName: database.name, admin: database.db, gatewayId, tokens: tokens.slice(0, P.warmup), poolSize: 16, feed, withSequencer: feed, blockSize: P.blockSize, onProgress: (d, n) => ctx.progress.update(`size ${size}: warm-up ${d}/${n}`) });
        const phases: RawPhase[] = [];
        for (const [vi, v] of variants.entries()) {
          const slice = tokens.slice(P.warmup + vi * P.perPhase, P.warmup + (vi + 1) * P.perPhase);
          const ph = await runPhase({ url: database.url, dbName: database.name, admin: database.db, gatewayId, tokens: slice, ...v, feed, blockSize: P.blockSize, onProgress: (d, n) => ctx.progress.update(`size ${size}: pool ${v.poolSize}${v.withSequencer ? ' +sequencer' : ''} ${d}/${n}`) });
          if (ph.failures) notes.push(`size ${size} pool ${v.poolSize}: ${ph.failures} transactions failed`);
          phases.push(ph);
        }
        ctx.progress.note(`size ${size}: ${phases.map((p) => `pool ${p.poolSize}${p.withSequencer ? '+seq' : ''} ${p.medianBlockThroughputPerS}/s`).join(', ')}`);
        perSize.push({ size, phases });
      }
      const { r: damm, sameRun } = earlierResult(ctx, 'enroll-throughput');
      const dammSizes = (damm?.summary['sizes'] ?? []) as Array<{ size: number; concurrent: { medianBlockThroughputPerS: number } }>;
      if (!damm) notes.push('no enroll-throughput result to compare with: run `npm run bench -- enroll-throughput raw-pg`');
      else if (!sameRun) notes.push(`fractions use enroll-throughput from another run (${damm.runId})`);
      const fractions = perSize.map((s) => {
        const best = Math.max(...s.phases.filter((p) => !p.withSequencer).map((p) => p.medianBlockThroughputPerS));
        const seq = s.phases.find((p) => p.withSequencer)?.medianBlockThroughputPerS ?? null;
        const d = dammSizes.find((x) => x.size === s.size)?.concurrent.medianBlockThroughputPerS ?? null;
        return { size: s.size, rawBestPerS: best, rawWithSequencerPerS: seq, dammPerS: d, dammFractionOfRaw: d === null ? null : ratio(d, best), dammFractionOfRawWithSequencer: d === null || seq === null ? null : ratio(d, seq) };
      });
      const last = fractions[fractions.length - 1]!;
      return {
        status: 'ok',
        parameters: { ...P, feed, client: 'pg Pool in the benchmark process, one transaction per checkout (as withTx does)' },
        samples: Object.fromEntries(perSize.flatMap((s) => s.phases.map((p) => [`size${s.size}.pool${p.poolSize}${p.withSequencer ? '+sequencer' : ''}.latenciesMs`, p.latenciesMs]))),
        summary: {
          sizes: perSize.map((s) => ({ size: s.size, phases: s.phases.map(({ latenciesMs: _l, ...rest }) => rest) })),
          fractions,
          fractionsFromSameRun: sameRun,
        },
        targets: {
          fractionOfRaw: {
            target: `DAMM over HTTP ≥ 70% of the raw database rate at ${last.size.toLocaleString('en')} devices`,
            measured: last.dammFractionOfRaw === null ? 'no DAMM result to compare' : `${Math.round(last.dammFractionOfRaw * 100)}% (DAMM ${last.dammPerS}/s vs raw ${last.rawBestPerS}/s${last.rawWithSequencerPerS !== null ? `; ${Math.round((last.dammFractionOfRawWithSequencer ?? 0) * 100)}% of raw+sequencer ${last.rawWithSequencerPerS}/s` : ''})`,
            met: ctx.smoke || last.dammFractionOfRaw === null ? null : last.dammFractionOfRaw >= 0.7,
          },
        },
        notes,
      };
    } finally {
      await database.drop();
    }
  },
};
