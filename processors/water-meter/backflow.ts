import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';
import type { MeterDerived } from './model.ts';

/**
 * backflow: the register runs backwards — water flowing from the premises back into the network.
 *
 * Why: backflow can carry contaminated water into the mains (a cross-connection, a pressure drop); meters flag it
 * on-device (Sensus: reverse flow for 15 min; B Meters: more than 20 L of continuous reverse flow).
 *
 * Thresholds: the raw index more than `jitterL` (1 L, DOMAIN.md: ±1 L around a reading is normal) below its
 * running maximum, sustained for `sustainMinutes` (15, Sensus), or more than `volumeL` (20 L, B Meters) below it at
 * once. It resolves when the index is back within `jitterL` of the maximum, or after `quietMinutes` (60) without
 * further reverse movement (no new low); the lower level then becomes the new reference, so the same displacement
 * does not reopen. While open, each reading signals the reverse volume; the lifecycle sends an update only on a
 * material change.
 *
 * Late data and gaps: readings come in event-time order; a gap does not matter (a lower index is evidence whenever
 * it is seen). A re-baseline (counter reset, new meter) or a first reading never counts as backflow: it resets the
 * reference, and resolves an open alert because its reference is gone. State bound: 4 numbers and 1 boolean.
 */

/** Detector name (= alert type). */
export const name = 'backflow';

/** backflow settings. */
export const configSchema = z.strictObject({
  jitterL: z.coerce
    .number()
    .min(0)
    .max(10)
    .default(1)
    .describe('Litres below the running maximum still taken as register jitter (1: DOMAIN.md, ±1 L is normal).'),
  sustainMinutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(15)
    .describe('Minutes the index must stay below the maximum (beyond jitter) to open (15: Sensus reverse flow).'),
  volumeL: z.coerce
    .number()
    .positive()
    .max(100_000)
    .default(20)
    .describe('Reverse litres that open at once (20: B Meters, more than 20 L of continuous reverse flow).'),
  quietMinutes: z.coerce
    .number()
    .int()
    .min(1)
    .max(1440)
    .default(60)
    .describe('Minutes without further reverse movement after which an open backflow resolves (60).'),
  severity: z
    .enum(['info', 'warning', 'critical'])
    .default('warning')
    .describe('Severity of a backflow alert (warning: possible contamination, to inspect the same day).'),
});
/** backflow settings. */
export type BackflowConfig = z.output<typeof configSchema>;

/** Per-device backflow state (JSON-safe, 4 numbers and a boolean). */
export interface BackflowState {
  /** Highest raw index since the reference was last reset, L; null before the first reading. */
  readonly refL: number | null;
  /** First reading of the current reverse run (epoch ms); null when the index is at the reference. */
  readonly reverseSinceMs: number | null;
  /** Lowest raw index of the current reverse run, L, and when it was reached. */
  readonly lowL: number | null;
  readonly lastMoveMs: number | null;
  readonly active: boolean;
}

const NO_RUN = { reverseSinceMs: null, lowL: null, lastMoveMs: null, active: false } as const;

/** Creates the backflow detector for water meters. */
export function create(config: BackflowConfig): Detector<BackflowState, MeterDerived> {
  const sustainMs = config.sustainMinutes * 60_000;
  const quietMs = config.quietMinutes * 60_000;
  return {
    type: 'backflow',
    kinds: ['water-meter'],
    initialState: () => ({ refL: null, ...NO_RUN }),
    step(state, input): StepResult<BackflowState> {
      const d = input.derived;
      const now = input.tsMs;
      const raw = d.rawIndexL;
      const closing = state.active ? { signal: { active: false as const, atMs: now } } : {};
      if (d.first || d.rebaselined || state.refL === null) return { state: { refL: raw, ...NO_RUN }, ...closing };
      const refL = Math.max(state.refL, raw);
      const reverseL = refL - raw;
      if (reverseL <= config.jitterL) return { state: { refL, ...NO_RUN }, ...closing };

      const reverseSinceMs = state.reverseSinceMs ?? now;
      const moved = state.lowL === null || raw < state.lowL;
      const lowL = moved ? raw : state.lowL!;
      const lastMoveMs = moved ? now : (state.lastMoveMs ?? now);
      if (state.active && now - lastMoveMs >= quietMs) {
        // Reverse flow has stopped: accept the lower level as the new reference.
        return { state: { refL: raw, ...NO_RUN }, signal: { active: false, atMs: now } };
      }
      const next: BackflowState = { refL, reverseSinceMs, lowL, lastMoveMs, active: state.active };
      if (!state.active && now - reverseSinceMs < sustainMs && reverseL <= config.volumeL) return { state: next };
      const episodeL = refL - lowL;
      return {
        state: { ...next, active: true },
        signal: {
          active: true,
          atMs: now,
          severity: config.severity,
          summary: `Meter running backwards: ${episodeL} L of reverse flow`,
          details: { reverseL: episodeL, sinceTs: new Date(reverseSinceMs).toISOString() },
        },
      };
    },
  };
}
