/**
 * The gateway agent's settings by name: flag, environment variable, default.
 * Kept free of imports so `damm gateway run --help` prints them without
 * loading the schema (settings.ts validates; a test keeps the two in step).
 */
export type GatewaySettingKey =
  | 'controlPlane' | 'token' | 'tokenFile' | 'interface' | 'listenPort' | 'altPorts' | 'endpoint' | 'egressIps' | 'stateDir' | 'backend'
  | 'uapiSocketDir' | 'nat' | 'egressInterface' | 'manageAddresses' | 'reconcileIntervalSeconds' | 'heartbeatIntervalSeconds'
  | 'rootSha256' | 'rootFile' | 'logLevel' | 'wgLanePort' | 'wgLaneInterface' | 'awgPort' | 'awgInterface' | 'awgSocketDir'
  | 'probePort' | 'metricsListen';

export const GATEWAY_DEFAULTS = {
  interface: 'wg0',
  listenPort: 51820,
  stateDir: '/var/lib/damm-gateway',
  backend: 'uapi',
  uapiSocketDir: '/var/run/wireguard',
  nat: false,
  manageAddresses: true,
  reconcileIntervalSeconds: 30,
  heartbeatIntervalSeconds: 30,
  logLevel: 'info',
  wgLaneInterface: 'wg2',
  awgInterface: 'awg0',
  awgSocketDir: '/var/run/amneziawg',
} as const;

/**
 * Lane numbers are part of a gateway's addressing (lane k's tunnel prefixes
 * are the pools shifted by k blocks), so each kind of extra interface keeps
 * its own lane whatever else runs: AmneziaWG is lane 1, the second plain
 * WireGuard interface lane 2.
 */
export const LANE_AMNEZIAWG = 1;
export const LANE_SECOND_WIREGUARD = 2;

/** Every setting: its flag, its environment variable, and how the variable's text is read (the schema then checks it). */
export const GATEWAY_SETTINGS: Record<GatewaySettingKey, { flag: string; env: string; parse: (v: string) => unknown }> = {
  controlPlane: { flag: '--control-plane', env: 'DAMM_CONTROL_PLANE', parse: String },
  token: { flag: '--token', env: 'DAMM_GATEWAY_TOKEN', parse: String },
  tokenFile: { flag: '--token-file', env: 'DAMM_GATEWAY_TOKEN_FILE', parse: String },
  interface: { flag: '--interface', env: 'DAMM_GATEWAY_INTERFACE', parse: String },
  listenPort: { flag: '--listen-port', env: 'DAMM_GATEWAY_LISTEN_PORT', parse: integer },
  altPorts: { flag: '--alt-port', env: 'DAMM_GATEWAY_ALT_PORTS', parse: (v) => list(v).map(integer) },
  endpoint: { flag: '--endpoint', env: 'DAMM_GATEWAY_ENDPOINT', parse: String },
  egressIps: { flag: '--egress-ip', env: 'DAMM_GATEWAY_EGRESS_IPS', parse: list },
  stateDir: { flag: '--state-dir', env: 'DAMM_GATEWAY_STATE_DIR', parse: String },
  backend: { flag: '--backend', env: 'DAMM_GATEWAY_BACKEND', parse: String },
  uapiSocketDir: { flag: '--uapi-socket-dir', env: 'DAMM_GATEWAY_UAPI_SOCKET_DIR', parse: String },
  nat: { flag: '--nat', env: 'DAMM_GATEWAY_NAT', parse: bool },
  egressInterface: { flag: '--egress-interface', env: 'DAMM_GATEWAY_EGRESS_INTERFACE', parse: String },
  manageAddresses: { flag: '--no-manage-addresses', env: 'DAMM_GATEWAY_MANAGE_ADDRESSES', parse: bool },
  reconcileIntervalSeconds: { flag: '--reconcile-interval', env: 'DAMM_GATEWAY_RECONCILE_INTERVAL_SECONDS', parse: integer },
  heartbeatIntervalSeconds: { flag: '--heartbeat-interval', env: 'DAMM_GATEWAY_HEARTBEAT_INTERVAL_SECONDS', parse: integer },
  rootSha256: { flag: '--root-sha256', env: 'DAMM_ROOT_SHA256', parse: String },
  rootFile: { flag: '--root-file', env: 'DAMM_ROOT_FILE', parse: String },
  logLevel: { flag: '--log-level', env: 'DAMM_LOG_LEVEL', parse: String },
  wgLanePort: { flag: '--wg-lane-port', env: 'DAMM_GATEWAY_WG_LANE_PORT', parse: integer },
  wgLaneInterface: { flag: '--wg-lane-interface', env: 'DAMM_GATEWAY_WG_LANE_INTERFACE', parse: String },
  awgPort: { flag: '--awg-port', env: 'DAMM_GATEWAY_AWG_PORT', parse: integer },
  awgInterface: { flag: '--awg-interface', env: 'DAMM_GATEWAY_AWG_INTERFACE', parse: String },
  awgSocketDir: { flag: '--awg-socket-dir', env: 'DAMM_GATEWAY_AWG_SOCKET_DIR', parse: String },
  probePort: { flag: '--probe-port', env: 'DAMM_GATEWAY_PROBE_PORT', parse: integer },
  metricsListen: { flag: '--metrics-listen', env: 'DAMM_GATEWAY_METRICS_LISTEN', parse: String },
};

/** A canonical decimal integer, or the text itself (which the schema then refuses with its own message). */
export function integer(v: string): unknown {
  return /^(0|[1-9][0-9]{0,15})$/.test(v) ? Number(v) : v;
}
function list(v: string): string[] {
  return v.split(/[\s,]+/).filter(Boolean);
}
function bool(v: string): unknown {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v;
}

/** "default X; env NAME" for a flag's help line. */
export function settingHelp(key: GatewaySettingKey): string {
  const d = (GATEWAY_DEFAULTS as Partial<Record<GatewaySettingKey, unknown>>)[key];
  return `${d === undefined ? '' : `default ${String(d)}; `}env ${GATEWAY_SETTINGS[key].env}`;
}
