/**
 * `damm backup` and `damm restore` (src/backup/). Progress goes to stderr,
 * one line per stage (tables with rows and bytes); the result to stdout.
 * The backup, store and trust modules load inside the actions (src/cli/main.ts).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { DammError } from '../../core/errors.js';
import { configFor, withDataDir } from '../common.js';
import { fail, printJson } from '../output.js';

const collect = (v: string, prev: string[]) => [...prev, v];
const progress = (line: string) => process.stderr.write(`${line}\n`);

export function registerBackup(program: Command): void {
  withDataDir(program.command('backup'))
    .description('write one age-encrypted archive of the database, the online keys and the published roots')
    .option('--recipient <age1...>', 'age recipient to encrypt to (repeat for several)', collect, [])
    .option('--recipients-file <file>', 'file with one age recipient per line')
    .option('--out <file>', 'archive to write (default ./damm-backup-<time>.age)')
    .option('--identity-gen', 'instead: make a new age identity (private, keep it offline) and print its recipient')
    .option('--identity-out <file>', 'with --identity-gen: write the identity to this file (mode 0600) instead of stdout')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; recipient: string[]; recipientsFile?: string; out?: string; identityGen?: boolean; identityOut?: string; json?: boolean }) => {
      try {
        const { generateBackupIdentity, readRecipientsFile, writeIdentityFile } = await import('../../backup/identity.js');
        const { createBackup } = await import('../../backup/backup.js');
        const { backupFileName } = await import('../../backup/schedule.js');
        const { openStore } = await import('../../control-plane/server.js');
        if (opts.identityGen) {
          const id = await generateBackupIdentity();
          if (opts.identityOut) {
            await writeIdentityFile(path.resolve(opts.identityOut), id.text);
            if (opts.json) printJson({ recipient: id.recipient, identityFile: path.resolve(opts.identityOut) });
            else process.stdout.write(`identity written to ${path.resolve(opts.identityOut)} (mode 0600): keep it OFF the control-plane host\nrecipient: ${id.recipient}\n`);
          } else {
            process.stdout.write(id.text);
            process.stderr.write(`Public key: ${id.recipient}\n`);
          }
          return;
        }
        const recipients = [...opts.recipient, ...(opts.recipientsFile ? await readRecipientsFile(opts.recipientsFile) : [])];
        if (recipients.length === 0) throw new DammError('invalid_argument', 'Name at least one --recipient age1... (make one with "damm backup --identity-gen").');
        const config = await configFor(opts);
        const out = path.resolve(opts.out ?? backupFileName(new Date()));
        const store = await openStore(config);
        try {
          const res = (await createBackup({ db: store.db, dataDir: config.dataDir, recipients, out, progress }))!;
          if (opts.json) printJson({ file: res.file, bytes: res.bytes, manifest: { ...res.manifest, tables: res.manifest.tables.map((t) => ({ name: t.name, rows: t.rows, bytes: t.bytes, sha256: t.sha256 })) } });
          else process.stdout.write(`${res.file}\n`);
        } finally {
          await store.close();
        }
      } catch (err) {
        fail(err);
      }
    });

  withDataDir(program.command('restore'))
    .description('bring a control plane back from a backup into a fresh --data-dir and an empty database (DATABASE_URL or a new embedded store)')
    .requiredOption('--in <archive>', 'the backup archive')
    .option('--identity <file>', 'age identity file that can open it (repeat to try several)', collect, [])
    .option('--force', 'replace the contents of a non-empty database and existing key files')
    .option('--verify-only', 'decrypt and check the whole archive against its manifest, change nothing')
    .option('--json', 'print JSON for scripts')
    .action(async (opts: { dataDir: string; in: string; identity: string[]; force?: boolean; verifyOnly?: boolean; json?: boolean }) => {
      try {
        const { readIdentityFile } = await import('../../backup/identity.js');
        const { restoreBackup } = await import('../../backup/restore.js');
        if (opts.identity.length === 0) throw new DammError('invalid_argument', 'Pass --identity <file>: the age identity the backup was encrypted to.');
        const identities: string[] = [];
        for (const f of opts.identity) identities.push(...(await readIdentityFile(path.resolve(f))));
        const input = path.resolve(opts.in);
        if (opts.verifyOnly) {
          const r = await restoreBackup({ identities, input, dataDir: '', verifyOnly: true, progress });
          if (opts.json) printJson(r.manifest);
          else process.stdout.write(`archive OK: ${r.manifest.tables.length} tables, ${r.manifest.totals.rows} rows, ${r.manifest.files.length} files, created ${r.manifest.createdAt}\n`);
          return;
        }
        const config = await configFor(opts);
        const { startEmbeddedStore } = await import('../../store/embedded.js');
        const { createPool } = await import('../../store/db.js');
        const { getRoot, loadVerifiedChain } = await import('../../control-plane/trust/roots.js');
        const { keysDir, readOnlineKeyFiles } = await import('../../control-plane/keyring.js');
        const { keyValidFor, roleKeys, ONLINE_ROLES } = await import('../../core/trust/index.js');
        // Not openStore(): that migrates to the newest schema first; restore migrates to the backup's own.
        const embedded = config.databaseUrl ? null : await startEmbeddedStore(config.dataDir, () => {});
        const db = createPool(config.databaseUrl ?? embedded!.url, 4);
        try {
          const r = await restoreBackup({ db, identities, input, dataDir: config.dataDir, force: Boolean(opts.force), progress });
          const root = await loadVerifiedChain(db);
          const v1 = await getRoot(db, 1);
          const local = new Set((await readOnlineKeyFiles(config.dataDir)).map((f) => f.key.keyid));
          const missing = root ? ONLINE_ROLES.filter((role) => !roleKeys(root, role).some((k) => keyValidFor(k, new Date()) && local.has(k.keyid))) : [];
          if (opts.json) {
            printJson({ restored: true, dataDir: config.dataDir, rows: r.manifest.totals.rows, tables: r.manifest.tables.map((t) => ({ name: t.name, rows: t.rows })), files: r.files, rootVersion: root?.version ?? null, rootV1Sha256: v1?.payloadSha256 ?? null, rolesWithoutKey: missing });
            return;
          }
          process.stdout.write(`restored into ${config.dataDir}: ${r.manifest.totals.rows} rows in ${r.manifest.tables.length} tables, ${r.files.length} key/token files (mode 0600)\n`);
          if (root && v1) process.stdout.write(`trust: root v${root.version}, pin (root v1 sha256) ${v1.payloadSha256}\n`);
          for (const role of missing) {
            process.stdout.write(`warning: no ${role} key in ${keysDir(config.dataDir)} is certified and valid now; before "damm serve": damm keys rotate --role ${role} --root-key <file> --replace-lost\n`);
          }
          process.stdout.write(`next: damm serve --data-dir ${config.dataDir}${config.databaseUrl ? ' (with the same DATABASE_URL)' : ''}\n`);
        } finally {
          await db.end();
          if (embedded) await embedded.stop();
        }
      } catch (err) {
        fail(err);
      }
    });
}
