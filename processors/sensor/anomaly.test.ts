import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { createEngine } from '../engine.ts';
import { type AnomalyState, configSchema, create, name } from './anomaly.ts';
import {
  buildSeries,
  DAY_MS,
  HOUR_MS,
  type Injection,
  MIN_MS,
  runEpisodes,
  type SeriesSpec,
  score,
  T0_MS,
  toReadings,
} from './test-series.ts';

const detector = create(configSchema.parse({ timeZone: 'UTC' }));
const days = (ms: number) => (ms - T0_MS) / DAY_MS;
const at = (d: number) => T0_MS + d * DAY_MS;
/** A clean series: level 100, daily amplitude 10, weekend −4, trend +0.05/day, noise sd 1, every 15 min. */
const CLEAN: SeriesSpec = { seed: 'clean', days: 30, intervalMinutes: 15 };
const run = (spec: Partial<SeriesSpec>, injections: Injection[] = []) =>
  runEpisodes(detector, toReadings(buildSeries({ ...CLEAN, ...spec, injections }).points));

describe('anomaly', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('anomaly');
    const c = configSchema.parse({});
    expect(c).toMatchObject({
      timeZone: 'Europe/Paris',
      warmupDays: 8,
      levelHalfLifeHours: 6,
      pointTailFactor: 2,
      cusumThresholdZ: 10,
      coolDownMinutes: 240,
      alertHoldMinutes: 240,
      acceptAfterHours: 12,
      maxSeriesPerDevice: 16,
      ignoreMetrics: ['batteryPct'],
    });
    expect(detector.type).toBe('anomaly');
    expect(detector.kinds).toEqual(['sensor']);
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ warmupDays: -1 }, 'warmupDays'],
      [{ maxSeriesPerDevice: 65 }, 'maxSeriesPerDevice'],
      [{ closeScoreRatio: 1.5 }, 'closeScoreRatio'],
      [{ timeZone: 'Mars/Olympus' }, 'timeZone'],
      [{ coolDownMinutes: 'soon' }, 'coolDownMinutes'],
      [{ coolDownMinute: 60 }, 'coolDownMinute'],
      [{ acceptAfterHours: 1, coolDownMinutes: 90 }, 'acceptAfterHours'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain(key);
    }
  });

  it('stays silent on a clean daily + weekly seasonal series with noise and a slow trend when run for 30 days', () => {
    for (const seed of ['a', 'b', 'c', 'd']) {
      expect(run({ seed }).episodes, seed).toEqual([]);
      expect(run({ seed, intervalMinutes: 5, noiseSd: 3, dailyAmplitude: 40, trendPerDay: 0.3 }).episodes).toEqual([]);
    }
  });

  it('stays silent when sampling is irregular or the series has gaps', () => {
    expect(run({ seed: 'irregular', jitter: 0.6 }).episodes).toEqual([]);
    expect(run({ seed: 'hourly', intervalMinutes: 60, noiseSd: 2 }).episodes).toEqual([]);
    expect(run({ seed: 'gap', gaps: [[12.3, 14.1]] }).episodes).toEqual([]);
    expect(
      run({
        seed: 'short gaps',
        gaps: [
          [9.5, 9.6],
          [15, 15.25],
          [20.9, 21],
        ],
      }).episodes,
    ).toEqual([]);
  });

  it('opens at the spike and resolves one cool-down and the hold later when one reading jumps', () => {
    // A 12-sd spike at day 10.5 (Thursday 12:00, on the 15-min grid): the reading itself opens; the series' episode
    // closes at the reading 240 min later (cool-down; its last reading in the episode is at +225 min); the device's
    // alert is held 240 min after that: resolved at +465 min.
    const { episodes } = run({}, [{ type: 'spike', atDays: 10.5, sd: 12 }]);
    expect(episodes).toHaveLength(1);
    const [e] = episodes;
    expect(e?.openMs).toBe(at(10.5));
    expect(e?.closeMs).toBe(at(10.5) + (225 + 240) * MIN_MS);
    expect(e?.summary).toMatch(/^levelM \d+(\.\d+)? is \d+(\.\d+)? scales above its usual \d+(\.\d+)? at this hour$/);
    expect(e?.details).toMatchObject({ metric: 'levelM', cause: 'point', metrics: ['levelM'] });
  });

  it('raises one alert for two spikes within the cool-down', () => {
    const { episodes } = run({}, [
      { type: 'spike', atDays: 10.5, sd: -12 },
      { type: 'spike', atDays: 10.5 + 30 / 1440, sd: 12 },
    ]);
    // One alert. The second spike (+30 min) restarts the cool-down; its clipped +3 scales stay in the CUSUM, which
    // the afternoon's upward residuals take to the hold level (7) at 10.69–10.72 d; then cool-down and hold: the
    // alert closes before the next day.
    expect(episodes).toHaveLength(1);
    expect(days(episodes[0]?.openMs ?? 0)).toBe(10.5);
    expect(days(episodes[0]?.closeMs ?? 0)).toBeGreaterThanOrEqual(10.5 + (255 + 240) / 1440);
    expect(days(episodes[0]?.closeMs ?? 0)).toBeLessThan(11.1);
    expect(episodes[0]?.summary).toContain('below');
  });

  it('opens within an hour of a level shift, then accepts the new level and stays quiet', () => {
    const { episodes } = run({}, [{ type: 'shift', atDays: 12.25, sd: 6 }]);
    expect(episodes).toHaveLength(1);
    const [e] = episodes;
    expect((e?.openMs ?? 0) - at(12.25)).toBeLessThanOrEqual(HOUR_MS);
    // Accepted after acceptAfterHours (12 h) open: the series' episode closes then and it re-learns for 24 h
    // (relearnHours), through which the device's alert is held; resolved once re-learnt, 36–37 h after it opened
    // (the first reading past the re-learning), and no alert for the 16 days that follow.
    expect((e?.closeMs ?? 0) - (e?.openMs ?? 0)).toBeGreaterThanOrEqual(36 * HOUR_MS);
    expect((e?.closeMs ?? 0) - (e?.openMs ?? 0)).toBeLessThanOrEqual(37 * HOUR_MS);
    expect(e?.details).toMatchObject({ cause: 'shift' });
  });

  it('opens during a drift before it reaches 5 sd', () => {
    // +8 sd over 12 h, then back (recalibrated): open before 7.5 h (5 sd).
    const { episodes } = run({}, [{ type: 'drift', atDays: 11.2, hours: 12, sd: 8 }]);
    expect(episodes.length).toBeGreaterThanOrEqual(1);
    const delayMs = (episodes[0]?.openMs ?? 0) - at(11.2);
    expect(delayMs).toBeGreaterThan(0);
    expect(delayMs).toBeLessThan(7.5 * HOUR_MS);
    expect(episodes.every((e) => e.openMs >= at(11.2) && e.openMs <= at(11.2) + DAY_MS)).toBe(true);
  });

  it('opens when the daily profile shifts phase or amplitude, and settles within a week', () => {
    for (const injection of [
      { type: 'phase', atDays: 16, hours: 6 },
      { type: 'amplitude', atDays: 16, factor: 2.5 },
    ] as const) {
      const { episodes } = run({}, [injection]);
      expect(episodes.length, injection.type).toBeGreaterThanOrEqual(1);
      expect((episodes[0]?.openMs ?? 0) - at(16), injection.type).toBeLessThan(6 * HOUR_MS);
      expect(
        episodes.every((e) => e.openMs >= at(16) && e.openMs < at(23)),
        injection.type,
      ).toBe(true);
    }
  });

  it('opens a flat line after 2 h of repeated values and resolves 8 h after the series moves again', () => {
    // A series without a daily cycle (so only the flat-line score can see it): the value sticks from the reading
    // at 20.5 d − 15 min; a run of ≥ 120 min and ≥ 30 nats opens it.
    const { episodes } = run({ dailyAmplitude: 0 }, [{ type: 'flat', atDays: 20.5, hours: 8 }]);
    expect(episodes).toHaveLength(1);
    const [e] = episodes;
    expect((e?.openMs ?? 0) - at(20.5)).toBe(105 * MIN_MS);
    expect(e?.details).toMatchObject({ cause: 'flat' });
    expect(e?.summary).toMatch(/^levelM stuck at [\d.]+ for 120 min where it usually varies$/);
    // It moves again at 20.5 d + 8 h; resolved after the cool-down (240 min) and the hold (240 min), within a reading.
    expect((e?.closeMs ?? 0) - (at(20.5) + 8 * HOUR_MS)).toBeGreaterThanOrEqual(465 * MIN_MS);
    expect((e?.closeMs ?? 0) - (at(20.5) + 8 * HOUR_MS)).toBeLessThanOrEqual(495 * MIN_MS);
  });

  it('opens when a seasonal series sticks, and names it a flat line once the run is long enough', () => {
    const { episodes } = run({}, [{ type: 'flat', atDays: 20.5, hours: 8 }]);
    expect(episodes).toHaveLength(1);
    expect((episodes[0]?.openMs ?? 0) - at(20.5)).toBeLessThanOrEqual(2 * HOUR_MS);
    expect(episodes[0]?.closeMs).not.toBeNull();
  });

  it('keeps one alert while any metric is anomalous and names them all', () => {
    const a = buildSeries({ ...CLEAN, seed: 'A', injections: [{ type: 'shift', atDays: 12, sd: 8 }] }).points;
    const b = buildSeries({ ...CLEAN, seed: 'B', level: 40, injections: [{ type: 'shift', atDays: 12.1, sd: -8 }] });
    const readings: Reading[] = a.map((p, i) => ({
      deviceId: 'SN-0002',
      kind: 'sensor',
      ts: new Date(p.tsMs).toISOString(),
      metrics: { riverLevelM: p.value, noiseDb: b.points[i]?.value ?? 0, batteryPct: 80 },
    }));
    let state = detector.initialState();
    const signals = [];
    for (const reading of readings) {
      const r = detector.step(state, { reading, tsMs: Date.parse(reading.ts), derived: undefined });
      state = r.state;
      if (r.signal) signals.push(r.signal);
    }
    const { episodes } = runEpisodes(detector, readings);
    expect(episodes).toHaveLength(1);
    expect(episodes[0]?.details).toMatchObject({ metric: 'riverLevelM', metrics: ['riverLevelM'] });
    const both = signals.find((s) => s.active && (s.details.metrics as string[]).length === 2);
    expect(both?.active && both.details.metrics).toEqual(['noiseDb', 'riverLevelM']);
    expect(both?.active && both.summary).toContain('(+1 other metric)');
    expect(Object.keys(state.series).sort()).toEqual(['noiseDb', 'riverLevelM']); // batteryPct is ignored
  });

  it('tracks at most maxSeriesPerDevice metrics and counts the values it skips', () => {
    const capped = create(configSchema.parse({ timeZone: 'UTC', maxSeriesPerDevice: 2 }));
    let state = capped.initialState();
    for (let i = 0; i < 5; i++) {
      const tsMs = T0_MS + i * 15 * MIN_MS;
      const reading: Reading = {
        deviceId: 'SN-0003',
        kind: 'sensor',
        ts: new Date(tsMs).toISOString(),
        metrics: { a: i, b: i, c: i },
      };
      state = capped.step(state, { reading, tsMs, derived: undefined }).state;
    }
    expect(Object.keys(state.series)).toEqual(['a', 'b']);
    expect(state.skippedValues).toBe(5);
  });

  it('reaches recall and precision of 0.95 when run on 60 generated series with known anomalies', () => {
    const sets: Injection[][] = [
      [
        { type: 'spike', atDays: 10.3, sd: 10 },
        { type: 'spike', atDays: 14.6, sd: -10 },
        { type: 'shift', atDays: 18.4, sd: 5 },
      ],
      [
        { type: 'drift', atDays: 11.2, hours: 12, sd: 8 },
        { type: 'flat', atDays: 20.5, hours: 8 },
      ],
      [{ type: 'phase', atDays: 16, hours: 6 }],
      [{ type: 'amplitude', atDays: 16, factor: 2.5 }],
      [],
    ];
    const totals = { detected: 0, injected: 0, truePositives: 0, episodes: 0 };
    const delays: Record<string, number[]> = {};
    for (let s = 0; s < 12; s++) {
      for (const [k, injections] of sets.entries()) {
        const sd = 1 + (s % 5);
        const { points, truth } = buildSeries({
          seed: `set-${s}-${k}`,
          days: 30,
          intervalMinutes: [15, 5, 10, 60][s % 4] as number,
          jitter: s % 3 === 0 ? 0.3 : 0,
          noiseSd: sd,
          dailyAmplitude: ([10, 3, 20, 6][s % 4] as number) * sd,
          weekendOffset: -4 * sd,
          trendPerDay: 0.05 * sd,
          injections,
        });
        const { episodes } = runEpisodes(detector, toReadings(points));
        const r = score(episodes, truth);
        totals.detected += r.detected;
        totals.injected += r.injected;
        totals.truePositives += r.truePositives;
        totals.episodes += r.episodes;
        for (const t of truth) {
          const hit = episodes.find((e) => e.openMs >= t.startMs && e.openMs <= t.endMs);
          if (hit) delays[t.type] = [...(delays[t.type] ?? []), (hit.openMs - t.startMs) / MIN_MS];
        }
      }
    }
    const recall = totals.detected / totals.injected;
    const precision = totals.truePositives / totals.episodes;
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)] ?? Number.NaN;
    const ttd = Object.fromEntries(Object.entries(delays).map(([t, v]) => [t, median(v)]));
    console.info(
      `anomaly: recall ${recall.toFixed(3)} precision ${precision.toFixed(3)}`,
      totals,
      'median TTD min',
      ttd,
    );
    expect(recall).toBeGreaterThanOrEqual(0.95);
    expect(precision).toBeGreaterThanOrEqual(0.95);
    expect(ttd.spike).toBeLessThanOrEqual(15); // the spike reading itself, or the next
    expect(ttd.shift).toBeLessThanOrEqual(120);
    expect(ttd.flat).toBeLessThanOrEqual(180);
    expect(ttd.drift).toBeLessThanOrEqual(7 * 60);
  });

  it('keeps a fixed-size state when one series gets a million readings', () => {
    const reading = (i: number): Reading => ({
      deviceId: 'SN-0004',
      kind: 'sensor',
      ts: '',
      metrics: { v: 100 + 10 * Math.sin((2 * Math.PI * i) / 96) + ((i * 7919) % 13) / 4 },
    });
    const shape = (s: AnomalyState) => JSON.stringify(s).replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/g, '0');
    let state = detector.initialState();
    let afterWarmup = '';
    let maxLength = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const tsMs = T0_MS + i * 15 * MIN_MS;
      state = detector.step(state, { reading: reading(i), tsMs, derived: undefined }).state;
      if (i === 8 * 96 + 1) afterWarmup = shape(state);
      if (i % 1000 === 0) maxLength = Math.max(maxLength, JSON.stringify(state).length);
    }
    expect(shape(state)).toBe(afterWarmup); // same keys, same array lengths: only the numbers differ
    expect(maxLength).toBeLessThan(4096);
    expect(JSON.stringify(state).length).toBeLessThan(4096);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });

  test.prop(
    [
      fc.array(fc.tuple(fc.integer({ min: 1, max: 6 * 60 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })), {
        minLength: 1,
        maxLength: 400,
      }),
    ],
    { numRuns: 50 },
  )('never throws, never opens twice in a row and keeps its state bounded for any series', (steps) => {
    const fast = create(configSchema.parse({ timeZone: 'UTC', warmupDays: 0, warmupReadings: 5 }));
    let state = fast.initialState();
    let tsMs = T0_MS;
    let active = false;
    for (const [gapMinutes, value] of steps) {
      tsMs += gapMinutes * MIN_MS;
      const reading: Reading = { deviceId: 'SN-0005', kind: 'sensor', ts: '', metrics: { v: value } };
      const before = JSON.stringify(state);
      const r = fast.step(state, { reading, tsMs, derived: undefined });
      expect(JSON.stringify(state)).toBe(before); // pure: the old state is untouched
      if (r.signal?.active === false) expect(active).toBe(true);
      if (r.signal) active = r.signal.active;
      state = r.state;
      expect(Number.isFinite(JSON.stringify(state).length)).toBe(true);
      expect(JSON.stringify(state)).not.toContain('null,'); // no NaN/Infinity turned into null in arrays
    }
    expect(JSON.stringify(state).length).toBeLessThan(4096);
  });

  it('opens and resolves one anomaly alert through the engine', () => {
    const engine = createEngine({
      config: {
        reorderToleranceMs: 0,
        tickIntervalMs: 900_000,
        alertUpdate: { updateChangeRatio: 0.25, updateMinIntervalMs: 3_600_000 },
      },
      models: {},
      detectors: [detector],
    });
    const readings = toReadings(
      buildSeries({ ...CLEAN, days: 12, injections: [{ type: 'spike', atDays: 10.5, sd: 12 }] }).points,
    );
    const transitions = readings.flatMap((r) => engine.push(r)).concat(engine.flush());
    expect(transitions.map((t) => [t.state, t.type, t.alertId])).toEqual([
      ['open', 'anomaly', 'SN-0001:anomaly:1'],
      ['resolved', 'anomaly', 'SN-0001:anomaly:1'],
    ]);
  });
});
