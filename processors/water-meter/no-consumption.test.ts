import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, type NoConsumptionState, name } from './no-consumption.ts';
import {
  DAY_MS,
  describeHousehold,
  episodes,
  HOUR_MS,
  householdSeries,
  MIN_MS,
  meterReading,
  readingsAt,
  runDetector,
  T0_MS,
} from './test-helpers.ts';

const detector = create(configSchema.parse({}));

/** Hourly readings: `hours` of a flat index, then each value of `after` one hour apart. */
function flatThen(hours: number, indexL: number, after: number[] = []): Reading[] {
  return readingsAt(T0_MS, 60, [...Array.from({ length: hours + 1 }, () => indexL), ...after]);
}

/** Episodes as `[openHours, closeHours | null, unchangedDays]`, hours from T0. */
function ncEpisodes(readings: readonly Reading[], raw: Record<string, unknown> = {}) {
  return episodes(runDetector(create(configSchema.parse(raw)), readings).signals).map((e) => [
    (e.openAtMs - T0_MS) / HOUR_MS,
    e.closeAtMs === null ? null : (e.closeAtMs - T0_MS) / HOUR_MS,
    e.details.unchangedDays,
  ]);
}

describe('no-consumption', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('no-consumption');
    expect(configSchema.parse({})).toEqual({ stuckDays: 7, resumeL: 10, severity: 'info' });
    expect(detector.type).toBe('no-consumption');
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ stuckDays: 0 }, 'stuckDays'],
      [{ resumeL: -1 }, 'resumeL'],
      [{ severity: 'loud' }, 'severity'],
      [{ stuckDay: 7 }, 'stuckDay'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain(key);
    }
  });

  // Hand-computed; hourly readings from T0 unless said otherwise (hours below; 7 days = 168 h).
  const table: Array<{ name: string; readings: Reading[]; config?: Record<string, unknown>; expected: unknown[][] }> = [
    { name: 'flat for 167 h', readings: flatThen(167, 1000), expected: [] },
    { name: 'flat for 7 days: opens at 168 h', readings: flatThen(170, 1000), expected: [[168, null, 7]] },
    {
      name: 'flat for 7 days then 15 L of use: closes at the reading showing it',
      readings: flatThen(180, 1000, [1015]),
      expected: [[168, 181, 7]],
    },
    {
      name: '5 L then 5 L (10 L, not more) keeps it open; one more litre closes it',
      readings: flatThen(170, 1000, [1005, 1010, 1010, 1011]),
      expected: [[168, 174, 7]],
    },
    {
      name: '±1 L jitter at rest (100, 101, …): the index stops moving at 101, 15 min in',
      readings: readingsAt(
        T0_MS,
        15,
        Array.from({ length: 7 * 96 + 4 }, (_, i) => 100 + (i % 2)),
      ),
      expected: [[168.25, null, 7]],
    },
    {
      name: 'Zenner blocked after 4 weeks, daily values: opens at day 28',
      readings: readingsAt(
        T0_MS,
        24 * 60,
        Array.from({ length: 30 }, () => 777),
      ),
      config: { stuckDays: 28 },
      expected: [[28 * 24, null, 28]],
    },
    {
      name: 'one litre a day keeps it quiet',
      readings: readingsAt(
        T0_MS,
        24 * 60,
        Array.from({ length: 20 }, (_, d) => 500 + d),
      ),
      expected: [],
    },
    {
      name: 'a new meter while open resolves it (the stuck register is gone)',
      readings: flatThen(170, 54_321, [0, 0]),
      expected: [[168, 171, 7]],
    },
  ];

  it.each(table)('signals as expected when $name', ({ readings, config, expected }) => {
    expect(ncEpisodes(readings, config)).toEqual(expected);
  });

  it('says how long and since when the index has been still', () => {
    const [signal] = runDetector(detector, flatThen(168, 4242)).signals;
    expect(signal?.signal).toEqual({
      active: true,
      atMs: T0_MS + 7 * DAY_MS,
      severity: 'info',
      summary: 'No consumption for 7 days (index 4242 L)',
      details: { unchangedDays: 7, indexL: 4242, sinceTs: new Date(T0_MS).toISOString() },
    });
  });

  it('raises nothing over 30 days when 50 households use water, absences of up to 5 days included', () => {
    for (let seed = 1; seed <= 50; seed++) {
      expect(runDetector(detector, householdSeries(seed, 30)).signals, describeHousehold(seed)).toEqual([]);
    }
  });

  test.prop([fc.integer({ min: 1000, max: 1_000_000 })], { numRuns: 25 })(
    'never raises when a household uses water normally',
    (seed) => {
      expect(runDetector(detector, householdSeries(seed, 10)).signals, describeHousehold(seed)).toEqual([]);
    },
  );

  test.prop([fc.integer({ min: 168, max: 600 }), fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 10 })])(
    'opens exactly once for one still spell and closes once more than 10 L are used',
    (stillHours, smallUses) => {
      let index = 1000;
      const after = smallUses.map((l) => {
        index += l;
        return index;
      });
      const found = episodes(runDetector(detector, flatThen(stillHours, 1000, [...after, index + 11])).signals);
      expect(found).toHaveLength(1);
      expect(found[0]!.closeAtMs).not.toBeNull();
    },
  );

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.integer({ min: -2000, max: 50 })), { maxLength: 200 }),
  ])('keeps its state within its bound when readings are arbitrary', (steps) => {
    let t = T0_MS;
    let index = 50_000;
    const readings = steps.map(([dtMinutes, di]) => {
      t += dtMinutes * MIN_MS;
      index = Math.max(0, index + di);
      return meterReading(t, index);
    });
    const { state } = runDetector(detector, readings, {
      onStep: (s: NoConsumptionState) => expect(Object.keys(s).sort()).toEqual(['active', 'baseIndexL', 'sinceMs']),
    });
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
