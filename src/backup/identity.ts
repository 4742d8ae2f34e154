/**
 * age identities (private) and recipients (public) for backups. Files use
 * the `age-keygen` layout, so the real `age` tool can open DAMM backups and
 * `age-keygen` output works as a DAMM identity:
 *
 *   # created: 2026-01-01T00:00:00Z
 *   # public key: age1...
 *   AGE-SECRET-KEY-1...
 */
import { open, readFile } from 'node:fs/promises';
import { writeFileDurably } from '../io/durable-file.js';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { DammError } from '../core/errors.js';

export interface GeneratedIdentity {
  identity: string;
  recipient: string;
  /** The whole file text, age-keygen style. */
  text: string;
}

export async function generateBackupIdentity(now = new Date()): Promise<GeneratedIdentity> {
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  return { identity, recipient, text: `# created: ${now.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n# public key: ${recipient}\n${identity}\n` };
}

/** Writes an identity file that must not exist yet, mode 0600. */
export async function writeIdentityFile(file: string, text: string): Promise<void> {
  try {
    await writeFileDurably(file, text, { onExisting: 'create' });
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'EEXIST') throw new DammError('conflict', `${file} already exists; not overwriting an identity.`, { cause });
    throw cause;
  }
}

/** The identities in an age identity file (comments and blank lines ignored). */
export async function readIdentityFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new DammError('invalid_argument', code === 'ENOENT' ? `Identity file ${file} does not exist.` : `Identity file ${file} cannot be read (${code ?? 'error'}).`, { cause });
  }
  const ids = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  if (ids.length === 0 || !ids.every((l) => /^AGE-SECRET-KEY-(PQ-)?1[0-9A-Z]+$/.test(l))) {
    throw new DammError('invalid_argument', `${file} is not an age identity file (expected lines starting AGE-SECRET-KEY-1...).`);
  }
  return ids;
}

/** Recipients from a file: one per line, comments allowed (age -R style). */
export async function readRecipientsFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new DammError('invalid_argument', `Recipients file ${file} cannot be read.`, { cause });
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
}
