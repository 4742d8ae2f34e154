/**
 * ticket-verify: what the memo's stateless-ticket design would ask of a
 * gateway's CPU. In that design a gateway holds no peer table and verifies a
 * signed admission ticket on every handshake. DAMM's admission record is
 * such a ticket ({deviceId, publicKey, allowedIps, scope, notBefore,
 * notAfter}, Ed25519 over DSSE), so this verifies N of them, one after
 * another on one thread (one core), with exactly the code a DAMM gateway
 * runs: `verifyAdmission` (src/core/admission.ts) with `nodeEd25519`
 * (src/platform/node-ed25519.ts), each from its JSON text as it would arrive.
 *
 * Baseline, in the same run and on the same signed bytes: the Ed25519
 * primitive alone (node:crypto verify over the DSSE pre-authentication
 * bytes, the key object cached), so the ratio is what envelope parsing,
 * base64, JSON, shape, scope, time and pool checks add to the signature.
 * Timed by this process's CPU time (user + system), which is what one core
 * spends whatever else the shared machine runs; wall time is reported too.
 */
import { createPublicKey, verify as nodeVerify } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { admissionRecordFor, signRecord, verifyAdmission, type GatewayTrust } from '../src/core/admission.js';
import { generateSigningKey, pae, PAYLOAD_TYPES } from '../src/core/envelope.js';
import { addressesFor, parsePools } from '../src/core/ipam.js';
import { nodeEd25519 } from '../src/platform/node-ed25519.js';
import { randomPublicKeys } from './lib/seed.js';
import { ratio, round } from './lib/stats.js';

/** The sizes of bench/cold-start.ts, so a row of docs/alternatives.md compares like with like. */
export const FULL = { sizes: [10_000, 65_000], rounds: 3 };
export const SMOKE = { sizes: [200], rounds: 1 };

const SCOPE = 'region:NL';
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function timed(fn: () => number): { cpuMs: number; wallMs: number; ok: number } {
  const c0 = cpuMs();
  const w0 = performance.now();
  const ok = fn();
  return { cpuMs: cpuMs() - c0, wallMs: performance.now() - w0, ok };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export const bench: Benchmark = {
  name: 'ticket-verify',
  title: 'Stateless-ticket cost: N signed admission tickets verified on one core with DAMM\'s verifier, vs. the bare Ed25519 primitive',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const notes: string[] = [`load average at start ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores (shared machine)`];
    const pools = parsePools({ ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' });
    const key = generateSigningKey();
    const ed = nodeEd25519();
    const trust: GatewayTrust = { scope: SCOPE, pools, trustedKeys: [{ keyid: key.keyid, publicKey: key.publicKey }] };
    const now = new Date();
    const perSize: Array<Record<string, unknown>> = [];
    for (const size of P.sizes) {
      ctx.progress.update(`size ${size}: signing ${size} tickets`, true);
      const keys = randomPublicKeys(size);
      // Each ticket as the JSON text a gateway would receive, and (for the baseline) its exact signed bytes.
      const texts: string[] = [];
      const signed: Array<{ message: Buffer; sig: Buffer }> = [];
      for (let i = 0; i < size; i++) {
        const a = addressesFor(pools, i + 2);
        const env = signRecord(admissionRecordFor({ id: randomUUID(), publicKey: keys[i]!, ipv4: a.ipv4, ipv6: a.ipv6, scope: SCOPE }, now), [key], ed);
        texts.push(JSON.stringify(env));
        signed.push({ message: Buffer.from(pae(PAYLOAD_TYPES.admission, Buffer.from(env.payload, 'base64'))), sig: Buffer.from(env.signatures[0]!.sig, 'base64') });
      }
      const pub = createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(key.publicKey)]), format: 'der', type: 'spki' });
      const damm: Array<ReturnType<typeof timed>> = [];
      const raw: Array<ReturnType<typeof timed>> = [];
      for (let r = 0; r < P.rounds; r++) {
        // Alternated, so a neighbour's burst on the shared machine hits both alike.
        ctx.progress.update(`size ${size}: round ${r + 1}/${P.rounds}, DAMM's verifier`, true);
        damm.push(timed(() => {
          let ok = 0;
          for (const t of texts) if (verifyAdmission(JSON.parse(t), trust, now, { ed }).ok) ok++;
          return ok;
        }));
        ctx.progress.update(`size ${size}: round ${r + 1}/${P.rounds}, bare Ed25519`, true);
        raw.push(timed(() => {
          let ok = 0;
          for (const s of signed) if (nodeVerify(null, s.message, pub, s.sig)) ok++;
          return ok;
        }));
      }
      if (damm.some((d) => d.ok !== size) || raw.some((d) => d.ok !== size)) throw new Error(`size ${size}: not every ticket verified (${damm.map((d) => d.ok)} / ${raw.map((d) => d.ok)})`);
      const dCpu = median(damm.map((d) => d.cpuMs));
      const rCpu = median(raw.map((d) => d.cpuMs));
      const row = {
        size,
        damm: { cpuMs: round(dCpu, 1), wallMs: round(median(damm.map((d) => d.wallMs)), 1), usPerTicket: round((dCpu * 1000) / size, 1), perCoreSecond: Math.round(size / (dCpu / 1000)) },
        bareEd25519: { cpuMs: round(rCpu, 1), wallMs: round(median(raw.map((d) => d.wallMs)), 1), usPerTicket: round((rCpu * 1000) / size, 1), perCoreSecond: Math.round(size / (rCpu / 1000)) },
        dammOverBare: ratio(dCpu, rCpu),
        rounds: { dammCpuMs: damm.map((d) => round(d.cpuMs, 1)), bareCpuMs: raw.map((d) => round(d.cpuMs, 1)) },
      };
      ctx.progress.note(`size ${size}: DAMM's verifier ${row.damm.cpuMs} ms CPU (${row.damm.usPerTicket} µs/ticket, ${row.damm.perCoreSecond}/core-s); bare Ed25519 ${row.bareEd25519.cpuMs} ms (${row.bareEd25519.usPerTicket} µs); ratio ${row.dammOverBare}×`);
      perSize.push(row);
    }
    const rows = perSize as Array<{ size: number; damm: { cpuMs: number; wallMs: number; usPerTicket: number; perCoreSecond: number }; bareEd25519: { cpuMs: number; usPerTicket: number; perCoreSecond: number }; dammOverBare: number | null }>;
    return {
      status: 'ok',
      parameters: { ...P, verifier: 'verifyAdmission (src/core/admission.ts) with nodeEd25519, from JSON text; one thread', baseline: 'node:crypto Ed25519 verify over the same DSSE bytes, key object cached', scope: SCOPE },
      samples: { perSize },
      summary: {
        sizes: perSize,
        headline: [
          'One thread verifies N Ed25519-signed admission tickets (what a stateless gateway would do once per handshake) with the verifier DAMM\'s gateways run, from their JSON text; the baseline is the bare signature check on the same bytes. CPU time of this process (one core).',
          '',
          '| tickets | DAMM verifier: CPU | µs / ticket | tickets / core-second | bare Ed25519: µs / ticket | DAMM ÷ bare |',
          '|---|---|---|---|---|---|',
          ...rows.map((s) => `| ${s.size.toLocaleString('en')} | ${round(s.damm.cpuMs / 1000, 2)} s | ${s.damm.usPerTicket} | ${s.damm.perCoreSecond.toLocaleString('en')} | ${s.bareEd25519.usPerTicket} | ${s.dammOverBare}× |`),
        ],
      },
      targets: {
        perCore: {
          target: 'tickets verified per core-second (reported; no target set)',
          measured: rows.map((s) => `${s.size}: ${s.damm.perCoreSecond}/core-s`).join(', '),
          met: null,
        },
      },
      notes,
    };
  },
};
