/**
 * The one way DAMM puts a file on disk so that a crash or a power cut leaves
 * either the old contents or the new, never a torn file, and so that a file
 * it reported as written is really there after a reboot:
 *
 *   write a temporary file beside the target, fsync it, move it into place
 *   (rename to replace, link to create-only), fsync the directory.
 *
 * Without the directory fsync the rename itself may be lost on power failure
 * (ext4 data=ordered makes that rare, other filesystems do not), so every
 * writer goes through here rather than through its own copy.
 */
import { link, open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

export interface DurableWriteOptions {
  /** File mode of the new file (default 0600: DAMM's files are mostly secrets). */
  mode?: number;
  /**
   * 'replace' (default) atomically replaces an existing file; 'create' refuses
   * an existing one with the EEXIST error of the filesystem, so two processes
   * racing to create a key can never overwrite each other's.
   */
  onExisting?: 'replace' | 'create';
}

/** A file's contents: whole, or as pieces written one after another (a large file never held as one string). */
export type FileData = string | Uint8Array | Iterable<string>;

export async function writeFileDurably(file: string, data: FileData, opts: DurableWriteOptions = {}): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await writeNewFileSynced(tmp, data, opts.mode ?? 0o600);
    if (opts.onExisting === 'create') {
      await link(tmp, file);
      await unlink(tmp);
    } else {
      await rename(tmp, file);
    }
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fsyncDir(path.dirname(file));
}

/**
 * Creates `file` (it must not exist), writes all of `data`, fsyncs and
 * closes it: the first step of a durable write, for callers that take the
 * steps one by one (the client trust store, whose tests crash it between them).
 */
export async function writeNewFileSynced(file: string, data: FileData, mode = 0o600): Promise<void> {
  const fh = await open(file, 'wx', mode);
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) await fh.writeFile(data);
    else for (const piece of data) await fh.write(piece);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Appends and fsyncs: a journal line is on disk when this resolves (a torn last line is the reader's to skip). */
export async function appendDurably(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const fh = await open(file, 'a', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a directory entry change (create, rename, unlink) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  // Directories cannot be opened for fsync on Windows; NTFS journals renames itself.
  if (process.platform === 'win32') return;
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
