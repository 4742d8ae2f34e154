import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toHex } from '../../src/core/bytes.js';
import type { Envelope, SigningKey } from '../../src/core/envelope.js';
import { DammError } from '../../src/core/errors.js';
import { buildRoot, signRoot } from '../../src/core/trust/root.js';
import { memoryTrustStore, nodeAtomicFs, STATE_FILE, TrustClient, TrustStateStore, type AtomicFs, type TrustFetcher } from '../../src/client/trust-state.js';
import { T0, MIN, DAY, at, key, signCatalog, type CatalogBody } from '../helpers/trust-fixtures.js';


const [R1, R2, C1, C2, A1] = ['r1', 'r2', 'c1', 'c2', 'a1'].map(key) as [SigningKey, SigningKey, SigningKey, SigningKey, SigningKey];
const win = (k: SigningKey, from = at(-DAY), to = at(365 * DAY)) => ({ publicKey: k.publicKey, notBefore: from, notAfter: to });

function root(version: number, opts: { rootKey?: SigningKey; catalogKey?: SigningKey; signers?: SigningKey[]; expiresAt?: Date } = {}): Envelope {
  const rk = opts.rootKey ?? R1;
  return signRoot(
    buildRoot({
      version,
      issuedAt: at(-DAY),
      expiresAt: opts.expiresAt ?? at(365 * DAY),
      root: { keys: [rk.publicKey], threshold: 1 },
      catalog: { keys: [win(opts.catalogKey ?? C1)], threshold: 1 },
      admission: { keys: [win(A1)], threshold: 1 },
    }),
    opts.signers ?? [rk],
  );
}
const cat = (version: number, over: Partial<CatalogBody> = {}): CatalogBody => ({
  version,
  issuedAt: at(-MIN).toISOString(),
  expiresAt: at(DAY).toISOString(),
  frontDoors: [],
  ...over,
});
const shaOf = (env: Envelope) => toHex(sha256(fromBase64(env.payload)!));

class Repo implements TrustFetcher {
  roots = new Map<number, Envelope>();
  catalog: Envelope | null = null;
  rootFetches: number[] = [];
  constructor(...roots: Envelope[]) {
    roots.forEach((r, i) => this.roots.set(i + 1, r));
  }
  async fetchRoot(version: number): Promise<Envelope | null> {
    this.rootFetches.push(version);
    return this.roots.get(version) ?? null;
  }
  async fetchCatalog(): Promise<Envelope> {
    if (!this.catalog) throw new Error('offline');
    return this.catalog;
  }
}

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'damm-trust-state-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function isCode(code: string, reason?: string) {
  return (e: unknown) => e instanceof DammError && e.code === code && (reason === undefined || e.details?.reason === reason);
}

describe('TrustStateStore', () => {
  it('returns null before the first save, then round-trips', async () => {
    const store = new TrustStateStore(join(await tempDir(), 'nested', 'trust'));
    assert.equal(await store.load(), null);
    const env = signCatalog(cat(3), [C1]);
    const state = { root: root(1), catalog: { version: 3, payloadSha256: shaOf(env), envelope: env } };
    await store.save(state);
    assert.deepEqual(await store.load(), state);
  });

  it('a damaged state file is an error, never a silent reset', async () => {
    const dir = await tempDir();
    const store = new TrustStateStore(dir);
    await writeFile(join(dir, STATE_FILE), '{"format":"damm-trust-state/1","root":');
    await assert.rejects(store.load(), isCode('trust_invalid', 'state_corrupt'));
    await writeFile(join(dir, STATE_FILE), JSON.stringify({ format: 'damm-trust-state/1', root: root(1), catalog: { version: -1 } }));
    await assert.rejects(store.load(), isCode('trust_invalid', 'state_corrupt'));
  });

  it('a crash after the rename but before the directory fsync leaves the new state', async () => {
    const dir = await tempDir();
    await new TrustStateStore(dir).save({ root: root(1), catalog: null });
    const fs: AtomicFs = { ...nodeAtomicFs, fsyncDir: async () => Promise.reject(new Error('crash')) };
    await assert.rejects(new TrustStateStore(dir, { fs }).save({ root: root(2), catalog: null }), isCode('store_unavailable'));
    assert.deepEqual((await new TrustStateStore(dir).load())?.root, root(2));
  });

  it('a process killed (SIGKILL) while saving in a loop always leaves a complete state', async () => {
    const dir = await tempDir();
    const rootEnv = root(1);
    const modulePath = resolve('src/client/trust-state.ts');
    const script = `
      const { TrustStateStore } = await import(${JSON.stringify(modulePath)});
      const store = new TrustStateStore(${JSON.stringify(dir)});
      const root = ${JSON.stringify(rootEnv)};
      const pad = 'x'.repeat(200000);
      for (let i = 1; ; i++) {
        await store.save({ root, catalog: { version: i, payloadSha256: 'a'.repeat(64), envelope: { payloadType: pad, payload: '', signatures: [] } } });
        if (i === 3) process.stdout.write('ready\\n');
      }`;
    for (let round = 0; round < 4; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((ok, fail) => {
        child.stdout.once('data', () => ok());
        child.once('exit', (c) => fail(new Error(`child exited early: ${c}`)));
      });
      await new Promise((r) => setTimeout(r, 5 + round * 15));
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const state = await new TrustStateStore(dir).load();
      assert.ok(state && state.catalog && state.catalog.version >= 3, 'a complete state survives');
      assert.deepEqual(state.root, rootEnv);
    }
  });
});

describe('TrustClient', () => {
  async function client(repo: Repo, opts: { now?: Date; dir?: string; bootstrap?: Envelope; graceSeconds?: number } = {}) {
    const dir = opts.dir ?? (await tempDir());
    let now = opts.now ?? T0;
    const c = new TrustClient({
      store: new TrustStateStore(dir),
      fetcher: repo,
      bootstrapRoot: opts.bootstrap ?? repo.roots.get(1)!,
      clock: () => now,
      ...(opts.graceSeconds === undefined ? {} : { graceSeconds: opts.graceSeconds }),
    });
    return { c, dir, setNow: (d: Date) => (now = d) };
  }

  it('bootstraps, walks to the latest root one version at a time, verifies and persists the catalog', async () => {
    const repo = new Repo(root(1), root(2), root(3, { rootKey: R2, signers: [R1, R2] }));
    repo.catalog = signCatalog(cat(5), [C1]);
    const { c, dir } = await client(repo);
    const res = await c.refresh();
    assert.equal(res.version, 5);
    assert.deepEqual(repo.rootFetches, [2, 3, 4]);
    assert.equal((await c.currentRoot()).version, 3);
    const saved = await new TrustStateStore(dir).load();
    assert.equal(saved?.catalog?.version, 5);
    assert.deepEqual(saved?.root, repo.roots.get(3));
  });

  it('remembers the last catalog across restarts: a rolled-back catalog is refused by a new process', async () => {
    const repo = new Repo(root(1));
    repo.catalog = signCatalog(cat(5), [C1]);
    const { dir } = await (async () => {
      const x = await client(repo);
      await x.c.refresh();
      return x;
    })();
    repo.catalog = signCatalog(cat(4), [C1]);
    const { c } = await client(repo, { dir });
    await assert.rejects(c.refresh(), isCode('catalog_rollback', 'rollback'));
  });

  it('fast-forward recovery: rotating the catalog key resets the stored version, in the same write as the new root', async () => {
    const repo = new Repo(root(1));
    repo.catalog = signCatalog(cat(2 ** 40), [C1]); // leaked key signs a huge version
    const { c, dir } = await client(repo);
    assert.equal((await c.refresh()).version, 2 ** 40);
    repo.roots.set(2, root(2, { catalogKey: C2 }));
    repo.catalog = signCatalog(cat(6), [C2]);
    assert.equal((await c.refresh()).version, 6);
    const saved = await new TrustStateStore(dir).load();
    assert.equal(saved?.catalog?.version, 6);
    assert.deepEqual(saved?.root, repo.roots.get(2));
  });

  it('keeps verified root progress when a later version is bad, then reports the error', async () => {
    const repo = new Repo(root(1), root(2, { catalogKey: C2 }), root(3, { rootKey: R2, signers: [R2] }));
    const { c, dir } = await client(repo);
    await assert.rejects(c.updateRoot(), isCode('signature_invalid'));
    assert.equal((await c.currentRoot()).version, 2);
    assert.deepEqual((await new TrustStateStore(dir).load())?.root, repo.roots.get(2));
  });

  it('stops at maxRootWalk per update and continues on the next one', async () => {
    const repo = new Repo(...[1, 2, 3, 4, 5].map((v) => root(v)));
    const dir = await tempDir();
    const c = new TrustClient({ store: new TrustStateStore(dir), fetcher: repo, bootstrapRoot: repo.roots.get(1)!, clock: () => T0, maxRootWalk: 2 });
    assert.equal((await c.updateRoot()).root.version, 3);
    assert.equal((await c.updateRoot()).root.version, 5);
    assert.equal((await c.updateRoot()).walked, 0);
  });

  it('walkMustFinish (a client that keeps nothing, the page): a chain longer than maxRootWalk is refused, not cut short', async () => {
    const repo = new Repo(...[1, 2, 3, 4].map((v) => root(v)));
    const c = new TrustClient({ store: memoryTrustStore(), fetcher: repo, bootstrapRoot: repo.roots.get(1)!, clock: () => T0, maxRootWalk: 2, walkMustFinish: true });
    await assert.rejects(c.updateRoot(), isCode('trust_invalid', 'root_walk_too_long'));
    assert.deepEqual(repo.rootFetches, [2, 3, 4], 'one more than the walk allows, to know the chain goes on');
    const fits = new TrustClient({ store: memoryTrustStore(), fetcher: repo, bootstrapRoot: repo.roots.get(1)!, clock: () => T0, maxRootWalk: 3, walkMustFinish: true });
    assert.equal((await fits.updateRoot()).root.version, 4);
  });

  it('refreshCatalog verifies against the root trusted now without walking, so a root failure and a catalog failure are told apart', async () => {
    const repo = new Repo(root(1));
    repo.catalog = signCatalog(cat(1), [C2]); // a key root v1 does not certify
    const c = new TrustClient({ store: memoryTrustStore(), fetcher: repo, bootstrapRoot: repo.roots.get(1)!, clock: () => T0 });
    await c.updateRoot();
    repo.rootFetches = [];
    await assert.rejects(c.refreshCatalog(), isCode('signature_invalid'));
    assert.deepEqual(repo.rootFetches, []);
  });

  it('an expired final root is persisted (it is genuine) but refused for use', async () => {
    const repo = new Repo(root(1), root(2, { expiresAt: at(-MIN) }));
    repo.catalog = signCatalog(cat(1), [C1]);
    const { c } = await client(repo);
    await assert.rejects(c.refresh(), isCode('trust_invalid', 'root_expired'));
    assert.equal((await c.currentRoot()).version, 2);
  });

  it('refuses a bootstrap root that does not match its pin', async () => {
    const repo = new Repo(root(1));
    const c = new TrustClient({ store: new TrustStateStore(await tempDir()), fetcher: repo, bootstrapRoot: root(1), bootstrapSha256: '0'.repeat(64), clock: () => T0 });
    await assert.rejects(c.updateRoot(), isCode('trust_invalid', 'pin_mismatch'));
    const ok = new TrustClient({ store: new TrustStateStore(await tempDir()), fetcher: repo, bootstrapRoot: root(1), bootstrapSha256: shaOf(root(1)), clock: () => T0 });
    assert.equal((await ok.updateRoot()).root.version, 1);
  });

  it('serves the cached catalog offline until it expires, then within the grace period flagged stale', async () => {
    const repo = new Repo(root(1));
    repo.catalog = signCatalog(cat(1), [C1]);
    const { c, setNow } = await client(repo, { graceSeconds: 3600 });
    await c.refresh();
    repo.catalog = null;
    await assert.rejects(c.refresh());
    assert.equal((await c.cachedCatalog())?.stale, false);
    setNow(at(DAY + 30 * MIN));
    assert.equal((await c.cachedCatalog())?.stale, true);
    setNow(at(DAY + 61 * MIN));
    await assert.rejects(c.cachedCatalog(), isCode('catalog_expired'));
  });

  it('a failed save leaves memory and disk on the previous state', async () => {
    const repo = new Repo(root(1), root(2, { catalogKey: C2 }));
    const dir = await tempDir();
    await new TrustClient({ store: new TrustStateStore(dir), fetcher: new Repo(root(1)), bootstrapRoot: root(1), clock: () => T0 }).updateRoot();
    const before = await readFile(join(dir, STATE_FILE));
    const fs: AtomicFs = { ...nodeAtomicFs, rename: async () => Promise.reject(new Error('disk full')) };
    const c = new TrustClient({ store: new TrustStateStore(dir, { fs }), fetcher: repo, bootstrapRoot: root(1), clock: () => T0 });
    await assert.rejects(c.updateRoot(), isCode('store_unavailable'));
    assert.equal((await c.currentRoot()).version, 1);
    assert.deepEqual(await readFile(join(dir, STATE_FILE)), before);
  });
});
