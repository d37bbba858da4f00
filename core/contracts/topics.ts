import type { Kind } from './device.ts';

/** Bus topic names, versioned `<name>.v<N>` (CONTRACTS.md §5). A breaking change to a message means a new version. */
export const TOPICS = {
  /** Canonical readings of one kind, key = deviceId. */
  readings: (kind: Kind) => `readings.${kind}.v1`,
  /** Device events (payments, faults, alarms) of one kind, key = deviceId (core/contracts/event.ts). */
  events: (kind: Kind) => `events.${kind}.v1`,
  /** Alert transitions, key = `deviceId:type`. */
  alerts: 'alerts.v1',
  /** Dead letters from any stage, key = deviceId or the source. */
  deadLetters: 'deadletter.v1',
  /** The device registry's description of each device, key = deviceId, compacted (core/contracts/device-info.ts). */
  devices: 'devices.v1',
  /** Hourly and daily rollups, key = deviceId or district (core/contracts/rollup.ts). */
  rollups: 'rollups.v1',
  /** Each stage's health every few seconds, key = `component:instance` (core/contracts/health.ts). */
  health: 'health.v1',
  /** Messages services ask the alerting stage to send, key = the recipient (core/contracts/notification.ts). */
  notifications: 'notifications.v1',
  /** SMS and MMS to the city's number that the services act on, key = the sender (core/contracts/inbound.ts). */
  inboundSms: 'inbound-sms.v1',
  /** Mobility usage events (validations, rentals, trips, parking), key = accountId (services/mobility/usage.ts). */
  mobilityUsage: 'mobility-usage.v1',
  /** SMS parking sessions once ended, key = the driver's phone (core/contracts/parking-session.ts). */
  parkingSessions: 'parking-sessions.v1',
} as const;

/** Topics that keep the last message of each key (compacted on Kafka), whoever creates them first. */
export const COMPACTED_TOPICS: ReadonlySet<string> = new Set([TOPICS.devices]);

/** MQTT topic of a device's telemetry (CONTRACTS.md §3). */
export function telemetryTopic(kind: Kind, deviceId: string): string {
  return `vigie/v1/${kind}/${deviceId}/telemetry`;
}

/** MQTT topic of a device's events (alarms, payments). */
export function eventTopic(kind: Kind, deviceId: string): string {
  return `vigie/v1/${kind}/${deviceId}/event`;
}

/** MQTT topic of a device's retained online/offline status (its last will). */
export function statusTopic(kind: Kind, deviceId: string): string {
  return `vigie/v1/${kind}/${deviceId}/status`;
}

/** MQTT topic a device may subscribe to for commands. */
export function commandTopic(kind: Kind, deviceId: string): string {
  return `vigie/v1/${kind}/${deviceId}/command`;
}
