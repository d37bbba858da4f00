import { z } from 'zod';
import type { Detector, Signal, StepResult } from '../detector.ts';
import { type MeterDerived, trailingFlow } from './model.ts';

/**
 * burst: sustained high flow through the meter — a burst pipe or a tap left fully open.
 *
 * Why: at the meter's nominal flow a burst loses 2.5 m³ an hour and can flood a building; the utility must act the
 * same hour. Rule of B Meters Hydrodigit: above Q3 for 30 min, reset below 0.5·Q3 (Kamstrup offers 5 / 10 / 20 %
 * of Q3 for 30 min: set `burstFactor` to 0.05–0.2). Normal household peaks (shower ≈ 500 L/h, bath ≈ 900 L/h,
 * washing machine fills) stay far below Q3 = 2500 L/h of a DN15 meter.
 *
 * Thresholds: the trailing flow over `smoothingMinutes` (15, one Kamstrup reporting interval; the interval itself
 * when readings are sparser) at or above `burstFactor` × Q3 (1.0 × the model's `q3Lph`, 2500 L/h) at every reading
 * for `sustainMinutes` (30), counted from the start of the first high span. It resolves when the trailing flow falls
 * below `resetRatio` (0.5) × that threshold; in between, an open burst stays open (hysteresis). While open, each
 * reading signals the current flow; the lifecycle sends an update only on a material change.
 *
 * Late data and gaps: readings come in event-time order; a gap (model `maxGapMinutes`, 180) or a re-baseline
 * (counter reset, new meter: never a burst) restarts the high run, so sustained flow must be seen again after it.
 * An open burst stays open through a gap until a low flow is seen. State bound: 3 numbers and 1 boolean.
 */

/** Detector name (= alert type). */
export const name = 'burst';

/** burst settings. */
export const configSchema = z
  .strictObject({
    burstFactor: z.coerce
      .number()
      .positive()
      .max(10)
      .default(1)
      .describe('Burst threshold as a multiple of Q3 (1.0: B Meters Hydrodigit; Kamstrup 0.05 / 0.1 / 0.2).'),
    sustainMinutes: z.coerce
      .number()
      .int()
      .min(1)
      .max(1440)
      .default(30)
      .describe('Minutes the flow must stay above the threshold (30: B Meters Hydrodigit and Kamstrup).'),
    resetRatio: z.coerce
      .number()
      .positive()
      .max(1)
      .default(0.5)
      .describe('An open burst resolves below this fraction of the threshold (0.5: B Meters reset below 0.5·Q3).'),
    smoothingMinutes: z.coerce
      .number()
      .int()
      .min(1)
      .max(60)
      .default(15)
      .describe('Minutes the trailing flow is averaged over (15: one Kamstrup wM-Bus reporting interval).'),
    severity: z
      .enum(['info', 'warning', 'critical'])
      .default('critical')
      .describe('Severity of a burst alert (critical: water is being lost at the meter’s nominal flow).'),
  })
  .superRefine((c, ctx) => {
    if (c.smoothingMinutes > c.sustainMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['smoothingMinutes'],
        message: `smoothingMinutes (${c.smoothingMinutes}) must not exceed sustainMinutes (${c.sustainMinutes})`,
      });
    }
  });
/** burst settings. */
export type BurstConfig = z.output<typeof configSchema>;

/** Per-device burst state (JSON-safe, 3 numbers and a boolean). */
export interface BurstState {
  readonly active: boolean;
  /** Start of the current run of high flow (epoch ms) and the cleaned index then (L); null outside a run. */
  readonly runSinceMs: number | null;
  readonly runSinceIndexL: number | null;
  /** Start of the open episode's high flow (its `sinceTs`); null when not active. */
  readonly sinceMs: number | null;
}

/** Creates the burst detector for water meters. */
export function create(config: BurstConfig): Detector<BurstState, MeterDerived> {
  const sustainMs = config.sustainMinutes * 60_000;
  const smoothingMs = config.smoothingMinutes * 60_000;
  return {
    type: 'burst',
    kinds: ['water-meter'],
    initialState: () => ({ active: false, runSinceMs: null, runSinceIndexL: null, sinceMs: null }),
    step(state, input): StepResult<BurstState> {
      const d = input.derived;
      const now = input.tsMs;
      const noRun: BurstState = { ...state, runSinceMs: null, runSinceIndexL: null };
      if (d.first || d.rebaselined || d.gap) return { state: noRun };
      const trailing = trailingFlow(d.window, smoothingMs);
      if (!trailing) return { state };
      const thresholdLph = config.burstFactor * d.q3Lph;
      const signal = (flowLph: number, sinceMs: number): Signal => ({
        active: true,
        atMs: now,
        severity: config.severity,
        summary: `Flow above ${Math.round(thresholdLph)} L/h for ${config.sustainMinutes} min, about ${Math.round(flowLph)} L/h`,
        details: { flowLph: Math.round(flowLph), thresholdLph, sinceTs: new Date(sinceMs).toISOString() },
      });
      if (trailing.flowLph < thresholdLph) {
        if (!state.active) return { state: noRun };
        if (trailing.flowLph < config.resetRatio * thresholdLph) {
          return {
            state: { active: false, runSinceMs: null, runSinceIndexL: null, sinceMs: null },
            signal: { active: false, atMs: now },
          };
        }
        return { state: noRun, signal: signal(trailing.flowLph, state.sinceMs ?? now) };
      }
      const runSinceMs = state.runSinceMs ?? trailing.anchor[0];
      const runSinceIndexL = state.runSinceIndexL ?? trailing.anchor[1];
      if (state.active) {
        return {
          state: { ...state, runSinceMs, runSinceIndexL },
          signal: signal(trailing.flowLph, state.sinceMs ?? runSinceMs),
        };
      }
      if (now - runSinceMs < sustainMs) return { state: { ...state, runSinceMs, runSinceIndexL } };
      // Opening: report the mean flow over the whole high run, not just the last span.
      const meanLph = ((d.cleanedIndexL - runSinceIndexL) * 3_600_000) / (now - runSinceMs);
      return {
        state: { active: true, runSinceMs, runSinceIndexL, sinceMs: runSinceMs },
        signal: signal(meanLph, runSinceMs),
      };
    },
  };
}
