/** The ingest stage: MQTT broker, device registry and the MQTT→bus bridge (ingest/README.md). */
export { type Channel, type Decoded, type DecodeInput, decodeDeviceMessage, parseDeviceTopic } from './decode.ts';
export {
  createDeviceRegistry,
  DeviceCredentials,
  type DeviceRecord,
  type DeviceRegistry,
  type DeviceRegistryOptions,
  ingestMigrations,
  loadDevicesFile,
  type VerifiedDevice,
} from './device-registry.ts';
export { createIngest, type Ingest, type IngestConfig, type IngestDeps, ingestConfigSchema } from './mqtt.ts';
