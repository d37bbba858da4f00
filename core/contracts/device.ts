import { z } from 'zod';

/**
 * Device kinds Vigie knows (CONTRACTS.md §3). A new kind is added here, with its decoder and detectors. The last
 * three are the mobility account's availability for the map (issue 8): bike-share stations, shared cars, car parks.
 */
export const KINDS = [
  'water-meter',
  'streetlight',
  'parking-meter',
  'sensor',
  'bike-station',
  'car-share',
  'car-park',
] as const;

/** A device kind. */
export const Kind = z.enum(KINDS);
/** A device kind. */
export type Kind = z.infer<typeof Kind>;

/** The shape of a device id (for hot paths that check it without zod). */
export const DEVICE_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Device ids are safe in MQTT topics (no `/`, `+`, `#`), in Kafka keys and in file names: 1–64 characters. */
export const DeviceId = z
  .string()
  .regex(DEVICE_ID_RE, 'a device id is 1–64 characters of A–Z, a–z, 0–9, ".", "_", "-"');
/** A device id. */
export type DeviceId = z.infer<typeof DeviceId>;

/** Largest absolute metric value accepted: beyond it a number has lost its integer precision. */
export const MAX_METRIC_ABS = Number.MAX_SAFE_INTEGER;

/** One metric value: a finite number within ±2^53. */
export const MetricValue = z
  .number()
  .refine((n) => Number.isFinite(n) && Math.abs(n) <= MAX_METRIC_ABS, 'a finite number within ±9007199254740991');

/** Metric names: short identifiers, so they can become InfluxDB fields and Prometheus-safe labels. */
export const MetricName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a metric name is a letter then up to 63 of A–Z, a–z, 0–9, "_"');

/** At most this many metrics per reading: a device never has more, a hostile payload might. */
export const MAX_METRICS = 64;

/** Device flags (tamper, magnetic, ...): short identifiers, at most 16. */
export const Flags = z
  .array(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'a flag is 1–32 of A–Z, a–z, 0–9, "_", "-"'))
  .max(16);

/** Metrics map, bounded in size. */
export const Metrics = z
  .record(MetricName, MetricValue)
  .refine((m) => Object.keys(m).length <= MAX_METRICS, `at most ${MAX_METRICS} metrics`);
