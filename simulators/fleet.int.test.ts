import { randomUUID } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import { Aedes } from 'aedes';
import { connectAsync, type IPublishPacket } from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import { DeviceEventPayload, DevicePayload, type Kind, Reading, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import { createDeviceRegistry, createIngest, ingestConfigSchema, ingestMigrations } from '../ingest/index.ts';
import { runFleet } from './fleet.ts';
import { fleetCredentials, generateMessages, generateReadings } from './generate.ts';
import { parseScenario } from './scenario.ts';
import { payloadOf } from './water-meter.ts';

const OBSERVER = { username: 'observer', password: randomUUID() };

/** A bare Aedes broker on port 0 that knows the fleet's credentials and lets a device publish only under its id. */
async function startBroker(seed: string, devices: number, kind: Kind = 'water-meter') {
  const secrets = new Map(fleetCredentials({ seed, devices, kind }).map((c) => [c.deviceId, c.secret]));
  secrets.set(OBSERVER.username, OBSERVER.password);
  const users = new Map<string, string>();
  const broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      const ok = username !== undefined && secrets.get(username) === password?.toString();
      if (ok && username) users.set(client.id, username);
      done(null, ok);
    },
    authorizePublish: (client, packet, done) => {
      const user = client ? users.get(client.id) : undefined;
      done(user && packet.topic.startsWith(`vigie/v1/${kind}/${user}/`) ? null : new Error('not your topic'));
    },
  });
  const server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { broker, url, close };
}

describe('fleet', () => {
  it('publishes the generated readings over MQTT with QoS 1 when a small fleet runs at high speed', async () => {
    const seed = `fleet-${randomUUID().slice(0, 8)}`;
    const scenario = parseScenario({
      description: 'five meters, one leaking, one sending truncated JSON',
      devices: 5,
      seed,
      startTs: '2026-03-01T06:00:00Z',
      faults: [
        { type: 'leak', deviceIds: ['WM-000001'], rateLph: 5 },
        { type: 'malformed', deviceIds: ['WM-000002'], sort: 'truncated-json', ratio: 1, start: 'PT1H' },
      ],
    });
    const startMs = Date.parse(scenario.startTs);
    const endMs = startMs + 2 * 3_600_000;
    const broker = await startBroker(seed, 5);
    onTestFinished(broker.close);

    // 1. An observer subscribes to every telemetry and status topic.
    const observer = await connectAsync(broker.url, { clientId: `observer-${randomUUID()}`, ...OBSERVER });
    onTestFinished(() => observer.endAsync());
    const telemetry: IPublishPacket[] = [];
    const status: Array<{ topic: string; text: string }> = [];
    observer.on('message', (topic, payload, packet) => {
      if (topic.endsWith('/telemetry')) telemetry.push(packet);
      else status.push({ topic, text: payload.toString() });
    });
    await observer.subscribeAsync(['vigie/v1/water-meter/+/telemetry', 'vigie/v1/water-meter/+/status'], { qos: 1 });

    // 2. The fleet connects (as its meters) and lives two simulated hours in about a second.
    const fleet = await runFleet({
      brokerUrl: broker.url,
      scenario,
      speed: 7200,
      startMs,
      endMs,
      connectConcurrency: 2,
    });
    let stopped = false;
    onTestFinished(async () => {
      if (!stopped) await fleet.stop();
    });
    expect(fleet.stats().connected).toBe(5);
    await fleet.done;

    // 3. What arrived is exactly what the pure generator yields, on the right topics, at QoS 1.
    const expected = [...generateMessages({ scenario, startMs, endMs })];
    expect(expected).toHaveLength(5 * 8);
    await expect.poll(() => telemetry.length, { timeout: 10_000 }).toBe(expected.length);
    expect(fleet.stats()).toMatchObject({ published: 40, acked: 40, errors: 0, malformed: 4 });
    const byKey = new Map(telemetry.map((p) => [`${p.topic}|${(p.payload as Buffer).toString('base64')}`, p]));
    for (const m of expected) {
      const packet = byKey.get(`${m.topic}|${payloadOf(m).toString('base64')}`);
      if (!packet) throw new Error(`missing: ${m.deviceId} at ${new Date(m.tsMs).toISOString()}`);
      if (!m.reading) throw new Error('a water meter sends readings only');
      expect(packet.qos).toBe(1);
      expect(m.topic).toBe(`vigie/v1/water-meter/${m.deviceId}/telemetry`);
      if (!m.malformed) {
        const parsed = DevicePayload.parse(JSON.parse((packet.payload as Buffer).toString()));
        expect(parsed.metrics.indexL).toBe(m.reading.metrics.indexL);
        expect(Object.keys(parsed.metrics).sort()).toEqual(['batteryPct', 'flowLph', 'indexL', 'tempC']);
      }
    }
    expect(status.filter((s) => s.text === 'online')).toHaveLength(5);

    // 4. stop() marks every meter offline and closes its connection.
    await fleet.stop();
    stopped = true;
    await expect.poll(() => status.filter((s) => s.text === 'offline').length, { timeout: 5000 }).toBe(5);
    await expect.poll(() => broker.broker.connectedClients, { timeout: 5000 }).toBe(1);
    expect(fleet.stats().connected).toBe(0);
    await fleet.stop(); // idempotent
  });

  it('publishes readings on telemetry and events on the event topic when a parking fleet runs', async () => {
    const seed = `pm-${randomUUID().slice(0, 8)}`;
    const scenario = parseScenario({
      description: 'three parking meters on a Monday morning, one jamming',
      kind: 'parking-meter',
      devices: 3,
      seed,
      startTs: '2026-03-02T08:00:00Z',
      faults: [{ type: 'coin-jam', deviceIds: ['PM-000002'], start: 'PT1H', duration: 'PT2H' }],
    });
    const startMs = Date.parse(scenario.startTs);
    const endMs = startMs + 4 * 3_600_000;
    const broker = await startBroker(seed, 3, 'parking-meter');
    onTestFinished(broker.close);

    // 1. An observer subscribes to every telemetry and event topic of the kind.
    const observer = await connectAsync(broker.url, { clientId: `observer-${randomUUID()}`, ...OBSERVER });
    onTestFinished(() => observer.endAsync());
    const got: IPublishPacket[] = [];
    observer.on('message', (_topic, _payload, packet) => got.push(packet));
    await observer.subscribeAsync(['vigie/v1/parking-meter/+/telemetry', 'vigie/v1/parking-meter/+/event'], { qos: 1 });

    // 2. Four simulated hours (09:00–13:00 local: paid time) in about two seconds.
    const fleet = await runFleet({ brokerUrl: broker.url, scenario, speed: 7200, startMs, endMs });
    let stopped = false;
    onTestFinished(async () => {
      if (!stopped) await fleet.stop();
    });
    await fleet.done;

    // 3. Every generated message arrived on its topic at QoS 1: readings and events (payments, the fault pair).
    const expected = [...generateMessages({ scenario, startMs, endMs })];
    const events = expected.filter((m) => m.event);
    expect(events.filter((m) => m.event?.type === 'payment').length).toBeGreaterThan(5);
    expect(events.filter((m) => m.event?.type !== 'payment').map((m) => m.event?.data.code)).toEqual([
      'coin-jam',
      'coin-jam',
    ]);
    await expect.poll(() => got.length, { timeout: 10_000 }).toBe(expected.length);
    expect(fleet.stats()).toMatchObject({ published: expected.length, events: events.length, errors: 0 });
    const byKey = new Set(got.map((p) => `${p.topic}|${(p.payload as Buffer).toString('base64')}|${p.qos}`));
    for (const m of expected) {
      expect(byKey.has(`${m.topic}|${payloadOf(m).toString('base64')}|1`), m.topic).toBe(true);
      if (m.event) {
        expect(m.topic).toBe(`vigie/v1/parking-meter/${m.deviceId}/event`);
        expect(DeviceEventPayload.safeParse(JSON.parse(payloadOf(m).toString())).success).toBe(true);
      } else {
        expect(m.topic).toBe(`vigie/v1/parking-meter/${m.deviceId}/telemetry`);
      }
    }
    await fleet.stop();
    stopped = true;
  });

  it('counts the readings of a meter as errors when it cannot connect', async () => {
    const scenario = parseScenario({ description: 'two meters, one unknown to the broker', devices: 2, seed: 'a' });
    const broker = await startBroker('another-seed', 1); // knows WM-000001 under another secret only
    onTestFinished(broker.close);
    const startMs = Date.parse(scenario.startTs);
    const fleet = await runFleet({
      brokerUrl: broker.url,
      scenario,
      speed: 36_000,
      startMs,
      endMs: startMs + 3_600_000,
      connectAttempts: 1,
    });
    onTestFinished(() => fleet.stop());
    await fleet.done;
    expect(fleet.stats()).toMatchObject({ connected: 0, published: 0 });
    // 2 failed connections + 2 meters × 4 readings not sent.
    expect(fleet.stats().errors).toBe(2 + 8);
  });

  it('delivers every reading through the real ingest when meters share gateway connections', async () => {
    // 1. A real ingest (memory bus, PGlite registry) that knows 12 meters behind 3 gateways (5 + 5 + 2).
    const seed = `gw-${randomUUID().slice(0, 8)}`;
    const scenario = parseScenario({ description: 'twelve meters behind gateways', devices: 12, seed });
    const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    onTestFinished(() => store.close());
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    const credentials = fleetCredentials({ seed, devices: 12, gatewaySize: 5 });
    expect(credentials.filter((c) => c.gatewayId === undefined).map((c) => c.deviceId)).toEqual([
      'GW-000001',
      'GW-000002',
      'GW-000003',
    ]);
    await registry.provision(credentials);
    const bus = createMemoryBus();
    onTestFinished(() => bus.close());
    const metrics = new Metrics();
    const ingest = createIngest({
      config: ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0 }),
      bus,
      registry,
      metrics,
      logger: silentLogger(),
    });
    const { port } = await ingest.listen();
    onTestFinished(() => ingest.close());
    const got: Reading[] = [];
    const sub = await bus.subscribe({
      groupId: `test-${randomUUID()}`,
      topics: [TOPICS.readings('water-meter'), TOPICS.deadLetters],
      fromBeginning: true,
      handler: async (batch) => {
        for (const m of batch) got.push(Reading.parse(JSON.parse(m.value)));
      },
    });
    onTestFinished(() => sub.close());

    // 2. Two simulated hours, three connections.
    const startMs = Date.parse(scenario.startTs);
    const endMs = startMs + 2 * 3_600_000;
    const fleet = await runFleet({
      brokerUrl: `mqtt://127.0.0.1:${port}`,
      scenario,
      speed: 7200,
      startMs,
      endMs,
      gatewaySize: 5,
      connectAttempts: 1,
    });
    let stopped = false;
    onTestFinished(async () => {
      if (!stopped) await fleet.stop();
    });
    expect(fleet.stats()).toMatchObject({ connected: 12, connections: 3 });
    expect(await metrics.value('ingest_connections')).toBe(3);
    await fleet.done;

    // 3. Every generated reading arrived, under its meter's id; nothing refused or dead-lettered.
    const expected = [...generateReadings({ scenario, startMs, endMs })];
    expect(expected).toHaveLength(12 * 8);
    await expect.poll(() => got.length, { timeout: 10_000 }).toBe(expected.length);
    const keyOf = (r: Reading) => `${r.deviceId}|${Date.parse(r.ts)}|${r.metrics.indexL}`;
    expect(got.map(keyOf).sort()).toEqual(expected.map(keyOf).sort());
    expect(fleet.stats()).toMatchObject({ published: 96, acked: 96, errors: 0 });
    expect(await metrics.value('ingest_publish_refused_total')).toBe(0);

    // 4. stop() closes the three connections.
    await fleet.stop();
    stopped = true;
    expect(fleet.stats()).toMatchObject({ connected: 0, connections: 0 });
    await expect.poll(() => metrics.value('ingest_connections'), { timeout: 5_000 }).toBe(0);
  });
});
