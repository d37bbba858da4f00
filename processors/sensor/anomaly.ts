import { z } from 'zod';
import { createLocalCalendar } from '../../core/local-time.ts';
import type { Detector, StepResult } from '../detector.ts';
import { newSeries, type SeriesParams, type SeriesState, stepSeries } from './series.ts';

/**
 * anomaly: a `sensor` metric (river level, air quality, noise, Wi-Fi clients, …) behaving unlike its own past.
 *
 * Why: the city's generic sensors have no vendor flags and no labels; their faults (spikes, drifts, level shifts,
 * a changed daily pattern, a stuck sensor) show only against what the series usually does at that hour and day.
 * Method (README.md, series.ts): per (device, metric) an online robust seasonal baseline (fast level + slow level,
 * hour-of-day profile, day-of-week offsets), a robust hour-of-day scale, and three scores — point (|z| against a
 * threshold that adapts to the series' own tail), shift/drift (capped CUSUM) and flat-line — combined as their
 * maximum; ≥ 1 is anomalous. Thresholds: `pointTailFactor` (2) × the series' running 99th percentile of |z| (floor
 * `minPointZ` 4), CUSUM `cusumThresholdZ` (10, slack 0.5, one increment per 15 min), flat-line ≥ `flatLineMinutes`
 * (120) and ≥ `flatSurpriseNats` (30). No score during `warmupDays` (8).
 *
 * One alert per episode: a series opens at score ≥ 1, stays open while ≥ `closeScoreRatio` (0.7), and closes
 * after `coolDownMinutes` (240) without it; a shift or changed pattern still open after `acceptAfterHours` (12) is
 * accepted as the new normal (its profile re-learnt from the next day, no score for `relearnHours`, 24). A flat
 * line is never accepted. The device's alert is active while any of its metrics is in an episode, and held open
 * `alertHoldMinutes` (240) after the last one closed and while a series re-learns an accepted change (a burst of
 * spikes, or a drift that re-opens once re-learnt, is one alert); its details name the open metrics (`metrics`) and
 * the first one to open (`metric`, its cause and numbers).
 *
 * Late data: none of its own (the engine orders readings; an equal timestamp is a duplicate). Gaps longer than
 * `gapResetHours` (6) reset the CUSUM and the flat run. State: at most `maxSeriesPerDevice` (16) series of ≈ 1.6 KiB
 * of JSON each, fixed whatever the stream's length; values of metrics beyond the cap are counted in `skippedValues`.
 */

/** Detector name (= alert type). */
export const name = 'anomaly';

const MAX_METRICS_PER_DEVICE = 64;

/** anomaly settings. */
export const configSchema = z
  .strictObject({
    timeZone: z
      .string()
      .min(1)
      .default('Europe/Paris')
      .describe('IANA time zone of the daily and weekly profiles (human activity follows local time; Mulhouse).'),
    warmupDays: z.coerce
      .number()
      .min(0)
      .max(60)
      .default(8)
      .describe('Days a series learns before it may alert (8: every day of the week seen once after day one).'),
    warmupReadings: z.coerce
      .number()
      .int()
      .min(2)
      .default(50)
      .describe('Least readings a series learns from before it may alert, whatever warmupDays says.'),
    levelHalfLifeHours: z.coerce
      .number()
      .positive()
      .default(6)
      .describe('Half-life of the level, hours: slow trends are tracked, a step or drift stands out for hours.'),
    profileHalfLifeDays: z.coerce
      .number()
      .min(1)
      .default(7)
      .describe('Half-life of the hour-of-day profile and of the repeat probabilities, days of that hour.'),
    weeklyHalfLifeWeeks: z.coerce.number().min(1).default(4).describe('Half-life of the day-of-week offsets, weeks.'),
    scaleHalfLifeDays: z.coerce
      .number()
      .min(0.25)
      .default(3)
      .describe('Half-life of the hour-of-day robust scale (mean absolute residual), days of that hour.'),
    pointTailFactor: z.coerce
      .number()
      .min(1)
      .default(2)
      .describe("Point threshold = this × the series' running 99th percentile of |z| (2: ≈ 5.2 sd if normal)."),
    minPointZ: z.coerce
      .number()
      .positive()
      .default(4)
      .describe('Least point threshold in scales, however light-tailed the series looks.'),
    cusumSlackZ: z.coerce
      .number()
      .min(0)
      .default(0.5)
      .describe('CUSUM slack (k) in scales: shifts smaller than about twice this are not accumulated.'),
    cusumThresholdZ: z.coerce
      .number()
      .positive()
      .default(10)
      .describe('CUSUM threshold (h) in scales: a 3-scale shift opens in about 4 readings, 1.5 in about 10.'),
    cusumStepMinutes: z.coerce
      .number()
      .positive()
      .default(15)
      .describe('Event time one CUSUM increment stands for, minutes: faster readings count for a share of one.'),
    flatLineMinutes: z.coerce
      .number()
      .positive()
      .default(120)
      .describe('Least minutes of repeated identical values before a flat line can open.'),
    flatSurpriseNats: z.coerce
      .number()
      .positive()
      .default(30)
      .describe('Surprise (nats, −Σ ln P(repeat at that hour)) a flat run must reach: ≈ 1e-13 by chance.'),
    closeScoreRatio: z.coerce
      .number()
      .gt(0)
      .max(1)
      .default(0.7)
      .describe('Hysteresis: an open episode counts a reading as anomalous down to this score.'),
    coolDownMinutes: z.coerce
      .number()
      .min(0)
      .default(240)
      .describe(
        'An episode closes after this many minutes without an anomalous reading (240: spikes over a few hours merge).',
      ),
    acceptAfterHours: z.coerce
      .number()
      .positive()
      .default(12)
      .describe('A shift or changed pattern open this long is accepted as the new normal (not flat lines).'),
    relearnHours: z.coerce
      .number()
      .min(0)
      .default(24)
      .describe('Hours a series re-learns, without scores, after a change was accepted.'),
    gapResetHours: z.coerce
      .number()
      .positive()
      .default(6)
      .describe('A gap in a series longer than this resets its CUSUM and flat run (the model is kept).'),
    maxSeriesPerDevice: z.coerce
      .number()
      .int()
      .min(1)
      .max(MAX_METRICS_PER_DEVICE)
      .default(16)
      .describe('Most metrics tracked per device (the first seen); ≈ 2 KiB of state each. Devices have ≤ 64.'),
    ignoreMetrics: z
      .array(z.string())
      .default(['batteryPct'])
      .describe('Metrics never modelled (battery has its own detector).'),
    criticalScore: z.coerce
      .number()
      .min(1)
      .default(3)
      .describe('An episode whose peak score reaches this is critical; below, warning.'),
    alertHoldMinutes: z.coerce
      .number()
      .min(0)
      .max(7 * 24 * 60)
      .default(240)
      .describe(
        "The device's alert stays open this long after its last episode closed, and while a series re-learns an accepted change (one alert per anomalous episode of the device).",
      ),
  })
  .superRefine((c, ctx) => {
    try {
      createLocalCalendar(c.timeZone);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `timeZone is not an IANA zone: ${c.timeZone}` });
    }
    if (c.acceptAfterHours * 60 <= c.coolDownMinutes) {
      ctx.addIssue({
        code: 'custom',
        path: ['acceptAfterHours'],
        message: `acceptAfterHours (${c.acceptAfterHours} h) must exceed coolDownMinutes (${c.coolDownMinutes} min)`,
      });
    }
  });
/** anomaly settings. */
export type AnomalyConfig = z.output<typeof configSchema>;

/** Per-device state: one model per tracked metric, and how many values of untracked metrics were skipped. */
export interface AnomalyState {
  readonly series: Readonly<Record<string, SeriesState>>;
  readonly skippedValues: number;
  /** The device's alert is open (absent in states saved before the hold existed). */
  readonly alertOpen?: boolean;
  /** Last event time a series of the device was in an episode, ms. */
  readonly lastEpisodeMs?: number | null;
}

const HOUR_MS = 3_600_000;

/** The series parameters of a config. */
export function seriesParams(c: AnomalyConfig): SeriesParams {
  return {
    warmupMs: c.warmupDays * 24 * HOUR_MS,
    warmupReadings: c.warmupReadings,
    levelHalfLifeMs: c.levelHalfLifeHours * HOUR_MS,
    profileHalfLifeDays: c.profileHalfLifeDays,
    weeklyHalfLifeWeeks: c.weeklyHalfLifeWeeks,
    scaleHalfLifeDays: c.scaleHalfLifeDays,
    pointTailFactor: c.pointTailFactor,
    minPointZ: c.minPointZ,
    cusumSlackZ: c.cusumSlackZ,
    cusumThresholdZ: c.cusumThresholdZ,
    cusumStepMs: c.cusumStepMinutes * 60_000,
    flatLineMs: c.flatLineMinutes * 60_000,
    flatSurpriseNats: c.flatSurpriseNats,
    closeScoreRatio: c.closeScoreRatio,
    coolDownMs: c.coolDownMinutes * 60_000,
    acceptAfterMs: c.acceptAfterHours * HOUR_MS,
    relearnMs: c.relearnHours * HOUR_MS,
    gapResetMs: c.gapResetHours * HOUR_MS,
  };
}

/** Four significant digits, for alert details and summaries. */
const sig = (v: number) => Number(v.toPrecision(4));

/** Creates the anomaly detector for `sensor` devices. */
export function create(config: AnomalyConfig): Detector<AnomalyState> {
  const p = seriesParams(config);
  const ignored = new Set(config.ignoreMetrics);
  const calendar = config.timeZone === 'UTC' ? null : createLocalCalendar(config.timeZone);
  const SKIPPED_MAX = Number.MAX_SAFE_INTEGER;
  const holdMs = config.alertHoldMinutes * 60_000;
  return {
    type: 'anomaly',
    kinds: ['sensor'],
    initialState: () => ({ series: {}, skippedValues: 0 }),
    step(state, input): StepResult<AnomalyState> {
      const { tsMs } = input;
      const localMs = calendar ? tsMs + calendar.offsetMs(tsMs) : tsMs;
      const series: Record<string, SeriesState> = { ...state.series };
      let tracked = Object.keys(series).length;
      let skipped = state.skippedValues;
      let wasInEpisode = false;
      for (const s of Object.values(state.series)) if (s.ep) wasInEpisode = true;
      const alertOpen = state.alertOpen ?? wasInEpisode;
      for (const [metric, value] of Object.entries(input.reading.metrics)) {
        if (ignored.has(metric)) continue;
        const before = series[metric];
        if (before === undefined) {
          if (tracked >= config.maxSeriesPerDevice) {
            skipped = Math.min(skipped + 1, SKIPPED_MAX);
            continue;
          }
          series[metric] = newSeries(value, tsMs, localMs, p);
          tracked++;
          continue;
        }
        if (tsMs <= before.t) continue; // a metric missing then back cannot go back in time; the engine orders
        series[metric] = stepSeries(before, value, tsMs, localMs, p).state;
      }
      const open = Object.entries(series)
        .filter(([, s]) => s.ep !== null)
        .sort(([a, sa], [b, sb]) => (sa.ep?.since ?? 0) - (sb.ep?.since ?? 0) || (a < b ? -1 : 1));
      const lastEpisodeMs = open.length > 0 ? tsMs : (state.lastEpisodeMs ?? (wasInEpisode ? tsMs : null));
      if (open.length === 0) {
        // Held: a spike burst, a drift that re-opens after its re-learning, are one alert of the device.
        const relearning = Object.values(series).some((s) => s.learnUntil > tsMs);
        const held = alertOpen && (relearning || tsMs - (lastEpisodeMs ?? tsMs) < holdMs);
        const next: AnomalyState = { series, skippedValues: skipped, alertOpen: held, lastEpisodeMs };
        return alertOpen && !held ? { state: next, signal: { active: false, atMs: tsMs } } : { state: next };
      }
      const next: AnomalyState = { series, skippedValues: skipped, alertOpen: true, lastEpisodeMs };
      const [metric, first] = open[0] as [string, SeriesState];
      const ep = first.ep as NonNullable<SeriesState['ep']>;
      let peak = 0;
      for (const [, s] of open) peak = Math.max(peak, s.ep?.peak ?? 0);
      const others = open.length - 1;
      const tail = others > 0 ? ` (+${others} other metric${others > 1 ? 's' : ''})` : '';
      const summary =
        ep.cause === 'flat'
          ? `${metric} stuck at ${sig(ep.x)} for ${Math.round((first.t - (first.ft >= 0 ? first.ft : ep.since)) / 60_000)} min where it usually varies${tail}`
          : `${metric} ${sig(ep.x)} is ${sig(Math.abs(ep.z))} scales ${ep.z >= 0 ? 'above' : 'below'} its usual ${sig(ep.e)} at this hour${tail}`;
      return {
        state: next,
        signal: {
          active: true,
          atMs: tsMs,
          severity: peak >= config.criticalScore ? 'critical' : 'warning',
          summary,
          details: {
            metric,
            cause: ep.cause,
            observed: sig(ep.x),
            expected: sig(ep.e),
            scales: sig(ep.z),
            score: sig(ep.s),
            peakScore: sig(peak),
            metrics: open.map(([m]) => m).sort(),
          },
        },
      };
    },
  };
}
