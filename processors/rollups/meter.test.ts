import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { createLocalCalendar, HOUR_MS } from '../../core/local-time.ts';
import { rollupsConfigSchema } from './config.ts';
import { type MeterPeriod, type MeterRollupState, type SkippedPeriod, stepMeter } from './meter.ts';

const calendar = createLocalCalendar('Europe/Paris');
const DEFAULTS = rollupsConfigSchema.parse({});
const at = (iso: string) => Date.parse(iso);

/** Runs readings `[iso, indexL]` (in order) through stepMeter; periods as `[kind, start iso, litres, nightLph?]`. */
function run(readings: ReadonlyArray<readonly [string | number, number]>, overrides: Record<string, unknown> = {}) {
  const config = rollupsConfigSchema.parse(overrides);
  let state: MeterRollupState | undefined;
  const periods: MeterPeriod[] = [];
  const skipped: SkippedPeriod[] = [];
  for (const [ts, index] of readings) {
    const step = stepMeter(state, typeof ts === 'number' ? ts : at(ts), index, calendar, config);
    state = step.state;
    periods.push(...step.periods);
    skipped.push(...step.skipped);
  }
  return {
    periods: periods.map((p) => [
      p.period,
      new Date(p.startMs).toISOString().slice(0, 16),
      p.consumptionMl / 1000,
      ...(p.nightMinMl === undefined ? [] : [p.nightMinMl / 1000]),
    ]),
    skipped: skipped.map((s) => [s.period, new Date(s.startMs).toISOString().slice(0, 16), s.reason]),
    state,
  };
}

/** Hourly readings from `startIso`, one per hour, with the given litres per hour; returns `[ms, index]` pairs. */
function hourly(startIso: string, litresPerHour: readonly number[], index0 = 1000): Array<[number, number]> {
  const out: Array<[number, number]> = [[at(startIso), index0]];
  let index = index0;
  litresPerHour.forEach((l, i) => {
    index += l;
    out.push([at(startIso) + (i + 1) * HOUR_MS, index]);
  });
  return out;
}

describe('stepMeter', () => {
  it('interpolates the index linearly at hour boundaries when readings fall inside hours', () => {
    const { periods, skipped } = run([
      ['2026-03-02T09:00Z', 1000],
      ['2026-03-02T10:30Z', 1090], // 60 L/h
      ['2026-03-02T12:30Z', 1290], // 100 L/h
    ]);
    // I(10) = 1060, I(11) = 1090 + 200·0.5/2 = 1140, I(12) = 1090 + 200·1.5/2 = 1240.
    expect(periods).toEqual([
      ['hour', '2026-03-02T09:00', 60],
      ['hour', '2026-03-02T10:00', 80],
      ['hour', '2026-03-02T11:00', 100],
    ]);
    expect(skipped).toEqual([]);
  });

  it('emits an hour only once a reading at or after its end arrives', () => {
    expect(
      run([
        ['2026-03-02T09:00Z', 1000],
        ['2026-03-02T09:59Z', 1059],
      ]).periods,
    ).toEqual([]);
    expect(
      run([
        ['2026-03-02T09:00Z', 1000],
        ['2026-03-02T10:00Z', 1060],
      ]).periods,
    ).toEqual([['hour', '2026-03-02T09:00', 60]]);
  });

  it('skips the hour before the first reading when the meter starts mid-hour', () => {
    const { periods, skipped } = run([
      ['2026-03-02T09:15Z', 1000],
      ['2026-03-02T10:15Z', 1040],
      ['2026-03-02T11:00Z', 1070],
    ]);
    expect(skipped).toEqual([['hour', '2026-03-02T09:00', 'first']]);
    expect(periods).toEqual([['hour', '2026-03-02T10:00', 40]]); // I(10) = 1030, I(11) = 1070
  });

  it('spreads a silence evenly over its hours when it is shorter than maxGapHours', () => {
    const { periods } = run([
      ['2026-03-02T10:00Z', 1010],
      ['2026-03-02T13:00Z', 1310],
    ]);
    expect(periods).toEqual([
      ['hour', '2026-03-02T10:00', 100],
      ['hour', '2026-03-02T11:00', 100],
      ['hour', '2026-03-02T12:00', 100],
    ]);
  });

  it('gives no rollup for the hours of a gap longer than maxGapHours and counts them', () => {
    const { periods, skipped } = run(
      [
        ['2026-03-02T09:00Z', 1000],
        ['2026-03-02T10:00Z', 1010],
        ['2026-03-02T15:30Z', 1500],
        ['2026-03-02T16:00Z', 1520],
        ['2026-03-02T17:00Z', 1530],
      ],
      { maxGapHours: 3 },
    );
    expect(periods).toEqual([
      ['hour', '2026-03-02T09:00', 10],
      ['hour', '2026-03-02T16:00', 10],
    ]);
    expect(skipped).toEqual([
      ['hour', '2026-03-02T10:00', 'gap'],
      ['hour', '2026-03-02T11:00', 'gap'],
      ['hour', '2026-03-02T12:00', 'gap'],
      ['hour', '2026-03-02T13:00', 'gap'],
      ['hour', '2026-03-02T14:00', 'gap'],
      ['hour', '2026-03-02T15:00', 'gap'], // spans the gap's end at 15:30
    ]);
  });

  it('gives no rollup for the hour of a register reset and restarts from the new index', () => {
    const { periods, skipped } = run([
      ['2026-03-02T09:00Z', 1000],
      ['2026-03-02T10:00Z', 1050],
      ['2026-03-02T10:30Z', 20],
      ['2026-03-02T11:00Z', 30],
      ['2026-03-02T12:00Z', 50],
    ]);
    expect(periods).toEqual([
      ['hour', '2026-03-02T09:00', 50],
      ['hour', '2026-03-02T11:00', 20],
    ]);
    expect(skipped).toEqual([['hour', '2026-03-02T10:00', 'reset']]);
  });

  it('absorbs a drop of 1 L as jitter when the index then goes on', () => {
    const { periods, skipped } = run([
      ['2026-03-02T09:00Z', 1000],
      ['2026-03-02T10:00Z', 999],
      ['2026-03-02T11:00Z', 1005],
    ]);
    expect(periods).toEqual([
      ['hour', '2026-03-02T09:00', 0],
      ['hour', '2026-03-02T10:00', 5],
    ]);
    expect(skipped).toEqual([]);
  });

  it('emits a day of 24 hours with its night minimum over 02:00–05:00 local when every hour is known', () => {
    // 2026-03-02 in Paris (UTC+1): 2026-03-01T23:00Z → 2026-03-02T23:00Z; night hours 01Z, 02Z, 03Z.
    const night: Record<number, number> = { 2: 7, 3: 5, 4: 6 };
    const litres = Array.from({ length: 24 }, (_, i) => night[i] ?? 10);
    const { periods } = run(hourly('2026-03-01T23:00Z', litres));
    const day = periods.filter((p) => p[0] === 'day');
    expect(day).toEqual([['day', '2026-03-01T23:00', 21 * 10 + 7 + 5 + 6, 5]]);
    expect(periods.filter((p) => p[0] === 'hour')).toHaveLength(24);
  });

  it('makes the spring DST day 23 hours with two night hours in Paris', () => {
    // 2026-03-29: 2026-03-28T23:00Z → 2026-03-29T22:00Z. Local 02:00 does not exist; 03:00 = 01Z, 04:00 = 02Z.
    const litres = Array.from({ length: 23 }, (_, i) => (i === 2 ? 4 : i === 3 ? 3 : 10));
    const { periods, skipped } = run(hourly('2026-03-28T23:00Z', litres));
    expect(periods.filter((p) => p[0] === 'day')).toEqual([['day', '2026-03-28T23:00', 21 * 10 + 4 + 3, 3]]);
    expect(periods.filter((p) => p[0] === 'hour')).toHaveLength(23);
    expect(skipped).toEqual([]);
  });

  it('makes the autumn DST day 25 hours with four night hours in Paris', () => {
    // 2026-10-25: 2026-10-24T22:00Z → 2026-10-25T23:00Z; 02:00 CEST = 00Z, 02:00 CET = 01Z, 03:00 = 02Z, 04:00 = 03Z.
    const night: Record<number, number> = { 2: 8, 3: 6, 4: 7, 5: 9 };
    const litres = Array.from({ length: 25 }, (_, i) => night[i] ?? 10);
    const { periods } = run(hourly('2026-10-24T22:00Z', litres));
    expect(periods.filter((p) => p[0] === 'day')).toEqual([['day', '2026-10-24T22:00', 21 * 10 + 30, 6]]);
    expect(periods.filter((p) => p[0] === 'hour')).toHaveLength(25);
  });

  it('skips a day that has an unknown hour and names the reason', () => {
    const litres = Array.from({ length: 24 }, () => 10);
    const readings = hourly('2026-03-01T23:00Z', litres);
    readings.splice(13, 1, [readings[13]![0], 0]); // a reset at 12Z
    const { periods, skipped } = run(readings);
    expect(periods.filter((p) => p[0] === 'day')).toEqual([]);
    expect(skipped).toContainEqual(['day', '2026-03-01T23:00', 'reset']);
  });

  it('skips the first day when the meter starts after midnight', () => {
    const { skipped } = run(
      hourly(
        '2026-03-02T05:00Z',
        Array.from({ length: 18 }, () => 10),
      ),
    );
    expect(skipped).toEqual([['day', '2026-03-01T23:00', 'first']]);
  });

  test.prop(
    [
      fc.array(fc.tuple(fc.integer({ min: 1, max: 240 }), fc.integer({ min: 0, max: 500 })), {
        minLength: 1,
        maxLength: 200,
      }),
    ],
    { numRuns: 200 },
  )('sums hours to days and days to the index difference when there is no reset', (steps) => {
    // From a local midnight to the next local midnight after the last step: every day complete.
    const startMs = at('2026-03-27T23:00:00Z'); // covers the spring DST day
    const readings: Array<[number, number]> = [[startMs, 5000]];
    let t = startMs;
    let index = 5000;
    for (const [minutes, litres] of steps) {
      t += minutes * 60_000;
      index += litres;
      readings.push([t, index]);
    }
    const endMs = calendar.nextDayMs(calendar.dayStartMs(t));
    readings.push([endMs, index]);
    let state: MeterRollupState | undefined;
    const periods: MeterPeriod[] = [];
    for (const [ts, i] of readings) {
      const step = stepMeter(state, ts, i, calendar, DEFAULTS);
      expect(step.skipped).toEqual([]);
      state = step.state;
      periods.push(...step.periods);
    }
    const hours = periods.filter((p) => p.period === 'hour');
    const days = periods.filter((p) => p.period === 'day');
    const total = index - 5000;
    expect(hours.reduce((s, p) => s + p.consumptionMl, 0)).toBe(total * 1000);
    expect(days.reduce((s, p) => s + p.consumptionMl, 0)).toBe(total * 1000);
    expect(hours).toHaveLength((endMs - startMs) / HOUR_MS);
    for (const d of days) {
      const end = calendar.nextDayMs(d.startMs);
      const ofDay = hours.filter((h) => h.startMs >= d.startMs && h.startMs < end);
      expect(ofDay.reduce((s, p) => s + p.consumptionMl, 0)).toBe(d.consumptionMl);
      expect(d.nightMinMl).toBeDefined();
    }
  });
});
