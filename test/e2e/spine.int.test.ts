import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createSubscriptions } from '../../alerting/index.ts';
import { dropKafkaNamespace } from '../../cli/bus.ts';
import { loadConfig } from '../../cli/config.ts';
import { type Pipeline, startPipeline } from '../../cli/pipeline.ts';
import type { BusMessage } from '../../core/bus/port.ts';
import { DeadLetter, TOPICS, telemetryTopic } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { HOUR_FREE_ENV } from '../helpers/cli-env.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { exportSeries } from '../helpers/victoria-metrics.ts';

/**
 * The spine end to end over real TCP: mqtt.js → Aedes → processors → alerting → outbox, on PostgreSQL, once on the
 * in-process bus and once on the real Kafka broker (a fresh namespace of topics and consumer groups per run, so
 * other tests' data on the shared broker is never seen). Accounting (STYLE.md §8): every payload sent is
 * delivered, dead-lettered or dropped on purpose.
 */
const HOUR_MS = 3_600_000;
const STEP_MS = 15 * 60_000;
const START_MS = Date.UTC(2026, 2, 1, 0, 0);
const RESIDENT = '+33612345678';

interface SmsLine {
  to: string;
  body: string;
  idempotencyKey: string;
}

describe.each(['memory', 'kafka'] as const)('spine end to end on the %s bus', (busKind) => {
  let db: TestDatabase;
  let dataDir: string;
  let pipeline: Pipeline;
  let url: string;
  let config: ReturnType<typeof loadConfig>;
  const deadLetters: BusMessage[] = [];
  const secrets = { 'WM-LEAK': 'leak-secret-1', 'WM-OK': 'ok-secret-2', 'WM-BAD': 'bad-secret-3' };

  beforeAll(async () => {
    db = await createTestDatabase(inject('databaseUrl'));
    dataDir = mkdtempSync(join(tmpdir(), 'vigie-e2e-'));
    const run = `e2e-${process.pid}-${Date.now()}`;
    config = loadConfig({
      ...HOUR_FREE_ENV,
      VIGIE_DATA_DIR: dataDir,
      DATABASE_URL: db.url,
      VIGIE_MQTT_PORT: '0',
      VIGIE_MQTT_HOST: '127.0.0.1',
      VIGIE_OPERATOR_EMAILS: 'exploitation@vigie.test',
      VIGIE_INFLUX_URL: inject('influxUrl'),
      ...(busKind === 'kafka'
        ? {
            VIGIE_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
            VIGIE_KAFKA_NAMESPACE: run,
            VIGIE_KAFKA_CLIENT_ID: run,
          }
        : {}),
    });
    pipeline = await startPipeline({ config, logger: silentLogger() });
    url = `mqtt://127.0.0.1:${pipeline.mqttPort}`;
    await pipeline.registry.provision(
      Object.entries(secrets).map(([deviceId, secret]) => ({ deviceId, kind: 'water-meter', secret })),
    );
    await createSubscriptions(pipeline.store).add({
      deviceId: 'WM-LEAK',
      channel: 'sms',
      address: RESIDENT,
      locale: 'fr',
      consent: 'operator',
    });
    await pipeline.bus.subscribe({
      groupId: 'e2e-deadletters',
      topics: [TOPICS.deadLetters],
      fromBeginning: true,
      handler: async (batch) => {
        deadLetters.push(...batch);
      },
    });
  });

  afterAll(async () => {
    await pipeline?.close();
    if (busKind === 'kafka' && config) await dropKafkaNamespace(config.kafka);
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const connect = (deviceId: keyof typeof secrets, secret: string = secrets[deviceId]) =>
    mqtt.connectAsync(url, { clientId: deviceId, username: deviceId, password: secret, reconnectPeriod: 0 });

  const smsLines = (): SmsLine[] => {
    const file = join(dataDir, 'outbox', 'sms.ndjson');
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as SmsLine);
  };

  it('sends exactly one SMS to the subscribed resident when a meter leaks, then one when it stops', async () => {
    const client = await connect('WM-LEAK');
    // A household (morning and evening use, quiet nights) with a 3 L/h leak from 02:00 on day 1 to 06:00 on day 2.
    let trueLitres = 250_000;
    const leakFrom = START_MS + 2 * HOUR_MS;
    const leakUntil = START_MS + 30 * HOUR_MS;
    for (let t = START_MS; t <= START_MS + 34 * HOUR_MS; t += STEP_MS) {
      const hourOfDay = new Date(t).getUTCHours();
      if (hourOfDay === 7 || hourOfDay === 19) trueLitres += 40;
      if (t > leakFrom && t <= leakUntil) trueLitres += 3 * (STEP_MS / HOUR_MS);
      const payload = { ts: new Date(t).toISOString(), metrics: { indexL: Math.floor(trueLitres), batteryPct: 80 } };
      await client.publishAsync(telemetryTopic('water-meter', 'WM-LEAK'), JSON.stringify(payload), { qos: 1 });
    }
    await expect.poll(() => smsLines().filter((l) => l.to === RESIDENT).length, { timeout: 30_000 }).toBe(2);
    const lines = smsLines().filter((l) => l.to === RESIDENT);
    expect(lines[0]!.idempotencyKey).toMatch(/^WM-LEAK:leak:1:open:/);
    expect(lines[0]!.body).toMatch(/fuite/i);
    expect(lines[0]!.body).toMatch(/3([,.]\d)? ?L\/h/);
    expect(lines[1]!.idempotencyKey).toMatch(/^WM-LEAK:leak:1:resolved:/);
    await client.endAsync();
    // The time-series sink wrote every reading (event time, ms) and the leak's transitions (annotations).
    const expectedTs = Array.from({ length: (34 * HOUR_MS) / STEP_MS + 1 }, (_, k) => START_MS + k * STEP_MS);
    const missing = async () => {
      const series = await exportSeries(inject('influxUrl'), '{__name__="water_meter_indexL",device_id="WM-LEAK"}');
      const seen = new Set(series.flatMap((x) => x.timestamps));
      return expectedTs.filter((t) => !seen.has(t));
    };
    await expect.poll(missing, { timeout: 30_000 }).toEqual([]);
    const alertSeries = await exportSeries(
      inject('influxUrl'),
      '{__name__=~"alert_.*",device_id="WM-LEAK",type="leak"}',
    );
    expect(new Set(alertSeries.map((x) => x.metric.state))).toEqual(new Set(['open', 'resolved']));
    // Hourly rollups (processors/rollups → rollups.v1 → the sink): nothing at 01:00, the leak's 3 L/h in the night.
    const hourly = async (): Promise<Map<number, number[]>> => {
      const series = await exportSeries(
        inject('influxUrl'),
        '{__name__="water_meter_hourly_consumptionL",device_id="WM-LEAK"}',
      );
      const byTs = new Map<number, number[]>();
      for (const x of series) {
        for (const [i, t] of x.timestamps.entries()) byTs.set(t, [...(byTs.get(t) ?? []), x.values[i]!]);
      }
      return byTs;
    };
    const nightHours = [1, 3, 4, 5].map((h) => START_MS + h * HOUR_MS);
    await expect
      .poll(
        async () => {
          const byTs = await hourly();
          return nightHours.every((t) => byTs.has(t));
        },
        { timeout: 30_000 },
      )
      .toBe(true);
    const byTs = await hourly();
    for (const v of byTs.get(nightHours[0]!)!) expect(v).toBe(0);
    for (const t of nightHours.slice(1)) for (const v of byTs.get(t)!) expect(v).toBeGreaterThanOrEqual(2);
    for (const t of nightHours.slice(1)) for (const v of byTs.get(t)!) expect(v).toBeLessThanOrEqual(4);
  });

  it('refuses a device with a wrong password', async () => {
    await expect(connect('WM-OK', 'not-the-secret')).rejects.toThrow(/bad username or password|not authorized/i);
  });

  it("refuses a device publishing under another device's topic and closes its connection", async () => {
    const client = await connect('WM-OK');
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const readingsBefore = await pipeline.metrics.value('processor_readings_total');
    client.publish(
      telemetryTopic('water-meter', 'WM-LEAK'),
      JSON.stringify({ ts: '2026-03-05T00:00:00Z', metrics: { indexL: 1 } }),
      { qos: 1 },
    );
    await closed;
    expect(await pipeline.metrics.value('ingest_publish_refused_total')).toBeGreaterThanOrEqual(1);
    expect(await pipeline.metrics.value('processor_readings_total')).toBe(readingsBefore);
    client.end(true);
  });

  it('dead-letters 1,000 malformed payloads with a reason while other devices keep flowing', async () => {
    const bad = await connect('WM-BAD');
    const good = await connect('WM-OK');
    const malformed: Array<{ topic: string; bytes: Buffer }> = [];
    const own = telemetryTopic('water-meter', 'WM-BAD');
    const sorts = [
      () => Buffer.from('{"ts":"2026-03-01T00:00:00Z","metrics":{"indexL":12'), // truncated JSON
      () => Buffer.from('{"ts":"2026-03-01T00:00:00Z","metrics":{"indexL":"twelve"}}'), // wrong type
      () => Buffer.from('{"ts":"2026-03-01T00:00:00Z","metrics":{"indexL":1e400}}'), // huge number
      () => Buffer.from('{"ts":12.5,"metrics":{}}'), // wrong ts type
      () => Buffer.from([0xff, 0xfe, 0x7b, 0x7d]), // not UTF-8
      () => Buffer.from(`{"ts":"2026-03-01T00:00:00Z","metrics":{"indexL":1},"pad":"${'x'.repeat(20_000)}"}`), // oversized
      () => Buffer.from('[]'), // not an object
    ];
    for (let i = 0; i < 1_000; i++) {
      // Every tenth goes to a topic with an unknown kind (the device's own id, so it is not an ACL refusal).
      const topic = i % 10 === 9 ? 'vigie/v1/toaster/WM-BAD/telemetry' : own;
      const bytes =
        i % 10 === 9 ? Buffer.from('{"ts":"2026-03-01T00:00:00Z","metrics":{"x":1}}') : sorts[i % sorts.length]!();
      malformed.push({ topic, bytes });
    }
    const readingsBefore = await pipeline.metrics.value('processor_readings_total');
    const receivedBefore = await pipeline.metrics.value('ingest_messages_received_total');
    const deadLetteredBefore = await pipeline.metrics.value('ingest_messages_deadlettered_total');
    const droppedBefore = await pipeline.metrics.value('processor_events_dropped_total');
    const goodReadings = 200;
    await Promise.all([
      (async () => {
        for (const m of malformed) await bad.publishAsync(m.topic, m.bytes, { qos: 1 });
      })(),
      (async () => {
        for (let i = 0; i < goodReadings; i++) {
          const ts = new Date(START_MS + 40 * HOUR_MS + i * STEP_MS).toISOString();
          await good.publishAsync(
            telemetryTopic('water-meter', 'WM-OK'),
            JSON.stringify({ ts, metrics: { indexL: 1000 + i } }),
            {
              qos: 1,
            },
          );
        }
      })(),
    ]);
    const fromBad = () => deadLetters.filter((m) => m.key === 'WM-BAD');
    await expect.poll(() => fromBad().length, { timeout: 30_000 }).toBe(1_000);
    await expect
      .poll(async () => (await pipeline.metrics.value('processor_readings_total')) - readingsBefore, {
        timeout: 30_000,
      })
      .toBe(goodReadings);
    // Each dead letter holds the original bytes and a reason; in order, since one device's messages keep their order.
    const letters = fromBad().map((m) => DeadLetter.parse(JSON.parse(m.value)));
    letters.forEach((letter, i) => {
      expect(Buffer.from(letter.rawBase64, 'base64').equals(malformed[i]!.bytes)).toBe(true);
      expect(letter.errorCode).toMatch(/^ERR_/);
      expect(letter.message.length).toBeGreaterThan(0);
    });
    const codes = new Set(letters.map((l) => l.errorCode));
    expect(codes.size).toBeGreaterThanOrEqual(4);
    // Accounting (STYLE.md §8): what ingest received = processed + dead-lettered + dropped on purpose.
    const received = (await pipeline.metrics.value('ingest_messages_received_total')) - receivedBefore;
    const processed = (await pipeline.metrics.value('processor_readings_total')) - readingsBefore;
    const deadLettered = (await pipeline.metrics.value('ingest_messages_deadlettered_total')) - deadLetteredBefore;
    const dropped = (await pipeline.metrics.value('processor_events_dropped_total')) - droppedBefore;
    expect(received).toBe(goodReadings + malformed.length);
    expect(processed + deadLettered).toBe(received);
    expect(dropped).toBe(0);
    await Promise.all([bad.endAsync(), good.endAsync()]);
  });
});
