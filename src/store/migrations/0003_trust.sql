-- Published root documents (docs/trust.md): the offline root role's signed
-- statements of which online keys may sign catalogs and admission records.
-- Every version stays published forever, so a client that was offline for a
-- year can still walk N -> N+1 -> ... one version at a time. The envelope is
-- kept as the exact text that was published (never re-serialised).
CREATE TABLE trust_roots (
  version         integer PRIMARY KEY CHECK (version >= 1),
  envelope        text NOT NULL,
  payload_sha256  text NOT NULL UNIQUE CHECK (payload_sha256 ~ '^[0-9a-f]{64}$'),
  issued_at       timestamptz NOT NULL,
  expires_at      timestamptz NOT NULL,
  published_at    timestamptz NOT NULL DEFAULT now(),
  published_by    text NOT NULL
);
