import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import { type DeadLetter, type Reading, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import { createDeviceRegistry, createIngest, ingestConfigSchema, ingestMigrations } from './index.ts';

/**
 * Issue 9's "more ways in" through the ingest stage over real TCP: a ChirpStack v4 network server publishing into
 * Vigie as the registered gateway of its meters, SenML packs on a device's `senml` channel, and the bridge
 * subscribing to a network server's own broker (The Things Stack uplink) — readings on the bus, bad input
 * dead-lettered with a reason.
 */
const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`./uplinks/fixtures/${name}`, import.meta.url), 'utf8')) as {
    topic: string;
    payload: unknown;
  };

async function start(extra: Record<string, unknown> = {}) {
  const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
  const registry = createDeviceRegistry(store, { scryptCost: 2 });
  await registry.provision([
    { deviceId: 'NS-CHIRP', kind: 'sensor', secret: 'network-server-secret' },
    // The meter behind ChirpStack, known by its DevEUI; its gateway is the network server's client.
    {
      deviceId: 'WM-000123',
      kind: 'water-meter',
      secret: 'meter-secret-123',
      gatewayId: 'NS-CHIRP',
      devEui: '70b3d5e75e00470c',
    },
    // A meter of the same network server's DevEUI range but registered behind nobody.
    { deviceId: 'WM-000124', kind: 'water-meter', secret: 'meter-secret-124', devEui: '70B3D57ED005B89A' },
    { deviceId: 'WM-S', kind: 'water-meter', secret: 'senml-meter-secret' },
  ]);
  const bus = createMemoryBus();
  const readings: Reading[] = [];
  const letters: DeadLetter[] = [];
  for (const t of [TOPICS.readings('water-meter'), TOPICS.deadLetters]) await bus.ensureTopic(t);
  await bus.subscribe({
    groupId: 'test',
    topics: [TOPICS.readings('water-meter'), TOPICS.deadLetters],
    fromBeginning: true,
    handler: async (batch) => {
      for (const m of batch) {
        if (m.topic === TOPICS.deadLetters) letters.push(JSON.parse(m.value) as DeadLetter);
        else readings.push(JSON.parse(m.value) as Reading);
      }
    },
  });
  const metrics = new Metrics();
  const ingest = createIngest({
    config: ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0, ...extra }),
    bus,
    registry,
    metrics,
    logger: silentLogger(),
  });
  const { port } = await ingest.listen();
  onTestFinished(async () => {
    await ingest.close();
    await bus.close();
    await store.close();
  });
  const connect = (username: string, password: string) =>
    mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: `${username}-c`,
      username,
      password,
      reconnectPeriod: 0,
    });
  return { readings, letters, metrics, connect };
}

describe('ingest of LoRaWAN uplinks and SenML packs', () => {
  it('takes a ChirpStack uplink published by the network server registered as the meter’s gateway', async () => {
    const { readings, letters, connect } = await start();
    const ns = await connect('NS-CHIRP', 'network-server-secret');
    const up = fixture('chirpstack-up-water-meter.json');
    await ns.publishAsync(up.topic, JSON.stringify(up.payload), { qos: 1 });
    // A TTS-shaped uplink for a meter whose gateway it is not: dead-lettered, the connection stays.
    const foreign = fixture('tts-up-water-meter.json');
    await ns.publishAsync(foreign.topic, JSON.stringify(foreign.payload), { qos: 1 });
    await ns.publishAsync(up.topic, '{"deviceInfo": ', { qos: 1 });
    await ns.endAsync();
    await expect.poll(() => readings.map((r) => r.deviceId)).toEqual(['WM-000123']);
    expect(readings[0]).toMatchObject({ kind: 'water-meter', seq: 1834 });
    expect(typeof readings[0]?.metrics.indexL).toBe('number');
    await expect.poll(() => letters.map((l) => l.errorCode).sort()).toEqual(['ERR_DEVICE_FOREIGN', 'ERR_PAYLOAD_JSON']);
    const foreignLetter = letters.find((l) => l.errorCode === 'ERR_DEVICE_FOREIGN');
    expect(Buffer.from(foreignLetter!.rawBase64, 'base64').toString('utf8')).toBe(JSON.stringify(foreign.payload));
  });

  it('turns a SenML pack on a device’s senml channel into one reading per time', async () => {
    const { readings, connect } = await start();
    const meter = await connect('WM-S', 'senml-meter-secret');
    const pack = [
      { bn: 'WM-S', bt: 1_772_330_400, n: 'volume', u: 'm3', v: 123.456 },
      { n: 'battery', u: '%EL', v: 88 },
      { n: 'volume', u: 'm3', v: 123.46, t: 900 },
    ];
    await meter.publishAsync('vigie/v1/water-meter/WM-S/senml', JSON.stringify(pack), { qos: 1 });
    await meter.endAsync();
    await expect.poll(() => readings.length).toBe(2);
    expect(readings.map((r) => [r.ts, r.metrics.indexL])).toEqual([
      ['2026-03-01T02:00:00.000Z', 123_456],
      ['2026-03-01T02:15:00.000Z', 123_460],
    ]);
    expect(readings[0]?.metrics.batteryPct).toBe(88);
  });

  it("takes uplinks from the network server's own broker through the bridge", async () => {
    // The network server's broker: a real MQTT broker over TCP (Aedes), as ChirpStack's or TTS's would be.
    const nsBroker = await Aedes.createBroker();
    const server = createServer(nsBroker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const nsPort = typeof address === 'object' && address ? address.port : 0;
    onTestFinished(
      () =>
        new Promise<void>((resolve) => {
          nsBroker.close(() => server.close(() => resolve()));
        }),
    );
    const subscribed: string[] = [];
    nsBroker.on('subscribe', (subs) => subscribed.push(...subs.map((s) => s.topic)));
    const { readings, metrics } = await start({ lorawanMqttUrl: `mqtt://127.0.0.1:${nsPort}` });
    await expect.poll(() => subscribed).toContain('v3/+/devices/+/up');
    const publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${nsPort}`, { clientId: 'tts', reconnectPeriod: 0 });
    const up = fixture('tts-up-water-meter.json');
    await publisher.publishAsync(up.topic, JSON.stringify(up.payload), { qos: 1 });
    await publisher.endAsync();
    await expect.poll(() => readings.map((r) => r.deviceId)).toEqual(['WM-000124']);
    expect(readings[0]?.seq).toBe(9021);
    expect(await metrics.value('ingest_uplinks_total', { network: 'tts' })).toBe(1);
  });
});
