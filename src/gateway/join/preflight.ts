/**
 * What `damm gateway join` checks on the gateway host before it installs
 * anything, each failure as one sentence that says what to fix. Every check
 * runs (no stop at the first), so an operator fixes everything in one go.
 *
 * The pin is checked with the same code the agent runs at every start
 * (client/trust-state's openPinnedTrust, in a scratch directory that is
 * thrown away), so `join` cannot accept a control plane the agent would refuse.
 */
import { createSocket } from 'node:dgram';
import { access, constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isDammError } from '../../core/errors.js';
import { HttpClient } from '../../client/http.js';
import { httpTrustFetcher } from '../../client/http-fetcher.js';
import { openPinnedTrust } from '../../client/trust-state.js';
import type { JoinCode } from '../../core/join-code.js';

/** A host whose clock is further off than this would see admission windows shifted; refuse before it does. */
export const MAX_JOIN_CLOCK_SKEW_SECONDS = 60;
const CAP_NET_ADMIN = 12;

export interface Problem {
  /** Stable, for scripts and tests. */
  check: 'cap_net_admin' | 'tun_device' | 'daemon_missing' | 'port_in_use' | 'control_plane_unreachable' | 'clock_skew' | 'wrong_pin';
  sentence: string;
}

export interface PreflightOptions {
  code: JoinCode;
  /** UDP ports the gateway will listen on. */
  udpPorts: number[];
  /** Userspace WireGuard daemons the units run, by path. */
  daemons: string[];
  /** Linux status file to read capabilities from (a test may point at another process's). */
  procStatus?: string;
  tunDevice?: string;
}

export async function preflight(o: PreflightOptions): Promise<Problem[]> {
  const checks = await Promise.all([
    capNetAdmin(o.procStatus ?? '/proc/self/status'),
    tunDevice(o.tunDevice ?? '/dev/net/tun'),
    ...o.daemons.map(daemonPresent),
    ...o.udpPorts.map(udpPortFree),
    controlPlane(o.code),
  ]);
  return checks.flat();
}

async function capNetAdmin(statusFile: string): Promise<Problem[]> {
  const status = await readFile(statusFile, 'utf8');
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (eff && (BigInt(`0x${eff}`) >> BigInt(CAP_NET_ADMIN)) & 1n) return [];
  return [{
    check: 'cap_net_admin',
    sentence: 'This process does not hold CAP_NET_ADMIN, so the gateway could not manage its WireGuard interface: run join as root, and in a container start it with --cap-add NET_ADMIN.',
  }];
}

async function tunDevice(device: string): Promise<Problem[]> {
  try {
    await access(device, constants.R_OK | constants.W_OK);
    return [];
  } catch {
    return [{ check: 'tun_device', sentence: `${device} is missing or not usable, and userspace WireGuard needs it: load the tun module (modprobe tun), or in a container pass --device /dev/net/tun.` }];
  }
}

async function daemonPresent(file: string): Promise<Problem[]> {
  try {
    await access(file, constants.X_OK);
    return [];
  } catch {
    const name = path.basename(file);
    const how = name === 'wireguard-go' ? 'apt-get install wireguard-go' : `install ${name} (docs/gateway.md says how)`;
    return [{ check: 'daemon_missing', sentence: `${name} is not installed at ${file}, where the unit runs it from: ${how}, or point --${name} at it.` }];
  }
}

function udpPortFree(port: number): Promise<Problem[]> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp6', ipv6Only: false });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.close();
      resolve(err.code === 'EADDRINUSE'
        ? [{ check: 'port_in_use', sentence: `UDP port ${port} is already in use on this host (another WireGuard or VPN?): stop what holds it (ss -ulpn sport = :${port}), or choose other ports.` }]
        : [{ check: 'port_in_use', sentence: `UDP port ${port} cannot be bound (${err.code ?? err.message}).` }]);
    });
    socket.bind(port, () => socket.close(() => resolve([])));
  });
}

async function controlPlane(code: JoinCode): Promise<Problem[]> {
  const client = new HttpClient(code.controlPlane, { timeoutMs: 10_000 });
  let skewSeconds: number;
  try {
    const t = await client.serverTime('/healthz');
    // The Date header is truncated to the second; the local midpoint of the call stands for the instant it was made.
    const local = (t.sentAt + t.receivedAt) / 2;
    skewSeconds = (local - (t.server.getTime() + 500)) / 1000;
  } catch (err) {
    return [{
      check: 'control_plane_unreachable',
      sentence: `Cannot reach the control plane at ${code.controlPlane} (${isDammError(err) || err instanceof Error ? err.message : String(err)}): check this host's DNS, its firewall and routes, and that the control plane runs.`,
    }];
  } finally {
    client.close();
  }
  const problems: Problem[] = [];
  if (Math.abs(skewSeconds) > MAX_JOIN_CLOCK_SKEW_SECONDS) {
    problems.push({
      check: 'clock_skew',
      sentence: `This host's clock is ${Math.round(Math.abs(skewSeconds))} s ${skewSeconds > 0 ? 'ahead of' : 'behind'} the control plane's: admission records would be refused or kept too long. Turn on time sync (systemd-timesyncd or chrony) and run join again.`,
    });
    return problems; // the root's validity window is judged on this clock too: a pin verdict now would mislead
  }
  const scratch = await mkdtemp(path.join(tmpdir(), 'damm-join-'));
  try {
    await openPinnedTrust({ dir: scratch, pin: { sha256: code.rootSha256 }, fetcher: httpTrustFetcher(code.controlPlane) });
  } catch (err) {
    const reason = isDammError(err) ? (err.details as { reason?: string } | undefined)?.reason : undefined;
    problems.push(reason === 'pin_mismatch'
      ? {
          check: 'wrong_pin',
          sentence: `The control plane at ${code.controlPlane} serves a different root of trust than this join code pins: it is not the service the code was made for (or the code is from another one). Do not continue; ask its operator for a new join code.`,
        }
      : {
          check: 'control_plane_unreachable',
          sentence: `The control plane at ${code.controlPlane} did not give a root of trust this host can check (${err instanceof Error ? err.message : String(err)}).`,
        });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return problems;
}
