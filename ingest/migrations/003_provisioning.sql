-- Provisioning at scale (ingest/device-registry.ts): LoRaWAN aliases, secret rotation with a grace period, and a
-- change log other processes poll to drop revoked devices from their caches and disconnect them.
-- dev_eui: the device's LoRaWAN DevEUI, 16 upper-case hexadecimal digits, unique when set.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS dev_eui text NULL;

CREATE UNIQUE INDEX IF NOT EXISTS devices_dev_eui_key ON devices (dev_eui);

-- The secret before the last rotation, accepted until previous_secret_until (a rotation with a grace period).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS previous_secret_hash text NULL;

ALTER TABLE devices ADD COLUMN IF NOT EXISTS previous_secret_until timestamptz NULL;

-- One row per change made through the registry: change is provisioned | rotated | revoked | removed; grace_until is
-- set for a rotation with a grace period. Rows older than a day are deleted by the registry.
CREATE TABLE IF NOT EXISTS device_changes (
  revision bigserial PRIMARY KEY,
  change text NOT NULL,
  device_ids text[] NOT NULL,
  grace_until timestamptz NULL,
  changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX IF NOT EXISTS device_changes_changed_at_idx ON device_changes (changed_at);
