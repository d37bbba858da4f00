-- Parking sessions (services/parking): paid by SMS (a phone, a receipt, reminders) or at a parking meter (a
-- device, no phone). One running SMS session per plate and zone. parking_session_events is append-only: what was
-- charged (+) or refunded (-) and when, the ledger of the session. parking_inbound records each inbound SMS handled
-- (idempotency on messageSid) with the messages it produces, produced once (the outbox of the replies).

CREATE TABLE IF NOT EXISTS parking_sessions (
  id bigserial PRIMARY KEY,
  reference text NOT NULL UNIQUE,
  plate text CHECK (char_length(plate) <= 12),
  zone text NOT NULL CHECK (char_length(zone) <= 20),
  phone text,
  locale text NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
  start_at timestamptz NOT NULL,
  end_at timestamptz NOT NULL,
  paid_minutes integer NOT NULL CHECK (paid_minutes >= 0),
  amount_cents integer NOT NULL CHECK (amount_cents >= 0),
  status text NOT NULL CHECK (status IN ('running', 'ended', 'expired')),
  source text NOT NULL CHECK (source IN ('sms', 'meter')),
  device_id text,
  source_ref text,
  reminder_at timestamptz,
  reminder_lease_until timestamptz,
  reminder_sent_at timestamptz,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (end_at >= start_at),
  CHECK ((source = 'sms') = (phone IS NOT NULL)),
  CHECK ((source = 'meter') = (device_id IS NOT NULL)),
  CHECK (source = 'meter' OR plate IS NOT NULL)
);

CREATE UNIQUE INDEX IF NOT EXISTS parking_sessions_running_idx ON parking_sessions (plate, zone)
  WHERE status = 'running' AND source = 'sms';

CREATE UNIQUE INDEX IF NOT EXISTS parking_sessions_source_ref_idx ON parking_sessions (source, source_ref)
  WHERE source_ref IS NOT NULL;

CREATE INDEX IF NOT EXISTS parking_sessions_phone_idx ON parking_sessions (phone) WHERE status = 'running';

CREATE INDEX IF NOT EXISTS parking_sessions_plate_idx ON parking_sessions (plate, zone, end_at DESC);

CREATE INDEX IF NOT EXISTS parking_sessions_end_idx ON parking_sessions (end_at) WHERE status = 'running';

CREATE INDEX IF NOT EXISTS parking_sessions_reminder_idx ON parking_sessions (reminder_at)
  WHERE status = 'running' AND reminder_sent_at IS NULL AND reminder_at IS NOT NULL;

CREATE INDEX IF NOT EXISTS parking_sessions_created_idx ON parking_sessions (created_at DESC, id DESC);

CREATE TABLE IF NOT EXISTS parking_session_events (
  id bigserial PRIMARY KEY,
  session_id bigint NOT NULL REFERENCES parking_sessions (id) ON DELETE CASCADE,
  type text NOT NULL CHECK (type IN ('start', 'extend', 'stop', 'expire', 'reminder-sent')),
  at timestamptz NOT NULL,
  minutes integer,
  amount_cents integer NOT NULL DEFAULT 0,
  end_at timestamptz,
  message_sid text
);

CREATE INDEX IF NOT EXISTS parking_session_events_session_idx ON parking_session_events (session_id, id);

CREATE TABLE IF NOT EXISTS parking_inbound (
  message_sid text PRIMARY KEY,
  outcome text NOT NULL,
  session_id bigint REFERENCES parking_sessions (id) ON DELETE SET NULL,
  outbox jsonb NOT NULL DEFAULT '[]'::jsonb,
  produced boolean NOT NULL DEFAULT false,
  at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS parking_inbound_pending_idx ON parking_inbound (at) WHERE NOT produced;

CREATE TABLE IF NOT EXISTS parking_meters (
  device_id text PRIMARY KEY,
  zone text,
  updated_at timestamptz NOT NULL
);
