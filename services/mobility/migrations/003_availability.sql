-- The residents' availability map (issue 8, "The mobility account"): the latest reading of each bike-share station,
-- shared car and car park, with its place from the device registry (services/mobility/availability.ts).
CREATE TABLE IF NOT EXISTS mobility_availability (
  device_id   text PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('bike-station', 'car-share', 'car-park')),
  -- From devices.v1 (null until the registry's record is read).
  district    text,
  lat         double precision,
  lon         double precision,
  active      boolean NOT NULL DEFAULT true,
  -- From readings.<kind>.v1: the availability metrics of the newest reading by event time, and that time.
  metrics     jsonb,
  at          timestamptz
);
CREATE INDEX IF NOT EXISTS mobility_availability_kind_idx ON mobility_availability (kind, device_id);
