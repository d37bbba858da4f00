import { z } from 'zod';
import { type HeldForState, heldForDetector, heldForShape } from '../common/held-for.ts';
import type { Detector } from '../detector.ts';
import type { BikeStationDerived } from './model.ts';

/**
 * station-empty: a bike-share station has had no bike to rent for an hour, by day.
 *
 * Why: an empty station turns riders away (they walk to the next one or give up the bike), and residential stations
 * empty every weekday morning as commuters leave (DOMAIN.md, the mobility account's bike share): the operator's
 * rebalancing truck is meant to refill them within about half an hour. An hour at 0 means it did not come, or the
 * bikes were taken away (vandalism, a dock fault holding them): the mobility team sends the truck. Rule:
 * `bikesAvailable` ≤ `emptyMaxBikes` (0) on every reading for `minMinutes` (60) within the model's day (06:00–22:00
 * local: at night nobody rides and nobody rebalances, so the count starts again at 06:00); resolves once
 * `recoverBikes` (2) or more are back, by day or night, so one bike returned and rented again does not flap it.
 * Late data: none of its own (the engine orders readings); a gap (model's `maxGapMinutes`) restarts the count. The
 * signal is sent once when it opens (no updates as the minutes grow). State: a boolean and a time.
 */

/** Detector name (= alert type). */
export const name = 'station-empty';

/** station-empty settings. */
export const configSchema = z
  .strictObject({
    emptyMaxBikes: z.coerce
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Bikes available at or below which the station counts as empty (0: none to rent).'),
    recoverBikes: z.coerce
      .number()
      .int()
      .min(1)
      .default(2)
      .describe('Bikes available at or above which the alert resolves (hysteresis above emptyMaxBikes).'),
    ...heldForShape({
      minMinutes: 60,
      severity: 'warning',
      why: 'twice the half hour the rebalancing truck is given',
    }),
  })
  .refine((c) => c.recoverBikes > c.emptyMaxBikes, {
    message: 'recoverBikes must be above emptyMaxBikes',
    path: ['recoverBikes'],
  });
/** station-empty settings. */
export type StationEmptyConfig = z.output<typeof configSchema>;

/** Creates the station-empty detector for bike stations. */
export function create(config: StationEmptyConfig): Detector<HeldForState, BikeStationDerived> {
  return heldForDetector<BikeStationDerived>({
    type: 'station-empty',
    kinds: ['bike-station'],
    config,
    observe: (d) => ({
      holds: d.bikes <= config.emptyMaxBikes,
      recovered: d.bikes >= config.recoverBikes,
      judged: d.day,
      gap: d.gap,
    }),
    describe: (d, minutes, sinceMs) => ({
      summary: `Bike station empty for ${minutes} min (since ${sinceLocal(d.localTime, minutes)}): no bike to rent, ${d.docks} docks free`,
      details: {
        bikesAvailable: d.bikes,
        docksAvailable: d.docks,
        ...(d.capacity === null ? {} : { capacity: d.capacity }),
        emptyMinutes: minutes,
        sinceTs: new Date(sinceMs).toISOString(),
      },
    }),
  });
}

/** The local time `minutes` before `localTime` (HH:MM), for the summary. */
export function sinceLocal(localTime: string, minutes: number): string {
  const m = (((Number(localTime.slice(0, 2)) * 60 + Number(localTime.slice(3, 5)) - minutes) % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}
