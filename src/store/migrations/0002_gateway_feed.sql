-- The gateway change feed, admission expiry tracking, and metering.

-- Every change to what a gateway must hold is one row. Writers insert rows
-- with revision NULL inside the transaction that changed the device; a
-- sequencer (one at a time, under an advisory lock) gives committed rows the
-- next revisions. Readers only ever see sequenced rows, so revisions become
-- visible in order and never with a hole that fills later (see
-- src/store/feed.ts for why it is done this way).
CREATE TABLE feed_events (
  id          bigserial PRIMARY KEY,
  revision    bigint UNIQUE,
  scope       text NOT NULL,
  device_id   uuid NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('upsert', 'remove')),
  envelope    jsonb NOT NULL,
  reason      text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feed_events_unsequenced ON feed_events (id) WHERE revision IS NULL;
CREATE INDEX feed_events_scope_revision ON feed_events (scope, revision) WHERE revision IS NOT NULL;
CREATE INDEX feed_events_scope_device ON feed_events (scope, device_id, revision DESC) WHERE revision IS NOT NULL;

-- head: the highest revision handed out (only the sequencer writes it).
-- pruned_through: events at or below it may have been compacted away; a
-- reader whose cursor is older must take a snapshot.
CREATE TABLE feed_state (
  id              smallint PRIMARY KEY CHECK (id = 1),
  head            bigint NOT NULL,
  pruned_through  bigint NOT NULL
);
INSERT INTO feed_state (id, head, pruned_through) VALUES (1, 0, 0);

-- When each active device's current admission record ends, so a background
-- job can renew records before they expire.
CREATE TABLE admissions (
  device_id  uuid PRIMARY KEY REFERENCES devices (id),
  scope      text NOT NULL,
  not_after  timestamptz NOT NULL
);
CREATE INDEX admissions_not_after ON admissions (not_after);

-- Bytes per device per period (calendar month, UTC), from gateway heartbeats.
CREATE TABLE usage_periods (
  device_id     uuid NOT NULL REFERENCES devices (id),
  period_start  timestamptz NOT NULL,
  rx_bytes      bigint NOT NULL DEFAULT 0,
  tx_bytes      bigint NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL,
  PRIMARY KEY (device_id, period_start)
);

-- The last heartbeat sequence number each gateway had counted: a heartbeat
-- resent after a lost answer is not counted twice.
CREATE TABLE gateway_meter (
  gateway_id  uuid PRIMARY KEY REFERENCES gateways (id),
  last_seq    bigint NOT NULL
);
