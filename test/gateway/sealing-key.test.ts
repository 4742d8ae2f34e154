import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StateDir } from '../../src/gateway/agent/state.js';
import { open, seal } from '../../src/core/seal.js';
import { fromBase64, utf8 } from '../../src/core/bytes.js';

const dir = mkdtempSync(path.join(tmpdir(), 'px-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the sealing key is made once (0600), kept across starts, apart from the WireGuard key, and opens what is sealed to it', async () => {
  const state = new StateDir(dir);
  await state.init();
  const first = await state.sealingKey();
  assert.equal(first.created, true);
  assert.equal(statSync(path.join(dir, 'sealing-private.key')).mode & 0o777, 0o600);
  const again = await new StateDir(dir).sealingKey();
  assert.deepEqual(again, { ...first, created: false });
  const wg = await state.privateKey();
  assert.notEqual(wg.publicKey, first.publicKey, 'one key, one purpose');

  const ctx = { gatewayId: 'gw-1', doorId: 'vless-ws' };
  const sealed = seal(fromBase64(first.publicKey)!, utf8.encode('b831381d-6324-4d53-ad4f-8cda48b30811'), ctx);
  assert.equal(utf8.decode(open(fromBase64(again.privateKey)!, sealed, ctx)), 'b831381d-6324-4d53-ad4f-8cda48b30811');
});
