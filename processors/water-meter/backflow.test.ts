import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { type BackflowState, configSchema, create, name } from './backflow.ts';
import {
  describeHousehold,
  episodes,
  householdSeries,
  MIN_MS,
  meterReading,
  mulberry32,
  readingsAt,
  runDetector,
  T0_MS,
} from './test-helpers.ts';

const detector = create(configSchema.parse({}));

/** Episodes as `[openMinutes, closeMinutes | null, reverseL]`, minutes from T0. */
function backflowEpisodes(readings: readonly Reading[]) {
  return episodes(runDetector(detector, readings).signals).map((e) => [
    (e.openAtMs - T0_MS) / MIN_MS,
    e.closeAtMs === null ? null : (e.closeAtMs - T0_MS) / MIN_MS,
    e.details.reverseL,
  ]);
}

describe('backflow', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('backflow');
    expect(configSchema.parse({})).toEqual({
      jitterL: 1,
      sustainMinutes: 15,
      volumeL: 20,
      quietMinutes: 60,
      severity: 'warning',
    });
    expect(detector.type).toBe('backflow');
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ jitterL: -1 }, 'jitterL'],
      [{ sustainMinutes: 0 }, 'sustainMinutes'],
      [{ volumeL: 'twenty' }, 'volumeL'],
      [{ quietMinutes: 1.5 }, 'quietMinutes'],
      [{ volumL: 20 }, 'volumL'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain(key);
    }
  });

  // Hand-computed, readings every 15 min from T0 (minutes below).
  const table: Array<{ name: string; indexes: number[]; expected: unknown[][] }> = [
    { name: '±1 L jitter (100, 101, 100, 101, …)', indexes: [100, 101, 100, 101, 100, 101, 100, 100], expected: [] },
    { name: '2 L below the max once, back at the next reading', indexes: [1000, 998, 1000, 1000], expected: [] },
    {
      name: '3 L below the max for 15 min (Sensus): open at 30; back within 1 L of the max closes at 45',
      indexes: [1000, 997, 997, 999, 1003],
      expected: [[30, 45, 3]],
    },
    {
      name: '30 L of reverse flow in one quarter-hour (B Meters > 20 L): open at once; 1 h quiet closes at 75',
      indexes: [1000, 970, 970, 970, 970, 970, 970],
      expected: [[15, 75, 30]],
    },
    {
      name: '30 L of reverse flow over 45 min: 20 L below for 15 min opens at 45; quiet from 60 closes at 120',
      indexes: [1000, 1000, 990, 980, 970, 970, 970, 970, 970, 970],
      expected: [[45, 120, 20]],
    },
    {
      name: 'after a quiet close the lower level is the reference: only a new drop reopens',
      indexes: [1000, 970, 970, 970, 970, 970, 971, 972, 950, 950],
      expected: [
        [15, 75, 30],
        [120, null, 22],
      ],
    },
    { name: 'a counter reset (99 995 → 3)', indexes: [99_990, 99_995, 3, 3, 4, 5], expected: [] },
    { name: 'a new meter starting at 0', indexes: [54_321, 54_322, 0, 0, 1, 1], expected: [] },
    { name: 'a new meter with a higher index', indexes: [500, 501, 2_000_000, 1_999_999, 2_000_000], expected: [] },
  ];

  it.each(table)('signals as expected when $name', ({ indexes, expected }) => {
    expect(backflowEpisodes(readingsAt(T0_MS, 15, indexes))).toEqual(expected);
  });

  it('reports the reverse volume and a stable sinceTs while open', () => {
    const { signals } = runDetector(detector, readingsAt(T0_MS, 15, [1000, 990, 980, 960, 950]));
    const details = signals.map((s) => (s.signal.active ? s.signal.details : null));
    const sinceTs = new Date(T0_MS + 15 * MIN_MS).toISOString();
    expect(details).toEqual([
      { reverseL: 20, sinceTs },
      { reverseL: 40, sinceTs },
      { reverseL: 50, sinceTs },
    ]);
  });

  it('raises no backflow over 30 days when 50 households with ±1 L jitter use water normally', () => {
    for (let seed = 1; seed <= 50; seed++) {
      expect(runDetector(detector, householdSeries(seed, 30)).signals, describeHousehold(seed)).toEqual([]);
    }
  });

  test.prop([fc.integer({ min: 1, max: 1_000_000 }), fc.double({ min: 0, max: 1, noNaN: true })], { numRuns: 25 })(
    'never raises when the register jitters by ±1 L however often',
    (seed, jitterProbability) => {
      const readings = householdSeries(seed, 5, { jitterProbability });
      expect(runDetector(detector, readings).signals).toEqual([]);
    },
  );

  test.prop([fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 21, max: 500 }), fc.integer({ min: 1, max: 8 })])(
    'opens exactly once for one episode of reverse flow',
    (seed, reverseL, quarters) => {
      const rng = mulberry32(seed);
      const jitter = () => (rng() < 0.3 ? 1 : 0);
      const before = Array.from({ length: 8 }, () => 5000 + jitter());
      const during = Array.from({ length: quarters }, (_, i) => 5000 - Math.round((reverseL * (i + 1)) / quarters));
      const after = Array.from({ length: 12 }, () => 5000 - reverseL + jitter());
      const found = episodes(runDetector(detector, readingsAt(T0_MS, 15, [...before, ...during, ...after])).signals);
      expect(found).toHaveLength(1);
      expect(found[0]!.closeAtMs).not.toBeNull();
    },
  );

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 1, max: 200 }), fc.integer({ min: -3000, max: 300 })), { maxLength: 300 }),
  ])('keeps its state within its bound when readings are arbitrary', (steps) => {
    let t = T0_MS;
    let index = 50_000;
    const readings = steps.map(([dtMinutes, di]) => {
      t += dtMinutes * MIN_MS;
      index = Math.max(0, index + di);
      return meterReading(t, index);
    });
    const { state } = runDetector(detector, readings, {
      onStep: (s: BackflowState) =>
        expect(Object.keys(s).sort()).toEqual(['active', 'lastMoveMs', 'lowL', 'refL', 'reverseSinceMs']),
    });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
