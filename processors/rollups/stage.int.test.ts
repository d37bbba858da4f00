import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createKafkaBus } from '../../core/bus/kafka.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { type DeviceEvent, type DeviceInfo, type Reading, type Rollup, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { processorsMigrations } from '../runner.ts';
import { rollupsConfigSchema } from './config.ts';
import { createRollups, ROLLUPS_BY_CIRCUIT_TOPIC, ROLLUPS_BY_DISTRICT_TOPIC, type Rollups } from './stage.ts';

type BusKind = 'memory' | 'kafka';
const POLL = { timeout: 60_000, interval: 50 };
const DAY0 = Date.parse('2026-03-01T23:00:00Z'); // local midnight (Europe/Paris) of 2026-03-02
const MIN = 60_000;
const HOURS = 26;

/** Litres per hour of each meter at local hour `h` (night 02–04 differs for WM-1). */
const FLOWS: Record<string, (h: number) => number> = {
  'WM-1': (h) => (h >= 2 && h < 5 ? 2 : 10),
  'WM-2': () => 20,
  'WM-3': () => 5,
  'WM-4': () => 1,
};
/** Registry: WM-1, WM-2 in north, WM-3 in south, WM-4 unknown (unassigned). */
const DEVICES: DeviceInfo[] = [
  { deviceId: 'WM-1', kind: 'water-meter', district: 'north', active: true, updatedAt: '2026-01-01T00:00:00.000Z' },
  { deviceId: 'WM-2', kind: 'water-meter', district: 'north', active: true, updatedAt: '2026-01-01T00:00:00.000Z' },
  { deviceId: 'WM-3', kind: 'water-meter', district: 'south', active: true, updatedAt: '2026-01-01T00:00:00.000Z' },
];

/** Lamps and parking meters in the registry: SL-3 has no circuit, PM-2 is unknown. */
const CITY_DEVICES: DeviceInfo[] = [
  {
    deviceId: 'SL-1',
    kind: 'streetlight',
    district: 'north',
    circuit: 'C-1',
    active: true,
    updatedAt: '2026-01-01T00:00:00.000Z',
  },
  {
    deviceId: 'SL-2',
    kind: 'streetlight',
    district: 'north',
    circuit: 'C-1',
    active: true,
    updatedAt: '2026-01-01T00:00:00.000Z',
  },
  { deviceId: 'SL-3', kind: 'streetlight', district: 'south', active: true, updatedAt: '2026-01-01T00:00:00.000Z' },
  { deviceId: 'PM-1', kind: 'parking-meter', district: 'centre', active: true, updatedAt: '2026-01-01T00:00:00.000Z' },
];
/** Rated draw of each lamp when lit (local 00:00–06:00 and 18:00–24:00: 12 h a day), W. */
const LAMP_W: Record<string, number> = { 'SL-1': 60, 'SL-2': 30, 'SL-3': 60 };

/** Every lamp's readings every 15 min over 26 h. */
function lampReadings(): Reading[] {
  const out: Reading[] = [];
  for (let m = 0; m <= HOURS * 60; m += 15) {
    const hour = Math.floor(m / 60) % 24;
    for (const [id, w] of Object.entries(LAMP_W)) {
      const powerW = hour < 6 || hour >= 18 ? w : 0.5;
      out.push({ deviceId: id, kind: 'streetlight', ts: new Date(DAY0 + m * MIN).toISOString(), metrics: { powerW } });
    }
  }
  return out;
}

const event = (deviceId: string, minutes: number, type: string, data: Record<string, unknown>): DeviceEvent => ({
  deviceId,
  kind: 'parking-meter',
  ts: new Date(DAY0 + minutes * MIN).toISOString(),
  type,
  data,
});
/** Parking events: PM-1 pays at 10:45 (card, 90 min) and 23:30 (SMS, 120 min, across midnight), once twice. */
function parkingEvents(): DeviceEvent[] {
  const pay = (id: string, min: number, amountCents: number, method: string, minutes: number) =>
    event(id, min, 'payment', { amountCents, method, minutes });
  return [
    pay('PM-1', 10 * 60 + 45, 300, 'card', 90),
    pay('PM-1', 10 * 60 + 45, 300, 'card', 90), // the same payment again (a redelivery): dropped
    event('PM-1', 12 * 60, 'fault', { code: 'coin-jam' }), // not a payment: left out
    pay('PM-2', 14 * 60, 150, 'coin', 60),
    pay('PM-1', 23 * 60 + 30, 400, 'sms', 120),
    // Next day 01:30: each meter's partition moves past the first day's end.
    pay('PM-1', 25 * 60 + 30, 100, 'coin', 30),
    pay('PM-2', 25 * 60 + 30, 100, 'coin', 30),
  ];
}

/** Every meter's readings every 15 min over 26 h, in time order across meters. */
function readings(): Reading[] {
  const out: Reading[] = [];
  const index: Record<string, number> = { 'WM-1': 1000, 'WM-2': 2000, 'WM-3': 3000, 'WM-4': 4000 };
  for (let m = 0; m <= HOURS * 60; m += 15) {
    for (const id of Object.keys(FLOWS)) {
      out.push({
        deviceId: id,
        kind: 'water-meter',
        ts: new Date(DAY0 + m * MIN).toISOString(),
        metrics: { indexL: index[id] as number },
      });
      index[id] = (index[id] as number) + (FLOWS[id] as (h: number) => number)(Math.floor(m / 60) % 24) / 4;
    }
  }
  return out;
}

async function openBus(kind: BusKind, namespace: string): Promise<Bus> {
  if (kind === 'memory') return createMemoryBus({ defaultPartitions: 4 });
  return createKafkaBus({
    brokers: inject('kafkaBrokers'),
    clientId: `rollups-${namespace}`,
    namespace,
    defaultPartitions: 4,
  });
}

/** Collects every message of a topic from the beginning. */
async function collect(bus: Bus, topic: string): Promise<Rollup[]> {
  const seen: Rollup[] = [];
  await bus.ensureTopic(topic);
  await bus.subscribe({
    groupId: `test-${randomUUID().slice(0, 8)}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) seen.push(JSON.parse(m.value) as Rollup);
    },
  });
  return seen;
}

/** The latest record of each (scope, key, period, start): what the time-series sink keeps. */
function latest(records: readonly Rollup[]): Map<string, Rollup> {
  const out = new Map<string, Rollup>();
  for (const r of records) out.set(`${r.scope}|${r.deviceId ?? r.district}|${r.period}|${r.start}`, r);
  return out;
}

const dayStart = new Date(DAY0).toISOString();
const hourStart = (h: number) => new Date(DAY0 + h * 3_600_000).toISOString();

/** What the districts' day rollups must end as (hand-computed from FLOWS). */
const EXPECTED_DAYS = {
  // north: WM-1 21·10 + 3·2 = 216, WM-2 24·20 = 480; night hours 22, 22, 22.
  north: { consumptionL: 696, nightMinFlowLph: 22, devices: 2 },
  south: { consumptionL: 120, nightMinFlowLph: 5, devices: 1 },
  unassigned: { consumptionL: 24, nightMinFlowLph: 1, devices: 1 },
};

describe.each<BusKind>(['memory', 'kafka'])('rollups stage on the %s bus', (kind) => {
  async function setup() {
    const namespace = `rollups-${randomUUID().slice(0, 8)}`;
    const bus = await openBus(kind, namespace);
    const store: SqlStore = await openStore({ pgliteDir: 'memory://' }, [processorsMigrations]);
    const stages: Rollups[] = [];
    onTestFinished(async () => {
      for (const s of stages) await s.close();
      await bus.close();
      await store.close();
    });
    await bus.ensureTopic(TOPICS.devices, { compacted: true });
    await bus.produce(
      TOPICS.devices,
      [...DEVICES, ...CITY_DEVICES].map((d) => ({ key: d.deviceId, value: JSON.stringify(d) })),
    );
    const config = rollupsConfigSchema.parse({ devicesWarmupMs: 20_000, checkpointIntervalMs: 200 });
    const start = async () => {
      const metrics = new Metrics();
      const stage = createRollups({ bus, store, metrics, logger: silentLogger(), config });
      stages.push(stage);
      await stage.start();
      return { stage, metrics };
    };
    const produce = (rs: readonly Reading[]) =>
      bus.produce(
        TOPICS.readings('water-meter'),
        rs.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })),
      );
    const produceLamps = (rs: readonly Reading[]) =>
      bus.produce(
        TOPICS.readings('streetlight'),
        rs.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })),
      );
    const produceEvents = (es: readonly DeviceEvent[]) =>
      bus.produce(
        TOPICS.events('parking-meter'),
        es.map((e) => ({ key: e.deviceId, value: JSON.stringify(e) })),
      );
    return { bus, start, produce, produceLamps, produceEvents };
  }

  function expectFinal(records: readonly Rollup[]) {
    const last = latest(records);
    for (const [district, want] of Object.entries(EXPECTED_DAYS)) {
      const got = last.get(`district|${district}|day|${dayStart}`);
      expect(got).toEqual({
        kind: 'water-meter',
        scope: 'district',
        district,
        period: 'day',
        start: dayStart,
        values: { consumptionL: want.consumptionL, nightMinFlowLph: want.nightMinFlowLph },
        devices: want.devices,
      });
    }
    expect(last.get(`district|north|hour|${hourStart(5)}`)?.values).toEqual({ consumptionL: 30 });
    expect(last.get(`device|WM-4|day|${dayStart}`)?.district).toBe('unassigned');
    // 25 final hours per meter (the 26th ends at the last reading, still in the reorder buffer) and one day.
    const meterHours = [...last.values()].filter((r) => r.scope === 'device' && r.period === 'hour');
    expect(meterHours).toHaveLength(4 * 25);
  }

  const dayDone = (records: readonly Rollup[]) => {
    const last = latest(records);
    return Object.entries(EXPECTED_DAYS).every(
      ([d, want]) => last.get(`district|${d}|day|${dayStart}`)?.devices === want.devices,
    );
  };

  it('produces per-meter and per-district rollups with the registry’s districts when readings come in', async () => {
    const { bus, start, produce } = await setup();
    const out = await collect(bus, TOPICS.rollups);
    const { metrics } = await start();
    const all = readings();
    await produce(all);
    await expect.poll(() => dayDone(out), POLL).toBe(true);
    await expect.poll(() => metrics.value('rollup_readings_total'), POLL).toBe(all.length);
    expectFinal(out);
    // Nothing lost silently: every reading rolled up or dropped on purpose (none here).
    expect(await metrics.value('rollup_readings_dropped_total')).toBe(0);
  });

  it('counts no meter twice in a district when the stage restarts mid-stream and rollups are re-sent', async () => {
    const { bus, start, produce } = await setup();
    const out = await collect(bus, TOPICS.rollups);
    const all = readings();
    const cut = all.findIndex((r) => Date.parse(r.ts) >= DAY0 + 13 * 3_600_000);
    // 1. The first half, then a clean stop (checkpoint).
    const first = await start();
    await produce(all.slice(0, cut));
    await expect.poll(() => first.metrics.value('rollup_readings_total'), POLL).toBe(cut);
    await first.stage.close();
    // 2. A new instance on the same store takes over and gets the rest.
    const second = await start();
    await produce(all.slice(cut));
    await expect.poll(() => dayDone(out), POLL).toBe(true);
    expectFinal(out);
    // 3. What a crashed meter stage would send again: every north meter rollup, once more.
    const resent = [...latest(out).values()].filter((r) => r.scope === 'device' && r.district === 'north');
    await bus.produce(
      ROLLUPS_BY_DISTRICT_TOPIC,
      resent.map((r) => ({ key: r.district, value: JSON.stringify(r) })),
    );
    await expect
      .poll(() => second.metrics.value('rollup_contributions_dropped_total', { reason: 'duplicate' }), POLL)
      .toBe(resent.length);
    expectFinal(out);
    // At no time did a district hour exceed its true sum.
    for (const r of out.filter((x) => x.scope === 'district' && x.district === 'north' && x.period === 'hour')) {
      expect(r.devices).toBeLessThanOrEqual(2);
    }
  });

  it('rolls up streetlight energy per lamp, circuit and district, and parking revenue per meter and district', async () => {
    const { bus, start, produceLamps, produceEvents } = await setup();
    const out = await collect(bus, TOPICS.rollups);
    const deadLetters = await collect(bus, TOPICS.deadLetters);
    const { metrics } = await start();
    const lamps = lampReadings();
    const events = parkingEvents();
    await produceLamps(lamps);
    await produceEvents(events);
    // A bad record on the internal circuit topic is dead-lettered with its bytes.
    await bus.produce(ROLLUPS_BY_CIRCUIT_TOPIC, [{ key: 'C-1', value: '{"kind":"streetlight"' }]);
    const day = (scope: string, key: string, kind: string) =>
      [...latest(out).values()].find(
        (r) =>
          r.kind === kind &&
          r.scope === scope &&
          (r.deviceId ?? r.circuit ?? r.district) === key &&
          r.period === 'day' &&
          r.start === dayStart,
      );
    await expect
      .poll(
        () =>
          day('circuit', 'C-1', 'streetlight')?.devices === 2 &&
          day('district', 'north', 'streetlight')?.devices === 2 &&
          day('district', 'centre', 'parking-meter') !== undefined &&
          deadLetters.length === 1,
        POLL,
      )
      .toBe(true);
    // Lamps: 12 h lit a day; SL-1 60 W → 720 Wh, SL-2 30 W → 360 Wh, SL-3 (no circuit) 60 W → 720 Wh; 12 h × 0.5 W off.
    const off = 12 * 0.5;
    expect(day('device', 'SL-1', 'streetlight')).toEqual({
      kind: 'streetlight',
      scope: 'device',
      deviceId: 'SL-1',
      district: 'north',
      circuit: 'C-1',
      period: 'day',
      start: dayStart,
      values: { energyWh: 720 + off, litHours: 12 },
    });
    expect(day('circuit', 'C-1', 'streetlight')).toEqual({
      kind: 'streetlight',
      scope: 'circuit',
      circuit: 'C-1',
      district: 'north',
      period: 'day',
      start: dayStart,
      values: { energyWh: 1080 + 2 * off, litHours: 24 },
      devices: 2,
    });
    expect(day('circuit', 'unassigned', 'streetlight')).toMatchObject({
      district: 'south',
      values: { energyWh: 720 + off, litHours: 12 },
      devices: 1,
    });
    expect(day('district', 'north', 'streetlight')?.values).toEqual({ energyWh: 1080 + 2 * off, litHours: 24 });
    // Parking: PM-1's first day: 300 card + 400 SMS; 90 + 30 paid minutes.
    const parkingDay = {
      revenueCents: 700,
      revenueCoinCents: 0,
      revenueCardCents: 300,
      revenueSmsCents: 400,
      payments: 2,
      paidMinutes: 120,
      paidOccupancy: 120 / 1440,
    };
    expect(day('device', 'PM-1', 'parking-meter')).toMatchObject({ district: 'centre', values: parkingDay });
    expect(day('district', 'centre', 'parking-meter')).toMatchObject({ values: parkingDay, devices: 1 });
    const hour11 = [...latest(out).values()].find(
      (r) => r.deviceId === 'PM-1' && r.period === 'hour' && r.start === hourStart(11),
    );
    expect(hour11?.values).toMatchObject({ paidMinutes: 60, revenueCents: 0, paidOccupancy: 1 });
    await expect.poll(() => day('district', 'unassigned', 'parking-meter')?.values.revenueCents, POLL).toBe(150);
    // Nothing lost silently: every event rolled up or left out on purpose, the bad record dead-lettered.
    await expect
      .poll(() => metrics.value('rollup_readings_total', { kind: 'parking-meter' }), POLL)
      .toBe(events.length);
    expect(await metrics.value('rollup_readings_total', { kind: 'streetlight' })).toBe(lamps.length);
    expect(await metrics.value('rollup_readings_dropped_total', { kind: 'parking-meter', reason: 'duplicate' })).toBe(
      1,
    );
    expect(await metrics.value('rollup_readings_dropped_total', { kind: 'parking-meter', reason: 'not-payment' })).toBe(
      1,
    );
    expect(await metrics.value('rollup_readings_dropped_total', { kind: 'streetlight' })).toBe(0);
    expect(deadLetters[0]).toMatchObject({ errorCode: 'ERR_ROLLUP_JSON' });
    expect(Buffer.from((deadLetters[0] as unknown as { rawBase64: string }).rawBase64, 'base64').toString()).toBe(
      '{"kind":"streetlight"',
    );
  });
});
