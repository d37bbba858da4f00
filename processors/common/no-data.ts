import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';

/**
 * no-data: a device silent for too long, by event time.
 *
 * Why: a meter that stops reporting hides leaks and bursts; operators must know (communication loss is one of the
 * faults central management systems report, DOMAIN.md). Thresholds: silent for `noDataIntervals` (8) reporting
 * intervals of `reportingIntervalMinutes` (15, Kamstrup wM-Bus) = 2 h. Opened by tick(watermark) once the stream is
 * complete up to last reading + threshold, with `atMs` = last reading + threshold (deterministic whatever the tick
 * cadence); resolved by the next reading. Late data: none of its own; the engine's reorder tolerance and watermark
 * decide when a tick may assume the stream complete. State: two numbers.
 */

/** Detector name (= alert type). */
export const name = 'no-data';

/** no-data settings. */
export const configSchema = z.strictObject({
  reportingIntervalMinutes: z.coerce
    .number()
    .int()
    .positive()
    .default(15)
    .describe('Expected minutes between two readings of a device (15: Kamstrup wM-Bus reporting).'),
  noDataIntervals: z.coerce
    .number()
    .int()
    .positive()
    .default(8)
    .describe('Reporting intervals without any reading before a no-data alert opens (8 × 15 min = 2 h).'),
  severity: z
    .enum(['info', 'warning', 'critical'])
    .default('warning')
    .describe('Severity of a no-data alert (utility practice: act within the day).'),
});
/** no-data settings. */
export type NoDataConfig = z.output<typeof configSchema>;

/** Per-device state: the last reading's event time and whether the alert is on. */
export interface NoDataState {
  readonly lastTsMs: number | null;
  readonly active: boolean;
}

/** Creates the no-data detector, for every kind. */
export function create(config: NoDataConfig): Detector<NoDataState> {
  const thresholdMs = config.reportingIntervalMinutes * config.noDataIntervals * 60_000;
  const hours = Math.round((thresholdMs / 3_600_000) * 10) / 10;
  return {
    type: 'no-data',
    kinds: '*',
    initialState: () => ({ lastTsMs: null, active: false }),
    step(state, input): StepResult<NoDataState> {
      const next = { lastTsMs: Math.max(input.tsMs, state.lastTsMs ?? input.tsMs), active: false };
      if (state.active) return { state: next, signal: { active: false, atMs: input.tsMs } };
      return { state: next };
    },
    tick(state, watermarkMs): StepResult<NoDataState> {
      if (state.active || state.lastTsMs === null) return { state };
      const dueMs = state.lastTsMs + thresholdMs;
      if (watermarkMs < dueMs) return { state };
      return {
        state: { lastTsMs: state.lastTsMs, active: true },
        signal: {
          active: true,
          atMs: dueMs,
          severity: config.severity,
          summary: `No data for ${hours} h since ${new Date(state.lastTsMs).toISOString()}`,
          details: { lastReadingAt: new Date(state.lastTsMs).toISOString(), silentForMinutes: thresholdMs / 60_000 },
        },
      };
    },
  };
}
