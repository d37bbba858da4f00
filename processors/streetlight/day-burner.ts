import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';
import { type HysteresisState, hysteresisShape, INITIAL_HYSTERESIS, stepHysteresis } from './hysteresis.ts';
import type { StreetlightDerived } from './model.ts';

/**
 * day-burner: the lamp is lit in full daylight.
 *
 * Why: a stuck photocell, a relay welded shut or a controller that lost its schedule burns energy all day; central
 * management systems report "day-burning" (DOMAIN.md "Streetlights"). Rule: the sun at least the model's
 * `dayMinSunAltitudeDeg` (5°) up — about 35 min after sunrise and before sunset in Mulhouse, so dusk and dawn (and a
 * photocell switching a little early or late) never count — and `powerW` above the standby draw plus
 * `minBurnPowerShare` (5 %) of the rated power (60 W → above 5 W). Opens after 2 such readings at least 15 min apart
 * in a row; resolves after 2 daylight readings in a row at or below it. Night and twilight readings are not judged:
 * an open alert stays open overnight (the lamp should be lit then anyway) and the count restarts.
 *
 * Late data: none of its own (the engine orders readings); a gap (model's `maxGapMinutes`, 180) restarts the count.
 * State: the hysteresis (1 boolean, 3 numbers).
 */

/** Detector name (= alert type). */
export const name = 'day-burner';

/** day-burner settings. */
export const configSchema = z.strictObject({
  minBurnPowerShare: z.coerce
    .number()
    .min(0)
    .max(1)
    .default(0.05)
    .describe('Share of the rated power above the standby draw that counts as lit in daylight (0.05 = 5 %).'),
  ...hysteresisShape,
});
/** day-burner settings. */
export type DayBurnerConfig = z.output<typeof configSchema>;

/** Per-device day-burner state: the hysteresis. */
export type DayBurnerState = HysteresisState;

/** Creates the day-burner detector for streetlights. */
export function create(config: DayBurnerConfig): Detector<DayBurnerState, StreetlightDerived> {
  return {
    type: 'day-burner',
    kinds: ['streetlight'],
    initialState: () => INITIAL_HYSTERESIS,
    step(state, input): StepResult<DayBurnerState> {
      const d = input.derived;
      const thresholdW = d.standbyPowerW + config.minBurnPowerShare * d.ratedPowerW;
      const holds = d.phase === 'day' ? d.powerW > thresholdW : null;
      const { state: next, event } = stepHysteresis(state, holds, input.tsMs, d.gap, config);
      if (event === 'closed') return { state: next, signal: { active: false, atMs: input.tsMs } };
      if (event !== 'opened') return { state: next };
      const burnPct = Math.round((d.powerW / d.ratedPowerW) * 100);
      return {
        state: next,
        signal: {
          active: true,
          atMs: input.tsMs,
          severity: config.severity,
          summary: `Lamp lit in daylight: drawing ${Math.round(d.powerW * 10) / 10} W (${burnPct} % of rated) at ${d.localTime}, sun ${Math.round(d.sunAltitudeDeg)}° up`,
          details: {
            powerW: d.powerW,
            ratedPowerW: d.ratedPowerW,
            thresholdPowerW: Math.round(thresholdW * 10) / 10,
            sunAltitudeDeg: Math.round(d.sunAltitudeDeg * 10) / 10,
            localTime: d.localTime,
            sinceTs: new Date(next.sinceMs ?? input.tsMs).toISOString(),
          },
        },
      };
    },
  };
}
