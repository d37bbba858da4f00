-- Citizen problem reports (services/reports): the report, its status history (which doubles as the outbox of the
-- status messages to the reporter: notify = 'pending' until produced to notifications.v1), its photo, and the
-- streetlights' positions read from devices.v1 (for the reports lamp-out alerts open).

CREATE TABLE IF NOT EXISTS reports (
  id bigserial PRIMARY KEY,
  reference text NOT NULL UNIQUE,
  category text NOT NULL CHECK (category IN ('roads', 'green-spaces', 'public-lighting', 'cleanliness', 'other')),
  text text NOT NULL CHECK (char_length(text) <= 2000),
  latitude double precision CHECK (latitude BETWEEN -90 AND 90),
  longitude double precision CHECK (longitude BETWEEN -180 AND 180),
  address text CHECK (char_length(address) <= 300),
  location_source text CHECK (location_source IN ('given', 'photo', 'text', 'reply', 'device')),
  contact text,
  contact_channel text CHECK (contact_channel IN ('sms', 'email')),
  locale text NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
  source text NOT NULL CHECK (source IN ('web', 'sms', 'alert')),
  source_ref text,
  device_id text,
  status text NOT NULL CHECK (status IN ('received', 'assigned', 'in-progress', 'resolved', 'rejected')),
  assignee text,
  note text,
  photo_problem text,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK ((latitude IS NULL) = (longitude IS NULL)),
  CHECK ((contact IS NULL) = (contact_channel IS NULL))
);

CREATE UNIQUE INDEX IF NOT EXISTS reports_source_ref_idx ON reports (source, source_ref) WHERE source_ref IS NOT NULL;

CREATE UNIQUE INDEX IF NOT EXISTS reports_open_device_idx ON reports (device_id)
  WHERE device_id IS NOT NULL AND status IN ('received', 'assigned', 'in-progress');

CREATE INDEX IF NOT EXISTS reports_created_idx ON reports (created_at DESC, id DESC);

CREATE INDEX IF NOT EXISTS reports_status_idx ON reports (status, created_at DESC);

CREATE INDEX IF NOT EXISTS reports_contact_idx ON reports (contact, created_at DESC) WHERE contact IS NOT NULL;

CREATE TABLE IF NOT EXISTS reports_history (
  id bigserial PRIMARY KEY,
  report_id bigint NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
  status text NOT NULL,
  at timestamptz NOT NULL,
  by text NOT NULL,
  assignee text,
  note text,
  notify text NOT NULL CHECK (notify IN ('pending', 'done', 'none'))
);

CREATE INDEX IF NOT EXISTS reports_history_report_idx ON reports_history (report_id, id);

CREATE INDEX IF NOT EXISTS reports_history_pending_idx ON reports_history (id) WHERE notify = 'pending';

CREATE TABLE IF NOT EXISTS reports_photos (
  report_id bigint PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
  content_type text NOT NULL,
  bytes bytea NOT NULL,
  width_px integer NOT NULL,
  height_px integer NOT NULL,
  sha256 text NOT NULL
);

CREATE TABLE IF NOT EXISTS reports_devices (
  device_id text PRIMARY KEY,
  latitude double precision,
  longitude double precision,
  district text,
  updated_at timestamptz NOT NULL
);

-- Inbound SMS handled without creating a report (a reply giving a report's place), so a redelivery does nothing.
CREATE TABLE IF NOT EXISTS reports_inbound (
  message_sid text PRIMARY KEY,
  report_id bigint REFERENCES reports (id) ON DELETE CASCADE,
  at timestamptz NOT NULL
);
