import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, type LowBatteryState, name } from './low-battery.ts';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

/** Steps batteryPct levels (undefined = no battery metric) 15 min apart; returns the signals. */
function run(levels: ReadonlyArray<number | undefined>, raw: Record<string, unknown> = {}) {
  const detector = create(configSchema.parse(raw));
  let state: LowBatteryState = detector.initialState();
  const signals: string[] = [];
  levels.forEach((pct, i) => {
    const tsMs = T0 + i * 15 * MIN;
    const reading: Reading = {
      deviceId: 'WM-1',
      kind: 'water-meter',
      ts: new Date(tsMs).toISOString(),
      metrics: pct === undefined ? { indexL: 1 } : { indexL: 1, batteryPct: pct },
    };
    const r = detector.step(state, { reading, tsMs, derived: undefined });
    state = r.state;
    if (r.signal) signals.push(r.signal.active ? `on:${r.signal.details.batteryPct}@${i}` : `off@${i}`);
  });
  return signals;
}

describe('low-battery', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('low-battery');
    expect(configSchema.parse({})).toEqual({ lowBatteryPct: 10, recoverBatteryPct: 15, severity: 'warning' });
  });

  it('names the key when a config value is invalid', () => {
    const unknown = configSchema.safeParse({ lowBateryPct: 5 });
    expect(JSON.stringify(unknown.error?.issues)).toMatch(/lowBateryPct/);
    const range = configSchema.safeParse({ lowBatteryPct: 120 });
    expect(JSON.stringify(range.error?.issues)).toMatch(/lowBatteryPct/);
    const order = configSchema.safeParse({ lowBatteryPct: 20, recoverBatteryPct: 15 });
    expect(order.error?.issues[0]?.message).toMatch(/recoverBatteryPct .*lowBatteryPct/);
  });

  const table: Array<{ name: string; levels: Array<number | undefined>; expected: string[] }> = [
    { name: 'battery healthy', levels: [90, 80, 11], expected: [] },
    { name: 'no battery metric', levels: [undefined, undefined], expected: [] },
    { name: 'drops to 10 % (Itron: 10 % ≈ 2 years left)', levels: [11, 10], expected: ['on:10@1'] },
    {
      name: 'jitters between 10 and 14 %: stays open (hysteresis), signals each level',
      levels: [9, 12, 14, 10],
      expected: ['on:9@0', 'on:12@1', 'on:14@2', 'on:10@3'],
    },
    { name: 'recovers at 15 % (battery replaced)', levels: [8, undefined, 15, 12], expected: ['on:8@0', 'off@2'] },
  ];

  it.each(table)('signals as expected when $name', ({ levels, expected }) => {
    expect(run(levels)).toEqual(expected);
  });

  test.prop([fc.array(fc.double({ min: 10.001, max: 100, noNaN: true }), { maxLength: 100 })])(
    'never signals when the battery stays above 10 %',
    (levels) => {
      expect(run(levels)).toEqual([]);
    },
  );

  test.prop([fc.array(fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined }), { maxLength: 100 })])(
    'is active exactly per the hysteresis rule when levels are arbitrary',
    (levels) => {
      let active = false;
      const expected: string[] = [];
      levels.forEach((pct, i) => {
        if (pct === undefined) return;
        if (active && pct >= 15) {
          active = false;
          expected.push(`off@${i}`);
        } else if (active || pct <= 10) {
          active = true;
          expected.push(`on:${pct}@${i}`);
        }
      });
      expect(run(levels)).toEqual(expected);
    },
  );
});
