import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';
import {
  type HysteresisState,
  hysteresisShape,
  INITIAL_HYSTERESIS,
  INITIAL_SWITCHES,
  type SwitchState,
  stepHysteresis,
  trackSwitches,
} from './hysteresis.ts';
import { isOut } from './lamp-out.ts';
import type { StreetlightDerived } from './model.ts';

/**
 * power-anomaly: a lit lamp draws off its rated draw for its dim level (a failing driver), or it cycles on and off.
 *
 * Why: central management systems report driver faults and cycling lamps besides lamp failures (DOMAIN.md
 * "Streetlights"); a drifting LED driver or a lamp flickering at its end of life is a repair before it goes out.
 *
 * Rules, judged only while the model expects the lamp on (night, commanded level above 0):
 * - off-rated: the lamp is lit (not out by lamp-out's rule, `minOnPowerShare` 10 %) and `powerW` differs from the
 *   expected draw (rated × commanded level; LED drivers are roughly linear) by more than `tolerancePowerShare` (25 %)
 *   of it. A lamp at 30 % drawing 18 W of 60 W is fine; commanded 30 % and drawing 60 W is not (a driver ignoring its
 *   dimming command).
 * - cycling: the lamp switched between out and lit (lamp-out's rule) at least `cycleMinSwitches` (4) times within
 *   `cycleWindowMinutes` (120). Readings every 15 min sample a lamp cycling every few minutes as an irregular on/off
 *   series; 4 switches in 2 h (out twice and back) is more than a lamp repaired or a one-off outage gives (2).
 *   Switches are counted between consecutive readings expected on only: dusk, dawn and the day break the chain.
 * Either condition holding on 2 readings at least 15 min apart in a row opens the alert (hysteresis.ts); 2 lit,
 * on-rated, non-cycling readings in a row resolve it — for a cycling lamp only once it has also stayed lit without a
 * switch for a whole `cycleWindowMinutes` of one night (a lamp cycling every few minutes is sampled lit twice in a
 * row often; it is not repaired for that, nor by daylight: one alert per failure, not one per night). Out readings
 * that are not cycling, and readings outside the night, are not judged (a lamp simply out is lamp-out's), and break
 * the run.
 *
 * Late data: none of its own (the engine orders readings); a gap (model's `maxGapMinutes`, 180) restarts the counts
 * and forgets the switches. State: the hysteresis plus at most `cycleMinSwitches` switch times and the last lit/out
 * state (bounded by {@link MAX_SWITCHES}).
 */

/** Detector name (= alert type). */
export const name = 'power-anomaly';

/** Most switch times kept (the upper bound of `cycleMinSwitches`). */
export const MAX_SWITCHES = 20;

/** power-anomaly settings. */
export const configSchema = z.strictObject({
  tolerancePowerShare: z.coerce
    .number()
    .gt(0)
    .max(5)
    .default(0.25)
    .describe(
      'Largest departure of the draw from rated × dim level, as a share of it, before it is an anomaly (0.25).',
    ),
  minOnPowerShare: z.coerce
    .number()
    .gt(0)
    .max(1)
    .default(0.1)
    .describe('Share of the expected draw below which the lamp counts as out for cycling (0.1, as lamp-out).'),
  cycleMinSwitches: z.coerce
    .number()
    .int()
    .min(2)
    .max(MAX_SWITCHES)
    .default(4)
    .describe(
      'Switches between out and lit within cycleWindowMinutes that make a cycling lamp (4: out twice and back).',
    ),
  cycleWindowMinutes: z.coerce
    .number()
    .positive()
    .max(1440)
    .default(120)
    .describe('Window over which the switches are counted, minutes (120: eight 15-min readings).'),
  ...hysteresisShape,
});
/** power-anomaly settings. */
export type PowerAnomalyConfig = z.output<typeof configSchema>;

/** Per-device power-anomaly state (JSON-safe, bounded: see the file header). */
export interface PowerAnomalyState extends HysteresisState, SwitchState {
  /** The open alert was opened by cycling (absent in states saved before this field existed: false). */
  readonly cyclingEpisode?: boolean;
  /** Since when the lamp has been lit, on-rated and without a switch this night, ms; null when it is not. */
  readonly stableSinceMs?: number | null;
}

/** Creates the power-anomaly detector for streetlights. */
export function create(config: PowerAnomalyConfig): Detector<PowerAnomalyState, StreetlightDerived> {
  const windowMs = config.cycleWindowMinutes * 60_000;
  return {
    type: 'power-anomaly',
    kinds: ['streetlight'],
    initialState: () => ({ ...INITIAL_HYSTERESIS, ...INITIAL_SWITCHES, cyclingEpisode: false, stableSinceMs: null }),
    step(state, input): StepResult<PowerAnomalyState> {
      const d = input.derived;
      const now = input.tsMs;
      const lit = d.expectedOn ? !isOut(d, config.minOnPowerShare) : null;
      const switches = trackSwitches(state, lit, now, d.gap, windowMs, config.cycleMinSwitches);
      const cycling = switches.switchesMs.length >= config.cycleMinSwitches;
      const deviation = d.expectedOn ? (d.powerW - d.expectedPowerW) / d.expectedPowerW : 0;
      const offRated = lit === true && Math.abs(deviation) > config.tolerancePowerShare;
      // Lit and on-rated since the last switch (a switch to lit starts the count afresh).
      const steady = lit === true && !offRated && !d.gap;
      const stableSinceMs = steady ? (switches.switchesMs.at(-1) === now ? now : (state.stableSinceMs ?? now)) : null;
      let holds: boolean | null = lit === null ? null : cycling ? true : lit ? offRated : null;
      // A cycling lamp's alert resolves only after a whole window lit and steady within one night.
      if (holds === false && state.active && state.cyclingEpisode && now - (stableSinceMs ?? now) < windowMs) {
        holds = true;
      }
      const h = stepHysteresis(state, holds, now, d.gap, config);
      const cyclingEpisode = h.event === 'opened' ? cycling : h.state.active ? (state.cyclingEpisode ?? false) : false;
      const next: PowerAnomalyState = { ...h.state, ...switches, cyclingEpisode, stableSinceMs };
      if (h.event === 'closed') return { state: next, signal: { active: false, atMs: now } };
      if (h.event !== 'opened') return { state: next };
      const expectedPowerW = Math.round(d.expectedPowerW * 10) / 10;
      const deviationPct = Math.round(deviation * 100);
      const summary = cycling
        ? `Lamp cycling: switched on and off ${switches.switchesMs.length} times in ${config.cycleWindowMinutes} min`
        : `Lamp drawing ${Math.round(d.powerW * 10) / 10} W for ${d.commandedPct} % (expected about ${expectedPowerW} W, ${deviationPct > 0 ? '+' : ''}${deviationPct} %)`;
      return {
        state: next,
        signal: {
          active: true,
          atMs: now,
          severity: config.severity,
          summary,
          details: {
            cause: cycling ? 'cycling' : 'off-rated',
            powerW: d.powerW,
            expectedPowerW,
            deviationPct,
            commandedPct: d.commandedPct,
            commandSource: d.commandSource,
            switchesInWindow: switches.switchesMs.length,
            cycleWindowMinutes: config.cycleWindowMinutes,
            localTime: d.localTime,
            sinceTs: new Date(next.sinceMs ?? now).toISOString(),
          },
        },
      };
    },
  };
}
