/**
 * Reachability probes the wizard runs from the visitor's own network before
 * it recommends a door (issue: the wizard finds the door that works).
 *
 * UDP doors: a STUN Binding request sent by the browser's own WebRTC stack
 * (RTCPeerConnection with the door as its only STUN server) to the door's
 * host and port. The gateway steers Binding requests on its door ports to a
 * responder (gateway/agent/stun-responder.ts), so an answer proves that UDP
 * to exactly that port crosses this network. Nothing identifying is sent:
 * a STUN request carries a random transaction id and no credentials.
 *
 * A probe says "reachable" on the first server-reflexive candidate, and
 * "unreachable" when gathering ends without one or the time is up. It cannot
 * see DPI that lets STUN through but drops WireGuard handshakes; the
 * connection test after import catches that.
 */
export interface ProbeResult {
  reachable: boolean;
  /** Milliseconds to the answer, when there was one. */
  ms: number | null;
}

function stunUrl(host: string, port: number): string {
  return `stun:${host.includes(':') && !host.startsWith('[') ? `[${host}]` : host}:${port}`;
}

export function probeUdpDoor(host: string, port: number, timeoutMs = 3000): Promise<ProbeResult> {
  const started = performance.now();
  const pc = new RTCPeerConnection({ iceServers: [{ urls: stunUrl(host, port) }], iceCandidatePoolSize: 0 });
  return new Promise<ProbeResult>((resolve) => {
    let done = false;
    const finish = (reachable: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      pc.close();
      resolve({ reachable, ms: reachable ? Math.round(performance.now() - started) : null });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate?.type === 'srflx') finish(true);
      else if (e.candidate === null) finish(false); // gathering complete, no answer from the door
    });
    pc.createDataChannel('probe'); // something to negotiate, so ICE gathers at all
    pc.createOffer()
      .then((offer) => pc.setLocalDescription(offer))
      .catch(() => finish(false));
  });
}
