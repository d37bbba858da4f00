import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { DeviceEvent, Rollup } from '../../core/contracts/index.ts';
import { createLocalCalendar, HOUR_MS } from '../../core/local-time.ts';
import { rollupsConfigSchema } from './config.ts';
import { createParkingRollups, type ParkingDropReason } from './parking.ts';

const calendar = createLocalCalendar('Europe/Paris');
const MIN = 60_000;
/** Local midnight (CET, UTC+1) starting 2026-01-15. */
const JAN15 = Date.parse('2026-01-14T23:00:00Z');
/** Local `hh:mm` on 15 January (or later days with hours ≥ 24). */
const at = (hours: number, minutes = 0) => JAN15 + hours * HOUR_MS + minutes * MIN;

const payment = (
  tsMs: number,
  amountCents: number,
  method: string,
  minutes: number,
  deviceId = 'PM-1',
): DeviceEvent => ({
  deviceId,
  kind: 'parking-meter',
  ts: new Date(tsMs).toISOString(),
  type: 'payment',
  data: { amountCents, method, minutes },
});

function setup(overrides: Record<string, unknown> = {}) {
  const drops: ParkingDropReason[] = [];
  let cuts = 0;
  const parking = createParkingRollups({
    config: rollupsConfigSchema.parse(overrides),
    calendar,
    placeOf: (id) => ({ district: id === 'PM-1' ? 'centre' : 'unassigned' }),
    onDrop: (reason) => drops.push(reason),
    onCut: () => {
      cuts += 1;
    },
  });
  return { parking, drops, cuts: () => cuts };
}

function run(events: readonly DeviceEvent[], overrides: Record<string, unknown> = {}) {
  const s = setup(overrides);
  const out: Rollup[] = [];
  for (const e of events) out.push(...s.parking.push(e));
  out.push(...s.parking.flush());
  return { ...s, out };
}

/** `[period, local start "D hh:mm", paidMinutes, revenueCents]`. */
const brief = (out: readonly Rollup[]) =>
  out.map((r) => {
    const local = Date.parse(r.start) - JAN15;
    const hh = String(Math.floor((local % (24 * HOUR_MS)) / HOUR_MS)).padStart(2, '0');
    return [
      r.period,
      `${15 + Math.floor(local / (24 * HOUR_MS))} ${hh}:00`,
      r.values.paidMinutes,
      r.values.revenueCents,
    ];
  });

describe('parking rollups', () => {
  it('spreads a 90-minute payment at 10:45 as 15, 60 and 15 paid minutes over three hours', () => {
    const { out } = run([payment(at(10, 45), 300, 'card', 90)]);
    expect(brief(out)).toEqual([
      ['hour', '15 10:00', 15, 300],
      ['hour', '15 11:00', 60, 0],
      ['hour', '15 12:00', 15, 0],
      ['day', '15 00:00', 90, 300],
    ]);
    expect(out[0]).toEqual({
      kind: 'parking-meter',
      scope: 'device',
      deviceId: 'PM-1',
      district: 'centre',
      period: 'hour',
      start: '2026-01-15T09:00:00.000Z',
      values: {
        revenueCents: 300,
        revenueCoinCents: 0,
        revenueCardCents: 300,
        revenueSmsCents: 0,
        payments: 1,
        paidMinutes: 15,
        paidOccupancy: 0.25,
      },
    });
    expect(out[3]?.values.paidOccupancy).toBe(90 / 1440);
  });

  it('splits a payment crossing midnight between two local days', () => {
    const { out } = run([payment(at(23, 30), 400, 'sms', 120)]);
    expect(brief(out)).toEqual([
      ['hour', '15 23:00', 30, 400],
      ['day', '15 00:00', 30, 400],
      ['hour', '16 00:00', 60, 0],
      ['hour', '16 01:00', 30, 0],
      ['day', '16 00:00', 90, 0],
    ]);
  });

  it('sums revenue by method and the paid vehicles of an hour', () => {
    const { out } = run([
      payment(at(9, 0), 200, 'coin', 60),
      payment(at(9, 10), 150, 'card', 30),
      payment(at(9, 20), 100, 'sms', 60),
      payment(at(9, 30), 50, 'coin', 15),
    ]);
    const nine = out.find((r) => r.period === 'hour' && r.start === new Date(at(9)).toISOString());
    expect(nine?.values).toEqual({
      revenueCents: 500,
      revenueCoinCents: 250,
      revenueCardCents: 150,
      revenueSmsCents: 100,
      payments: 4,
      paidMinutes: 60 + 30 + 40 + 15,
      paidOccupancy: 145 / 60,
    });
  });

  it('uses the local day on the spring DST day (23 h) for the day’s occupancy', () => {
    const midnight = Date.parse('2026-03-28T23:00:00Z');
    const { out } = run([payment(midnight + HOUR_MS, 100, 'coin', 120)]); // 01:00 CET → 04:00 CEST: 2 h
    expect(out.filter((r) => r.period === 'hour').map((r) => [r.start, r.values.paidMinutes])).toEqual([
      ['2026-03-29T00:00:00.000Z', 60], // 01:00 CET
      ['2026-03-29T01:00:00.000Z', 60], // 03:00 CEST (02:00 never happened)
    ]);
    const day = out.find((r) => r.period === 'day');
    expect(day?.start).toBe('2026-03-28T23:00:00.000Z');
    expect(day?.values.paidOccupancy).toBe(120 / (23 * 60));
  });

  it('emits an hour once the watermark passes its end, and drops a payment for a final hour as late', () => {
    const { parking, drops } = setup(); // tolerance 15 min
    expect(parking.push(payment(at(10, 5), 100, 'coin', 10))).toEqual([]);
    expect(parking.push(payment(at(11, 10), 100, 'coin', 10, 'PM-2'))).toEqual([]); // watermark 10:55
    const out = parking.push(payment(at(11, 20), 100, 'coin', 10, 'PM-2')); // watermark 11:05: 10:00 is final
    expect(brief(out)).toEqual([['hour', '15 10:00', 10, 100]]);
    expect(parking.push(payment(at(10, 50), 100, 'coin', 10))).toEqual([]);
    expect(drops).toEqual(['late']);
  });

  it('drops a duplicate payment and events other than payments, and cuts a paid time over the maximum', () => {
    const { out, drops, cuts } = run([
      payment(at(8), 100, 'coin', 30),
      payment(at(8), 100, 'coin', 30),
      { ...payment(at(8, 5), 0, 'coin', 0), type: 'fault', data: { code: 'coin-jam' } },
      payment(at(8, 10), 1000, 'card', 3000),
    ]);
    expect(drops).toEqual(['duplicate', 'not-payment']);
    expect(cuts()).toBe(1);
    const days = out.filter((r) => r.period === 'day');
    expect(days.map((r) => [r.values.revenueCents, r.values.payments, r.values.paidMinutes])).toEqual([
      [1100, 2, 30 + (24 * 60 - 8 * 60 - 10)],
      [0, 0, 8 * 60 + 10], // the 24 h of the long payment end at 08:10 the next day
    ]);
  });

  it('continues with the same rollups when restored from a snapshot, and forgets meters with nothing open', () => {
    const events = [
      payment(at(8), 100, 'coin', 240),
      payment(at(9, 30), 200, 'card', 60, 'PM-2'),
      payment(at(12, 40), 300, 'sms', 90),
      payment(at(14), 50, 'coin', 30, 'PM-2'),
      payment(at(30), 10, 'coin', 10, 'PM-3'),
    ];
    const whole = run(events).out;
    const first = setup();
    const out: Rollup[] = [];
    for (const e of events.slice(0, 3)) out.push(...first.parking.push(e));
    const second = setup();
    for (const key of first.parking.takeDirty()) {
      const json = first.parking.snapshot(key);
      if (json !== undefined) second.parking.restore(key, json);
    }
    second.parking.restoreClock(first.parking.snapshotClock());
    for (const e of events.slice(3)) out.push(...second.parking.push(e));
    expect(second.parking.devices()).toBe(1); // PM-3: PM-1 and PM-2 are final and forgotten
    out.push(...second.parking.flush());
    expect(out).toEqual(whole);
  });

  const paymentArb = fc.record({
    offsetMin: fc.integer({ min: 0, max: 3 * 24 * 60 }),
    amountCents: fc.integer({ min: 0, max: 2_000 }),
    method: fc.constantFrom('coin', 'card', 'sms'),
    minutes: fc.integer({ min: 0, max: 600 }),
    meter: fc.constantFrom('PM-1', 'PM-2', 'PM-3'),
    delayMin: fc.integer({ min: 0, max: 14 }),
  });

  test.prop([fc.uniqueArray(paymentArb, { maxLength: 60, selector: (p) => `${p.meter}|${p.offsetMin}` })])(
    'keeps every cent and paid minute, and gives the same rollups whatever the arrival order within the tolerance',
    (payments) => {
      const events = payments.map((p) => payment(at(0, p.offsetMin), p.amountCents, p.method, p.minutes, p.meter));
      // Arrival: each payment delayed by less than the 15-min tolerance.
      const arrival = payments
        .map((p, i) => ({ i, arriveMs: at(0, p.offsetMin + p.delayMin) }))
        .sort((a, b) => a.arriveMs - b.arriveMs || a.i - b.i)
        .map(({ i }) => events[i] as DeviceEvent);
      const inOrder = run([...events].sort((a, b) => Date.parse(a.ts) - Date.parse(b.ts)));
      const shuffled = run(arrival);
      expect(shuffled.drops).toEqual([]);
      const key = (r: Rollup) => `${r.deviceId}|${r.period}|${r.start}`;
      const sorted = (out: Rollup[]) => [...out].sort((a, b) => key(a).localeCompare(key(b)));
      expect(sorted(shuffled.out)).toEqual(sorted(inOrder.out));
      for (const period of ['hour', 'day']) {
        const of = shuffled.out.filter((r) => r.period === period);
        const total = (name: string) => of.reduce((s, r) => s + (r.values[name] as number), 0);
        expect(total('revenueCents')).toBe(payments.reduce((s, p) => s + p.amountCents, 0));
        expect(total('payments')).toBe(payments.length);
        expect(Math.round(total('paidMinutes') * 1000) / 1000).toBe(payments.reduce((s, p) => s + p.minutes, 0));
      }
    },
  );
});
