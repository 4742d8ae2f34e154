/**
 * The plaintext container inside a DAMM backup (which is only ever written
 * age-encrypted). A stream of frames:
 *
 *   DAMM-BACKUP 1\n
 *   {"type":...,"size":N,...}\n  followed by N body bytes      (repeated)
 *
 * Frame types, in order: "begin"; per table "table" (columns), any number of
 * "rows" (NDJSON body, one JSON array of column texts per row) and
 * "table-end"; "file" per key/root file; then "manifest" (JSON body: counts
 * and sha256 of every part) and "end". The manifest comes last because it
 * describes what was streamed; a restore reads the archive completely and
 * checks it against the manifest before it changes anything.
 */
import { DammError } from '../core/errors.js';

export const MAGIC = 'DAMM-BACKUP 1\n';
export const FORMAT = 'damm-backup/1';
const MAX_HEADER = 64 * 1024;
/** No single frame body is larger than this (rows are batched well below it). */
export const MAX_FRAME_BODY = 64 * 1024 * 1024;

export interface FrameHeader {
  type: 'begin' | 'table' | 'rows' | 'table-end' | 'file' | 'manifest' | 'end';
  size?: number;
  [k: string]: unknown;
}

const enc = new TextEncoder();

export function frame(header: FrameHeader, body?: Uint8Array): Uint8Array[] {
  const h = enc.encode(`${JSON.stringify({ ...header, size: body?.length ?? 0 })}\n`);
  return body && body.length ? [h, body] : [h];
}

function damaged(message: string): DammError {
  return new DammError('invalid_argument', `The backup archive is not a valid DAMM backup: ${message}`);
}

/** Reads lines and exact byte counts from a stream of chunks. */
export class FrameReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const { value, done } = await this.#reader.read();
    if (done) {
      this.#done = true;
      return false;
    }
    const next = new Uint8Array(this.#buf.length + value.length);
    next.set(this.#buf, 0);
    next.set(value, this.#buf.length);
    this.#buf = next;
    return true;
  }

  async #line(max: number): Promise<string | null> {
    for (;;) {
      const i = this.#buf.indexOf(10);
      if (i >= 0) {
        const line = new TextDecoder('utf-8', { fatal: true }).decode(this.#buf.subarray(0, i));
        this.#buf = this.#buf.subarray(i + 1);
        return line;
      }
      if (this.#buf.length > max) throw damaged('a header line is too long.');
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return null;
        throw damaged('it ends in the middle of a header.');
      }
    }
  }

  async #bytes(n: number): Promise<Uint8Array> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) throw damaged('it ends in the middle of a part.');
    }
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async magic(): Promise<void> {
    const line = await this.#line(64);
    if (`${line}\n` !== MAGIC) throw damaged('wrong magic (not a DAMM backup, or a newer format).');
  }

  /** The next frame, or null at the end of the stream. */
  async next(): Promise<{ header: FrameHeader; body: Uint8Array } | null> {
    const line = await this.#line(MAX_HEADER);
    if (line === null) return null;
    let header: FrameHeader;
    try {
      header = JSON.parse(line) as FrameHeader;
    } catch {
      throw damaged('a frame header is not JSON.');
    }
    const size = header.size ?? 0;
    if (typeof header.type !== 'string' || !Number.isSafeInteger(size) || size < 0 || size > MAX_FRAME_BODY) throw damaged('a frame header is malformed.');
    return { header, body: size ? await this.#bytes(size) : new Uint8Array(0) };
  }

  async close(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}
