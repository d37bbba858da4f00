import SunCalc from 'suncalc';
import { z } from 'zod';
import type { Reading } from '../../core/contracts/index.ts';
import { zoneOffsetMs } from '../../core/local-time.ts';
import type { KindModel } from '../detector.ts';

/**
 * Streetlight model: from each reading, the state the lamp should be in at the reading's event time, and what it
 * should draw (DOMAIN.md "Streetlights"; CONTRACTS.md §3: `powerW` required, `dimPct`, `energyWh`, `lux`).
 *
 * - Sun: the sun's (true) altitude at the city's coordinates (`latitude`/`longitude`, Mulhouse 47.75 N 7.34 E), from
 *   SunCalc. `night`: the sun is below `sunsetAltitudeDeg` (−0.833°: the sunset/sunrise of almanacs, refraction and
 *   the sun's radius included) now, `onAfterSunsetMinutes` (15) ago and `offBeforeSunriseMinutes` (15) from now — so
 *   the lamp is expected on from 15 min after sunset to 15 min before sunrise, when photocells and astronomical
 *   clocks have switched it (SunCalc's getTimes() sunset agrees within about a minute). `day`: the sun at least `dayMinSunAltitudeDeg` (5°) up, about 35 min after sunrise and
 *   before sunset in Mulhouse: no photocell is still dark then. Between the two, `twilight`: nothing is expected.
 * - Command: the reading's own `dimPct` when it carries one (the controller's level), otherwise at night the
 *   `dimmingProfile` step in local time (`timeZone`, from VIGIE_TZ; DST through Intl, core/local-time.ts, offsets
 *   cached per quarter hour), and 0 outside the night.
 * - Expected draw: `ratedPowerW` × command / 100 while expected on (LED drivers are roughly linear), else up to
 *   `standbyPowerW`. Rated power is one value for the fleet: the device registry has no per-lamp rating yet.
 *
 * Readings arrive deduplicated and in event-time order (the engine's reorder buffer); a reading at or before the
 * previous one is dropped on purpose (see {@link STREETLIGHT_DROP_REASONS}). State: one number, JSON-safe.
 */

/** Reasons a reading is dropped on purpose (bounded label set for `processor_events_dropped_total`). */
export const STREETLIGHT_DROP_REASONS = ['missing-powerW', 'invalid-powerW', 'out-of-order', 'duplicate-ts'] as const;
/** A reason a streetlight reading is dropped on purpose. */
export type StreetlightDropReason = (typeof STREETLIGHT_DROP_REASONS)[number];

const MIN_MS = 60_000;
const DAY_MS = 86_400_000;
const RAD_TO_DEG = 180 / Math.PI;

/** A time of day, `HH:MM` (00:00–23:59). */
const TimeOfDay = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time of day HH:MM (00:00–23:59)')
  .describe('Local time of day the step starts, HH:MM.');

/** One step of a dimming profile: from this local time of day, this level. */
export const dimmingStepSchema = z.strictObject({
  from: TimeOfDay,
  pct: z.coerce.number().min(0).max(100).describe('Commanded level from then on, % of full power (0 = off).'),
});
/** One step of a dimming profile. */
export type DimmingStep = z.output<typeof dimmingStepSchema>;

/**
 * Mulhouse's five steps (DOMAIN.md: 100 / 70 / 50 / 30 % between about 20:00 and 07:00 saves 42 %): full power from
 * dusk (the 12:00 step covers any sunset), 70 % from 22:00, 50 % from 23:30, 30 % from 01:00, 70 % from 05:00 for
 * the morning traffic until dawn.
 */
export const DEFAULT_DIMMING_PROFILE: readonly DimmingStep[] = [
  { from: '12:00', pct: 100 },
  { from: '22:00', pct: 70 },
  { from: '23:30', pct: 50 },
  { from: '01:00', pct: 30 },
  { from: '05:00', pct: 70 },
];

/** Streetlight model settings. */
export const modelConfigSchema = z
  .strictObject({
    latitude: z.coerce
      .number()
      .min(-66)
      .max(66)
      .default(47.75)
      .describe('Latitude of the city, degrees north (47.75: Mulhouse); polar circles excluded (no daily sunset).'),
    longitude: z.coerce
      .number()
      .min(-180)
      .max(180)
      .default(7.34)
      .describe('Longitude of the city, degrees east (7.34: Mulhouse).'),
    timeZone: z
      .string()
      .refine(isTimeZone, 'an IANA time zone such as Europe/Paris')
      .default('Europe/Paris')
      .describe('Time zone of the dimming profile (set from VIGIE_TZ).'),
    sunsetAltitudeDeg: z.coerce
      .number()
      .min(-18)
      .max(0)
      .default(-0.833)
      .describe('Sun altitude of sunset and sunrise, degrees (−0.833: upper limb on the horizon, with refraction).'),
    onAfterSunsetMinutes: z.coerce
      .number()
      .min(0)
      .max(120)
      .default(15)
      .describe('Minutes after sunset from which the lamp is expected on (15: photocells / astronomical clocks).'),
    offBeforeSunriseMinutes: z.coerce
      .number()
      .min(0)
      .max(120)
      .default(15)
      .describe('Minutes before sunrise until which the lamp is expected on (15).'),
    dayMinSunAltitudeDeg: z.coerce
      .number()
      .min(0)
      .max(30)
      .default(5)
      .describe(
        'Sun altitude above which it is full daylight and a lamp must be off, degrees (5: ≈ 35 min after sunrise).',
      ),
    dimmingProfile: z
      .array(dimmingStepSchema)
      .min(1)
      .max(24)
      .default(DEFAULT_DIMMING_PROFILE.map((s) => ({ ...s })))
      .describe(
        'Night dimming steps in local time: the level at a time is the step with the latest `from` at or before ' +
          'it, wrapping past midnight (default: 100 % from dusk, 70 % 22:00, 50 % 23:30, 30 % 01:00, 70 % 05:00).',
      ),
    ratedPowerW: z.coerce
      .number()
      .positive()
      .max(2000)
      .default(60)
      .describe('Rated power of a lamp at 100 %, W (60: a typical residential-street LED luminaire); fleet-wide.'),
    standbyPowerW: z.coerce
      .number()
      .min(0)
      .max(50)
      .default(2)
      .describe('Most a switched-off lamp draws (driver standby + controller node), W (2).'),
    maxGapMinutes: z.coerce
      .number()
      .positive()
      .default(180)
      .describe('Minutes between two readings beyond which the interval is a gap: detectors restart their count.'),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.dimmingProfile.forEach((step, i) => {
      if (seen.has(step.from)) {
        ctx.addIssue({
          code: 'custom',
          path: ['dimmingProfile', i, 'from'],
          message: `dimmingProfile has two steps from ${step.from} (one each)`,
        });
      }
      seen.add(step.from);
    });
    if (c.standbyPowerW >= c.ratedPowerW) {
      ctx.addIssue({
        code: 'custom',
        path: ['standbyPowerW'],
        message: `standbyPowerW (${c.standbyPowerW} W) must be below ratedPowerW (${c.ratedPowerW} W)`,
      });
    }
  });
/** Streetlight model settings. */
export type ModelConfig = z.output<typeof modelConfigSchema>;

/** Per-device model state (JSON-safe): the event time of the last accepted reading. */
export interface StreetlightState {
  readonly lastTsMs: number | null;
}

/** Where the sun is: lamps expected on (`night`), nothing expected (`twilight`), lamps must be off (`day`). */
export type SunPhase = 'night' | 'twilight' | 'day';

/** What the model derives from one reading, for the streetlight detectors. */
export interface StreetlightDerived {
  /** Power drawn, W (the reading's `powerW`). */
  readonly powerW: number;
  /** Sun altitude at the reading's event time, degrees. */
  readonly sunAltitudeDeg: number;
  readonly phase: SunPhase;
  /** Local wall-clock time of the reading, HH:MM (in `timeZone`). */
  readonly localTime: string;
  /** Commanded level, %: the reading's `dimPct`, else the profile's at night, else 0. */
  readonly commandedPct: number;
  readonly commandSource: 'reading' | 'profile';
  /** Night and a level above 0: the lamp should be lit. */
  readonly expectedOn: boolean;
  /** What the lamp should draw, W: rated × level while expected on, else {@link standbyPowerW}. */
  readonly expectedPowerW: number;
  /** Rated power at 100 %, W (fleet-wide setting). */
  readonly ratedPowerW: number;
  /** Most a switched-off lamp draws, W. */
  readonly standbyPowerW: number;
  /** Milliseconds since the previous accepted reading; null on the first one. */
  readonly intervalMs: number | null;
  /** The interval exceeds `maxGapMinutes`: what happened inside it is unknown. */
  readonly gap: boolean;
}

/** Creates the streetlight model (config parsed by {@link modelConfigSchema}). */
export function streetlightModel(config: ModelConfig): KindModel<StreetlightState, StreetlightDerived> {
  const maxGapMs = config.maxGapMinutes * MIN_MS;
  const profile = compileProfile(config.dimmingProfile);
  const offsetMs = cachedZoneOffset(config.timeZone);
  return {
    kind: 'streetlight',
    initialState: () => ({ lastTsMs: null }),
    derive(state, reading: Reading, tsMs) {
      const powerW = reading.metrics.powerW;
      if (powerW === undefined) return { state, drop: 'missing-powerW' satisfies StreetlightDropReason };
      if (!(powerW >= 0) || !Number.isFinite(powerW)) {
        return { state, drop: 'invalid-powerW' satisfies StreetlightDropReason };
      }
      if (state.lastTsMs !== null && tsMs < state.lastTsMs) {
        return { state, drop: 'out-of-order' satisfies StreetlightDropReason };
      }
      if (tsMs === state.lastTsMs) return { state, drop: 'duplicate-ts' satisfies StreetlightDropReason };
      const intervalMs = state.lastTsMs === null ? null : tsMs - state.lastTsMs;
      const sunAltitudeDeg = sunAltitudeDegAt(tsMs, config.latitude, config.longitude);
      const phase = sunPhase(tsMs, sunAltitudeDeg, config);
      const localMinute = minuteOfDay(tsMs + offsetMs(tsMs));
      const dimPct = reading.metrics.dimPct;
      const fromReading = dimPct !== undefined && Number.isFinite(dimPct);
      const commandedPct = fromReading
        ? Math.min(100, Math.max(0, dimPct))
        : phase === 'night'
          ? levelAt(profile, localMinute)
          : 0;
      const expectedOn = phase === 'night' && commandedPct > 0;
      return {
        state: { lastTsMs: tsMs },
        derived: {
          powerW,
          sunAltitudeDeg,
          phase,
          localTime: formatMinute(localMinute),
          commandedPct,
          commandSource: fromReading ? 'reading' : 'profile',
          expectedOn,
          expectedPowerW: expectedOn ? (config.ratedPowerW * commandedPct) / 100 : config.standbyPowerW,
          ratedPowerW: config.ratedPowerW,
          standbyPowerW: config.standbyPowerW,
          intervalMs,
          gap: intervalMs !== null && intervalMs > maxGapMs,
        },
      };
    },
  };
}

/** Sun altitude at `tsMs` seen from (`latitude`, `longitude`), degrees (SunCalc, no refraction). */
export function sunAltitudeDegAt(tsMs: number, latitude: number, longitude: number): number {
  return SunCalc.getPosition(new Date(tsMs), latitude, longitude).altitude * RAD_TO_DEG;
}

/**
 * The sun phase at `tsMs`: `night` when the sun is below the sunset altitude now, `onAfterSunsetMinutes` ago and
 * `offBeforeSunriseMinutes` from now (so at least that long after sunset and before sunrise); `day` at or above
 * `dayMinSunAltitudeDeg`; `twilight` otherwise.
 */
export function sunPhase(
  tsMs: number,
  sunAltitudeDeg: number,
  config: Pick<
    ModelConfig,
    | 'latitude'
    | 'longitude'
    | 'sunsetAltitudeDeg'
    | 'onAfterSunsetMinutes'
    | 'offBeforeSunriseMinutes'
    | 'dayMinSunAltitudeDeg'
  >,
): SunPhase {
  if (sunAltitudeDeg >= config.dayMinSunAltitudeDeg) return 'day';
  const below = (t: number) => sunAltitudeDegAt(t, config.latitude, config.longitude) < config.sunsetAltitudeDeg;
  if (
    sunAltitudeDeg < config.sunsetAltitudeDeg &&
    below(tsMs - config.onAfterSunsetMinutes * MIN_MS) &&
    below(tsMs + config.offBeforeSunriseMinutes * MIN_MS)
  ) {
    return 'night';
  }
  return 'twilight';
}

/** Local minute of the day (0–1439) of `tsMs` in `timeZone`, DST included. */
export function localMinuteOfDay(tsMs: number, timeZone: string): number {
  return minuteOfDay(tsMs + zoneOffsetMs(timeZone, tsMs));
}

function minuteOfDay(localMs: number): number {
  return Math.floor((((localMs % DAY_MS) + DAY_MS) % DAY_MS) / MIN_MS);
}

/** Quarter hours of UTC whose zone offset is cached (≈ 100 days; cleared when full). */
const OFFSET_CACHE_MAX = 10_000;
const SLOT_MS = 15 * MIN_MS;

/**
 * Zone offsets cached per quarter hour of UTC (Intl formatting costs ≈ 6 µs, the rest of a derive < 1 µs): exact for
 * every zone whose transitions fall on a quarter hour, as all current ones do (processors/rollups/local-time.ts).
 */
function cachedZoneOffset(timeZone: string): (utcMs: number) => number {
  const cache = new Map<number, number>();
  return (utcMs) => {
    const slot = Math.floor(utcMs / SLOT_MS);
    let offset = cache.get(slot);
    if (offset === undefined) {
      offset = zoneOffsetMs(timeZone, slot * SLOT_MS);
      if (cache.size >= OFFSET_CACHE_MAX) cache.clear();
      cache.set(slot, offset);
    }
    return offset;
  };
}

/** A profile as (minute of day, pct) pairs sorted by minute. */
type CompiledProfile = ReadonlyArray<readonly [minute: number, pct: number]>;

function compileProfile(steps: readonly DimmingStep[]): CompiledProfile {
  return steps
    .map((s) => [Number(s.from.slice(0, 2)) * 60 + Number(s.from.slice(3, 5)), s.pct] as const)
    .sort((a, b) => a[0] - b[0]);
}

function levelAt(profile: CompiledProfile, minute: number): number {
  let pct = profile[profile.length - 1]![1];
  for (const [from, level] of profile) {
    if (from <= minute) pct = level;
    else break;
  }
  return pct;
}

/** The profile's level (%) at a local minute of the day: the step with the latest `from` at or before it, wrapping. */
export function dimLevelPct(steps: readonly DimmingStep[], localMinute: number): number {
  return levelAt(compileProfile(steps), localMinute);
}

function formatMinute(minute: number): string {
  return `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
