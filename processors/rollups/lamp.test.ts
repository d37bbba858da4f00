import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading, Rollup } from '../../core/contracts/index.ts';
import { createLocalCalendar, HOUR_MS } from '../../core/local-time.ts';
import { rollupsConfigSchema } from './config.ts';
import { streetlightKind } from './lamp-rollups.ts';
import { createOrderedRollups, type Skipped } from './ordered-rollups.ts';

const calendar = createLocalCalendar('Europe/Paris');
const MIN = 60_000;
/** Local midnight (CET, UTC+1) starting 2026-01-15. */
const JAN15 = Date.parse('2026-01-14T23:00:00Z');

const lamp = (tsMs: number, powerW: number, energyWh?: number, deviceId = 'SL-1'): Reading => ({
  deviceId,
  kind: 'streetlight',
  ts: new Date(tsMs).toISOString(),
  metrics: { powerW, ...(energyWh === undefined ? {} : { energyWh }) },
});

/** Readings every 15 min from `fromMs` (inclusive) to `toMs` (exclusive) at `powerW(tsMs)`. */
function every15(fromMs: number, toMs: number, powerW: (tsMs: number) => number, id = 'SL-1'): Reading[] {
  const out: Reading[] = [];
  for (let t = fromMs; t < toMs; t += 15 * MIN) out.push(lamp(t, powerW(t), undefined, id));
  return out;
}

function run(readings: readonly Reading[], overrides: Record<string, unknown> = {}) {
  const config = rollupsConfigSchema.parse(overrides);
  const drops: string[] = [];
  const skipped: Skipped[] = [];
  const lamps = createOrderedRollups(streetlightKind(config, calendar), {
    reorderToleranceMs: config.reorderToleranceMs,
    placeOf: (id) => (id === 'SL-1' ? { district: 'north', circuit: 'C-1' } : { district: 'unassigned' }),
    onDrop: (reason) => drops.push(reason),
    onSkip: (_id, s) => skipped.push(s),
  });
  const out: Rollup[] = [];
  for (const r of readings) out.push(...lamps.push(r));
  out.push(...lamps.flush());
  return { out, drops, skipped, lamps };
}

/** `[local start hour, energyWh, litHours]` of the hour rollups, and the day rollups' values by local date. */
function brief(out: readonly Rollup[]) {
  const hours = out
    .filter((r) => r.period === 'hour')
    .map((r) => [calendar.localHour(Date.parse(r.start)), r.values.energyWh, r.values.litHours]);
  const days = out
    .filter((r) => r.period === 'day')
    .map((r) => [
      new Date(Date.parse(r.start) + calendar.offsetMs(Date.parse(r.start))).toISOString().slice(0, 10),
      r.values,
    ]);
  return { hours, days };
}

describe('lamp rollups', () => {
  it('splits 630 Wh over the hours of a lamp lit at 60 W for 10 h 30 min, and its two local days', () => {
    // Off (0 W) from local midnight 15 Jan; 60 W from 18:00 to 04:30 (16 Jan); off until 01:00 on 17 Jan.
    const litFrom = JAN15 + 18 * HOUR_MS;
    const litTo = litFrom + 10.5 * HOUR_MS;
    const readings = every15(JAN15, JAN15 + 49 * HOUR_MS, (t) => (t >= litFrom && t < litTo ? 60 : 0));
    const { out, drops, skipped } = run(readings);
    const { hours, days } = brief(out);
    const lit = hours.filter(([, wh]) => (wh as number) > 0);
    expect(lit).toEqual([
      ...[18, 19, 20, 21, 22, 23, 0, 1, 2, 3].map((h) => [h, 60, 1]),
      [4, 30, 0.5], // 04:00–04:30 lit
    ]);
    expect(lit.reduce((sum, [, wh]) => sum + (wh as number), 0)).toBe(630);
    expect(days).toEqual([
      ['2026-01-15', { energyWh: 360, litHours: 6 }],
      ['2026-01-16', { energyWh: 270, litHours: 4.5 }],
    ]);
    expect(out[0]).toMatchObject({
      kind: 'streetlight',
      scope: 'device',
      deviceId: 'SL-1',
      district: 'north',
      circuit: 'C-1',
    });
    expect(drops).toEqual([]);
    expect(skipped).toEqual([]);
  });

  it('gives 23 hours and 300 Wh on the spring DST night and 25 hours and 420 Wh on the autumn one', () => {
    for (const [midnightIso, nextMidnightIso, litUntilIso, wantHours, wantWh] of [
      ['2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z', '2026-03-29T04:00:00Z', 23, 300], // lit 00:00–06:00 CEST: 5 h
      ['2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z', '2026-10-25T05:00:00Z', 25, 420], // lit 00:00–06:00 CET: 7 h
    ] as const) {
      const start = Date.parse(midnightIso);
      const end = Date.parse(nextMidnightIso);
      const litUntil = Date.parse(litUntilIso);
      const { out } = run(every15(start, end + HOUR_MS, (t) => (t < litUntil ? 60 : 0)));
      const dayHours = out.filter((r) => r.period === 'hour' && Date.parse(r.start) < end);
      expect(dayHours, midnightIso).toHaveLength(wantHours);
      expect(dayHours.filter((r) => r.values.energyWh === 60)).toHaveLength(wantWh / 60);
      const day = out.find((r) => r.period === 'day');
      expect(day?.start).toBe(new Date(start).toISOString());
      expect(day?.values).toEqual({ energyWh: wantWh, litHours: wantWh / 60 });
    }
  });

  it('takes the energyWh counter when present, and the held power when the counter resets or jumps', () => {
    const t = JAN15 + 20 * HOUR_MS;
    const readings = [
      lamp(t, 50, 1000),
      lamp(t + 15 * MIN, 50, 1015), // +15 Wh by the counter (60 W), not 12.5 by power
      lamp(t + 30 * MIN, 50, 1030),
      lamp(t + 45 * MIN, 50, 3), // counter reset: 50 W × 15 min = 12.5 Wh
      lamp(t + 60 * MIN, 50, 10_000), // +9997 Wh in 15 min: implausible, 12.5 Wh
      lamp(t + 75 * MIN, 50), // no counter: held power, 12.5 Wh
      lamp(t + 120 * MIN, 0, 10_020),
    ];
    const { hours } = brief(run(readings).out);
    expect(hours).toEqual([
      [20, 15 + 15 + 12.5 + 12.5, 1],
      [21, 12.5 + 37.5, 1],
    ]);
  });

  it('counts the power above the standby draw as lit, and gives no rollup across a silence over 3 h', () => {
    const t = JAN15 + 20 * HOUR_MS;
    const readings = [
      lamp(t, 2),
      lamp(t + HOUR_MS, 2.5),
      lamp(t + 2 * HOUR_MS, 30),
      lamp(t + 5.5 * HOUR_MS, 30), // 3 h 30 min of silence
      lamp(t + 6 * HOUR_MS, 30),
      lamp(t + 7 * HOUR_MS, 30),
    ];
    const { out, skipped } = run(readings);
    expect(brief(out).hours).toEqual([
      [20, 2, 0], // 2 W is standby
      [21, 2.5, 1],
      [2, 30, 1], // 02:00–03:00 local, after the hour the silence ended in
    ]);
    // Hours 22, 23 (then the day, whose first hours came before the first reading), 00 and 01.
    expect(skipped.map((s) => `${s.period}:${s.reason}`)).toEqual([
      'hour:gap',
      'hour:gap',
      'day:first',
      'hour:gap',
      'hour:gap',
    ]);
  });

  it('drops a reading without powerW, duplicates and late readings, and counts them', () => {
    const t = JAN15;
    const readings: Reading[] = [
      lamp(t, 10),
      { deviceId: 'SL-1', kind: 'streetlight', ts: new Date(t + MIN).toISOString(), metrics: { dimPct: 50 } },
      lamp(t, 10),
      lamp(t + 20 * MIN, 10),
      lamp(t + 40 * MIN, 10),
    ];
    const drops: string[] = [];
    const config = rollupsConfigSchema.parse({ reorderToleranceMs: 0 });
    const strict = createOrderedRollups(streetlightKind(config, calendar), {
      reorderToleranceMs: 0,
      placeOf: () => ({ district: 'unassigned' }),
      onDrop: (reason) => drops.push(reason),
    });
    for (const r of [...readings, lamp(t + 10 * MIN, 10)]) strict.push(r);
    expect(drops).toEqual(['no-power', 'duplicate', 'late']);
    expect(strict.devices()).toBe(1);
  });

  it('continues with the same rollups when restored from a snapshot', () => {
    const readings = every15(JAN15, JAN15 + 30 * HOUR_MS, (t) => ((t / MIN) % 60 === 0 ? 40 : 55));
    const whole = run(readings).out;
    const config = rollupsConfigSchema.parse({});
    const opts = {
      reorderToleranceMs: config.reorderToleranceMs,
      placeOf: () => ({ district: 'north', circuit: 'C-1' }),
    };
    const first = createOrderedRollups(streetlightKind(config, calendar), opts);
    const out: Rollup[] = [];
    for (const r of readings.slice(0, 50)) out.push(...first.push(r));
    const second = createOrderedRollups(streetlightKind(config, calendar), opts);
    for (const key of first.takeDirty()) second.restore(key, JSON.parse(first.snapshot(key) as string));
    second.restoreClock(first.snapshotClock());
    for (const r of readings.slice(50)) out.push(...second.push(r));
    out.push(...second.flush());
    expect(out).toEqual(whole);
  });

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 1, max: 90 }), fc.integer({ min: 0, max: 120 })), {
      minLength: 2,
      maxLength: 80,
    }),
  ])('sums, hour by hour, the held power over time (within 1 mWh) when readings come at any pace', (steps) => {
    // Readings `minutes` apart (never beyond the 3 h gap) at `powerW`.
    let t = JAN15 + 7 * MIN;
    const readings = steps.map(([minutes, powerW]) => {
      t += minutes * MIN;
      return lamp(t, powerW);
    });
    const { out } = run(readings);
    const hourly = out.filter((r) => r.period === 'hour');
    for (const r of hourly) {
      const s = Date.parse(r.start);
      const e = s + HOUR_MS;
      let wh = 0;
      let litH = 0;
      for (let i = 1; i < readings.length; i++) {
        const a = Date.parse((readings[i - 1] as Reading).ts);
        const b = Date.parse((readings[i] as Reading).ts);
        const overlap = Math.max(0, Math.min(b, e) - Math.max(a, s)) / HOUR_MS;
        const powerW = (readings[i - 1] as Reading).metrics.powerW as number;
        wh += powerW * overlap;
        if (powerW > 2) litH += overlap;
      }
      expect(Math.abs((r.values.energyWh as number) - wh)).toBeLessThanOrEqual(0.0011);
      expect(Math.abs((r.values.litHours as number) - litH)).toBeLessThanOrEqual(0.0011);
    }
    // Every hour from the first full one to the last reading's is there, once.
    const t0 = Date.parse((readings[0] as Reading).ts);
    const first = calendar.hourStartMs(t0) === t0 ? t0 : calendar.nextHourMs(calendar.hourStartMs(t0));
    const last = calendar.hourStartMs(t);
    expect(hourly.length).toBe(Math.max(0, Math.round((last - first) / HOUR_MS)));
  });
});
