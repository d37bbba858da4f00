-- The operators' console read model (services/console/read-model.ts), rebuilt from devices.v1, alerts.v1 and
-- rollups.v1. Every change to a device row, its alerts included, takes the next value of console_version_seq, so the
-- map asks "what changed since cursor N" (writers take an advisory lock first: versions commit in order).
CREATE SEQUENCE IF NOT EXISTS console_version_seq;

-- One row per device: the registry's description (devices.v1), or a bare row (kind only) when an alert came first.
-- updated_at is the event time of the row's last change: the registry's updatedAt, or the alert transition's ts.
CREATE TABLE IF NOT EXISTS console_devices (
  device_id text PRIMARY KEY,
  kind text NOT NULL,
  district text,
  circuit text,
  lat double precision,
  lon double precision,
  active boolean NOT NULL,
  updated_at timestamptz NOT NULL,
  version bigint NOT NULL
);

CREATE INDEX IF NOT EXISTS console_devices_version_idx ON console_devices (version);

-- The open alert of each device and type (alerts.v1): open/update upsert it, a resolve of the same alert_id deletes it.
CREATE TABLE IF NOT EXISTS console_device_alerts (
  device_id text NOT NULL,
  type text NOT NULL,
  alert_id text NOT NULL,
  severity text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
  summary text NOT NULL,
  since timestamptz NOT NULL,
  PRIMARY KEY (device_id, type)
);

-- Device rollups (rollups.v1, scope device) per hour and per local day; a later record replaces the earlier one.
-- metric_values is the rollup's values object ({"consumptionL": 12.5, …}).
CREATE TABLE IF NOT EXISTS console_series (
  device_id text NOT NULL,
  period text NOT NULL CHECK (period IN ('hour', 'day')),
  start timestamptz NOT NULL,
  kind text NOT NULL,
  metric_values jsonb NOT NULL,
  PRIMARY KEY (device_id, period, start)
);

-- The retention sweep deletes by period and start.
CREATE INDEX IF NOT EXISTS console_series_retention_idx ON console_series (period, start);
