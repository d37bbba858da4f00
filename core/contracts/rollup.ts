import { z } from 'zod';
import { DeviceId, Kind, MetricName, MetricValue } from './device.ts';
import { Circuit, District } from './device-info.ts';
import { IsoTime } from './time.ts';

/** Rollup periods: an hour, or a day from local midnight to local midnight in `VIGIE_TZ` (23 or 25 h at DST). */
export const RollupPeriod = z.enum(['hour', 'day']);
/** A rollup period. */
export type RollupPeriod = z.infer<typeof RollupPeriod>;

/** What a rollup covers: one device, one circuit (streetlights' feeder cabinet) or one district. */
export const RollupScope = z.enum(['device', 'circuit', 'district']);
/** A rollup scope. */
export type RollupScope = z.infer<typeof RollupScope>;

/**
 * One rollup, on `rollups.v1` (key deviceId for scope `device`, circuit for scope `circuit`, district for scope
 * `district`): the values of one device, one circuit or one district over one period. `start` is the period's first instant (UTC ISO). A rollup is computed
 * from event time only, so replaying the same readings gives the same rollups; a later record for the same
 * (scope, key, period, start) replaces the earlier one (late readings), which is how the time-series sink writes it
 * (same series and timestamp). Values use the metric naming of the contract with units in the name, e.g.
 * water-meter `consumptionL`, `nightMinFlowLph` (02:00–05:00 local, day rollups only); streetlight `energyWh`,
 * `litHours`; parking-meter `revenueCents`, `revenueCoinCents`, `revenueCardCents`, `revenueSmsCents`, `payments`,
 * `paidMinutes`, `paidOccupancy` (paid minutes / minutes of the period: the average number of paid vehicles).
 * A circuit's rollup covers its lamps in one district (`district`; a circuit spanning districts gives one per district).
 */
export const Rollup = z.strictObject({
  kind: Kind,
  scope: RollupScope,
  /** Set for scope `device`. */
  deviceId: DeviceId.optional(),
  district: District,
  /** Set for scope `circuit`, and for streetlights' device rollups (`unassigned` when the registry has none). */
  circuit: Circuit.optional(),
  period: RollupPeriod,
  start: IsoTime,
  values: z.record(MetricName, MetricValue),
  /** Scopes `circuit` and `district`: how many devices the values cover. */
  devices: z.number().int().nonnegative().optional(),
});
/** A rollup record. */
export type Rollup = z.output<typeof Rollup>;
