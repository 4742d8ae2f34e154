/**
 * Backend for kernel WireGuard through the `wg` tool (wireguard-tools). `wg`
 * also speaks UAPI to userspace interfaces, so the same backend drives
 * wireguard-go, which is how it is tested.
 *
 * `wg` is run with an argument array, never through a shell. Secrets travel
 * on stdin only (`private-key /dev/stdin`, `addconf IFACE /dev/stdin`), never
 * in argv (visible in /proc). Batches go through `wg addconf` (each [Peer]
 * section replaces that peer's allowed IPs) and `wg set ... peer K remove`;
 * read-back is `wg show IFACE dump`.
 *
 * Why stdin is not a Node pipe: libuv gives a child's stdio a socketpair,
 * and open("/dev/stdin") on a socket fails with ENXIO, so `wg` cannot fopen
 * it. Stdin is instead an anonymous file in RAM: O_TMPFILE on tmpfs
 * (/dev/shm), which has no name, is readable only through our descriptor,
 * never reaches a disk, is zeroed after use and vanishes when closed, even
 * if this process crashes.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants, ftruncateSync, mkdtempSync, openSync, rmdirSync, statfsSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DammError } from '../../core/errors.js';
import type { ApplySummary, InterfaceConfig, InterfaceState, PeerChanges, PeerSpec, PeerState, WireGuardBackend } from './backend.js';
import PQueue from 'p-queue';
import { applyEncoded, type ApplyEngine, type BatchOutcome, type EncodedChange } from './batch.js';
import { parseSecretKey, presharedKeyDigest } from './keys.js';
import { diffPeers, normalizeChanges, normalizeDesired, type NormalizedChanges, type NormalizedPeer } from './peers.js';
import { toBase64 } from '../../core/bytes.js';
import { parseWireGuardPublicKey } from '../../core/wg-key.js';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Anything in wg's stderr that looks like a key is masked: wg echoes a malformed key back. */
function redactKeys(text: string): string {
  return text.replace(/[A-Za-z0-9+/]{42,43}=/g, '[key]').replace(/[0-9a-f]{64}/gi, '[key]');
}

export interface WgToolBackendOptions {
  interfaceName: string;
  /** Path of the `wg` binary. Default "wg" (looked up in PATH). */
  wgPath?: string;
  /** Per `wg` invocation. Default 30 s. */
  timeoutMs?: number;
  /** Peers per `wg addconf` / `wg set` invocation. Default 2,000 (keeps argv of removals far below ARG_MAX). */
  maxPeersPerRequest?: number;
  /** Stop isolating after this many rejected peers. Default 16. */
  maxRejected?: number;
  /** Refuse output larger than this. Default 256 MiB. */
  maxOutputBytes?: number;
  /** tmpfs directory holding the anonymous stdin files. Default /dev/shm. */
  secretDir?: string;
}

const TMPFS_MAGIC = 0x01021994;
// Linux O_TMPFILE (x86, arm, most architectures); Node does not export it.
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/**
 * A file descriptor for an unnamed file on tmpfs holding `content`, offset 0.
 * O_TMPFILE where supported; otherwise a file created in a private 0700
 * directory and unlinked before anything is written to it.
 */
export function anonymousRamFile(dir: string, content: string): number {
  if (statfsSync(dir).type !== TMPFS_MAGIC) {
    throw new DammError('config_invalid', `${dir} is not tmpfs: refusing to put WireGuard secrets on a disk.`);
  }
  let fd: number;
  try {
    fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o600);
  } catch {
    const tmp = mkdtempSync(join(dir, 'damm-wg-'));
    const path = join(tmp, 'stdin');
    fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    unlinkSync(path);
    rmdirSync(tmp);
  }
  try {
    const bytes = Buffer.from(content, 'utf8');
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off, off);
    bytes.fill(0);
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

export class WgToolBackend implements WireGuardBackend {
  readonly name = 'wg-tool';
  readonly interfaceName: string;
  private readonly wgPath: string;
  private readonly timeoutMs: number;
  private readonly maxOutputBytes: number;
  private readonly secretDir: string;
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly engine: ApplyEngine;
  private closed = false;

  constructor(opts: WgToolBackendOptions) {
    // Also guarantees the name can never be read by `wg` as an option.
    if (!/^[A-Za-z0-9_.=+][A-Za-z0-9_.=+-]{0,14}$/.test(opts.interfaceName)) {
      throw new DammError('invalid_argument', 'interfaceName must be 1-15 characters of [A-Za-z0-9_.=+-], not starting with "-".');
    }
    this.interfaceName = opts.interfaceName;
    this.wgPath = opts.wgPath ?? 'wg';
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxOutputBytes = opts.maxOutputBytes ?? 256 * 1024 * 1024;
    this.secretDir = opts.secretDir ?? '/dev/shm';
    const outcome = (r: RunResult): BatchOutcome =>
      r.code === 0 ? { ok: true } : { ok: false, reason: redactKeys(r.stderr.trim()).slice(0, 300) || `wg exited with ${r.code}` };
    this.engine = {
      backend: this.name,
      maxPerRequest: opts.maxPeersPerRequest ?? 2000,
      maxRejected: opts.maxRejected ?? 16,
      sendRemoves: async (batch) => outcome(await this.run(['set', this.interfaceName, ...batch.flatMap((c) => c.lines)])),
      sendUpserts: async (batch) => {
        const conf = batch.map((c) => `[Peer]\n${c.lines.join('\n')}\n`).join('');
        return outcome(await this.run(['addconf', this.interfaceName, '/dev/stdin'], conf));
      },
      readBack: () => this.readBack(),
    };
  }

  /** Run `wg` with `args` (an array: no shell), optional stdin (see the header), under the timeout. */
  run(args: readonly string[], stdin?: string): Promise<RunResult> {
    const stdinFd = stdin === undefined ? undefined : anonymousRamFile(this.secretDir, stdin);
    let released = stdinFd === undefined;
    const release = (): void => {
      if (released) return;
      released = true;
      try {
        ftruncateSync(stdinFd!, 0);
      } finally {
        closeSync(stdinFd!);
      }
    };
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(this.wgPath, args, { stdio: [stdinFd ?? 'ignore', 'pipe', 'pipe'], shell: false });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let size = 0;
      let failure: DammError | undefined;
      const kill = (e: DammError): void => {
        failure ??= e;
        child.kill('SIGKILL');
      };
      const timer = setTimeout(
        () => kill(new DammError('internal', `wg ${args[0]} on ${this.interfaceName} did not finish within ${this.timeoutMs} ms.`, { details: { wg: 'timeout' } })),
        this.timeoutMs,
      );
      const collect = (into: Buffer[]) => (b: Buffer) => {
        size += b.length;
        if (size > this.maxOutputBytes) kill(new DammError('internal', `wg ${args[0]} output exceeds ${this.maxOutputBytes} bytes.`));
        else into.push(b);
      };
      child.stdout!.on('data', collect(out));
      child.stderr!.on('data', collect(err));
      child.on('error', (e) => {
        clearTimeout(timer);
        release();
        reject(new DammError('internal', `Cannot run ${this.wgPath}: ${(e as NodeJS.ErrnoException).code ?? e.message}.`, { cause: e, details: { wg: 'spawn' } }));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        release();
        if (failure) reject(failure);
        else resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
      });
    });
  }

  private async runOk(args: readonly string[], what: string, stdin?: string): Promise<RunResult> {
    const r = await this.run(args, stdin);
    if (r.code !== 0) {
      throw new DammError('internal', `${what} failed: ${redactKeys(r.stderr.trim()).slice(0, 300) || `wg exited with ${r.code ?? r.signal}`}.`, {
        details: { exitCode: r.code },
      });
    }
    return r;
  }

  private op<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new DammError('internal', `WireGuard backend for ${this.interfaceName} is closed.`));
    return this.queue.add(task);
  }

  async configureInterface(opts: InterfaceConfig): Promise<void> {
    // Kernel WireGuard and `wg` know no AmneziaWG parameters; quietly dropping them would serve a door that matches no client.
    if (opts?.awg !== undefined) throw new DammError('invalid_argument', 'The wg backend (kernel WireGuard) cannot serve an AmneziaWG door: use amneziawg-go with the uapi backend.');
    const key = toBase64(parseSecretKey(opts?.privateKey, 'privateKey'));
    if (!Number.isInteger(opts.listenPort) || opts.listenPort < 0 || opts.listenPort > 65535) {
      throw new DammError('invalid_argument', 'listenPort must be an integer 0..65535.');
    }
    return this.op(async () => {
      await this.runOk(
        ['set', this.interfaceName, 'listen-port', String(opts.listenPort), 'private-key', '/dev/stdin'],
        `Configuring ${this.interfaceName}`,
        `${key}\n`,
      );
    });
  }

  async listPeers(): Promise<InterfaceState> {
    return this.op(() => this.readBack());
  }

  async applyPeers(changes: PeerChanges): Promise<ApplySummary> {
    const normalized = normalizeChanges(changes);
    return this.op(() => this.applyNormalized(normalized));
  }

  async replacePeers(peers: PeerSpec[]): Promise<ApplySummary> {
    const desired = normalizeDesired(peers);
    return this.op(async () => this.applyNormalized(diffPeers(desired, await this.readBack())));
  }

  /** Low level and unchecked: apply already-encoded changes (tests use it to inject a line `wg` refuses). */
  async applyEncoded(changes: EncodedChange[]): Promise<ApplySummary> {
    return this.op(() => applyEncoded(this.engine, changes));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.onIdle();
  }

  private async readBack(): Promise<InterfaceState> {
    const r = await this.runOk(['show', this.interfaceName, 'dump'], `Reading ${this.interfaceName}`);
    return parseWgDump(r.stdout);
  }

  private applyNormalized(changes: NormalizedChanges): Promise<ApplySummary> {
    return applyEncoded(this.engine, [...changes.remove.map(encodeWgRemove), ...changes.upsert.map(encodeWgUpsert)]);
  }
}

/** `wg addconf` lines of one [Peer] section setting it exactly to `spec` (already normalised). */
export function encodeWgUpsert(spec: NormalizedPeer): EncodedChange {
  const lines = [
    `PublicKey = ${spec.publicKey}`,
    // Always sent so an upsert without a PSK clears a previous one (all-zero = none).
    `PresharedKey = ${spec.presharedKey ?? toBase64(new Uint8Array(32))}`,
    `PersistentKeepalive = ${spec.persistentKeepalive === 0 ? 'off' : spec.persistentKeepalive}`,
  ];
  if (spec.endpoint !== undefined) lines.push(`Endpoint = ${spec.endpoint}`);
  // Each [Peer] section of addconf replaces the peer's allowed IPs, so one line with all of them.
  if (spec.allowedIps.length > 0) lines.push(`AllowedIPs = ${spec.allowedIps.join(', ')}`);
  return { action: 'upsert', publicKey: spec.publicKey, spec, lines };
}

/** `wg set` arguments removing one peer. */
export function encodeWgRemove(publicKey: string): EncodedChange {
  return { action: 'remove', publicKey, lines: ['peer', publicKey, 'remove'] };
}

function dumpError(what: string): DammError {
  return new DammError('internal', `wg show dump: ${what}.`);
}

function dumpKey(text: string, what: string): string {
  try {
    return toBase64(parseWireGuardPublicKey(text));
  } catch {
    throw dumpError(`bad ${what}`);
  }
}

function dumpUint(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text)) throw dumpError(`bad ${what}`);
  return Number(text);
}

/**
 * Parse `wg show IFACE dump`: one interface line (private-key public-key
 * listen-port fwmark), then per peer: public-key preshared-key endpoint
 * allowed-ips latest-handshake transfer-rx transfer-tx persistent-keepalive.
 * The private key is read past, never kept.
 */
export function parseWgDump(text: string): InterfaceState {
  const lines = text.split('\n').filter((l) => l !== '');
  const head = lines.shift();
  if (head === undefined) throw dumpError('empty output');
  const hf = head.split('\t');
  if (hf.length !== 4) throw dumpError('bad interface line');
  const state: InterfaceState = { listenPort: dumpUint(hf[2]!, 'listen-port'), peers: [] };
  if (hf[1] !== '(none)') state.publicKey = dumpKey(hf[1]!, 'interface public key');
  for (const line of lines) {
    const f = line.split('\t');
    if (f.length !== 8) throw dumpError('bad peer line');
    const [pub, psk, endpoint, allowed, handshake, rx, tx, keepalive] = f as [string, string, string, string, string, string, string, string];
    if (!/^\d{1,20}$/.test(rx) || !/^\d{1,20}$/.test(tx)) throw dumpError('bad transfer counters');
    const peer: PeerState = {
      publicKey: dumpKey(pub, 'peer public key'),
      allowedIps: allowed === '(none)' ? [] : allowed.split(','),
      persistentKeepalive: keepalive === 'off' ? 0 : dumpUint(keepalive, 'persistent-keepalive'),
      lastHandshakeMs: dumpUint(handshake, 'latest-handshake') * 1000,
      rxBytes: BigInt(rx),
      txBytes: BigInt(tx),
    };
    if (psk !== '(none)') {
      let bytes: Uint8Array;
      try {
        bytes = parseSecretKey(psk, 'preshared key', { allowZero: true });
      } catch {
        throw dumpError('bad preshared key');
      }
      const digest = presharedKeyDigest(bytes);
      bytes.fill(0);
      if (digest !== undefined) peer.presharedKeyDigest = digest;
    }
    if (endpoint !== '(none)') peer.endpoint = endpoint;
    state.peers.push(peer);
  }
  return state;
}
