/** What a result was measured on: machine, software versions, the code's commit. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface MachineInfo {
  hostname: string;
  cpuModel: string;
  cores: number;
  memTotalMB: number;
  kernel: string;
  platform: string;
  loadavgAtStart: number[];
}

export interface Versions {
  node: string;
  postgres: string | null;
  wireguardGo: string | null;
  damm: string;
  gitCommit: string | null;
  /** Files under src/ that differ from the commit when the run started (others work in the same tree). */
  gitDirtySrc: string[];
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memTotalMB: Math.round(os.totalmem() / 2 ** 20),
    kernel: os.release(),
    platform: `${os.platform()}-${os.arch()}`,
    loadavgAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

function tryExec(cmd: string, args: string[]): string | null {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

export function versions(postgres: string | null): Versions {
  const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const wg = tryExec('wireguard-go', ['--version']);
  const dirty = tryExec('git', ['status', '--porcelain', '--', 'src']);
  return {
    node: process.version,
    postgres,
    wireguardGo: wg ? (wg.split('\n')[0] ?? null) : null,
    damm: pkg.version,
    gitCommit: tryExec('git', ['rev-parse', 'HEAD']),
    gitDirtySrc: dirty ? dirty.split('\n').filter(Boolean) : [],
  };
}
