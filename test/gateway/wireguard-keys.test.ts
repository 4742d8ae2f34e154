/**
 * WireGuard key generation (src/gateway/wireguard/keys.ts): pairs agree with
 * `wg pubkey`, private keys are clamped like `wg genkey`'s, and generating
 * thousands under allocation pressure finishes (Node 20's keygen + JWK export
 * deadlocked the burst test; this loop hung within seconds with it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { generateWireGuardKeyPair } from '../../src/gateway/wireguard/keys.js';
import { runOk } from '../helpers/netns.js';

test('generated pairs agree with `wg pubkey` and are clamped', async () => {
  for (let i = 0; i < 5; i++) {
    const k = generateWireGuardKeyPair();
    assert.equal((await runOk(['wg', 'pubkey'], { stdin: `${k.privateKey}\n` })).trim(), k.publicKey);
    const d = Buffer.from(k.privateKey, 'base64');
    assert.equal(d.length, 32);
    assert.equal(d[0]! & 7, 0);
    assert.equal(d[31]! & 0xc0, 0x40);
  }
});

test('5,000 pairs under allocation pressure finish (no keygen/GC deadlock)', async () => {
  const keys = fileURLToPath(new URL('../../src/gateway/wireguard/keys.ts', import.meta.url));
  const script = `
    const { generateWireGuardKeyPair } = await import(${JSON.stringify(keys)});
    const junk = [];
    for (let i = 0; i < 5000; i++) {
      generateWireGuardKeyPair();
      junk.push(new Array(50).fill('x'.repeat(20)));
      if (junk.length > 1000) junk.length = 0;
    }
    console.log('done');`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, 60_000);
    child.once('exit', (c) => (clearTimeout(t), resolve(c)));
  });
  assert.equal(code, 0, 'the generator loop did not finish within 60 s (deadlocked?); the old keygen + JWK export hung before 500');
  assert.match(out, /done/);
});
