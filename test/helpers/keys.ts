import { generateKeyPairSync } from 'node:crypto';

/** An X25519 key pair as WireGuard writes it (base64), made the way the browser makes one. */
export function wgKeyPair(): { privateKey: string; publicKey: string } {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  const pub = publicKey.export({ format: 'jwk' }).x!;
  const priv = privateKey.export({ format: 'jwk' }).d!;
  return { publicKey: Buffer.from(pub, 'base64url').toString('base64'), privateKey: Buffer.from(priv, 'base64url').toString('base64') };
}
