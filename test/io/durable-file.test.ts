import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { appendDurably, fsyncDir, writeFileDurably } from '../../src/io/durable-file.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-durable-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('replace: the new contents take the place of the old, mode 0600 by default, no temporary file left', () =>
  withDir(async (dir) => {
    const f = path.join(dir, 'state.json');
    await writeFile(f, 'old');
    await writeFileDurably(f, 'new');
    assert.equal(await readFile(f, 'utf8'), 'new');
    assert.equal((await stat(f)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(dir), ['state.json']);
  }));

test('create: refuses an existing file with EEXIST, keeps its contents, leaves no temporary file', () =>
  withDir(async (dir) => {
    const f = path.join(dir, 'root.key');
    await writeFileDurably(f, 'first', { onExisting: 'create', mode: 0o640 });
    assert.equal((await stat(f)).mode & 0o777, 0o640);
    await assert.rejects(writeFileDurably(f, 'second', { onExisting: 'create' }), (e: NodeJS.ErrnoException) => e.code === 'EEXIST');
    assert.equal(await readFile(f, 'utf8'), 'first');
    assert.deepEqual(await readdir(dir), ['root.key']);
  }));

test('two concurrent creates of one file: exactly one wins, the other sees EEXIST', () =>
  withDir(async (dir) => {
    const f = path.join(dir, 'gateway.key');
    const results = await Promise.allSettled(['a', 'b', 'c', 'd'].map((v) => writeFileDurably(f, v, { onExisting: 'create' })));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal(results.filter((r) => r.status === 'rejected').length, 3);
    assert.match(await readFile(f, 'utf8'), /^[abcd]$/);
    assert.deepEqual(await readdir(dir), ['gateway.key']);
  }));

test('a write into a missing directory fails and creates nothing', () =>
  withDir(async (dir) => {
    await assert.rejects(writeFileDurably(path.join(dir, 'missing', 'f'), 'x'), (e: NodeJS.ErrnoException) => e.code === 'ENOENT');
    assert.deepEqual(await readdir(dir), []);
  }));

test('append adds lines in order; fsyncDir accepts a directory and refuses a missing one', () =>
  withDir(async (dir) => {
    const f = path.join(dir, 'journal');
    await appendDurably(f, 'one\n');
    await appendDurably(f, 'two\n');
    assert.equal(await readFile(f, 'utf8'), 'one\ntwo\n');
    await fsyncDir(dir);
    await assert.rejects(fsyncDir(path.join(dir, 'nope')));
  }));

test('pieces: a file given as pieces is written in order, exactly their concatenation, the same durable way', () =>
  withDir(async (dir) => {
    const f = path.join(dir, 'feed.snapshot.json');
    await writeFile(f, 'old');
    const pieces = ['{"records":[', 'x'.repeat(100_000), ',"é"', ']}'];
    await writeFileDurably(f, (function* () { yield* pieces; })());
    assert.equal(await readFile(f, 'utf8'), pieces.join(''));
    assert.deepEqual(await readdir(dir), ['feed.snapshot.json']);
  }));
