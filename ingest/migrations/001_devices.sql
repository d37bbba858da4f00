-- The device registry: who may connect to the MQTT broker (ingest/device-registry.ts).
-- secret_hash is `scrypt$N$r$p$saltB64$hashB64` with a per-device random salt; secrets are never stored in clear.
CREATE TABLE IF NOT EXISTS devices (
  device_id text PRIMARY KEY,
  kind text NOT NULL,
  secret_hash text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  disabled_at timestamptz NULL
);
