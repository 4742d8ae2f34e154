/**
 * A hostile network for door tests: three namespaces, client ↔ router ↔
 * gateway, routed with real addresses, and a router whose nftables forward
 * chain plays one blocking regime at a time (DESIGN.md "Blocking regimes"):
 *
 * | regime | the router drops |
 * |---|---|
 * | R0 | nothing |
 * | R1 | UDP to port 51820 |
 * | R2 | all UDP |
 * | R3 | UDP payloads of 148 bytes beginning 01 00 00 00 (WireGuard handshake initiations), any port |
 * | R4 | all UDP, and every new TCP flow except to ports 80/443 (their replies pass) |
 * | R5 | R4, and any TCP flow whose first payload does not start like TLS (16 03) or an HTTP method |
 *
 * How R5 is done with nftables alone (no user-space DPI): conntrack marks
 * each TCP flow. 0 = no payload seen yet, 1 = first payload looked like TLS
 * or HTTP (the flow passes from then on), 2 = condemned (every later packet
 * of the flow, retransmissions included, is dropped). The first packet
 * carrying payload in either direction decides: `@ih,0,16` is the first two
 * bytes after the TCP header (`ih`, inner header, nft >= 1.0.1 and Linux >=
 * 5.16), compared with 0x1603 (TLS record type handshake, version 3.x), and
 * `@ih,0,32` with the first four bytes of the HTTP methods ("GET ", "POST",
 * "HEAD", "PUT ", "DELE", "OPTI", "PATC", "CONN", "TRAC"). A packet without
 * payload (SYN, bare ACK, FIN) has no inner header: loading `@ih` fails, so
 * no rule of the three matches it and the mark stays 0. Only the first four
 * bytes are read, so "GETX" would pass: a censor's first approximation, not
 * a protocol parser.
 *
 * Every drop of a regime is counted in the named counter `dropped`, so a test
 * can prove that a failure came from the regime (the counter moved) and not
 * from a broken set-up. `setRegime` replaces the ruleset in one nft
 * transaction and flushes the router's conntrack table (`conntrack -F`, Debian
 * package conntrack), so every regime judges flows from their first packet.
 *
 * Names: the namespaces are the kit's (dammt-<pid>-<label>…, swept by pid);
 * `prefix` labels them (`<prefix>cl`, `<prefix>rt`, `<prefix>gw`).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runOk, type NetnsKit } from './netns.js';

export const REGIMES = ['R0', 'R1', 'R2', 'R3', 'R4', 'R5'] as const;
export type Regime = (typeof REGIMES)[number];

const TABLE = 'damm_regime';

/** The first four bytes of the HTTP methods a censor lets through, big-endian. */
const HTTP_METHODS = ['GET ', 'POST', 'HEAD', 'PUT ', 'DELE', 'OPTI', 'PATC', 'CONN', 'TRAC'].map(
  (m) => `0x${Buffer.from(m, 'latin1').toString('hex')}`,
);

const R4_RULES = [
  'meta l4proto udp counter name "dropped" drop',
  'ct state established,related accept',
  'meta l4proto tcp ct state new tcp dport { 80, 443 } accept',
  'counter name "dropped" drop',
];

/** The forward chain's rules of each regime (nft syntax). */
export const REGIME_RULES: Record<Regime, readonly string[]> = {
  R0: [],
  R1: ['udp dport 51820 counter name "dropped" drop'],
  R2: ['meta l4proto udp counter name "dropped" drop'],
  // A 148-byte UDP payload (udp length counts the 8-byte header) whose first 32 bits are 01 00 00 00.
  R3: ['udp length 156 @th,64,32 0x01000000 counter name "dropped" drop'],
  R4: R4_RULES,
  R5: [
    'ct mark 2 counter name "dropped" drop',
    'meta l4proto tcp ct state established ct mark 0 @ih,0,16 0x1603 ct mark set 1 accept',
    `meta l4proto tcp ct state established ct mark 0 @ih,0,32 { ${HTTP_METHODS.join(', ')} } ct mark set 1 accept`,
    // Any other first payload (0-255 matches every byte, but only where there is one) condemns the flow.
    'meta l4proto tcp ct state established ct mark 0 @ih,0,8 0-255 ct mark set 2 counter name "dropped" drop',
    ...R4_RULES,
  ],
};

/** The whole ruleset text loaded for `regime`, replacing the previous one atomically. */
export function regimeRuleset(regime: Regime): string {
  return [
    `table inet ${TABLE}`, // create if absent, so the delete below cannot fail
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    '  counter dropped {}',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...REGIME_RULES[regime].map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

export interface Probe {
  name: string;
  proto: 'udp' | 'tcp';
  port: number;
  /** The first payload, hex. */
  hex: string;
  /** TCP: a second payload, written on the same connection once the first came back. */
  then?: string;
  timeoutMs: number;
}

export interface RouterLab {
  client: string;
  router: string;
  gateway: string;
  /** The client's and the gateway's addresses (the router forwards between 172.30.1.0/24 and 172.30.2.0/24). */
  clientIp: string;
  gatewayIp: string;
  readonly regime: Regime;
  setRegime(regime: Regime): Promise<void>;
  /** Packets the current regime dropped so far (its `dropped` counter). */
  dropped(): Promise<number>;
  /** Start the echo server (netprobe.mjs) in the gateway namespace; resolves once it listens. */
  startEchoServer(udpPorts: readonly number[], tcpPorts: readonly number[]): Promise<void>;
  /** Run probes from the client namespace to the gateway's address; true = the payload came back. */
  probe(probes: readonly Probe[]): Promise<Record<string, boolean>>;
}

const NETPROBE = fileURLToPath(new URL('./netprobe.mjs', import.meta.url));

/**
 * Build client ↔ router ↔ gateway in namespaces owned by `kit` (torn down
 * with it) and load regime R0. `prefix` labels the namespaces (default "aw").
 */
export async function startRouterLab(kit: NetnsKit, opts: { prefix?: string } = {}): Promise<RouterLab> {
  const prefix = opts.prefix ?? 'aw';
  const client = await kit.namespace(`${prefix}cl`);
  const router = await kit.namespace(`${prefix}rt`);
  const gateway = await kit.namespace(`${prefix}gw`);
  const clientIp = '172.30.1.2';
  const gatewayIp = '172.30.2.2';
  await kit.veth(client, `${clientIp}/24`, router, '172.30.1.1/24');
  await kit.veth(router, '172.30.2.1/24', gateway, `${gatewayIp}/24`);
  await runOk(['ip', '-n', client, 'route', 'add', 'default', 'via', '172.30.1.1']);
  await runOk(['ip', '-n', gateway, 'route', 'add', 'default', 'via', '172.30.2.1']);
  await runOk(['ip', 'netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);

  let regime: Regime = 'R0';
  const lab: RouterLab = {
    client,
    router,
    gateway,
    clientIp,
    gatewayIp,
    get regime() {
      return regime;
    },
    async setRegime(next) {
      await runOk(['ip', 'netns', 'exec', router, 'nft', '-f', '-'], { stdin: regimeRuleset(next) });
      await runOk(['ip', 'netns', 'exec', router, 'conntrack', '-F'], { timeoutMs: 10_000 }).catch((err: Error) => {
        // conntrack -F exits 1 with "0 flow entries" on some versions when the table is empty.
        if (!/0 flow entries/.test(err.message)) throw err;
      });
      regime = next;
    },
    async dropped() {
      const out = await runOk(['ip', 'netns', 'exec', router, 'nft', '-j', 'list', 'counter', 'inet', TABLE, 'dropped']);
      const items = (JSON.parse(out) as { nftables: Array<{ counter?: { packets: number } }> }).nftables;
      const counter = items.find((i) => i.counter)?.counter;
      if (!counter) throw new Error(`no counter "dropped" in ${out}`);
      return counter.packets;
    },
    async startEchoServer(udpPorts, tcpPorts) {
      const child = spawn('ip', ['netns', 'exec', gateway, process.execPath, NETPROBE, 'server', udpPorts.join(','), tcpPorts.join(',')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // The kit kills every process of its namespaces at cleanup, this one included.
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
        child.once('exit', (code) => reject(new Error(`echo server exited ${code}: ${err}`)));
      });
    },
    async probe(probes) {
      const longest = Math.max(0, ...probes.map((p) => p.timeoutMs));
      const out = await runOk(['ip', 'netns', 'exec', client, process.execPath, NETPROBE, 'client', gatewayIp, JSON.stringify(probes)], {
        timeoutMs: longest + 15_000,
      });
      return JSON.parse(out) as Record<string, boolean>;
    },
  };
  await lab.setRegime('R0');
  return lab;
}
