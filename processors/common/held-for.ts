import { z } from 'zod';
import type { AlertType, Kind } from '../../core/contracts/index.ts';
import type { Detector, StepResult } from '../detector.ts';

/**
 * "A count at its limit for long enough": the rule shared by the mobility detectors (bike-station `station-empty`
 * and `station-full`, car-park `car-park-full`). A condition (0 bikes, 0 docks, no space free) must hold on every
 * judged reading for `minMinutes` before the alert opens; it resolves once the count is back to `recover` or more
 * (hysteresis: one bike returned and taken again does not flap the alert). Readings that are not judged (a bike
 * station's night) restart the count while closed and leave an open alert open; a gap between readings (the kind's
 * model says so) restarts the count, since what happened inside it is unknown. Pure; state: a boolean and a time.
 */

/** Settings of a held-for rule (each detector defaults them its own way). */
export function heldForShape(defaults: {
  readonly minMinutes: number;
  readonly severity: 'info' | 'warning' | 'critical';
  readonly why: string;
}) {
  return {
    minMinutes: z.coerce
      .number()
      .positive()
      .max(7 * 1440)
      .default(defaults.minMinutes)
      .describe(`Minutes the condition must hold, reading after reading, before the alert opens (${defaults.why}).`),
    severity: z.enum(['info', 'warning', 'critical']).default(defaults.severity).describe('Severity of the alert.'),
  };
}

/** Per-device state of a held-for rule. */
export interface HeldForState {
  readonly active: boolean;
  /** Event time of the first reading of the current run of readings where the condition holds, ms (null: none). */
  readonly sinceMs: number | null;
}

/** The state before any reading. */
export const INITIAL_HELD_FOR: HeldForState = { active: false, sinceMs: null };

/** What one reading says to the rule. */
export interface HeldForInput {
  readonly tsMs: number;
  /** The condition holds on this reading (e.g. 0 bikes). */
  readonly holds: boolean;
  /** The count is back far enough to resolve an open alert (e.g. 2 bikes or more). */
  readonly recovered: boolean;
  /** The reading is judged at all (a bike station by day); an unjudged one may still resolve. */
  readonly judged: boolean;
  /** A gap before this reading: the count restarts. */
  readonly gap: boolean;
}

/** One step: the new state, and `opened` / `closed` when the alert changes. */
export function stepHeldFor(
  state: HeldForState,
  input: HeldForInput,
  minMinutes: number,
): { state: HeldForState; event?: 'opened' | 'closed' } {
  if (state.active) {
    if (input.recovered) return { state: INITIAL_HELD_FOR, event: 'closed' };
    return { state };
  }
  if (!input.judged || !input.holds) return { state: state.sinceMs === null ? state : INITIAL_HELD_FOR };
  const sinceMs = state.sinceMs === null || input.gap ? input.tsMs : state.sinceMs;
  if (input.tsMs - sinceMs >= minMinutes * 60_000) return { state: { active: true, sinceMs }, event: 'opened' };
  return { state: { active: false, sinceMs } };
}

/** What a held-for detector says about one reading, and about the alert when it opens. */
export interface HeldForSpec<D> {
  readonly type: AlertType;
  readonly kinds: readonly Kind[];
  readonly config: { readonly minMinutes: number; readonly severity: 'info' | 'warning' | 'critical' };
  /** The rule's view of a reading (its derived values). */
  observe(derived: D): Omit<HeldForInput, 'tsMs'>;
  /** The alert's summary and details when it opens, `minutes` after `sinceMs`. */
  describe(derived: D, minutes: number, sinceMs: number): { summary: string; details: Record<string, unknown> };
}

/** A detector made of the held-for rule: it signals once when the alert opens and once when it resolves. */
export function heldForDetector<D>(spec: HeldForSpec<D>): Detector<HeldForState, D> {
  return {
    type: spec.type,
    kinds: spec.kinds,
    initialState: () => INITIAL_HELD_FOR,
    step(state, input): StepResult<HeldForState> {
      const { state: next, event } = stepHeldFor(
        state,
        { tsMs: input.tsMs, ...spec.observe(input.derived) },
        spec.config.minMinutes,
      );
      if (event === 'closed') return { state: next, signal: { active: false, atMs: input.tsMs } };
      if (event !== 'opened') return { state: next };
      const sinceMs = next.sinceMs ?? input.tsMs;
      const minutes = Math.round((input.tsMs - sinceMs) / 60_000);
      return {
        state: next,
        signal: {
          active: true,
          atMs: input.tsMs,
          severity: spec.config.severity,
          ...spec.describe(input.derived, minutes, sinceMs),
        },
      };
    },
  };
}
