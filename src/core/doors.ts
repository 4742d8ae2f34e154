/**
 * Doors as data (DESIGN principle 7). A gateway serves its WireGuard-family
 * doors on up to MAX_LANES interfaces ("lanes"): lane 0 is the plain
 * WireGuard interface (its listen port and the alternate ports steered to
 * it), lane 1 the AmneziaWG interface, and so on. Each lane has its own key
 * pair and its own tunnel prefixes (core/ipam.ts lanePools); one catalog door
 * per endpoint of a lane.
 *
 * The names and limits here are plain data (api-schemas builds its schemas
 * from them); core/lane-doors.ts checks what a gateway registers.
 */

/** Protocols a door speaks; a client renders a config only for the ones it knows. */
export const DOOR_PROTOCOLS = ['wireguard', 'amneziawg'] as const;
export type DoorProtocol = (typeof DOOR_PROTOCOLS)[number];

/** WireGuard-family interfaces per gateway (lane 0..MAX_LANES-1). */
export const MAX_LANES = 4;

/** Endpoints per lane (the listen port's door and up to 7 alternates, each maybe on IPv4 and IPv6). */
export const MAX_LANE_ENDPOINTS = 8;

/** AmneziaWG header values: one 32-bit value or a range "lo-hi". */
export const AWG_HEADER_PATTERN = '^[0-9]{1,10}(-[0-9]{1,10})?$';
