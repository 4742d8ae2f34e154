/**
 * The agent's state directory (mode 0700; every file 0600):
 *   gateway.json        registration: id, credential, scope, tunnel, admission keys
 *   wg-private.key      lane 0's WireGuard private key, made here, never sent
 *   wg-private-lane<k>.key  lane k's (each interface has its own key pair)
 *   door-params-lane<k>.json  lane k's public door parameters (AmneziaWG), made
 *                       once so the catalog and every client config stay valid
 *   sealing-private.key the gateway's X25519 key that opens sealed proxy credentials, made here, never sent
 *   feed.snapshot.json  desired records + revocation tombstones at a revision
 *   feed.journal        feed batches applied since that snapshot, one JSON line each
 *   meter.json          byte counters not yet acknowledged, heartbeat sequence
 *
 * The desired set is never rewritten on every change: each applied batch is
 * one appended, fsynced journal line; the snapshot is rewritten (atomically:
 * temp file, fsync, rename) only when the journal grows large or a full
 * snapshot came from the control plane. A torn last line (crash mid-append)
 * is ignored: the feed delivers those events again.
 */
import { mkdir, readFile, rename, stat, chmod } from 'node:fs/promises';
import path from 'node:path';
import { appendDurably, writeFileDurably } from '../../io/durable-file.js';
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DammError } from '../../core/errors.js';
import type { RawEvent } from './desired.js';
import { generateWireGuardKeyPair, parseSecretKey, publicKeyFromPrivate } from '../wireguard/keys.js';

export const GatewayRegistration = Type.Object(
  {
    controlPlane: Type.String(),
    gatewayId: Type.String(),
    credential: Type.String(),
    scope: Type.String(),
    tunnel: Type.Object({ ipv4Cidr: Type.String(), ipv6Prefix: Type.String(), gatewayIpv4: Type.String(), gatewayIpv6: Type.String() }),
    admissionKeys: Type.Array(Type.Object({ keyid: Type.String(), publicKey: Type.String() })),
    registeredAt: Type.String(),
  },
  { additionalProperties: false },
);
export type GatewayRegistration = Static<typeof GatewayRegistration>;

export interface PersistedFeed {
  revision: number | null;
  records: RawEvent[];
  tombstones: [string, number][];
}

export interface JournalLine {
  revision: number;
  events: RawEvent[];
}


async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

export class StateDir {
  readonly dir: string;
  private journalLines = 0;
  private journalBytes = 0;

  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  private file(name: string): string {
    return path.join(this.dir, name);
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const st = await stat(this.dir);
    if ((st.mode & 0o077) !== 0) await chmod(this.dir, 0o700);
  }

  async loadRegistration(): Promise<GatewayRegistration | null> {
    const text = await readIfExists(this.file('gateway.json'));
    if (text === null) return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (cause) {
      throw new DammError('config_invalid', `${this.file('gateway.json')} is not valid JSON.`, { cause });
    }
    if (!Value.Check(GatewayRegistration, value)) throw new DammError('config_invalid', `${this.file('gateway.json')} is not a DAMM gateway registration.`);
    return value;
  }

  async saveRegistration(reg: GatewayRegistration): Promise<void> {
    await writeFileDurably(this.file('gateway.json'), `${JSON.stringify(reg, null, 2)}\n`);
  }

  /** A lane's WireGuard private key: loaded, or generated here on first start (X25519). Lane 0's file keeps its old name. */
  privateKey(lane = 0): Promise<{ privateKey: string; publicKey: string; created: boolean }> {
    return this.x25519KeyFile(lane === 0 ? 'wg-private.key' : `wg-private-lane${lane}.key`);
  }

  /**
   * The gateway's sealing key (X25519): devices seal their proxy credentials
   * to its public half, which the catalog publishes (src/core/seal.ts). A key
   * of its own, never the WireGuard key: one key, one purpose, and either can
   * be rotated without the other. Loaded, or made here on first start.
   */
  sealingKey(): Promise<{ privateKey: string; publicKey: string; created: boolean }> {
    return this.x25519KeyFile('sealing-private.key');
  }

  private async x25519KeyFile(name: string): Promise<{ privateKey: string; publicKey: string; created: boolean }> {
    const file = this.file(name);
    const existing = await readIfExists(file);
    if (existing !== null) {
      const privateKey = existing.trim();
      return { privateKey, publicKey: publicKeyOf(privateKey), created: false };
    }
    const { privateKey, publicKey } = generateWireGuardKeyPair();
    // Create-only: never overwrite a key another start wrote meanwhile.
    await writeFileDurably(file, `${privateKey}\n`, { onExisting: 'create' });
    return { privateKey, publicKey, created: true };
  }

  /** The desired set at the last snapshot plus the journal since. */
  async loadFeed(): Promise<{ base: PersistedFeed; journal: JournalLine[] }> {
    const snapText = await readIfExists(this.file('feed.snapshot.json'));
    let base: PersistedFeed = { revision: null, records: [], tombstones: [] };
    if (snapText !== null) {
      try {
        const v = JSON.parse(snapText) as PersistedFeed;
        if (Array.isArray(v.records) && Array.isArray(v.tombstones)) base = { revision: typeof v.revision === 'number' ? v.revision : null, records: v.records, tombstones: v.tombstones };
      } catch {
        // unreadable: start from nothing; the feed will send a snapshot
      }
    }
    const journal: JournalLine[] = [];
    const text = (await readIfExists(this.file('feed.journal'))) ?? '';
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        const j = JSON.parse(line) as JournalLine;
        if (typeof j.revision === 'number' && Array.isArray(j.events)) journal.push(j);
      } catch {
        break; // a torn last line
      }
    }
    this.journalLines = journal.length;
    this.journalBytes = text.length;
    return { base, journal };
  }

  async appendJournal(line: JournalLine): Promise<void> {
    const text = `${JSON.stringify(line)}\n`;
    await appendDurably(this.file('feed.journal'), text);
    this.journalLines++;
    this.journalBytes += text.length;
  }

  /** Whether the journal has grown enough to fold into a new snapshot. */
  journalIsLarge(): boolean {
    return this.journalLines >= 2000 || this.journalBytes >= 16 * 1024 * 1024;
  }

  /** Writes a new snapshot, then empties the journal (a crash between the two replays journal lines onto a newer base: harmless, events are idempotent). */
  async saveSnapshot(feed: PersistedFeed): Promise<void> {
    await writeFileDurably(this.file('feed.snapshot.json'), snapshotText(feed));
    await writeFileDurably(this.file('feed.journal'), '');
    this.journalLines = 0;
    this.journalBytes = 0;
  }

  /**
   * A lane's public door parameters: the persisted ones (checked by `check`),
   * or `make()`'s, written create-only on first start. They are signed into
   * the catalog and into every client's config, so they never change by
   * themselves across restarts.
   */
  async laneParams<T>(lane: number, make: () => T, check: (v: unknown) => T): Promise<{ params: T; created: boolean }> {
    const file = this.file(`door-params-lane${lane}.json`);
    const existing = await readIfExists(file);
    if (existing !== null) {
      let value: unknown;
      try {
        value = JSON.parse(existing);
      } catch (cause) {
        throw new DammError('config_invalid', `${file} is not valid JSON; delete it to draw new door parameters (clients then need new configs).`, { cause });
      }
      return { params: check(value), created: false };
    }
    const params = check(make());
    await writeFileDurably(file, `${JSON.stringify(params, null, 2)}\n`, { onExisting: 'create' });
    return { params, created: true };
  }

  /** Heartbeat sequence and per-lane counters ("counters" is lane 0's, as before lanes existed). */
  async loadMeter(): Promise<{ seq: number; counters: unknown; lanes: Record<string, unknown> }> {
    const text = await readIfExists(this.file('meter.json'));
    if (text === null) return { seq: 0, counters: {}, lanes: {} };
    try {
      const v = JSON.parse(text) as { seq?: unknown; counters?: unknown; lanes?: unknown };
      const lanes = typeof v.lanes === 'object' && v.lanes !== null && !Array.isArray(v.lanes) ? (v.lanes as Record<string, unknown>) : {};
      return { seq: typeof v.seq === 'number' ? v.seq : 0, counters: v.counters ?? {}, lanes };
    } catch {
      return { seq: 0, counters: {}, lanes: {} };
    }
  }

  async saveMeter(seq: number, counters: unknown, lanes: Record<string, unknown> = {}): Promise<void> {
    await writeFileDurably(this.file('meter.json'), JSON.stringify({ seq, counters, lanes }));
  }
}

/**
 * The same JSON text as JSON.stringify(feed), in pieces of 1,000 records: at
 * 65,000 peers the whole text is ~50 MB, which the agent need not hold at once.
 */
function* snapshotText(feed: PersistedFeed): Generator<string> {
  yield `{"revision":${JSON.stringify(feed.revision)},"records":[`;
  for (let i = 0; i < feed.records.length; i += 1000) {
    yield (i > 0 ? ',' : '') + feed.records.slice(i, i + 1000).map((r) => JSON.stringify(r)).join(',');
  }
  yield `],"tombstones":${JSON.stringify(feed.tombstones)}}`;
}

/** X25519 public key of a base64 private key. */
export function publicKeyOf(privateKeyB64: string): string {
  return publicKeyFromPrivate(parseSecretKey(privateKeyB64, 'The private key file'));
}
