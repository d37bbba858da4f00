import { z } from 'zod';
import { type HeldForState, heldForDetector, heldForShape } from '../common/held-for.ts';
import type { Detector } from '../detector.ts';
import type { BikeStationDerived } from './model.ts';
import { sinceLocal } from './station-empty.ts';

/**
 * station-full: a bike-share station has had no free dock for an hour, by day.
 *
 * Why: a rider cannot end a trip at a full station; the trip (and its bill on the mobility account) runs on while
 * they look for another one, and centre stations fill every weekday morning. The rebalancing truck is meant to take
 * bikes away within about half an hour; an hour full means it did not come (or docks are locked by a fault): the
 * mobility team sends it, and the residents' map already shows the station full. Rule: `docksAvailable` ≤
 * `fullMaxDocks` (0) on every reading for `minMinutes` (60) within the model's day (06:00–22:00 local); resolves
 * once `recoverDocks` (2) or more are free. Same counting as station-empty (processors/common/held-for.ts): a gap
 * restarts it, the night does not count, the signal is sent once when it opens. State: a boolean and a time.
 */

/** Detector name (= alert type). */
export const name = 'station-full';

/** station-full settings. */
export const configSchema = z
  .strictObject({
    fullMaxDocks: z.coerce
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Free docks at or below which the station counts as full (0: no bike can be returned).'),
    recoverDocks: z.coerce
      .number()
      .int()
      .min(1)
      .default(2)
      .describe('Free docks at or above which the alert resolves (hysteresis above fullMaxDocks).'),
    ...heldForShape({
      minMinutes: 60,
      severity: 'warning',
      why: 'twice the half hour the rebalancing truck is given',
    }),
  })
  .refine((c) => c.recoverDocks > c.fullMaxDocks, {
    message: 'recoverDocks must be above fullMaxDocks',
    path: ['recoverDocks'],
  });
/** station-full settings. */
export type StationFullConfig = z.output<typeof configSchema>;

/** Creates the station-full detector for bike stations. */
export function create(config: StationFullConfig): Detector<HeldForState, BikeStationDerived> {
  return heldForDetector<BikeStationDerived>({
    type: 'station-full',
    kinds: ['bike-station'],
    config,
    observe: (d) => ({
      holds: d.docks <= config.fullMaxDocks,
      recovered: d.docks >= config.recoverDocks,
      judged: d.day,
      gap: d.gap,
    }),
    describe: (d, minutes, sinceMs) => ({
      summary: `Bike station full for ${minutes} min (since ${sinceLocal(d.localTime, minutes)}): no dock to return a bike, ${d.bikes} bikes docked`,
      details: {
        bikesAvailable: d.bikes,
        docksAvailable: d.docks,
        ...(d.capacity === null ? {} : { capacity: d.capacity }),
        fullMinutes: minutes,
        sinceTs: new Date(sinceMs).toISOString(),
      },
    }),
  });
}
