-- Silences and maintenance windows (issue 6, alerting/silences.ts). A row matches alerts by any of device, district
-- (alerting_devices), kind and alert type — at least one of device, district or kind — over [starts_at, ends_at).
-- `silence`: operators are not notified and nothing escalates, residents still are; `maintenance`: the data is not
-- trusted, nobody is notified. Ending one early sets ended_at/ended_by (its planned ends_at is kept): rows are never
-- deleted, they are the record of who muted what, when and why. It is in force over [starts_at, LEAST(ends_at,
-- ended_at)).

CREATE TABLE IF NOT EXISTS alerting_silences (
  id bigserial PRIMARY KEY,
  device_id text,
  district text,
  kind text,
  type text,
  scope text NOT NULL CHECK (scope IN ('silence', 'maintenance')),
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  reason text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  ended_at timestamptz,
  ended_by text,
  CHECK (device_id IS NOT NULL OR district IS NOT NULL OR kind IS NOT NULL),
  CHECK (ends_at > starts_at),
  CHECK (ends_at <= starts_at + interval '720 hours'),
  CHECK ((ended_at IS NULL) = (ended_by IS NULL))
);

-- The router's question for every transition: which silences are in force now (few rows; not ended early).
CREATE INDEX IF NOT EXISTS alerting_silences_in_force_idx ON alerting_silences (ends_at, starts_at)
  WHERE ended_at IS NULL;

-- The list, newest first.
CREATE INDEX IF NOT EXISTS alerting_silences_created_idx ON alerting_silences (created_at DESC, id DESC);
