/** Shared pieces of the trust and backup tests: an HTTP TrustFetcher, enrollment, the offline root "vault". */
import { cp as copy, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from '../../src/core/bytes.js';
import type { Envelope, SigningKey } from '../../src/core/envelope.js';
import { readRootKeyFile } from '../../src/control-plane/trust/offline-keys.js';
import type { TestControlPlane } from '../helpers/control-plane.js';
import { wgKeyPair } from '../helpers/keys.js';

/** What a gateway or CLI uses (GET /v1/trust/root/{n}.json, 404 = end of chain; GET /v1/catalog); it lives in src/client now. */
export { httpTrustFetcher } from '../../src/client/http-fetcher.js';

export function payloadSha256(env: Envelope): string {
  return toHex(sha256(Buffer.from(env.payload, 'base64')));
}

/** The operator moves the offline root off the control-plane host: copy it to a "vault" directory. */
export async function moveRootToVault(cp: TestControlPlane): Promise<{ dir: string; keyFiles: string[]; keys: SigningKey[]; rootV1: Envelope }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'damm-vault-'));
  await copy(path.join(cp.dataDir, 'offline-root'), dir, { recursive: true });
  const keyFiles = (await readdir(dir)).filter((f) => f.endsWith('.key')).map((f) => path.join(dir, f));
  const keys = await Promise.all(keyFiles.map((f) => readRootKeyFile(f)));
  const rootV1 = JSON.parse(await readFile(path.join(dir, 'root-1.json'), 'utf8')) as Envelope;
  return { dir, keyFiles, keys, rootV1 };
}

export interface Enrolled {
  deviceId: string;
  publicKey: string;
  ipv4: string;
  ipv6: string;
}

/** Enrolls n devices through the public API (each with its own install pass). */
export async function enrollDevices(cp: TestControlPlane, n: number): Promise<Enrolled[]> {
  const out: Enrolled[] = [];
  for (let i = 0; i < n; i++) {
    const pass = await cp.op('POST', '/v1/operator/passes', {});
    if (pass.status !== 201) throw new Error(`pass: ${JSON.stringify(pass.body)}`);
    const { publicKey } = wgKeyPair();
    const r = await cp.call('POST', '/v1/enroll', { installPass: pass.body.token, publicKey });
    if (r.status !== 201) throw new Error(`enroll: ${JSON.stringify(r.body)}`);
    out.push({ deviceId: r.body.deviceId, publicKey, ipv4: r.body.addresses.ipv4, ipv6: r.body.addresses.ipv6 });
  }
  return out;
}
