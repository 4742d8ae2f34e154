/**
 * The signed catalog of front doors. Versions only move forward: a new one
 * is signed when the set of online front doors changes or the current one
 * is past half its lifetime. Concurrent processes serialise on the single
 * catalog_state row, so two never sign the same version.
 */
import type { FrontDoor, CatalogPayload } from '../../core/api-schemas.js';
import { frontDoorsDigest, signCatalog } from '../../core/catalog.js';
import type { Envelope } from '../../core/envelope.js';
import { withTx, type Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';
import { basePools, isOnline, listGateways, type GatewayRow } from './gateways.js';
import { lanePools, type AddressPools } from '../../core/ipam.js';
import type { Ctx } from '../context.js';

export function endpointString(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** A catalog door and the lane (interface) of its gateway that serves it. */
export interface LaneFrontDoor {
  lane: number;
  door: FrontDoor;
}

/**
 * A gateway's front doors, as the catalog lists them: one per endpoint of
 * each lane, with that lane's key, protocol, parameters and tunnel prefixes
 * (core/ipam.ts lanePools of the control plane's pools). A door's id is
 * stable (gateway id, tier, port; a suffix when one tier and port is on two
 * addresses, IPv4 and IPv6) and unique in the catalog: enrollment answers
 * name doors by this id, and clients render configs from the catalog's entry.
 * Lane 0's first endpoint (the listen port) comes first: the primary door.
 */
export function laneFrontDoorsOf(g: GatewayRow, pools: AddressPools): LaneFrontDoor[] {
  if (!g.wg_public_key) return [];
  const used = new Map<string, number>();
  return [...g.doors].sort((a, b) => a.lane - b.lane).flatMap((d) => {
    const tunnel = lanePools(pools, d.lane);
    return d.endpoints.map((e) => {
      const base = `${g.id}/${d.tier}/${e.port}`;
      const n = (used.get(base) ?? 0) + 1;
      used.set(base, n);
      const door: FrontDoor = {
        id: n === 1 ? base : `${base}/${n}`,
        gatewayId: g.id,
        region: g.region,
        country: g.country,
        tier: d.tier,
        endpoint: endpointString(e.host, e.port),
        publicKey: d.publicKey,
        protocol: d.protocol,
        params: d.params,
        tunnel,
      };
      return { lane: d.lane, door };
    });
  });
}

export function frontDoorsOf(g: GatewayRow, pools: AddressPools): FrontDoor[] {
  return laneFrontDoorsOf(g, pools).map((d) => d.door);
}

export async function onlineFrontDoors(ctx: Ctx, q: Queryable, now: Date): Promise<FrontDoor[]> {
  const pools = basePools(ctx);
  return (await listGateways(q)).filter((g) => isOnline(ctx, g, now)).flatMap((g) => frontDoorsOf(g, pools));
}

interface CatalogStateRow {
  version: string;
  doors_digest: string;
  envelope: Envelope;
  issued_at: Date;
  expires_at: Date;
}

export interface CurrentCatalog {
  version: number;
  issuedAt: Date;
  expiresAt: Date;
  frontDoors: number;
  envelope: Envelope;
}

function needsResign(row: CatalogStateRow | undefined, digest: string, now: Date): boolean {
  if (!row) return true;
  if (row.doors_digest !== digest) return true;
  const life = row.expires_at.getTime() - row.issued_at.getTime();
  return now.getTime() >= row.issued_at.getTime() + life / 2;
}

export async function currentCatalog(ctx: Ctx): Promise<CurrentCatalog> {
  const now = ctx.clock.now();
  const doors = await onlineFrontDoors(ctx, ctx.db, now);
  const digest = frontDoorsDigest(doors);
  const existing = (await ctx.db.query<CatalogStateRow>('SELECT * FROM catalog_state WHERE id = 1')).rows[0];
  if (existing && !needsResign(existing, digest, now)) return toCurrent(existing);
  return withTx(ctx.db, async (tx) => {
    await tx.query('INSERT INTO catalog_state (id, version, doors_digest, envelope, issued_at, expires_at) VALUES (1, 0, \'\', \'{}\', $1, $1) ON CONFLICT (id) DO NOTHING', [new Date(0)]);
    const row = (await tx.query<CatalogStateRow>('SELECT * FROM catalog_state WHERE id = 1 FOR UPDATE')).rows[0]!;
    // Another process may have re-signed while we waited for the lock.
    const freshDoors = await onlineFrontDoors(ctx, tx, now);
    const freshDigest = frontDoorsDigest(freshDoors);
    if (Number(row.version) > 0 && !needsResign(row, freshDigest, now)) return toCurrent(row);
    const payload: CatalogPayload = {
      version: Number(row.version) + 1,
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ctx.config.catalogTtlSeconds * 1000).toISOString(),
      frontDoors: freshDoors,
    };
    const envelope = signCatalog(payload, ctx.keys.signers('catalog'));
    await tx.query('UPDATE catalog_state SET version = $1, doors_digest = $2, envelope = $3, issued_at = $4, expires_at = $5 WHERE id = 1', [
      payload.version,
      freshDigest,
      JSON.stringify(envelope),
      now,
      new Date(payload.expiresAt),
    ]);
    await audit(tx, { at: now, actor: 'control-plane', action: 'catalog.signed', subject: `catalog:${payload.version}`, details: { frontDoors: freshDoors.length, expiresAt: payload.expiresAt } });
    return { version: payload.version, issuedAt: now, expiresAt: new Date(payload.expiresAt), frontDoors: freshDoors.length, envelope };
  });
}

function toCurrent(row: CatalogStateRow): CurrentCatalog {
  const env = row.envelope;
  let frontDoors = 0;
  try {
    frontDoors = (JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as CatalogPayload).frontDoors.length;
  } catch {
    frontDoors = 0;
  }
  return { version: Number(row.version), issuedAt: row.issued_at, expiresAt: row.expires_at, frontDoors, envelope: env };
}
