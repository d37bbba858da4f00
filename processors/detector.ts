import type { AlertType, DeviceEvent, Kind, Reading, Severity } from '../core/contracts/index.ts';

/**
 * The detector contract (ARCHITECTURE.md "Extending", STYLE.md §2). A detector is pure: no I/O, no clock, no
 * randomness. The engine keeps its state per device and turns its signals into alert transitions (lifecycle.ts),
 * so a detector only says whether its condition holds now.
 */

/** What a detector says after a step: the condition holds (with its evidence) or does not. */
export type Signal =
  | {
      readonly active: true;
      /** Event time the condition was established, epoch ms (a reading's ts, or a deterministic time for ticks). */
      readonly atMs: number;
      readonly severity: Severity;
      /** Short English summary for operators and replay output, e.g. "Continuous flow for 24 h, about 4 L/h". */
      readonly summary: string;
      /** The numbers that triggered it (units in key names), e.g. `{ estimatedLph: 4.2 }`. */
      readonly details: Readonly<Record<string, unknown>>;
    }
  | { readonly active: false; readonly atMs: number };

/** One reading handed to a kind's detectors, in event-time order, with what the kind's model derived from it. */
export interface StepInput<Derived> {
  readonly reading: Reading;
  /** `reading.ts` in epoch milliseconds. */
  readonly tsMs: number;
  readonly derived: Derived;
}

/** One device event (payment, fault, alarm: `events.<kind>.v1`) handed to a kind's detectors, in event-time order. */
export interface EventInput {
  readonly event: DeviceEvent;
  /** `event.ts` in epoch milliseconds. */
  readonly tsMs: number;
}

/** Result of a step: the new state and, when the detector has something to say, a signal. */
export interface StepResult<S> {
  readonly state: S;
  /** Omitted when nothing changed: the engine keeps the last signal. */
  readonly signal?: Signal;
}

/**
 * Per-kind preprocessing shared by the kind's detectors (e.g. flow from a water meter's cumulative index).
 * Readings arrive deduplicated and in event-time order.
 */
export interface KindModel<M, Derived> {
  readonly kind: Kind;
  initialState(): M;
  /** Derives the view detectors step on, or drops the reading on purpose with a reason (counted by the engine). */
  derive(state: M, reading: Reading, tsMs: number): { state: M; derived: Derived } | { state: M; drop: string };
}

/** A detector of one alert type for one kind (or for every kind when `kinds` is `'*'`). */
export interface Detector<S, Derived = unknown> {
  readonly type: AlertType;
  readonly kinds: readonly Kind[] | '*';
  initialState(): S;
  step(state: S, input: StepInput<Derived>): StepResult<S>;
  /**
   * Called for each device event of the detector's kinds (readings and events of a device come in one event-time
   * order in replay; live, events run in their own engine per `events.<kind>.v1` partition). A detector steps on
   * readings or on events, not both: live, its state for a device exists once per stream.
   */
  onEvent?(state: S, input: EventInput): StepResult<S>;
  /** Called as the event-time watermark advances (for conditions such as no-data that arise from silence). */
  tick?(state: S, watermarkMs: number): StepResult<S>;
}
