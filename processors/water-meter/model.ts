import { z } from 'zod';
import type { Reading } from '../../core/contracts/index.ts';
import type { KindModel } from '../detector.ts';

/**
 * Water-meter model: turns the cumulative register `indexL` (whole litres) into the view every water-meter detector
 * steps on (DOMAIN.md "Water meters").
 *
 * - Cleaned index: the running maximum of the raw index (plus an offset carried across re-baselines), so it never
 *   goes down. Register jitter of ±1 L (100, 101, 100, 101) counts as 1 L once: never backflow, never flow.
 * - `reverseL`: how far the raw index sits below its running maximum (backflow evidence, or jitter when ≤ 1 L).
 * - Gap: more than `maxGapMinutes` (180) since the previous reading; detectors treat what happened inside as unknown.
 * - Re-baseline: the raw index drops by more than `resetDropL` (1000 L: a counter reset or a new meter), or jumps
 *   forward faster than `jumpQ4Multiple` × Q4 (2 × 1.25 × Q3 = 6250 L/h for a DN15 meter, more than it can pass).
 *   The reading carries `rebaselined: true`, a delta of 0 and restarts the window, so no detector raises backflow,
 *   burst or leak from it. Limit: a replacement meter whose index lands within (max − 1000 L, max + plausible flow)
 *   is indistinguishable from backflow or consumption.
 * - Window: recent `(tsMs, cleanedIndexL)` points for trailing flows, at most {@link WINDOW_MAX_POINTS} (32) points
 *   and about {@link WINDOW_MS} (2 h): points closer than 4 min to their predecessor are overwritten by the next
 *   reading, so 1-s readings and hourly readings both fit.
 *
 * Readings arrive deduplicated and in event-time order (the engine's reorder buffer). Anything else is dropped on
 * purpose with a reason (see {@link METER_DROP_REASONS}). State bound: 4 numbers + 32 pairs of numbers, JSON-safe.
 */

/** ISO 4064 / MID: overload flow Q4 is 1.25 × the permanent flow Q3. */
export const Q4_OVER_Q3 = 1.25;
/** How much recent history the window keeps, in ms (2 h: trailing-hour flows need one point at least 1 h old). */
export const WINDOW_MS = 2 * 3_600_000;
/** Most points the window ever holds. */
export const WINDOW_MAX_POINTS = 32;
/** Least spacing between kept window points (the newest excepted), in ms: 2 h over 30 points = 4 min. */
export const WINDOW_MIN_SPACING_MS = WINDOW_MS / (WINDOW_MAX_POINTS - 2);

/** Reasons a reading is dropped on purpose (bounded label set for `processor_events_dropped_total`). */
export const METER_DROP_REASONS = ['missing-indexL', 'invalid-indexL', 'out-of-order', 'duplicate-ts'] as const;
/** A reason a reading is dropped on purpose. */
export type MeterDropReason = (typeof METER_DROP_REASONS)[number];

/** Water-meter model settings. */
export const modelConfigSchema = z.strictObject({
  q3Lph: z.coerce
    .number()
    .positive()
    .max(1_000_000)
    .default(2500)
    .describe('Permanent flow Q3 of the meters in L/h (2500: DN15 domestic meter, EN ISO 4064 / MID Q3 = 2.5 m³/h).'),
  jumpQ4Multiple: z.coerce
    .number()
    .min(1)
    .max(100)
    .default(2)
    .describe(
      'A forward jump implying more than this multiple of Q4 (= 1.25 × Q3, ISO 4064) is a new meter, not flow (2).',
    ),
  resetDropL: z.coerce
    .number()
    .positive()
    .default(1000)
    .describe('A raw index drop of more than this many litres is a counter reset or meter replacement (1000 L).'),
  maxGapMinutes: z.coerce
    .number()
    .positive()
    .default(180)
    .describe(
      'Minutes between two readings beyond which the interval is a gap (180: 12 missed 15-min Kamstrup reports).',
    ),
  jitterL: z.coerce
    .number()
    .min(0)
    .max(10)
    .default(1)
    .describe('Register jitter in litres tolerated on a jump (DOMAIN.md: ±1 L around a reading is normal).'),
});
/** Water-meter model settings. */
export type ModelConfig = z.output<typeof modelConfigSchema>;

/** One window point: event time (epoch ms) and cleaned index (L). */
export type WindowPoint = readonly [tsMs: number, cleanedIndexL: number];

/** Per-device model state (JSON-safe; at most 5 numbers + {@link WINDOW_MAX_POINTS} points). */
export interface MeterState {
  /** Event time of the last accepted reading, or null before the first one. */
  readonly lastTsMs: number | null;
  /** Running maximum of the raw index since the last baseline, L. */
  readonly rawMaxL: number;
  /** Added to `rawMaxL` to give the cleaned index, so it stays monotone across re-baselines, L. */
  readonly offsetL: number;
  /** Event time of the reading at which the cleaned index reached its current value. */
  readonly unchangedSinceMs: number;
  readonly window: readonly WindowPoint[];
}

/** What the model derives from one reading, for the water-meter detectors. */
export interface MeterDerived {
  /** The index as read, L. */
  readonly rawIndexL: number;
  /** Monotone consumption index, L (running max of the raw index, continued across re-baselines). */
  readonly cleanedIndexL: number;
  /** Cleaned litres since the previous reading (0 on the first reading and on a re-baseline). */
  readonly deltaL: number;
  /** Milliseconds since the previous accepted reading; null on the first reading. */
  readonly intervalMs: number | null;
  /** Mean flow over the interval, L/h; null on the first reading and on a re-baseline. */
  readonly flowLph: number | null;
  /** Running max minus raw index, L (≥ 0): ≤ 1 L is jitter, more is reverse flow. */
  readonly reverseL: number;
  /** The interval exceeds `maxGapMinutes`: what happened inside it is unknown. */
  readonly gap: boolean;
  /** First reading of the device: nothing to compare with. */
  readonly first: boolean;
  /** Counter reset or meter replacement: this reading starts a new baseline. */
  readonly rebaselined: boolean;
  readonly rebaselineReason: 'counter-drop' | 'forward-jump' | null;
  /** Event time of the reading at which the cleaned index reached its current value. */
  readonly unchangedSinceMs: number;
  /** Recent `(tsMs, cleanedIndexL)` points, oldest first, ending with this reading. */
  readonly window: readonly WindowPoint[];
  /** The meters' permanent flow Q3, L/h (from the model's config). */
  readonly q3Lph: number;
}

/** Creates the water-meter model (config parsed by {@link modelConfigSchema}). */
export function waterMeterModel(config: ModelConfig): KindModel<MeterState, MeterDerived> {
  const maxGapMs = config.maxGapMinutes * 60_000;
  const maxPlausibleLph = config.jumpQ4Multiple * Q4_OVER_Q3 * config.q3Lph;
  return {
    kind: 'water-meter',
    initialState: () => ({ lastTsMs: null, rawMaxL: 0, offsetL: 0, unchangedSinceMs: 0, window: [] }),
    derive(state, reading: Reading, tsMs) {
      const raw = reading.metrics.indexL;
      if (raw === undefined) return { state, drop: 'missing-indexL' satisfies MeterDropReason };
      if (!(raw >= 0)) return { state, drop: 'invalid-indexL' satisfies MeterDropReason };
      if (state.lastTsMs === null) {
        const next: MeterState = {
          lastTsMs: tsMs,
          rawMaxL: raw,
          offsetL: 0,
          unchangedSinceMs: tsMs,
          window: [[tsMs, raw]],
        };
        return {
          state: next,
          derived: baseDerived(raw, raw, null, tsMs, next.window, config.q3Lph, { first: true }),
        };
      }
      if (tsMs < state.lastTsMs) return { state, drop: 'out-of-order' satisfies MeterDropReason };
      if (tsMs === state.lastTsMs) return { state, drop: 'duplicate-ts' satisfies MeterDropReason };

      const intervalMs = tsMs - state.lastTsMs;
      const gap = intervalMs > maxGapMs;
      const prevCleaned = state.rawMaxL + state.offsetL;
      const plausibleL = (maxPlausibleLph * intervalMs) / 3_600_000 + 2 * config.jitterL;
      const reason =
        state.rawMaxL - raw > config.resetDropL
          ? 'counter-drop'
          : raw - state.rawMaxL > plausibleL
            ? 'forward-jump'
            : null;
      if (reason !== null) {
        // Carry the cleaned index over unchanged: what was used across the swap is unknown, so count nothing.
        const next: MeterState = {
          lastTsMs: tsMs,
          rawMaxL: raw,
          offsetL: prevCleaned - raw,
          unchangedSinceMs: tsMs,
          window: [[tsMs, prevCleaned]],
        };
        return {
          state: next,
          derived: baseDerived(raw, prevCleaned, intervalMs, tsMs, next.window, config.q3Lph, {
            gap,
            rebaselineReason: reason,
          }),
        };
      }
      const rawMaxL = Math.max(state.rawMaxL, raw);
      const cleaned = rawMaxL + state.offsetL;
      const deltaL = cleaned - prevCleaned;
      const next: MeterState = {
        lastTsMs: tsMs,
        rawMaxL,
        offsetL: state.offsetL,
        unchangedSinceMs: deltaL > 0 ? tsMs : state.unchangedSinceMs,
        window: pushPoint(state.window, [tsMs, cleaned]),
      };
      return {
        state: next,
        derived: {
          rawIndexL: raw,
          cleanedIndexL: cleaned,
          deltaL,
          intervalMs,
          flowLph: (deltaL * 3_600_000) / intervalMs,
          reverseL: rawMaxL - raw,
          gap,
          first: false,
          rebaselined: false,
          rebaselineReason: null,
          unchangedSinceMs: next.unchangedSinceMs,
          window: next.window,
          q3Lph: config.q3Lph,
        },
      };
    },
  };
}

function baseDerived(
  raw: number,
  cleaned: number,
  intervalMs: number | null,
  tsMs: number,
  window: readonly WindowPoint[],
  q3Lph: number,
  opts: { first?: boolean; gap?: boolean; rebaselineReason?: 'counter-drop' | 'forward-jump' },
): MeterDerived {
  return {
    rawIndexL: raw,
    cleanedIndexL: cleaned,
    deltaL: 0,
    intervalMs,
    flowLph: null,
    reverseL: 0,
    gap: opts.gap ?? false,
    first: opts.first ?? false,
    rebaselined: opts.rebaselineReason !== undefined,
    rebaselineReason: opts.rebaselineReason ?? null,
    unchangedSinceMs: tsMs,
    window,
    q3Lph,
  };
}

/** Appends a point to a window, keeping it within {@link WINDOW_MAX_POINTS} points and about {@link WINDOW_MS}. */
export function pushPoint(window: readonly WindowPoint[], point: WindowPoint): WindowPoint[] {
  const w = window.slice();
  const n = w.length;
  // The previous newest point is replaced when it sits too close to its predecessor: all points but the newest
  // are then at least WINDOW_MIN_SPACING_MS apart.
  if (n >= 2 && w[n - 1]![0] - w[n - 2]![0] < WINDOW_MIN_SPACING_MS) w[n - 1] = point;
  else w.push(point);
  // Keep exactly one point at or before (now − WINDOW_MS), so a span of WINDOW_MS stays computable.
  while (w.length >= 2 && w[1]![0] <= point[0] - WINDOW_MS) w.shift();
  while (w.length > WINDOW_MAX_POINTS) w.shift();
  return w;
}

/**
 * Mean flow in L/h from the newest window point back to the newest point at least `spanMs` older, or null when the
 * window does not reach that far back. Also returns that anchor point.
 */
export function trailingFlow(
  window: readonly WindowPoint[],
  spanMs: number,
): { flowLph: number; anchor: WindowPoint } | null {
  const newest = window[window.length - 1];
  if (!newest) return null;
  for (let i = window.length - 2; i >= 0; i--) {
    const p = window[i]!;
    if (p[0] <= newest[0] - spanMs) {
      return { flowLph: ((newest[1] - p[1]) * 3_600_000) / (newest[0] - p[0]), anchor: p };
    }
  }
  return null;
}
