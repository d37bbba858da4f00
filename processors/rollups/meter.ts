/**
 * Hourly and daily consumption of one water meter from its cumulative index — pure and deterministic.
 *
 * The index between two consecutive readings is taken as linear (constant flow), so the consumption of an hour is
 * the index interpolated at its end minus the index interpolated at its start: a reading every 15 min gives exact
 * hours, a silence of several hours spreads evenly over them. Interpolated indexes are rounded to the millilitre and
 * every sum is done on those integers, so an hour's value, a day's (the sum of its hours) and a district's (the sum
 * of its meters) are exact and independent of summation order; values leave as litres (`mL / 1000`).
 *
 * An hour is final (emitted) once a reading at or after its end has been released (in event-time order). It gets no
 * rollup, and is counted with a reason, when it spans:
 * - `first`: the time before the meter's first reading (its start index is unknown);
 * - `gap`: two readings further apart than `maxGapHours` (7 days): spreading would invent a flow;
 * - `reset`: an index drop larger than `jitterL` (1 L): a register reset or a replaced meter. Drops within the
 *   jitter are absorbed: the index used is the running maximum, so jitter never gives a negative hour.
 * A local day (midnight → midnight in the city's zone: 23, 24 or 25 hours) is emitted with its last hour when all
 * its hours are known: `consumptionL` = sum of its hours, `nightMinFlowLph` = the smallest of the hours starting in
 * the night window (02:00, 03:00, 04:00 local by default; hours are 60 min, so litres per hour). A day with an
 * unknown hour gets no rollup (counted with the first hour's reason).
 *
 * State: {@link MeterRollupState}, 11 numbers (≈ 150 bytes as a JS object, ≈ 150 bytes of JSON).
 */
import type { LocalCalendar } from '../../core/local-time.ts';

/** Why an hour or a day got no rollup. */
export type SkipReason = 'first' | 'gap' | 'reset';

/** What {@link stepMeter} needs from the configuration. */
export interface MeterConfig {
  /** Longest silence spread over the hours between, h. */
  readonly maxGapHours: number;
  /** Largest index drop taken as jitter, L. */
  readonly jitterL: number;
  /** First local hour of the night window (2). */
  readonly nightStartHour: number;
  /** Local hour the night window ends, exclusive (5). */
  readonly nightEndHour: number;
}

/** One meter's rollup state: plain numbers, JSON as is. */
export interface MeterRollupState {
  /** Event time of the last released reading, ms. */
  readonly lastTsMs: number;
  /** Index used at that reading (running maximum since the last reset), L. */
  readonly lastIndexL: number;
  /** Start of the hour not yet final, ms. */
  readonly hourStartMs: number;
  /** Interpolated index at that start, mL; null when unknown (first reading, gap, reset). */
  readonly hourStartMl: number | null;
  /** Why {@link hourStartMl} is unknown (null when known). */
  readonly hourSkip: SkipReason | null;
  /** Start and end of the day being summed, ms. */
  readonly dayStartMs: number;
  readonly dayEndMs: number;
  /** Sum of the day's final hours so far, mL. */
  readonly dayMl: number;
  /** Why the day cannot be emitted (its first unknown hour), or null while every hour so far is known. */
  readonly daySkip: SkipReason | null;
  /** Smallest night hour so far, mL (null before the first). */
  readonly nightMinMl: number | null;
}

/** A final period of one meter. */
export interface MeterPeriod {
  readonly period: 'hour' | 'day';
  /** First instant of the period, ms. */
  readonly startMs: number;
  /** Consumption over the period, mL. */
  readonly consumptionMl: number;
  /** Day periods: the smallest hourly consumption of the night window, mL in one hour. */
  readonly nightMinMl?: number;
}

/** A period that got no rollup, and why. */
export interface SkippedPeriod {
  readonly period: 'hour' | 'day';
  readonly startMs: number;
  readonly reason: SkipReason;
}

/** Result of one step. */
export interface MeterStep {
  readonly state: MeterRollupState;
  readonly periods: MeterPeriod[];
  readonly skipped: SkippedPeriod[];
}

/**
 * Takes the meter's next reading in event-time order (strictly after the last one) and returns the new state with
 * the hours and days it made final. `state` undefined: the meter's first reading.
 */
export function stepMeter(
  state: MeterRollupState | undefined,
  tsMs: number,
  indexL: number,
  calendar: LocalCalendar,
  config: MeterConfig,
): MeterStep {
  const periods: MeterPeriod[] = [];
  const skipped: SkippedPeriod[] = [];
  if (!state) {
    const hourStartMs = calendar.hourStartMs(tsMs);
    const dayStartMs = calendar.dayStartMs(hourStartMs);
    return {
      state: {
        lastTsMs: tsMs,
        lastIndexL: indexL,
        hourStartMs,
        hourStartMl: hourStartMs === tsMs ? Math.round(indexL * 1000) : null,
        hourSkip: hourStartMs === tsMs ? null : 'first',
        dayStartMs,
        dayEndMs: calendar.nextDayMs(dayStartMs),
        dayMl: 0,
        // The hours of the day before the first reading are unknown.
        daySkip: hourStartMs === dayStartMs ? null : 'first',
        nightMinMl: null,
      },
      periods,
      skipped,
    };
  }

  const s = { ...state };
  const dtMs = tsMs - s.lastTsMs;
  const reason: SkipReason | null =
    dtMs > config.maxGapHours * 3_600_000 ? 'gap' : indexL < s.lastIndexL - config.jitterL ? 'reset' : null;
  // A drop within the jitter keeps the running maximum; a reset starts again from the new index.
  const effectiveL = indexL < s.lastIndexL - config.jitterL ? indexL : Math.max(indexL, s.lastIndexL);
  const fromMl = s.lastIndexL * 1000;
  const toMl = effectiveL * 1000;

  const closeHour = (startMs: number, endMs: number, ml: number | null, why: SkipReason) => {
    if (ml === null) {
      skipped.push({ period: 'hour', startMs, reason: why });
      s.daySkip ??= why;
    } else {
      periods.push({ period: 'hour', startMs, consumptionMl: ml });
      s.dayMl += ml;
      const hour = calendar.localHour(startMs);
      if (hour >= config.nightStartHour && hour < config.nightEndHour) {
        s.nightMinMl = s.nightMinMl === null ? ml : Math.min(s.nightMinMl, ml);
      }
    }
    if (endMs >= s.dayEndMs) {
      if (s.daySkip === null) {
        periods.push({
          period: 'day',
          startMs: s.dayStartMs,
          consumptionMl: s.dayMl,
          ...(s.nightMinMl === null ? {} : { nightMinMl: s.nightMinMl }),
        });
      } else {
        skipped.push({ period: 'day', startMs: s.dayStartMs, reason: s.daySkip });
      }
      s.dayStartMs = s.dayEndMs;
      s.dayEndMs = calendar.nextDayMs(s.dayStartMs);
      s.dayMl = 0;
      s.daySkip = null;
      s.nightMinMl = null;
    }
  };

  for (let endMs = calendar.nextHourMs(s.hourStartMs); endMs <= tsMs; endMs = calendar.nextHourMs(endMs)) {
    let endMl: number | null;
    if (reason !== null) endMl = endMs === tsMs ? Math.round(toMl) : null;
    else endMl = Math.round(fromMl + ((toMl - fromMl) * (endMs - s.lastTsMs)) / dtMs);
    const known = reason === null && s.hourStartMl !== null && endMl !== null;
    const why = reason ?? s.hourSkip ?? 'first';
    closeHour(s.hourStartMs, endMs, known ? (endMl as number) - (s.hourStartMl as number) : null, why);
    s.hourStartMs = endMs;
    s.hourStartMl = endMl;
    s.hourSkip = endMl === null ? why : null;
  }
  // The hour in progress spans the gap or the reset: its start index no longer leads to its end.
  if (reason !== null && s.hourStartMs < tsMs) {
    s.hourStartMl = null;
    s.hourSkip = reason;
  }
  s.lastTsMs = tsMs;
  s.lastIndexL = effectiveL;
  return { state: s, periods, skipped };
}
