/** The ingest stage: MQTT broker, device registry and the MQTT→bus bridge (ingest/README.md). */
export { type Channel, type Decoded, type DecodeInput, decodeDeviceMessage, parseDeviceTopic } from './decode.ts';
export {
  type DeviceDirectory,
  type DeviceDirectoryDeps,
  deviceInfoOf,
  startDeviceDirectory,
} from './device-directory.ts';
export {
  type AliasRef,
  createDeviceRegistry,
  DeviceCredentials,
  type DeviceRecord,
  type DeviceRegistry,
  type DeviceRegistryOptions,
  DeviceSpec,
  type DirectoryEntry,
  type GeneratedSecret,
  generateSecret,
  ingestMigrations,
  LocationUpdate,
  loadDevicesFile,
  type ProvisionResult,
  type RotateResult,
  type VerifiedDevice,
} from './device-registry.ts';
export { certificateIdentity, type ListenersConfig, listenersConfigSchema } from './listeners.ts';
export { createIngest, type Ingest, type IngestConfig, type IngestDeps, ingestConfigSchema } from './mqtt.ts';
export { decodeUplink, isUplinkTopic, type UplinkInput, type UplinkResult } from './uplinks/index.ts';
