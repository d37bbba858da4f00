import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, type LeakState, MAX_SNAPSHOTS, name } from './leak.ts';
import {
  cleanSeries,
  DAY_MS,
  describeHousehold,
  episodes,
  type FlowEvent,
  flowBetween,
  HOUR_MS,
  householdSeries,
  householdTraits,
  MIN_MS,
  meterReading,
  PLAIN_TRAITS,
  readingsAt,
  runDetector,
  shiftIndexFrom,
  T0_MS,
} from './test-helpers.ts';

const detector = create(configSchema.parse({}));
const h = (hours: number) => T0_MS + hours * HOUR_MS;

const clean = cleanSeries;
const flow = flowBetween;
/** Episodes as `[openHours, closeHours | null, estimatedLph]`, hours from T0. */
function leakEpisodes(readings: readonly Reading[]) {
  return episodes(runDetector(detector, readings).signals).map((e) => [
    (e.openAtMs - T0_MS) / HOUR_MS,
    e.closeAtMs === null ? null : (e.closeAtMs - T0_MS) / HOUR_MS,
    e.details.estimatedLph,
  ]);
}

describe('leak', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('leak');
    expect(configSchema.parse({})).toEqual({
      windowHours: 24,
      restMinutes: 60,
      estimateSpanMinutes: 60,
      severity: 'warning',
    });
    expect(detector.type).toBe('leak');
    expect(detector.kinds).toEqual(['water-meter']);
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ windowHours: 0 }, 'windowHours'],
      [{ restMinutes: 'an hour' }, 'restMinutes'],
      [{ estimateSpanMinutes: 5 }, 'estimateSpanMinutes'],
      [{ severity: 'urgent' }, 'severity'],
      [{ windowHour: 24 }, 'windowHour'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain(key);
    }
    const cross = configSchema.safeParse({ windowHours: 2, restMinutes: 60, estimateSpanMinutes: 90 });
    expect(cross.error?.issues[0]?.message).toMatch(/restMinutes .*estimateSpanMinutes .*windowHours/);
  });

  // Hand-computed on a clean register from index 1000 read every 15 min from T0 (hours from T0 below).
  // Opens at the first reading more than 24 h − 1 h after the last rest ended (the rest hour must lie in the window).
  const table: Array<{ name: string; readings: Reading[]; expected: unknown[][] }> = [
    { name: 'the index never moves for 2 days', readings: clean([], 48), expected: [] },
    {
      name: '4 L/h from the first reading: no rest ever, opens at 23 h 15 with 4 L/h',
      readings: clean([flow(0, 26, 4)], 26),
      expected: [[23.25, null, 4]],
    },
    {
      name: '4 L/h fixed at 30 h: the index last moves at 30:00, an hour at rest closes at 31:00',
      readings: clean([flow(0, 30, 4)], 34),
      expected: [[23.25, 31, 4]],
    },
    {
      name: 'a 60-min pause at 12:00: rest proven at 13:00, opens 23 h 15 later',
      readings: clean([flow(0, 12, 4), flow(13, 40, 4)], 40),
      expected: [[36.25, null, 4]],
    },
    {
      name: 'a 45-min pause is not rest; the quietest hour (12:00–13:00, 1 L) sets the estimate',
      readings: clean([flow(0, 12, 4), flow(12.75, 26, 4)], 26),
      expected: [[23.25, null, 1]],
    },
    {
      name: 'a 4 h 15 gap (no readings 10:00–14:00) restarts the window: opens at 14:00 + 23 h 15',
      readings: clean([flow(0, 40, 4)], 40).filter((r) => {
        const t = Date.parse(r.ts);
        return t <= h(9.75) || t >= h(14);
      }),
      expected: [[37.25, null, 4]],
    },
    {
      name: 'hourly readings (Sensus hourly logs) of 4 L/h: opens at 24:00',
      readings: clean([flow(0, 26, 4)], 26, 60),
      expected: [[24, null, 4]],
    },
    {
      name: 'a counter reset at 10:00 (1040 → 10 L) restarts the window and raises nothing by itself',
      readings: shiftIndexFrom(clean([flow(0, 36, 4)], 36), 10, (i) => i - 1030),
      expected: [[33.25, null, 4]],
    },
    {
      name: '±1 L jitter at rest (100, 101, 100, 101, …) for 3 days',
      readings: readingsAt(
        T0_MS,
        15,
        Array.from({ length: 288 }, (_, i) => 100 + (i % 2)),
      ),
      expected: [],
    },
  ];

  it.each(table)('signals as expected when $name', ({ readings, expected }) => {
    expect(leakEpisodes(readings)).toEqual(expected);
  });

  const leakStartMs = T0_MS + DAY_MS + 2 * HOUR_MS; // 02:00 on day 1 (Tuesday)
  const fixMs = T0_MS + 3 * DAY_MS + 10 * HOUR_MS; // 10:00 on day 3 (Thursday): everyone is out
  const leakFrom2am = (lph: number): FlowEvent => ({
    startMs: leakStartMs,
    minutes: (fixMs - leakStartMs) / MIN_MS,
    lph,
  });

  it.each(Array.from({ length: 20 }, (_, i) => i + 1))(
    'opens once within 24 h 15 of a 3 L/h leak and closes after an hour at rest when household %i leaks',
    (seed) => {
      const readings = householdSeries(seed, 5, { traits: PLAIN_TRAITS, extra: [leakFrom2am(3)] });
      const found = episodes(runDetector(detector, readings).signals);
      expect(found, describeHousehold(seed, PLAIN_TRAITS)).toHaveLength(1);
      const [episode] = found;
      expect(episode!.openAtMs).toBeGreaterThanOrEqual(leakStartMs + 22 * HOUR_MS);
      expect(episode!.openAtMs).toBeLessThanOrEqual(leakStartMs + 24 * HOUR_MS + 15 * MIN_MS);
      expect(Math.abs((episode!.details.estimatedLph as number) - 3)).toBeLessThanOrEqual(1);
      expect(episode!.details.windowHours).toBe(24);
      expect(episode!.summary).toMatch(/^Continuous flow for 24 h, about \d+(\.\d)? L\/h$/);
      // Closed once the register showed an hour without a litre, after the fix (everyone out until 17:00).
      const closeMs = episode!.closeAtMs!;
      expect(closeMs).toBeGreaterThan(fixMs);
      expect(closeMs).toBeLessThanOrEqual(fixMs + 2 * HOUR_MS);
      const maxIndexUpTo = (t: number) =>
        Math.max(...readings.filter((r) => Date.parse(r.ts) <= t).map((r) => r.metrics.indexL ?? 0));
      expect(maxIndexUpTo(closeMs)).toBe(maxIndexUpTo(closeMs - HOUR_MS));
    },
  );

  it.each([
    { lph: 1, jitterProbability: 0, what: 'a clean register' },
    { lph: 2, jitterProbability: 0.3, what: '±1 L jitter' },
    { lph: 20, jitterProbability: 0.3, what: '±1 L jitter' },
  ])('detects a $lph L/h leak on $what', ({ lph, jitterProbability }) => {
    for (const seed of [3, 8, 15]) {
      const readings = householdSeries(seed, 5, { traits: PLAIN_TRAITS, jitterProbability, extra: [leakFrom2am(lph)] });
      const [episode, ...more] = episodes(runDetector(detector, readings).signals);
      expect(more).toEqual([]);
      expect(episode!.openAtMs).toBeLessThanOrEqual(leakStartMs + 24 * HOUR_MS + 15 * MIN_MS);
      expect(Math.abs((episode!.details.estimatedLph as number) - lph)).toBeLessThanOrEqual(1);
      expect(episode!.closeAtMs).not.toBeNull();
    }
  });

  it('raises no leak over 30 days when 50 households use water normally', () => {
    const seeds = Array.from({ length: 50 }, (_, i) => i + 1);
    const traits = seeds.map(householdTraits);
    // Every confounder of DOMAIN.md is in the sample, several times.
    for (const key of ['nightAppliances', 'softener', 'sprinklers', 'pool', 'absences'] as const) {
      expect(traits.filter((t) => t[key]).length, key).toBeGreaterThanOrEqual(7);
    }
    for (const schedule of ['night-shift', 'evening-shift', 'home', 'day'] as const) {
      expect(traits.filter((t) => t.schedule === schedule).length, schedule).toBeGreaterThanOrEqual(10);
    }
    for (const seed of seeds) {
      expect(runDetector(detector, householdSeries(seed, 30)).signals, describeHousehold(seed)).toEqual([]);
    }
  });

  test.prop([fc.integer({ min: 1000, max: 1_000_000 })], { numRuns: 25 })(
    'never raises when a household uses water normally',
    (seed) => {
      expect(runDetector(detector, householdSeries(seed, 10)).signals, describeHousehold(seed)).toEqual([]);
    },
  );

  test.prop([fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 3, max: 300 }), fc.integer({ min: 0, max: 95 })], {
    numRuns: 25,
  })('opens once and never closes while one leak runs', (seed, lph, startQuarter) => {
    const startMs = T0_MS + DAY_MS + startQuarter * 15 * MIN_MS;
    const leakFor3Days: FlowEvent = { startMs, minutes: 3 * 24 * 60, lph };
    const readings = householdSeries(seed, 4, { extra: [leakFor3Days] });
    const found = episodes(runDetector(detector, readings).signals);
    expect(found).toHaveLength(1);
    expect(found[0]!.closeAtMs === null || found[0]!.closeAtMs >= startMs + 3 * DAY_MS).toBe(true);
  });

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 1, max: 400 }), fc.integer({ min: -2000, max: 200 })), { maxLength: 400 }),
  ])('keeps its state within its bound when readings are arbitrary', (steps) => {
    let t = T0_MS;
    let index = 50_000;
    const readings = steps.map(([dtMinutes, di]) => {
      t += dtMinutes * MIN_MS;
      index = Math.max(0, index + di);
      return meterReading(t, index);
    });
    let worst = 0;
    const { state } = runDetector(detector, readings, {
      onStep: (s: LeakState) => {
        worst = Math.max(worst, s.snapshots.length);
      },
    });
    expect(worst).toBeLessThanOrEqual(MAX_SNAPSHOTS);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
