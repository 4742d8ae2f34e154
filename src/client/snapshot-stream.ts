/**
 * Reads a gateway snapshot (NDJSON, core/feed-api.ts) as it arrives: lines
 * are split off the byte stream, each is parsed and schema-checked on its
 * own, and records are handed on in batches, so a reader never holds the
 * whole answer. The header must come first and the trailer last, with the
 * header's revision and the number of records that came before it: only
 * then does the iteration end normally. A stream cut off anywhere, or one
 * whose trailer does not add up, throws, so a caller that commits only after
 * the loop never takes a partial snapshot for a complete one.
 */
import { StringDecoder } from 'node:string_decoder';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import '../core/formats.js';
import { DammError } from '../core/errors.js';
import { MAX_SNAPSHOT_LINE_BYTES, SnapshotHeader, SnapshotRecord, SnapshotTrailer } from '../core/feed-api.js';
import { Unreachable } from './http.js';

const isHeader = TypeCompiler.Compile(SnapshotHeader);
const isRecord = TypeCompiler.Compile(SnapshotRecord);
const isTrailer = TypeCompiler.Compile(SnapshotTrailer);

export interface SnapshotStream {
  /** The feed revision the snapshot is consistent at (from its first line). */
  revision: number;
  /** Records in batches of at most `batchSize`; ends normally only after a matching trailer. */
  batches: AsyncIterable<SnapshotRecord[]>;
}

/** Splits a byte stream into lines (without the newline); refuses a line longer than `maxBytes`. */
export async function* ndjsonLines(chunks: AsyncIterable<Buffer | string>, maxBytes = MAX_SNAPSHOT_LINE_BYTES): AsyncGenerator<string> {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  for await (const chunk of chunks) {
    pending += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let start = 0;
    for (let nl = pending.indexOf('\n'); nl !== -1; nl = pending.indexOf('\n', start)) {
      const line = pending.slice(start, nl);
      start = nl + 1;
      if (line.length > 0) yield line;
    }
    pending = pending.slice(start);
    if (pending.length > maxBytes) throw new DammError('internal', `A snapshot line is longer than ${maxBytes} bytes.`);
  }
  pending += decoder.end();
  if (pending.length > 0) yield pending; // the caller decides whether an unterminated last line is acceptable
}

function parseLine(line: string, n: number): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw new DammError('internal', `Snapshot line ${n} is not JSON.`);
  }
}

/** Opens a snapshot stream: reads its first line (the header) now, the rest as `batches` is iterated. */
export async function readSnapshotStream(chunks: AsyncIterable<Buffer | string>, o: { batchSize?: number } = {}): Promise<SnapshotStream> {
  const batchSize = o.batchSize ?? 1000;
  const lines = ndjsonLines(chunks)[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Unreachable('The snapshot ended before its first line.');
  const header = parseLine(first.value, 1);
  if (!isHeader.Check(header)) {
    await lines.return?.(undefined);
    throw new DammError('internal', 'The snapshot does not start with its header line ({"revision":N}).');
  }
  const revision = header.revision;
  async function* batches(): AsyncGenerator<SnapshotRecord[]> {
    let count = 0;
    let batch: SnapshotRecord[] = [];
    let trailer: SnapshotTrailer | null = null;
    try {
      for (let r = await lines.next(); !r.done; r = await lines.next()) {
        const lineNo = count + 2;
        if (trailer) throw new DammError('internal', `The snapshot goes on after its trailer (line ${lineNo}).`);
        const v = parseLine(r.value, lineNo);
        if (isRecord.Check(v)) {
          if (v.revision > revision) throw new DammError('internal', `Snapshot record at line ${lineNo} has revision ${v.revision}, after the snapshot's ${revision}.`);
          count++;
          batch.push(v);
          if (batch.length >= batchSize) {
            yield batch;
            batch = [];
          }
        } else if (isTrailer.Check(v)) {
          trailer = v;
        } else {
          throw new DammError('internal', `Snapshot line ${lineNo} is neither a record nor the trailer.`);
        }
      }
    } finally {
      await lines.return?.(undefined);
    }
    if (!trailer) throw new Unreachable(`The snapshot at revision ${revision} was cut off after ${count} records (no trailer line): refusing it.`);
    if (trailer.revision !== revision || trailer.count !== count) {
      throw new DammError('internal', `The snapshot's trailer says ${trailer.count} records at revision ${trailer.revision}; ${count} came at revision ${revision}: refusing it.`);
    }
    if (batch.length > 0) yield batch;
  }
  return { revision, batches: batches() };
}

/** A whole snapshot read from text or chunks (tests, small tools): the records and the revision, checked the same way. */
export async function collectSnapshot(chunks: AsyncIterable<Buffer | string> | string): Promise<{ revision: number; records: SnapshotRecord[] }> {
  const source = typeof chunks === 'string' ? (async function* () { yield chunks; })() : chunks;
  const s = await readSnapshotStream(source);
  const records: SnapshotRecord[] = [];
  for await (const b of s.batches) records.push(...b);
  return { revision: s.revision, records };
}
