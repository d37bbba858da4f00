import { z } from 'zod';
import type { Reading } from '../../core/contracts/index.ts';
import { zoneOffsetMs } from '../../core/local-time.ts';
import type { KindModel } from '../detector.ts';

/**
 * Bike-station model (CONTRACTS.md §3: `bikesAvailable` and `docksAvailable` required, `ebikesAvailable`,
 * `capacity`; GBFS station_status as the reference): each reading's counts, checked, with whether it falls in the
 * day (`dayStart`–`dayEnd` local time, 06:00–22:00 by default, in `timeZone` from VIGIE_TZ) — the hours riders use
 * the service and the operator rebalances stations, when an empty or full station matters — and whether a gap
 * (more than `maxGapMinutes`, 90) precedes it. `bikesAvailable` counts every rentable bike, e-bikes included;
 * `ebikesAvailable` is the e-bikes among them.
 *
 * Readings arrive deduplicated and in event-time order (the engine's reorder buffer); a count that is missing, not
 * a whole number or negative drops the reading on purpose (see {@link BIKE_STATION_DROP_REASONS}). State: one
 * number, JSON-safe.
 */

/** Reasons a reading is dropped on purpose (bounded label set for `processor_events_dropped_total`). */
export const BIKE_STATION_DROP_REASONS = [
  'missing-bikesAvailable',
  'missing-docksAvailable',
  'invalid-counts',
] as const;
/** A reason a bike-station reading is dropped on purpose. */
export type BikeStationDropReason = (typeof BIKE_STATION_DROP_REASONS)[number];

const MIN_MS = 60_000;
const DAY_MS = 86_400_000;

const TimeOfDay = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time of day HH:MM (00:00–23:59)');

/** Bike-station model settings. */
export const modelConfigSchema = z
  .strictObject({
    timeZone: z
      .string()
      .refine(isTimeZone, 'an IANA time zone such as Europe/Paris')
      .default('Europe/Paris')
      .describe('Time zone of the day window (set from VIGIE_TZ).'),
    dayStart: TimeOfDay.default('06:00').describe(
      'Local time the day starts, HH:MM: empty or full stations count from then (riders out, rebalancing on).',
    ),
    dayEnd: TimeOfDay.default('22:00').describe('Local time the day ends, HH:MM (exclusive).'),
    maxGapMinutes: z.coerce
      .number()
      .positive()
      .default(90)
      .describe('Minutes between two readings beyond which what happened between them is unknown (counts restart).'),
  })
  .refine((c) => c.dayStart < c.dayEnd, { message: 'dayStart must come before dayEnd', path: ['dayEnd'] });
/** Bike-station model settings. */
export type BikeStationModelConfig = z.output<typeof modelConfigSchema>;

/** Per-device model state: the previous reading's event time. */
export interface BikeStationState {
  readonly lastTsMs: number | null;
}

/** What the bike-station detectors step on. */
export interface BikeStationDerived {
  readonly bikes: number;
  readonly docks: number;
  readonly ebikes: number | null;
  readonly capacity: number | null;
  /** Local time of the reading, HH:MM. */
  readonly localTime: string;
  /** The reading falls in the day window. */
  readonly day: boolean;
  /** More than `maxGapMinutes` since the previous reading. */
  readonly gap: boolean;
}

const isCount = (n: number | undefined): n is number => n !== undefined && Number.isInteger(n) && n >= 0;

/** Creates the bike-station model. */
export function bikeStationModel(config: BikeStationModelConfig): KindModel<BikeStationState, BikeStationDerived> {
  const dayStart = minutesOf(config.dayStart);
  const dayEnd = minutesOf(config.dayEnd);
  const offsetMs = cachedZoneOffset(config.timeZone);
  const maxGapMs = config.maxGapMinutes * MIN_MS;
  return {
    kind: 'bike-station',
    initialState: () => ({ lastTsMs: null }),
    derive(state, reading: Reading, tsMs) {
      const m = reading.metrics;
      if (m.bikesAvailable === undefined) return { state, drop: 'missing-bikesAvailable' };
      if (m.docksAvailable === undefined) return { state, drop: 'missing-docksAvailable' };
      const optional = [m.ebikesAvailable, m.capacity].filter((x) => x !== undefined);
      if (!isCount(m.bikesAvailable) || !isCount(m.docksAvailable) || !optional.every(isCount)) {
        return { state, drop: 'invalid-counts' };
      }
      const minute = Math.floor(((((tsMs + offsetMs(tsMs)) % DAY_MS) + DAY_MS) % DAY_MS) / MIN_MS);
      return {
        state: { lastTsMs: tsMs },
        derived: {
          bikes: m.bikesAvailable,
          docks: m.docksAvailable,
          ebikes: m.ebikesAvailable ?? null,
          capacity: m.capacity ?? null,
          localTime: `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`,
          day: minute >= dayStart && minute < dayEnd,
          gap: state.lastTsMs !== null && tsMs - state.lastTsMs > maxGapMs,
        },
      };
    },
  };
}

function minutesOf(hhmm: string): number {
  return Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
}

/** Zone offsets cached per quarter hour of UTC (exact for every current zone: see processors/streetlight/model.ts). */
function cachedZoneOffset(timeZone: string): (utcMs: number) => number {
  const cache = new Map<number, number>();
  return (utcMs) => {
    const slot = Math.floor(utcMs / (15 * MIN_MS));
    let offset = cache.get(slot);
    if (offset === undefined) {
      offset = zoneOffsetMs(timeZone, slot * 15 * MIN_MS);
      if (cache.size >= 10_000) cache.clear();
      cache.set(slot, offset);
    }
    return offset;
  };
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
