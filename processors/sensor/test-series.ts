import type { Reading } from '../../core/contracts/index.ts';
import { Random } from '../../simulators/random.ts';
import type { Detector, Signal } from '../detector.ts';

/**
 * Constructed sensor series with known anomalies, for the anomaly detector's tests and its README figures.
 * A clean series is level + trend + daily shape (two harmonics, peak in the afternoon, local time = UTC here) +
 * a weekend offset + seeded normal noise; anomalies are added on top, each with the window in which an alert
 * is expected (`[startMs, endMs]`) and how long after its end an alert still belongs to it (`settleMs`).
 */

/** One minute, ms. */
export const MIN_MS = 60_000;
/** One hour, ms. */
export const HOUR_MS = 3_600_000;
/** One day, ms. */
export const DAY_MS = 86_400_000;
/** Start of every constructed series: Monday 2 March 2026, 00:00 UTC. */
export const T0_MS = Date.UTC(2026, 2, 2);

/** An injected anomaly. Magnitudes are in noise standard deviations. */
export type Injection =
  | { readonly type: 'spike'; readonly atDays: number; readonly sd: number }
  | { readonly type: 'shift'; readonly atDays: number; readonly sd: number }
  | { readonly type: 'drift'; readonly atDays: number; readonly hours: number; readonly sd: number }
  | { readonly type: 'phase'; readonly atDays: number; readonly hours: number }
  | { readonly type: 'amplitude'; readonly atDays: number; readonly factor: number }
  | { readonly type: 'flat'; readonly atDays: number; readonly hours: number };

/** Shape of a constructed series. */
export interface SeriesSpec {
  readonly seed: string;
  readonly days: number;
  readonly intervalMinutes: number;
  /** Each interval is drawn uniformly in [1 − jitter, 1 + jitter] × intervalMinutes (irregular sampling). */
  readonly jitter?: number;
  readonly level?: number;
  readonly dailyAmplitude?: number;
  readonly weekendOffset?: number;
  readonly trendPerDay?: number;
  readonly noiseSd?: number;
  /** Gaps: no reading in [fromDays, toDays). */
  readonly gaps?: ReadonlyArray<readonly [number, number]>;
  readonly injections?: readonly Injection[];
}

/** One constructed reading. */
export interface Point {
  readonly tsMs: number;
  readonly value: number;
}

/** Where an alert for an injection is expected. */
export interface Truth {
  readonly type: Injection['type'];
  readonly startMs: number;
  readonly endMs: number;
  /** An alert opening up to endMs + settleMs still belongs to it (re-learning after a permanent change). */
  readonly settleMs: number;
}

function shape(tsMs: number, amplitude: number, phaseHours = 0): number {
  const h = ((((tsMs - T0_MS) / HOUR_MS - phaseHours) % 24) + 24) % 24;
  return amplitude * (Math.sin((2 * Math.PI * (h - 9)) / 24) + 0.3 * Math.sin((4 * Math.PI * h) / 24));
}

/** Builds a series and the truth of its injections. */
export function buildSeries(spec: SeriesSpec): { points: Point[]; truth: Truth[] } {
  const rnd = new Random(spec.seed);
  const sd = spec.noiseSd ?? 1;
  const level = spec.level ?? 100;
  const amp = spec.dailyAmplitude ?? 10;
  const weekend = spec.weekendOffset ?? -4;
  const trend = spec.trendPerDay ?? 0.05;
  const jitter = spec.jitter ?? 0;
  const inj = spec.injections ?? [];
  const endMs = T0_MS + spec.days * DAY_MS;
  const points: Point[] = [];
  let flatValue: number | null = null;
  for (let t = T0_MS; t < endMs; ) {
    const days = (t - T0_MS) / DAY_MS;
    const inGap = (spec.gaps ?? []).some(([a, b]) => days >= a && days < b);
    if (!inGap) {
      const dow = Math.floor(days) % 7; // 0 = Monday
      let ampNow = amp;
      let phase = 0;
      let add = 0;
      let flat = false;
      for (const a of inj) {
        if (days < a.atDays) continue;
        const sinceH = (days - a.atDays) * 24;
        if (a.type === 'spike' && t - (T0_MS + a.atDays * DAY_MS) < spec.intervalMinutes * MIN_MS * (1 + jitter)) {
          add += a.sd * sd;
        } else if (a.type === 'shift') add += a.sd * sd;
        else if (a.type === 'drift' && sinceH < a.hours) add += (a.sd * sd * sinceH) / a.hours;
        else if (a.type === 'phase') phase = a.hours;
        else if (a.type === 'amplitude') ampNow = amp * a.factor;
        else if (a.type === 'flat' && sinceH < a.hours) flat = true;
      }
      let value = level + trend * days + shape(t, ampNow, phase) + (dow >= 5 ? weekend : 0) + add + rnd.normal(0, sd);
      if (flat) {
        flatValue ??= points.length > 0 ? (points[points.length - 1] as Point).value : value;
        value = flatValue;
      } else flatValue = null;
      points.push({ tsMs: t, value: Math.round(value * 1000) / 1000 });
    }
    const step = spec.intervalMinutes * MIN_MS * (jitter > 0 ? rnd.uniform(1 - jitter, 1 + jitter) : 1);
    t += Math.round(step);
  }
  const truth = inj.map((a): Truth => {
    const startMs = T0_MS + a.atDays * DAY_MS;
    switch (a.type) {
      case 'spike':
        return { type: a.type, startMs, endMs: startMs + HOUR_MS, settleMs: 0 };
      case 'shift':
        return { type: a.type, startMs, endMs: startMs + 6 * HOUR_MS, settleMs: 3 * DAY_MS };
      case 'drift':
        return { type: a.type, startMs, endMs: startMs + a.hours * HOUR_MS, settleMs: 3 * DAY_MS };
      case 'phase':
      case 'amplitude':
        return { type: a.type, startMs, endMs: startMs + DAY_MS, settleMs: 7 * DAY_MS };
      default:
        return { type: a.type, startMs, endMs: startMs + a.hours * HOUR_MS, settleMs: HOUR_MS };
    }
  });
  return { points, truth };
}

/** Sensor readings of one device carrying the points as `metric`. */
export function toReadings(points: readonly Point[], metric = 'levelM', deviceId = 'SN-0001'): Reading[] {
  return points.map((p) => ({
    deviceId,
    kind: 'sensor',
    ts: new Date(p.tsMs).toISOString(),
    metrics: { [metric]: p.value },
  }));
}

/** An alert episode: when it opened and closed (null while open), and its first active signal's details. */
export interface Episode {
  readonly openMs: number;
  readonly closeMs: number | null;
  readonly summary: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/** Runs a detector over readings, as the engine would (one state per device), and folds its signals into episodes. */
export function runEpisodes<S>(detector: Detector<S>, readings: readonly Reading[]): { episodes: Episode[]; state: S } {
  let state = detector.initialState();
  const episodes: Episode[] = [];
  let open: { openMs: number; summary: string; details: Readonly<Record<string, unknown>> } | null = null;
  for (const reading of readings) {
    const result = detector.step(state, { reading, tsMs: Date.parse(reading.ts), derived: undefined });
    state = result.state;
    const signal: Signal | undefined = result.signal;
    if (!signal) continue;
    if (signal.active && !open) open = { openMs: signal.atMs, summary: signal.summary, details: signal.details };
    else if (!signal.active && open) {
      episodes.push({ ...open, closeMs: signal.atMs });
      open = null;
    }
  }
  if (open) episodes.push({ ...open, closeMs: null });
  return { episodes, state };
}

/** Scores episodes against the truth: recall, precision and each detected injection's time to detect. */
export function score(
  episodes: readonly Episode[],
  truth: readonly Truth[],
): { detected: number; injected: number; truePositives: number; episodes: number; delaysMs: number[] } {
  let detected = 0;
  const delaysMs: number[] = [];
  for (const t of truth) {
    const hit = episodes.find((e) => e.openMs >= t.startMs && e.openMs <= t.endMs);
    if (hit) {
      detected++;
      delaysMs.push(hit.openMs - t.startMs);
    }
  }
  const truePositives = episodes.filter((e) =>
    truth.some((t) => e.openMs >= t.startMs && e.openMs <= t.endMs + t.settleMs),
  ).length;
  return { detected, injected: truth.length, truePositives, episodes: episodes.length, delaysMs };
}
