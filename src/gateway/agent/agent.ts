/**
 * The gateway agent: registers once, keeps its WireGuard key to itself,
 * follows the change feed, verifies every admission record before the peer
 * touches the interface, applies changes in batches, repairs drift by a
 * periodic full comparison, reports byte counters, and removes peers whose
 * record expired or was revoked, on its own clock.
 *
 * It keeps serving its current peers when the control plane is unreachable:
 * the desired set and the feed cursor live in the state directory, so even a
 * restart while the control plane is down converges to the last known set.
 *
 * Every change to the desired set and the interface runs through one serial
 * queue, so the feed, expiry, drift repair and metering never interleave.
 *
 * Lanes (core/doors.ts): the gateway runs one WireGuard-family interface per
 * lane, each with its own key, listen port and tunnel prefixes (lane k =
 * the pools shifted by k blocks, core/ipam.ts lanePools). The desired set is
 * one (verified records, lane 0 addresses); every lane holds every peer, its
 * addresses mapped to the same offset in that lane's prefixes. Revocation,
 * expiry, quotas and drift repair therefore act on every lane; a device's
 * bytes are summed over its lanes into one heartbeat, which also reports
 * each lane's health. The doors are stated to the control plane at every
 * start, so a lane added later reaches the catalog.
 *
 * Trust: with a root pin (./trust.ts) records are verified against the
 * admission keys of the latest verified root, valid at that instant, so a
 * rotated or revoked admission key needs no re-registration. Without one the
 * agent falls back to the admission keys it received at registration, and
 * says so at start.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { DammError, isDammError } from '../../core/errors.js';
import { gatewayAddresses, lanePools, mapToLane, parsePools, type ParsedPools } from '../../core/ipam.js';
import type { AwgParams, GatewayLaneDoor } from '../../core/api-schemas.js';
import type { DoorProtocol } from '../../core/doors.js';
import type { TransportTier } from '../../core/tiers.js';
import { trustedKeysFrom, type GatewayTrust } from '../../core/admission.js';
import type { Ed25519 } from '../../core/ed25519.js';
import type { Clock } from '../../core/clock.js';
import type { PeerChanges, PeerSpec, WireGuardBackend } from '../wireguard/backend.js';
import { interfaceDrift } from '../wireguard/drift.js';
import { awgTunnelMtu } from '../../core/amneziawg.js';
import PQueue from 'p-queue';
import { Unreachable, type ControlPlaneApi } from './api.js';
import { DesiredSet, deltaSize, emptyDelta, type PeerDelta, type RawEvent, type Refusal } from './desired.js';
import { Meter, sumOverLanes, type MeterReport } from './meter.js';
import { StateDir, type GatewayRegistration } from './state.js';
import { withPrefix, type HostOps, type PortRedirectOps } from './host.js';
import { PinnedTrust, TRUST_SUBDIR, type RootPin } from './trust.js';
import { Backoff, DEFAULT_FEED_BACKOFF, ReachableSignal, type BackoffSettings } from './retry-wait.js';
import { MAX_HEARTBEAT_PEERS } from '../../core/feed-api.js';
import { startStunResponder, type StunResponder } from './stun-responder.js';
import type { AgentMetrics } from './metrics.js';

/** A lane beyond lane 0 (which is the agent's own interfaceName/listenPort/backend). */
export interface LaneOptions {
  /** 1..3 */
  lane: number;
  protocol: DoorProtocol;
  tier: TransportTier;
  interfaceName: string;
  listenPort: number;
  /** The UDP port clients dial on the endpoint's host (default: listenPort). */
  endpointPort?: number;
  backend: WireGuardBackend;
  /**
   * For a protocol with public parameters (AmneziaWG): draws a fresh set on
   * first start (then persisted in the state directory), and `checkParams`
   * validates the persisted one at every start.
   */
  makeParams?: () => AwgParams;
  checkParams?: (v: unknown) => AwgParams;
}

/** One running lane: its interface, key, prefixes and meter. */
interface Lane {
  lane: number;
  protocol: DoorProtocol;
  tier: TransportTier;
  interfaceName: string;
  listenPort: number;
  ports: number[];
  backend: WireGuardBackend;
  keys: { privateKey: string; publicKey: string };
  params: AwgParams | null;
  pools: ParsedPools;
  tunnel: { ipv4Cidr: string; ipv6Prefix: string; gatewayIpv4: string; gatewayIpv6: string };
  meter: Meter;
}

type LaneKeys = Map<number, { keys: { privateKey: string; publicKey: string }; params: AwgParams | null }>;

export interface AgentOptions {
  controlPlane: string;
  /** One-time registration token; needed only on the first start. */
  token?: string;
  interfaceName: string;
  listenPort: number;
  /** The public endpoint clients dial (registered as the T0 front door). */
  endpoint: { host: string; port: number };
  /**
   * More UDP ports the same interface answers on: each is registered as one
   * more T0 door on the endpoint's host, and steered to the listen port by
   * `portRedirects` (nftables) from start to stop.
   */
  altPorts?: readonly number[];
  /** Required when altPorts is not empty. */
  portRedirects?: PortRedirectOps;
  egressIps: string[];
  stateDir: string;
  backend: WireGuardBackend;
  /** More lanes (WireGuard-family interfaces), each its own doors; lane 0 is the fields above. */
  lanes?: readonly LaneOptions[];
  api: ControlPlaneApi & { gatewayId: string | null; credential: string | null };
  /** null: addresses, link and NAT are the unit's job. */
  host: HostOps | null;
  nat: boolean;
  egressInterface?: string;
  clock: Clock;
  log: Logger;
  ed?: Ed25519;
  reconcileIntervalMs?: number;
  heartbeatIntervalMs?: number;
  expiryCheckMs?: number;
  pollWaitSeconds?: number;
  /** Pin the offline root (docs/trust.md); without one, the registration-time admission keys are trusted. */
  rootPin?: RootPin;
  /** With a pin: walk the root chain this often (default 60 s). */
  rootUpdateMs?: number;
  /** The feed's retry waits (default 500 ms doubling to 5 s, jittered; docs/gateway.md). */
  feedBackoff?: Partial<BackoffSettings>;
  /**
   * Answer the wizard's reachability probes: a STUN responder on this local
   * port, and nftables rules (portRedirects) steering STUN Binding requests
   * on every UDP door port of every lane to it (core/stun.ts).
   */
  probePort?: number;
  /** Where the agent counts what it does (metrics.ts); served by the caller. */
  metrics?: AgentMetrics;
}

export class GatewayAgent {
  private readonly o: Required<Pick<AgentOptions, 'reconcileIntervalMs' | 'heartbeatIntervalMs' | 'expiryCheckMs' | 'pollWaitSeconds' | 'rootUpdateMs'>> & AgentOptions;
  private pinned: PinnedTrust | null = null;
  private readonly state: StateDir;
  private readonly queue = new PQueue({ concurrency: 1 });
  private desired!: DesiredSet;
  private reg!: GatewayRegistration;
  private keys!: { privateKey: string; publicKey: string };
  private lanes: Lane[] = [];
  /** The doors were stated to the control plane since this start (PUT doors); retried with the heartbeat until they are. */
  private doorsStated = false;
  private seq = 0;
  private inflight: { seq: number; peers: MeterReport[]; byLane: Map<number, MeterReport[]> } | null = null;
  private cursor: number | null = null;
  private running = false;
  private readonly abort = new AbortController();
  private timers: NodeJS.Timeout[] = [];
  private feedLoopDone: Promise<void> | null = null;
  private unreachableSince: number | null = null;
  private probe: StunResponder | null = null;
  /** Another call (a heartbeat) got through: ends the feed loop's retry wait at once. */
  private readonly reachable = new ReachableSignal();

  constructor(opts: AgentOptions) {
    this.o = { reconcileIntervalMs: 30_000, heartbeatIntervalMs: 30_000, expiryCheckMs: 1000, pollWaitSeconds: 25, rootUpdateMs: 60_000, ...opts };
    this.state = new StateDir(opts.stateDir);
  }

  get gatewayId(): string {
    return this.reg.gatewayId;
  }

  get publicKey(): string {
    return this.keys.publicKey;
  }

  /** Each lane's interface, listen port and public key (lane 0 first). */
  get laneInfo(): { lane: number; protocol: DoorProtocol; interfaceName: string; listenPort: number; publicKey: string; params: AwgParams | null }[] {
    return this.lanes.map((l) => ({ lane: l.lane, protocol: l.protocol, interfaceName: l.interfaceName, listenPort: l.listenPort, publicKey: l.keys.publicKey, params: l.params }));
  }

  /** The version of the verified root in force, or null when the agent runs without a pin. */
  get rootVersion(): number | null {
    return this.pinned?.root.version ?? null;
  }

  get revision(): number | null {
    return this.cursor;
  }

  /** Registers (first start), sets up the interface, converges to the persisted desired set, then follows the feed. */
  async start(): Promise<void> {
    const { log } = this.o;
    await this.state.init();
    const key = await this.state.privateKey();
    this.keys = key;
    if (key.created) log.info({ publicKey: key.publicKey }, 'generated the gateway WireGuard key (private key stays in the state directory)');
    // Trust before registration: a wrong pin must not spend the one-time token.
    try {
      this.pinned = await this.openTrust();
    } catch (err) {
      this.o.api.close?.(); // not starting: let go of the control plane's connections
      throw err;
    }
    const laneKeys = await this.laneKeysAndParams();
    const existing = await this.state.loadRegistration();
    this.reg = existing ?? (await this.register(laneKeys));
    this.o.api.gatewayId = this.reg.gatewayId;
    this.o.api.credential = this.reg.credential;
    this.lanes = this.buildLanes(laneKeys);
    // A fresh registration carried these doors; a restart states them again (doors added or changed since reach the catalog).
    this.doorsStated = !existing;
    if (existing) await this.stateDoors(true);
    this.desired = new DesiredSet(this.trustFor(), this.o.ed);
    await this.setUpInterfaces();
    await this.steerAltPorts();
    await this.loadPersisted();
    const m = await this.state.loadMeter();
    this.seq = m.seq;
    for (const l of this.lanes) l.meter = Meter.fromJSON(l.lane === 0 ? m.counters : m.lanes[String(l.lane)]);
    await this.queue.add(() => this.repair('start'));
    this.running = true;
    this.feedLoopDone = this.feedLoop();
    this.every(this.o.expiryCheckMs, () => this.expireDue());
    this.every(this.o.reconcileIntervalMs, () => this.queue.add(() => this.repair('periodic')));
    this.every(this.o.heartbeatIntervalMs, () => this.sendHeartbeat());
    if (this.pinned) {
      const pinned = this.pinned;
      this.every(this.o.rootUpdateMs, async () => {
        if (!(await pinned.update('periodic'))) return;
        await this.queue.add(async () => {
          const delta = emptyDelta();
          this.recheckHeld(delta);
          if (deltaSize(delta) > 0) await this.applyDelta(delta, 'root update');
        });
      });
    }
    void this.sendHeartbeat().catch((err) => log.warn({ err: errText(err) }, 'first heartbeat failed'));
    log.info(
      {
        gatewayId: this.reg.gatewayId,
        scope: this.reg.scope,
        interface: this.o.interfaceName,
        backend: this.o.backend.name,
        lanes: this.lanes.map((l) => ({ lane: l.lane, protocol: l.protocol, interface: l.interfaceName, listenPort: l.listenPort, ipv4Cidr: l.tunnel.ipv4Cidr })),
        peers: this.desired.size,
        revision: this.cursor,
      },
      'gateway agent running',
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    for (const t of this.timers) clearInterval(t);
    await this.feedLoopDone?.catch(() => {});
    this.o.api.close?.();
    await this.queue.onIdle();
    if (this.steering) await this.o.portRedirects!.removeRedirects(this.o.interfaceName).catch((err) => this.o.log.warn({ err: errText(err) }, 'removing the port rules failed'));
    await this.probe?.close();
    for (const l of this.lanes) await l.backend.close();
  }

  private get altPorts(): readonly number[] {
    return this.o.altPorts ?? [];
  }

  private get steering(): boolean {
    return this.altPorts.length > 0 || this.o.probePort !== undefined;
  }

  /**
   * Alternate ports reach the listen port, and probes on any door port reach
   * the STUN responder, through nftables rules of the agent's own (replaced,
   * not added to, on every start).
   */
  private async steerAltPorts(): Promise<void> {
    if (!this.steering) return;
    if (!this.o.portRedirects) throw new DammError('config_invalid', 'Alternate ports and probes need the nftables port redirects; none were given to the agent.');
    let probe: { port: number; doorPorts: number[] } | undefined;
    if (this.o.probePort !== undefined) {
      this.probe = await startStunResponder({ port: this.o.probePort });
      probe = { port: this.probe.port, doorPorts: [...new Set(this.lanes.flatMap((l) => [l.listenPort, ...(l.lane === 0 ? this.altPorts : [])]))] };
    }
    await this.o.portRedirects.installRedirects(this.o.interfaceName, this.o.listenPort, this.altPorts, probe);
  }

  private every(ms: number, fn: () => Promise<unknown>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || !this.running) return;
      busy = true;
      void fn()
        .catch((err) => this.o.log.warn({ err: errText(err) }, 'background task failed'))
        .finally(() => (busy = false));
    }, ms);
    this.timers.push(t);
  }

  private async openTrust(): Promise<PinnedTrust | null> {
    const { api, log } = this.o;
    const pinned = await PinnedTrust.open({
      dir: path.join(this.o.stateDir, TRUST_SUBDIR),
      pin: this.o.rootPin ?? {},
      fetchRoot: (n) => {
        if (!api.fetchRoot) throw new DammError('config_invalid', 'This control-plane client cannot fetch roots.');
        return api.fetchRoot(n);
      },
      clock: this.o.clock,
      log,
    });
    if (pinned) {
      const keys = pinned.admissionAt(this.o.clock.now()).trustedKeys;
      log.info({ rootVersion: pinned.root.version, rootV1Sha256: pinned.pin, admissionKeys: keys.map((k) => k.keyid.slice(0, 16)) }, 'trusting the pinned root: admission keys come from the verified root chain');
      if (keys.length === 0) log.error({ rootVersion: pinned.root.version }, 'the trusted root certifies no admission key valid now: every record will be refused until a root that does is published');
    } else {
      log.warn(
        'NO ROOT PIN: trusting only the admission keys received at registration. A rotated or revoked admission key will then need this gateway ' +
          're-registered. Production gateways should pin the offline root: --root-sha256 <sha256 of root v1> (env DAMM_ROOT_SHA256) or --root-file (docs/gateway.md).',
      );
    }
    return pinned;
  }

  /** What DesiredSet verifies with: the pinned root's admission keys valid at that instant, or the fixed registration keys. */
  private trustFor(): GatewayTrust | ((now: Date) => GatewayTrust) {
    const base = {
      scope: this.reg.scope,
      pools: parsePools({ ipv4Cidr: this.reg.tunnel.ipv4Cidr, ipv6Prefix: this.reg.tunnel.ipv6Prefix }),
    };
    const pinned = this.pinned;
    if (pinned) return (now: Date) => ({ ...base, ...pinned.admissionAt(now) });
    const trust: GatewayTrust = { ...base, trustedKeys: trustedKeysFrom(this.reg.admissionKeys) };
    if (trust.trustedKeys.length === 0) throw new DammError('config_invalid', 'The registration holds no usable admission key; refusing to admit anyone.');
    return trust;
  }

  /**
   * Applies one event; a pinned agent that sees a signature refusal walks the
   * root chain once (per batch) and tries again before dropping the record:
   * the key may have been rotated a moment ago.
   */
  private async applyEvent(ev: RawEvent, now: Date, delta: PeerDelta, batch: { rootChecked: boolean }): Promise<Refusal | null> {
    const refusal = this.desired.apply(ev, now, delta);
    if (refusal?.reason !== 'bad_signature' || !this.pinned || batch.rootChecked) return refusal;
    batch.rootChecked = true;
    if (!(await this.pinned.update('signature refused'))) return refusal;
    this.recheckHeld(delta);
    return this.desired.apply(ev, now, delta);
  }

  /** After the root changed (inside the queue): held records whose signers the new root no longer certifies leave. */
  private recheckHeld(delta: PeerDelta): void {
    const gone = this.desired.recheck(this.o.clock.now(), delta);
    if (gone.length > 0) {
      this.o.log.warn({ count: gone.length, devices: gone.slice(0, 10).map((g) => ({ deviceId: g.peer.deviceId, reason: g.reason })) }, 'held admission records no longer verify under the new root; removing their peers until re-issued');
    }
  }

  /** Every lane's key pair (made here on first start, never sent) and public parameters (drawn once, then persisted). */
  private async laneKeysAndParams(): Promise<LaneKeys> {
    const out: LaneKeys = new Map();
    out.set(0, { keys: this.keys, params: null });
    for (const l of this.o.lanes ?? []) {
      if (out.has(l.lane) || l.lane < 1) throw new DammError('config_invalid', `Lane ${l.lane} is given twice or is lane 0 (the agent's own interface).`);
      const key = await this.state.privateKey(l.lane);
      if (key.created) this.o.log.info({ lane: l.lane, publicKey: key.publicKey }, "generated the lane's own key pair (private key stays in the state directory)");
      let params: AwgParams | null = null;
      if (l.protocol !== 'wireguard') {
        if (!l.makeParams || !l.checkParams) throw new DammError('config_invalid', `Lane ${l.lane} speaks ${l.protocol} and needs its parameter generator.`);
        const p = await this.state.laneParams(l.lane, l.makeParams, l.checkParams);
        if (p.created) this.o.log.info({ lane: l.lane }, "drew the lane's door parameters (persisted in the state directory)");
        params = p.params;
      }
      out.set(l.lane, { keys: { privateKey: key.privateKey, publicKey: key.publicKey }, params });
    }
    return out;
  }

  /** Lane runtimes from the options and the registration's lane-0 prefixes. */
  private buildLanes(laneKeys: LaneKeys): Lane[] {
    const base = { ipv4Cidr: this.reg.tunnel.ipv4Cidr, ipv6Prefix: this.reg.tunnel.ipv6Prefix };
    const make = (lane: number, o: Omit<Lane, 'lane' | 'keys' | 'params' | 'pools' | 'tunnel' | 'meter'>): Lane => {
      const prefixes = lanePools(base, lane);
      const pools = parsePools(prefixes);
      const gw = gatewayAddresses(pools);
      const k = laneKeys.get(lane)!;
      return { lane, ...o, keys: k.keys, params: k.params, pools, tunnel: { ...prefixes, gatewayIpv4: gw.ipv4, gatewayIpv6: gw.ipv6 }, meter: new Meter() };
    };
    const lanes = [
      make(0, {
        protocol: 'wireguard',
        tier: 'T0',
        interfaceName: this.o.interfaceName,
        listenPort: this.o.listenPort,
        ports: [this.o.endpoint.port, ...this.altPorts],
        backend: this.o.backend,
      }),
    ];
    for (const l of [...(this.o.lanes ?? [])].sort((a, b) => a.lane - b.lane)) {
      lanes.push(make(l.lane, { protocol: l.protocol, tier: l.tier, interfaceName: l.interfaceName, listenPort: l.listenPort, ports: [l.endpointPort ?? l.listenPort], backend: l.backend }));
    }
    return lanes;
  }

  /** The doors as the control plane registers them (core/lane-doors.ts): lane 0 on the endpoint port and the alternates, each other lane on its port. */
  private doors(laneKeys: LaneKeys): GatewayLaneDoor[] {
    const host = this.o.endpoint.host;
    const lane0Ports = [this.o.endpoint.port, ...this.altPorts];
    const others = [...(this.o.lanes ?? [])].sort((a, b) => a.lane - b.lane);
    return [
      { lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: laneKeys.get(0)!.keys.publicKey, params: null, endpoints: lane0Ports.map((port) => ({ host, port })) },
      ...others.map((l) => ({
        lane: l.lane,
        protocol: l.protocol,
        tier: l.tier,
        publicKey: laneKeys.get(l.lane)!.keys.publicKey,
        params: laneKeys.get(l.lane)!.params,
        endpoints: [{ host, port: l.endpointPort ?? l.listenPort }],
      })),
    ];
  }

  private async register(laneKeys: LaneKeys): Promise<GatewayRegistration> {
    const { token, egressIps, log } = this.o;
    if (!token) throw new DammError('invalid_argument', 'This gateway is not registered yet: pass its one-time token (--token or DAMM_GATEWAY_TOKEN).');
    const r = await this.o.api.register({ registrationToken: token, doors: this.doors(laneKeys), egressIps });
    const reg: GatewayRegistration = {
      controlPlane: this.o.controlPlane,
      gatewayId: r.gatewayId,
      credential: r.credential,
      scope: r.scope,
      tunnel: r.tunnel,
      admissionKeys: r.admissionKeys,
      registeredAt: this.o.clock.now().toISOString(),
    };
    await this.state.saveRegistration(reg);
    log.info({ gatewayId: r.gatewayId, scope: r.scope, lanes: r.lanes.map((l) => l.lane) }, 'registered with the control plane (credential stored in the state directory)');
    return reg;
  }

  /**
   * States the doors to the control plane (PUT doors). A refusal stops the
   * start (the operator must fix the doors); an unreachable control plane does
   * not: the agent serves its peers and the heartbeat tries again.
   */
  private async stateDoors(atStart: boolean): Promise<void> {
    const laneKeys: LaneKeys = new Map(this.lanes.map((l) => [l.lane, { keys: l.keys, params: l.params }]));
    try {
      const r = await this.o.api.updateDoors({ doors: this.doors(laneKeys) });
      this.doorsStated = true;
      if (r.changed) this.o.log.info({ lanes: r.lanes.map((l) => l.lane) }, 'doors changed since the last start; the control plane lists them in its next catalog');
    } catch (err) {
      if (!(err instanceof Unreachable)) {
        if (atStart) this.o.api.close?.(); // not starting: let go of the control plane's connections
        throw err;
      }
      this.o.log.warn({ err: err.message }, 'control plane unreachable; stating the doors again with the next heartbeat');
    }
  }

  /** Lane 0's peer specs as lane `l` holds them: the same keys, addresses at the same offsets in its prefixes. */
  private forLane(l: Lane, peers: readonly PeerSpec[]): PeerSpec[] {
    if (l.lane === 0) return [...peers];
    const lane0 = this.lanes[0]!.pools;
    return peers.map((p) => ({ ...p, allowedIps: mapToLane(lane0, l.pools, p.allowedIps) }));
  }

  private async setUpInterfaces(): Promise<void> {
    for (const l of this.lanes) await this.setUpLane(l);
  }

  private async setUpLane(l: Lane): Promise<void> {
    await l.backend.configureInterface({ privateKey: l.keys.privateKey, listenPort: l.listenPort, ...(l.params ? { awg: l.params } : {}) });
    if (this.o.host) {
      const t = l.tunnel;
      // An AmneziaWG interface's tunnel MTU is WireGuard's less the S4 padding every data packet carries (clients use the same).
      const mtu = l.params ? awgTunnelMtu(l.params) : undefined;
      await this.o.host.configureAddresses(l.interfaceName, withPrefix(t.gatewayIpv4, t.ipv4Cidr), withPrefix(t.gatewayIpv6, t.ipv6Prefix), mtu);
      if (this.o.nat) await this.o.host.enableNat(l.interfaceName, t, this.o.egressInterface);
    }
  }

  /** Rebuilds the desired set from the state directory, re-verifying every record with today's clock. */
  private async loadPersisted(): Promise<void> {
    const { base, journal } = await this.state.loadFeed();
    const now = this.o.clock.now();
    const delta = emptyDelta();
    this.desired.restoreTombstones(base.tombstones);
    let refused = 0;
    for (const ev of base.records) if (this.desired.apply(ev, now, delta)) refused++;
    this.cursor = base.revision;
    for (const line of journal) {
      for (const ev of line.events) if (this.desired.apply(ev, now, delta)) refused++;
      this.cursor = line.revision;
    }
    this.o.log.info({ peers: this.desired.size, revision: this.cursor, dropped: refused }, 'desired set restored from the state directory');
  }

  private async persistSnapshot(): Promise<void> {
    await this.state.saveSnapshot({
      revision: this.cursor,
      records: this.desired.records().map((p) => ({ deviceId: p.deviceId, kind: 'upsert' as const, envelope: p.envelope })),
      tombstones: this.desired.tombstoneList(),
    });
  }

  private async feedLoop(): Promise<void> {
    const backoff = new Backoff({ ...DEFAULT_FEED_BACKOFF, ...this.o.feedBackoff });
    while (this.running) {
      const since = this.reachable.seen;
      try {
        if (this.cursor === null) {
          await this.takeSnapshot();
        } else {
          const r = await this.o.api.feed(this.cursor, this.o.pollWaitSeconds, this.abort.signal);
          await this.queue.add(() => this.applyBatch(r.events, r.revision));
        }
        if (this.unreachableSince !== null) {
          this.o.log.info({ downSeconds: Math.round((Date.now() - this.unreachableSince) / 1000) }, 'control plane reachable again; catching up');
          this.unreachableSince = null;
        }
        this.o.metrics?.controlPlaneUp.set(1);
        this.o.metrics?.feedAnsweredAt.set(Date.now() / 1000);
        if (this.cursor !== null) this.o.metrics?.feedRevision.set(this.cursor);
        backoff.reset();
      } catch (err) {
        if (!this.running) break;
        if (isDammError(err) && err.code === 'cursor_expired') {
          this.o.log.warn({ revision: this.cursor }, 'feed cursor expired; taking a full snapshot');
          this.cursor = null;
          continue;
        }
        if (err instanceof Unreachable) {
          this.o.metrics?.controlPlaneUp.set(0);
          if (this.unreachableSince === null) {
            this.unreachableSince = Date.now();
            this.o.log.warn({ err: err.message }, 'control plane unreachable; serving the current peers and retrying');
          }
        } else {
          this.o.log.error({ err: errText(err) }, 'feed request failed');
        }
        await this.reachable.wait(backoff.next(), this.abort.signal, since);
      }
    }
  }

  /**
   * Takes the scope's full record set as a stream and verifies it batch by
   * batch into a set of its own. Each verified batch goes onto the interface
   * while the next one is read and verified (one backend request at a time),
   * so a cold start costs about max(verify, apply), not their sum. The set in
   * force, the cursor and the state directory change only after the stream
   * ended with a trailer that adds up; then the peers of the old set the
   * snapshot no longer holds are removed, and the result is persisted once.
   * A stream cut off (or inconsistent) throws: the interface is repaired back
   * to the set in force (verified peers added early leave again), nothing is
   * taken, and the feed loop retries. Runs in the queue, so no repair or
   * expiry sees the interface between the two sets.
   */
  private async takeSnapshot(): Promise<void> {
    const snap = await this.o.api.snapshot(this.abort.signal);
    await this.queue.add(async () => {
      const next = new DesiredSet(this.trustFor(), this.o.ed);
      next.restoreTombstones(this.desired.tombstoneList());
      const now = this.o.clock.now();
      let rootChecked = false;
      let received = 0;
      let applying: Promise<void> = Promise.resolve();
      let applyFailed = false;
      // Every lane holds every peer (at its own offset): each batch goes to every lane's daemon, side by side.
      const apply = async (delta: PeerDelta): Promise<void> => {
        const upsert = [...delta.upsert.values()];
        const remove = [...delta.remove];
        await Promise.all(this.lanes.map((l) =>
          l.backend.applyPeers({ upsert: this.forLane(l, upsert), remove }).then(
            () => {},
            (err: unknown) => {
              // The full comparison after the swap puts right whatever did not take.
              applyFailed = true;
              this.o.log.error({ err: errText(err), lane: l.lane, details: isDammError(err) ? err.details : undefined }, 'applying snapshot peers failed; will repair');
            },
          )));
      };
      try {
        for await (const batch of snap.batches) {
          const delta = emptyDelta();
          for (const rec of batch) {
            const ev: RawEvent = { deviceId: rec.deviceId, kind: 'upsert', envelope: rec.envelope };
            let refusal = next.apply(ev, now, delta);
            // A signature refused under a pin: the admission key may have been rotated a moment ago; walk the root chain once.
            if (refusal?.reason === 'bad_signature' && this.pinned && !rootChecked) {
              rootChecked = true;
              if (await this.pinned.update('signature refused')) refusal = next.apply(ev, now, delta);
            }
            this.logRefusal(refusal, rec.revision);
          }
          received += batch.length;
          await applying;
          if (deltaSize(delta) > 0) applying = apply(delta);
        }
        await applying;
      } catch (err) {
        await applying;
        // Refused whole: the interface goes back to exactly the set in force.
        await this.repair('snapshot refused').catch((e: unknown) => this.o.log.error({ err: errText(e) }, 'repair after a refused snapshot failed'));
        throw err;
      }
      const gone = this.desired.records().filter((p) => !next.holdsKey(p.publicKey)).map((p) => p.publicKey);
      if (gone.length > 0) await apply({ upsert: new Map(), remove: new Set(gone) });
      this.desired = next;
      this.cursor = snap.revision;
      if (applyFailed) await this.repair('snapshot');
      await this.persistSnapshot();
      this.o.log.info({ peers: this.desired.size, records: received, removed: gone.length, revision: snap.revision }, 'snapshot applied');
    });
  }

  private logRefusal(refusal: Refusal | null, revision: number): void {
    if (!refusal) return;
    this.o.log.warn({ ...refusal, revision }, 'admission record refused; not applied');
    this.o.metrics?.refusals.inc({ reason: refusal.reason });
  }

  private async applyBatch(events: { revision: number; deviceId: string; kind: 'upsert' | 'remove'; envelope: unknown }[], revision: number): Promise<void> {
    if (events.length === 0) {
      this.cursor = revision;
      return;
    }
    const now = this.o.clock.now();
    const delta = emptyDelta();
    const batch = { rootChecked: false };
    for (const ev of events) this.logRefusal(await this.applyEvent(ev, now, delta, batch), ev.revision);
    if (deltaSize(delta) > 0) await this.applyDelta(delta, 'feed');
    const raw: RawEvent[] = events.map((e) => ({ deviceId: e.deviceId, kind: e.kind, envelope: e.envelope }));
    this.cursor = revision;
    await this.state.appendJournal({ revision, events: raw });
    if (this.state.journalIsLarge()) await this.persistSnapshot();
  }

  /** The same change on every lane; one lane failing does not keep it from the others. */
  private async applyDelta(delta: PeerDelta, why: string): Promise<void> {
    // The lanes are separate daemons: one batch goes to all of them side by side, so a second
    // lane adds no serial UAPI round trip to enroll -> live (bench/enroll-to-peer-live, two lanes).
    const results = await Promise.all(this.lanes.map(async (l) => {
      try {
        const changes: PeerChanges = { upsert: this.forLane(l, [...delta.upsert.values()]), remove: [...delta.remove] };
        const started = performance.now();
        const r = await l.backend.applyPeers(changes);
        this.o.metrics?.applySeconds.observe({ lane: String(l.lane) }, (performance.now() - started) / 1000);
        this.o.metrics?.peers.set({ lane: String(l.lane), protocol: l.protocol }, this.desired.size);
        this.o.log.debug({ why, lane: l.lane, upserted: r.upserted, removed: r.removed }, 'peers applied');
        return true;
      } catch (err) {
        // The desired set still holds the truth; the next repair retries what did not take.
        this.o.log.error({ err: errText(err), lane: l.lane, details: isDammError(err) ? err.details : undefined }, 'applying peers failed; will repair');
        return false;
      }
    }));
    if (results.includes(false)) setTimeout(() => void this.queue.add(() => this.repair('after-error')).catch(() => {}), 1000).unref();
  }

  /** Full comparison of every lane's interface with the desired set; fixes whatever differs (also a restarted daemon). */
  private async repair(why: string): Promise<void> {
    const peers = this.desired.peers();
    let firstError: unknown = null;
    for (const l of this.lanes) {
      try {
        const st = await l.backend.listPeers();
        const drift = interfaceDrift(st, { publicKey: l.keys.publicKey, listenPort: l.listenPort, ...(l.params ? { awg: l.params } : {}) });
        if (drift.length > 0) {
          this.o.log.warn({ why, lane: l.lane, interface: l.interfaceName, drift }, 'interface lost its key, port or parameters (daemon restarted?); configuring it again');
          await this.setUpLane(l);
        }
        const r = await l.backend.replacePeers(this.forLane(l, peers));
        if (why !== 'start' && why !== 'snapshot' && (r.upserted > 0 || r.removed > 0)) {
          this.o.log.warn({ why, lane: l.lane, upserted: r.upserted, removed: r.removed }, 'drift repaired: the interface differed from the desired set');
        }
      } catch (err) {
        // One broken lane must not keep the others from being repaired.
        this.o.log.error({ why, lane: l.lane, err: errText(err) }, 'repairing the lane failed');
        firstError ??= err;
      }
    }
    if (firstError) throw firstError;
  }

  private async expireDue(): Promise<void> {
    const next = this.desired.nextExpiry();
    if (next === null || next > this.o.clock.now().getTime()) return;
    await this.queue.add(async () => {
      const delta = emptyDelta();
      const gone = this.desired.expire(this.o.clock.now(), delta);
      if (gone.length === 0) return;
      this.o.log.warn({ count: gone.length, devices: gone.slice(0, 10).map((p) => p.deviceId) }, 'admission records expired; removing their peers');
      await this.applyDelta(delta, 'expiry');
    });
  }

  /** Every lane read back once: counters into its meter, and its health. */
  private async observeLanes(): Promise<{ lane: number; up: boolean; listening: boolean; peers: number }[]> {
    return this.queue.add(async () => {
      const health = [];
      for (const l of this.lanes) {
        try {
          const st = await l.backend.listPeers();
          l.meter.observe(st.peers.map((p) => ({ publicKey: p.publicKey, rxBytes: p.rxBytes, txBytes: p.txBytes })));
          const drift = interfaceDrift(st, { publicKey: l.keys.publicKey, listenPort: l.listenPort, ...(l.params ? { awg: l.params } : {}) });
          health.push({
            lane: l.lane,
            // Up: the daemon answers with this lane's key (and, for AmneziaWG, its parameters: otherwise clients' packets are not understood).
            up: !drift.includes('private_key') && !drift.includes('awg'),
            listening: l.listenPort === 0 ? st.listenPort > 0 : st.listenPort === l.listenPort,
            peers: st.peers.length,
          });
        } catch (err) {
          this.o.log.warn({ lane: l.lane, interface: l.interfaceName, err: errText(err) }, 'lane read-back failed; reporting it down');
          health.push({ lane: l.lane, up: false, listening: false, peers: 0 });
        }
      }
      return health;
    });
  }

  private async sendHeartbeat(): Promise<void> {
    if (!this.doorsStated) await this.stateDoors(false).catch((err) => this.o.log.warn({ err: errText(err) }, 'stating the doors failed'));
    const doors = await this.observeLanes();
    if (!this.inflight) {
      // Increasing across restarts even if meter.json were lost.
      this.seq = Math.max(this.seq + 1, Date.now());
      const perLane = Math.floor(MAX_HEARTBEAT_PEERS / this.lanes.length);
      const byLane = new Map(this.lanes.map((l) => [l.lane, l.meter.report(perLane)]));
      this.inflight = { seq: this.seq, peers: sumOverLanes(byLane.values()), byLane };
    }
    // A heartbeat whose answer was lost is resent exactly (same seq, same deltas): the control plane counts it once.
    const hb = this.inflight;
    try {
      await this.o.api.heartbeat({ seq: hb.seq, peers: hb.peers, doors });
      this.reachable.succeeded();
    } catch (err) {
      if (!(err instanceof Unreachable)) this.o.log.warn({ err: errText(err) }, 'heartbeat refused');
      return;
    }
    for (const l of this.lanes) l.meter.acknowledge(hb.byLane.get(l.lane) ?? []);
    this.inflight = null;
    const lanes: Record<string, unknown> = {};
    for (const l of this.lanes) if (l.lane !== 0) lanes[String(l.lane)] = l.meter.toJSON();
    await this.state.saveMeter(this.seq, this.lanes[0]!.meter.toJSON(), lanes);
  }

  /** For tests: run one drift repair now. */
  repairNow(): Promise<void> {
    return this.queue.add(() => this.repair('requested'));
  }

  /** For tests: one heartbeat now. */
  heartbeatNow(): Promise<void> {
    return this.sendHeartbeat();
  }

  /** For tests: expire what is due now. */
  expireNow(): Promise<void> {
    return this.expireDue();
  }

  desiredKeys(): string[] {
    return this.desired.peers().map((p) => p.publicKey);
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
