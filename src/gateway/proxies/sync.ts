/**
 * From sealed credentials to a proxy door server, the same way for every
 * proxy door: open each device's sealed credential with the gateway's
 * sealing key for this door (core/seal), keep the ones that open and are
 * well-formed, report the others by device id (never their bytes), and make
 * the server hold exactly that set; `repairDrift` compares what the server
 * really holds with it and re-applies when they differ.
 *
 * The caller (the agent, once doors are data) passes only credentials from
 * admission records it has verified and that are in force.
 */
import { open, type SealContext } from '../../core/seal.js';
import { decodeProxyCredential, type ProxyProtocol } from '../../core/proxy-credential.js';
import { isDammError } from '../../core/errors.js';
import type { ProxyServer, ProxyUser } from './port.js';

export interface SealedCredential {
  deviceId: string;
  sealed: Uint8Array;
}

export interface OpenedCredentials {
  users: ProxyUser[];
  refused: Array<{ deviceId: string; code: string; message: string }>;
}

export function openCredentials(
  sealingPrivateKey: Uint8Array,
  door: SealContext & { protocol: ProxyProtocol },
  credentials: readonly SealedCredential[],
): OpenedCredentials {
  const out: OpenedCredentials = { users: [], refused: [] };
  const seen = new Set<string>();
  for (const c of credentials) {
    if (seen.has(c.deviceId)) {
      out.refused.push({ deviceId: c.deviceId, code: 'conflict', message: 'Two credentials for one device on one door.' });
      continue;
    }
    seen.add(c.deviceId);
    try {
      const secret = decodeProxyCredential(door.protocol, open(sealingPrivateKey, c.sealed, door));
      out.users.push({ id: c.deviceId, secret });
    } catch (err) {
      if (!isDammError(err)) throw err;
      out.refused.push({ deviceId: c.deviceId, code: err.code, message: err.message });
    }
  }
  return out;
}

/** Re-apply `desired` when the server holds another set of ids (or cannot say what it holds). Returns whether it repaired. */
export async function repairDrift(server: ProxyServer, desired: readonly ProxyUser[]): Promise<boolean> {
  let held: string[] | undefined;
  try {
    held = await server.actual();
  } catch (err) {
    if (!isDammError(err)) throw err;
    held = undefined; // the driver itself saw drift (e.g. a reload that did not take)
  }
  const want = desired.map((u) => u.id).sort();
  if (held && held.length === want.length && [...held].sort().every((id, i) => id === want[i])) return false;
  await server.apply(desired);
  return true;
}
