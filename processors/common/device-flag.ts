import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';

/**
 * device-flag: the device itself reports a condition (`flags` on a reading: tamper, magnetic, alarm codes, ...).
 *
 * Why: vendors flag tamper, magnetic fraud and internal faults on the device (FIWARE `alarmTamper`); the flags are
 * kept 30–35 days on the meter but only a reading carries them to us. Rule: any flags open the alert with
 * `details.flags` (sorted, unique); a different set of flags updates it; a reading without flags resolves it.
 * Thresholds: none besides the severity. Late data: none of its own (the engine orders readings). State: the
 * current set of flags, at most 16 (the reading schema's bound).
 */

/** Detector name (= alert type). */
export const name = 'device-flag';

/** device-flag settings. */
export const configSchema = z.strictObject({
  severity: z
    .enum(['info', 'warning', 'critical'])
    .default('warning')
    .describe('Severity of a device-flag alert (a device reporting its own fault or tampering).'),
});
/** device-flag settings. */
export type DeviceFlagConfig = z.output<typeof configSchema>;

/** Per-device state: the flags of the open alert, or null when none is open. */
export interface DeviceFlagState {
  readonly flags: readonly string[] | null;
}

/** Creates the device-flag detector, for every kind. */
export function create(config: DeviceFlagConfig): Detector<DeviceFlagState> {
  return {
    type: 'device-flag',
    kinds: '*',
    initialState: () => ({ flags: null }),
    step(state, input): StepResult<DeviceFlagState> {
      const flags = [...new Set(input.reading.flags ?? [])].sort();
      if (flags.length === 0) {
        if (state.flags === null) return { state };
        return { state: { flags: null }, signal: { active: false, atMs: input.tsMs } };
      }
      if (state.flags !== null && sameList(state.flags, flags)) return { state };
      return {
        state: { flags },
        signal: {
          active: true,
          atMs: input.tsMs,
          severity: config.severity,
          summary: `Device reports ${flags.join(', ')}`,
          details: { flags },
        },
      };
    },
  };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
