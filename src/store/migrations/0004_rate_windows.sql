-- Sliding-window rate limits (src/store/rate-limit.ts) replace the fixed
-- hourly counters, which let a client take its limit just before the top of
-- the hour and again just after. One row per bucket holds the times of its
-- hits still inside the window, so a limit holds over any rolling window and
-- one row lock (INSERT ... ON CONFLICT DO UPDATE) makes taking a slot atomic
-- across every control-plane process. UNLOGGED like before: after a crash
-- the limits start afresh, which errs toward letting people in.
DROP TABLE rate_counters;

CREATE UNLOGGED TABLE rate_windows (
  bucket    text PRIMARY KEY,
  hits      timestamptz[] NOT NULL,
  last_hit  timestamptz NOT NULL
);
CREATE INDEX rate_windows_last_hit ON rate_windows (last_hit);
