import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  type MeterDerived,
  type MeterState,
  modelConfigSchema,
  trailingFlow,
  WINDOW_MAX_POINTS,
  WINDOW_MS,
  waterMeterModel,
} from './model.ts';
import { HOUR_MS, MIN_MS, meterReading, T0_MS } from './test-helpers.ts';

/** Derives readings `[minutesFromT0, indexL]` in order; returns the derived views and the drop reasons. */
function derive(points: ReadonlyArray<readonly [number, number | undefined]>, raw: Record<string, unknown> = {}) {
  const model = waterMeterModel(modelConfigSchema.parse(raw));
  let state: MeterState = model.initialState();
  const derived: MeterDerived[] = [];
  const drops: string[] = [];
  for (const [minutes, indexL] of points) {
    const tsMs = T0_MS + minutes * MIN_MS;
    const out = model.derive(state, meterReading(tsMs, indexL), tsMs);
    state = out.state;
    if ('drop' in out) drops.push(out.drop);
    else derived.push(out.derived);
  }
  return { derived, drops, state };
}

const every15 = (indexes: number[]) => indexes.map((v, i) => [i * 15, v] as const);

describe('water-meter model', () => {
  it('applies its defaults when the config is empty', () => {
    expect(modelConfigSchema.parse({})).toEqual({
      q3Lph: 2500,
      jumpQ4Multiple: 2,
      resetDropL: 1000,
      maxGapMinutes: 180,
      jitterL: 1,
    });
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ q3Lph: -5 }, 'q3Lph'],
      [{ jumpQ4Multiple: 0.5 }, 'jumpQ4Multiple'],
      [{ resetDropL: 'lots' }, 'resetDropL'],
      [{ maxGapMinutes: 0 }, 'maxGapMinutes'],
      [{ maxGapMinute: 60 }, 'maxGapMinute'],
    ] as const) {
      const result = modelConfigSchema.safeParse(raw);
      expect(result.success).toBe(false);
      expect(JSON.stringify(result.error?.issues)).toContain(key);
    }
  });

  it('drops readings on purpose with a reason when indexL is missing, negative, late or repeated', () => {
    const { derived, drops } = derive([
      [0, 100],
      [15, undefined],
      [30, -1],
      [45, 101],
      [30, 102],
      [45, 103],
      [60, 104],
    ]);
    expect(drops).toEqual(['missing-indexL', 'invalid-indexL', 'out-of-order', 'duplicate-ts']);
    expect(derived.map((d) => d.rawIndexL)).toEqual([100, 101, 104]);
  });

  const table: Array<{
    name: string;
    points: ReadonlyArray<readonly [number, number]>;
    expected: Partial<Record<keyof MeterDerived, unknown[]>>;
  }> = [
    {
      name: '±1 L jitter at rest (100, 101, 100, 101): 1 L once, never reverse flow beyond 1 L',
      points: every15([100, 101, 100, 101, 100]),
      expected: {
        cleanedIndexL: [100, 101, 101, 101, 101],
        deltaL: [0, 1, 0, 0, 0],
        flowLph: [null, 4, 0, 0, 0],
        reverseL: [0, 0, 1, 0, 1],
        unchangedSinceMs: [0, 15, 15, 15, 15].map((m) => T0_MS + m * MIN_MS),
      },
    },
    {
      name: 'steady 40 L/h (10 L per quarter-hour)',
      points: every15([1000, 1010, 1020]),
      expected: { deltaL: [0, 10, 10], flowLph: [null, 40, 40], intervalMs: [null, 15 * MIN_MS, 15 * MIN_MS] },
    },
    {
      name: 'counter reset (99 995 → 5): re-baselined, cleaned index carried on, no delta',
      points: every15([99_990, 99_995, 5, 10]),
      expected: {
        cleanedIndexL: [99_990, 99_995, 99_995, 100_000],
        deltaL: [0, 5, 0, 5],
        rebaselined: [false, false, true, false],
        rebaselineReason: [null, null, 'counter-drop', null],
        reverseL: [0, 0, 0, 0],
        flowLph: [null, 20, null, 20],
      },
    },
    {
      name: 'new meter with a higher index: a jump above 2 × Q4 (6250 L/h × 0.25 h + 2 L = 1564.5 L) re-baselines',
      points: every15([500, 510, 2_000_000, 2_000_003]),
      expected: {
        cleanedIndexL: [500, 510, 510, 513],
        rebaselined: [false, false, true, false],
        rebaselineReason: [null, null, 'forward-jump', null],
      },
    },
    {
      name: 'a 1564 L quarter-hour is still flow (just under the jump limit)',
      points: every15([0, 1564]),
      expected: { rebaselined: [false, false], flowLph: [null, 6256] },
    },
    {
      name: 'a 999 L drop is reverse flow, not a reset (resetDropL 1000)',
      points: every15([5000, 4001, 4002]),
      expected: { rebaselined: [false, false, false], reverseL: [0, 999, 998], cleanedIndexL: [5000, 5000, 5000] },
    },
    {
      name: '181 min between readings is a gap, 180 min is not',
      points: [
        [0, 10],
        [180, 10],
        [361, 12],
      ],
      expected: { gap: [false, false, true], first: [true, false, false] },
    },
  ];

  it.each(table)('derives as expected when $name', ({ points, expected }) => {
    const { derived } = derive(points);
    for (const [key, values] of Object.entries(expected)) {
      expect(
        derived.map((d) => d[key as keyof MeterDerived]),
        key,
      ).toEqual(values);
    }
  });

  it('keeps a bounded window reaching 2 h back when readings come every second', () => {
    const points = Array.from({ length: 3 * 3600 }, (_, s) => [s / 60, Math.floor(s / 36)] as const); // 100 L/h
    const { derived } = derive(points);
    const last = derived[derived.length - 1]!;
    expect(last.window.length).toBeLessThanOrEqual(WINDOW_MAX_POINTS);
    expect(last.window[0]![0]).toBeLessThanOrEqual(T0_MS + 3 * HOUR_MS - WINDOW_MS);
    // The anchor is the newest kept point at least 1 h old (points 4 min apart): 1 L quantisation over ≥ 60 min.
    const flow = trailingFlow(last.window, HOUR_MS)?.flowLph ?? 0;
    expect(Math.abs(flow - 100)).toBeLessThan(2);
  });

  it('computes a trailing-hour flow from 15-min readings and none without an hour of history', () => {
    const { derived } = derive(every15([0, 3, 6, 9, 12, 15]));
    expect(trailingFlow(derived[3]!.window, HOUR_MS)).toBeNull();
    expect(trailingFlow(derived[5]!.window, HOUR_MS)).toEqual({ flowLph: 12, anchor: [T0_MS + 15 * MIN_MS, 3] });
  });

  test.prop([
    fc.array(
      fc.tuple(
        fc.integer({ min: 0, max: 600 }),
        fc.oneof(fc.integer({ min: -3, max: 30 }), fc.integer({ min: -5000, max: 5000 })),
      ),
      { maxLength: 300 },
    ),
  ])('keeps the cleaned index monotone and the state bounded when readings are arbitrary', (steps) => {
    let minutes = 0;
    let index = 10_000;
    const points = steps.map(([dt, di]) => {
      minutes += dt;
      index = Math.max(0, index + di);
      return [minutes, index] as const;
    });
    const { derived, state } = derive(points);
    for (let i = 1; i < derived.length; i++) {
      expect(derived[i]!.cleanedIndexL).toBeGreaterThanOrEqual(derived[i - 1]!.cleanedIndexL);
      expect(derived[i]!.deltaL).toBeGreaterThanOrEqual(0);
      expect(derived[i]!.reverseL).toBeGreaterThanOrEqual(0);
    }
    expect(state.window.length).toBeLessThanOrEqual(WINDOW_MAX_POINTS);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
