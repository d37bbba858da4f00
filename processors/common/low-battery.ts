import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';

/**
 * low-battery: a device's battery is nearly empty (metric `batteryPct`).
 *
 * Why: a meter with a flat battery goes silent and is replaced on a truck roll; Itron counts "10 % left" as about
 * 2 years of life, time to plan the replacement. Thresholds: opens at `batteryPct` ≤ `lowBatteryPct` (10 %), resolves
 * at ≥ `recoverBatteryPct` (15 %) — the hysteresis keeps a reading jittering around 10 % from flapping. While open,
 * each reading's level is signalled; the lifecycle sends an update only on a material change. Readings without
 * `batteryPct` say nothing. Late data: none of its own (the engine orders readings). State: one boolean.
 */

/** Detector name (= alert type). */
export const name = 'low-battery';

/** low-battery settings. */
export const configSchema = z
  .strictObject({
    lowBatteryPct: z.coerce
      .number()
      .min(0)
      .max(100)
      .default(10)
      .describe('Battery level (%) at or below which the alert opens (Itron: 10 % left ≈ 2 years).'),
    recoverBatteryPct: z.coerce
      .number()
      .min(0)
      .max(100)
      .default(15)
      .describe('Battery level (%) at or above which it resolves (hysteresis above lowBatteryPct).'),
    severity: z
      .enum(['info', 'warning', 'critical'])
      .default('warning')
      .describe('Severity of a low-battery alert (a replacement to plan, not an emergency).'),
  })
  .superRefine((c, ctx) => {
    if (c.recoverBatteryPct <= c.lowBatteryPct) {
      ctx.addIssue({
        code: 'custom',
        path: ['recoverBatteryPct'],
        message: `recoverBatteryPct (${c.recoverBatteryPct}) must be above lowBatteryPct (${c.lowBatteryPct})`,
      });
    }
  });
/** low-battery settings. */
export type LowBatteryConfig = z.output<typeof configSchema>;

/** Per-device state: whether the alert is on. */
export interface LowBatteryState {
  readonly active: boolean;
}

/** Creates the low-battery detector, for every kind. */
export function create(config: LowBatteryConfig): Detector<LowBatteryState> {
  return {
    type: 'low-battery',
    kinds: '*',
    initialState: () => ({ active: false }),
    step(state, input): StepResult<LowBatteryState> {
      const pct = input.reading.metrics.batteryPct;
      if (pct === undefined) return { state };
      if (state.active && pct >= config.recoverBatteryPct) {
        return { state: { active: false }, signal: { active: false, atMs: input.tsMs } };
      }
      if (!state.active && pct > config.lowBatteryPct) return { state };
      return {
        state: state.active ? state : { active: true },
        signal: {
          active: true,
          atMs: input.tsMs,
          severity: config.severity,
          summary: `Battery low: ${pct} % left`,
          details: { batteryPct: pct },
        },
      };
    },
  };
}
