/**
 * `damm gateway run`: the agent on a gateway host. Needs CAP_NET_ADMIN only
 * (deploy/damm-gateway.service); never sudo, never a shell.
 *
 * `damm gateway add|list` (operator commands) live in operator.ts; both add
 * subcommands to the same `gateway` command, whichever registers first.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { fail } from '../output.js';

interface RunOpts {
  controlPlane: string;
  token?: string;
  tokenFile?: string;
  interface: string;
  listenPort: number;
  endpoint: string;
  egressIp: string[];
  stateDir: string;
  backend: 'uapi' | 'wg';
  uapiSocketDir?: string;
  nat?: boolean;
  egressInterface?: string;
  manageAddresses: boolean;
  reconcileInterval: number;
  heartbeatInterval: number;
  logLevel: string;
  rootSha256?: string;
  rootFile?: string;
}

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number`);
  return n;
};

/** "host:port" or "[ipv6]:port". */
export function parseEndpoint(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535) throw new Error(`--endpoint must be host:port or [ipv6]:port, got "${text}"`);
  return { host: m[1] ?? m[2]!, port };
}

async function readRootFile(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`--root-file ${file} is not JSON (expected the envelope "damm keys export-root 1" writes)`);
  }
}

export function registerGatewayRun(program: Command): void {
  const gateway = program.commands.find((c) => c.name() === 'gateway') ?? program.command('gateway').description('gateways');
  gateway
    .command('run')
    .description('run the gateway agent: register once, follow the change feed, drive WireGuard')
    .requiredOption('--control-plane <url>', 'control plane base URL (env DAMM_CONTROL_PLANE)', process.env.DAMM_CONTROL_PLANE)
    .option('--token <token>', 'one-time registration token dg_… (first start only; prefer env DAMM_GATEWAY_TOKEN or --token-file: argv is visible to other users)')
    .option('--token-file <file>', 'read the registration token from this file')
    .option('--interface <name>', 'WireGuard interface', 'wg0')
    .option('--listen-port <port>', 'WireGuard UDP port', positive('--listen-port'), 51820)
    .requiredOption('--endpoint <host:port>', 'public endpoint clients dial (registered as the T0 front door)')
    .option('--egress-ip <ip>', 'registered egress address (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--state-dir <dir>', 'credential, WireGuard key, desired peers, cursor (mode 0700)', '/var/lib/damm-gateway')
    .option('--backend <name>', 'uapi (wireguard-go & other userspace daemons) or wg (kernel WireGuard via the wg tool)', 'uapi')
    .option('--uapi-socket-dir <dir>', 'where the userspace daemon puts <interface>.sock', '/var/run/wireguard')
    .option('--nat', 'masquerade tunnel traffic leaving the host (iptables); otherwise the unit or the operator sets NAT')
    .option('--egress-interface <name>', 'with --nat: only masquerade out of this interface')
    .option('--no-manage-addresses', 'do not assign tunnel addresses or bring the link up (the unit does it)')
    .option('--reconcile-interval <seconds>', 'full drift comparison every N seconds', positive('--reconcile-interval'), 30)
    .option('--heartbeat-interval <seconds>', 'heartbeat and meter report every N seconds', positive('--heartbeat-interval'), 30)
    .option('--root-sha256 <hex>', 'pin the offline root: sha256 of root v1, printed by "damm init" and "damm keys status" (env DAMM_ROOT_SHA256); production gateways should pin', process.env.DAMM_ROOT_SHA256)
    .option('--root-file <file>', 'pin the offline root with the file "damm keys export-root 1" writes (with --root-sha256 both must match)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', process.env.DAMM_LOG_LEVEL ?? 'info')
    .action(async (o: RunOpts) => {
      try {
        // The agent, WireGuard and logging modules load here, not for `damm --help` (src/cli/main.ts).
        const { parseIPv4, parseIPv6 } = await import('../../core/ipam.js');
        const { checkRootSha256 } = await import('../../client/trust-state.js');
        const { default: pino } = await import('pino');
        const { GatewayAgent } = await import('../../gateway/agent/agent.js');
        const { HttpControlPlaneApi } = await import('../../gateway/agent/api.js');
        const { systemHostOps } = await import('../../gateway/agent/host.js');
        const { nodeEd25519 } = await import('../../platform/node-ed25519.js');
        const { UapiBackend } = await import('../../gateway/wireguard/uapi.js');
        const { WgToolBackend } = await import('../../gateway/wireguard/wg-tool.js');
        const { systemClock } = await import('../../core/clock.js');
        if (o.backend !== 'uapi' && o.backend !== 'wg') throw new Error('--backend must be uapi or wg');
        if (o.egressIp.length === 0) throw new Error('--egress-ip is required (the address your traffic leaves from)');
        for (const ip of o.egressIp) if (parseIPv4(ip) === null && parseIPv6(ip) === null) throw new Error(`--egress-ip ${ip} is not an IP address`);
        const endpoint = parseEndpoint(o.endpoint);
        const token = o.token ?? process.env.DAMM_GATEWAY_TOKEN ?? (o.tokenFile ? (await readFile(o.tokenFile, 'utf8')).trim() : undefined);
        const rootPin = {
          ...(o.rootSha256 ? { sha256: checkRootSha256(o.rootSha256, o.rootSha256 === process.env.DAMM_ROOT_SHA256 ? 'DAMM_ROOT_SHA256' : '--root-sha256') } : {}),
          ...(o.rootFile ? { rootEnvelope: await readRootFile(o.rootFile) } : {}),
        };
        const log = pino({ level: o.logLevel, base: { component: 'damm-gateway' }, redact: { paths: ['credential', 'token', 'privateKey'], censor: '[redacted]' } });
        const host = systemHostOps(log);
        if (o.backend === 'wg') await host.ensureKernelInterface(o.interface);
        const backend =
          o.backend === 'uapi'
            ? new UapiBackend({ interfaceName: o.interface, ...(o.uapiSocketDir ? { socketDir: o.uapiSocketDir } : {}) })
            : new WgToolBackend({ interfaceName: o.interface });
        const agent = new GatewayAgent({
          controlPlane: o.controlPlane,
          ...(token ? { token } : {}),
          interfaceName: o.interface,
          listenPort: o.listenPort,
          endpoint,
          egressIps: o.egressIp,
          stateDir: o.stateDir,
          backend,
          api: new HttpControlPlaneApi(o.controlPlane),
          host: o.manageAddresses ? host : null,
          nat: !!o.nat,
          ...(o.egressInterface ? { egressInterface: o.egressInterface } : {}),
          clock: systemClock,
          log,
          ed: nodeEd25519(),
          reconcileIntervalMs: o.reconcileInterval * 1000,
          heartbeatIntervalMs: o.heartbeatInterval * 1000,
          rootPin,
        });
        await agent.start();
        const stop = async () => {
          log.info('stopping');
          await agent.stop();
          process.exit(0);
        };
        process.once('SIGINT', () => void stop());
        process.once('SIGTERM', () => void stop());
      } catch (err) {
        fail(err);
      }
    });
}
