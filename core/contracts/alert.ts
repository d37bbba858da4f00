import { z } from 'zod';
import { DeviceId, Kind } from './device.ts';
import { IsoTime } from './time.ts';

/** Alert types (CONTRACTS.md §4). */
export const ALERT_TYPES = [
  'leak',
  'burst',
  'backflow',
  'no-consumption',
  'no-data',
  'low-battery',
  'device-flag',
  'lamp-out',
  'day-burner',
  'power-anomaly',
  'fault',
  'anomaly',
  'station-empty',
  'station-full',
  'car-park-full',
] as const;
/** An alert type. */
export const AlertType = z.enum(ALERT_TYPES);
/** An alert type. */
export type AlertType = z.infer<typeof AlertType>;

/** Severity, in rising order. */
export const Severity = z.enum(['info', 'warning', 'critical']);
/** Severity. */
export type Severity = z.infer<typeof Severity>;

/** Lifecycle state carried by a transition: one `open`, any number of `update`, one `resolved`. */
export const TransitionState = z.enum(['open', 'update', 'resolved']);
/** Transition state. */
export type TransitionState = z.infer<typeof TransitionState>;

/**
 * One alert transition, on `alerts.v1` (key `deviceId:type`) and in replay output (CONTRACTS.md §4).
 * `alertId` is `<deviceId>:<type>:<episode>`; `ts` is the event time of the reading that caused it.
 */
export const AlertTransition = z.object({
  alertId: z.string().min(1).max(160),
  type: AlertType,
  deviceId: DeviceId,
  kind: Kind,
  state: TransitionState,
  ts: IsoTime,
  severity: Severity,
  summary: z.string().max(500),
  details: z.record(z.string(), z.unknown()),
});
/** An alert transition. */
export type AlertTransition = z.output<typeof AlertTransition>;
