import { z } from 'zod';
import { Flags, Metrics } from './device.ts';
import { EventTime } from './time.ts';

/** Largest accepted MQTT payload in bytes by default; a reading is a few hundred bytes. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024;

/** The JSON a device publishes on `vigie/v1/<kind>/<deviceId>/telemetry` (CONTRACTS.md §3). */
export const DevicePayload = z.object({
  ts: EventTime,
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  metrics: Metrics,
  flags: Flags.optional(),
});
/** A parsed device payload. */
export type DevicePayload = z.output<typeof DevicePayload>;
