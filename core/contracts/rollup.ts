import { z } from 'zod';
import { DeviceId, Kind, MetricName, MetricValue } from './device.ts';
import { District } from './device-info.ts';
import { IsoTime } from './time.ts';

/** Rollup periods: an hour, or a day from local midnight to local midnight in `VIGIE_TZ` (23 or 25 h at DST). */
export const RollupPeriod = z.enum(['hour', 'day']);
/** A rollup period. */
export type RollupPeriod = z.infer<typeof RollupPeriod>;

/**
 * One rollup, on `rollups.v1` (key deviceId for scope `device`, district for scope `district`): the values of one
 * device or one district over one period. `start` is the period's first instant (UTC ISO). A rollup is computed
 * from event time only, so replaying the same readings gives the same rollups; a later record for the same
 * (scope, key, period, start) replaces the earlier one (late readings), which is how the time-series sink writes it
 * (same series and timestamp). Values use the metric naming of the contract with units in the name, e.g.
 * water-meter `consumptionL`, `nightMinFlowLph` (02:00–05:00 local, day rollups only).
 */
export const Rollup = z.strictObject({
  kind: Kind,
  scope: z.enum(['device', 'district']),
  /** Set for scope `device`. */
  deviceId: DeviceId.optional(),
  district: District,
  period: RollupPeriod,
  start: IsoTime,
  values: z.record(MetricName, MetricValue),
  /** Scope `district`: how many devices the values cover. */
  devices: z.number().int().nonnegative().optional(),
});
/** A rollup record. */
export type Rollup = z.output<typeof Rollup>;
