/**
 * Hourly and daily energy and lit time of one streetlight — pure and deterministic.
 *
 * Energy between two consecutive readings (the interval's): the difference of the cumulative `energyWh` counter when
 * both readings carry it and it moved forward at a plausible rate (at most `lampMaxPowerW` on average); otherwise
 * — no counter, a counter going back (reset, replaced controller) or jumping — the earlier reading's `powerW` held
 * until the later one (power × time). Lit time: the interval counts as lit when the earlier reading's `powerW` is
 * above `lampStandbyPowerW` (2 W). Both make a virtual cumulative index per lamp (Wh and hours, never decreasing),
 * which {@link stepMeter} turns into hours and local days exactly as it does a water meter's index: linear within
 * an interval (the held power, or the counter's average), interpolated at hour boundaries and rounded to the
 * thousandth (mWh; 3.6 s), sums on those integers; an hour is final once a reading at or after its end is released;
 * hours before the first reading (`first`) or spanning a silence longer than `lampMaxGapMinutes` (`gap`, 3 h) get no
 * rollup (counted), nor do the local days containing them. Values: `energyWh`, `litHours`.
 *
 * State: {@link LampRollupState}, two meter states and 5 numbers (≈ 400 bytes of JSON).
 */
import type { LocalCalendar } from '../../core/local-time.ts';
import { type MeterConfig, type MeterRollupState, type SkippedPeriod, stepMeter } from './meter.ts';

/** What {@link stepLamp} needs from the configuration. */
export interface LampConfig {
  /** Draw up to which the lamp counts as off, W. */
  readonly lampStandbyPowerW: number;
  /** Longest silence over which power is held, min. */
  readonly lampMaxGapMinutes: number;
  /** Largest plausible average draw shown by the energy counter, W. */
  readonly lampMaxPowerW: number;
}

/** One lamp's rollup state: plain numbers, JSON as is. */
export interface LampRollupState {
  /** The last released reading: power, W, and counter, Wh (null when it had none). */
  readonly lastPowerW: number;
  readonly lastEnergyWh: number | null;
  /** Virtual cumulative energy, Wh, and lit time, h, at the last reading. */
  readonly energyWh: number;
  readonly litHours: number;
  /** {@link stepMeter}'s state on each virtual index. */
  readonly energy: MeterRollupState;
  readonly lit: MeterRollupState;
}

/** A final period of one lamp. */
export interface LampPeriod {
  readonly period: 'hour' | 'day';
  readonly startMs: number;
  /** Energy over the period, mWh. */
  readonly energyMwh: number;
  /** Time lit over the period, thousandths of an hour. */
  readonly litMilliHours: number;
}

/** Result of one step. */
export interface LampStep {
  readonly state: LampRollupState;
  readonly periods: LampPeriod[];
  readonly skipped: SkippedPeriod[];
}

const HOUR_MS = 3_600_000;

/**
 * Takes the lamp's next reading in event-time order (strictly after the last one): its `powerW` and its `energyWh`
 * counter (null when absent). `state` undefined: the lamp's first reading.
 */
export function stepLamp(
  state: LampRollupState | undefined,
  tsMs: number,
  powerW: number,
  energyWh: number | null,
  calendar: LocalCalendar,
  config: LampConfig,
): LampStep {
  const meterConfig: MeterConfig = {
    maxGapHours: config.lampMaxGapMinutes / 60,
    jitterL: 0, // the virtual indexes never go back
    nightStartHour: 0,
    nightEndHour: 24,
  };
  let addWh = 0;
  let addHours = 0;
  if (state) {
    const dtMs = tsMs - state.energy.lastTsMs;
    const counterWh = energyWh !== null && state.lastEnergyWh !== null ? energyWh - state.lastEnergyWh : null;
    const plausible = counterWh !== null && counterWh >= 0 && counterWh <= (config.lampMaxPowerW * dtMs) / HOUR_MS;
    addWh = plausible ? (counterWh as number) : (Math.max(0, state.lastPowerW) * dtMs) / HOUR_MS;
    addHours = state.lastPowerW > config.lampStandbyPowerW ? dtMs / HOUR_MS : 0;
  }
  const virtualWh = (state?.energyWh ?? 0) + addWh;
  const virtualHours = (state?.litHours ?? 0) + addHours;
  const e = stepMeter(state?.energy, tsMs, virtualWh, calendar, meterConfig);
  const l = stepMeter(state?.lit, tsMs, virtualHours, calendar, meterConfig);
  // Same timestamps and gaps, no resets: both give the same periods in the same order.
  const periods = e.periods.map((p, i) => ({
    period: p.period,
    startMs: p.startMs,
    energyMwh: p.consumptionMl,
    litMilliHours: l.periods[i]?.consumptionMl ?? 0,
  }));
  return {
    state: {
      lastPowerW: powerW,
      lastEnergyWh: energyWh,
      energyWh: virtualWh,
      litHours: virtualHours,
      energy: e.state,
      lit: l.state,
    },
    periods,
    skipped: e.skipped,
  };
}
