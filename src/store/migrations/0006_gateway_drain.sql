-- Several gateways per region: an operator drains one (no new placements,
-- its devices keep working) or removes one for good. A removed gateway's row
-- stays, so whoami can tell a device placed there, in words, that its config
-- no longer leads anywhere; its credential and registration token are wiped
-- so it can no longer call the control plane.
ALTER TABLE gateways
  ADD COLUMN drained_at  timestamptz,
  ADD COLUMN drained_by  text,
  ADD COLUMN removed_at  timestamptz,
  ADD COLUMN removed_by  text;
