/**
 * First use of a data directory + store: the online keys and root version 1.
 *
 * When the store has no root yet, `initTrust` creates the offline root role
 * (n keys, threshold t) in <dataDir>/offline-root/, signs root v1 certifying
 * this data directory's online catalog and admission keys (each with a
 * validity window), and publishes it. When the store already has a root it
 * changes nothing and only reports (a second control-plane host, a restart,
 * a restored store).
 *
 * Crash safety: the root keys and the signed root v1 are written to a temp
 * directory that is renamed to offline-root/ in one step, BEFORE root v1 is
 * published; a re-run that finds offline-root/root-1.json but no published
 * root publishes that same root (never a second, different v1).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, writeFileDurably } from '../../io/durable-file.js';
import type { Envelope } from '../../core/envelope.js';
import { DammError } from '../../core/errors.js';
import { buildRoot, keyValidFor, roleKeys, signRoot, trustRoot, ONLINE_ROLES, type VerifiedRoot } from '../../core/trust/index.js';
import type { Db } from '../../store/db.js';
import { createOnlineKey, keysDir, readOnlineKeyFiles, type OnlineKeyFile } from '../keyring.js';
import { generateRootKey, offlineRootDir, rootKeyFileName, writeRootKeyFile } from './offline-keys.js';
import { getRoot, latestRootVersion, loadVerifiedChain, publishRoot } from './roots.js';

export const DAY = 86400;
export const DEFAULT_ROOT_VALIDITY_SECONDS = 365 * DAY;
export const DEFAULT_KEY_VALIDITY_SECONDS = 365 * DAY;
export const ROOT_V1_FILE = 'root-1.json';

export interface InitTrustOptions {
  db: Db;
  dataDir: string;
  now: Date;
  rootKeys?: number;
  rootThreshold?: number;
  rootValiditySeconds?: number;
  keyValiditySeconds?: number;
  say?: (line: string) => void;
  /** Who the audit log names. */
  actor?: string;
}

export interface InitTrustResult {
  created: boolean;
  root: VerifiedRoot;
  /** sha256 (hex) of root v1's payload: what clients pin. */
  pinSha256: string;
  offlineRootDir: string | null;
  rootKeyFiles: string[];
}

function checkCounts(n: number, t: number): void {
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new DammError('invalid_argument', '--root-keys must be a whole number from 1 to 16.');
  if (!Number.isInteger(t) || t < 1 || t > n) throw new DammError('invalid_argument', `--root-threshold must be a whole number from 1 to ${n} (the number of root keys).`);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}


export async function initTrust(opts: InitTrustOptions): Promise<InitTrustResult> {
  const say = opts.say ?? (() => {});
  const { db, dataDir, now } = opts;
  const actor = opts.actor ?? 'damm-init';

  if ((await latestRootVersion(db)) > 0) {
    const root = (await loadVerifiedChain(db))!;
    const pin = (await getRoot(db, 1))!.payloadSha256;
    const local = await readOnlineKeyFiles(dataDir);
    for (const role of ONLINE_ROLES) {
      const certified = new Set(roleKeys(root, role).filter((k) => keyValidFor(k, now)).map((k) => k.keyid));
      if (!local.some((f) => f.role === role && certified.has(f.key.keyid))) {
        say(`warning: no ${role} key in ${keysDir(dataDir)} is certified by root v${root.version}; "damm serve" will refuse to start (see docs/runbooks.md)`);
      }
    }
    return { created: false, root, pinSha256: pin, offlineRootDir: null, rootKeyFiles: [] };
  }

  const n = opts.rootKeys ?? 1;
  const t = opts.rootThreshold ?? 1;
  checkCounts(n, t);
  const rootValidity = opts.rootValiditySeconds ?? DEFAULT_ROOT_VALIDITY_SECONDS;
  const keyValidity = opts.keyValiditySeconds ?? DEFAULT_KEY_VALIDITY_SECONDS;
  if (!(rootValidity >= 3600)) throw new DammError('invalid_argument', 'The root must be valid for at least an hour.');
  if (!(keyValidity >= 3600)) throw new DammError('invalid_argument', 'Online keys must be valid for at least an hour.');

  const offDir = offlineRootDir(dataDir);
  const v1File = path.join(offDir, ROOT_V1_FILE);

  // A previous run wrote the offline root and root v1 but did not publish it: publish that one.
  if (await exists(v1File)) {
    const envelope = JSON.parse(await readFile(v1File, 'utf8')) as Envelope;
    const root = trustRoot(envelope);
    const published = await publishRoot(db, envelope, { actor, now });
    say(`published the root v1 found in ${v1File}`);
    const files = (await readdir(offDir)).filter((f) => f.endsWith('.key')).map((f) => path.join(offDir, f));
    return { created: true, root: published, pinSha256: root.payloadSha256, offlineRootDir: offDir, rootKeyFiles: files };
  }
  if (await exists(offDir)) {
    const leftovers = (await readdir(offDir)).filter((f) => f.endsWith('.key'));
    if (leftovers.length > 0) {
      throw new DammError(
        'config_invalid',
        `${offDir} already holds root keys but the store has no published root and there is no ${ROOT_V1_FILE}; move that directory away (keep it!) before creating a new root.`,
      );
    }
  }

  // Online keys: this data directory's, or new ones.
  let local: OnlineKeyFile[] = await readOnlineKeyFiles(dataDir);
  const preexisting = local.length > 0;
  for (const role of ONLINE_ROLES) {
    if (!local.some((f) => f.role === role)) await createOnlineKey(dataDir, role, now);
  }
  local = await readOnlineKeyFiles(dataDir);

  const rootKeys = Array.from({ length: n }, () => generateRootKey());
  const window = { notBefore: now, notAfter: new Date(now.getTime() + keyValidity * 1000) };
  const doc = buildRoot({
    version: 1,
    issuedAt: now,
    expiresAt: new Date(now.getTime() + rootValidity * 1000),
    root: { keys: rootKeys.map((k) => k.publicKey), threshold: t },
    catalog: { keys: local.filter((f) => f.role === 'catalog').map((f) => ({ publicKey: f.key.publicKey, ...window })), threshold: 1 },
    admission: { keys: local.filter((f) => f.role === 'admission').map((f) => ({ publicKey: f.key.publicKey, ...window })), threshold: 1 },
  });
  const envelope = signRoot(doc, rootKeys);

  // Root keys + root v1 land together (temp dir, fsynced files, one rename), before publication.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmpDir = path.join(dataDir, `.offline-root.tmp-${randomBytes(6).toString('hex')}`);
  await mkdir(tmpDir, { mode: 0o700 });
  try {
    for (const k of rootKeys) await writeRootKeyFile(tmpDir, k, now);
    await writeFileDurably(path.join(tmpDir, ROOT_V1_FILE), `${JSON.stringify(envelope)}\n`, { onExisting: 'create' });
    await rm(offDir, { recursive: true, force: true }); // empty (checked above) or absent
    await rename(tmpDir, offDir);
    await fsyncDir(dataDir);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    throw err;
  }
  const root = await publishRoot(db, envelope, { actor, now });
  const files = rootKeys.map((k) => path.join(offDir, rootKeyFileName(k)));

  say('');
  say('!! ==================================================================');
  say(`!! OFFLINE ROOT KEYS (${n} key${n === 1 ? '' : 's'}, threshold ${t}) written to ${offDir} (mode 0600).`);
  say('!! MOVE THEM OFF THIS MACHINE NOW (each key to a different person / place).');
  say('!! "damm serve" never reads them. You need them only for "damm keys rotate",');
  say('!! "damm keys root-rotate" and "damm keys refresh". Lose all of them (or more');
  say('!! than n - threshold) and every client must be re-bootstrapped.');
  say(`!! Root v1 sha256 (pin this in clients): ${root.payloadSha256}`);
  say('!! ==================================================================');
  if (preexisting) say(`note: root v1 certifies the online keys already in ${keysDir(dataDir)}`);
  return { created: true, root, pinSha256: root.payloadSha256, offlineRootDir: offDir, rootKeyFiles: files };
}
