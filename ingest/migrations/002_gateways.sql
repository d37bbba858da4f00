-- Gateways (ingest/device-registry.ts): a device may name another registered device as its gateway, which may then
-- publish under the device's topics on the gateway's own connection (wM-Bus/LoRa concentrators). Deleting the
-- gateway detaches its devices.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS gateway_id text NULL REFERENCES devices(device_id) ON DELETE SET NULL;

CREATE INDEX IF NOT EXISTS devices_gateway_id_idx ON devices (gateway_id);
