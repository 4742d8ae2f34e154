/**
 * `damm keys`: the offline root and the online keys it certifies
 * (docs/trust.md, docs/runbooks.md). These commands talk to the store
 * directly (DATABASE_URL or the embedded Postgres of --data-dir) and write
 * online key files into <data-dir>/keys, so run them on a control-plane host.
 * Root keys are read only from the files named with --root-key.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { Envelope, SigningKey } from '../../core/envelope.js';
import { DammError } from '../../core/errors.js';
import type { OnlineRole } from '../../core/trust/index.js';
import type { StoreHandle } from '../../control-plane/server.js';
import type { TrustChangeResult } from '../../control-plane/trust/rotate.js';
import type { Config } from '../../control-plane/config.js';
import { configFor, withDataDir } from '../common.js';
import { fail, printJson } from '../output.js';
import { parseDuration } from './operator.js';

const collect = (v: string, prev: string[]) => [...prev, v];
const DAY_MS = 86400_000;

/** The trust and key modules, loaded when a keys command runs, not for `damm --help` (src/cli/main.ts). */
async function trustModules() {
  return {
    ...(await import('../../core/trust/index.js')),
    ...(await import('../../control-plane/keyring.js')),
    ...(await import('../../control-plane/trust/offline-keys.js')),
    ...(await import('../../control-plane/trust/roots.js')),
    ...(await import('../../control-plane/trust/rotate.js')),
  };
}

function role(v: string): OnlineRole {
  if (v !== 'catalog' && v !== 'admission') throw new Error('--role must be catalog or admission');
  return v;
}

async function withStore<T>(opts: { dataDir: string }, fn: (store: StoreHandle, config: Config) => Promise<T>): Promise<T> {
  const config = await configFor(opts);
  const { openStore } = await import('../../control-plane/server.js');
  const store = await openStore(config);
  try {
    return await fn(store, config);
  } finally {
    await store.close();
  }
}

async function rootKeysFrom(files: string[]): Promise<SigningKey[]> {
  if (files.length === 0) throw new DammError('invalid_argument', 'Pass the offline root key(s) with --root-key <file> (repeat it to reach the threshold).');
  const { readRootKeyFile } = await trustModules();
  const keys: SigningKey[] = [];
  for (const f of files) keys.push(await readRootKeyFile(path.resolve(f)));
  return keys;
}

function saveDir(files: string[]): string | undefined {
  return files[0] ? path.join(path.dirname(path.resolve(files[0])), 'published') : undefined;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

function reportChange(r: TrustChangeResult, json: boolean | undefined): void {
  if (json) {
    printJson({
      previousVersion: r.previousVersion,
      version: r.root.version,
      payloadSha256: r.root.payloadSha256,
      expiresAt: r.root.document.expiresAt,
      newKey: r.newKey,
      dropped: r.dropped,
      shortened: r.shortened,
      removedKeyFiles: r.removedKeyFiles,
      savedRootFile: r.savedRootFile,
      notes: r.notes,
    });
    return;
  }
  say(`published root v${r.root.version} (was v${r.previousVersion}), expires ${r.root.document.expiresAt}`);
  if (r.newKey) say(`  new ${r.newKey.role} key ${r.newKey.keyid.slice(0, 16)} valid ${r.newKey.notBefore} .. ${r.newKey.notAfter}, file ${r.newKey.file} (mode 0600)`);
  for (const s of r.shortened) say(`  ${s.role} key ${s.keyid.slice(0, 16)} keeps signing until ${s.notAfter} (overlap)`);
  for (const d of r.dropped) say(`  ${d.role} key ${d.keyid.slice(0, 16)} removed (${d.reason})`);
  for (const f of r.removedKeyFiles) say(`  deleted key file ${f}`);
  for (const n of r.notes) say(`  note: ${n}`);
  if (r.savedRootFile) say(`  a copy of the signed root: ${r.savedRootFile} (keep it with the root keys; "damm keys import-root" republishes it)`);
  say('  running control planes load it within seconds and re-sign the catalog; clients walk to it on their next refresh');
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys').description('the offline root and the online signing keys it certifies');

  withDataDir(keys.command('status'))
    .description('the published root, its keys and their windows, and which key files this host holds')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; json?: boolean }) => {
      try {
        const { trustStatus } = await import('../../control-plane/trust/status.js');
        const { ONLINE_ROLES } = await trustModules();
        await withStore(opts, async (store, config) => {
          const status = await trustStatus(store.db, config.dataDir, new Date());
          const warnings = status.warnings;
          if (opts.json) return printJson(status);
          say(`root v${status.rootVersion}, issued ${status.rootIssuedAt}, expires ${status.rootExpiresAt}`);
          say(`  root keys: ${status.root.threshold} of ${status.root.keyids.map((k) => k.slice(0, 16)).join(', ')}`);
          say(`  pin (sha256 of root v1): ${status.rootV1Sha256}`);
          for (const r of ONLINE_ROLES) {
            const info = status[r];
            say(`${r} (threshold ${info.threshold}):`);
            for (const k of info.keys) {
              say(`  ${k.keyid.slice(0, 16)}  ${k.notBefore} .. ${k.notAfter}  ${k.validNow ? 'valid now' : 'NOT valid now'}  ${k.keyFileHere ? 'key file here' : 'no key file here'}`);
            }
          }
          for (const w of warnings) say(`warning: ${w}`);
        });
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(keys.command('rotate'))
    .description('publish root N+1 with a new online key; the old key overlaps, is revoked (--revoke-old) or replaced as lost (--replace-lost)')
    .requiredOption('--role <role>', 'catalog or admission', role)
    .option('--root-key <file>', 'offline root key file (repeat to reach the root threshold)', collect, [])
    .option('--overlap <duration>', 'how long old keys keep counting (default 7d)', parseDuration)
    .option('--revoke-old', 'remove the old key(s) now, no overlap (a leaked key)')
    .option('--replace-lost', "the old key's file is gone: remove it (or keep it for --overlap so what it signed stays valid)")
    .option('--key-validity <duration>', 'validity window of the new key (default 365d)', parseDuration)
    .option('--root-validity <duration>', 'lifetime of the new root (default 365d)', parseDuration)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; role: OnlineRole; rootKey: string[]; overlap?: number; revokeOld?: boolean; replaceLost?: boolean; keyValidity?: number; rootValidity?: number; json?: boolean }) => {
      try {
        if (opts.revokeOld && opts.replaceLost) throw new DammError('invalid_argument', 'Choose one of --revoke-old (leaked) and --replace-lost (lost).');
        if (opts.revokeOld && opts.overlap !== undefined) throw new DammError('invalid_argument', '--revoke-old means no overlap; drop --overlap.');
        const rootKeys = await rootKeysFrom(opts.rootKey);
        const { rotateOnlineKey } = await trustModules();
        const r = await withStore(opts, (store, config) =>
          rotateOnlineKey({
            db: store.db,
            dataDir: config.dataDir,
            now: new Date(),
            role: opts.role,
            rootKeys,
            mode: opts.revokeOld ? 'revoke-old' : opts.replaceLost ? 'replace-lost' : 'overlap',
            ...(opts.overlap !== undefined ? { overlapSeconds: opts.overlap } : {}),
            ...(opts.keyValidity !== undefined ? { keyValiditySeconds: opts.keyValidity } : {}),
            ...(opts.rootValidity !== undefined ? { rootValiditySeconds: opts.rootValidity } : {}),
            ...(saveDir(opts.rootKey) ? { saveRootTo: saveDir(opts.rootKey)! } : {}),
          }),
        );
        reportChange(r, opts.json);
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(keys.command('retire'))
    .description('publish root N+1 without the online keys whose overlap has ended (--now: end the overlap early)')
    .requiredOption('--role <role>', 'catalog or admission', role)
    .option('--root-key <file>', 'offline root key file (repeat to reach the root threshold)', collect, [])
    .option('--now', 'keep only the newest key of the role, even if older ones still overlap')
    .option('--root-validity <duration>', 'lifetime of the new root (default 365d)', parseDuration)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; role: OnlineRole; rootKey: string[]; now?: boolean; rootValidity?: number; json?: boolean }) => {
      try {
        const rootKeys = await rootKeysFrom(opts.rootKey);
        const { retireOnlineKeys } = await trustModules();
        const r = await withStore(opts, (store, config) =>
          retireOnlineKeys({
            db: store.db,
            dataDir: config.dataDir,
            now: new Date(),
            role: opts.role,
            rootKeys,
            endOverlapNow: Boolean(opts.now),
            ...(opts.rootValidity !== undefined ? { rootValiditySeconds: opts.rootValidity } : {}),
            ...(saveDir(opts.rootKey) ? { saveRootTo: saveDir(opts.rootKey)! } : {}),
          }),
        );
        reportChange(r, opts.json);
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(keys.command('root-rotate'))
    .description('publish root N+1 with a new root key set, signed by a threshold of the old set AND of the new one')
    .option('--root-key <file>', 'current offline root key file (repeat to reach the current threshold)', collect, [])
    .option('--new-root-keys <n>', 'generate this many new root keys', (v) => Number(v))
    .option('--new-root-key <file>', 'an existing root key to include in the new set (repeat; e.g. the shares you keep)', collect, [])
    .option('--threshold <m>', 'root threshold of the new set (default: the current threshold, at most the new set size)', (v) => Number(v))
    .option('--out <dir>', 'where to write generated root keys (default <data-dir>/offline-root-<timestamp>)')
    .option('--root-validity <duration>', 'lifetime of the new root (default 365d)', parseDuration)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; rootKey: string[]; newRootKeys?: number; newRootKey: string[]; threshold?: number; out?: string; rootValidity?: number; json?: boolean }) => {
      try {
        const rootKeys = await rootKeysFrom(opts.rootKey);
        const { readRootKeyFile, generateRootKey, loadVerifiedChain, writeRootKeyFile, rotateRootKeys } = await trustModules();
        const generate = opts.newRootKeys ?? 0;
        if (!Number.isInteger(generate) || generate < 0 || generate > 16) throw new DammError('invalid_argument', '--new-root-keys must be a whole number from 0 to 16.');
        if (generate === 0 && opts.newRootKey.length === 0) throw new DammError('invalid_argument', 'Name the new root key set: --new-root-keys <n> and/or --new-root-key <file>.');
        const kept: SigningKey[] = [];
        for (const f of opts.newRootKey) kept.push(await readRootKeyFile(path.resolve(f)));
        const now = new Date();
        const fresh = Array.from({ length: generate }, () => generateRootKey());
        const r = await withStore(opts, async (store, config) => {
          const current = await loadVerifiedChain(store.db);
          const threshold = opts.threshold ?? Math.min(current?.document.roles.root.threshold ?? 1, kept.length + fresh.length);
          const outDir = path.resolve(opts.out ?? path.join(config.dataDir, `offline-root-${now.toISOString().replace(/[-:]/g, '').replace(/\..*/, 'Z')}`));
          // New keys reach disk before the root that needs them is published.
          const written: string[] = [];
          for (const k of fresh) written.push(await writeRootKeyFile(outDir, k, now));
          const res = await rotateRootKeys({
            db: store.db,
            dataDir: config.dataDir,
            now,
            rootKeys,
            newRootKeys: [...kept, ...fresh],
            threshold,
            ...(opts.rootValidity !== undefined ? { rootValiditySeconds: opts.rootValidity } : {}),
            saveRootTo: path.join(fresh.length ? outDir : path.dirname(path.resolve(opts.rootKey[0]!)), 'published'),
          });
          return { res, written, threshold, total: kept.length + fresh.length };
        });
        if (opts.json) {
          printJson({ version: r.res.root.version, previousVersion: r.res.previousVersion, payloadSha256: r.res.root.payloadSha256, threshold: r.threshold, rootKeyids: r.res.root.document.roles.root.keyids, newRootKeyFiles: r.written, savedRootFile: r.res.savedRootFile });
          return;
        }
        reportChange(r.res, false);
        say(`  root keys now: ${r.threshold} of ${r.total}`);
        if (r.written.length) {
          say('!! NEW OFFLINE ROOT KEYS written (mode 0600):');
          for (const f of r.written) say(`!!   ${f}`);
          say('!! Move them off this machine now, one per holder. The old root keys no longer sign anything after this root.');
        }
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(keys.command('refresh'))
    .description('publish root N+1 with the same keys and a fresh expiry (do it well before the root expires)')
    .option('--root-key <file>', 'offline root key file (repeat to reach the root threshold)', collect, [])
    .option('--root-validity <duration>', 'lifetime of the new root (default 365d)', parseDuration)
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; rootKey: string[]; rootValidity?: number; json?: boolean }) => {
      try {
        const rootKeys = await rootKeysFrom(opts.rootKey);
        const { refreshRoot } = await trustModules();
        const r = await withStore(opts, (store, config) =>
          refreshRoot({
            db: store.db,
            dataDir: config.dataDir,
            now: new Date(),
            rootKeys,
            ...(opts.rootValidity !== undefined ? { rootValiditySeconds: opts.rootValidity } : {}),
            ...(saveDir(opts.rootKey) ? { saveRootTo: saveDir(opts.rootKey)! } : {}),
          }),
        );
        reportChange(r, opts.json);
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(keys.command('export-root'))
    .description('print a published root envelope (the latest, or version N), e.g. root v1 to ship with clients')
    .argument('[version]', 'which version (default: the latest)')
    .option('--out <file>', 'write it to a file instead of stdout')
    .action(async (version: string | undefined, o: { dataDir: string; out?: string }) => {
      try {
        const opts = { ...o, ...(version === undefined ? {} : { version: Number(version) }) } as { dataDir: string; out?: string; version?: number };
        if (opts.version !== undefined && !(Number.isInteger(opts.version) && opts.version >= 1)) throw new DammError('invalid_argument', 'The version must be a whole number from 1.');
        const { listRoots } = await trustModules();
        const text = await withStore(opts, async (store) => {
          const roots = await listRoots(store.db);
          const r = opts.version === undefined ? roots[roots.length - 1] : roots.find((x) => x.version === opts.version);
          if (!r) throw new DammError('not_found', opts.version === undefined ? 'No root is published.' : `No root version ${opts.version} is published.`);
          return `${r.text}\n`;
        });
        if (opts.out) await writeFile(opts.out, text, { mode: 0o644 });
        else process.stdout.write(text);
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(keys.command('import-root'))
    .description('publish signed root envelope file(s) in version order (e.g. the copies kept next to the root keys, after restoring an older backup)')
    .argument('<files...>', 'root-N.json files')
    .action(async (files: string[], opts: { dataDir: string }) => {
      try {
        const { loadVerifiedChain, getRoot, payloadSha256Of, publishRoot } = await trustModules();
        await withStore(opts, async (store) => {
          const envs: { file: string; env: Envelope; version: number }[] = [];
          for (const f of files) {
            const env = JSON.parse(await readFile(f, 'utf8')) as Envelope;
            const version = (JSON.parse(Buffer.from(env.payload, 'base64').toString('utf8')) as { version?: number }).version ?? 0;
            envs.push({ file: f, env, version });
          }
          envs.sort((a, b) => a.version - b.version);
          const latest = (await loadVerifiedChain(store.db))?.version ?? 0;
          for (const e of envs) {
            if (e.version <= latest) {
              const have = await getRoot(store.db, e.version);
              const same = have !== null && have.payloadSha256 === payloadSha256Of(e.env);
              say(same ? `root v${e.version} already published (same bytes), skipped` : `root v${e.version} differs from the published v${e.version}: NOT imported`);
              if (!same) throw new DammError('conflict', `Root v${e.version} in ${e.file} conflicts with the published one; clients that saw either would refuse the other.`);
              continue;
            }
            const root = await publishRoot(store.db, e.env, { actor: 'damm-keys-import', now: new Date(), expectVersion: e.version });
            say(`published root v${root.version} from ${e.file}`);
          }
        });
      } catch (err) {
        fail(err);
      }
    });
}
