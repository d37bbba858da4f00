import type { Reading } from '../core/contracts/index.ts';
import type { Detector, KindModel, Signal } from './detector.ts';

/** A signal with the event time of the reading that produced it. */
export interface TimedSignal {
  readonly tsMs: number;
  readonly signal: Signal;
}

/** What a run of readings through model + detector gave. */
export interface DetectorRun<S> {
  readonly signals: readonly TimedSignal[];
  /** Drop reasons from the model, in order. */
  readonly drops: readonly string[];
  readonly state: S;
}

/** Feeds readings, in order, through a kind's model then the detector (the engine's job, minus I/O). */
export function runThroughModel<S, M, D>(
  model: KindModel<M, D>,
  detector: Detector<S, D>,
  readings: readonly Reading[],
  onStep?: (state: S, modelState: M, derived: D) => void,
): DetectorRun<S> {
  let modelState = model.initialState();
  let state = detector.initialState();
  const signals: TimedSignal[] = [];
  const drops: string[] = [];
  for (const reading of readings) {
    const tsMs = Date.parse(reading.ts);
    const out = model.derive(modelState, reading, tsMs);
    modelState = out.state;
    if ('drop' in out) {
      drops.push(out.drop);
      continue;
    }
    const step = detector.step(state, { reading, tsMs, derived: out.derived });
    state = step.state;
    if (step.signal) signals.push({ tsMs, signal: step.signal });
    onStep?.(state, modelState, out.derived);
  }
  return { signals, drops, state };
}
