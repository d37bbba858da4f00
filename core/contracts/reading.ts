import { z } from 'zod';
import { DeviceId, Flags, Kind, Metrics } from './device.ts';
import { EventTime, IsoTime } from './time.ts';

/**
 * The canonical reading: what ingest puts on `readings.<kind>.v1`, what replay reads (CONTRACTS.md §4).
 * `ts` is the device's event time; `receivedAt` is when ingest accepted it (absent in replay files).
 */
export const Reading = z.object({
  deviceId: DeviceId,
  kind: Kind,
  ts: EventTime,
  seq: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  metrics: Metrics,
  flags: Flags.optional(),
  receivedAt: IsoTime.optional(),
});
/** A canonical reading. */
export type Reading = z.output<typeof Reading>;
