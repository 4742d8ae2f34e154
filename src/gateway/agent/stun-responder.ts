/**
 * Answers the wizard's reachability probes for the gateway's UDP doors. The
 * agent's nftables table steers STUN Binding requests that arrive on a door
 * port (and only those: see core/stun.ts) to this socket, so a browser's
 * RTCPeerConnection learns whether UDP to exactly that port crosses its
 * network, while WireGuard on the same port is untouched. Conntrack rewrites
 * the reply's source back to the door port.
 *
 * It answers at most `maxPerSecond` probes a second in all: a response is 32
 * or 44 bytes for a 20-byte request, so this is not a useful reflector, and
 * a flood costs a bounded amount of work.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isStunBindingRequest, stunBindingResponse } from '../../core/stun.js';

export interface StunResponder {
  port: number;
  /** Probes answered and ignored since start (for metrics and tests). */
  counts(): { answered: number; ignored: number };
  close(): Promise<void>;
}

export async function startStunResponder(o: { port?: number; host?: string; maxPerSecond?: number } = {}): Promise<StunResponder> {
  const socket: Socket = createSocket({ type: 'udp6', ipv6Only: false });
  const max = o.maxPerSecond ?? 200;
  let windowStart = 0;
  let inWindow = 0;
  let answered = 0;
  let ignored = 0;
  socket.on('message', (msg, rinfo) => {
    const now = Date.now();
    if (now - windowStart >= 1000) {
      windowStart = now;
      inWindow = 0;
    }
    if (inWindow >= max || !isStunBindingRequest(msg)) {
      ignored++;
      return;
    }
    inWindow++;
    answered++;
    socket.send(stunBindingResponse(msg, { address: rinfo.address, port: rinfo.port }), rinfo.port, rinfo.address);
  });
  socket.on('error', () => undefined); // a send to a vanished peer (ICMP unreachable) must not end the agent
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(o.port ?? 0, o.host ?? '::', () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return {
    port: socket.address().port,
    counts: () => ({ answered, ignored }),
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
