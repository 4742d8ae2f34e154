import { generateWireGuardKeyPair } from '../../src/gateway/wireguard/keys.js';

/** An X25519 key pair as WireGuard writes it (base64), from the one generator production uses (see there why not generateKeyPairSync). */
export function wgKeyPair(): { privateKey: string; publicKey: string } {
  return generateWireGuardKeyPair();
}
