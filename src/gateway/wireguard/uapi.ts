/**
 * WireGuard cross-platform userspace API (UAPI) spoken directly over the
 * daemon's unix socket (wireguard-go, amneziawg-go): https://www.wireguard.com/xplatform/
 *
 * What wireguard-go (0.0.20220316) does, and why this client is shaped so:
 * - `set=1` is applied line by line, not atomically, and answers `errno=0`
 *   or e.g. `errno=-22` at the first bad line (earlier peers stay applied).
 * - Its set parser reads ahead from the connection, so a second request
 *   written before the first one's answer is swallowed and the client hangs;
 *   after an error it may also close the connection mid-request. Hence: one
 *   request at a time (a queue), every request under a timeout, and one
 *   connection per request. Reusing a connection would be safe only while
 *   every answer is errno=0, and saves ~0.05 ms per request (measured: 0.10
 *   vs 0.05 ms for an empty get), which batching makes irrelevant; a fresh
 *   connection never inherits a half-read request or a restarted daemon.
 * - Keys are lowercase hex on the wire; base64 everywhere else in DAMM.
 * - `get=1` returns the private key: it is turned into the public key at once
 *   and never stored, returned or logged.
 *
 * amneziawg-go (v0.2.19) speaks the same protocol with device-level keys of
 * its own (jc jmin jmax s1-s4 h1-h4 i1-i5, core/amneziawg.ts) and its socket
 * in /var/run/amneziawg: the same client drives it, given that directory.
 * Its `get=1` reports those keys back (zero values and an empty I1 omitted),
 * so drift repair compares them like the key and port. It checks the four
 * headers for overlap only at the end of a request, after applying them, so
 * parameters are validated here before they are sent.
 */
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { DammError } from '../../core/errors.js';
import { awgUapiLines, validateAwgParams, type AwgParams } from '../../core/amneziawg.js';
import type { ApplySummary, InterfaceConfig, InterfaceState, PeerChanges, PeerSpec, PeerState, WireGuardBackend } from './backend.js';
import PQueue from 'p-queue';
import { applyEncoded, type ApplyEngine, type BatchOutcome, type EncodedChange } from './batch.js';
import { hexToBase64, hexToBytes, presharedKeyDigest, publicKeyFromPrivate, publicKeyToHex, secretKeyToHex } from './keys.js';
import { diffPeers, normalizeChanges, normalizeDesired, type NormalizedChanges, type NormalizedPeer } from './peers.js';

export const DEFAULT_UAPI_SOCKET_DIR = '/var/run/wireguard';
/** Where amneziawg-go puts its UAPI sockets (ipc/uapi_unix.go). */
export const AMNEZIAWG_UAPI_SOCKET_DIR = '/var/run/amneziawg';

const ERRNO_NAMES: Record<number, string> = {
  [-5]: 'EIO',
  [-22]: 'EINVAL (bad line)',
  [-55]: 'unknown error',
  [-71]: 'EPROTO (malformed request)',
  [-98]: 'EADDRINUSE (listen port in use)',
};

export function describeErrno(errno: number): string {
  return `errno=${errno}${ERRNO_NAMES[errno] ? ` ${ERRNO_NAMES[errno]}` : ''}`;
}

/** Why a UAPI request failed without an errno, in `DammError.details.uapi`. */
export type UapiFailure = 'unreachable' | 'timeout' | 'closed' | 'protocol' | 'too_large';

function uapiError(failure: UapiFailure, message: string, cause?: unknown): DammError {
  return new DammError('internal', message, { cause, details: { uapi: failure } });
}

export function uapiFailureOf(err: unknown): UapiFailure | undefined {
  if (err instanceof DammError && typeof err.details?.['uapi'] === 'string') return err.details['uapi'] as UapiFailure;
  return undefined;
}

export interface UapiClientOptions {
  socketPath: string;
  /** Per request, connect to last byte of the answer. Default 15 s (a 5,000-peer set takes well under 1 s). */
  timeoutMs?: number;
  /** Refuse answers larger than this (a get of 10,000 peers is about 3 MB). Default 256 MiB. */
  maxResponseBytes?: number;
}

interface RawAnswer {
  errno: number;
  /** The answer's lines before `errno=`. */
  lines: string[];
}

/** Low-level UAPI client: serialised requests, one connection each, each with a timeout. */
export class UapiClient {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly queue = new PQueue({ concurrency: 1 });

  constructor(opts: UapiClientOptions) {
    this.socketPath = opts.socketPath;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
    this.maxResponseBytes = opts.maxResponseBytes ?? 256 * 1024 * 1024;
  }

  /** Full device read-back, parsed. */
  async get(): Promise<InterfaceState> {
    const answer = await this.request('get=1\n\n', 'get');
    if (answer.errno !== 0) {
      throw new DammError('internal', `UAPI get on ${this.socketPath} failed: ${describeErrno(answer.errno)}.`, { details: { errno: answer.errno } });
    }
    return parseUapiGet(answer.lines);
  }

  /**
   * Send one `set=1` request made of `lines` (no trailing blank line) and
   * return the daemon's errno (0 = applied). Throws only when no errno came
   * back: see `uapiFailureOf(err)`.
   */
  async set(lines: readonly string[]): Promise<number> {
    for (const line of lines) {
      if (line.includes('\n') || line === '') throw new DammError('invalid_argument', 'UAPI lines must be non-empty and single-line.');
    }
    const answer = await this.request(`set=1\n${lines.join('\n')}${lines.length ? '\n' : ''}\n`, 'set');
    if (answer.lines.length !== 0) throw uapiError('protocol', `UAPI set on ${this.socketPath}: unexpected answer lines.`);
    return answer.errno;
  }

  private request(payload: string, op: 'get' | 'set'): Promise<RawAnswer> {
    return this.queue.add(() => this.exchange(payload, op));
  }

  private exchange(payload: string, op: 'get' | 'set'): Promise<RawAnswer> {
    return new Promise<RawAnswer>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let last2 = ''; // last two bytes seen, to spot the blank line ending an answer
      let connected = false;
      let settled = false;
      const socket = createConnection({ path: this.socketPath });
      const finish = (err: Error | null, answer?: RawAnswer): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) reject(err);
        else resolve(answer!);
      };
      const timer = setTimeout(() => {
        finish(uapiError('timeout', `UAPI ${op} on ${this.socketPath} got no answer within ${this.timeoutMs} ms.`));
      }, this.timeoutMs);
      socket.on('connect', () => {
        connected = true;
        socket.write(payload);
      });
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        size += chunk.length;
        if (size > this.maxResponseBytes) {
          finish(uapiError('too_large', `UAPI ${op} answer on ${this.socketPath} exceeds ${this.maxResponseBytes} bytes.`));
          return;
        }
        last2 = (last2 + chunk.subarray(Math.max(0, chunk.length - 2)).toString('latin1')).slice(-2);
        if (last2 !== '\n\n') return;
        try {
          finish(null, parseAnswer(Buffer.concat(chunks, size).toString('utf8')));
        } catch (err) {
          finish(err as Error);
        }
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!connected) {
          finish(uapiError('unreachable', `Cannot reach WireGuard UAPI socket ${this.socketPath} (${err.code ?? err.message}).`, err));
        } else {
          finish(uapiError('closed', `UAPI ${op} on ${this.socketPath}: connection failed before the answer (${err.code ?? err.message}).`, err));
        }
      });
      socket.on('close', () => {
        finish(uapiError('closed', `UAPI ${op} on ${this.socketPath}: daemon closed the connection before answering.`));
      });
    });
  }
}

function parseAnswer(text: string): RawAnswer {
  const lines = text.slice(0, -2).split('\n');
  const last = lines.pop() ?? '';
  const m = /^errno=(-?\d+)$/.exec(last);
  if (!m) throw uapiError('protocol', 'UAPI answer does not end with an errno line.');
  return { errno: Number(m[1]), lines };
}

function protocolError(what: string): DammError {
  return uapiError('protocol', `UAPI get: ${what}.`);
}

function parseUint(value: string, what: string): number {
  if (!/^\d{1,15}$/.test(value)) throw protocolError(`bad ${what}`);
  return Number(value);
}

const AWG_NUMERIC_KEYS = new Set(['jc', 'jmin', 'jmax', 's1', 's2', 's3', 's4']);
const AWG_HEADER_KEYS = new Set(['h1', 'h2', 'h3', 'h4']);

/** What amneziawg-go reports for a key it omits: zero, its default header (the WireGuard type), no I1. */
function awgDefaults(): AwgParams {
  return { jc: 0, jmin: 0, jmax: 0, s1: 0, s2: 0, s3: 0, s4: 0, h1: '1', h2: '2', h3: '3', h4: '4', i1: null };
}

/**
 * Parse the lines of a `get=1` answer (without the errno line). AmneziaWG's
 * device keys fill `state.awg` (i2-i5 are not used by DAMM and ignored, as
 * are unknown keys).
 */
export function parseUapiGet(lines: readonly string[]): InterfaceState {
  const state: InterfaceState = { listenPort: 0, peers: [] };
  let peer: PeerState | undefined;
  let hsSec = 0;
  let hsNsec = 0;
  const closePeer = (): void => {
    if (peer) peer.lastHandshakeMs = hsSec * 1000 + Math.floor(hsNsec / 1e6);
  };
  for (const line of lines) {
    const eq = line.indexOf('=');
    if (eq <= 0) throw protocolError('line without key=value');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    if (key === 'public_key') {
      closePeer();
      const publicKey = hexToBase64(value);
      if (!publicKey) throw protocolError('bad public_key');
      peer = { publicKey, allowedIps: [], persistentKeepalive: 0, lastHandshakeMs: 0, rxBytes: 0n, txBytes: 0n };
      hsSec = 0;
      hsNsec = 0;
      state.peers.push(peer);
      continue;
    }
    if (!peer) {
      if (key === 'private_key') {
        const priv = hexToBytes(value);
        if (!priv) throw protocolError('bad private_key');
        if (priv.some((b) => b !== 0)) state.publicKey = publicKeyFromPrivate(priv);
        priv.fill(0);
      } else if (key === 'listen_port') {
        state.listenPort = parseUint(value, 'listen_port');
      } else if (AWG_NUMERIC_KEYS.has(key)) {
        (state.awg ??= awgDefaults())[key as 'jc'] = parseUint(value, key);
      } else if (AWG_HEADER_KEYS.has(key)) {
        if (!/^\d{1,10}(-\d{1,10})?$/.test(value)) throw protocolError(`bad ${key}`);
        (state.awg ??= awgDefaults())[key as 'h1'] = value;
      } else if (key === 'i1') {
        (state.awg ??= awgDefaults()).i1 = value === '' ? null : value;
      }
      continue;
    }
    switch (key) {
      case 'preshared_key': {
        const psk = hexToBytes(value);
        if (!psk) throw protocolError('bad preshared_key');
        const digest = presharedKeyDigest(psk);
        psk.fill(0);
        if (digest !== undefined) peer.presharedKeyDigest = digest;
        else delete peer.presharedKeyDigest;
        break;
      }
      case 'endpoint':
        peer.endpoint = value;
        break;
      case 'allowed_ip':
        peer.allowedIps.push(value);
        break;
      case 'last_handshake_time_sec':
        hsSec = parseUint(value, key);
        break;
      case 'last_handshake_time_nsec':
        hsNsec = parseUint(value, key);
        break;
      case 'rx_bytes':
      case 'tx_bytes': {
        if (!/^\d{1,20}$/.test(value)) throw protocolError(`bad ${key}`);
        if (key === 'rx_bytes') peer.rxBytes = BigInt(value);
        else peer.txBytes = BigInt(value);
        break;
      }
      case 'persistent_keepalive_interval':
        peer.persistentKeepalive = parseUint(value, key);
        break;
      default:
        break; // protocol_version, and fields of forks we do not use
    }
  }
  closePeer();
  return state;
}

/** UAPI lines setting a peer exactly to `spec` (already normalised). */
export function encodeUapiUpsert(spec: NormalizedPeer): EncodedChange {
  const lines = [
    `public_key=${publicKeyToHex(spec.publicKey)}`,
    'replace_allowed_ips=true',
    // Always sent so an upsert without a PSK clears a previous one (all-zero = none).
    `preshared_key=${spec.presharedKey === undefined ? '0'.repeat(64) : secretKeyToHex(spec.presharedKey, 'presharedKey')}`,
    `persistent_keepalive_interval=${spec.persistentKeepalive}`,
  ];
  if (spec.endpoint !== undefined) lines.push(`endpoint=${spec.endpoint}`);
  for (const ip of spec.allowedIps) lines.push(`allowed_ip=${ip}`);
  return { action: 'upsert', publicKey: spec.publicKey, spec, lines };
}

export function encodeUapiRemove(publicKey: string): EncodedChange {
  return { action: 'remove', publicKey, lines: [`public_key=${publicKeyToHex(publicKey)}`, 'remove=true'] };
}

export interface UapiBackendOptions {
  /** Interface name; the socket is `${socketDir}/${interfaceName}.sock` unless `socketPath` is given. */
  interfaceName: string;
  socketDir?: string;
  socketPath?: string;
  timeoutMs?: number;
  /** Peers per set request. Default 5,000. */
  maxPeersPerRequest?: number;
  /** Stop isolating after this many rejected peers; the rest of the batch is reported not applied. Default 16. */
  maxRejected?: number;
}

export class UapiBackend implements WireGuardBackend {
  readonly name = 'uapi';
  readonly interfaceName: string;
  /** The underlying client, for tools and tests that need raw requests. */
  readonly client: UapiClient;
  private readonly queue = new PQueue({ concurrency: 1 });
  private readonly engine: ApplyEngine;
  private closed = false;

  constructor(opts: UapiBackendOptions) {
    if (!/^[A-Za-z0-9_.=+-]{1,15}$/.test(opts.interfaceName)) {
      throw new DammError('invalid_argument', 'interfaceName must be 1-15 characters of [A-Za-z0-9_.=+-].');
    }
    this.interfaceName = opts.interfaceName;
    const socketPath = opts.socketPath ?? join(opts.socketDir ?? DEFAULT_UAPI_SOCKET_DIR, `${opts.interfaceName}.sock`);
    this.client = new UapiClient(opts.timeoutMs === undefined ? { socketPath } : { socketPath, timeoutMs: opts.timeoutMs });
    const send = async (batch: EncodedChange[]): Promise<BatchOutcome> => {
      try {
        const errno = await this.client.set(batch.flatMap((c) => c.lines));
        return errno === 0 ? { ok: true } : { ok: false, reason: describeErrno(errno) };
      } catch (err) {
        // wireguard-go may hang up mid-request after a bad line instead of answering: a rejection, not an outage.
        if (uapiFailureOf(err) === 'closed') return { ok: false, reason: 'daemon closed the connection mid-request' };
        throw err;
      }
    };
    this.engine = {
      backend: this.name,
      maxPerRequest: opts.maxPeersPerRequest ?? 5000,
      maxRejected: opts.maxRejected ?? 16,
      sendRemoves: send,
      sendUpserts: send,
      readBack: () => this.client.get(),
    };
  }

  private op<T>(task: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new DammError('internal', `WireGuard backend for ${this.interfaceName} is closed.`));
    return this.queue.add(task);
  }

  async configureInterface(opts: InterfaceConfig): Promise<void> {
    const keyHex = secretKeyToHex(opts?.privateKey, 'privateKey');
    if (!Number.isInteger(opts.listenPort) || opts.listenPort < 0 || opts.listenPort > 65535) {
      throw new DammError('invalid_argument', 'listenPort must be an integer 0..65535.');
    }
    // Validated before anything is sent: amneziawg-go applies header lines before it checks them for overlap.
    const awg = opts.awg === undefined ? [] : awgUapiLines(validateAwgParams(opts.awg));
    return this.op(async () => {
      // One request: a daemon that restarted gets key, port and parameters back together.
      const errno = await this.client.set([`private_key=${keyHex}`, `listen_port=${opts.listenPort}`, ...awg]);
      if (errno !== 0) {
        throw new DammError('internal', `Configuring ${this.interfaceName} failed: ${describeErrno(errno)}.`, { details: { errno } });
      }
    });
  }

  async listPeers(): Promise<InterfaceState> {
    return this.op(() => this.client.get());
  }

  async applyPeers(changes: PeerChanges): Promise<ApplySummary> {
    const normalized = normalizeChanges(changes);
    return this.op(() => this.applyNormalized(normalized));
  }

  async replacePeers(peers: PeerSpec[]): Promise<ApplySummary> {
    const desired = normalizeDesired(peers);
    return this.op(async () => this.applyNormalized(diffPeers(desired, await this.client.get())));
  }

  /** Low level and unchecked: apply already-encoded changes (tests use it to inject a line WireGuard refuses). */
  async applyEncoded(changes: EncodedChange[]): Promise<ApplySummary> {
    return this.op(() => applyEncoded(this.engine, changes));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.queue.onIdle();
  }

  private applyNormalized(changes: NormalizedChanges): Promise<ApplySummary> {
    return applyEncoded(this.engine, [...changes.remove.map(encodeUapiRemove), ...changes.upsert.map(encodeUapiUpsert)]);
  }
}
