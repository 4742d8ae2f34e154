/**
 * The join code `damm gateway add` prints for a new gateway host: one
 * opaque line that carries everything the host needs to register and to
 * trust the right control plane — its URL, the one-time registration token
 * and the sha256 pin of root v1. It is a secret (the token), so it travels on
 * stdin or in a file, never on a command line where `ps` would show it.
 *
 * Format: `dj1.` + base64url(JSON { u, t, p }). The version prefix lets a
 * later format be told apart; the JSON is checked field by field, no coercion.
 */
import { fromBase64Url, toBase64Url, utf8 } from './bytes.js';
import { DammError } from './errors.js';

export interface JoinCode {
  /** Control plane base URL the agent talks to (http or https, no query or fragment). */
  controlPlane: string;
  /** One-time registration token, dg_…. */
  token: string;
  /** sha256 (hex) of root v1's payload: the root the gateway must trust. */
  rootSha256: string;
}

const PREFIX = 'dj1.';
const TOKEN = /^dg_[A-Za-z0-9_-]{22,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

function bad(why: string): DammError {
  return new DammError('invalid_argument', `That is not a DAMM join code (${why}). Copy the whole line "damm gateway add" printed, starting with ${PREFIX}`);
}

export function encodeJoinCode(c: JoinCode): string {
  checkFields(c);
  return PREFIX + toBase64Url(utf8.encode(JSON.stringify({ u: c.controlPlane, t: c.token, p: c.rootSha256 })));
}

export function decodeJoinCode(text: string): JoinCode {
  const line = text.trim();
  if (!line.startsWith(PREFIX)) throw bad(`it does not start with ${PREFIX}`);
  const body = line.slice(PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body) || body.length > 2048) throw bad('unexpected characters or length');
  const bytes = fromBase64Url(body);
  if (!bytes) throw bad('it does not decode');
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw bad('it does not decode');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad('not an object');
  const o = parsed as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'p,t,u') throw bad('unexpected fields');
  if (typeof o.u !== 'string' || typeof o.t !== 'string' || typeof o.p !== 'string') throw bad('a field is not text');
  const code = { controlPlane: o.u, token: o.t, rootSha256: o.p };
  checkFields(code);
  return code;
}

function checkFields(c: JoinCode): void {
  let url: URL;
  try {
    url = new URL(c.controlPlane);
  } catch {
    throw bad('the control plane URL is not a URL');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.search || url.hash || url.username || url.password) {
    throw bad('the control plane URL must be plain http(s) without query, fragment or credentials');
  }
  if (!TOKEN.test(c.token)) throw bad('the registration token is malformed');
  if (!HEX64.test(c.rootSha256)) throw bad('the root pin is not 64 hex digits');
}
