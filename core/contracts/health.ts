import { z } from 'zod';
import { MetricName } from './device.ts';
import { IsoTime } from './time.ts';

/** Pipeline components that report their health. */
export const HEALTH_COMPONENTS = ['ingest', 'processors', 'rollups', 'alerting', 'sink-influx', 'services'] as const;

/**
 * A stage's health, on `health.v1` (key `component:instance`) every few seconds: counters since the process started
 * and gauges now, as non-negative integers under snake_case names with units (`messages_in`, `dead_letters`,
 * `bus_lag_messages`, `buffer_bytes`, `connections`…). The time-series sink writes it to `pipeline_health`.
 */
export const HealthReport = z.strictObject({
  component: z.enum(HEALTH_COMPONENTS),
  instance: z.string().min(1).max(128),
  ts: IsoTime,
  values: z.record(MetricName, z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)),
});
/** A health report. */
export type HealthReport = z.output<typeof HealthReport>;
