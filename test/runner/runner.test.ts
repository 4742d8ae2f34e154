/**
 * scripts/run-tests.mjs on fixture files (test/runner/fixtures/, never picked
 * up by discovery): a file that never ends is reported and killed with every
 * process it started, also those outside its process group; the run goes on,
 * prints a summary and exits non-zero; the overall bound stops the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { randomInt } from 'node:crypto';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const HANG = 'test/runner/fixtures/hang.fixture.ts';
const LEAK = 'test/runner/fixtures/leak.fixture.ts';

/** Live processes running `sleep <secs>`. */
function sleepers(secs: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('sleep') && argv[1] === secs) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

async function runner(files: string[], env: Record<string, string>): Promise<{ code: number | null; out: string; ms: number }> {
  const t0 = Date.now();
  const child = spawn(process.execPath, ['scripts/run-tests.mjs', ...files], { cwd: REPO, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the runner itself did not end within 90 s:\n${out}`));
    }, 90_000);
    child.once('exit', (c) => (clearTimeout(t), resolve(c)));
  });
  return { code, out, ms: Date.now() - t0 };
}

test('a file that never ends is reported, killed with all it started, and fails the run; the next file still runs', async () => {
  const secs = String(100_000 + randomInt(800_000));
  const r = await runner([HANG, LEAK], { DAMM_TEST_FILE_TIMEOUT_S: '4', FIXTURE_SLEEP: secs });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /TIMEOUT test\/runner\/fixtures\/hang\.fixture\.ts: still running after 4 s/);
  assert.match(r.out, /✖ test\/runner\/fixtures\/hang\.fixture\.ts +[\d.]+ s +timeout/);
  assert.match(r.out, /✔ test\/runner\/fixtures\/leak\.fixture\.ts +[\d.]+ s +pass +1 passed, 0 failed/);
  assert.match(r.out, /leak\.fixture\.ts left 1 process\(es\) running; killed: \d+ sleep/);
  assert.match(r.out, /# not passed: test\/runner\/fixtures\/hang\.fixture\.ts \(timeout\)/);
  assert.deepEqual(sleepers(secs), [], 'no sleep started by the fixtures survives');
});

test('past the overall bound the current file is killed and the rest are not started', async () => {
  const secs = String(100_000 + randomInt(800_000));
  const r = await runner([HANG, LEAK], { DAMM_TEST_FILE_TIMEOUT_S: '60', DAMM_TEST_TOTAL_TIMEOUT_S: '4', FIXTURE_SLEEP: secs });
  assert.equal(r.code, 1, r.out);
  assert.ok(r.ms < 45_000, `the run ended ${r.ms} ms after it started`);
  assert.match(r.out, /hang\.fixture\.ts +[\d.]+ s +timeout \(run bound\)/);
  assert.match(r.out, /leak\.fixture\.ts +0\.0 s +not run/);
  assert.deepEqual(sleepers(secs), []);
});
