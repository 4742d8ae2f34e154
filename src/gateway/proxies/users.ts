/**
 * The one check of a desired user set, shared by every proxy driver: ids
 * that can label a server's counters safely, no id twice, and each secret in
 * the one spelling DAMM makes for the protocol (core/proxy-credential).
 * Runs before anything is written, so bad input changes nothing; errors name
 * the id, never the secret.
 */
import { DammError } from '../../core/errors.js';
import { isProxyCredential, type ProxyProtocol } from '../../core/proxy-credential.js';
import type { ProxyUser } from './port.js';

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

export function checkProxyUsers(protocol: ProxyProtocol, users: readonly ProxyUser[]): void {
  const seen = new Set<string>();
  for (const u of users) {
    if (typeof u?.id !== 'string' || !ID_RE.test(u.id)) throw new DammError('invalid_argument', 'A proxy user id is 1-128 characters of [A-Za-z0-9._:-].');
    if (seen.has(u.id)) throw new DammError('invalid_argument', `User id ${u.id} appears twice.`);
    seen.add(u.id);
    if (!isProxyCredential(protocol, u.secret)) {
      const spelling = protocol === 'shadowsocks' ? '32 random bytes in base64url' : 'a lower-case version-4 UUID';
      throw new DammError('invalid_argument', `The ${protocol} secret of user ${u.id} must be ${spelling}.`);
    }
  }
}
