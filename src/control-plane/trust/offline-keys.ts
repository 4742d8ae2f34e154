/**
 * Offline root keys: one JSON file per key (mode 0600), created by
 * `damm init` under <dataDir>/offline-root/ and meant to be moved off the
 * machine at once. Only the `damm keys` commands read them, and only from a
 * path the operator names with --root-key; `damm serve` never does.
 */
import { mkdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileDurably } from '../../io/durable-file.js';
import { fromBase64, toBase64 } from '../../core/bytes.js';
import { generateSigningKey, keyIdOf, signingKeyFromSeed, type SigningKey } from '../../core/envelope.js';
import { DammError } from '../../core/errors.js';

export const ROOT_KEY_FORMAT = 'damm-root-key/1';
export const OFFLINE_ROOT_DIR = 'offline-root';

interface RootKeyFileBody {
  format: typeof ROOT_KEY_FORMAT;
  role: 'root';
  keyid: string;
  publicKey: string;
  seed: string;
  createdAt: string;
}

export function offlineRootDir(dataDir: string): string {
  return path.join(dataDir, OFFLINE_ROOT_DIR);
}

export function rootKeyFileName(key: SigningKey): string {
  return `root-${key.keyid.slice(0, 16)}.key`;
}

/** Writes a new root key file (refuses to overwrite), fsynced, mode 0600. */
export async function writeRootKeyFile(dir: string, key: SigningKey, now: Date): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, rootKeyFileName(key));
  const body: RootKeyFileBody = {
    format: ROOT_KEY_FORMAT,
    role: 'root',
    keyid: key.keyid,
    publicKey: toBase64(key.publicKey),
    seed: toBase64(key.privateKey),
    createdAt: now.toISOString(),
  };
  await writeFileDurably(file, `${JSON.stringify(body, null, 2)}\n`, { onExisting: 'create' });
  return file;
}

export function generateRootKey(): SigningKey {
  return generateSigningKey();
}

/** Reads a root key named on the command line; every problem is a sentence naming the file. */
export async function readRootKeyFile(file: string): Promise<SigningKey> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new DammError('invalid_argument', code === 'ENOENT' ? `Root key file ${file} does not exist.` : `Root key file ${file} cannot be read (${code ?? 'error'}).`, { cause });
  }
  let body: Partial<RootKeyFileBody>;
  try {
    body = JSON.parse(text) as Partial<RootKeyFileBody>;
  } catch (cause) {
    throw new DammError('invalid_argument', `Root key file ${file} is not JSON.`, { cause });
  }
  if (body?.format !== ROOT_KEY_FORMAT || body.role !== 'root') {
    throw new DammError('invalid_argument', `${file} is not a DAMM root key (an online key file cannot sign roots).`);
  }
  const seed = typeof body.seed === 'string' ? fromBase64(body.seed) : null;
  if (!seed || seed.length !== 32) throw new DammError('invalid_argument', `Root key file ${file} has no valid seed.`);
  const key = signingKeyFromSeed(seed);
  if (body.keyid !== undefined && body.keyid !== keyIdOf(key.publicKey)) {
    throw new DammError('invalid_argument', `Root key file ${file} is damaged: its key id does not match its seed.`);
  }
  try {
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) process.emitWarning(`root key file ${file} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
  } catch {
    /* already read it */
  }
  return key;
}
