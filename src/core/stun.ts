/**
 * The one STUN message a DAMM gateway answers: a Binding request (RFC 8489),
 * sent by the wizard's browser through RTCPeerConnection to a UDP door's own
 * host and port, to learn whether UDP to that port crosses the visitor's
 * network. The answer is a Binding success response carrying only
 * XOR-MAPPED-ADDRESS (what the gateway saw as the sender's address, which the
 * sender already knows): no software name, nothing about the gateway or any
 * device. Anything else is not STUN for us and gets no answer.
 *
 * A Binding request can never be mistaken for WireGuard or AmneziaWG on the
 * same port: it starts 0x00 0x01 and carries the magic cookie 0x2112A442 at
 * bytes 4-7, where WireGuard has its message type (1-4, then three zero
 * bytes) and a random sender index. gateway/agent/host.ts steers exactly
 * that match to the responder.
 *
 * Pure: bytes in, bytes out (Uint8Array; runs anywhere).
 */
import ipaddr from 'ipaddr.js';
import { formatIp, parseIp, type IpAddress } from './ip.js';
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const XOR_MAPPED_ADDRESS = 0x0020;
const HEADER = 20;
/** Requests larger than this are not what a browser sends; ignore them (no amplification surface). */
export const STUN_MAX_REQUEST = 548;

export interface StunPeer {
  /** Dotted IPv4 or IPv6 text as the socket reports it (IPv4-mapped IPv6 is unwrapped). */
  address: string;
  port: number;
}

/** True for a well-formed Binding request: type, cookie, a length that matches and is a multiple of 4. */
export function isStunBindingRequest(msg: Uint8Array): boolean {
  if (msg.length < HEADER || msg.length > STUN_MAX_REQUEST) return false;
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
  const length = v.getUint16(2);
  return v.getUint16(0) === STUN_BINDING_REQUEST && v.getUint32(4) === STUN_MAGIC_COOKIE && length === msg.length - HEADER && length % 4 === 0;
}

/** The Binding success response to `request` (which must pass isStunBindingRequest), telling `peer` its address. */
export function stunBindingResponse(request: Uint8Array, peer: StunPeer): Uint8Array {
  const parsed = parseIp(peer.address);
  if (!parsed) throw new Error(`not an IP address: ${peer.address}`);
  // A dual-stack socket reports IPv4 senders as ::ffff:a.b.c.d; the sender knows itself as a.b.c.d.
  const ip: IpAddress = parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress() ? (parsed as ipaddr.IPv6).toIPv4Address() : parsed;
  const v4 = ip.kind() === 'ipv4';
  const addr = Uint8Array.from(ip.toByteArray());
  const attrLength = 4 + addr.length;
  const out = new Uint8Array(HEADER + 4 + attrLength);
  const v = new DataView(out.buffer);
  v.setUint16(0, BINDING_SUCCESS);
  v.setUint16(2, 4 + attrLength);
  out.set(request.subarray(4, HEADER), 4); // magic cookie and transaction id, as asked
  v.setUint16(HEADER, XOR_MAPPED_ADDRESS);
  v.setUint16(HEADER + 2, attrLength);
  v.setUint8(HEADER + 5, v4 ? 0x01 : 0x02);
  v.setUint16(HEADER + 6, peer.port ^ (STUN_MAGIC_COOKIE >>> 16));
  const xorKey = out.subarray(4, HEADER); // cookie (4 bytes) then transaction id (12): RFC 8489 §14.2
  for (let i = 0; i < addr.length; i++) out[HEADER + 8 + i] = addr[i]! ^ xorKey[i]!;
  return out;
}

/** Reads XOR-MAPPED-ADDRESS back from a Binding success response (tests, and clients that probe from Node). */
export function parseStunMappedAddress(response: Uint8Array): StunPeer | null {
  if (response.length < HEADER) return null;
  const v = new DataView(response.buffer, response.byteOffset, response.byteLength);
  if (v.getUint16(0) !== BINDING_SUCCESS || v.getUint32(4) !== STUN_MAGIC_COOKIE) return null;
  let at = HEADER;
  while (at + 4 <= response.length) {
    const type = v.getUint16(at);
    const len = v.getUint16(at + 2);
    if (at + 4 + len > response.length) return null;
    if (type === XOR_MAPPED_ADDRESS && (len === 8 || len === 20)) {
      const port = v.getUint16(at + 6) ^ (STUN_MAGIC_COOKIE >>> 16);
      const key = response.subarray(4, HEADER);
      const bytes = Array.from(response.subarray(at + 8, at + 4 + len), (b, i) => b ^ key[i]!);
      return { address: formatIp(ipaddr.fromByteArray(bytes)), port };
    }
    at += 4 + len + ((4 - (len % 4)) % 4);
  }
  return null;
}
