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
import type { StreetlightDerived } from './model.ts';

/**
 * lamp-out: the lamp should be lit and draws (almost) nothing.
 *
 * Why: residents phone in "lamps out at night"; central management systems flag a lamp failure as "current below a
 * minimum while commanded on" (DOMAIN.md "Streetlights"). Rule: at night (the model's `expectedOn`: 15 min after
 * sunset to 15 min before sunrise, commanded level above 0), `powerW` below `minOnPowerShare` (10 %) of the expected
 * draw (rated × commanded level) or at most the standby draw (2 W). Opens after 2 such readings at least 15 min apart
 * in a row (hysteresis.ts); resolves after 2 readings in a row drawing again while expected on. Readings outside the
 * night are not judged: an open alert stays open through the day (a dead lamp is still dead at the next dusk, and one
 * alert per failure, not one per night), and the count restarts. A lamp that switched between lit and out
 * `cyclingSwitches` (2) times or more within the last `cycleWindowMinutes` (120) of the night is cycling — the
 * power-anomaly detector's alert; its out readings are not judged here, so a flickering lamp does not open and close
 * lamp-out all night (a lamp that goes out for good after being lit switches once and opens as usual).
 *
 * Late data: none of its own (the engine orders readings); a gap (model's `maxGapMinutes`, 180) restarts the count.
 * Limits: a lamp on a street switched off 23:30–05:30 by schedule looks out unless its readings carry `dimPct` 0
 * (README). State: the hysteresis (1 boolean, 3 numbers) and at most `cyclingSwitches` switch times.
 */

/** Detector name (= alert type). */
export const name = 'lamp-out';

/** lamp-out settings. */
export const configSchema = z.strictObject({
  minOnPowerShare: z.coerce
    .number()
    .gt(0)
    .max(1)
    .default(0.1)
    .describe('Share of the expected draw below which a lamp commanded on counts as out (0.1 = 10 %).'),
  cyclingSwitches: z.coerce
    .number()
    .int()
    .min(2)
    .max(20)
    .default(2)
    .describe('Switches between lit and out within cycleWindowMinutes that make a lamp cycling, not out (2).'),
  cycleWindowMinutes: z.coerce
    .number()
    .positive()
    .max(1440)
    .default(120)
    .describe('Window over which those switches are counted, minutes (120, as power-anomaly).'),
  ...hysteresisShape,
});
/** lamp-out settings. */
export type LampOutConfig = z.output<typeof configSchema>;

/** Per-device lamp-out state: the hysteresis and the recent lit/out switches (absent in older states). */
export type LampOutState = HysteresisState & Partial<SwitchState>;

/** Whether a lamp expected on draws too little to be lit: below the share of its expected draw, or standby only. */
export function isOut(d: StreetlightDerived, minOnPowerShare: number): boolean {
  return d.powerW < minOnPowerShare * d.expectedPowerW || d.powerW <= d.standbyPowerW;
}

/** Creates the lamp-out detector for streetlights. */
export function create(config: LampOutConfig): Detector<LampOutState, StreetlightDerived> {
  return {
    type: 'lamp-out',
    kinds: ['streetlight'],
    initialState: () => ({ ...INITIAL_HYSTERESIS, ...INITIAL_SWITCHES }),
    step(state, input): StepResult<LampOutState> {
      const d = input.derived;
      const out = d.expectedOn ? isOut(d, config.minOnPowerShare) : null;
      const switches = trackSwitches(
        { lastLit: state.lastLit ?? null, switchesMs: state.switchesMs ?? [] },
        out === null ? null : !out,
        input.tsMs,
        d.gap,
        config.cycleWindowMinutes * 60_000,
        config.cyclingSwitches,
      );
      const holds = out === true && switches.switchesMs.length >= config.cyclingSwitches ? null : out;
      const h = stepHysteresis(state, holds, input.tsMs, d.gap, config);
      const next: LampOutState = { ...h.state, ...switches };
      const event = h.event;
      if (event === 'closed') return { state: next, signal: { active: false, atMs: input.tsMs } };
      if (event !== 'opened') return { state: next };
      const expectedPowerW = round1(d.expectedPowerW);
      return {
        state: next,
        signal: {
          active: true,
          atMs: input.tsMs,
          severity: config.severity,
          summary: `Lamp out: drawing ${round1(d.powerW)} W at ${d.localTime} while commanded ${d.commandedPct} % (expected about ${expectedPowerW} W)`,
          details: {
            powerW: d.powerW,
            expectedPowerW,
            commandedPct: d.commandedPct,
            commandSource: d.commandSource,
            sunAltitudeDeg: round1(d.sunAltitudeDeg),
            localTime: d.localTime,
            sinceTs: new Date(next.sinceMs ?? input.tsMs).toISOString(),
          },
        },
      };
    },
  };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
