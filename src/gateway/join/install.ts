/**
 * What `damm gateway join` writes on the gateway host: the agent's settings
 * (/etc/damm/gateway.env, 0600: it holds the one-time token until the first
 * start spends it), the forwarding sysctls, and the two hardened units from
 * deploy/, rendered with this host's interface name and binary paths. Every
 * file is written durably and only after every preflight check passed, so a
 * refused join leaves the host as it was.
 *
 * With a prefix (a staged install, or a test) files land under it and
 * nothing touches the running system: no user, no sysctl, no systemctl.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeFileDurably } from '../../io/durable-file.js';
import type { JoinCode } from '../../core/join-code.js';

const run = promisify(execFile);
const DEPLOY = fileURLToPath(new URL('../../../deploy/', import.meta.url));
export const AGENT_USER = 'damm-gateway';

export interface InstallOptions {
  code: JoinCode;
  /** '/' for a real install. */
  prefix: string;
  interface: string;
  listenPort: number;
  endpoint: string;
  egressIp: string;
  altPorts: number[];
  dammBinary: string;
  wireguardGo: string;
}

export interface Installed {
  envFile: string;
  units: string[];
  sysctl: string;
}

const at = (prefix: string, p: string) => path.join(prefix, p);

/** The agent unit and the daemon unit, with this host's names and paths. */
export async function renderUnits(o: Pick<InstallOptions, 'interface' | 'listenPort' | 'dammBinary' | 'wireguardGo'>): Promise<{ agent: string; daemon: string }> {
  const agent = (await readFile(path.join(DEPLOY, 'damm-gateway.service'), 'utf8'))
    .replaceAll('damm-wireguard-go@wg0.service', `damm-wireguard-go@${o.interface}.service`)
    .replace('--interface wg0 --listen-port 51820 ', `--interface ${o.interface} --listen-port ${o.listenPort} `)
    .replace(/^ExecStart=\/usr\/bin\/damm /m, `ExecStart=${o.dammBinary} `);
  const daemon = (await readFile(path.join(DEPLOY, 'damm-wireguard-go@.service'), 'utf8'))
    .replace(/^ExecStart=\/usr\/bin\/wireguard-go /m, `ExecStart=${o.wireguardGo} `);
  return { agent, daemon };
}

/** The env file the agent unit reads; the names are the agent's own settings (docs/gateway.md). */
export function renderEnv(o: Pick<InstallOptions, 'code' | 'endpoint' | 'egressIp' | 'altPorts'>): string {
  const lines = [
    '# Written by "damm gateway join". The token is spent by the first start; the pin stays.',
    `DAMM_CONTROL_PLANE=${o.code.controlPlane}`,
    `DAMM_GATEWAY_TOKEN=${o.code.token}`,
    `DAMM_ROOT_SHA256=${o.code.rootSha256}`,
    `DAMM_ENDPOINT=${o.endpoint}`,
    `DAMM_EGRESS_IP=${o.egressIp}`,
    'DAMM_LOG_LEVEL=info',
  ];
  if (o.altPorts.length > 0) lines.push(`DAMM_GATEWAY_ALT_PORTS=${o.altPorts.join(',')}`);
  return `${lines.join('\n')}\n`;
}

export async function installFiles(o: InstallOptions): Promise<Installed> {
  const envFile = at(o.prefix, '/etc/damm/gateway.env');
  await mkdir(path.dirname(envFile), { recursive: true, mode: 0o700 });
  await writeFileDurably(envFile, renderEnv(o), { mode: 0o600 });
  const sysctl = at(o.prefix, '/etc/sysctl.d/99-damm-gateway.conf');
  await mkdir(path.dirname(sysctl), { recursive: true });
  await writeFileDurably(sysctl, await readFile(path.join(DEPLOY, '99-damm-gateway.conf'), 'utf8'), { mode: 0o644 });
  const unitDir = at(o.prefix, '/etc/systemd/system');
  await mkdir(unitDir, { recursive: true });
  const { agent, daemon } = await renderUnits(o);
  const units = [path.join(unitDir, 'damm-gateway.service'), path.join(unitDir, 'damm-wireguard-go@.service')];
  await writeFileDurably(units[0]!, agent, { mode: 0o644 });
  await writeFileDurably(units[1]!, daemon, { mode: 0o644 });
  for (const f of [sysctl, ...units]) await chmod(f, 0o644); // the umask must not narrow what systemd and sysctl read
  return { envFile, units, sysctl };
}

/** The system steps of a real install: the agent's user, the sysctls, the units enabled and started. */
export async function activate(o: Pick<InstallOptions, 'interface'>): Promise<void> {
  const exists = await run('id', ['-u', AGENT_USER]).then(() => true, () => false);
  if (!exists) {
    await run('useradd', ['--system', '--home-dir', '/var/lib/damm-gateway', '--no-create-home', '--shell', '/usr/sbin/nologin', AGENT_USER]);
  }
  await run('sysctl', ['--load', '/etc/sysctl.d/99-damm-gateway.conf']);
  await run('systemctl', ['daemon-reload']);
  await run('systemctl', ['enable', '--now', `damm-wireguard-go@${o.interface}.service`, 'damm-gateway.service']);
}
