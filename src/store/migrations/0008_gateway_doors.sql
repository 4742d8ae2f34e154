-- Doors as data: a gateway registers its WireGuard-family interfaces
-- ("lanes"), each with its protocol, transport tier, public key, public
-- parameters and endpoints (core/doors.ts). wg_public_key keeps lane 0's key
-- (its UNIQUE constraint still refuses two gateways with one key).
-- door_health is the lanes' health from the latest heartbeat that carried it.
ALTER TABLE gateways ADD COLUMN doors jsonb NOT NULL DEFAULT '[]';
ALTER TABLE gateways ADD COLUMN door_health jsonb NOT NULL DEFAULT '[]';
ALTER TABLE gateways ADD COLUMN door_health_at timestamptz;

-- Gateways registered before lanes existed: their endpoints become lane 0
-- (plain WireGuard, the tier of their first endpoint), so their catalog doors
-- keep their ids.
UPDATE gateways SET doors = jsonb_build_array(jsonb_build_object(
    'lane', 0,
    'protocol', 'wireguard',
    'tier', coalesce(endpoints->0->>'tier', 'T0'),
    'publicKey', wg_public_key,
    'params', NULL,
    'endpoints', (SELECT jsonb_agg(jsonb_build_object('host', e->>'host', 'port', (e->>'port')::int) ORDER BY i)
                  FROM jsonb_array_elements(endpoints) WITH ORDINALITY AS x(e, i))))
  WHERE wg_public_key IS NOT NULL AND jsonb_array_length(endpoints) > 0;

ALTER TABLE gateways DROP COLUMN endpoints;
