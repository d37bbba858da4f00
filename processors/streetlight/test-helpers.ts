import type { Reading } from '../../core/contracts/index.ts';
import type { Detector } from '../detector.ts';
import { type DetectorRun, runThroughModel, type TimedSignal } from '../test-helpers.ts';

export type { DetectorRun, TimedSignal } from '../test-helpers.ts';

import { modelConfigSchema, type StreetlightDerived, streetlightModel } from './model.ts';

/**
 * Test helpers for the streetlight detectors: build readings and drive model + detector in event-time order (the
 * engine's job, minus I/O). Test code only.
 */

/** One minute in ms. */
export const MIN_MS = 60_000;
/** One hour in ms. */
export const HOUR_MS = 3_600_000;

/** Epoch ms of a local wall-clock time in Mulhouse, e.g. `at('2026-06-21T23:00', 2)` (CEST is +2 h, CET +1 h). */
export function at(localIso: string, offsetHours: number): number {
  const sign = offsetHours >= 0 ? '+' : '-';
  return Date.parse(`${localIso}:00${sign}${String(Math.abs(offsetHours)).padStart(2, '0')}:00`);
}

/** A canonical streetlight reading; `dimPct` is left out when undefined. */
export function lightReading(tsMs: number, powerW: number, dimPct?: number, deviceId = 'SL-000001'): Reading {
  return {
    deviceId,
    kind: 'streetlight',
    ts: new Date(tsMs).toISOString(),
    metrics: dimPct === undefined ? { powerW } : { powerW, dimPct },
  };
}

/** Readings every `intervalMinutes` from `startMs`, one per power value given (W). */
export function series(startMs: number, intervalMinutes: number, powersW: readonly number[], dimPct?: number) {
  return powersW.map((p, i) => lightReading(startMs + i * intervalMinutes * MIN_MS, p, dimPct));
}

/** Feeds readings, in order, through the streetlight model then the detector; returns signals, drops, state. */
export function runDetector<S>(
  detector: Detector<S, StreetlightDerived>,
  readings: readonly Reading[],
  options: { model?: Record<string, unknown>; onStep?: (state: S, derived: StreetlightDerived) => void } = {},
): DetectorRun<S> {
  const model = streetlightModel(modelConfigSchema.parse(options.model ?? {}));
  const onStep = options.onStep;
  return runThroughModel(model, detector, readings, onStep && ((state, _model, derived) => onStep(state, derived)));
}

/** Signals as `on@<ISO>` / `off@<ISO>` strings, for compact expectations. */
export function brief(signals: readonly TimedSignal[]): string[] {
  return signals.map(({ signal }) => `${signal.active ? 'on' : 'off'}@${new Date(signal.atMs).toISOString()}`);
}

/** `on@`/`off@` strings for event times given as epoch ms. */
export function on(ms: number): string {
  return `on@${new Date(ms).toISOString()}`;
}
/** See {@link on}. */
export function off(ms: number): string {
  return `off@${new Date(ms).toISOString()}`;
}

/** Readings from arbitrary `(minutes after the previous one, powerW)` steps after `startMs` (property tests). */
export function stepsFrom(startMs: number, steps: ReadonlyArray<readonly [number, number]>): Reading[] {
  let t = startMs;
  return steps.map(([dtMinutes, powerW]) => {
    t += dtMinutes * MIN_MS;
    return lightReading(t, powerW);
  });
}
