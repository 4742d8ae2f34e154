-- DAMM control plane: passes, devices, gateways, audit, rate limits, catalog.
-- Secrets (passes, tokens) are stored only as SHA-256 hashes.

CREATE TABLE settings (
  key   text PRIMARY KEY,
  value jsonb NOT NULL
);

CREATE TABLE operator_tokens (
  id          uuid PRIMARY KEY,
  name        text NOT NULL,
  token_hash  bytea NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

CREATE TABLE install_passes (
  id          uuid PRIMARY KEY,
  token_hash  bytea NOT NULL UNIQUE,
  kind        text NOT NULL CHECK (kind IN ('public', 'invite')),
  tier        text NOT NULL,
  max_uses    integer NOT NULL CHECK (max_uses > 0),
  uses_left   integer NOT NULL CHECK (uses_left >= 0),
  expires_at  timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL,
  note        text,
  revoked_at  timestamptz
);
CREATE INDEX install_passes_created_at ON install_passes (created_at);

CREATE TABLE gateways (
  id                   uuid PRIMARY KEY,
  name                 text NOT NULL,
  region               text NOT NULL,
  country              text NOT NULL,
  reg_token_hash       bytea UNIQUE,
  reg_token_expires_at timestamptz,
  credential_hash      bytea UNIQUE,
  wg_public_key        text UNIQUE,
  endpoints            jsonb NOT NULL DEFAULT '[]',
  egress_ips           inet[] NOT NULL DEFAULT '{}',
  created_at           timestamptz NOT NULL DEFAULT now(),
  registered_at        timestamptz,
  last_heartbeat_at    timestamptz
);
CREATE INDEX gateways_region ON gateways (region);

-- Tunnel addresses are offsets into the configured pools; the IPv4 and IPv6
-- address of a device share one offset. Fresh offsets come from a sequence
-- (no hot counter row); offsets of revoked devices return to free_offsets.
CREATE SEQUENCE address_offset_seq START 2;
CREATE TABLE free_offsets (
  address_offset integer PRIMARY KEY
);

CREATE TABLE devices (
  id                uuid PRIMARY KEY,
  public_key        text NOT NULL UNIQUE,
  address_offset    integer NOT NULL,
  ipv4              inet NOT NULL,
  ipv6              inet NOT NULL,
  tier              text NOT NULL,
  pass_id           uuid REFERENCES install_passes (id),
  requested_region  text,
  requested_exit    text,
  region            text NOT NULL,
  exit_country      text NOT NULL,
  scope             text NOT NULL,
  gateway_id        uuid REFERENCES gateways (id),
  placement_reason  text NOT NULL,
  state             text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended', 'revoked')),
  state_reason      text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  state_changed_at  timestamptz
);
-- No two live devices may ever share an address; revoked ones free theirs.
CREATE UNIQUE INDEX devices_live_offset ON devices (address_offset) WHERE state <> 'revoked';
CREATE INDEX devices_scope ON devices (scope) WHERE state = 'active';
CREATE INDEX devices_created_at ON devices (created_at);

CREATE TABLE audit_log (
  id       bigserial PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor    text NOT NULL,
  action   text NOT NULL,
  subject  text,
  details  jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);

-- Fixed-window counters shared by every control-plane process.
CREATE UNLOGGED TABLE rate_counters (
  bucket        text NOT NULL,
  window_start  timestamptz NOT NULL,
  count         integer NOT NULL,
  PRIMARY KEY (bucket, window_start)
);

CREATE TABLE catalog_state (
  id             smallint PRIMARY KEY CHECK (id = 1),
  version        bigint NOT NULL,
  doors_digest   text NOT NULL,
  envelope       jsonb NOT NULL,
  issued_at      timestamptz NOT NULL,
  expires_at     timestamptz NOT NULL
);
