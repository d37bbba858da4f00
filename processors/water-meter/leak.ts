import { z } from 'zod';
import type { Detector, StepResult } from '../detector.ts';
import type { MeterDerived, WindowPoint } from './model.ts';

/**
 * leak: water never at rest for one continuous hour in the last 24 h (continuous flow).
 *
 * Why: a running toilet or a dripping pipe wastes hundreds of litres a day unnoticed; up to half of households leak
 * some time in a year (WaterSmart). The rule is the meter vendors' own, computed server-side from the index:
 * Kamstrup flowIQ / MULTICAL 21 ("never at rest for one hour in 24 h, clears after 1 h at rest"), Zenner EDC
 * (96 quarter-hours). Night appliances, sprinklers and pool top-ups leave at least one quiet hour a day; a leak
 * does not.
 *
 * Thresholds: "at rest" = the cleaned index unchanged across ≥ `restMinutes` (60) between readings (the model's
 * running max absorbs ±1 L jitter). The alert opens at the first reading with no possible rest hour inside the
 * last `windowHours` (24): more than 24 h − 1 h after the last rest ended (the rest hour must lie in the window, as
 * in Kamstrup's rule). It resolves at the first reading that proves an hour at rest. Estimated leak rate: the lowest
 * flow over any `estimateSpanMinutes` (60) span of the last 24 h, from hourly snapshots of the cleaned index (the
 * leak alone flows in the household's quietest hour). A whole-litre register with ±1 L jitter reads one hour within
 * ±1.45 L, so a 3 L/h leak reads 2–4 L/h; longer spans are steadier but need longer quiet spells. When the alert
 * opens less than 24 h after the leak began (a busy household had no rest before it either), the window still
 * holds pre-leak hours and the first estimate can be low; later signals correct it. While open, each reading signals the current estimate; the
 * lifecycle sends an update only on a material change.
 *
 * Late data and gaps: readings come in event-time order (the engine's reorder buffer); a gap longer than the
 * model's `maxGapMinutes` (180) or a re-baseline (counter reset, new meter) makes rest undecidable, so the 24 h
 * window restarts from that reading: a gap delays a leak alert, never causes one. An open alert stays open through
 * a gap until an hour at rest is seen. Detection limit: about 1 L/h with a clean register, 2 L/h with ±1 L jitter
 * (over one hour the register cannot tell 1 L/h from rest); readings at least every 3 h are needed.
 *
 * State bound: 2 numbers, 1 boolean and at most {@link MAX_SNAPSHOTS} (27) hourly snapshots.
 */

/** Detector name (= alert type). */
export const name = 'leak';

/** Most hourly snapshots kept: 24 h of hours, the one at the window's start and the current hour. */
export const MAX_SNAPSHOTS = 27;

/** leak settings. */
export const configSchema = z
  .strictObject({
    windowHours: z.coerce
      .number()
      .int()
      .min(2)
      .max(72)
      .default(24)
      .describe('Hours without one hour at rest that make a leak (24: Kamstrup flowIQ; Zenner 96 quarter-hours).'),
    restMinutes: z.coerce
      .number()
      .int()
      .min(15)
      .max(240)
      .default(60)
      .describe('Minutes of unchanged index that count as at rest, and that clear a leak (60: Kamstrup flowIQ).'),
    estimateSpanMinutes: z.coerce
      .number()
      .int()
      .min(15)
      .max(720)
      .default(60)
      .describe(
        'Span of the lowest-flow estimate of the leak rate (60: the trailing hour, as the rest rule; a whole-litre ' +
          'register with ±1 L jitter reads a 3 L/h leak as 2–4 L over it).',
      ),
    severity: z
      .enum(['info', 'warning', 'critical'])
      .default('warning')
      .describe('Severity of a leak alert (warning: the resident is told by SMS, no network emergency).'),
  })
  .superRefine((c, ctx) => {
    if (c.restMinutes + c.estimateSpanMinutes > c.windowHours * 60) {
      ctx.addIssue({
        code: 'custom',
        path: ['estimateSpanMinutes'],
        message: `restMinutes (${c.restMinutes}) + estimateSpanMinutes (${c.estimateSpanMinutes}) must fit in windowHours (${c.windowHours} h)`,
      });
    }
  });
/** leak settings. */
export type LeakConfig = z.output<typeof configSchema>;

/** Per-device leak state (JSON-safe, bounded: see the file header). */
export interface LeakState {
  /** Event time the last hour at rest ended (or could have: first reading, gap, re-baseline); null before any. */
  readonly restEndMs: number | null;
  readonly active: boolean;
  /** Event time the open episode's flow began (its `sinceTs`); null when not active. */
  readonly sinceMs: number | null;
  /**
   * `(tsMs, cleanedIndexL)` of the first reading of each clock hour, from the first hour boundary after flow was
   * seen past `restEndMs` (so no span starts in the quiet minutes before the flow), oldest first.
   */
  readonly snapshots: readonly WindowPoint[];
}

const HOUR_MS = 3_600_000;

/** Creates the leak detector for water meters. */
export function create(config: LeakConfig): Detector<LeakState, MeterDerived> {
  const windowMs = config.windowHours * HOUR_MS;
  const restMs = config.restMinutes * 60_000;
  const spanMs = config.estimateSpanMinutes * 60_000;
  return {
    type: 'leak',
    kinds: ['water-meter'],
    initialState: () => ({ restEndMs: null, active: false, sinceMs: null, snapshots: [] }),
    step(state, input): StepResult<LeakState> {
      const d = input.derived;
      const now = input.tsMs;
      const point: WindowPoint = [now, d.cleanedIndexL];
      const atRest = now - d.unchangedSinceMs >= restMs;
      if (atRest || d.first || d.rebaselined || d.gap || state.restEndMs === null) {
        // Rest proven, or undecidable: the window restarts here. Only proven rest clears an open leak.
        const active = state.active && !atRest;
        const next: LeakState = {
          restEndMs: now,
          active,
          sinceMs: active ? state.sinceMs : null,
          snapshots: [],
        };
        return state.active && atRest ? { state: next, signal: { active: false, atMs: now } } : { state: next };
      }
      const flowSeen = state.snapshots.length > 0 || d.unchangedSinceMs > state.restEndMs;
      const snapshots = flowSeen ? addSnapshot(state.snapshots, point, d.intervalMs, windowMs) : state.snapshots;
      if (now - state.restEndMs <= windowMs - restMs) return { state: { ...state, snapshots } };
      const sinceMs = state.active && state.sinceMs !== null ? state.sinceMs : state.restEndMs;
      const estimatedLph = Math.round(lowestFlowLph(snapshots, point, spanMs) * 10) / 10;
      return {
        state: { ...state, active: true, sinceMs, snapshots },
        signal: {
          active: true,
          atMs: now,
          severity: config.severity,
          summary: `Continuous flow for ${config.windowHours} h, about ${estimatedLph} L/h`,
          details: { estimatedLph, sinceTs: new Date(sinceMs).toISOString(), windowHours: config.windowHours },
        },
      };
    },
  };
}

/** Adds the reading as a snapshot when it is the first of its clock hour; keeps the last `windowMs` (bounded). */
function addSnapshot(
  snapshots: readonly WindowPoint[],
  point: WindowPoint,
  intervalMs: number | null,
  windowMs: number,
): readonly WindowPoint[] {
  const hour = Math.floor(point[0] / HOUR_MS);
  const previousMs = snapshots[snapshots.length - 1]?.[0] ?? point[0] - (intervalMs ?? 0);
  if (Math.floor(previousMs / HOUR_MS) === hour) return snapshots;
  const s = [...snapshots, point];
  while (s.length >= 2 && s[1]![0] <= point[0] - windowMs) s.shift();
  while (s.length > MAX_SNAPSHOTS) s.shift();
  return s;
}

/**
 * Lowest mean flow (L/h) over spans of at least `spanMs` between hourly snapshots (hour-aligned spans: a whole-litre
 * register quantises them least). With less history than one span, the mean flow from the first snapshot to now.
 */
function lowestFlowLph(points: readonly WindowPoint[], current: WindowPoint, spanMs: number): number {
  let lowest = Number.POSITIVE_INFINITY;
  let j = 0;
  for (let i = 0; i < points.length; i++) {
    const a = points[i]!;
    if (j <= i) j = i + 1;
    while (j < points.length && points[j]![0] - a[0] < spanMs) j++;
    if (j >= points.length) break;
    const b = points[j]!;
    lowest = Math.min(lowest, ((b[1] - a[1]) * HOUR_MS) / (b[0] - a[0]));
  }
  if (lowest !== Number.POSITIVE_INFINITY) return lowest;
  const first = points[0];
  return first && current[0] > first[0] ? ((current[1] - first[1]) * HOUR_MS) / (current[0] - first[0]) : 0;
}
