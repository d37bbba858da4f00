-- The device directory (ingest/device-directory.ts publishes it on devices.v1): where each device is.
-- district: core/contracts District (1–64 of A–Z, a–z, 0–9, ".", "_", "-"), NULL when unassigned.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS district text NULL
  CHECK (district IS NULL OR district ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');

-- lat, lon: WGS 84 degrees, both or neither.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS lat double precision NULL CHECK (lat IS NULL OR lat BETWEEN -90 AND 90);

ALTER TABLE devices ADD COLUMN IF NOT EXISTS lon double precision NULL CHECK (lon IS NULL OR lon BETWEEN -180 AND 180);

ALTER TABLE devices ADD CONSTRAINT devices_lat_lon_together CHECK ((lat IS NULL) = (lon IS NULL));

-- When the registry last changed what devices.v1 says of the device (kind, district, position, enabled).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();

-- device_changes gains the change `updated` (district or position set by `vigie devices set`), and for `removed`
-- the removed devices' kinds (aligned with device_ids), so the directory can still describe a deleted device.
ALTER TABLE device_changes ADD COLUMN IF NOT EXISTS kinds text[] NULL;
