/**
 * Ingest over Kafka across a broker outage (issue 3, acceptance): the broker is stopped for 20 s while devices
 * publish, then started again. Every reading a device saw acknowledged (PUBACK) must be in Kafka; every reading is
 * eventually acknowledged and in Kafka (devices retry the rest); no PUBACK while the broker is down; ingest's
 * in-flight count stays under its cap. Duplicates (a resend after a lost PUBACK) are allowed and counted.
 *
 * The devices are mqtt.js clients as a firmware would use them: persistent session (clean: false), QoS 1, a short
 * reconnect period. mqtt.js keeps an unacknowledged QoS 1 publish in its outgoing store and sends it again after
 * reconnecting; but a publish made while it is still resending its store is queued outside the store and fails with
 * "Connection closed" if the connection drops meanwhile (mqtt.js 5 `_flushStoreProcessingQueue`). A firmware
 * publishes such a reading again, and so do these devices (`firmwareRetries`).
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import mqtt, { type MqttClient } from 'mqtt';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createKafkaBus } from '../../core/bus/kafka.ts';
import type { BusMessage } from '../../core/bus/port.ts';
import { Reading, TOPICS, telemetryTopic } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { createDeviceRegistry, ingestMigrations } from '../../ingest/device-registry.ts';
import { createIngest, ingestConfigSchema } from '../../ingest/mqtt.ts';
import { startKafka } from '../helpers/kafka.ts';

const DEVICES = 20;
const PERIOD_MS = 50; // each device: 20 readings/s, 400/s in all
const WARM_MS = 5_000;
const OUTAGE_MS = 20_000;
const AFTER_MS = 5_000;
const RECONNECT_MS = 500;
const FIRMWARE_RETRY_MS = 500;
const MAX_IN_FLIGHT = 100;
const MAX_HELD = 500;
const READINGS = TOPICS.readings('water-meter');

/** The scenario's own clock: how long a phase lasts (not a wait for a condition). */
const phase = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Device {
  readonly deviceId: string;
  readonly client: MqttClient;
  nextSeq: number;
  readonly unacked: Set<number>;
}

describe('ingest over Kafka', () => {
  it('loses no acknowledged reading and delivers every retried one when the broker is stopped for 20 s', async () => {
    const kafka = await startKafka({ dedicated: true });
    onTestFinished(() => kafka.stop());

    const bus = await createKafkaBus({ brokers: kafka.brokers, clientId: 'vigie-ingest-outage' });
    onTestFinished(() => bus.close());
    // A broker just started may still answer "does not host this topic-partition" while it creates a topic's leader
    // (seen once in 4 runs); ensureTopic is idempotent, so it is simply tried again.
    await vi.waitFor(() => bus.ensureTopic(READINGS, { partitions: 4 }), { timeout: 20_000, interval: 500 });
    await vi.waitFor(() => bus.ensureTopic(TOPICS.deadLetters, { partitions: 1 }), { timeout: 20_000, interval: 500 });

    const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    onTestFinished(() => store.close());
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    const creds = Array.from({ length: DEVICES }, (_, i) => ({
      deviceId: `WM-OUT-${String(i).padStart(2, '0')}`,
      kind: 'water-meter' as const,
      secret: `secret-of-outage-meter-${i}`,
    }));
    await registry.provision(creds);

    const metrics = new Metrics();
    const ingest = createIngest({
      config: ingestConfigSchema.parse({
        mqttHost: '127.0.0.1',
        mqttPort: 0,
        maxInFlight: MAX_IN_FLIGHT,
        maxHeldMessages: MAX_HELD,
      }),
      bus,
      registry,
      metrics,
      logger: silentLogger(),
    });
    const { port } = await ingest.listen();
    onTestFinished(() => ingest.close());

    // --- devices ----------------------------------------------------------------------------------------------
    const acks: Array<{ deviceId: string; seq: number; atMs: number }> = [];
    let published = 0;
    let firmwareRetries = 0;
    let generating = true;
    const devices: Device[] = await Promise.all(
      creds.map(async (c) => {
        const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
          username: c.deviceId,
          password: c.secret,
          clientId: `${c.deviceId}-${randomUUID().slice(0, 8)}`,
          protocolVersion: 4,
          clean: false,
          reconnectPeriod: RECONNECT_MS,
          connectTimeout: 5_000,
        });
        client.on('error', () => {}); // connection errors while reconnecting: the client retries
        onTestFinished(() => client.endAsync(true));
        return { deviceId: c.deviceId, client, nextSeq: 0, unacked: new Set<number>() };
      }),
    );
    let finished = false;
    onTestFinished(() => {
      finished = true;
    });
    const send = (d: Device, seq: number) => {
      if (finished) return;
      const payload = JSON.stringify({ ts: new Date().toISOString(), seq, metrics: { indexL: 1_000 + seq } });
      d.client.publish(telemetryTopic('water-meter', d.deviceId), payload, { qos: 1 }, (err) => {
        if (err) {
          // Not stored by mqtt.js: the firmware sends it again later.
          firmwareRetries++;
          setTimeout(() => send(d, seq), FIRMWARE_RETRY_MS);
          return;
        }
        if (d.unacked.delete(seq)) acks.push({ deviceId: d.deviceId, seq, atMs: Date.now() });
      });
    };
    const ticker = setInterval(() => {
      if (!generating) return;
      for (const d of devices) {
        const seq = d.nextSeq++;
        d.unacked.add(seq);
        published++;
        send(d, seq);
      }
    }, PERIOD_MS);
    onTestFinished(() => clearInterval(ticker));

    // --- ingest's in-flight count, sampled ----------------------------------------------------------------------
    let maxInFlight = 0;
    const sampler = setInterval(async () => {
      maxInFlight = Math.max(maxInFlight, await metrics.value('ingest_in_flight'));
    }, 50);
    onTestFinished(() => clearInterval(sampler));

    // --- the scenario ---------------------------------------------------------------------------------------------
    await phase(WARM_MS);
    const ackedBeforeStop = acks.length;
    expect(ackedBeforeStop).toBeGreaterThan(0);
    const stopBeganMs = Date.now();
    await kafka.stopBroker();
    const stoppedMs = Date.now();
    await phase(OUTAGE_MS - (stoppedMs - stopBeganMs));
    const startBeganMs = Date.now();
    await kafka.startBroker();
    const startedMs = Date.now();
    await phase(AFTER_MS);
    generating = false;
    const unackedTotal = () => devices.reduce((n, d) => n + d.unacked.size, 0);
    await expect.poll(unackedTotal, { timeout: 30_000, interval: 200 }).toBe(0);
    const allAckedMs = Date.now();

    // --- what Kafka holds ------------------------------------------------------------------------------------------
    const admin = new Kafka({
      clientId: 'vigie-outage-check',
      brokers: kafka.brokers,
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    onTestFinished(() => admin.disconnect());
    const offsets = await admin.fetchTopicOffsets(READINGS);
    const inKafka = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
    const got: BusMessage[] = [];
    const sub = await bus.subscribe({
      groupId: `outage-check-${randomUUID()}`,
      topics: [READINGS],
      fromBeginning: true,
      handler: async (batch) => {
        got.push(...batch);
      },
    });
    onTestFinished(() => sub.close());
    await expect.poll(() => got.length, { timeout: 30_000 }).toBe(inKafka);

    const seen = new Map<string, number>();
    for (const m of got) {
      const r = Reading.parse(JSON.parse(m.value));
      expect(m.key).toBe(r.deviceId);
      const k = `${r.deviceId}#${r.seq}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const duplicates = got.length - seen.size;

    // 1. Every acknowledged reading is in Kafka.
    const ackedMissing = acks.filter((a) => !seen.has(`${a.deviceId}#${a.seq}`));
    expect(ackedMissing).toEqual([]);
    // 2. Every published reading was acknowledged in the end (devices retried) and is in Kafka, and nothing else is.
    expect(acks).toHaveLength(published);
    const expected = new Set(devices.flatMap((d) => Array.from({ length: d.nextSeq }, (_, s) => `${d.deviceId}#${s}`)));
    expect(expected.size).toBe(published);
    expect([...expected].filter((k) => !seen.has(k))).toEqual([]);
    expect(seen.size).toBe(published);
    // 3. No PUBACK while the broker was down (a PUBACK already on its way when it stopped may land within 1 s).
    const ackedWhileDown = acks.filter((a) => a.atMs > stoppedMs + 1_000 && a.atMs < startBeganMs);
    expect(ackedWhileDown).toEqual([]);
    // 4. Ingest's in-flight count stayed under its cap, and nothing is left in flight.
    expect(maxInFlight).toBeLessThanOrEqual(MAX_HELD);
    expect(await metrics.value('ingest_in_flight')).toBe(0);

    const firstAckAfter = acks.find((a) => a.atMs >= startBeganMs);
    console.info(
      `kafka outage: published ${published}, acked ${acks.length} (${ackedBeforeStop} before the stop, ` +
        `${acks.filter((a) => a.atMs >= stopBeganMs && a.atMs < startBeganMs).length} during the stop/outage), ` +
        `in Kafka ${got.length} (${seen.size} distinct, ${duplicates} duplicates), firmware retries ${firmwareRetries}, ` +
        `refused ${await metrics.value('ingest_publish_refused_total', { reason: 'bus_unavailable' })} (bus) + ` +
        `${await metrics.value('ingest_publish_refused_total', { reason: 'held_full' })} (held full), ` +
        `max in flight ${maxInFlight}, ` +
        `broker stop ${stoppedMs - stopBeganMs} ms, start ${startedMs - startBeganMs} ms, first ack ` +
        `${firstAckAfter ? firstAckAfter.atMs - startedMs : 'none'} ms and all acked ${allAckedMs - startedMs} ms ` +
        `after the broker served again`,
    );
  });
});
