-- Operator web console (/console/): sign-in sessions, and the daily byte
-- totals its overview charts.
--
-- A session id is a bearer secret held only in an HttpOnly cookie; the store
-- keeps its SHA-256 hash, like every other DAMM secret. A session ends when
-- it has been idle too long, reaches its absolute lifetime, is signed out, or
-- its operator token is revoked.
CREATE TABLE console_sessions (
  id_hash       bytea PRIMARY KEY,
  operator_id   uuid NOT NULL REFERENCES operator_tokens (id) ON DELETE CASCADE,
  created_at    timestamptz NOT NULL,
  last_seen_at  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  ended_at      timestamptz
);
CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- Bytes metered per gateway per UTC day (heartbeat deltas), so "bytes per
-- day" is one indexed read rather than a scan of per-device counters.
CREATE TABLE usage_daily (
  gateway_id  uuid NOT NULL REFERENCES gateways (id) ON DELETE CASCADE,
  day         date NOT NULL,
  rx_bytes    bigint NOT NULL DEFAULT 0,
  tx_bytes    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (day, gateway_id)
);
