/**
 * revoke-to-peer-gone: revocation latency through the feed. From the answer
 * to `POST /v1/operator/devices/{id}/revoke` to wireguard-go acknowledging
 * the set request that removes the peer (seen by the UAPI tap,
 * bench/lib/uapi-tap.ts), one revocation at a time, on a real `damm serve`
 * and `damm gateway run --backend uapi` that already serve a seeded
 * population. Baseline in the same run: enrollment answer → peer live for
 * the very devices later revoked (the same feed path, the other direction).
 * This is the "admission revocation latency" row of docs/alternatives.md:
 * the memo's stateless tickets revoke at ticket expiry (hours) unless every
 * gateway also follows a deny-list, which is a feed like this one.
 */
import http from 'node:http';
import os from 'node:os';
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { api, buildNotes, startControlPlane } from './lib/cp.js';
import { analyze, feedSeederFor, hasFeed, issuePasses, randomPublicKeys, seedUpTo } from './lib/seed.js';
import { postEnroll } from './lib/load.js';
import { gatewayPrereqProblem, giveUpAfter, unavailableOutput, gatewayToken, newKit, startAgent, tappedDaemon } from './lib/gateway.js';
import { distribution, ratio, round } from './lib/stats.js';

export const FULL = { preseed: 1_000, devices: 200, timeoutMs: 30_000 };
export const SMOKE = { preseed: 20, devices: 5, timeoutMs: 15_000 };

export const bench: Benchmark = {
  name: 'revoke-to-peer-gone',
  title: 'Revocation through the feed: revoke answer → peer gone from a real wireguard-go, vs. enrollment answer → peer live',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const problem = gatewayPrereqProblem();
    if (problem) return unavailableOutput(P, problem);
    const notes = buildNotes((m) => ctx.progress.note(m));
    notes.push(`load average at start ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores (shared machine)`);
    const database = await createBenchDatabase();
    const cp = await startControlPlane({ databaseUrl: database.url });
    const kit = await newKit();
    let agent: Awaited<ReturnType<typeof startAgent>> | null = null;
    try {
      if (!(await hasFeed(database.db))) throw new Error('this build has no gateway feed (feed_events): nothing for an agent to follow');
      const td = await tappedDaemon(kit);
      const { gatewayId, token } = await gatewayToken(cp);
      await seedUpTo(database.db, P.preseed, { gatewayId, feed: await feedSeederFor(cp.dataDir), onProgress: (d, n) => ctx.progress.update(`seeding ${d}/${n} devices`) });
      await analyze(database.db);
      const passes = await issuePasses(database.db, P.devices);
      agent = await startAgent({ controlPlane: cp.url, token, ifname: td.daemon.ifname, tapDir: td.tapDir });
      await agent.waitForLog('gateway agent running', 120_000);
      const deadline = Date.now() + 120_000;
      while (td.tap.liveAt.size < P.preseed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

      const url = new URL('/v1/enroll', cp.url);
      const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const keys = randomPublicKeys(P.devices);
      const ids: string[] = [];
      const enrollLive: number[] = [];
      let enrollLost = 0;
      for (let i = 0; i < P.devices; i++) {
        const a = await postEnroll(httpAgent, url, passes[i]!, keys[i]!);
        if (a.status !== 201) throw new Error(`enrollment failed: ${a.status} ${a.error ?? a.text.slice(0, 300)}`);
        ids.push((JSON.parse(a.text) as { deviceId: string }).deviceId);
        const live = await Promise.race([td.tap.whenLive(keys[i]!), giveUpAfter(P.timeoutMs)]);
        if (live === null) enrollLost++;
        else enrollLive.push(live - a.t1);
        ctx.progress.update(`enrolled ${i + 1}/${P.devices}`);
      }
      httpAgent.destroy();
      // One revocation at a time: the next starts once the previous peer is gone.
      const goneAfterAnswer: number[] = [];
      const goneAfterRequest: number[] = [];
      let notGone = 0;
      for (let i = 0; i < P.devices; i++) {
        const t0 = performance.now();
        const r = await api(cp.url, 'POST', `/v1/operator/devices/${ids[i]}/revoke`, { reason: 'bench' }, cp.operatorToken);
        const t1 = performance.now();
        if (r.status !== 200) throw new Error(`revoke failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        const gone = await Promise.race([td.tap.whenRemoved(keys[i]!), giveUpAfter(P.timeoutMs)]);
        if (gone === null) notGone++;
        else {
          goneAfterAnswer.push(gone - t1);
          goneAfterRequest.push(gone - t0);
        }
        ctx.progress.update(`revoked ${i + 1}/${P.devices}`);
      }
      const revoke = distribution(goneAfterAnswer);
      const revokeFromRequest = distribution(goneAfterRequest);
      const enroll = distribution(enrollLive);
      return {
        status: 'ok',
        parameters: { ...P, agent: 'node dist/cli/main.js gateway run --backend uapi', oneAtATime: true },
        samples: { revokeAnswerToGoneMs: goneAfterAnswer.map((x) => round(x, 2)), revokeRequestToGoneMs: goneAfterRequest.map((x) => round(x, 2)), enrollAnswerToLiveMs: enrollLive.map((x) => round(x, 2)) },
        summary: {
          revokeAnswerToGone: revoke,
          revokeRequestToGone: revokeFromRequest,
          enrollAnswerToLive: enroll,
          notGone,
          enrollLost,
          revokeOverEnrollP50: ratio(revoke.p50, enroll.p50),
          headline: [
            `${P.devices} devices on a gateway already serving ${P.preseed.toLocaleString('en')}, one at a time: the revoke answer → wireguard-go acknowledges the peer's removal; baseline: the enrollment answer → the peer live, for the same devices.`,
            '',
            '| path | n | p50 | p90 | p99 | max | not reached |',
            '|---|---|---|---|---|---|---|',
            `| revoke answer → peer gone | ${revoke.n} | ${revoke.p50} ms | ${revoke.p90} ms | ${revoke.p99} ms | ${revoke.max} ms | ${notGone} |`,
            `| revoke request → peer gone | ${revokeFromRequest.n} | ${revokeFromRequest.p50} ms | ${revokeFromRequest.p90} ms | ${revokeFromRequest.p99} ms | ${revokeFromRequest.max} ms | ${notGone} |`,
            `| enroll answer → peer live (baseline) | ${enroll.n} | ${enroll.p50} ms | ${enroll.p90} ms | ${enroll.p99} ms | ${enroll.max} ms | ${enrollLost} |`,
            '',
            `Revocation p50 ÷ enrollment p50: ${ratio(revoke.p50, enroll.p50)}×.`,
          ],
        },
        targets: {
          revocation: {
            target: 'a revoked peer leaves the interface within 1 s (p99)',
            measured: `p99 ${revoke.p99} ms, ${notGone} never removed`,
            met: ctx.smoke ? null : revoke.p99 <= 1000 && notGone === 0,
          },
        },
        notes,
      };
    } finally {
      await agent?.stop().catch(() => {});
      await kit.cleanup().catch((e: Error) => notes.push(`cleanup: ${e.message}`));
      await cp.stop();
      await database.drop();
    }
  },
};
