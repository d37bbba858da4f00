import { describe, expect, it } from 'vitest';
import type { Rollup } from '../../core/contracts/index.ts';
import { createLocalCalendar, HOUR_MS } from '../../core/local-time.ts';
import { rollupsConfigSchema } from './config.ts';
import { createGroupRollups, type GroupDropReason, type GroupScope } from './group-rollups.ts';

const calendar = createLocalCalendar('Europe/Paris');
const DAY0 = Date.parse('2026-01-14T23:00:00Z'); // local midnight of 2026-01-15

const lampHour = (
  deviceId: string,
  circuit: string,
  district: string,
  h: number,
  energyWh: number,
  litHours = 1,
): Rollup => ({
  kind: 'streetlight',
  scope: 'device',
  deviceId,
  district,
  circuit,
  period: 'hour',
  start: new Date(DAY0 + h * HOUR_MS).toISOString(),
  values: { energyWh, litHours },
});

const parkingDay = (
  deviceId: string,
  district: string,
  coin: number,
  card: number,
  sms: number,
  paidMinutes: number,
): Rollup => ({
  kind: 'parking-meter',
  scope: 'device',
  deviceId,
  district,
  period: 'day',
  start: new Date(DAY0).toISOString(),
  values: {
    revenueCents: coin + card + sms,
    revenueCoinCents: coin,
    revenueCardCents: card,
    revenueSmsCents: sms,
    payments: 3,
    paidMinutes,
    paidOccupancy: paidMinutes / 1440,
  },
});

function setup(scope: GroupScope) {
  const drops: GroupDropReason[] = [];
  const groups = createGroupRollups({
    scope,
    config: rollupsConfigSchema.parse({}),
    calendar,
    onDrop: (reason) => drops.push(reason),
  });
  return { groups, drops };
}

describe('group rollups', () => {
  it('sums lamps per circuit and district, with the number of lamps', () => {
    const { groups, drops } = setup('circuit');
    groups.apply(lampHour('SL-1', 'C-1', 'north', 20, 60));
    groups.apply(lampHour('SL-2', 'C-1', 'north', 20, 42.5, 0.75));
    groups.apply(lampHour('SL-3', 'C-2', 'north', 20, 30));
    groups.apply(lampHour('SL-4', 'C-1', 'south', 20, 10, 0.5)); // C-1 crosses into south: its own record
    expect(groups.drain()).toEqual([
      {
        kind: 'streetlight',
        scope: 'circuit',
        circuit: 'C-1',
        district: 'north',
        period: 'hour',
        start: new Date(DAY0 + 20 * HOUR_MS).toISOString(),
        values: { energyWh: 102.5, litHours: 1.75 },
        devices: 2,
      },
      expect.objectContaining({ circuit: 'C-2', district: 'north', values: { energyWh: 30, litHours: 1 }, devices: 1 }),
      expect.objectContaining({
        circuit: 'C-1',
        district: 'south',
        values: { energyWh: 10, litHours: 0.5 },
        devices: 1,
      }),
    ]);
    // A water meter's rollup has no circuit.
    groups.apply({
      ...lampHour('WM-1', 'C-1', 'north', 20, 1),
      kind: 'water-meter',
      circuit: undefined,
      values: { consumptionL: 1 },
    });
    expect(drops).toEqual(['invalid']);
  });

  it('keeps each kind apart in a district and sums parking revenue with the paid occupancy of the period', () => {
    const { groups } = setup('district');
    groups.apply(lampHour('SL-1', 'C-1', 'centre', 20, 60));
    groups.apply(parkingDay('PM-1', 'centre', 100, 200, 300, 720));
    groups.apply(parkingDay('PM-2', 'centre', 50, 0, 0, 1440));
    const out = groups.drain();
    expect(out.map((r) => [r.kind, r.scope, r.circuit, r.district, r.period, r.devices])).toEqual([
      ['streetlight', 'district', undefined, 'centre', 'hour', 1],
      ['parking-meter', 'district', undefined, 'centre', 'day', 2],
    ]);
    expect(out[1]?.values).toEqual({
      revenueCents: 650,
      revenueCoinCents: 150,
      revenueCardCents: 200,
      revenueSmsCents: 300,
      payments: 6,
      paidMinutes: 2160,
      paidOccupancy: 1.5, // 2160 paid minutes over a 1440-minute day: 1.5 paid vehicles on average
    });
  });

  it('sums paid minutes exactly whatever the order of thirds of a minute', () => {
    const third = 1 / 3;
    const orders = [
      [third, 2 * third, 1 + third],
      [1 + third, third, 2 * third],
    ];
    const sums = orders.map((minutes) => {
      const { groups } = setup('district');
      minutes.forEach((m, i) => {
        groups.apply(parkingDay(`PM-${i}`, 'centre', 0, 0, 0, m));
      });
      return groups.drain()[0]?.values.paidMinutes;
    });
    expect(sums[0]).toBe(140_000 / 60_000); // 20 s + 40 s + 80 s
    expect(sums[1]).toBe(sums[0]);
  });

  it('reads a district snapshot written before streetlights and parking (water meters only)', () => {
    const { groups } = setup('district');
    groups.restore('d:north', JSON.stringify({ periods: [[`hour:${DAY0 + 5 * HOUR_MS}`, 10_000, 1]] }));
    groups.apply({
      kind: 'water-meter',
      scope: 'device',
      deviceId: 'WM-2',
      district: 'north',
      period: 'hour',
      start: new Date(DAY0 + 5 * HOUR_MS).toISOString(),
      values: { consumptionL: 2.5 },
    });
    expect(groups.drain()).toEqual([
      expect.objectContaining({ kind: 'water-meter', district: 'north', values: { consumptionL: 12.5 }, devices: 2 }),
    ]);
    expect(() => groups.restore('d:south', '{"v":2,"periods":[["streetlight|hour:0",1,[1]]]}')).toThrow(
      /ERR_ROLLUP_STATE|1 sums/,
    );
  });
});
