/**
 * The gateway agent's settings: one schema, like the control plane's
 * (src/control-plane/config.ts). Each setting has a flag of `damm gateway
 * run` and an environment variable (so a systemd unit can use either);
 * a flag wins over the environment, the environment over the default.
 * Validation refuses, without coercion, and names both spellings.
 *
 * The names and defaults live in settings-table.ts, which loads nothing, so
 * `damm gateway run --help` can print them without loading the schema.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { DammError } from '../../core/errors.js';
import { parseIp } from '../../core/ip.js';
import { GATEWAY_DEFAULTS, GATEWAY_SETTINGS, type GatewaySettingKey as Key } from './settings-table.js';

export { GATEWAY_DEFAULTS, GATEWAY_SETTINGS };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export const GatewaySettingsSchema = Type.Object(
  {
    controlPlane: Type.String({ pattern: '^https?://[^\\s]+$' }),
    token: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    tokenFile: Type.Optional(Type.String({ minLength: 1 })),
    interface: Type.String({ pattern: '^[A-Za-z0-9_.=+-]{1,15}$' }),
    listenPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    // The registration carries at most 8 endpoints: the listen port's door and 7 alternates.
    altPorts: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), { maxItems: 7 })),
    endpoint: Type.String({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$' }),
    egressIps: Type.Array(Type.String(), { minItems: 1, maxItems: 16 }),
    stateDir: Type.String({ minLength: 1 }),
    backend: Type.Union([Type.Literal('uapi'), Type.Literal('wg')]),
    uapiSocketDir: Type.String({ minLength: 1 }),
    nat: Type.Boolean(),
    egressInterface: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.=+-]{1,15}$' })),
    manageAddresses: Type.Boolean(),
    reconcileIntervalSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
    heartbeatIntervalSeconds: Type.Integer({ minimum: 1, maximum: 3600 }),
    rootSha256: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
    rootFile: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Union(LOG_LEVELS.map((l) => Type.Literal(l))),
    // A second plain WireGuard interface (lane 2, its own key and prefixes, a T0 door on this port).
    wgLanePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    wgLaneInterface: Type.String({ pattern: '^[A-Za-z0-9_.=+-]{1,15}$' }),
    // An AmneziaWG door (lane 1, T1): amneziawg-go's interface, driven over its UAPI socket.
    awgPort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    awgInterface: Type.String({ pattern: '^[A-Za-z0-9_.=+-]{1,15}$' }),
    awgSocketDir: Type.String({ minLength: 1 }),
    // The wizard's reachability probes: STUN Binding requests on every UDP door port are steered (nftables) to a responder on this local port.
    probePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
    // Prometheus metrics of this agent, served on host:port (loopback unless you mean otherwise).
    metricsListen: Type.Optional(Type.String({ pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9.-]+):([1-9][0-9]{0,4})$' })),
  },
  { additionalProperties: false },
);
export type GatewaySettings = Static<typeof GatewaySettingsSchema>;

/**
 * Defaults, then the environment, then the flags given on the command line
 * (`flags` holds only what was given, as commander parsed it).
 */
export function gatewaySettingsFrom(flags: Partial<Record<Key, unknown>>, env: NodeJS.ProcessEnv = process.env): GatewaySettings {
  const merged: Record<string, unknown> = { ...GATEWAY_DEFAULTS };
  for (const [key, { env: name, parse }] of Object.entries(GATEWAY_SETTINGS)) {
    const raw = env[name];
    if (raw !== undefined && raw !== '') merged[key] = parse(raw);
  }
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) merged[key] = value;
  if (!Value.Check(GatewaySettingsSchema, merged)) {
    const first = [...Value.Errors(GatewaySettingsSchema, merged)][0];
    const key = (first?.path ?? '').split('/')[1] as Key | undefined;
    const where = key && GATEWAY_SETTINGS[key] ? `${GATEWAY_SETTINGS[key].flag} (env ${GATEWAY_SETTINGS[key].env})` : first?.path || 'a setting';
    const missing = first?.value === undefined;
    throw new DammError('config_invalid', missing ? `${where} is required.` : `${where} is not valid: ${first?.message ?? 'unknown problem'} (got ${JSON.stringify(first?.value)}).`);
  }
  const port = Number(/:(\d+)$/.exec(merged.endpoint as string)![1]);
  if (port > 65535) throw new DammError('config_invalid', `--endpoint (env DAMM_GATEWAY_ENDPOINT) has port ${port}, above 65535.`);
  for (const ip of merged.egressIps as string[]) {
    if (!parseIp(ip)) throw new DammError('config_invalid', `--egress-ip (env DAMM_GATEWAY_EGRESS_IPS) ${JSON.stringify(ip)} is not an IP address.`);
  }
  const alt = (merged.altPorts as number[] | undefined) ?? [];
  const twice = alt.find((p, i) => alt.indexOf(p) !== i);
  if (twice !== undefined) throw new DammError('config_invalid', `--alt-port (env DAMM_GATEWAY_ALT_PORTS) names port ${twice} twice.`);
  if (alt.includes(merged.listenPort as number)) {
    throw new DammError('config_invalid', `--alt-port (env DAMM_GATEWAY_ALT_PORTS) ${merged.listenPort as number} is the listen port itself; name only other ports.`);
  }
  // Every interface its own port and name.
  const taken = new Map<number, string>([[merged.listenPort as number, '--listen-port'], ...alt.map((p): [number, string] => [p, '--alt-port'])]);
  const names = new Map<string, string>([[merged.interface as string, '--interface']]);
  for (const [portKey, nameKey] of [['wgLanePort', 'wgLaneInterface'], ['awgPort', 'awgInterface']] as const) {
    const port = merged[portKey] as number | undefined;
    if (port === undefined) continue;
    const { flag, env } = GATEWAY_SETTINGS[portKey];
    const other = taken.get(port);
    if (other) throw new DammError('config_invalid', `${flag} (env ${env}) ${port} is already ${other}; each interface needs its own port.`);
    taken.set(port, flag);
    const name = merged[nameKey] as string;
    const otherName = names.get(name);
    if (otherName) throw new DammError('config_invalid', `${GATEWAY_SETTINGS[nameKey].flag} (env ${GATEWAY_SETTINGS[nameKey].env}) ${name} is already ${otherName}; name another interface.`);
    names.set(name, GATEWAY_SETTINGS[nameKey].flag);
  }
  if (merged.awgPort !== undefined && merged.backend !== 'uapi') {
    throw new DammError('config_invalid', '--awg-port (env DAMM_GATEWAY_AWG_PORT) needs --backend uapi: AmneziaWG runs in amneziawg-go, which kernel WireGuard cannot replace.');
  }
  if (merged.egressInterface !== undefined && merged.nat !== true) {
    throw new DammError('config_invalid', '--egress-interface (env DAMM_GATEWAY_EGRESS_INTERFACE) only applies with --nat (env DAMM_GATEWAY_NAT).');
  }
  return merged as GatewaySettings;
}

/** "host:port" or "[ipv6]:port" of a validated endpoint setting. */
export function endpointParts(endpoint: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(endpoint)!;
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}
