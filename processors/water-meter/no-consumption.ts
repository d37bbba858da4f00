import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';
import type { MeterDerived } from './model.ts';

/**
 * no-consumption: the cleaned index has not moved for days — a stuck register, or premises empty.
 *
 * Why: a blocked meter bills nothing and hides leaks; an empty dwelling may be a vacancy or an absence worth
 * knowing about. Vendors flag it on-device: Zenner "blocked" after 4 weeks without progress (revoked by > 10 L in
 * 15 min); Neptune "consecutive days with zero consumption".
 *
 * Thresholds: the cleaned index unchanged for `stuckDays` (7, Neptune-style days of zero use; set 28 for Zenner's
 * 4 weeks) opens, at the reading that completes the span. It resolves once more than `resumeL` (10 L, Zenner) have
 * been used since it opened, whenever that is (a few litres of jitter or a dripping tap do not). Info severity: a
 * matter for the billing team, not an emergency. The model's running max absorbs ±1 L jitter, so a stopped
 * register that flickers 100/101 counts as unchanged.
 *
 * Late data and gaps: readings come in event-time order; a gap with the index unchanged across it still counts as
 * no consumption (the register says so). A re-baseline (counter reset, new meter) restarts the count and resolves
 * an open alert: the register it was about is gone. State bound: 2 numbers and 1 boolean.
 */

/** Detector name (= alert type). */
export const name = 'no-consumption';

/** no-consumption settings. */
export const configSchema = z.strictObject({
  stuckDays: z.coerce
    .number()
    .positive()
    .max(365)
    .default(7)
    .describe('Days with an unchanged index that open the alert (7: Neptune zero-consumption days; Zenner 28).'),
  resumeL: z.coerce
    .number()
    .min(0)
    .max(10_000)
    .default(10)
    .describe('Litres used since the alert opened, beyond which it resolves (10: Zenner revokes on > 10 L).'),
  severity: z
    .enum(['info', 'warning', 'critical'])
    .default('info')
    .describe('Severity of a no-consumption alert (info: billing and field checks, not an emergency).'),
});
/** no-consumption settings. */
export type NoConsumptionConfig = z.output<typeof configSchema>;

/** Per-device state (JSON-safe, 2 numbers and a boolean). */
export interface NoConsumptionState {
  readonly active: boolean;
  /** Cleaned index when the alert opened, L; null when not active. */
  readonly baseIndexL: number | null;
  /** Event time the index stopped moving, for the open alert; null when not active. */
  readonly sinceMs: number | null;
}

const DAY_MS = 86_400_000;
const INACTIVE: NoConsumptionState = { active: false, baseIndexL: null, sinceMs: null };

/** Creates the no-consumption detector for water meters. */
export function create(config: NoConsumptionConfig): Detector<NoConsumptionState, MeterDerived> {
  const stuckMs = config.stuckDays * DAY_MS;
  return {
    type: 'no-consumption',
    kinds: ['water-meter'],
    initialState: () => INACTIVE,
    step(state, input): StepResult<NoConsumptionState> {
      const d = input.derived;
      const now = input.tsMs;
      if (d.first || d.rebaselined) {
        return state.active ? { state: INACTIVE, signal: { active: false, atMs: now } } : { state: INACTIVE };
      }
      if (state.active) {
        if (d.cleanedIndexL - (state.baseIndexL ?? d.cleanedIndexL) > config.resumeL) {
          return { state: INACTIVE, signal: { active: false, atMs: now } };
        }
        return { state };
      }
      const unchangedMs = now - d.unchangedSinceMs;
      if (unchangedMs < stuckMs) return { state };
      const unchangedDays = Math.round((unchangedMs / DAY_MS) * 10) / 10;
      return {
        state: { active: true, baseIndexL: d.cleanedIndexL, sinceMs: d.unchangedSinceMs },
        signal: {
          active: true,
          atMs: now,
          severity: config.severity,
          summary: `No consumption for ${unchangedDays} days (index ${d.cleanedIndexL} L)`,
          details: {
            unchangedDays,
            indexL: d.cleanedIndexL,
            sinceTs: new Date(d.unchangedSinceMs).toISOString(),
          },
        },
      };
    },
  };
}
