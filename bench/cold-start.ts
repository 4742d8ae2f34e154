/**
 * cold-start: a fresh agent (empty state directory) on a fresh wireguard-go
 * interface, with 10k and then 100k devices in its scope: time from starting
 * `damm gateway run` until every peer is live (and until the agent reports
 * the snapshot applied), and the agent's peak RSS — against the raw time of
 * applying the very same peers to another fresh wireguard-go through UAPI
 * directly (one set request with every peer, and 5,000-peer requests as the
 * backend sends them; the faster is the floor).
 */
import type { Benchmark, BenchOutput, RunContext } from './lib/result.js';
import { createBenchDatabase } from './lib/pg.js';
import { buildNotes, startControlPlane } from './lib/cp.js';
import { analyze, feedSeederFor, hasFeed, randomPublicKeys, seedUpTo } from './lib/seed.js';
import { gatewayPrereqProblem, unavailableOutput, gatewayToken, newKit, startAgent, tappedDaemon } from './lib/gateway.js';
import { interfacePeers, uapiRequest } from './lib/uapi-tap.js';
import { processMemMB } from './lib/cpu.js';
import { ratio, round } from './lib/stats.js';
import type { NetnsKit } from '../test/helpers/netns.js';

/**
 * 65,000, not 100,000: wireguard-go refuses a peer beyond 65,536 per interface
 * (MaxPeers = 1 << 16; "failed to create new peer: too many peers"), which
 * the probe below demonstrates in every full run.
 */
export const FULL = { sizes: [10_000, 65_000], chunk: 5000, probeCap: true };
export const SMOKE = { sizes: [50, 200], chunk: 64, probeCap: false };

function peerLines(p: { public_key: string; ipv4: string; ipv6: string }): string {
  // Exactly the lines the UAPI backend sends for an upsert (src/gateway/wireguard/uapi.ts encodeUapiUpsert).
  return `public_key=${Buffer.from(p.public_key, 'base64').toString('hex')}\nreplace_allowed_ips=true\npreshared_key=${'0'.repeat(64)}\npersistent_keepalive_interval=0\nallowed_ip=${p.ipv4}/32\nallowed_ip=${p.ipv6}/128\n`;
}

/** Raw UAPI apply of `peers` onto a fresh daemon, in requests of `perRequest`; returns ms and daemon RSS. */
async function rawApply(kit: NetnsKit, peers: Array<{ public_key: string; ipv4: string; ipv6: string }>, perRequest: number, probeCap = false): Promise<{ ms: number; requests: number; daemonRssMB: number | null; onInterface: number; capProbe?: { added: number; answer: string; daemonSays: string } }> {
  const ns = await kit.namespace();
  const d = await kit.startWireguardGo(ns);
  try {
    const bodies: string[] = [];
    for (let i = 0; i < peers.length; i += perRequest) bodies.push(`set=1\n${peers.slice(i, i + perRequest).map(peerLines).join('')}\n`);
    const t0 = performance.now();
    for (const b of bodies) {
      const answer = await uapiRequest(d.socketPath, b);
      if (!/errno=0\n/.test(answer)) throw new Error(`raw UAPI set of ${b.length} bytes failed: ${answer.trim()}; daemon log: ${d.log().slice(-600)}`);
    }
    const ms = performance.now() - t0;
    const onInterface = (await interfacePeers(d.socketPath)).size;
    const daemonRssMB = processMemMB(d.pid)?.rssMB ?? null;
    if (!probeCap) return { ms: round(ms, 1), requests: bodies.length, daemonRssMB, onInterface };
    // Try to go past 65,536 peers on this interface.
    const extra = Array.from({ length: 65_536 - onInterface + 2 }, (_, i) => ({ public_key: randomPublicKeys(1)[0]!, ipv4: `10.127.${(i >> 8) & 255}.${i & 255}`, ipv6: `fd0d:a44d:66::ffff:${i.toString(16)}` }));
    const answer = (await uapiRequest(d.socketPath, `set=1\n${extra.map(peerLines).join('')}\n`)).trim();
    const daemonSays = d.log().split('\n').filter((l) => /too many peers/.test(l)).slice(-1)[0]?.replace(/^.*IPC error/, 'IPC error') ?? '';
    return { ms: round(ms, 1), requests: bodies.length, daemonRssMB, onInterface, capProbe: { added: extra.length, answer, daemonSays } };
  } finally {
    await kit.stopWireguardGo(d);
  }
}

export const bench: Benchmark = {
  name: 'cold-start',
  title: 'Gateway cold start: a fresh agent brings 10k / 65k peers onto a fresh wireguard-go, vs. raw UAPI',
  async run(ctx: RunContext): Promise<BenchOutput> {
    const P = ctx.smoke ? SMOKE : FULL;
    const problem = gatewayPrereqProblem();
    if (problem) return unavailableOutput(P, problem);
    const notes = buildNotes((m) => ctx.progress.note(m));
    const database = await createBenchDatabase();
    const cp = await startControlPlane({ databaseUrl: database.url });
    const kit = await newKit();
    try {
      if (!(await hasFeed(database.db))) throw new Error('this build has no gateway feed (feed_events): nothing for an agent to follow');
      const feed = await feedSeederFor(cp.dataDir);
      const seedGw = await gatewayToken(cp); // a gateway row the seeded devices are placed on (same scope)
      const perSize: Array<Record<string, unknown> & { size: number; agent: { liveMs: number; settledMs: number; rssPeakMB: number; rssAfterMB: number; missing: number; extra: number }; raw: { bestMs: number } }> = [];
      for (const size of P.sizes) {
        await seedUpTo(database.db, size, { gatewayId: seedGw.gatewayId, feed, onProgress: (d, n) => ctx.progress.update(`size ${size}: seeding ${d}/${n}`) });
        await analyze(database.db);
        const peers = (await database.db.query<{ public_key: string; ipv4: string; ipv6: string }>(
          "SELECT public_key, host(ipv4) AS ipv4, host(ipv6) AS ipv6 FROM devices WHERE state = 'active' AND scope = 'region:NL' ORDER BY address_offset",
        )).rows;
        ctx.progress.update(`size ${size}: raw UAPI, one request`, true);
        const rawOne = await rawApply(kit, peers, peers.length);
        ctx.progress.update(`size ${size}: raw UAPI, ${P.chunk}-peer requests`, true);
        const rawChunked = await rawApply(kit, peers, P.chunk, P.probeCap && size === P.sizes[P.sizes.length - 1]);
        if (rawChunked.capProbe) notes.push(`wireguard-go peer cap: adding ${rawChunked.capProbe.added} peers to an interface holding ${rawChunked.onInterface} answered ${rawChunked.capProbe.answer} (${rawChunked.capProbe.daemonSays}); a 100k-peer cold start onto one wireguard-go interface is impossible, so the large size is 65,000`);
        const rawBest = Math.min(rawOne.ms, rawChunked.ms);
        // The agent: fresh state, fresh interface, registers, takes the snapshot, verifies, applies.
        const td = await tappedDaemon(kit);
        const { token } = await gatewayToken(cp);
        let cpPeak = 0;
        const cpSampler = setInterval(() => (cpPeak = Math.max(cpPeak, processMemMB(cp.pid)?.rssMB ?? 0)), 50);
        const want = new Set(peers.map((p) => p.public_key));
        const t0 = performance.now();
        const agent = await startAgent({ controlPlane: cp.url, token, ifname: td.daemon.ifname, tapDir: td.tapDir, sampleEveryMs: 25 });
        let liveAt = NaN;
        let settledAt = NaN;
        try {
          const settled = agent.waitForLog('snapshot applied', 600_000);
          let seen = 0;
          td.tap.onBatch = (keys, t) => {
            for (const k of keys) if (want.has(k)) seen++;
            if (seen >= want.size && Number.isNaN(liveAt)) liveAt = t;
          };
          const progress = setInterval(() => ctx.progress.update(`size ${size}: agent cold start, ${td.tap.liveAt.size}/${size} live, agent RSS ${agent.rss().lastMB} MB`), 500);
          settledAt = await settled;
          clearInterval(progress);
          if (Number.isNaN(liveAt) && [...want].every((k) => td.tap.liveAt.has(k))) liveAt = Math.max(...[...want].map((k) => td.tap.liveAt.get(k)!));
          await new Promise((r) => setTimeout(r, 300));
          const onIf = await interfacePeers(td.daemon.socketPath);
          const missing = [...want].filter((k) => !onIf.has(k)).length;
          const extra = [...onIf].filter((k) => !want.has(k)).length;
          const rss = agent.rss();
          clearInterval(cpSampler);
          // Where the time went, from the tap: the first request (interface configured), the read-back before applying, first and last peer batch.
          const reqs = td.tap.requests;
          const firstSet = reqs.find((q) => q.kind === 'set');
          const firstGet = reqs.find((q) => q.kind === 'get');
          const peerSets = reqs.filter((q) => q.kind === 'set' && q.upserts > 0);
          const timeline = {
            interfaceConfiguredMs: firstSet ? round(firstSet.t - t0, 0) : null,
            readBackBeforeApplyMs: firstGet ? round(firstGet.t - t0, 0) : null,
            firstPeersAckedMs: peerSets[0] ? round(peerSets[0].t - t0, 0) : null,
            lastPeersAckedMs: peerSets.length ? round(peerSets[peerSets.length - 1]!.t - t0, 0) : null,
            peerSetRequests: peerSets.length,
          };
          const phases = agent.logs.filter((l) => ['registered with the control plane (credential stored in the state directory)', 'gateway agent running', 'snapshot applied', 'desired set restored from the state directory'].includes(String(l.msg))).map((l) => ({ msg: l.msg, atMs: round(l.t - t0, 0) }));
          const r = {
            size,
            raw: { oneRequest: rawOne, chunked: { ...rawChunked, perRequest: P.chunk }, bestMs: rawBest },
            agent: { liveMs: round(liveAt - t0, 0), settledMs: round(settledAt - t0, 0), rssPeakMB: rss.peakMB, rssAfterMB: rss.lastMB, missing, extra, setRequests: td.tap.setRequests, getRequests: td.tap.getRequests, timeline, logPhases: phases },
            controlPlaneRssPeakMB: cpPeak,
            agentOverRaw: ratio(liveAt - t0, rawBest),
          };
          ctx.progress.note(`size ${size}: raw UAPI ${rawBest} ms (one request ${rawOne.ms} ms, ${P.chunk}-peer requests ${rawChunked.ms} ms); agent: all live after ${r.agent.liveMs} ms, settled ${r.agent.settledMs} ms (${r.agentOverRaw}× raw), agent RSS peak ${rss.peakMB} MB, control plane RSS peak ${cpPeak} MB; missing ${missing}, extra ${extra}`);
          perSize.push(r);
        } finally {
          clearInterval(cpSampler);
          await agent.stop().catch(() => {});
          await td.close().catch(() => {});
        }
      }
      const last = perSize[perSize.length - 1]!;
      const lastAgent = last.agent;
      return {
        status: 'ok',
        parameters: { ...P, agent: 'node dist/cli/main.js gateway run --backend uapi, empty state directory, fresh interface', raw: 'the same peer lines the UAPI backend sends, written straight to the daemon socket' },
        samples: { perSize: perSize.map((s) => ({ size: s.size, agentLiveMs: s.agent.liveMs, agentSettledMs: s.agent.settledMs, rawBestMs: s.raw.bestMs })) },
        summary: {
          sizes: perSize,
          headline: [
            'Fresh agent + fresh wireguard-go; the scope holds N devices with signed admission records. The agent registers, fetches the snapshot, verifies every record, applies, persists. Raw: the same peer lines written straight to another fresh daemon.',
            '',
            '| peers | raw UAPI (best) | agent: all peers live | agent: snapshot applied | agent ÷ raw | agent RSS peak | control-plane RSS peak | missing / extra |',
            '|---|---|---|---|---|---|---|---|',
            ...perSize.map((s) => {
              const a = s.agent;
              return `| ${s.size.toLocaleString('en')} | ${round(s.raw.bestMs / 1000, 2)} s | ${round(a.liveMs / 1000, 2)} s | ${round(a.settledMs / 1000, 2)} s | ${s['agentOverRaw']}× | ${a.rssPeakMB} MB | ${s['controlPlaneRssPeakMB']} MB | ${a.missing} / ${a.extra} |`;
            }),
          ],
        },
        targets: {
          coldStart: {
            target: `cold start of ${last.size.toLocaleString('en')} peers within 1.2× the raw UAPI apply time`,
            measured: `agent ${round(lastAgent.liveMs / 1000, 2)} s vs raw ${round(last.raw.bestMs / 1000, 2)} s = ${last['agentOverRaw']}× (missing ${lastAgent.missing}, extra ${lastAgent.extra})`,
            met: ctx.smoke || last['agentOverRaw'] === null ? null : (last['agentOverRaw'] as number) <= 1.2 && lastAgent.missing === 0 && lastAgent.extra === 0,
          },
          agentRss: {
            target: `agent RSS at ${last.size.toLocaleString('en')} peers (reported; no target set)`,
            measured: `peak ${lastAgent.rssPeakMB} MB`,
            met: null,
          },
        },
        notes,
      };
    } finally {
      await kit.cleanup().catch((e: Error) => notes.push(`cleanup: ${e.message}`));
      await cp.stop();
      await database.drop();
    }
  },
};
