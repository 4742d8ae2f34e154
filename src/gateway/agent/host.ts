/**
 * The host side of a gateway: the interface's tunnel addresses, link state,
 * forwarding and NAT. Commands run with `execFile` and an argument array,
 * never a shell; nothing here handles a secret. Each step needs
 * CAP_NET_ADMIN only (see deploy/damm-gateway.service); a unit that sets
 * addresses and NAT itself runs the agent with --no-manage-addresses and
 * without --nat.
 *
 * Alternate ports (--alt-port) are nftables rules in a table of the agent's
 * own, so removing them is one `nft delete table` and never touches anyone
 * else's rules.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { DammError } from '../../core/errors.js';

export interface HostOps {
  /** Assign the gateway's tunnel addresses, set the link's MTU when given, and bring the link up. */
  configureAddresses(ifname: string, v4: string, v6: string, mtu?: number): Promise<void>;
  /** Masquerade the pool's traffic leaving through any other interface (or `egressInterface`). */
  enableNat(ifname: string, pools: { ipv4Cidr: string; ipv6Prefix: string }, egressInterface?: string): Promise<void>;
  /** Create a kernel WireGuard interface if it does not exist. */
  ensureKernelInterface(ifname: string): Promise<void>;
}

/** STUN probes on these UDP door ports go to the responder on `port` (gateway/agent/stun-responder.ts). */
export interface ProbeSteering {
  port: number;
  doorPorts: readonly number[];
}

/** Steering inbound UDP on alternate ports to the WireGuard listen port, and probes to their responder (nftables). */
export interface PortRedirectOps {
  /** Replace the interface's redirect table with one rule per alternate port (delete, then create: idempotent across restarts). */
  installRedirects(ifname: string, listenPort: number, altPorts: readonly number[], probe?: ProbeSteering): Promise<void>;
  /** Delete the interface's redirect table; absent is fine. */
  removeRedirects(ifname: string): Promise<void>;
}

export type Logger = { info(o: object, m: string): void; warn(o: object, m: string): void };

function run(cmd: string, args: readonly string[], timeoutMs = 15_000): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (err && typeof (err as NodeJS.ErrnoException).code === 'string') {
        reject(new DammError('config_invalid', `Cannot run ${cmd}: ${(err as NodeJS.ErrnoException).code}.`, { cause: err }));
        return;
      }
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr: String(stderr).trim() });
    });
  });
}

async function must(cmd: string, args: readonly string[]): Promise<void> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new DammError('internal', `\`${cmd} ${args.join(' ')}\` failed (${r.code}): ${r.stderr.slice(0, 300)}`);
}

function prefixLength(cidr: string): string {
  const len = cidr.split('/')[1];
  if (!len || !/^\d{1,3}$/.test(len)) throw new DammError('config_invalid', `Not a CIDR: ${cidr}`);
  return len;
}

/** The agent's own nftables table for an interface: `damm_<ifname>`, with the characters nft names refuse mapped to `_`. */
export function redirectTable(ifname: string): string {
  return `damm_${ifname.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

/**
 * The `nft` argument arrays that steer inbound UDP on each alternate port to
 * the listen port. A prerouting nat `redirect` rewrites only the destination
 * port; conntrack reverses it on the replies, so the client sees answers from
 * the port it dialled. `fib daddr type local` limits it to packets addressed
 * to this host: a tunnel client's own UDP/443 (QUIC) to the internet passes
 * through prerouting too and must not be captured.
 */
export function redirectCommands(
  ifname: string,
  listenPort: number,
  altPorts: readonly number[],
  probe?: ProbeSteering,
): { remove: string[]; create: string[][] } {
  const table = redirectTable(ifname);
  // STUN Binding requests (type 0x0001 at payload bytes 0-1, magic cookie at 4-7) go to the probe
  // responder, before the alternate-port rules: a nat redirect is final, so the first match wins.
  const stun = probe === undefined ? [] : probe.doorPorts.map((port) => [
    'add', 'rule', 'inet', table, 'prerouting', 'fib', 'daddr', 'type', 'local', 'udp', 'dport', String(port),
    '@th,64,16', '0x0001', '@th,96,32', '0x2112a442', 'redirect', 'to', `:${probe.port}`,
  ]);
  return {
    remove: ['delete', 'table', 'inet', table],
    create: [
      ['add', 'table', 'inet', table],
      ['add', 'chain', 'inet', table, 'prerouting', '{', 'type', 'nat', 'hook', 'prerouting', 'priority', 'dstnat', ';', 'policy', 'accept', ';', '}'],
      ...stun,
      ...altPorts.map((port) => ['add', 'rule', 'inet', table, 'prerouting', 'fib', 'daddr', 'type', 'local', 'udp', 'dport', String(port), 'redirect', 'to', `:${listenPort}`]),
    ],
  };
}

/** nft's answer when the table to delete does not exist. */
const NO_SUCH_TABLE = /No such file or directory/;

export function systemPortRedirects(log: Logger): PortRedirectOps {
  const removeTable = async (ifname: string) => {
    const { remove } = redirectCommands(ifname, 1, []);
    const r = await run('nft', remove);
    if (r.code !== 0 && !NO_SUCH_TABLE.test(r.stderr)) throw new DammError('internal', `\`nft ${remove.join(' ')}\` failed (${r.code}): ${r.stderr.slice(0, 300)}`);
  };
  return {
    async installRedirects(ifname, listenPort, altPorts, probe) {
      await removeTable(ifname);
      for (const args of redirectCommands(ifname, listenPort, altPorts, probe).create) await must('nft', args);
      log.info({ table: `inet ${redirectTable(ifname)}`, listenPort, altPorts, probe }, 'door ports steered (nftables): alternate ports to the listen port, probes to their responder');
    },
    async removeRedirects(ifname) {
      await removeTable(ifname);
      log.info({ table: `inet ${redirectTable(ifname)}` }, 'alternate-port rules removed');
    },
  };
}

export function systemHostOps(log: Logger): HostOps {
  return {
    async configureAddresses(ifname, v4, v6, mtu) {
      // `replace` is idempotent: restarts do not fail on an existing address.
      await must('ip', ['address', 'replace', v4, 'dev', ifname]);
      await must('ip', ['-6', 'address', 'replace', v6, 'dev', ifname]).catch((err: Error) =>
        log.warn({ err: err.message }, 'IPv6 tunnel address not set (IPv6 disabled on this host?)'),
      );
      if (mtu !== undefined) await must('ip', ['link', 'set', 'dev', ifname, 'mtu', String(mtu)]);
      await must('ip', ['link', 'set', 'dev', ifname, 'up']);
    },

    async enableNat(ifname, pools, egressInterface) {
      const forward = '/proc/sys/net/ipv4/ip_forward';
      if ((await readFile(forward, 'utf8').catch(() => '0')).trim() !== '1') {
        await writeFile(forward, '1').catch((err: Error) =>
          log.warn({ err: err.message }, 'IPv4 forwarding is off and the agent may not turn it on; set net.ipv4.ip_forward=1 (see docs/gateway.md)'),
        );
      }
      const out = egressInterface ? ['-o', egressInterface] : ['!', '-o', ifname];
      for (const [tool, pool] of [['iptables', pools.ipv4Cidr], ['ip6tables', pools.ipv6Prefix]] as const) {
        const rule = ['POSTROUTING', '-s', pool, ...out, '-j', 'MASQUERADE', '-m', 'comment', '--comment', 'damm-gateway'];
        try {
          const check = await run(tool, ['-w', '5', '-t', 'nat', '-C', ...rule]);
          if (check.code === 0) continue;
          await must(tool, ['-w', '5', '-t', 'nat', '-A', ...rule]);
          log.info({ tool, pool, egress: egressInterface ?? `!${ifname}` }, 'NAT rule added');
        } catch (err) {
          if (tool === 'iptables') throw err;
          log.warn({ err: (err as Error).message }, 'IPv6 NAT not set; the tunnel carries IPv4 only');
        }
      }
    },

    async ensureKernelInterface(ifname) {
      const show = await run('ip', ['link', 'show', 'dev', ifname]);
      if (show.code === 0) return;
      await must('ip', ['link', 'add', 'dev', ifname, 'type', 'wireguard']);
    },
  };
}

/** The address with the pool's prefix length, e.g. 10.66.0.1 + 10.66.0.0/16 -> 10.66.0.1/16. */
export function withPrefix(address: string, pool: string): string {
  return `${address}/${prefixLength(pool)}`;
}
