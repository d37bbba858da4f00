import { z } from 'zod';
import type { Reading } from '../../core/contracts/index.ts';
import type { KindModel } from '../detector.ts';

/**
 * Car-park model (CONTRACTS.md §3: `spacesFree` required, `capacity`, `occupancyPct`): each reading's free spaces,
 * checked, with its occupancy (the reading's `occupancyPct`, else computed from `capacity`) and whether a gap (more
 * than `maxGapMinutes`, 90) precedes it. Barrier counters drift (a car counted twice, a motorbike not at all), so a
 * `spacesFree` above `capacity` is kept as reported, not corrected. Readings arrive deduplicated and in event-time
 * order; a missing, non-integer or negative `spacesFree` drops the reading on purpose
 * ({@link CAR_PARK_DROP_REASONS}). State: one number, JSON-safe.
 */

/** Reasons a reading is dropped on purpose (bounded label set for `processor_events_dropped_total`). */
export const CAR_PARK_DROP_REASONS = ['missing-spacesFree', 'invalid-spacesFree'] as const;
/** A reason a car-park reading is dropped on purpose. */
export type CarParkDropReason = (typeof CAR_PARK_DROP_REASONS)[number];

/** Car-park model settings. */
export const modelConfigSchema = z.strictObject({
  maxGapMinutes: z.coerce
    .number()
    .positive()
    .default(90)
    .describe('Minutes between two readings beyond which what happened between them is unknown (counts restart).'),
});
/** Car-park model settings. */
export type CarParkModelConfig = z.output<typeof modelConfigSchema>;

/** Per-device model state: the previous reading's event time. */
export interface CarParkState {
  readonly lastTsMs: number | null;
}

/** What the car-park detectors step on. */
export interface CarParkDerived {
  readonly spacesFree: number;
  readonly capacity: number | null;
  /** Share of the spaces taken, % (one decimal), or null without `occupancyPct` or `capacity`. */
  readonly occupancyPct: number | null;
  /** More than `maxGapMinutes` since the previous reading. */
  readonly gap: boolean;
}

/** Creates the car-park model. */
export function carParkModel(config: CarParkModelConfig): KindModel<CarParkState, CarParkDerived> {
  const maxGapMs = config.maxGapMinutes * 60_000;
  return {
    kind: 'car-park',
    initialState: () => ({ lastTsMs: null }),
    derive(state, reading: Reading, tsMs) {
      const { spacesFree, capacity, occupancyPct } = reading.metrics;
      if (spacesFree === undefined) return { state, drop: 'missing-spacesFree' satisfies CarParkDropReason };
      if (!Number.isInteger(spacesFree) || spacesFree < 0) {
        return { state, drop: 'invalid-spacesFree' satisfies CarParkDropReason };
      }
      const cap = capacity !== undefined && capacity > 0 ? capacity : null;
      const occupancy =
        occupancyPct ?? (cap === null ? null : Math.round(((cap - Math.min(cap, spacesFree)) / cap) * 1000) / 10);
      return {
        state: { lastTsMs: tsMs },
        derived: {
          spacesFree,
          capacity: cap,
          occupancyPct: occupancy,
          gap: state.lastTsMs !== null && tsMs - state.lastTsMs > maxGapMs,
        },
      };
    },
  };
}
