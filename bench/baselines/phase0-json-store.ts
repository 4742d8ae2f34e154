/**
 * BENCHMARK BASELINE ONLY — not part of DAMM, never imported by src/.
 *
 * A faithful re-implementation of the Phase-0 state strategy the founding
 * memo describes (forecast 1, `control-plane/lib/store-json.js`), so DAMM's
 * costs can be compared with it in the same run:
 *
 *   every write reads the WHOLE state file, parses it, mutates it in memory,
 *   serialises it, writes a temp file, fsyncs it, rotates the current file to
 *   `.bak`, renames the temp file into place (and fsyncs the directory);
 *   the audit log lives inline in the same state and is never rotated.
 *
 * Choices made in the baseline's favour (so the comparison is not a strawman):
 * compact JSON (no pretty-printing), synchronous fs calls (no thread-pool
 * hops; they also serialise writers in one process, the memo's single-writer
 * chokepoint), `.bak` rotation by rename rather than copy, O(1) pass lookup
 * by hash and O(1) address allocation. The only scan is the duplicate-key
 * check a JSON store without indexes has to do.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { hashSecret } from '../../src/control-plane/secrets.js';
import { parseWireGuardPublicKey } from '../../src/core/wg-key.js';
import { addressesFor, parsePools, type ParsedPools } from '../../src/core/ipam.js';
import { DammError } from '../../src/core/errors.js';

export interface Phase0Pass { id: string; kind: 'public' | 'invite'; tier: string; usesLeft: number; expiresAt: string; createdAt: string }
export interface Phase0Device {
  id: string; publicKey: string; addressOffset: number; ipv4: string; ipv6: string; tier: string; passId: string;
  region: string; exitCountry: string; gatewayId: string; placementReason: string; state: 'active' | 'revoked'; createdAt: string;
}
export interface Phase0Gateway { id: string; name: string; region: string; country: string; wgPublicKey: string; endpoint: string }
export interface Phase0Audit { at: string; actor: string; action: string; subject: string; details: Record<string, unknown> }

export interface Phase0State {
  version: 1;
  settings: { ipv4Pool: string; ipv6Prefix: string; dns: string[]; persistentKeepalive: number };
  /** Phase 0 kept its catalog signing key in state.json (memo forecast 4); a placeholder of the same size. */
  keys: { catalog: { publicKey: string; privateKey: string } };
  gateways: Phase0Gateway[];
  /** By SHA-256 hex of the token. */
  passes: Record<string, Phase0Pass>;
  devices: Record<string, Phase0Device>;
  addressing: { nextOffset: number; free: number[] };
  audit: Phase0Audit[];
}

export function emptyState(opts: { ipv4Pool: string; ipv6Prefix: string }): Phase0State {
  return {
    version: 1,
    settings: { ipv4Pool: opts.ipv4Pool, ipv6Prefix: opts.ipv6Prefix, dns: ['9.9.9.9', '149.112.112.112'], persistentKeepalive: 25 },
    keys: { catalog: { publicKey: 'A'.repeat(43) + '=', privateKey: 'B'.repeat(43) + '=' } },
    gateways: [],
    passes: {},
    devices: {},
    addressing: { nextOffset: 2, free: [] },
    audit: [],
  };
}

export class Phase0JsonStore {
  readonly file: string;
  private readonly pools: ParsedPools;

  constructor(file: string, pools: { ipv4Pool: string; ipv6Prefix: string }) {
    this.file = file;
    this.pools = parsePools({ ipv4Cidr: pools.ipv4Pool, ipv6Prefix: pools.ipv6Prefix });
  }

  read(): Phase0State {
    return JSON.parse(readFileSync(this.file, 'utf8')) as Phase0State;
  }

  /** tmp + fsync + rotate .bak + rename + fsync(dir): Phase 0's atomic write. */
  write(state: Phase0State): void {
    const text = JSON.stringify(state);
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    if (existsSync(this.file)) renameSync(this.file, `${this.file}.bak`);
    renameSync(tmp, this.file);
    const dir = openSync(path.dirname(this.file), 'r');
    try {
      fsyncSync(dir);
    } finally {
      closeSync(dir);
    }
  }

  /** Every mutation: read whole file → mutate → write whole file. */
  update<T>(fn: (s: Phase0State) => T): T {
    const state = this.read();
    const out = fn(state);
    this.write(state);
    return out;
  }

  enroll(req: { installPass: string; publicKey: string }, now = new Date()) {
    parseWireGuardPublicKey(req.publicKey);
    return this.update((s) => {
      const hash = hashSecret(req.installPass).toString('hex');
      const pass = s.passes[hash];
      if (!pass) throw new DammError('invalid_pass', 'That install pass or invite is not valid.');
      if (pass.usesLeft <= 0) throw new DammError('pass_used', 'This install pass has already been used up.');
      if (Date.parse(pass.expiresAt) <= now.getTime()) throw new DammError('pass_expired', 'This install pass expired.');
      for (const id in s.devices) {
        if (s.devices[id]!.publicKey === req.publicKey) throw new DammError('key_already_enrolled', 'This public key is already enrolled.');
      }
      const gateway = s.gateways[0];
      if (!gateway) throw new DammError('no_gateway_available', 'No gateway.');
      pass.usesLeft -= 1;
      const offset = s.addressing.free.length ? s.addressing.free.shift()! : s.addressing.nextOffset++;
      const addr = addressesFor(this.pools, offset);
      const id = randomUUID();
      const at = now.toISOString();
      const reason = `No preference given; ${gateway.region} (exit ${gateway.country}) has the most room.`;
      s.devices[id] = {
        id, publicKey: req.publicKey, addressOffset: offset, ipv4: addr.ipv4, ipv6: addr.ipv6, tier: pass.tier, passId: pass.id,
        region: gateway.region, exitCountry: gateway.country, gatewayId: gateway.id, placementReason: reason, state: 'active', createdAt: at,
      };
      s.audit.push(
        { at, actor: `device:${id}`, action: 'pass.consumed', subject: `pass:${pass.id}`, details: { kind: pass.kind, deviceId: id } },
        { at, actor: `device:${id}`, action: 'device.enrolled', subject: `device:${id}`, details: { publicKey: req.publicKey, ipv4: addr.ipv4, region: gateway.region, gatewayId: gateway.id, honoured: true } },
      );
      return {
        deviceId: id,
        addresses: { ipv4: addr.ipv4, ipv6: addr.ipv6 },
        dns: s.settings.dns,
        allowedIps: ['0.0.0.0/0', '::/0'],
        persistentKeepalive: s.settings.persistentKeepalive,
        frontDoor: { id: `${gateway.name}-T0`, gatewayId: gateway.id, region: gateway.region, country: gateway.country, tier: 'T0', endpoint: gateway.endpoint, publicKey: gateway.wgPublicKey },
        placement: { requested: { region: null, exitCountry: null }, given: { region: gateway.region, exitCountry: gateway.country, gatewayId: gateway.id }, honoured: true, reason },
        tier: pass.tier,
        quotaBytes: null,
      };
    });
  }
}

/**
 * Adds `n` enrolled devices (each with its consumed pass and the three audit
 * entries the API writes) and `passTokens` fresh passes to a state, in memory.
 */
export function seedState(s: Phase0State, n: number, passTokens: string[], now = new Date()): void {
  const pools = parsePools({ ipv4Cidr: s.settings.ipv4Pool, ipv6Prefix: s.settings.ipv6Prefix });
  if (s.gateways.length === 0) {
    s.gateways.push({ id: randomUUID(), name: 'gw-nl-bench', region: 'NL', country: 'NL', wgPublicKey: Buffer.alloc(32, 7).toString('base64'), endpoint: '192.0.2.10:51820' });
  }
  const gw = s.gateways[0]!;
  const at = now.toISOString();
  const expiresAt = new Date(now.getTime() + 15 * 60_000).toISOString();
  for (let i = 0; i < n; i++) {
    const passId = randomUUID();
    const id = randomUUID();
    const token = `dp_seed_${passId}`;
    s.passes[hashSecret(token).toString('hex')] = { id: passId, kind: 'public', tier: 'public', usesLeft: 0, expiresAt, createdAt: at };
    const offset = s.addressing.nextOffset++;
    const addr = addressesFor(pools, offset);
    const publicKey = hashSecret(`key-${id}`).toString('base64');
    const reason = `No preference given; ${gw.region} (exit ${gw.country}) has the most room.`;
    s.devices[id] = { id, publicKey, addressOffset: offset, ipv4: addr.ipv4, ipv6: addr.ipv6, tier: 'public', passId, region: gw.region, exitCountry: gw.country, gatewayId: gw.id, placementReason: reason, state: 'active', createdAt: at };
    s.audit.push(
      { at, actor: 'public', action: 'pass.minted', subject: `pass:${passId}`, details: { tier: 'public', uses: 1, expiresAt } },
      { at, actor: `device:${id}`, action: 'pass.consumed', subject: `pass:${passId}`, details: { kind: 'public', deviceId: id } },
      { at, actor: `device:${id}`, action: 'device.enrolled', subject: `device:${id}`, details: { publicKey, ipv4: addr.ipv4, region: gw.region, gatewayId: gw.id, honoured: true } },
    );
  }
  for (const t of passTokens) {
    const passId = randomUUID();
    s.passes[hashSecret(t).toString('hex')] = { id: passId, kind: 'public', tier: 'public', usesLeft: 1, expiresAt: new Date(now.getTime() + 3600_000).toISOString(), createdAt: at };
    s.audit.push({ at, actor: 'bench', action: 'pass.minted', subject: `pass:${passId}`, details: { tier: 'public', uses: 1, expiresAt } });
  }
}

export function activeDevices(s: Phase0State): number {
  let n = 0;
  for (const id in s.devices) if (s.devices[id]!.state === 'active') n++;
  return n;
}
