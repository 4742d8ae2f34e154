/**
 * One schema per API message. Each schema feeds request/response validation
 * (Fastify/Ajv), the TypeScript type (Static<>) and the OpenAPI document.
 * Objects refuse unknown fields (additionalProperties: false).
 */
import { Type, type Static, type TSchema, type TProperties, type ObjectOptions } from '@sinclair/typebox';
import { WG_KEY_PATTERN } from './wg-key.js';
import { TRANSPORT_TIERS } from './tiers.js';
import { PASS_TOKEN_PATTERN } from './format-checks.js';
import { AWG_HEADER_PATTERN, DOOR_PROTOCOLS, MAX_LANE_ENDPOINTS, MAX_LANES } from './doors.js';

export const Strict = <T extends TProperties>(props: T, opts: ObjectOptions = {}) =>
  Type.Object(props, { additionalProperties: false, ...opts });

export const Nullable = <T extends TSchema>(s: T) => Type.Union([s, Type.Null()]);

export const Uuid = Type.String({ format: 'uuid' });
export const IsoTime = Type.String({ format: 'date-time' });
export const WgPublicKey = Type.String({ pattern: WG_KEY_PATTERN, minLength: 44, maxLength: 44, description: 'WireGuard X25519 public key, base64 (44 chars)' });
export const Region = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9-]{0,31}$', description: 'Region code, e.g. NL or eu-west' });
export const Country = Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2 country code' });
export const TransportTier = Type.Union(TRANSPORT_TIERS.map((t) => Type.Literal(t)));
export const ServiceTierName = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$' });
export const PassToken = Type.String({ pattern: PASS_TOKEN_PATTERN, description: 'Install pass or invite (opaque)' });

export const ErrorBody = Strict({
  error: Strict({
    code: Type.String(),
    message: Type.String(),
    requestId: Type.Optional(Type.String()),
    retryAfterSeconds: Type.Optional(Type.Integer()),
    details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  }),
});

// --- install passes and invites ---
export const MintPassResponse = Strict({
  installPass: PassToken,
  kind: Type.Literal('public'),
  tier: ServiceTierName,
  expiresAt: IsoTime,
});
export type MintPassResponse = Static<typeof MintPassResponse>;

export const IssueInviteRequest = Strict({
  tier: Type.Optional(ServiceTierName),
  uses: Type.Optional(Type.Integer({ minimum: 1, maximum: 100000 })),
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 365 * 86400 })),
  note: Type.Optional(Type.String({ maxLength: 200 })),
});
export type IssueInviteRequest = Static<typeof IssueInviteRequest>;

export const IssuePassRequest = Strict({
  tier: Type.Optional(ServiceTierName),
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 365 * 86400 })),
  note: Type.Optional(Type.String({ maxLength: 200 })),
});
export type IssuePassRequest = Static<typeof IssuePassRequest>;

export const IssuedPass = Strict({
  id: Uuid,
  kind: Type.Union([Type.Literal('public'), Type.Literal('operator'), Type.Literal('invite')]),
  token: PassToken,
  link: Type.String(),
  tier: ServiceTierName,
  uses: Type.Integer(),
  expiresAt: IsoTime,
});
export type IssuedPass = Static<typeof IssuedPass>;

export const PassSummary = Strict({
  id: Uuid,
  kind: Type.Union([Type.Literal('public'), Type.Literal('operator'), Type.Literal('invite')]),
  tier: ServiceTierName,
  maxUses: Type.Integer(),
  usesLeft: Type.Integer(),
  expiresAt: IsoTime,
  createdAt: IsoTime,
  createdBy: Type.String(),
  note: Nullable(Type.String()),
  state: Type.Union([Type.Literal('usable'), Type.Literal('used'), Type.Literal('expired'), Type.Literal('revoked')]),
});
export const PassList = Strict({ passes: Type.Array(PassSummary) });

export const ListQuery = Strict({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  before: Type.Optional(IsoTime),
});
export type ListQuery = Static<typeof ListQuery>;

// --- enrollment ---
export const EnrollRequest = Strict({
  installPass: PassToken,
  publicKey: WgPublicKey,
  region: Type.Optional(Region),
  exitCountry: Type.Optional(Country),
});
export type EnrollRequest = Static<typeof EnrollRequest>;

export const DoorProtocol = Type.Union(DOOR_PROTOCOLS.map((p) => Type.Literal(p)), { description: 'What the door speaks: wireguard (T0) or amneziawg (T1)' });

const AwgHeader = Type.String({ pattern: AWG_HEADER_PATTERN, description: 'A 32-bit value or a range "lo-hi"' });
/**
 * AmneziaWG 2.0 public parameters of one door (the keys the AmneziaWG apps
 * import). The shape only: ranges and rules are core/amneziawg.ts's
 * `validateAwgParams`, which registration applies.
 */
export const AwgParams = Strict({
  jc: Type.Integer(),
  jmin: Type.Integer(),
  jmax: Type.Integer(),
  s1: Type.Integer(),
  s2: Type.Integer(),
  s3: Type.Integer(),
  s4: Type.Integer(),
  h1: AwgHeader,
  h2: AwgHeader,
  h3: AwgHeader,
  h4: AwgHeader,
  i1: Nullable(Type.String({ maxLength: 256 })),
});
export type AwgParams = Static<typeof AwgParams>;

export const TunnelPrefixes = Strict({ ipv4Cidr: Type.String(), ipv6Prefix: Type.String() });

/** A lane's health as its gateway last reported it (heartbeat). */
export const DoorHealthSummary = Strict({
  up: Type.Boolean({ description: 'The interface answered a read-back with its own key' }),
  listening: Type.Boolean({ description: 'It is bound to its listen port' }),
  peers: Type.Integer({ minimum: 0 }),
  reportedAt: IsoTime,
});

export const FrontDoor = Strict({
  id: Type.String({ description: 'Stable id of this door in the signed catalog' }),
  gatewayId: Uuid,
  region: Type.String(),
  country: Type.String(),
  tier: TransportTier,
  endpoint: Type.String({ description: 'host:port' }),
  publicKey: WgPublicKey,
  protocol: DoorProtocol,
  params: Nullable(AwgParams),
  tunnel: Strict(TunnelPrefixes.properties, { description: "This door's own tunnel prefixes: a device's addresses on this door lie inside them" }),
});
export type FrontDoor = Static<typeof FrontDoor>;

export const Placement = Strict({
  requested: Strict({ region: Nullable(Type.String()), exitCountry: Nullable(Type.String()) }),
  given: Strict({ region: Type.String(), exitCountry: Type.String(), gatewayId: Uuid }),
  honoured: Type.Boolean(),
  reason: Type.String({ description: 'Why this exit was given, in words' }),
});
export type Placement = Static<typeof Placement>;

export const EnrollResponse = Strict({
  deviceId: Uuid,
  addresses: Strict({ ipv4: Type.String(), ipv6: Type.String() }),
  dns: Type.Array(Type.String()),
  allowedIps: Type.Array(Type.String()),
  persistentKeepalive: Type.Integer(),
  frontDoor: Strict(FrontDoor.properties, {
    description:
      'The front door this device was placed on. Unsigned: clients take the endpoint, the gateway key and any door parameters only from ' +
      'the door with this id in the verified signed catalog (GET /v1/catalog), and refuse when it is missing there or differs',
  }),
  doors: Type.Array(
    Strict({ id: Type.String(), addresses: Strict({ ipv4: Type.String(), ipv6: Type.String() }) }),
    {
      description:
        'Every door of the placed gateway this device may use, by catalog id, with the device\'s addresses on that door (its own lane prefixes, ' +
        'the same offset on every door). Clients bind each id to the verified catalog and refuse ids missing there or addresses outside the door\'s tunnel.',
    },
  ),
  placement: Placement,
  tier: ServiceTierName,
  quotaBytes: Nullable(Type.Integer()),
});
export type EnrollResponse = Static<typeof EnrollResponse>;

// --- whoami ---
export const WhoamiQuery = Strict({ device: Type.Optional(Uuid) });
export const Whoami = Strict({
  ip: Type.String(),
  viaDamm: Type.Boolean(),
  gateway: Nullable(Strict({ id: Uuid, name: Type.String(), region: Type.String(), country: Type.String() })),
  exit: Nullable(Strict({ ip: Type.String(), country: Type.String() })),
  device: Nullable(
    Strict({
      id: Uuid,
      state: Type.String(),
      stateReason: Nullable(Type.String()),
      onThisGateway: Type.Boolean(),
      placedOn: Nullable(
        Strict({
          gatewayId: Uuid,
          name: Type.String(),
          status: Type.Union([Type.Literal('active'), Type.Literal('drained'), Type.Literal('removed')], {
            description: 'removed: the gateway this device\'s config points at is gone for good; drained: it keeps its devices but takes no new ones',
          }),
        }),
      ),
      notice: Nullable(Type.String({ description: 'What the person should know about this device\'s config, in words (e.g. that it no longer leads anywhere and what to do); null when nothing is wrong' })),
      usage: Nullable(Strict({ periodStart: IsoTime, bytes: Type.Integer(), quotaBytes: Nullable(Type.Integer()) })),
    }),
  ),
  serverTime: IsoTime,
});
export type Whoami = Static<typeof Whoami>;

// --- catalog ---
export const CatalogPayload = Strict({
  version: Type.Integer({ minimum: 1 }),
  issuedAt: IsoTime,
  expiresAt: IsoTime,
  frontDoors: Type.Array(FrontDoor),
});
export type CatalogPayload = Static<typeof CatalogPayload>;

export const SignedEnvelope = Strict({
  payloadType: Type.String(),
  payload: Type.String({ description: 'base64 of the exact signed bytes' }),
  signatures: Type.Array(Strict({ keyid: Type.String(), sig: Type.String() })),
});

export const PublishedKeys = Strict({
  catalog: Type.Array(Strict({ keyid: Type.String(), publicKey: Type.String(), algorithm: Type.Literal('ed25519') })),
  admission: Type.Array(Strict({ keyid: Type.String(), publicKey: Type.String(), algorithm: Type.Literal('ed25519') })),
});
export type PublishedKeys = Static<typeof PublishedKeys>;

// --- posture ---
export const Posture = Strict({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('down')]),
  summary: Type.String(),
  controlPlane: Strict({ version: Type.String(), store: Type.String(), serverTime: IsoTime }),
  catalog: Nullable(Strict({ version: Type.Integer(), issuedAt: IsoTime, expiresAt: IsoTime, frontDoors: Type.Integer() })),
  regions: Type.Array(
    Strict({
      region: Type.String(),
      country: Type.String(),
      tier: Type.String(),
      gatewaysOnline: Type.Integer(),
      gatewaysTotal: Type.Integer(),
      gatewaysDrained: Type.Integer({ description: 'Of the total, how many an operator drained: they keep their devices but take no new ones' }),
      newestHeartbeatAgeSeconds: Nullable(Type.Number()),
    }),
  ),
  doors: Type.Array(
    Strict({
      gatewayId: Uuid,
      region: Type.String(),
      lane: Type.Integer(),
      protocol: DoorProtocol,
      tier: TransportTier,
      ports: Type.Array(Type.Integer()),
      online: Type.Boolean({ description: 'The gateway heartbeats and its last report says this lane is up and listening' }),
      health: Nullable(DoorHealthSummary),
    }),
    { description: 'Each door lane of each registered gateway, with its last reported health' },
  ),
  publicEnrollment: Type.Boolean(),
});
export type Posture = Static<typeof Posture>;

// --- devices (operator) ---
export const DeviceSummary = Strict({
  id: Uuid,
  publicKey: Type.String(),
  ipv4: Type.String(),
  ipv6: Type.String(),
  tier: Type.String(),
  region: Type.String(),
  exitCountry: Type.String(),
  gatewayId: Nullable(Uuid),
  state: Type.String(),
  stateReason: Nullable(Type.String()),
  createdAt: IsoTime,
});
export const DeviceList = Strict({ devices: Type.Array(DeviceSummary) });
export const DeviceIdParams = Strict({ id: Uuid });
export const RevokeDeviceRequest = Strict({ reason: Type.Optional(Type.String({ maxLength: 200 })) });

// --- gateways ---
export const AddGatewayRequest = Strict({
  name: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$' })),
  region: Region,
  country: Country,
  expiresInSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 30 * 86400 })),
});
export const AddGatewayResponse = Strict({
  gatewayId: Uuid,
  name: Type.String(),
  registrationToken: Type.String(),
  expiresAt: IsoTime,
  joinCode: Type.String({
    description:
      'One line for `damm gateway join` on the gateway host (stdin or --code-file): the control plane URL, the registration token and the root v1 pin. Secret, like the token',
  }),
});

export const DoorHost = Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9.:\\[\\]-]+$' });
export const DoorEndpoint = Strict({ host: DoorHost, port: Type.Integer({ minimum: 1, maximum: 65535 }) });

/** One WireGuard-family interface of a gateway and the endpoints it answers on (core/doors.ts). */
export const GatewayLaneDoor = Strict({
  lane: Type.Integer({ minimum: 0, maximum: MAX_LANES - 1, description: '0: the plain WireGuard interface; 1: AmneziaWG; ...' }),
  protocol: DoorProtocol,
  tier: TransportTier,
  publicKey: WgPublicKey,
  params: Nullable(AwgParams),
  endpoints: Type.Array(DoorEndpoint, { minItems: 1, maxItems: MAX_LANE_ENDPOINTS }),
});
export type GatewayLaneDoor = Static<typeof GatewayLaneDoor>;

const LaneDoors = Type.Array(GatewayLaneDoor, {
  minItems: 1,
  maxItems: MAX_LANES,
  description: 'Lanes distinct, lane 0 plain WireGuard, a key per lane, no port twice on one host',
});

export const RegisterGatewayRequest = Strict({
  registrationToken: Type.String({ pattern: '^dg_[A-Za-z0-9_-]{22,64}$' }),
  doors: LaneDoors,
  egressIps: Type.Array(Type.String({ anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] }), { minItems: 1, maxItems: 8 }),
});
export type RegisterGatewayRequest = Static<typeof RegisterGatewayRequest>;

/** PUT /v1/gateways/{id}/doors: the agent states its doors at every start. */
export const UpdateDoorsRequest = Strict({ doors: LaneDoors });
export type UpdateDoorsRequest = Static<typeof UpdateDoorsRequest>;

export const LaneTunnel = Strict({
  lane: Type.Integer({ minimum: 0, maximum: MAX_LANES - 1 }),
  ipv4Cidr: Type.String(),
  ipv6Prefix: Type.String(),
  gatewayIpv4: Type.String(),
  gatewayIpv6: Type.String(),
});
export type LaneTunnel = Static<typeof LaneTunnel>;

export const UpdateDoorsResponse = Strict({
  changed: Type.Boolean({ description: 'Whether the doors differed from what was registered (the catalog is then re-signed)' }),
  lanes: Type.Array(LaneTunnel),
});

export const RegisterGatewayResponse = Strict({
  gatewayId: Uuid,
  credential: Type.String({ description: 'Bearer credential for this gateway; shown once, stored hashed' }),
  scope: Type.String(),
  tunnel: Strict(
    { ipv4Cidr: Type.String(), ipv6Prefix: Type.String(), gatewayIpv4: Type.String(), gatewayIpv6: Type.String() },
    { description: "Lane 0's prefixes (the pools admission records draw from)" },
  ),
  lanes: Type.Array(LaneTunnel, { description: "Each registered lane: its tunnel prefixes (the pools shifted by `lane` blocks) and the gateway's own address there (offset 1)" }),
  admissionKeys: Type.Array(Strict({ keyid: Type.String(), publicKey: Type.String() })),
});

export const GatewaySummary = Strict({
  id: Uuid,
  name: Type.String(),
  region: Type.String(),
  country: Type.String(),
  registered: Type.Boolean(),
  online: Type.Boolean(),
  drained: Type.Boolean({ description: 'Drained by an operator: keeps its devices, takes no new placements' }),
  drainedAt: Nullable(IsoTime),
  wgPublicKey: Nullable(Type.String()),
  doors: Type.Array(
    Strict({
      lane: Type.Integer(),
      protocol: DoorProtocol,
      tier: TransportTier,
      publicKey: Type.String(),
      endpoints: Type.Array(DoorEndpoint),
      health: Nullable(DoorHealthSummary),
    }),
  ),
  egressIps: Type.Array(Type.String()),
  lastHeartbeatAt: Nullable(IsoTime),
});
export const GatewayList = Strict({ gateways: Type.Array(GatewaySummary) });
export const GatewayIdParams = Strict({ id: Uuid });
export const GatewayActionRequest = Strict({ reason: Type.Optional(Type.String({ maxLength: 200 })) });
export const GatewayRemoved = Strict({
  id: Uuid,
  name: Type.String(),
  region: Type.String(),
  removedAt: IsoTime,
  devicesPlaced: Type.Integer({ description: 'Active devices whose config points at this gateway: they need a new config (whoami tells them)' }),
});

// --- audit ---
export const AuditEntry = Strict({
  id: Type.Integer(),
  at: IsoTime,
  actor: Type.String(),
  action: Type.String(),
  subject: Nullable(Type.String()),
  details: Type.Record(Type.String(), Type.Unknown()),
});
export const AuditList = Strict({ entries: Type.Array(AuditEntry) });
export const AuditQuery = Strict({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  afterId: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
  action: Type.Optional(Type.String({ maxLength: 64, description: 'Exact action, or a prefix ending in "." (device.)' })),
  actor: Type.Optional(Type.String({ maxLength: 100, description: 'Exact actor, e.g. operator:admin' })),
  subject: Type.Optional(Type.String({ maxLength: 100, description: 'Exact subject, e.g. device:<id>' })),
  since: Type.Optional(IsoTime),
  until: Type.Optional(IsoTime),
});
export type AuditQuery = Static<typeof AuditQuery>;

export const HealthResponse = Strict({ status: Type.String() });

// --- web console (docs/console.md) ---
export const SignInRequest = Strict({ token: Type.String({ minLength: 1, maxLength: 200, description: 'An operator token (do_…); exchanged for a session cookie, never stored by the browser' }) });
export const ConsoleSession = Strict({
  operator: Type.String(),
  csrfToken: Type.String({ description: 'Send it as X-DAMM-CSRF on every change made with the session cookie' }),
  expiresAt: IsoTime,
  idleExpiresAt: IsoTime,
});
export type ConsoleSession = Static<typeof ConsoleSession>;

export const DeviceQuery = Strict({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
  state: Type.Optional(Type.Union([Type.Literal('active'), Type.Literal('suspended'), Type.Literal('revoked')])),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Device id (or its start), tunnel address, public key prefix, or words of its invite note' })),
});
export const DeviceListItem = Strict({
  ...DeviceSummary.properties,
  gatewayName: Nullable(Type.String()),
  note: Nullable(Type.String({ description: "The note of the invite or pass it enrolled with" })),
  usageBytes: Type.Integer({ description: 'Bytes this usage period (calendar month, UTC)' }),
  quotaBytes: Nullable(Type.Integer()),
});
export const DeviceListResponse = Strict({ devices: Type.Array(DeviceListItem) });
export const DeviceStateRequest = Strict({ reason: Type.Optional(Type.String({ maxLength: 200 })) });
export const PassIdParams = Strict({ id: Uuid });

export const GatewayDetail = Strict({
  ...GatewaySummary.properties,
  peers: Type.Integer({ description: 'Active devices this gateway admits (every device of its scope)' }),
  bytesToday: Type.Integer(),
  heartbeatAgeSeconds: Nullable(Type.Number()),
});
export const GatewayDetailList = Strict({ gateways: Type.Array(GatewayDetail) });

export const Overview = Strict({
  posture: Posture,
  gateways: Strict({ total: Type.Integer(), online: Type.Integer(), registered: Type.Integer() }),
  doors: Strict({ total: Type.Integer(), up: Type.Integer() }),
  devices: Strict({ active: Type.Integer(), suspended: Type.Integer(), revoked: Type.Integer() }),
  enrollmentsPerHour: Type.Array(Strict({ hour: IsoTime, count: Type.Integer() }), { description: 'The last 24 hours, oldest first' }),
  bytesPerDay: Type.Array(Strict({ day: Type.String({ format: 'date' }), bytes: Type.Integer() }), { description: 'The last 14 days (UTC), oldest first' }),
  warnings: Type.Array(Type.String()),
});

const TrustKey = Strict({ keyid: Type.String(), notBefore: IsoTime, notAfter: IsoTime, validNow: Type.Boolean(), keyFileHere: Type.Boolean() });
const TrustRole = Strict({ threshold: Type.Integer(), keys: Type.Array(TrustKey), rotationDueAt: Nullable(IsoTime) });
export const TrustStatus = Strict({
  rootVersion: Type.Integer(),
  rootIssuedAt: IsoTime,
  rootExpiresAt: IsoTime,
  rootRefreshDueAt: IsoTime,
  rootV1Sha256: Type.String(),
  root: Strict({ threshold: Type.Integer(), keyids: Type.Array(Type.String()) }),
  catalog: TrustRole,
  admission: TrustRole,
  warnings: Type.Array(Type.String()),
});
export type TrustStatus = Static<typeof TrustStatus>;
