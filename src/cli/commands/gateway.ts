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
import { GATEWAY_SETTINGS, integer, settingHelp, type GatewaySettingKey } from '../../gateway/agent/settings-table.js';
import type { LaneOptions } from '../../gateway/agent/agent.js';

/** What `damm gateway run` flags are called inside commander, by setting. */
const FLAG_KEYS: Record<string, GatewaySettingKey> = {
  controlPlane: 'controlPlane', token: 'token', tokenFile: 'tokenFile', interface: 'interface', listenPort: 'listenPort',
  altPort: 'altPorts', endpoint: 'endpoint', egressIp: 'egressIps', stateDir: 'stateDir', backend: 'backend', uapiSocketDir: 'uapiSocketDir',
  nat: 'nat', egressInterface: 'egressInterface', manageAddresses: 'manageAddresses', reconcileInterval: 'reconcileIntervalSeconds',
  heartbeatInterval: 'heartbeatIntervalSeconds', rootSha256: 'rootSha256', rootFile: 'rootFile', logLevel: 'logLevel',
  wgLanePort: 'wgLanePort', wgLaneInterface: 'wgLaneInterface', awgPort: 'awgPort', awgInterface: 'awgInterface', awgSocketDir: 'awgSocketDir', probePort: 'probePort', metricsListen: 'metricsListen',
};

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
    // No defaults here: a flag given wins over the environment, the environment over the default
    // (src/gateway/agent/settings.ts validates the merged settings, docs/gateway.md lists them).
    .option('--control-plane <url>', `control plane base URL (${settingHelp('controlPlane')})`)
    .option('--token <token>', `one-time registration token dg_… (first start only; prefer ${GATEWAY_SETTINGS.token.env} or --token-file: argv is visible to other users)`)
    .option('--token-file <file>', `read the registration token from this file (${settingHelp('tokenFile')})`)
    .option('--interface <name>', `WireGuard interface (${settingHelp('interface')})`)
    .option('--listen-port <port>', `WireGuard UDP port (${settingHelp('listenPort')})`, integer)
    .option('--alt-port <port>', `also answer on this UDP port (nftables redirect to the listen port), registered as one more T0 door; repeatable (${settingHelp('altPorts')}, comma separated)`, (v: string, acc: unknown[] | undefined) => [...(acc ?? []), integer(v)])
    .option('--endpoint <host:port>', `public endpoint clients dial, registered as the T0 front door (${settingHelp('endpoint')})`)
    .option('--egress-ip <ip>', `registered egress address, repeatable (${settingHelp('egressIps')}, comma separated)`, (v: string, acc: string[] | undefined) => [...(acc ?? []), v])
    .option('--state-dir <dir>', `credential, WireGuard key, desired peers, cursor, mode 0700 (${settingHelp('stateDir')})`)
    .option('--backend <name>', `uapi (wireguard-go & other userspace daemons) or wg (kernel WireGuard via the wg tool) (${settingHelp('backend')})`)
    .option('--uapi-socket-dir <dir>', `where the userspace daemon puts <interface>.sock (${settingHelp('uapiSocketDir')})`)
    .option('--nat', `masquerade tunnel traffic leaving the host (iptables); otherwise the unit or the operator sets NAT (${settingHelp('nat')})`)
    .option('--egress-interface <name>', `with --nat: only masquerade out of this interface (${settingHelp('egressInterface')})`)
    .option('--no-manage-addresses', `do not assign tunnel addresses or bring the link up; the unit does it (${settingHelp('manageAddresses')})`)
    .option('--reconcile-interval <seconds>', `full drift comparison every N seconds (${settingHelp('reconcileIntervalSeconds')})`, integer)
    .option('--heartbeat-interval <seconds>', `heartbeat and meter report every N seconds (${settingHelp('heartbeatIntervalSeconds')})`, integer)
    .option('--root-sha256 <hex>', `pin the offline root: sha256 of root v1, printed by "damm init" and "damm keys status"; production gateways should pin (${settingHelp('rootSha256')})`)
    .option('--root-file <file>', `pin the offline root with the file "damm keys export-root 1" writes; with --root-sha256 both must match (${settingHelp('rootFile')})`)
    .option('--wg-lane-port <port>', `also run a second plain WireGuard interface (lane 2: its own key and tunnel prefixes) on this UDP port, registered as a T0 door (${settingHelp('wgLanePort')})`, integer)
    .option('--wg-lane-interface <name>', `the second WireGuard interface's name (${settingHelp('wgLaneInterface')})`)
    .option('--awg-port <port>', `also serve an AmneziaWG door (lane 1, T1) on this UDP port from amneziawg-go; its key and parameters are made once and kept in the state directory (${settingHelp('awgPort')})`, integer)
    .option('--awg-interface <name>', `amneziawg-go's interface (${settingHelp('awgInterface')})`)
    .option('--probe-port <port>', `answer the wizard's reachability probes (STUN Binding requests) on every UDP door port, through a responder on this local port (${settingHelp('probePort')})`, integer)
    .option('--metrics-listen <host:port>', `serve this agent's Prometheus metrics here, e.g. 127.0.0.1:9469 (${settingHelp('metricsListen')})`)
    .option('--awg-socket-dir <dir>', `where amneziawg-go puts <interface>.sock (${settingHelp('awgSocketDir')})`)
    .option('--log-level <level>', `fatal, error, warn, info, debug (${settingHelp('logLevel')})`)
    .action(async (_o: Record<string, unknown>, cmd: Command) => {
      try {
        // The agent, WireGuard and logging modules load here, not for `damm --help` (src/cli/main.ts).
        const { gatewaySettingsFrom, endpointParts } = await import('../../gateway/agent/settings.js');
        const { checkRootSha256 } = await import('../../client/trust-state.js');
        const { default: pino } = await import('pino');
        const { GatewayAgent } = await import('../../gateway/agent/agent.js');
        const { LANE_AMNEZIAWG, LANE_SECOND_WIREGUARD } = await import('../../gateway/agent/settings-table.js');
        const { generateAwgParams, validateAwgParams } = await import('../../core/amneziawg.js');
        const { randomBytes } = await import('node:crypto');
        const { HttpControlPlaneApi } = await import('../../gateway/agent/api.js');
        const { systemHostOps, systemPortRedirects } = await import('../../gateway/agent/host.js');
        const { nodeEd25519 } = await import('../../platform/node-ed25519.js');
        const { UapiBackend } = await import('../../gateway/wireguard/uapi.js');
        const { WgToolBackend } = await import('../../gateway/wireguard/wg-tool.js');
        const { systemClock } = await import('../../core/clock.js');
        const { createAgentMetrics, serveAgentMetrics } = await import('../../gateway/agent/metrics.js');
        const metrics = createAgentMetrics();
        const given: Partial<Record<GatewaySettingKey, unknown>> = {};
        for (const [name, key] of Object.entries(FLAG_KEYS)) if (cmd.getOptionValueSource(name) === 'cli') given[key] = cmd.getOptionValue(name);
        const o = gatewaySettingsFrom(given);
        const endpoint = endpointParts(o.endpoint);
        const token = o.token ?? (o.tokenFile ? (await readFile(o.tokenFile, 'utf8')).trim() : undefined);
        const pinFrom = given.rootSha256 !== undefined ? '--root-sha256' : 'DAMM_ROOT_SHA256';
        const rootPin = {
          ...(o.rootSha256 ? { sha256: checkRootSha256(o.rootSha256, pinFrom) } : {}),
          ...(o.rootFile ? { rootEnvelope: await readRootFile(o.rootFile) } : {}),
        };
        const log = pino({ level: o.logLevel, base: { component: 'damm-gateway' }, redact: { paths: ['credential', 'token', 'privateKey'], censor: '[redacted]' } });
        const host = systemHostOps(log);
        if (o.backend === 'wg') await host.ensureKernelInterface(o.interface);
        const wgBackend = (interfaceName: string) =>
          o.backend === 'uapi'
            ? new UapiBackend({ interfaceName, ...(o.uapiSocketDir ? { socketDir: o.uapiSocketDir } : {}) })
            : new WgToolBackend({ interfaceName });
        const backend = wgBackend(o.interface);
        const lanes: LaneOptions[] = [];
        if (o.awgPort !== undefined) {
          lanes.push({
            lane: LANE_AMNEZIAWG,
            protocol: 'amneziawg',
            tier: 'T1',
            interfaceName: o.awgInterface,
            listenPort: o.awgPort,
            backend: new UapiBackend({ interfaceName: o.awgInterface, socketDir: o.awgSocketDir }),
            // Drawn once, then kept in the state directory: they are signed into the catalog and every client's config.
            makeParams: () => generateAwgParams((n) => new Uint8Array(randomBytes(n))),
            checkParams: validateAwgParams,
          });
        }
        if (o.wgLanePort !== undefined) {
          if (o.backend === 'wg') await host.ensureKernelInterface(o.wgLaneInterface);
          lanes.push({ lane: LANE_SECOND_WIREGUARD, protocol: 'wireguard', tier: 'T0', interfaceName: o.wgLaneInterface, listenPort: o.wgLanePort, backend: wgBackend(o.wgLaneInterface) });
        }
        const agent = new GatewayAgent({
          controlPlane: o.controlPlane,
          ...(token ? { token } : {}),
          interfaceName: o.interface,
          listenPort: o.listenPort,
          endpoint,
          altPorts: o.altPorts ?? [],
          portRedirects: systemPortRedirects(log),
          egressIps: o.egressIps,
          stateDir: o.stateDir,
          backend,
          lanes,
          api: new HttpControlPlaneApi(o.controlPlane),
          host: o.manageAddresses ? host : null,
          nat: !!o.nat,
          ...(o.egressInterface ? { egressInterface: o.egressInterface } : {}),
          clock: systemClock,
          log,
          ed: nodeEd25519(),
          reconcileIntervalMs: o.reconcileIntervalSeconds * 1000,
          heartbeatIntervalMs: o.heartbeatIntervalSeconds * 1000,
          rootPin,
          ...(o.probePort !== undefined ? { probePort: o.probePort } : {}),
          metrics,
        });
        await agent.start();
        const metricsServer = o.metricsListen ? await serveAgentMetrics(metrics, endpointParts(o.metricsListen)) : null;
        if (metricsServer) log.info({ listen: o.metricsListen }, 'agent metrics served');
        const stop = async () => {
          log.info('stopping');
          await metricsServer?.close();
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
