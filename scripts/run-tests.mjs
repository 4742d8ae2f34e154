#!/usr/bin/env node
// Runs every test/**/*.test.ts with Node's own test runner (through tsx), one
// file at a time, each in its own process group and under a bound, so a file
// that hangs is reported and killed and the run still ends.
//
//   node scripts/run-tests.mjs [file or directory ...]   (default: test/)
//
//   DAMM_TEST_FILE_TIMEOUT_S   bound per file, seconds (default 600)
//   DAMM_TEST_TOTAL_TIMEOUT_S  bound for the whole run, seconds (default 2400);
//                              past it the current file is killed, the rest
//                              are not started, and the run fails
//
// When a file ends (passes, fails, overruns) every process it started dies:
// its process group is killed, and so is every process carrying the file's
// DAMM_TEST_SCOPE marker in its environment (what left the group: Chromium,
// which Playwright starts detached, or anything that daemonizes). Then the
// network namespaces, interfaces and UAPI sockets of test processes that
// are gone are swept (test/helpers/netns.ts, by owner pid).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';

const FILE_TIMEOUT_S = seconds('DAMM_TEST_FILE_TIMEOUT_S', 600);
const TOTAL_TIMEOUT_S = seconds('DAMM_TEST_TOTAL_TIMEOUT_S', 2400);

function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`${name} must be a positive number of seconds, not ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

function find(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const args = process.argv.slice(2);
const roots = args.length ? args : ['test'];
const files = [...new Set(roots.flatMap((r) => (statSync(r).isDirectory() ? find(r) : [r])))].sort();
if (files.length === 0) {
  console.error('no test files found');
  process.exit(1);
}

/** Pids of live processes whose environment carries `marker` (a "NAME=value" string). */
function markedPids(marker) {
  const needle = Buffer.from(`${marker}\0`);
  const out = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`);
      if (env.indexOf(needle) === 0 || env.indexOf(Buffer.concat([Buffer.from('\0'), needle])) >= 0) out.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ').slice(0, 120);
  } catch {
    return '?';
  }
}

function kill(pid, signal) {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs the file's process group and every process marked with its scope; returns what was still running. */
function killScope(pgid, marker) {
  kill(-pgid, 'SIGKILL');
  const left = markedPids(marker);
  const described = left.map((pid) => `${pid} ${commandOf(pid)}`);
  for (const pid of left) kill(pid, 'SIGKILL');
  return described;
}

/** Namespaces, interfaces and sockets whose owning test process is gone (test/helpers/netns.ts). */
function sweepNetns() {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', "const m = await import('./test/helpers/netns.ts'); m.sweepStale();"], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 60_000,
    encoding: 'utf8',
  });
  if (r.status !== 0) console.error(`# netns sweep failed: ${r.error?.message ?? r.stderr.trim().split('\n').slice(-3).join(' ')}`);
}

const runStart = Date.now();
const deadline = runStart + TOTAL_TIMEOUT_S * 1000;
const results = [];
let current = null;

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (current) killScope(current.pgid, current.marker);
    sweepNetns();
    console.error(`\n# ${sig}: killed ${current ? current.file : 'nothing'}; stopping`);
    process.exit(130);
  });
}

function runFile(file, index, boundMs) {
  const marker = `DAMM_TEST_SCOPE=${process.pid}.${index}`;
  return new Promise((resolve) => {
    const started = Date.now();
    // A clean node:test context: when this runner itself runs inside a test (test/runner/), an inherited
    // NODE_TEST_CONTEXT would make the file's runner skip it as a recursive run.
    const env = { ...process.env, NODE_ENV: 'test', DAMM_TEST_SCOPE: marker.split('=')[1] };
    delete env.NODE_TEST_CONTEXT;
    // No --test-timeout: this runner is the one authority on a file's time, so an overrun is always
    // reported the same way, with the processes the file had running (tests set their own { timeout }).
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=1', file],
      { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env },
    );
    current = { file, pgid: child.pid, marker };
    let out = '';
    child.stdout.on('data', (b) => {
      process.stdout.write(b);
      out = (out + b.toString()).slice(-20_000);
    });
    child.stderr.on('data', (b) => process.stderr.write(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      const running = markedPids(marker).map((pid) => `  ${pid} ${commandOf(pid)}`);
      console.log(`\n✖ TIMEOUT ${file}: still running after ${Math.round(boundMs / 1000)} s; killing its ${running.length} process(es):\n${running.join('\n')}`);
      killScope(child.pid, marker);
    }, boundMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      // The file is over: nothing it started may outlive it (and once they are gone its pipes close).
      const leftovers = killScope(child.pid, marker);
      if (leftovers.length && !timedOut) console.log(`# ${file} left ${leftovers.length} process(es) running; killed: ${leftovers.join('; ')}`);
      current = null;
      const finish = () => {
        const count = (label) => {
          const all = [...out.matchAll(new RegExp(`^ℹ ${label} (\\d+)$`, 'gm'))];
          return all.length ? Number(all[all.length - 1][1]) : null;
        };
        const pass = count('pass');
        // Exit 0 without node:test's summary means nothing ran: not a pass.
        const status = timedOut ? 'timeout' : code !== 0 ? 'fail' : pass === null ? 'fail (no test summary)' : 'pass';
        resolve({ file, ms: Date.now() - started, status, pass, fail: count('fail') });
      };
      if (child.stdout.closed && child.stderr.closed) return finish();
      const late = setTimeout(finish, 5000);
      child.once('close', () => (clearTimeout(late), finish()));
    });
  });
}

sweepNetns();
for (let i = 0; i < files.length; i++) {
  const remaining = deadline - Date.now();
  if (remaining < 1000) {
    for (const file of files.slice(i)) results.push({ file, ms: 0, status: 'not run', pass: null, fail: null });
    console.log(`\n✖ the run passed its bound of ${TOTAL_TIMEOUT_S} s; ${files.length - i} file(s) not run`);
    break;
  }
  const bound = Math.min(FILE_TIMEOUT_S * 1000, remaining);
  const r = await runFile(files[i], i, bound);
  if (r.status === 'timeout') {
    if (bound < FILE_TIMEOUT_S * 1000) r.status = 'timeout (run bound)';
    sweepNetns();
  }
  results.push(r);
}
sweepNetns();

const failed = results.filter((r) => r.status !== 'pass');
const sum = (k) => results.reduce((s, r) => s + (r[k] ?? 0), 0);
const width = Math.max(...results.map((r) => r.file.length));
console.log(`\n# summary: ${results.length} file(s) in ${((Date.now() - runStart) / 1000).toFixed(1)} s (bounds: ${FILE_TIMEOUT_S} s per file, ${TOTAL_TIMEOUT_S} s in all)`);
for (const r of results) {
  const tests = r.pass === null ? '' : `${r.pass} passed, ${r.fail} failed`;
  console.log(`#  ${r.status === 'pass' ? '✔' : '✖'} ${r.file.padEnd(width)}  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.status.padEnd(7)} ${tests}`);
}
console.log(`# tests: ${sum('pass')} passed, ${sum('fail')} failed; files: ${results.length - failed.length} passed, ${failed.length} not`);
if (failed.length) console.log(`# not passed: ${failed.map((r) => `${r.file} (${r.status})`).join(', ')}`);
process.exit(failed.length ? 1 : 0);
