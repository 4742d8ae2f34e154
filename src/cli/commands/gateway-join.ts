/**
 * `damm gateway join`: turns a fresh host into a registered gateway from the
 * join code `damm gateway add` printed. The code (it carries the one-time
 * token) is read from stdin or a file, never from the command line. Every
 * preflight check runs before anything is written; each failure is a
 * sentence that says what to fix. Implementation loads in the action only,
 * so `damm --help` stays fast (test/cli/startup.test.ts).
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { fail } from '../output.js';

const IFNAME = /^[a-zA-Z0-9_=+.-]{1,15}$/;
const REGISTER_WAIT_MS = 60_000;

function port(v: string): number {
  if (!/^[1-9][0-9]{0,4}$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError(`"${v}" is not a port (1-65535).`);
  return Number(v);
}

interface JoinOpts {
  endpoint: string;
  egressIp?: string;
  interface: string;
  listenPort: number;
  altPort?: number[];
  codeFile?: string;
  prefix: string;
  start: boolean;
  damm: string;
  wireguardGo: string;
}

async function readCode(file: string | undefined): Promise<string> {
  if (file) return readFile(file, 'utf8');
  if (process.stdin.isTTY) process.stderr.write('Paste the join code "damm gateway add" printed (it is not shown on the command line), then press Enter:\n');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).includes(0x0a)) break; // one line is the whole code
  }
  return Buffer.concat(chunks).toString('utf8').split('\n')[0] ?? '';
}

export function registerGatewayJoin(program: Command): void {
  const gateway = program.commands.find((c) => c.name() === 'gateway') ?? program.command('gateway').description('gateways');
  gateway
    .command('join')
    .description('set this host up as a gateway from the join code "damm gateway add" printed (read from stdin or --code-file), check it can work, install its settings and hardened units, start them and wait until it registered')
    .requiredOption('--endpoint <host[:port]>', 'the public address clients dial (the listen port when no port is given)')
    .option('--egress-ip <ip>', 'the address traffic leaves from (default: the endpoint, when it is an IP address)')
    .option('--interface <name>', 'WireGuard interface name', 'wg0')
    .option('--listen-port <port>', 'WireGuard UDP port', port, 51820)
    .option('--alt-port <port>', 'also answer on this UDP port (repeatable)', (v: string, acc: number[] | undefined) => [...(acc ?? []), port(v)])
    .option('--code-file <file>', 'read the join code from this file instead of stdin')
    .option('--prefix <dir>', 'write the files under this directory and change nothing on the running system (staged install)', '/')
    .option('--no-start', 'install and verify, but do not create the user, load the sysctls or start the units')
    .option('--damm <path>', 'the damm binary the unit runs', '/usr/bin/damm')
    .option('--wireguard-go <path>', 'the wireguard-go binary the unit runs', '/usr/bin/wireguard-go')
    .action(async (o: JoinOpts) => {
      try {
        const { decodeJoinCode } = await import('../../core/join-code.js');
        const { isIP } = await import('node:net');
        const { DammError } = await import('../../core/errors.js');
        const code = decodeJoinCode(await readCode(o.codeFile));
        if (!IFNAME.test(o.interface)) throw new DammError('invalid_argument', `--interface must be 1-15 characters of [a-zA-Z0-9_=+.-], got "${o.interface}".`);
        const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(o.endpoint);
        if (!m) throw new DammError('invalid_argument', `--endpoint must be host or host:port (IPv6 in brackets), got "${o.endpoint}".`);
        const host = m[1] ?? m[2]!;
        const endpoint = `${m[1] ? `[${host}]` : host}:${m[3] ?? o.listenPort}`;
        const egressIp = o.egressIp ?? (isIP(host) ? host : undefined);
        if (!egressIp || !isIP(egressIp)) throw new DammError('invalid_argument', '--egress-ip must be the IP address traffic leaves from (needed when --endpoint is a name).');
        const altPorts = o.altPort ?? [];

        const { preflight } = await import('../../gateway/join/preflight.js');
        const problems = await preflight({ code, udpPorts: [o.listenPort, ...altPorts], daemons: [o.wireguardGo] });
        if (problems.length > 0) {
          process.stderr.write(`damm: this host cannot join yet; nothing was installed.\n${problems.map((p) => `  - ${p.sentence} [${p.check}]`).join('\n')}\n`);
          process.exit(1);
        }
        const { installFiles, activate } = await import('../../gateway/join/install.js');
        const { verifyUnits } = await import('../../io/systemd-verify.js');
        const installed = await installFiles({ code, prefix: o.prefix, interface: o.interface, listenPort: o.listenPort, endpoint, egressIp, altPorts, dammBinary: o.damm, wireguardGo: o.wireguardGo });
        const verified = await verifyUnits(installed.units, { executables: [o.damm, o.wireguardGo], instance: o.interface });
        if (verified.code === 127) process.stderr.write('damm: systemd-analyze is not installed here: the units were not verified.\n');
        else if (verified.code !== 0 || verified.output !== '') throw new DammError('internal', `The installed units do not verify cleanly: ${verified.output}`);
        process.stdout.write(`installed ${installed.envFile} (0600), ${installed.sysctl}, ${installed.units.join(', ')}; units verified.\n`);
        if (o.prefix !== '/' || !o.start) {
          process.stdout.write(`not started. To start: systemctl enable --now damm-wireguard-go@${o.interface}.service damm-gateway.service\n`);
          return;
        }
        await activate({ interface: o.interface });
        const registration = await waitForRegistration('/var/lib/damm-gateway/gateway.json');
        if (!registration) {
          throw new DammError('internal', `The units started but the agent did not register within ${REGISTER_WAIT_MS / 1000} s: "journalctl -u damm-gateway -n 50" shows why.`);
        }
        process.stdout.write(`registered: gateway ${registration}\n`);
      } catch (err) {
        fail(err);
      }
    });
}

async function waitForRegistration(file: string): Promise<string | null> {
  const deadline = Date.now() + REGISTER_WAIT_MS;
  while (Date.now() < deadline) {
    try {
      const state = JSON.parse(await readFile(file, 'utf8')) as { gatewayId?: unknown };
      if (typeof state.gatewayId === 'string') return state.gatewayId;
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}
