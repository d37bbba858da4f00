-- Dead letters (services/dead-letters): each record of deadletter.v1 stored once, so operators can list, read,
-- replay or discard them. record_key = sha256 of the consumed record's partition, offset and value (the in-process
-- bus restarts its offsets in every process, so the value is part of the key): a record delivered twice is stored
-- once. raw holds the original bytes (decoded from rawBase64; for a record that is not a dead letter, the record
-- itself, with error_code ERR_DEADLETTER_INVALID). Resolved rows (replayed, discarded) are deleted after the
-- retention (90 days by default); open rows are kept until someone resolves them.

CREATE TABLE IF NOT EXISTS dead_letters (
  id bigserial PRIMARY KEY,
  record_key text NOT NULL UNIQUE,
  record_partition integer NOT NULL,
  record_offset bigint NOT NULL,
  record_bus_key text NOT NULL,
  received_at timestamptz NOT NULL,
  raw bytea NOT NULL,
  raw_sha256 text NOT NULL,
  source jsonb NOT NULL,
  device_id text,
  error_code text NOT NULL,
  message text NOT NULL,
  issues jsonb NOT NULL DEFAULT '[]'::jsonb,
  component text NOT NULL,
  stage text NOT NULL CHECK (stage IN ('receiving', 'processing', 'sending')),
  attempts integer NOT NULL CHECK (attempts >= 1),
  first_failed_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
  resolved_at timestamptz,
  resolved_by text,
  resolve_note text CHECK (char_length(resolve_note) <= 500),
  replay_count integer NOT NULL DEFAULT 0 CHECK (replay_count >= 0),
  CHECK ((status = 'open') = (resolved_at IS NULL)),
  CHECK ((status = 'open') = (resolved_by IS NULL))
);

-- GET /api/dead-letters: by status, newest first (keyset paging on received_at, id).
CREATE INDEX IF NOT EXISTS dead_letters_status_received_idx ON dead_letters (status, received_at DESC, id DESC);

-- Filters and the bulk replay by error code; the summary of open counts by error code.
CREATE INDEX IF NOT EXISTS dead_letters_error_code_idx ON dead_letters (error_code, status, id);

CREATE INDEX IF NOT EXISTS dead_letters_device_idx ON dead_letters (device_id, received_at DESC)
  WHERE device_id IS NOT NULL;

-- The other dead letters of the same bytes (a replayed record that failed again).
CREATE INDEX IF NOT EXISTS dead_letters_raw_sha256_idx ON dead_letters (raw_sha256);

-- Retention: resolved rows by resolution time.
CREATE INDEX IF NOT EXISTS dead_letters_resolved_idx ON dead_letters (resolved_at) WHERE status <> 'open';
