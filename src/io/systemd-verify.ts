/**
 * `systemd-analyze verify` for DAMM's unit files, also on a machine where
 * systemd is not PID 1 (CI containers, a staged install under a prefix):
 * the units are checked inside a scratch root
 * that holds the distribution's own unit library, so dependencies such as
 * sysinit.target resolve, and stand-in executables at the paths the units
 * name (verify checks that ExecStart points at an executable, nothing more).
 */
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface VerifyResult {
  code: number;
  /** Everything systemd-analyze printed: warnings land here even when the exit code is 0. */
  output: string;
}

/**
 * Verifies `units` (file paths) as installed under /etc/systemd/system;
 * `executables` are stand-ins to create; a template unit is checked as its
 * `instance`. Code 127 when systemd-analyze is not installed.
 */
export async function verifyUnits(units: string[], opts: { executables: string[]; instance?: string }): Promise<VerifyResult> {
  const root = await mkdtemp(path.join(tmpdir(), 'damm-systemd-'));
  try {
    await cp('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    const etc = path.join(root, 'etc/systemd/system');
    await mkdir(etc, { recursive: true });
    const names: string[] = [];
    for (const unit of units) {
      const name = path.basename(unit);
      await cp(unit, path.join(etc, name));
      names.push(name.endsWith('@.service') ? name.replace('@.service', `@${opts.instance ?? 'wg0'}.service`) : name);
    }
    for (const exe of opts.executables) {
      const p = path.join(root, exe);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, '#!/bin/sh\n');
      await chmod(p, 0o755);
    }
    try {
      const r = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, ...names], { timeout: 30_000 });
      return { code: 0, output: (r.stdout + r.stderr).trim() };
    } catch (err) {
      const e = err as { code?: number | string; stdout?: string; stderr?: string };
      if (e.code === 'ENOENT') return { code: 127, output: 'systemd-analyze is not installed' };
      return { code: typeof e.code === 'number' ? e.code : 1, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() };
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
