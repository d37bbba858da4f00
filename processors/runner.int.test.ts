import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createKafkaBus } from '../core/bus/kafka.ts';
import { createMemoryBus } from '../core/bus/memory.ts';
import { partitionForKey } from '../core/bus/partitioner.ts';
import type { Bus } from '../core/bus/port.ts';
import { type AlertTransition, DeadLetter, type DeviceEvent, type Reading, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { generateReadings, loadScenario } from '../simulators/index.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { replayTransitions } from '../test/helpers/replay.ts';
import { processorsConfigSchema } from './registry.ts';
import { createProcessor, processorsMigrations } from './runner.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/replay/', import.meta.url));
const POLL = { timeout: 15_000, interval: 20 };
const T0 = Date.parse('2026-03-01T00:00:00Z');
const MIN = 60_000;

type BusKind = 'memory' | 'kafka';
const PARTITIONS = 4;

/** A fresh bus of the kind: the in-process one, or the real broker under a namespace of its own. */
async function openBus(kind: BusKind, namespace: string): Promise<Bus> {
  if (kind === 'memory') return createMemoryBus({ defaultPartitions: PARTITIONS });
  return createKafkaBus({
    brokers: inject('kafkaBrokers'),
    clientId: `runner-test-${namespace}`,
    namespace,
    defaultPartitions: PARTITIONS,
  });
}

async function setup(kind: BusKind): Promise<{ bus: Bus; store: SqlStore; namespace: string }> {
  const namespace = `runner-${randomUUID().slice(0, 8)}`;
  const bus = await openBus(kind, namespace);
  const store = await openStore({ pgliteDir: 'memory://' }, [processorsMigrations]);
  onTestFinished(async () => {
    await bus.close();
    await store.close();
  });
  return { bus, store, namespace };
}

/** One water-meter reading at `minutes` in each partition: moves every partition's watermark there. */
function closers(minutes: number): Reading[] {
  const out: Reading[] = [];
  for (let i = 0; out.length < PARTITIONS; i++) {
    const id = `WM-CLOSE-${i}`;
    if (!out.some((r) => partitionForKey(r.deviceId, PARTITIONS) === partitionForKey(id, PARTITIONS))) {
      out.push(wm(id, minutes, { indexL: 1 }));
    }
  }
  return out;
}

function start(bus: Bus, store: SqlStore, overrides: Record<string, unknown> = {}) {
  const metrics = new Metrics();
  const processor = createProcessor({
    bus,
    store,
    metrics,
    logger: silentLogger(),
    config: processorsConfigSchema.parse(overrides),
  });
  return { processor, metrics };
}

/** Collects every message of a topic from the beginning, parsed as JSON. */
async function collect<T>(bus: Bus, topic: string): Promise<T[]> {
  const seen: T[] = [];
  await bus.ensureTopic(topic);
  await bus.subscribe({
    groupId: `test-${Math.random().toString(36).slice(2)}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) seen.push(JSON.parse(m.value) as T);
    },
  });
  return seen;
}

const wm = (deviceId: string, minutes: number, metrics: Record<string, number>, flags?: string[]): Reading => ({
  deviceId,
  kind: 'water-meter',
  ts: new Date(T0 + minutes * MIN).toISOString(),
  metrics,
  ...(flags ? { flags } : {}),
});

const produceReadings = (bus: Bus, readings: readonly Reading[]) =>
  bus.produce(
    TOPICS.readings('water-meter'),
    readings.map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })),
  );

/** Transitions grouped by alert key, each group in order: what per-key ordering guarantees. */
function byKey(ts: readonly AlertTransition[]): Record<string, AlertTransition[]> {
  const groups: Record<string, AlertTransition[]> = {};
  for (const t of ts) {
    const key = `${t.deviceId}:${t.type}`;
    groups[key] = [...(groups[key] ?? []), t];
  }
  return Object.fromEntries(Object.entries(groups).sort(([a], [b]) => a.localeCompare(b)));
}

describe.each<BusKind>(['memory', 'kafka'])('processors runner on the %s bus', (kind) => {
  it('produces on alerts.v1 exactly the transitions replay gives when the same readings come over the bus', async () => {
    const { bus, store } = await setup(kind);
    const alerts = await collect<AlertTransition>(bus, TOPICS.alerts);
    const { processor, metrics } = start(bus, store);
    await processor.start();
    onTestFinished(() => processor.close());

    // Each device's readings in order (reordering across partitions is the bus's freedom; within a device, the
    // reorder buffer's own tests cover it): the leak fixture plus a meter whose battery runs low and which flags.
    const readings: Reading[] = readFileSync(`${FIXTURES}leak-water-meter.ndjson`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Reading);
    for (let m = 0; m <= 600; m += 15) {
      readings.push(
        wm(
          'WM-000009',
          m,
          { indexL: 7000 + (m % 120 === 0 ? m : 0), batteryPct: m < 300 ? 11 : 9 },
          m === 90 ? ['tamper'] : undefined,
        ),
      );
    }
    // 1. Every reading, then (once processed) a last reading a day later in every partition: it moves each
    //    partition's watermark (live) and the watermark (replay), so what a live stream would only release later is
    //    released in both.
    await produceReadings(bus, readings);
    await expect.poll(() => metrics.value('processor_readings_total'), POLL).toBe(readings.length);
    const last = closers(60 * 60);
    await produceReadings(bus, last);
    await expect.poll(() => metrics.value('processor_readings_total'), POLL).toBe(readings.length + last.length);

    // 2. Replay of the same readings, same defaults.
    const expected = await replayTransitions([...readings, ...last]);

    // The live runner keeps the very last reading in its reorder buffer; replay flushes it (no transition from it).
    await expect.poll(() => alerts.length, POLL).toBe(expected.length);
    expect(byKey(alerts)).toEqual(byKey(expected));
    expect(expected.map((t) => t.type)).toEqual(
      expect.arrayContaining(['leak', 'low-battery', 'device-flag', 'no-data']),
    );
    expect(await metrics.value('processor_alert_transitions_total')).toBe(expected.length);
    expect(await metrics.value('processor_devices')).toBe(3 + last.length);
  });

  it('dead-letters malformed messages with their original bytes and keeps processing the rest', async () => {
    const { bus, store } = await setup(kind);
    const alerts = await collect<AlertTransition>(bus, TOPICS.alerts);
    const letters = await collect<DeadLetter>(bus, TOPICS.deadLetters);
    const { processor, metrics } = start(bus, store);
    await processor.start();
    onTestFinished(() => processor.close());

    const topic = TOPICS.readings('water-meter');
    const bad = [
      { key: 'WM-1', value: '{"deviceId":"WM-1","kind":"water-me' },
      { key: 'WM-1', value: JSON.stringify({ deviceId: 'WM-1', kind: 'water-meter', ts: 'yesterday', metrics: {} }) },
      { key: 'SL-1', value: JSON.stringify({ deviceId: 'SL-1', kind: 'streetlight', ts: T0, metrics: { powerW: 1 } }) },
    ];
    const good = [
      wm('WM-1', 0, { indexL: 1 }, ['tamper']),
      wm('WM-1', 15, { indexL: 1 }),
      wm('WM-1', 15, { indexL: 1 }), // a duplicate: dropped on purpose
      wm('WM-1', 30, { indexL: 1 }),
    ];
    await bus.produce(topic, [
      { key: 'WM-1', value: JSON.stringify(good[0]) },
      ...bad,
      ...good.slice(1).map((r) => ({ key: r.deviceId, value: JSON.stringify(r) })),
    ]);

    await expect.poll(() => letters.length, POLL).toBe(3);
    await expect
      .poll(() => alerts.map((a) => `${a.alertId} ${a.state}`), POLL)
      .toEqual(['WM-1:device-flag:1 open', 'WM-1:device-flag:1 resolved']);
    for (const letter of letters) {
      // The original bytes are kept: each dead letter decodes to one of the bad messages, with where it came from.
      const raw = Buffer.from(letter.rawBase64, 'base64').toString('utf8');
      const i = bad.findIndex((b) => b.value === raw);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(DeadLetter.parse(letter)).toMatchObject({
        component: 'processors',
        stage: 'processing',
        // WM-1's partition holds good[0] at offset 0 then the two bad WM-1 messages; SL-1 is alone in its own.
        source: { type: 'bus', topic, offset: [1, 2, 0][i] },
      });
    }
    letters.sort((a, b) => a.errorCode.localeCompare(b.errorCode) || a.message.localeCompare(b.message));
    expect(letters.map((l) => l.errorCode)).toEqual(['ERR_READING_JSON', 'ERR_READING_SCHEMA', 'ERR_READING_SCHEMA']);
    expect(letters[1]?.issues.map((x) => x.path)).toEqual(['ts']);
    expect(letters[2]?.message).toMatch(/kind does not match its topic: streetlight/);
    // Accounting: sent = processed + dead-lettered + dropped on purpose (the last reading waits in the buffer).
    const sent = good.length + bad.length;
    const valid = await metrics.value('processor_readings_total');
    const dropped = await metrics.value('processor_events_dropped_total', { intentional: 'true' });
    expect(valid + letters.length).toBe(sent);
    expect(dropped).toBe(1);
    expect(await metrics.value('processor_events_dropped_total', { reason: 'duplicate' })).toBe(1);
  });

  it("opens and resolves a parking meter's fault from its events as replay does, and dead-letters bad events", async () => {
    const { bus, store } = await setup(kind);
    const alerts = await collect<AlertTransition>(bus, TOPICS.alerts);
    const letters = await collect<DeadLetter>(bus, TOPICS.deadLetters);
    const { processor, metrics } = start(bus, store);
    await processor.start();
    onTestFinished(() => processor.close());

    const ev = (minutes: number, type: string, data: Record<string, unknown>): DeviceEvent => ({
      deviceId: 'PM-1',
      kind: 'parking-meter',
      ts: new Date(T0 + minutes * MIN).toISOString(),
      type,
      data,
    });
    const events = [
      ev(10, 'fault', { code: 'coin-jam' }),
      ev(20, 'payment', { amountCents: 150, method: 'card', minutes: 60 }), // cards still work: the jam stays
      ev(40, 'fault-cleared', { code: 'coin-jam' }),
      ev(24 * 60, 'payment', { amountCents: 50, method: 'sms', minutes: 20 }), // a day later: moves the watermark
    ];
    const topic = TOPICS.events('parking-meter');
    const bad = [
      { key: 'PM-1', value: '{"deviceId":"PM-1","kind":"parking' },
      { key: 'PM-1', value: JSON.stringify({ ...ev(30, 'fault', {}), data: {} }) }, // a fault needs its code
      { key: 'WM-1', value: JSON.stringify({ ...ev(30, 'alarm', {}), deviceId: 'WM-1', kind: 'water-meter' }) },
    ];
    await bus.produce(topic, [
      ...events.slice(0, 2).map((e) => ({ key: e.deviceId, value: JSON.stringify(e) })),
      ...bad,
      ...events.slice(2).map((e) => ({ key: e.deviceId, value: JSON.stringify(e) })),
    ]);

    await expect.poll(() => letters.length, POLL).toBe(3);
    const expected = await replayTransitions(events);
    expect(expected.map((t) => `${t.alertId} ${t.state} ${t.ts}`)).toEqual([
      'PM-1:fault:1 open 2026-03-01T00:10:00.000Z',
      'PM-1:fault:1 resolved 2026-03-01T00:40:00.000Z',
    ]);
    await expect.poll(() => alerts.length, POLL).toBe(expected.length);
    expect(byKey(alerts)).toEqual(byKey(expected));
    expect(alerts[0]?.summary).toMatch(/coin jam/i);
    letters.sort((a, b) => a.errorCode.localeCompare(b.errorCode) || a.message.localeCompare(b.message));
    expect(letters.map((l) => l.errorCode)).toEqual(['ERR_EVENT_JSON', 'ERR_EVENT_SCHEMA', 'ERR_EVENT_SCHEMA']);
    expect(letters.map((l) => l.message).join('\n')).toMatch(/kind does not match its topic: water-meter/);
    expect(await metrics.value('processor_device_events_total', { kind: 'parking-meter' })).toBe(events.length);
  });

  it('does not re-open an alert already open when restarted on the same store', async () => {
    const { bus, store } = await setup(kind);
    const alerts = await collect<AlertTransition>(bus, TOPICS.alerts);

    // 1. First run: a tamper flag opens device-flag.
    const first = start(bus, store, { checkpointIntervalMs: 60_000 });
    await first.processor.start();
    await produceReadings(bus, [wm('WM-7', 0, { indexL: 5 }, ['tamper']), wm('WM-7', 15, { indexL: 5 }, ['tamper'])]);
    await expect.poll(() => alerts.map((a) => `${a.alertId} ${a.state}`), POLL).toEqual(['WM-7:device-flag:1 open']);
    // 2. Close: the state is checkpointed.
    await first.processor.close();
    const saved = await store.query<{ device_id: string }>('SELECT device_id FROM processor_device_state');
    expect(saved.rows.map((r) => r.device_id)).toEqual(['WM-7']);
    const partition = await store.query<{ next_offset: string }>('SELECT next_offset FROM processor_partitions');
    expect(partition.rows.map((r) => Number(r.next_offset))).toEqual([2]);

    // 3. Second run on the same store: still flagged, then clean.
    const second = start(bus, store);
    await second.processor.start();
    onTestFinished(() => second.processor.close());
    await produceReadings(bus, [
      wm('WM-7', 30, { indexL: 5 }, ['tamper']),
      wm('WM-7', 45, { indexL: 5 }),
      wm('WM-7', 60, { indexL: 5 }),
    ]);
    await expect
      .poll(() => alerts.map((a) => `${a.alertId} ${a.state}`), POLL)
      .toEqual(['WM-7:device-flag:1 open', 'WM-7:device-flag:1 resolved']);
    expect(alerts[1]?.ts).toBe('2026-03-01T00:45:00.000Z');
  });

  it('checkpoints changed devices while running when the interval has passed', async () => {
    const { bus, store } = await setup(kind);
    const { processor } = start(bus, store, { checkpointIntervalMs: 50 });
    await processor.start();
    onTestFinished(() => processor.close());
    await produceReadings(bus, [wm('WM-8', 0, { indexL: 5 }), wm('WM-9', 0, { indexL: 5 })]);
    await expect
      .poll(
        async () => (await store.query('SELECT device_id FROM processor_device_state ORDER BY device_id')).rows,
        POLL,
      )
      .toEqual([{ device_id: 'WM-8' }, { device_id: 'WM-9' }]);
    const { rows } = await store.query<{ state: { v: number; buffer: unknown[] } }>(
      "SELECT state FROM processor_device_state WHERE device_id = 'WM-8'",
    );
    expect(rows[0]?.state).toMatchObject({ v: 1, buffer: [{ deviceId: 'WM-8' }] });
  });
});

describe('processors runner on the kafka bus, several instances', () => {
  /** Two days of the demo fleet (300 meters: leaks, bursts, a backflow, silent meters), then a closer per partition. */
  function demoReadings(): Reading[] {
    const scenario = loadScenario('demo');
    const startMs = Date.parse(scenario.startTs);
    const readings = [...generateReadings({ scenario, endMs: startMs + 2 * 24 * 3_600_000 })];
    return [...readings, ...closers((startMs - T0) / MIN + 3 * 24 * 60)];
  }

  const identity = (t: AlertTransition) => `${t.alertId} ${t.state} ${t.ts}`;

  /**
   * Checks the alerts topic against replay: every transition replay gives is there (none lost), nothing else is
   * (none invented), and any transition seen twice is the same record twice — what alerting's dedupe on
   * alertId + state relies on. Returns how many repeats there were.
   */
  function checkAgainstReplay(seen: readonly AlertTransition[], expected: readonly AlertTransition[]): number {
    const firstOf = new Map<string, AlertTransition>();
    let repeats = 0;
    for (const t of seen) {
      const id = identity(t);
      const before = firstOf.get(id);
      if (before === undefined) firstOf.set(id, t);
      else {
        repeats += 1;
        // Equal as records; not byte for byte: state restored from PostgreSQL's jsonb comes back with its object
        // keys in jsonb's order, so `details` may list the same keys in another order.
        expect(t).toEqual(before);
      }
    }
    expect([...firstOf.keys()].sort()).toEqual(expected.map(identity).sort());
    return repeats;
  }

  async function twoInstances(checkpointIntervalMs: number) {
    const namespace = `runner-${randomUUID().slice(0, 8)}`;
    const store = await openStore({ pgliteDir: 'memory://' }, [processorsMigrations]);
    const buses = await Promise.all([openBus('kafka', namespace), openBus('kafka', namespace)]);
    const observer = await openBus('kafka', namespace);
    onTestFinished(async () => {
      await Promise.all([...buses, observer].map((b) => b.close()));
      await store.close();
    });
    const instances = buses.map((bus) => start(bus, store, { checkpointIntervalMs }));
    return { store, buses, observer, instances };
  }

  const processed = async (instances: ReadonlyArray<{ metrics: Metrics }>) => {
    let n = 0;
    for (const i of instances) n += await i.metrics.value('processor_readings_total');
    return n;
  };

  it('hands partitions over without losing or inventing an alert when one of two instances stops', async () => {
    const readings = demoReadings();
    const expected = await replayTransitions(readings);
    const { observer, instances } = await twoInstances(1_000);
    const [a, b] = instances as [ReturnType<typeof start>, ReturnType<typeof start>];
    const alerts = await collect<AlertTransition>(observer, TOPICS.alerts);
    await a.processor.start();
    await b.processor.start();
    onTestFinished(() => b.processor.close());

    await produceReadings(observer, readings);
    // Stop A once a third of the readings went through, while both hold partitions.
    await expect
      .poll(() => processed(instances), { timeout: 60_000, interval: 20 })
      .toBeGreaterThan(readings.length / 3);
    expect(await a.metrics.value('processor_partitions')).toBeGreaterThan(0);
    await a.processor.close();
    await expect.poll(() => b.metrics.value('processor_partitions'), { timeout: 60_000 }).toBe(PARTITIONS);

    await expect.poll(() => new Set(alerts.map(identity)).size, { timeout: 60_000 }).toBe(expected.length);
    const repeats = checkAgainstReplay(alerts, expected);
    expect(expected.filter((t) => t.type === 'leak' && t.state === 'open').length).toBeGreaterThanOrEqual(10);
    // A clean hand-over: B starts where A's last snapshot ends, so nothing is processed twice.
    expect(repeats).toBe(0);
  });

  it.each([
    ['with a snapshot mid-way', 1_500],
    ['before its first snapshot', 600_000],
  ])(
    're-processes from the last snapshot when an instance dies %s: nothing lost, repeats identical',
    async (_, interval) => {
      const readings = demoReadings();
      const expected = await replayTransitions(readings);
      const namespace = `runner-${randomUUID().slice(0, 8)}`;
      // PostgreSQL, one connection pool per instance: A's dies with it, as a killed process's connections do.
      const db = await createTestDatabase(inject('databaseUrl'));
      const storeA = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [processorsMigrations]);
      const storeB = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [processorsMigrations]);
      const [busA, busB, observer] = await Promise.all([1, 2, 3].map(() => openBus('kafka', namespace)));
      onTestFinished(async () => {
        await Promise.all([busB!.close(), observer!.close()]);
        await storeB.close();
        await db.drop();
      });
      const a = start(busA!, storeA, { checkpointIntervalMs: interval });
      const b = start(busB!, storeB, { checkpointIntervalMs: 1_000 });
      const alerts = await collect<AlertTransition>(observer!, TOPICS.alerts);
      await a.processor.start();
      await b.processor.start();
      onTestFinished(() => b.processor.close());

      await produceReadings(observer!, readings);
      await expect
        .poll(() => processed([a, b]), { timeout: 60_000, interval: 20 })
        .toBeGreaterThan(readings.length / 4);
      // A dies: its consumer is gone (offsets committed up to what it processed), its store connections too, and
      // its state was never saved past its last snapshot. Its processor object is abandoned, never closed.
      await busA!.close();
      await storeA.close();

      await expect.poll(() => new Set(alerts.map(identity)).size, { timeout: 90_000 }).toBe(expected.length);
      checkAgainstReplay(alerts, expected);
      // B holds every partition now, and nothing was missing between a snapshot and the log.
      expect(await b.metrics.value('processor_partitions')).toBe(PARTITIONS);
      expect(await b.metrics.value('processor_offset_gaps_total')).toBe(0);
      // With no snapshot at all, whatever A had committed must have been processed again from the start: B went
      // back. (Mid-way, A may have saved its last batch just before dying, so a seek is likely but not certain.)
      if (interval === 600_000) expect(await b.metrics.value('processor_seeks_total')).toBeGreaterThan(0);
    },
  );
});
