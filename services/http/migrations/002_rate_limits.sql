-- Request counters of the rate-limited routes (services/http/rate-limit-store.ts), shared by every process serving
-- the API on this database: several `vigie serve` instances count together. A bucket is a SHA-256 of the limiter's
-- name and the client's key (an IP address, an email address, a phone number): the table names no one. Rows whose
-- window has ended are purged as the counters are used.

CREATE TABLE IF NOT EXISTS http_rate_limits (
  bucket text PRIMARY KEY,
  hits integer NOT NULL,
  window_ends_ms bigint NOT NULL
);

CREATE INDEX IF NOT EXISTS http_rate_limits_window_ends_idx ON http_rate_limits (window_ends_ms);
