import { readFile, rm } from 'node:fs/promises';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import { type Reading, TOPICS, telemetryTopic } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import { makePki, type Pki } from '../test/helpers/pki.ts';
import { createDeviceRegistry, createIngest, ingestConfigSchema, ingestMigrations } from './index.ts';

/**
 * Issue 9's TLS acceptance through the ingest stage itself (listeners.int.test.ts covers the listeners alone):
 * mqtts with device certificates (identity = the certificate's CN, no password), another device's certificate
 * refused, and MQTT over WebSocket, every reading reaching the bus.
 */
describe('ingest over TLS and WebSocket', () => {
  let pki: Pki;
  beforeAll(async () => {
    pki = await makePki();
  });
  afterAll(async () => {
    await rm(pki.dir, { recursive: true, force: true });
  });

  async function start() {
    const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    const registry = createDeviceRegistry(store, { scryptCost: 2 });
    await registry.provision([
      { deviceId: 'WM-A', kind: 'water-meter', secret: 'secret-of-a-123' },
      { deviceId: 'WM-B', kind: 'water-meter', secret: 'secret-of-b-123' },
    ]);
    const bus = createMemoryBus();
    const readings: Reading[] = [];
    await bus.ensureTopic(TOPICS.readings('water-meter'));
    await bus.subscribe({
      groupId: 'test',
      topics: [TOPICS.readings('water-meter')],
      fromBeginning: true,
      handler: async (batch) => {
        for (const m of batch) readings.push(JSON.parse(m.value) as Reading);
      },
    });
    const metrics = new Metrics();
    const ingest = createIngest({
      config: ingestConfigSchema.parse({
        mqttHost: '127.0.0.1',
        mqttPort: 0,
        tlsPort: 0,
        tlsCertFile: pki.serverCertFile,
        tlsKeyFile: pki.serverKeyFile,
        tlsCaFile: pki.caFile,
        tlsClientCerts: 'optional',
        wsPort: 0,
      }),
      bus,
      registry,
      metrics,
      logger: silentLogger(),
    });
    const ports = await ingest.listen();
    onTestFinished(async () => {
      await ingest.close();
      await bus.close();
      await store.close();
    });
    return { ports, readings, metrics, registry };
  }

  const reading = (n: number) =>
    JSON.stringify({ ts: `2026-03-01T00:${String(n).padStart(2, '0')}:00Z`, metrics: { indexL: n } });

  it('takes readings from a device that shows its certificate and no password, over mqtts', async () => {
    const { ports, readings } = await start();
    expect(ports.tlsPort).toBeGreaterThan(0);
    const a = pki.device('WM-A');
    const client = await mqtt.connectAsync(`mqtts://localhost:${ports.tlsPort}`, {
      clientId: 'wm-a-tls',
      ca: await readFile(pki.caFile),
      cert: a.cert,
      key: a.key,
      reconnectPeriod: 0,
    });
    await client.publishAsync(telemetryTopic('water-meter', 'WM-A'), reading(1), { qos: 1 });
    await client.endAsync();
    await expect.poll(() => readings.map((r) => `${r.deviceId} ${r.metrics.indexL}`)).toEqual(['WM-A 1']);
  });

  it("refuses a device's certificate presented under another device's name", async () => {
    const { ports, readings, metrics } = await start();
    const a = pki.device('WM-A');
    await expect(
      mqtt.connectAsync(`mqtts://localhost:${ports.tlsPort}`, {
        clientId: 'impostor',
        username: 'WM-B',
        password: 'secret-of-b-123',
        ca: await readFile(pki.caFile),
        cert: a.cert,
        key: a.key,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized|Bad username or password/i);
    expect(await metrics.value('ingest_auth_failures_total', { reason: 'certificate_mismatch' })).toBe(1);
    expect(readings).toEqual([]);
  });

  it('refuses a revoked device even with a valid certificate', async () => {
    const { ports, registry } = await start();
    await registry.remove('WM-B');
    const b = pki.device('WM-B');
    await expect(
      mqtt.connectAsync(`mqtts://localhost:${ports.tlsPort}`, {
        clientId: 'wm-b-tls',
        ca: await readFile(pki.caFile),
        cert: b.cert,
        key: b.key,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow(/Not authorized/i);
  });

  it('takes readings over WebSocket with a password', async () => {
    const { ports, readings } = await start();
    const client = await mqtt.connectAsync(`ws://127.0.0.1:${ports.wsPort}/mqtt`, {
      clientId: 'wm-b-ws',
      username: 'WM-B',
      password: 'secret-of-b-123',
      reconnectPeriod: 0,
    });
    await client.publishAsync(telemetryTopic('water-meter', 'WM-B'), reading(2), { qos: 1 });
    await client.endAsync();
    await expect.poll(() => readings.map((r) => `${r.deviceId} ${r.metrics.indexL}`)).toEqual(['WM-B 2']);
  });
});
