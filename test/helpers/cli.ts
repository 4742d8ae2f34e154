/** Runs the built `damm` binary the way an operator does, for the CLI tests. */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
export const DAMM_BIN = path.resolve('dist/cli/main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Fails loudly (never skips) when the binary has not been built. */
export async function requireBuiltCli(): Promise<void> {
  await stat(DAMM_BIN).catch(() => {
    throw new Error('dist/cli/main.js is missing: run "npm run build" first (npm test does)');
  });
}

/** Runs `damm args…`; a non-zero exit throws unless allowFail, then it is returned. */
export async function runDamm(args: string[], env: Record<string, string>, opts: { allowFail?: boolean } = {}): Promise<CliResult> {
  try {
    const r = await exec(process.execPath, [DAMM_BIN, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as CliResult;
    if (!opts.allowFail) throw err;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Starts `damm serve --port 0 [extraArgs]` and resolves with the URL it prints and what it printed up to there; a server that never says so is killed. */
export async function startServe(env: Record<string, string>, extraArgs: string[] = []): Promise<{ proc: ChildProcess; url: string; printed: string }> {
  const proc = spawn(process.execPath, [DAMM_BIN, 'serve', '--port', '0', ...extraArgs], { env: { ...process.env, ...env } });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    proc.stdout!.on('data', (d) => {
      out += String(d);
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`serve printed no URL: ${out}`)), 20000);
  }).catch((err: unknown) => {
    proc.kill('SIGKILL');
    throw err;
  });
  return { proc, url, printed: out };
}
