import { z } from 'zod';
import { type HeldForState, heldForDetector, heldForShape } from '../common/held-for.ts';
import type { Detector } from '../detector.ts';
import type { CarParkDerived } from './model.ts';

/**
 * car-park-full: a car park has had (almost) no free space for half an hour.
 *
 * Why: drivers heading for a full car park circle the centre looking for a space (traffic, NO2, on-street parking
 * paid by the minute); the city's guidance signs and the residents' map must send them to another car park or a
 * park-and-ride, and a car park full for long, or often, is a case for the mobility account's tariffs and the
 * park-and-ride offer. Car parks fill on weekday working hours and Saturday afternoons without being full; "full"
 * is `spacesFree` ≤ `fullMaxSpaces` (2: the last spaces go to the cars already inside looking for one, so operators'
 * signs switch to COMPLET before 0) on every reading for `minMinutes` (30: two readings at the usual 15 min, so one
 * busy moment does not alert). Resolves at `recoverSpaces` (10) or more free: cars leaving one by one at the end of
 * a full spell would otherwise flap it. Day and night alike. A gap (model's `maxGapMinutes`) restarts the count;
 * the signal is sent once when it opens. Severity `info` by default: a situation to act on, not a broken device.
 * State: a boolean and a time.
 */

/** Detector name (= alert type). */
export const name = 'car-park-full';

/** car-park-full settings. */
export const configSchema = z
  .strictObject({
    fullMaxSpaces: z.coerce
      .number()
      .int()
      .min(0)
      .default(2)
      .describe('Free spaces at or below which the car park counts as full (its signs show COMPLET).'),
    recoverSpaces: z.coerce
      .number()
      .int()
      .min(1)
      .default(10)
      .describe('Free spaces at or above which the alert resolves (hysteresis above fullMaxSpaces).'),
    ...heldForShape({ minMinutes: 30, severity: 'info', why: 'two readings at 15 min: one busy moment is not full' }),
  })
  .refine((c) => c.recoverSpaces > c.fullMaxSpaces, {
    message: 'recoverSpaces must be above fullMaxSpaces',
    path: ['recoverSpaces'],
  });
/** car-park-full settings. */
export type CarParkFullConfig = z.output<typeof configSchema>;

/** Creates the car-park-full detector for car parks. */
export function create(config: CarParkFullConfig): Detector<HeldForState, CarParkDerived> {
  return heldForDetector<CarParkDerived>({
    type: 'car-park-full',
    kinds: ['car-park'],
    config,
    observe: (d) => ({
      holds: d.spacesFree <= config.fullMaxSpaces,
      recovered: d.spacesFree >= config.recoverSpaces,
      judged: true,
      gap: d.gap,
    }),
    describe: (d, minutes, sinceMs) => ({
      summary: `Car park full for ${minutes} min: ${d.spacesFree} space${d.spacesFree === 1 ? '' : 's'} free${d.capacity === null ? '' : ` of ${d.capacity}`}`,
      details: {
        spacesFree: d.spacesFree,
        ...(d.capacity === null ? {} : { capacity: d.capacity }),
        ...(d.occupancyPct === null ? {} : { occupancyPct: d.occupancyPct }),
        fullMinutes: minutes,
        sinceTs: new Date(sinceMs).toISOString(),
      },
    }),
  });
}
