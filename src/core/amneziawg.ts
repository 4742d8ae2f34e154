/**
 * AmneziaWG 2.0 door parameters: what they may be, how one door's set is
 * drawn, and the two spellings they travel in (the daemon's UAPI keys and the
 * `.conf` keys the AmneziaWG apps import). Pure and browser-safe: randomness
 * is passed in, nothing is imported from node.
 *
 * Where the rules come from (amneziawg-go v0.2.19, the pinned server and test
 * client; amneziawg-tools, whose parser the apps and awg-quick share):
 * - UAPI `jc`, `jmin`, `jmax` must be > 0 (a set of 0 is refused), and the
 *   junk size is drawn from [jmin, jmax] (jmin > jmax panics the sender).
 *   The .conf parser reads Jc..S4 as 16-bit numbers.
 * - The receiver tells messages apart by size alone, then by header:
 *   initiation = S1 + 148 bytes, response = S2 + 92, cookie reply = S3 + 64,
 *   transport >= S4 + 32 (16 header + 16 tag, content padded to 16 bytes).
 *   Equal sizes would make it try the wrong type first, so the three
 *   handshake sizes must differ (S1 + 56 != S2, S1 + 84 != S3, S2 + 28 != S3)
 *   and none may be a size a transport message can have (S4 + 32 + 16k).
 * - H1..H4 are magic headers, "N" or "LO-HI" (uint32, LO <= HI); the daemon
 *   refuses overlapping ones. We also keep them off 1..4, WireGuard's own
 *   types, so a plain WireGuard packet never parses as AmneziaWG.
 * - I1 is an obfuscation chain of `<tag arg>` items sent as its own packet
 *   before each handshake initiation. The .conf parser cuts a line at `#`.
 *
 * What is DAMM's choice (stricter than the protocol, said so here): jc at
 * most 128; junk and paddings small enough that every padded handshake and
 * junk packet fits the 1280-byte IPv6 minimum MTU; S4 at most 32 (it costs
 * tunnel MTU, see `awgTunnelMtu`); canonical numbers (no leading zeros, a
 * range with LO < HI) so a read-back compares equal as text; an I1 of at most
 * `AWG_I1_MAX_LENGTH` characters made only of the tags that need no data
 * (b, r, rc, rd, t), so a full client config still fits one QR code.
 */
import type { AwgParams } from './api-schemas.js';
import { DammError } from './errors.js';
import { renderClientConfig, type ClientConfigInput } from './wg-config.js';

/**
 * One door's parameters. The shape is api-schemas' `AwgParams` (the signed
 * catalog carries it): jc = junk packets before each handshake initiation,
 * jmin/jmax = their size bounds, s1-s4 = random bytes prefixed to initiation,
 * response, cookie reply and transport messages, h1-h4 = magic headers of the
 * four message types ("N" or "LO-HI"), i1 = an obfuscation chain sent before
 * each initiation (e.g. "<b 0x1f2e><r 24>"; null = none).
 */
export type { AwgParams };

export type AwgField = keyof AwgParams;

// Unpadded WireGuard message sizes (amneziawg-go device/noise-protocol.go).
const INITIATION_SIZE = 148;
const RESPONSE_SIZE = 92;
const COOKIE_REPLY_SIZE = 64;
const TRANSPORT_MIN_SIZE = 32;
const TRANSPORT_PADDING_MULTIPLE = 16;
/** The IPv6 minimum MTU less IPv6 + UDP headers: every handshake and junk packet fits any path. */
const MAX_PACKET = 1280 - 48;

export const AWG_LIMITS = {
  jc: { min: 1, max: 128 },
  jmin: { min: 1, max: MAX_PACKET },
  jmax: { min: 1, max: MAX_PACKET },
  s1: { min: 0, max: MAX_PACKET - INITIATION_SIZE },
  s2: { min: 0, max: MAX_PACKET - RESPONSE_SIZE },
  s3: { min: 0, max: MAX_PACKET - COOKIE_REPLY_SIZE },
  s4: { min: 0, max: 32 },
} as const;

/** Lowest magic header value: 1..4 are WireGuard's own message types. */
export const AWG_HEADER_MIN = 5;
export const AWG_HEADER_MAX = 0xffffffff;
/** Characters of I1; keeps a full client config within one QR code at level M (test/core/amneziawg.test.ts). */
export const AWG_I1_MAX_LENGTH = 120;
/** Bytes the I1 packet may emit. */
export const AWG_I1_MAX_BYTES = 256;

const NUMERIC_FIELDS = ['jc', 'jmin', 'jmax', 's1', 's2', 's3', 's4'] as const;
const HEADER_FIELDS = ['h1', 'h2', 'h3', 'h4'] as const;
const FIELDS: readonly AwgField[] = [...NUMERIC_FIELDS, ...HEADER_FIELDS, 'i1'];

function invalid(field: AwgField | 'params', sentence: string): DammError {
  return new DammError('invalid_argument', `AmneziaWG parameter ${field === 'params' ? 'set' : field.toUpperCase()}: ${sentence}`, {
    details: { field },
  });
}

interface HeaderRange {
  lo: number;
  hi: number;
}

/** Parse a canonical "N" or "LO-HI" header spec, or undefined. */
function parseHeader(spec: string): HeaderRange | undefined {
  const m = /^(0|[1-9]\d{0,9})(?:-(0|[1-9]\d{0,9}))?$/.exec(spec);
  if (!m) return undefined;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  if (lo > AWG_HEADER_MAX || hi > AWG_HEADER_MAX) return undefined;
  if (m[2] !== undefined && hi <= lo) return undefined;
  return { lo, hi };
}

/** Bytes the I1 chain emits, or a reason it is refused. */
function i1Bytes(chain: string): number | string {
  if (chain.length === 0) return 'is empty (use null for none)';
  if (chain.length > AWG_I1_MAX_LENGTH) return `is ${chain.length} characters, at most ${AWG_I1_MAX_LENGTH} keep the config within one QR code`;
  let bytes = 0;
  let rest = chain;
  while (rest.length) {
    const m = /^<(b 0x(?:[0-9a-f]{2})+|r [1-9]\d{0,3}|rc [1-9]\d{0,3}|rd [1-9]\d{0,3}|t)>/.exec(rest);
    if (!m) return `must be a sequence of <b 0xHEX>, <r N>, <rc N>, <rd N> or <t> items (lowercase hex), not ${JSON.stringify(rest.slice(0, 24))}`;
    const [tag, arg] = m[1]!.split(' ');
    if (tag === 'b') bytes += (arg!.length - 2) / 2;
    else if (tag === 't') bytes += 4;
    else bytes += Number(arg);
    rest = rest.slice(m[0].length);
  }
  if (bytes > AWG_I1_MAX_BYTES) return `emits ${bytes} bytes, at most ${AWG_I1_MAX_BYTES}`;
  return bytes;
}

/**
 * Throw `invalid_argument` (details.field names the field) unless `p` is a
 * complete, valid parameter set; returns it typed. Unknown fields are refused.
 */
export function validateAwgParams(p: unknown): AwgParams {
  if (typeof p !== 'object' || p === null || Array.isArray(p)) throw invalid('params', 'must be an object.');
  const o = p as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw invalid('params', `unknown field ${JSON.stringify(key)}.`);
  }
  for (const f of NUMERIC_FIELDS) {
    const v = o[f];
    const { min, max } = AWG_LIMITS[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw invalid(f, `must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}.`);
    }
  }
  const n = o as unknown as AwgParams;
  if (n.jmin > n.jmax) throw invalid('jmin', `must not exceed Jmax (${n.jmin} > ${n.jmax}).`);

  const handshake = [
    { field: 's1' as const, size: n.s1 + INITIATION_SIZE, what: 'initiation' },
    { field: 's2' as const, size: n.s2 + RESPONSE_SIZE, what: 'response' },
    { field: 's3' as const, size: n.s3 + COOKIE_REPLY_SIZE, what: 'cookie reply' },
  ];
  for (let i = 0; i < handshake.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = handshake[j]!;
      const b = handshake[i]!;
      if (a.size === b.size) {
        throw invalid(b.field, `makes the padded ${b.what} (${b.size} bytes) as long as the padded ${a.what}; they must differ (e.g. S1 + 56 != S2).`);
      }
    }
  }
  const transportMin = n.s4 + TRANSPORT_MIN_SIZE;
  for (const h of handshake) {
    if (h.size >= transportMin && (h.size - transportMin) % TRANSPORT_PADDING_MULTIPLE === 0) {
      throw invalid(h.field, `makes the padded ${h.what} (${h.size} bytes) a size a transport message can have with S4 = ${n.s4} (S4 + 32 + 16k).`);
    }
  }

  const ranges: Array<HeaderRange & { field: AwgField }> = [];
  for (const f of HEADER_FIELDS) {
    const v = o[f];
    const r = typeof v === 'string' ? parseHeader(v) : undefined;
    if (!r) throw invalid(f, `must be "N" or "LO-HI" with LO < HI, decimal without leading zeros, up to ${AWG_HEADER_MAX}; got ${JSON.stringify(v)}.`);
    if (r.lo < AWG_HEADER_MIN) throw invalid(f, `must start at ${AWG_HEADER_MIN} or above: 1-4 are plain WireGuard's message types.`);
    for (const other of ranges) {
      if (r.lo <= other.hi && other.lo <= r.hi) throw invalid(f, `overlaps ${other.field.toUpperCase()}; the four header ranges must be disjoint.`);
    }
    ranges.push({ ...r, field: f });
  }

  if (o['i1'] !== null) {
    if (typeof o['i1'] !== 'string') throw invalid('i1', 'must be a string or null.');
    const bytes = i1Bytes(o['i1']);
    if (typeof bytes === 'string') throw invalid('i1', `${bytes}.`);
  }
  return { jc: n.jc, jmin: n.jmin, jmax: n.jmax, s1: n.s1, s2: n.s2, s3: n.s3, s4: n.s4, h1: n.h1, h2: n.h2, h3: n.h3, h4: n.h4, i1: o['i1'] as string | null };
}

export type RandomBytes = (n: number) => Uint8Array;

/** A uniform integer in [min, max] (max - min < 2^32), by rejection sampling. */
function uniform(randomBytes: RandomBytes, min: number, max: number): number {
  const span = max - min + 1;
  if (!Number.isSafeInteger(span) || span < 1 || span > 2 ** 32) throw new DammError('internal', 'uniform: bad range.');
  const limit = Math.floor(2 ** 32 / span) * span;
  for (;;) {
    const b = randomBytes(4);
    if (b.length !== 4) throw new DammError('internal', 'randomBytes returned the wrong number of bytes.');
    const x = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (x < limit) return min + (x % span);
  }
}

function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * One door's parameters, drawn at random within DAMM's generation ranges
 * (narrower than what `validateAwgParams` accepts): 3-8 junk packets of
 * 16-320 bytes, paddings S1-S3 of 15-120 bytes and S4 of 1-16, four
 * disjoint header ranges of 2^10-2^20 values each (one per quarter of the
 * 32-bit space above 4, quarters shuffled), and a short I1. Draws again
 * until the set passes `validateAwgParams` (a few percent of draws collide
 * on a message size).
 */
export function generateAwgParams(randomBytes: RandomBytes): AwgParams {
  for (let attempt = 0; attempt < 100; attempt++) {
    const jmin = uniform(randomBytes, 16, 64);
    const quarters = [0, 1, 2, 3];
    for (let i = quarters.length - 1; i > 0; i--) {
      const j = uniform(randomBytes, 0, i);
      [quarters[i], quarters[j]] = [quarters[j]!, quarters[i]!];
    }
    const band = Math.floor((AWG_HEADER_MAX - AWG_HEADER_MIN + 1) / 4);
    const headers = quarters.map((q) => {
      const width = uniform(randomBytes, 2 ** 10, 2 ** 20);
      const bandLo = AWG_HEADER_MIN + q * band;
      const lo = uniform(randomBytes, bandLo, bandLo + band - width);
      return `${lo}-${lo + width - 1}`;
    });
    const candidate: AwgParams = {
      jc: uniform(randomBytes, 3, 8),
      jmin,
      jmax: jmin + uniform(randomBytes, 32, 256),
      s1: uniform(randomBytes, 15, 120),
      s2: uniform(randomBytes, 15, 120),
      s3: uniform(randomBytes, 15, 120),
      s4: uniform(randomBytes, 1, 16),
      h1: headers[0]!,
      h2: headers[1]!,
      h3: headers[2]!,
      h4: headers[3]!,
      // A fixed per-door prefix then random bytes: the packet before each initiation differs per door and per handshake.
      i1: `<b 0x${toHex(randomBytes(uniform(randomBytes, 4, 12)))}><r ${uniform(randomBytes, 16, 64)}>`,
    };
    try {
      return validateAwgParams(candidate);
    } catch (err) {
      if (!(err instanceof DammError)) throw err;
    }
  }
  throw new DammError('internal', 'Could not draw valid AmneziaWG parameters (is randomBytes random?).');
}

/** True when both sets are the same (field by field; headers and I1 compared as canonical text). */
export function awgParamsEqual(a: AwgParams, b: AwgParams): boolean {
  return FIELDS.every((f) => a[f] === b[f]);
}

/**
 * The device-level UAPI `set=1` lines for amneziawg-go, in the order the
 * daemon applies them. `i1=` (empty) when there is none, so a set replaces
 * an I1 held before. Validates first.
 */
export function awgUapiLines(params: AwgParams): string[] {
  const p = validateAwgParams(params);
  return [
    `jc=${p.jc}`, `jmin=${p.jmin}`, `jmax=${p.jmax}`,
    `s1=${p.s1}`, `s2=${p.s2}`, `s3=${p.s3}`, `s4=${p.s4}`,
    `h1=${p.h1}`, `h2=${p.h2}`, `h3=${p.h3}`, `h4=${p.h4}`,
    `i1=${p.i1 ?? ''}`,
  ];
}

/**
 * The `[Interface]` lines of a client `.conf`, spelt as the AmneziaWG apps
 * and awg-quick import them (amneziawg-tools config.c: Jc, Jmin, Jmax,
 * S1-S4, H1-H4, I1). Validates first.
 */
export function awgConfLines(params: AwgParams): string[] {
  const p = validateAwgParams(params);
  const lines = [
    `Jc = ${p.jc}`, `Jmin = ${p.jmin}`, `Jmax = ${p.jmax}`,
    `S1 = ${p.s1}`, `S2 = ${p.s2}`, `S3 = ${p.s3}`, `S4 = ${p.s4}`,
    `H1 = ${p.h1}`, `H2 = ${p.h2}`, `H3 = ${p.h3}`, `H4 = ${p.h4}`,
  ];
  if (p.i1 !== null) lines.push(`I1 = ${p.i1}`);
  return lines;
}

/**
 * Tunnel MTU for an AmneziaWG interface on a 1500-byte path: WireGuard's
 * usual 1420 (1500 - 40 IPv6 - 8 UDP - 32 WireGuard) less the S4 bytes every
 * transport message carries. Client (.conf `MTU`) and gateway interface both.
 */
export function awgTunnelMtu(params: Pick<AwgParams, 's4'>, pathMtu = 1500): number {
  return pathMtu - 80 - params.s4;
}

/**
 * A complete client `.conf` for an AmneziaWG door: the WireGuard config of
 * `renderClientConfig` with the door's parameters and MTU added to its
 * `[Interface]` section. What the AmneziaWG apps and `awg-quick` import.
 */
export function renderAwgClientConfig(input: ClientConfigInput, params: AwgParams): string {
  const base = renderClientConfig(input);
  const end = base.indexOf('\n\n[Peer]');
  if (end < 0) throw new DammError('internal', 'Client config has no [Peer] section.');
  const extra = [`MTU = ${awgTunnelMtu(params)}`, ...awgConfLines(params)];
  return `${base.slice(0, end)}\n${extra.join('\n')}${base.slice(end)}`;
}
