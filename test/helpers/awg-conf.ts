/**
 * Reads a client `.conf` the way the AmneziaWG apps and `awg-quick` do
 * (amneziawg-tools src/config.c and wg-quick/linux.bash, read to learn) and
 * turns it into what a test needs to bring the tunnel up with amneziawg-go:
 * UAPI `set=1` lines plus the wg-quick part (addresses, MTU, DNS).
 *
 * Their rules, kept here: `#` starts a comment; keys are case-insensitive;
 * whitespace is removed from a line, except that I1-I5 keep the spaces inside
 * their value (an obfuscation chain such as "<b 0x01><r 16>"); a key the
 * parser does not know is an error ("Line unrecognized"), so a config with a
 * misspelt or invented key fails here as it fails in the apps.
 */
import { Buffer } from 'node:buffer';

const HEX = (b64: string): string => {
  const bytes = Buffer.from(b64, 'base64');
  if (bytes.length !== 32 || bytes.toString('base64') !== b64) throw new Error(`not a 32-byte base64 key: ${b64}`);
  return bytes.toString('hex');
};

/** [Interface] keys amneziawg-tools passes to the daemon, with their UAPI spelling. */
const INTERFACE_UAPI: Record<string, (v: string) => string> = {
  privatekey: (v) => `private_key=${HEX(v)}`,
  listenport: (v) => `listen_port=${v}`,
  fwmark: (v) => `fwmark=${v}`,
  ...Object.fromEntries(
    ['jc', 'jmin', 'jmax', 's1', 's2', 's3', 's4', 'h1', 'h2', 'h3', 'h4', 'i1', 'i2', 'i3', 'i4', 'i5'].map((k) => [k, (v: string) => `${k}=${v}`]),
  ),
};
/** [Interface] keys awg-quick keeps for itself. */
const QUICK_KEYS = new Set(['address', 'dns', 'mtu']);

export interface ParsedAwgConf {
  /** Device lines then one block per peer, ready for one `set=1` request (replacing all peers). */
  uapi: string[];
  addresses: string[];
  dns: string[];
  mtu?: number;
  /** Every [Interface] key seen, as the apps spell it (lowercased), for assertions. */
  interfaceKeys: string[];
}

function clean(line: string): string {
  const noComment = line.split('#')[0]!;
  const eq = noComment.indexOf('=');
  const key = (eq < 0 ? noComment : noComment.slice(0, eq)).replace(/\s/g, '');
  if (eq >= 0 && /^i[1-5]$/i.test(key)) return `${key}=${noComment.slice(eq + 1).trim()}`;
  return noComment.replace(/\s/g, '');
}

export function parseAwgConf(text: string): ParsedAwgConf {
  const out: ParsedAwgConf = { uapi: [], addresses: [], dns: [], interfaceKeys: [] };
  const peers: string[][] = [];
  let section: 'interface' | 'peer' | undefined;
  for (const raw of text.split('\n')) {
    const line = clean(raw);
    if (line === '') continue;
    if (/^\[interface\]$/i.test(line)) {
      section = 'interface';
      continue;
    }
    if (/^\[peer\]$/i.test(line)) {
      section = 'peer';
      peers.push([]);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !section) throw new Error(`Line unrecognized: \`${raw}'`);
    const key = line.slice(0, eq).toLowerCase();
    const value = line.slice(eq + 1);
    if (section === 'interface') {
      out.interfaceKeys.push(key);
      if (key === 'address') out.addresses.push(...value.split(','));
      else if (key === 'dns') out.dns.push(...value.split(','));
      else if (key === 'mtu') out.mtu = Number(value);
      else if (INTERFACE_UAPI[key]) out.uapi.push(INTERFACE_UAPI[key](value));
      else throw new Error(`Line unrecognized: \`${raw}'`);
      if (QUICK_KEYS.has(key) && value === '') throw new Error(`empty ${key}`);
      continue;
    }
    const peer = peers.at(-1)!;
    switch (key) {
      case 'publickey':
        peer.unshift(`public_key=${HEX(value)}`, 'replace_allowed_ips=true');
        break;
      case 'presharedkey':
        peer.push(`preshared_key=${HEX(value)}`);
        break;
      case 'endpoint':
        peer.push(`endpoint=${value}`);
        break;
      case 'allowedips':
        peer.push(...value.split(',').map((ip) => `allowed_ip=${ip}`));
        break;
      case 'persistentkeepalive':
        peer.push(`persistent_keepalive_interval=${value}`);
        break;
      default:
        throw new Error(`Line unrecognized: \`${raw}'`);
    }
  }
  out.uapi.push('replace_peers=true');
  for (const p of peers) {
    if (!p[0]?.startsWith('public_key=')) throw new Error('[Peer] without PublicKey');
    out.uapi.push(...p);
  }
  return out;
}

/** `wg-quick strip`: the config without the keys only wg-quick/awg-quick read, for `wg setconf`. */
export function stripQuickKeys(text: string): string {
  return text
    .split('\n')
    .filter((l) => !/^\s*(address|dns|mtu)\s*=/i.test(l))
    .join('\n');
}
