import { describe, expect, it } from 'vitest';
import type { Rollup } from '../../core/contracts/index.ts';
import { createLocalCalendar, HOUR_MS } from '../../core/local-time.ts';
import { rollupsConfigSchema } from './config.ts';
import { createDistrictRollups, type DistrictDropReason } from './district-rollups.ts';

const calendar = createLocalCalendar('Europe/Paris');
const DAY0 = Date.parse('2026-03-01T23:00:00Z'); // local midnight of 2026-03-02

const hour = (deviceId: string, district: string, h: number, litres: number): Rollup => ({
  kind: 'water-meter',
  scope: 'device',
  deviceId,
  district,
  period: 'hour',
  start: new Date(DAY0 + h * HOUR_MS).toISOString(),
  values: { consumptionL: litres },
});
const day = (deviceId: string, district: string, litres: number, nightLph: number, d = 0): Rollup => ({
  kind: 'water-meter',
  scope: 'device',
  deviceId,
  district,
  period: 'day',
  start: new Date(calendar.dayStartMs(DAY0 + d * 24 * HOUR_MS + HOUR_MS)).toISOString(),
  values: { consumptionL: litres, nightMinFlowLph: nightLph },
});

function setup(overrides: Record<string, unknown> = {}) {
  const drops: DistrictDropReason[] = [];
  const districts = createDistrictRollups({
    config: rollupsConfigSchema.parse(overrides),
    calendar,
    onDrop: (reason) => drops.push(reason),
  });
  return { districts, drops };
}

/** District rollups as `[district, period, hours from DAY0, litres, devices, nightLph?]`. */
const brief = (out: readonly Rollup[]) =>
  out.map((r) => [
    r.district,
    r.period,
    (Date.parse(r.start) - DAY0) / HOUR_MS,
    r.values.consumptionL,
    r.devices,
    ...(r.values.nightMinFlowLph === undefined ? [] : [r.values.nightMinFlowLph]),
  ]);

describe('district rollups', () => {
  it('sums meters of a district per hour with the number of meters when they add up within a batch', () => {
    const { districts } = setup();
    districts.apply(hour('WM-1', 'north', 5, 10.5));
    districts.apply(hour('WM-2', 'north', 5, 4.25));
    districts.apply(hour('WM-3', 'south', 5, 7));
    expect(brief(districts.drain())).toEqual([
      ['north', 'hour', 5, 14.75, 2],
      ['south', 'hour', 5, 7, 1],
    ]);
    expect(districts.drain()).toEqual([]);
  });

  it('re-emits a period with the whole sum so far when a meter adds to it in a later batch', () => {
    const { districts } = setup();
    districts.apply(hour('WM-1', 'north', 5, 10));
    expect(brief(districts.drain())).toEqual([['north', 'hour', 5, 10, 1]]);
    districts.apply(hour('WM-2', 'north', 5, 3));
    expect(brief(districts.drain())).toEqual([['north', 'hour', 5, 13, 2]]);
  });

  it('drops a meter’s rollup sent again after a crash and counts it', () => {
    const { districts, drops } = setup();
    districts.apply(hour('WM-1', 'north', 5, 10));
    districts.apply(hour('WM-1', 'north', 6, 10));
    districts.drain();
    districts.apply(hour('WM-1', 'north', 5, 10));
    districts.apply(hour('WM-1', 'north', 6, 10));
    districts.apply(hour('WM-1', 'north', 7, 2));
    expect(brief(districts.drain())).toEqual([['north', 'hour', 7, 2, 1]]);
    expect(drops).toEqual(['duplicate', 'duplicate']);
  });

  it('takes the night minimum of the district’s hourly sums over 02:00–05:00 local', () => {
    const { districts } = setup();
    // Local 02, 03, 04 = hours 2, 3, 4 after DAY0. Sums: 2 → 9, 3 → 5 + 1 = 6, 4 → 8.
    for (const [h, a, b] of [
      [2, 4, 5],
      [3, 5, 1],
      [4, 2, 6],
    ] as const) {
      districts.apply(hour('WM-1', 'north', h, a));
      districts.apply(hour('WM-2', 'north', h, b));
    }
    districts.apply(day('WM-1', 'north', 100, 2));
    districts.apply(day('WM-2', 'north', 50, 1));
    const out = brief(districts.drain()).filter((r) => r[1] === 'day');
    expect(out).toEqual([['north', 'day', 0, 150, 2, 6]]);
  });

  it('leaves the night minimum out when the district lacks a night hour', () => {
    const { districts } = setup();
    districts.apply(hour('WM-1', 'north', 2, 4));
    districts.apply(day('WM-1', 'north', 100, 2));
    expect(brief(districts.drain())).toEqual([
      ['north', 'hour', 2, 4, 1],
      ['north', 'day', 0, 100, 1],
    ]);
  });

  it('re-emits the day when one of its night hours changes after it', () => {
    const { districts } = setup();
    for (const h of [2, 3, 4]) districts.apply(hour('WM-1', 'north', h, 10));
    districts.apply(day('WM-1', 'north', 240, 10));
    districts.drain();
    districts.apply(hour('WM-2', 'north', 3, 5));
    expect(brief(districts.drain())).toEqual([
      ['north', 'hour', 3, 15, 2],
      ['north', 'day', 0, 240, 1, 10],
    ]);
  });

  it('drops contributions to a period 48 h past its end and forgets its state', () => {
    const { districts, drops } = setup();
    districts.apply(hour('WM-1', 'north', 0, 10));
    districts.apply(hour('WM-2', 'north', 50, 10)); // event time 51 h: hour 0 ended 50 h ago
    districts.drain();
    districts.apply(hour('WM-3', 'north', 0, 10));
    expect(districts.drain()).toEqual([]);
    expect(drops).toEqual(['late']);
    expect(districts.snapshot('d:north')).toBe(
      JSON.stringify({ v: 2, periods: [[`water-meter|hour:${DAY0 + 50 * HOUR_MS}`, 1, [10000]]] }),
    );
  });

  it('continues the same sums when restored from a snapshot', () => {
    const { districts } = setup();
    districts.apply(hour('WM-1', 'north', 5, 10));
    districts.drain();
    const { districts: restored, drops } = setup();
    for (const key of districts.takeDirty()) restored.restore(key, districts.snapshot(key));
    restored.restoreClock(districts.snapshotClock());
    restored.apply(hour('WM-1', 'north', 5, 10)); // re-sent
    restored.apply(hour('WM-2', 'north', 5, 1));
    expect(brief(restored.drain())).toEqual([['north', 'hour', 5, 11, 2]]);
    expect(drops).toEqual(['duplicate']);
  });

  it('counts a district rollup fed back as invalid', () => {
    const { districts, drops } = setup();
    districts.apply({ ...hour('WM-1', 'north', 5, 10), scope: 'district', deviceId: undefined });
    expect(drops).toEqual(['invalid']);
  });
});
