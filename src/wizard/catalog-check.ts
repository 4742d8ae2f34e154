/**
 * Catalog freshness, verified in this page with core's verifyCatalog (the
 * same function servers and gateways use) against the catalog keys the
 * service publishes at /v1/keys.
 *
 * Those keys come from the same server as the catalog, so this proves the
 * catalog is intact, current and signed by the service's published key, not
 * that the key itself is genuine. Pinning a root of trust in the page would
 * change only this module.
 */
import { verifyCatalog } from '../core/catalog-verify.js';
import { keyIdOf, type TrustedKey } from '../core/envelope.js';
import { fromBase64 } from '../core/bytes.js';
import { api } from './api.js';

export type CatalogCheck =
  | { ok: true; version: number; issuedAt: string; expiresAt: string; frontDoors: number }
  | { ok: false; reason: string };

export async function checkCatalog(now = new Date()): Promise<CatalogCheck> {
  const [envelope, keys] = await Promise.all([api.catalog(), api.keys()]);
  const trustedKeys: TrustedKey[] = [];
  for (const k of keys.catalog) {
    const publicKey = fromBase64(k.publicKey);
    // A key id is derived from the key; one that is not counts for nothing.
    if (publicKey && publicKey.length === 32 && keyIdOf(publicKey) === k.keyid) trustedKeys.push({ keyid: k.keyid, publicKey });
  }
  try {
    const { catalog } = verifyCatalog(envelope, { trustedKeys, now });
    return { ok: true, version: catalog.version, issuedAt: catalog.issuedAt, expiresAt: catalog.expiresAt, frontDoors: catalog.frontDoors.length };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : 'unknown problem' };
  }
}
