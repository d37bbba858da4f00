import { describe, expect, it } from 'vitest';
import { DeviceEventPayload } from '../core/contracts/index.ts';
import { generateMessages } from './generate.ts';
import { localTime } from './local-clock.ts';
import { type EventMessage, payloadOf, type ReadingMessage, type SimMessage } from './message.ts';
import { isPaidTime } from './parking-meter.ts';
import { parseScenario, type ScenarioInput } from './scenario.ts';

const DAY_MS = 86_400_000;
const START = '2026-03-02T00:00:00Z'; // a Monday
const START_MS = Date.parse(START);
const TZ = 'Europe/Paris';

const meters = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'meters under test',
  kind: 'parking-meter',
  devices: 6,
  seed: 'pm',
  startTs: START,
  ...extra,
});

const run = (input: ScenarioInput, days: number): SimMessage[] => [
  ...generateMessages({ scenario: parseScenario(input), endMs: START_MS + days * DAY_MS }),
];
const eventsOf = (list: SimMessage[], id?: string) =>
  list.filter((m): m is EventMessage => m.event !== undefined && (id === undefined || m.deviceId === id));
const readingsOf = (list: SimMessage[], id: string) =>
  list.filter((m): m is ReadingMessage => m.reading !== undefined && m.deviceId === id);

describe('parking-meter', () => {
  it('takes payments only in paid hours, at the tariff, with the usual method mix, when run for two weeks', () => {
    const list = run(meters({ devices: 10 }), 14);
    const payments = eventsOf(list).filter((m) => m.event.type === 'payment');
    expect(payments.length).toBeGreaterThan(10 * 12 * 15); // ≥ 15 a paid day per meter
    const methods = { coin: 0, card: 0, sms: 0 };
    let sundays = 0;
    for (const m of payments) {
      const { weekday, minute } = localTime(TZ, m.tsMs);
      expect(isPaidTime(weekday, minute), m.event.ts).toBe(true);
      if (weekday === 0) sundays++;
      const d = m.event.data as { amountCents: number; method: 'coin' | 'card' | 'sms'; minutes: number };
      expect(d.minutes).toBeGreaterThanOrEqual(10);
      expect(d.minutes).toBeLessThanOrEqual(120);
      expect(d.amountCents).toBe(Math.round(d.minutes * 2.5)); // €0.50 per 20 min
      methods[d.method]++;
      expect(DeviceEventPayload.safeParse(JSON.parse(payloadOf(m).toString())).success).toBe(true);
      expect(m.topic).toBe(`vigie/v1/parking-meter/${m.deviceId}/event`);
    }
    expect(sundays).toBe(0);
    const n = payments.length;
    expect(methods.coin / n).toBeCloseTo(0.4, 1);
    expect(methods.card / n).toBeCloseTo(0.45, 1);
    expect(methods.sms / n).toBeCloseTo(0.15, 1);
    // Events and readings come in time order.
    for (let i = 1; i < list.length; i++) expect(list[i]!.tsMs).toBeGreaterThanOrEqual(list[i - 1]!.tsMs);
  });

  it('reports battery, paper and coins in range, refilling paper and emptying the box, when run for a month', () => {
    const list = run(meters({ devices: 3 }), 30);
    for (const id of ['PM-000001', 'PM-000002', 'PM-000003']) {
      const readings = readingsOf(list, id).map((m) => m.reading.metrics);
      expect(readings).toHaveLength(30 * 96);
      expect(readings.every((r) => (r.batteryPct as number) >= 70 && (r.batteryPct as number) <= 100)).toBe(true);
      expect(readings.every((r) => (r.paperPct as number) >= 0 && (r.paperPct as number) <= 100)).toBe(true);
      // The weekly collection empties the coin box: it falls back to 0 at least four times.
      let emptied = 0;
      for (let i = 1; i < readings.length; i++) {
        if ((readings[i]!.coinFillPct as number) === 0 && (readings[i - 1]!.coinFillPct as number) > 0) emptied++;
      }
      expect(emptied).toBeGreaterThanOrEqual(4);
    }
  });

  it('raises fault and fault-cleared events and changes payments when each parking fault is injected', () => {
    const input = meters({
      devices: 8,
      faults: [
        { type: 'coin-jam', deviceIds: ['PM-000001'], start: 'P1DT8H', duration: 'P2D' },
        { type: 'card-reader', deviceIds: ['PM-000002'], start: 'P1DT8H', duration: 'P2D' },
        { type: 'paper-out', deviceIds: ['PM-000003'], start: 'P1DT8H', duration: 'P2D' },
        { type: 'out-of-order', deviceIds: ['PM-000004'], start: 'P1DT8H', duration: 'P2D' },
        { type: 'coin-box-full', deviceIds: ['PM-000005'], start: 'P1DT8H', duration: 'P2D' },
        { type: 'vandalism', deviceIds: ['PM-000006'], start: 'P1DT8H', duration: 'P2D', mode: 'silent' },
        { type: 'vandalism', deviceIds: ['PM-000007'], start: 'P1DT8H', duration: 'P2D', mode: 'out-of-order' },
        { type: 'low-battery', deviceIds: ['PM-000008'], start: 'P1DT8H', batteryPct: 8 },
      ],
    });
    const list = run(input, 5);
    const from = START_MS + DAY_MS + 8 * 3_600_000;
    const to = from + 2 * DAY_MS;
    const during = (m: SimMessage) => m.tsMs >= from && m.tsMs < to;
    const codes = (id: string) =>
      eventsOf(list, id)
        .filter((m) => m.event.type !== 'payment')
        .map((m) => [m.event.type, (m.event.data as { code: string }).code, m.tsMs]);
    expect(codes('PM-000001')).toEqual([
      ['fault', 'coin-jam', from],
      ['fault-cleared', 'coin-jam', to],
    ]);
    expect(codes('PM-000006')).toEqual([
      ['fault', 'door-open', from],
      ['fault-cleared', 'door-open', to],
    ]);
    expect(codes('PM-000007').map((c) => c[1])).toEqual(['door-open', 'out-of-order', 'out-of-order', 'door-open']);
    const paid = (id: string, method?: string) =>
      eventsOf(list, id).filter(
        (m) => during(m) && m.event.type === 'payment' && (method === undefined || m.event.data.method === method),
      ).length;
    expect(paid('PM-000001', 'coin')).toBe(0);
    expect(paid('PM-000001', 'card')).toBeGreaterThan(0);
    expect(paid('PM-000002', 'card')).toBe(0);
    expect(paid('PM-000004')).toBe(0);
    expect(paid('PM-000005', 'coin')).toBe(0);
    expect(paid('PM-000007')).toBe(0);
    expect(
      readingsOf(list, 'PM-000003')
        .filter(during)
        .every((m) => m.reading.metrics.paperPct === 0),
    ).toBe(true);
    expect(
      readingsOf(list, 'PM-000005')
        .filter(during)
        .every((m) => m.reading.metrics.coinFillPct === 100),
    ).toBe(true);
    // The vandalised meter falls silent within 20 minutes and is back at the end.
    const silent = readingsOf(list, 'PM-000006').filter((m) => m.tsMs >= from + 20 * 60_000 && m.tsMs < to);
    expect(silent).toHaveLength(0);
    expect(readingsOf(list, 'PM-000006').some((m) => m.tsMs >= to)).toBe(true);
    const battery = readingsOf(list, 'PM-000008');
    expect(battery.filter((m) => m.tsMs >= from).every((m) => m.reading.metrics.batteryPct === 8)).toBe(true);
  });
});
