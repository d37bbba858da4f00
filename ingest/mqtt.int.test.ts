import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createConnection } from 'node:net';
import { promisify } from 'node:util';
import { connectAsync, type IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import type { Bus, BusMessage } from '../core/bus/port.ts';
import { ManualClock } from '../core/clock.ts';
import { DeadLetter, Reading, TOPICS } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createDeviceRegistry, type DeviceRegistry, ingestMigrations } from './device-registry.ts';
import { createIngest, ingestConfigSchema } from './mqtt.ts';

const run = promisify(execFile);

const WM_A = { deviceId: 'WM-A', kind: 'water-meter' as const, secret: 'secret-of-meter-a' };
const WM_B = { deviceId: 'WM-B', kind: 'water-meter' as const, secret: 'secret-of-meter-b' };
const PM_C = { deviceId: 'PM-C', kind: 'parking-meter' as const, secret: 'secret-of-meter-c' };
// A concentrator and the two meters behind it.
const GW_1 = { deviceId: 'GW-1', kind: 'water-meter' as const, secret: 'secret-of-gateway-1' };
const WM_G1 = { deviceId: 'WM-G1', kind: 'water-meter' as const, secret: 'secret-of-meter-g1', gatewayId: 'GW-1' };
const WM_G2 = { deviceId: 'WM-G2', kind: 'water-meter' as const, secret: 'secret-of-meter-g2', gatewayId: 'GW-1' };
const READINGS = TOPICS.readings('water-meter');
const NOW_MS = Date.UTC(2026, 2, 1, 3, 0, 0);

const reading = (indexL: number) => JSON.stringify({ ts: '2026-03-01T02:15:00Z', seq: indexL, metrics: { indexL } });

/**
 * A bus boundary the tests can hold shut or make fail, in front of a real memory bus. It stands for the bus being
 * slow or down; it is not a mock of ingest.
 */
function createGateBus(inner: Bus) {
  let open = true;
  let failing = false;
  let waiters: Array<() => void> = [];
  const state = { pending: 0, maxPending: 0, log: [] as string[] };
  const bus: Bus = {
    ensureTopic: (topic, options) => inner.ensureTopic(topic, options),
    subscribe: (options) => inner.subscribe(options),
    logId: () => inner.logId(),
    consumerLag: (groupId, topics) => inner.consumerLag(groupId, topics),
    close: () => inner.close(),
    async produce(topic, messages) {
      // Messages, not calls: ingest produces the messages of one event-loop turn in one call.
      state.pending += messages.length;
      state.maxPending = Math.max(state.maxPending, state.pending);
      try {
        while (!open) await new Promise<void>((resolve) => waiters.push(resolve));
        if (failing)
          throw new AppError('ERR_BUS_UNAVAILABLE', 'bus unavailable: test gate (up again later)', { retryable: true });
        await inner.produce(topic, messages);
        for (const m of messages) state.log.push(`produced ${m.key}`);
      } finally {
        state.pending -= messages.length;
      }
    },
  };
  return {
    bus,
    state,
    hold() {
      open = false;
    },
    release() {
      open = true;
      const w = waiters;
      waiters = [];
      for (const fn of w) fn();
    },
    fail(value: boolean) {
      failing = value;
    },
  };
}

async function collect(bus: Bus, topics: string[]): Promise<BusMessage[]> {
  const got: BusMessage[] = [];
  const sub = await bus.subscribe({
    groupId: `test-${randomUUID()}`,
    topics,
    fromBeginning: true,
    handler: async (batch) => {
      got.push(...batch);
    },
  });
  onTestFinished(() => sub.close());
  return got;
}

describe('mqtt', () => {
  let store: SqlStore;
  let registry: DeviceRegistry;

  beforeAll(async () => {
    store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM_A, WM_B, PM_C, WM_G1, WM_G2, GW_1]);
  });
  afterAll(async () => {
    await store.close();
  });

  async function start(options: { gate?: ReturnType<typeof createGateBus>; config?: Record<string, unknown> } = {}) {
    const memory = createMemoryBus();
    const bus = options.gate?.bus ?? memory;
    const metrics = new Metrics();
    const ingest = createIngest({
      config: ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0, ...options.config }),
      bus,
      registry,
      metrics,
      logger: silentLogger(),
      clock: new ManualClock(NOW_MS),
    });
    const { port } = await ingest.listen();
    onTestFinished(async () => {
      // A held gate would keep close() waiting for the messages handed to the bus.
      options.gate?.release();
      options.gate?.fail(false);
      await ingest.close();
      await memory.close();
    });
    return { ingest, port, metrics, memory, url: `mqtt://127.0.0.1:${port}` };
  }

  async function device(url: string, creds: { deviceId: string; secret: string }, extra: IClientOptions = {}) {
    const client = await connectAsync(url, {
      username: creds.deviceId,
      password: creds.secret,
      clientId: `${creds.deviceId}-${randomUUID().slice(0, 8)}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      ...extra,
    });
    onTestFinished(() => client.endAsync(true));
    return client;
  }

  it('puts a valid reading on readings.water-meter.v1 when a device publishes telemetry', async () => {
    const { url, memory, metrics } = await start();
    const got = await collect(memory, [READINGS]);
    const client = await device(url, WM_A);
    await client.publishAsync('vigie/v1/water-meter/WM-A/telemetry', reading(42), { qos: 1 });
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(1);
    expect(got[0]!.key).toBe('WM-A');
    expect(Reading.parse(JSON.parse(got[0]!.value))).toEqual({
      deviceId: 'WM-A',
      kind: 'water-meter',
      ts: '2026-03-01T02:15:00.000Z',
      seq: 42,
      metrics: { indexL: 42 },
      receivedAt: new Date(NOW_MS).toISOString(),
    });
    expect(await metrics.value('ingest_messages_received_total', { kind: 'water-meter' })).toBe(1);
    expect(await metrics.value('ingest_connections')).toBe(1);
  });

  it('puts a device event on events.parking-meter.v1 when a parking meter reports a payment', async () => {
    const { url, memory } = await start();
    const got = await collect(memory, [TOPICS.events('parking-meter')]);
    const client = await device(url, PM_C);
    const payment = {
      ts: '2026-03-01T09:00:00Z',
      type: 'payment',
      data: { amountCents: 150, method: 'coin', minutes: 30 },
    };
    await client.publishAsync('vigie/v1/parking-meter/PM-C/event', JSON.stringify(payment), { qos: 1 });
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(1);
    expect(JSON.parse(got[0]!.value)).toMatchObject({ deviceId: 'PM-C', kind: 'parking-meter', type: 'payment' });
  });

  it('refuses the connection with CONNACK "bad user name or password" when the secret is wrong', async () => {
    const { url, metrics } = await start();
    await expect(device(url, { ...WM_A, secret: 'not-the-secret' })).rejects.toMatchObject({ code: 4 });
    await expect(device(url, { deviceId: 'WM-UNKNOWN', secret: 'whatever-secret' })).rejects.toMatchObject({ code: 4 });
    expect(await metrics.value('ingest_auth_failures_total', { reason: 'bad_credentials' })).toBe(2);
  });

  it('closes the connection without acknowledging when a device publishes under another device’s topic', async () => {
    const { url, memory, metrics } = await start();
    const got = await collect(memory, [READINGS, TOPICS.deadLetters]);
    const client = await device(url, WM_A);
    let acked = false;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.publish('vigie/v1/water-meter/WM-B/telemetry', reading(1), { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await closed;
    expect(acked).toBe(false);
    expect(await metrics.value('ingest_publish_refused_total', { reason: 'foreign_device' })).toBe(1);
    expect(got).toHaveLength(0);
  });

  it('puts each meter’s reading under its own id when a gateway publishes for its two meters', async () => {
    const { url, memory, metrics } = await start();
    const got = await collect(memory, [READINGS, TOPICS.deadLetters]);
    const gateway = await device(url, GW_1);
    await Promise.all([
      gateway.publishAsync('vigie/v1/water-meter/WM-G1/telemetry', reading(1), { qos: 1 }),
      gateway.publishAsync('vigie/v1/water-meter/WM-G2/telemetry', reading(2), { qos: 1 }),
      gateway.publishAsync('vigie/v1/water-meter/WM-G1/telemetry', reading(3), { qos: 1 }),
      // A malformed payload for a meter is dead-lettered under the meter, with the gateway's client id.
      gateway.publishAsync('vigie/v1/water-meter/WM-G2/telemetry', '{"ts":', { qos: 1 }),
      // Its own status stays its own (aedes' ordinary path).
      gateway.publishAsync('vigie/v1/water-meter/GW-1/status', 'online', { qos: 1, retain: true }),
    ]);
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(4);
    const readings = got
      .filter((m) => m.topic === READINGS)
      .map((m) => ({ key: m.key, r: Reading.parse(JSON.parse(m.value)) }));
    // Per-device order (partitions are per key; meters on different partitions may interleave either way).
    const byKey = [...readings].sort((x, y) => x.key.localeCompare(y.key));
    expect(byKey.map((m) => [m.key, m.r.deviceId, m.r.seq])).toEqual([
      ['WM-G1', 'WM-G1', 1],
      ['WM-G1', 'WM-G1', 3],
      ['WM-G2', 'WM-G2', 2],
    ]);
    const dead = got.filter((m) => m.topic === TOPICS.deadLetters).map((m) => DeadLetter.parse(JSON.parse(m.value)));
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({
      deviceId: 'WM-G2',
      errorCode: 'ERR_PAYLOAD_JSON',
      source: { type: 'mqtt', topic: 'vigie/v1/water-meter/WM-G2/telemetry', clientId: gateway.options.clientId },
    });
    expect(gateway.connected).toBe(true);
    expect(await metrics.value('ingest_publish_refused_total')).toBe(0);
  });

  it('closes a gateway’s connection without acknowledging when it publishes for a meter not its own', async () => {
    const { url, memory, metrics } = await start();
    const got = await collect(memory, [READINGS, TOPICS.deadLetters]);
    const gateway = await device(url, GW_1);
    await gateway.publishAsync('vigie/v1/water-meter/WM-G1/telemetry', reading(1), { qos: 1 });
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(1);
    let acked = false;
    const closed = new Promise<void>((resolve) => gateway.once('close', () => resolve()));
    gateway.publish('vigie/v1/water-meter/WM-A/telemetry', reading(2), { qos: 1 }, (err) => {
      if (!err) acked = true;
    });
    await closed;
    expect(acked).toBe(false);
    expect(await metrics.value('ingest_publish_refused_total', { reason: 'foreign_device' })).toBe(1);
    // A meter cannot publish for its gateway or its sibling either.
    const meter = await device(url, WM_G1);
    const meterClosed = new Promise<void>((resolve) => meter.once('close', () => resolve()));
    meter.publish('vigie/v1/water-meter/WM-G2/telemetry', reading(3), { qos: 1 });
    await meterClosed;
    expect(await metrics.value('ingest_publish_refused_total', { reason: 'foreign_device' })).toBe(2);
    expect(got).toHaveLength(1);
  });

  it('takes a gateway’s batch item by item, dead-lettering the items it may not send, when it publishes a batch', async () => {
    // Devices nobody has looked up yet: the first batch goes through the registry, the second through its cache.
    const gw = { deviceId: 'GW-B', kind: 'water-meter' as const, secret: 'secret-of-gateway-b' };
    await registry.provision([
      gw,
      { deviceId: 'WM-B1', kind: 'water-meter', secret: 'secret-of-meter-b1', gatewayId: 'GW-B' },
      { deviceId: 'WM-B2', kind: 'water-meter', secret: 'secret-of-meter-b2', gatewayId: 'GW-B' },
      { deviceId: 'PM-B3', kind: 'parking-meter', secret: 'secret-of-meter-b3', gatewayId: 'GW-B' },
    ]);
    const { url, memory, metrics } = await start();
    const got = await collect(memory, [READINGS, TOPICS.deadLetters]);
    const gateway = await device(url, gw);
    const at = (deviceId: string, indexL: number) => ({
      deviceId,
      ts: '2026-03-01T02:15:00Z',
      seq: indexL,
      metrics: { indexL },
    });
    const batch = [
      at('WM-B1', 1),
      at('WM-B2', 2),
      at('WM-A', 3),
      at('PM-B3', 4),
      { deviceId: 'WM-B1', metrics: {} },
      at('GW-B', 5),
      at('WM-B1', 6),
    ];
    await gateway.publishAsync('vigie/v1/water-meter/GW-B/batch', JSON.stringify(batch), { qos: 1 });
    await gateway.publishAsync('vigie/v1/water-meter/GW-B/batch', JSON.stringify([at('WM-B2', 7), at('WM-B1', 8)]), {
      qos: 1,
    });
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(9);
    const readings = got.filter((m) => m.topic === READINGS).map((m) => Reading.parse(JSON.parse(m.value)));
    const seqOf = (id: string) => readings.filter((r) => r.deviceId === id).map((r) => r.seq);
    expect(seqOf('WM-B1')).toEqual([1, 6, 8]);
    expect(seqOf('WM-B2')).toEqual([2, 7]);
    expect(seqOf('GW-B')).toEqual([5]);
    for (const m of got.filter((x) => x.topic === READINGS)) expect(m.key).toBe(JSON.parse(m.value).deviceId);
    const dead = got.filter((m) => m.topic === TOPICS.deadLetters).map((m) => DeadLetter.parse(JSON.parse(m.value)));
    expect(dead.map((d) => [d.deviceId, d.errorCode, d.issues[0]?.path])).toEqual([
      ['WM-A', 'ERR_DEVICE_FOREIGN', '[2].deviceId'],
      ['PM-B3', 'ERR_KIND_MISMATCH', '[3].deviceId'],
      ['WM-B1', 'ERR_PAYLOAD_SCHEMA', '[4].ts'],
    ]);
    expect(JSON.parse(Buffer.from(dead[0]!.rawBase64, 'base64').toString())).toEqual(at('WM-A', 3));
    expect(dead[0]!.source).toEqual({
      type: 'mqtt',
      topic: 'vigie/v1/water-meter/GW-B/batch',
      clientId: gateway.options.clientId,
    });
    expect(gateway.connected).toBe(true);
    expect(await metrics.value('ingest_messages_received_total', { kind: 'water-meter' })).toBe(9);
    expect(await metrics.value('ingest_messages_deadlettered_total', { reason: 'ERR_DEVICE_FOREIGN' })).toBe(1);
    expect(await metrics.value('ingest_publish_refused_total')).toBe(0);
  });

  it('acknowledges a batch only once all its items are on the bus, and not at all when the bus refuses', async () => {
    const gate = createGateBus(createMemoryBus());
    const { url } = await start({ gate });
    const gateway = await device(url, GW_1);
    const items = [1, 2, 3].map((n) => ({
      deviceId: n === 2 ? 'WM-G2' : 'WM-G1',
      ts: '2026-03-01T02:15:00Z',
      metrics: { indexL: n },
    }));
    gate.hold();
    let acked = false;
    const sent = gateway.publishAsync('vigie/v1/water-meter/GW-1/batch', JSON.stringify(items), { qos: 1 }).then(() => {
      acked = true;
    });
    await expect.poll(() => gate.state.pending, { timeout: 5_000 }).toBe(3);
    expect(acked).toBe(false);
    gate.release();
    await sent;
    expect(gate.state.log).toEqual(['produced WM-G1', 'produced WM-G2', 'produced WM-G1']);
    // A refusing bus: no PUBACK, the connection closes, the gateway sends the batch again later.
    gate.fail(true);
    let ackedAgain = false;
    const closed = new Promise<void>((resolve) => gateway.once('close', () => resolve()));
    gateway.publish('vigie/v1/water-meter/GW-1/batch', JSON.stringify(items), { qos: 1 }, (err) => {
      if (!err) ackedAgain = true;
    });
    await closed;
    expect(ackedAgain).toBe(false);
  });

  it('grants only the device’s own command topic when it subscribes', async () => {
    const { url, metrics } = await start();
    const client = await device(url, WM_A);
    const granted = await client.subscribeAsync('vigie/v1/water-meter/WM-A/command', { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    // SUBACK 0x80 (MQTT-3.9.3) for anything else; the connection stays up.
    await expect(client.subscribeAsync('vigie/v1/water-meter/WM-B/command', { qos: 1 })).rejects.toMatchObject({
      packet: { granted: [128] },
    });
    await expect(client.subscribeAsync('vigie/#', { qos: 0 })).rejects.toMatchObject({ packet: { granted: [128] } });
    expect(await metrics.value('ingest_auth_failures_total', { reason: 'subscribe_denied' })).toBe(2);
    expect(client.connected).toBe(true);
  });

  it('dead-letters 1,000 malformed payloads with their bytes while another device’s readings keep flowing', async () => {
    const { url, memory, metrics } = await start();
    const got = await collect(memory, [READINGS, TOPICS.deadLetters]);
    const bad = await device(url, WM_A);
    const good = await device(url, WM_B);
    let badClosed = false;
    bad.on('close', () => {
      badClosed = true;
    });

    const telemetry = 'vigie/v1/water-meter/WM-A/telemetry';
    const sorts: Array<{ topic: string; payload: Buffer; code: string }> = [
      {
        topic: telemetry,
        payload: Buffer.from('{"ts":"2026-03-01T02:15:00Z","metrics":{"ind'),
        code: 'ERR_PAYLOAD_JSON',
      },
      { topic: telemetry, payload: Buffer.from('{"ts":true,"metrics":{"indexL":1}}'), code: 'ERR_PAYLOAD_SCHEMA' },
      { topic: telemetry, payload: Buffer.from('{"ts":0,"metrics":{"indexL":"1"}}'), code: 'ERR_PAYLOAD_SCHEMA' },
      {
        topic: telemetry,
        payload: Buffer.from('{"ts":1772330100000,"metrics":{"indexL":1e400}}'),
        code: 'ERR_PAYLOAD_SCHEMA',
      },
      { topic: telemetry, payload: Buffer.from('{"ts":"2026-03-01T02:15:00Z"}'), code: 'ERR_PAYLOAD_SCHEMA' },
      { topic: telemetry, payload: Buffer.from([0xc3, 0x28, 0x7b, 0x7d]), code: 'ERR_PAYLOAD_ENCODING' },
      { topic: telemetry, payload: Buffer.alloc(20_000, 0x20), code: 'ERR_PAYLOAD_TOO_LARGE' },
      { topic: 'vigie/v1/toaster/WM-A/telemetry', payload: Buffer.from(reading(1)), code: 'ERR_KIND_UNKNOWN' },
      { topic: 'vigie/v1/streetlight/WM-A/telemetry', payload: Buffer.from(reading(1)), code: 'ERR_KIND_MISMATCH' },
      {
        topic: 'vigie/v1/water-meter/WM-A/event',
        payload: Buffer.from('{"ts":0,"type":"Bad Type"}'),
        code: 'ERR_PAYLOAD_SCHEMA',
      },
      { topic: telemetry, payload: Buffer.alloc(0), code: 'ERR_PAYLOAD_JSON' },
    ];
    const sent: Array<{ payload: Buffer; code: string }> = [];
    const badPublishes: Promise<unknown>[] = [];
    for (let i = 0; i < 1_000; i++) {
      const sort = sorts[i % sorts.length]!;
      // Each payload unique (leading JSON whitespace changes no verdict), so each dead letter matches its bytes.
      const payload = Buffer.concat([Buffer.alloc(i, 0x20), sort.payload]);
      sent.push({ payload, code: sort.code });
      badPublishes.push(bad.publishAsync(sort.topic, payload, { qos: (i % 2) as 0 | 1 }));
    }
    const goodPublishes = Array.from({ length: 200 }, (_, i) =>
      good.publishAsync('vigie/v1/water-meter/WM-B/telemetry', reading(i), { qos: 1 }),
    );
    await Promise.all([...badPublishes, ...goodPublishes]);

    await expect.poll(() => got.length, { timeout: 20_000 }).toBe(1_200);
    const readings = got.filter((m) => m.topic === READINGS);
    const deadLetters = got
      .filter((m) => m.topic === TOPICS.deadLetters)
      .map((m) => DeadLetter.parse(JSON.parse(m.value)));
    // Accounting: sent = delivered + dead-lettered (nothing dropped here).
    expect(readings).toHaveLength(200);
    expect(deadLetters).toHaveLength(1_000);
    expect(readings.every((m) => m.key === 'WM-B')).toBe(true);
    const sentB64 = sent.map((s) => s.payload.toString('base64')).sort();
    expect(deadLetters.map((d) => d.rawBase64).sort()).toEqual(sentB64);
    const codeOf = new Map(sent.map((s) => [s.payload.toString('base64'), s.code]));
    for (const dl of deadLetters) {
      expect(dl.deviceId).toBe('WM-A');
      expect(dl.message.length).toBeGreaterThan(0);
      expect(dl.errorCode).toBe(codeOf.get(dl.rawBase64));
    }
    // Bad input changes nothing else: the sender stays connected and nothing was refused.
    expect(badClosed).toBe(false);
    expect(bad.connected).toBe(true);
    expect(await metrics.value('ingest_publish_refused_total')).toBe(0);
    expect(await metrics.value('ingest_messages_deadlettered_total')).toBe(1_000);
    // Counted once per event-loop turn (setImmediate), which may trail a message's arrival on the bus (seen under load).
    await expect.poll(() => metrics.value('ingest_messages_received_total'), { timeout: 5_000 }).toBe(1_200);
  });

  it('sends the PUBACK only after bus.produce resolved when a device publishes with QoS 1', async () => {
    const memory = createMemoryBus();
    onTestFinished(() => memory.close());
    const gate = createGateBus(memory);
    const { url } = await start({ gate });
    const client = await device(url, WM_A);
    gate.hold();
    // 1. The publish reaches the bus and waits there.
    const published = client.publishAsync('vigie/v1/water-meter/WM-A/telemetry', reading(7), { qos: 1 }).then(() => {
      gate.state.log.push('puback');
    });
    await expect.poll(() => gate.state.pending, { timeout: 5_000 }).toBe(1);
    // 2. Another device's round trip through the broker proves the broker kept working meanwhile.
    const other = await device(url, WM_B);
    await other.publishAsync('vigie/v1/water-meter/WM-B/status', 'online', { qos: 1, retain: true });
    expect(gate.state.log).toEqual([]);
    // 3. Once the bus accepts, the PUBACK follows.
    gate.release();
    await published;
    expect(gate.state.log).toEqual(['produced WM-A', 'puback']);
  });

  it('holds messages beyond maxInFlight when the bus is slow, then delivers them all', async () => {
    const memory = createMemoryBus();
    onTestFinished(() => memory.close());
    const gate = createGateBus(memory);
    const { url, metrics } = await start({ gate, config: { maxInFlight: 3 } });
    const got = await collect(memory, [READINGS]);
    const a = await device(url, WM_A);
    const b = await device(url, WM_B);
    gate.hold();
    const publishes = Array.from({ length: 20 }, (_, i) =>
      (i % 2 ? a : b).publishAsync(`vigie/v1/water-meter/${i % 2 ? 'WM-A' : 'WM-B'}/telemetry`, reading(i), { qos: 1 }),
    );
    // One batch at the bus (a topic's next batch waits for it), the rest held.
    await expect.poll(() => gate.state.pending, { timeout: 5_000 }).toBeGreaterThan(0);
    await expect.poll(() => metrics.value('ingest_in_flight'), { timeout: 5_000 }).toBeGreaterThan(3);
    gate.release();
    await Promise.all(publishes);
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(20);
    expect(gate.state.maxPending).toBe(3);
    expect(await metrics.value('ingest_in_flight')).toBe(0);
  });

  it('refuses a message without PUBACK when maxHeldMessages are already waiting for the bus', async () => {
    const memory = createMemoryBus();
    onTestFinished(() => memory.close());
    const gate = createGateBus(memory);
    const { url, metrics } = await start({ gate, config: { maxInFlight: 1, maxHeldMessages: 2 } });
    const got = await collect(memory, [READINGS]);
    const a = await device(url, WM_A);
    const b = await device(url, WM_B);
    const c = await device(url, PM_C);
    gate.hold();
    // 1. Two messages held (one at the bus, one waiting for the slot): the cap.
    const published = [
      a.publishAsync('vigie/v1/water-meter/WM-A/telemetry', reading(1), { qos: 1 }),
      b.publishAsync('vigie/v1/water-meter/WM-B/telemetry', reading(2), { qos: 1 }),
    ];
    await expect.poll(() => metrics.value('ingest_in_flight'), { timeout: 5_000 }).toBe(2);
    // 2. A third is refused at once: no PUBACK, connection closed, counted.
    let acked = false;
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    c.publish(
      'vigie/v1/parking-meter/PM-C/telemetry',
      JSON.stringify({ ts: 0, metrics: { batteryPct: 80 } }),
      {
        qos: 1,
      },
      (err) => {
        if (!err) acked = true;
      },
    );
    await closed;
    expect(acked).toBe(false);
    expect(await metrics.value('ingest_publish_refused_total', { reason: 'held_full' })).toBe(1);
    expect(await metrics.value('ingest_in_flight')).toBe(2);
    // 3. The held ones go through once the bus accepts.
    gate.release();
    await Promise.all(published);
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(2);
    expect(await metrics.value('ingest_in_flight')).toBe(0);
  });

  it('stops reading a device’s socket while its messages wait for the bus', async () => {
    const memory = createMemoryBus();
    onTestFinished(() => memory.close());
    const gate = createGateBus(memory);
    const { url, metrics } = await start({ gate, config: { maxInFlight: 10_000 } });
    const got = await collect(memory, [READINGS]);
    const client = await device(url, WM_A);
    gate.hold();
    // 1. 200 readings trickle in one at a time, as from a device on a slow link: between two of them, another
    //    device's round trip gives the broker a chance to read. Without the read gate aedes would read and hold each.
    const other = await device(url, WM_B);
    const count = 200;
    for (let i = 0; i < count; i++) {
      await client.publishAsync('vigie/v1/water-meter/WM-A/telemetry', reading(i), { qos: 0 });
      await other.publishAsync('vigie/v1/water-meter/WM-B/status', 'online', { qos: 1 });
    }
    // 3. It held only the first socket read; the rest waits in TCP buffers, pushing back on the device.
    const held = await metrics.value('ingest_in_flight');
    expect(held).toBeGreaterThan(0);
    expect(held).toBeLessThan(10);
    // 4. Once the bus accepts, everything flows, in order.
    gate.release();
    await expect.poll(() => got.length, { timeout: 10_000 }).toBe(count);
    expect(got.map((m) => JSON.parse(m.value).seq)).toEqual(Array.from({ length: count }, (_, i) => i));
  });

  it('closes the connection without PUBACK when the bus fails, and accepts the resend once it recovers', async () => {
    const memory = createMemoryBus();
    onTestFinished(() => memory.close());
    const gate = createGateBus(memory);
    const { url, metrics } = await start({ gate });
    const got = await collect(memory, [READINGS]);
    const client = await device(url, WM_A, {
      clean: false,
      clientId: `WM-A-${randomUUID().slice(0, 8)}`,
      reconnectPeriod: 50,
    });
    let closes = 0;
    client.on('close', () => {
      closes++;
    });
    gate.fail(true);
    // 1. The bus refuses: no PUBACK, the connection is closed (and the device keeps reconnecting and resending).
    const published = client.publishAsync('vigie/v1/water-meter/WM-A/telemetry', reading(99), { qos: 1 });
    await expect.poll(() => closes, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(await metrics.value('ingest_publish_refused_total', { reason: 'bus_unavailable' })).toBeGreaterThan(0);
    expect(got).toHaveLength(0);
    // 2. The bus recovers: the device's resend is accepted and acknowledged.
    gate.fail(false);
    await published;
    await expect.poll(() => got.length, { timeout: 5_000 }).toBeGreaterThan(0);
    expect(got.every((m) => JSON.parse(m.value).seq === 99)).toBe(true);
  });

  it('accepts a reading from Debian’s mosquitto_pub when it publishes with QoS 1', async () => {
    const { port, memory } = await start();
    const got = await collect(memory, [READINGS]);
    await run('/usr/bin/mosquitto_pub', [
      ...['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-q', '1'],
      ...['-i', `mosq-${randomUUID().slice(0, 8)}`, '-u', WM_B.deviceId, '-P', WM_B.secret],
      ...['-t', 'vigie/v1/water-meter/WM-B/telemetry', '-m', reading(314)],
    ]);
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(1);
    expect(JSON.parse(got[0]!.value)).toMatchObject({ deviceId: 'WM-B', metrics: { indexL: 314 } });
    await expect(
      run('/usr/bin/mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(port), '-q', '1', '-u', WM_B.deviceId, '-P', 'wrong-secret'],
        ...['-t', 'vigie/v1/water-meter/WM-B/telemetry', '-m', reading(1)],
      ]),
    ).rejects.toThrow();
  });

  it('keeps serving and counts the drop when connections exceed maxConnections', async () => {
    const { url, port, memory, metrics } = await start({ config: { maxConnections: 1 } });
    const got = await collect(memory, [READINGS]);
    const client = await device(url, WM_A);
    // A second TCP connection is closed on accept by the server (net.Server maxConnections).
    const extra = createConnection({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => extra.once('close', () => resolve()));
    await expect.poll(() => metrics.value('ingest_connections_dropped_total'), { timeout: 5_000 }).toBe(1);
    await client.publishAsync('vigie/v1/water-meter/WM-A/telemetry', reading(5), { qos: 1 });
    await expect.poll(() => got.length, { timeout: 5_000 }).toBe(1);
  });
});
