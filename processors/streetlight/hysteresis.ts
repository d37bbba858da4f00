import { z } from 'zod';

/**
 * Hysteresis shared by the streetlight detectors (DOMAIN.md: "use hysteresis … to avoid storms of alerts at dusk").
 * Each reading says the condition holds (`true`), does not (`false`), or cannot be judged (`null`: outside the hours
 * the rule applies, e.g. daytime for lamp-out). An alert opens once the condition held on `confirmReadings`
 * consecutive judged readings spanning at least `confirmMinutes`; it resolves once it failed on `clearReadings`
 * consecutive judged readings. A `null` reading or a gap breaks both runs (the hours between are unknown) but never
 * closes an open alert: a lamp out tonight is still out tomorrow evening. State: 1 boolean, 3 numbers.
 */

/** Hysteresis settings, shared by lamp-out, day-burner and power-anomaly. */
export const hysteresisShape = {
  confirmReadings: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(2)
    .describe('Consecutive readings the condition must hold on before the alert opens (2: one 15-min interval).'),
  confirmMinutes: z.coerce
    .number()
    .min(0)
    .max(1440)
    .default(15)
    .describe('Least minutes between the first and last of those readings (15: one reporting interval).'),
  clearReadings: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .default(2)
    .describe('Consecutive readings without the condition that resolve the alert (2).'),
  severity: z
    .enum(['info', 'warning', 'critical'])
    .default('warning')
    .describe('Severity of the alert (warning: a maintenance job for the lighting team, not an emergency).'),
};

/** Hysteresis settings. */
export interface HysteresisConfig {
  readonly confirmReadings: number;
  readonly confirmMinutes: number;
  readonly clearReadings: number;
}

/** Hysteresis state (JSON-safe). */
export interface HysteresisState {
  readonly active: boolean;
  /** Consecutive judged readings with the condition (while closed) or without it (while open). */
  readonly run: number;
  /** Event time of the first reading of the current run, or null when the run is empty. */
  readonly runStartMs: number | null;
  /** Event time the condition first held in the open episode (its `sinceTs`), or null when closed. */
  readonly sinceMs: number | null;
}

/** What a step of the hysteresis did. */
export type HysteresisEvent = 'opened' | 'closed' | 'held' | 'none';

/** The closed state with empty runs. */
export const INITIAL_HYSTERESIS: HysteresisState = { active: false, run: 0, runStartMs: null, sinceMs: null };

/** Steps the hysteresis with one reading's judgement; `gap` breaks the runs before this reading counts. */
export function stepHysteresis(
  state: HysteresisState,
  holds: boolean | null,
  tsMs: number,
  gap: boolean,
  config: HysteresisConfig,
): { state: HysteresisState; event: HysteresisEvent } {
  const s = gap ? { ...state, run: 0, runStartMs: null } : state;
  if (holds === null) {
    const next = s.run === 0 ? s : { ...s, run: 0, runStartMs: null };
    return { state: next, event: 'none' };
  }
  if (!s.active) {
    if (!holds) return { state: s.run === 0 ? s : { ...s, run: 0, runStartMs: null }, event: 'none' };
    const run = s.run + 1;
    const runStartMs = s.runStartMs ?? tsMs;
    if (run >= config.confirmReadings && tsMs - runStartMs >= config.confirmMinutes * 60_000) {
      return { state: { active: true, run: 0, runStartMs: null, sinceMs: runStartMs }, event: 'opened' };
    }
    return { state: { ...s, run, runStartMs }, event: 'none' };
  }
  if (holds) return { state: s.run === 0 ? s : { ...s, run: 0, runStartMs: null }, event: 'held' };
  const run = s.run + 1;
  if (run >= config.clearReadings) return { state: INITIAL_HYSTERESIS, event: 'closed' };
  return { state: { ...s, run, runStartMs: s.runStartMs ?? tsMs }, event: 'none' };
}

/** Lit/out switches of a lamp between consecutive readings expected on: what tells a cycling lamp (JSON-safe). */
export interface SwitchState {
  /** Lit (true) or out (false) at the previous reading expected on; null when the chain is broken. */
  readonly lastLit: boolean | null;
  /** Event times of the recent switches between out and lit, oldest first, at most `max`. */
  readonly switchesMs: readonly number[];
}

/** No reading in the chain, no switch. */
export const INITIAL_SWITCHES: SwitchState = { lastLit: null, switchesMs: [] };

/**
 * Steps the switch chain with one reading: `lit` is null for a reading not expected on (day, dusk, dawn), which
 * breaks the chain; a gap forgets the switches. Keeps the switches of the last `windowMs`, at most `max`.
 */
export function trackSwitches(
  state: SwitchState,
  lit: boolean | null,
  nowMs: number,
  gap: boolean,
  windowMs: number,
  max: number,
): SwitchState {
  const lastLit = gap ? null : state.lastLit;
  let switchesMs = gap ? [] : state.switchesMs;
  if (lit === null) return { lastLit: null, switchesMs };
  if (lastLit !== null && lit !== lastLit) switchesMs = [...switchesMs, nowMs].slice(-max);
  return { lastLit: lit, switchesMs: switchesMs.filter((t) => t > nowMs - windowMs) };
}
