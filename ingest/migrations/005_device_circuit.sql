-- The circuit (feeder cabinet, armoire) a device hangs on: core/contracts Circuit (same characters as a district:
-- 1–64 of A–Z, a–z, 0–9, ".", "_", "-"), NULL when none. Published on devices.v1 by ingest/device-directory.ts;
-- the streetlight rollups sum energy per circuit.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS circuit text NULL
  CHECK (circuit IS NULL OR circuit ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$');
