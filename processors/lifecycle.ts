import { z } from 'zod';
import type { AlertTransition, AlertType, Kind, Severity } from '../core/contracts/index.ts';
import type { Signal } from './detector.ts';

/**
 * Alert lifecycle (CONTRACTS.md §4): turns a detector's signals for one (device, type) into alert transitions.
 * One `open` when the condition starts, `update` only when the severity changes or the details change materially,
 * one `resolved` when it ends. Pure: the engine keeps the state per (device, type) and checkpoints it.
 *
 * Updates are bounded, never one per reading: a numeric detail must move by more than `updateChangeRatio` (25 %)
 * from the last value sent, and such updates (and falls in severity) come at most once per `updateMinIntervalMs` of
 * event time (1 h). A rise in severity or a discrete change (another set of flags) is sent at once: a burst turning
 * critical must not wait. Detectors that want a held-back update sent later keep signalling their current view. The alarm repetition practice
 * of meter vendors (at most one leak alarm per 24 h, Diehl via Itron) is stricter; alerting can add its own.
 */

/** Lifecycle settings: how much change makes an `update`, and how often at most. */
export const lifecycleConfigSchema = z.strictObject({
  updateChangeRatio: z.coerce
    .number()
    .gt(0)
    .max(10)
    .default(0.25)
    .describe('Relative change of a numeric detail (vs the last value sent) that makes an update; 0.25 = 25 %.'),
  updateMinIntervalMs: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(3_600_000)
    .describe('Least event time between two updates of one alert (1 h); a rise in severity is sent at once.'),
});
/** Lifecycle settings. */
export type LifecycleConfig = z.output<typeof lifecycleConfigSchema>;

/** The open alert of a (device, type): what was last sent about it. */
export interface OpenAlert {
  readonly severity: Severity;
  readonly summary: string;
  readonly details: Readonly<Record<string, unknown>>;
  /** Event time it opened, epoch ms. */
  readonly openedAtMs: number;
  /** Event time of the last transition sent (open or update), epoch ms. */
  readonly lastSentAtMs: number;
}

/** Lifecycle state of one (device, type): the episode counter and the open alert, if any. JSON-serialisable. */
export interface AlertState {
  /** Episodes opened so far (the current or last one); the next open is `episode + 1`. */
  readonly episode: number;
  readonly open: OpenAlert | null;
}

/** Who the alert is about. */
export interface AlertKey {
  readonly deviceId: string;
  readonly kind: Kind;
  readonly type: AlertType;
}

/** The state of a (device, type) that never alerted. */
export function initialAlertState(): AlertState {
  return { episode: 0, open: null };
}

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
const MAX_SUMMARY_CHARS = 500;

/** Applies one signal; returns the new state and the transition it causes, if any. */
export function applySignal(
  state: AlertState,
  signal: Signal,
  key: AlertKey,
  config: LifecycleConfig,
): { state: AlertState; transition?: AlertTransition } {
  const open = state.open;
  if (!signal.active) {
    if (!open) return { state };
    const details = { ...open.details, openForMs: Math.max(0, signal.atMs - open.openedAtMs) };
    const summary = `Resolved: ${open.summary}`.slice(0, MAX_SUMMARY_CHARS);
    return {
      state: { episode: state.episode, open: null },
      transition: transition(key, state.episode, 'resolved', signal.atMs, open.severity, summary, details),
    };
  }
  const summary = signal.summary.slice(0, MAX_SUMMARY_CHARS);
  if (!open) {
    const episode = state.episode + 1;
    return {
      state: {
        episode,
        open: {
          severity: signal.severity,
          summary,
          details: signal.details,
          openedAtMs: signal.atMs,
          lastSentAtMs: signal.atMs,
        },
      },
      transition: transition(key, episode, 'open', signal.atMs, signal.severity, summary, signal.details),
    };
  }
  const change = detailsChange(open.details, signal.details, config.updateChangeRatio);
  const urgent = SEVERITY_RANK[signal.severity] > SEVERITY_RANK[open.severity] || change === 'discrete';
  const changed = signal.severity !== open.severity || change !== 'none';
  const due = signal.atMs - open.lastSentAtMs >= config.updateMinIntervalMs;
  if (!changed || !(urgent || due)) return { state };
  return {
    state: {
      episode: state.episode,
      open: { ...open, severity: signal.severity, summary, details: signal.details, lastSentAtMs: signal.atMs },
    },
    transition: transition(key, state.episode, 'update', signal.atMs, signal.severity, summary, signal.details),
  };
}

/**
 * How details changed: `discrete` when a non-numeric value (a list of flags, a name) or the set of keys changed;
 * `numeric` when only numbers moved, one by more than `ratio` of the larger magnitude; otherwise `none`.
 */
export function detailsChange(
  before: Readonly<Record<string, unknown>>,
  after: Readonly<Record<string, unknown>>,
  ratio: number,
): 'none' | 'numeric' | 'discrete' {
  let result: 'none' | 'numeric' = 'none';
  for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[k];
    const b = after[k];
    if (typeof a === 'number' && typeof b === 'number') {
      if (Math.abs(b - a) > ratio * Math.max(Math.abs(a), Math.abs(b))) result = 'numeric';
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      return 'discrete';
    }
  }
  return result;
}

function transition(
  key: AlertKey,
  episode: number,
  state: AlertTransition['state'],
  atMs: number,
  severity: Severity,
  summary: string,
  details: Readonly<Record<string, unknown>>,
): AlertTransition {
  // Field order is the replay output's (CONTRACTS.md §4).
  return {
    alertId: `${key.deviceId}:${key.type}:${episode}`,
    type: key.type,
    deviceId: key.deviceId,
    kind: key.kind,
    state,
    ts: new Date(atMs).toISOString(),
    severity,
    summary,
    details: { ...details },
  };
}
