import mqtt from 'mqtt';
import { describe, expect, it, onTestFinished } from 'vitest';
import { loadInWorker } from '../cli/commands/bench-worker.ts';
import { createMemoryBus } from '../core/bus/memory.ts';
import { commandTopic, statusTopic, TOPICS, telemetryTopic } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import { benchDeviceId } from '../simulators/load.ts';
import type { RawLoadOptions, RawLoadResult } from '../simulators/raw-load.ts';
import { createDeviceRegistry, createIngest, ingestConfigSchema, ingestMigrations } from './index.ts';

/**
 * Issue 9's overload acceptance at CI size: a flood larger than ingest can take (200 connections × 64 QoS 1
 * publishes in flight, from a child process) against a bus whose consumer is deliberately slow. The broker must
 * survive it with bounded memory, lose no acknowledged reading, and serve a newcomer once the flood stops.
 * Full-size figures (2× capacity for 60 s) come from `vigie bench --scenario overload`.
 */

const SECRET = 'flood-secret';

/** A set of (key, non-negative integer) pairs as one growable bitmap per key; `size` counts distinct pairs. */
function createSeenSet() {
  const bits = new Map<string, Uint8Array>();
  let size = 0;
  return {
    get size() {
      return size;
    },
    add(key: string, n: number): void {
      let b = bits.get(key);
      if (!b || b.length <= n >> 3) {
        const grown = new Uint8Array(Math.max((n >> 3) + 1, (b?.length ?? 0) * 2, 1_024));
        if (b) grown.set(b);
        bits.set(key, grown);
        b = grown;
      }
      const mask = 1 << (n & 7);
      if ((b[n >> 3]! & mask) === 0) {
        b[n >> 3]! |= mask;
        size++;
      }
    },
    has(key: string, n: number): boolean {
      const b = bits.get(key);
      return b !== undefined && b.length > n >> 3 && (b[n >> 3]! & (1 << (n & 7))) !== 0;
    },
  };
}
const CONNECTIONS = 200;

describe('ingest under overload', () => {
  it('survives a flood beyond its capacity with bounded memory, loses no acknowledged reading and recovers', async () => {
    const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    const registry = createDeviceRegistry(store, { scryptCost: 2 });
    const metrics = new Metrics();
    const bus = createMemoryBus({ maxBacklogPerPartition: 2_000 });
    const topic = TOPICS.readings('water-meter');
    await bus.ensureTopic(topic);
    await bus.ensureTopic(TOPICS.deadLetters);
    // A slow downstream stage: 1 ms per batch of at most 100, about 100,000 readings/s at best but it keeps the
    // bus's backlog (2,000 per partition) full so that producers wait, which is what ingest must absorb.
    // Readings seen, once each, as one bit per (device, seq) in buffers outside the JS heap: the heap bound below is
    // ingest's, not this bookkeeping's (a Set of strings grew by tens of MB with the readings it counted).
    const seen = createSeenSet();
    await bus.subscribe({
      groupId: 'slow-sink',
      topics: [topic],
      fromBeginning: true,
      maxBatchSize: 100,
      handler: async (batch) => {
        await new Promise((r) => setTimeout(r, 2));
        for (const m of batch) seen.add(m.key, (JSON.parse(m.value) as { seq: number }).seq);
      },
    });
    const ids = Array.from({ length: CONNECTIONS }, (_, i) => benchDeviceId(i));
    await registry.provision(
      [...ids, 'LATE-1'].map((deviceId) => ({ deviceId, kind: 'water-meter' as const, secret: SECRET })),
    );
    const config = ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0 });
    const ingest = createIngest({ config, bus, registry, metrics, logger: silentLogger() });
    const { port } = await ingest.listen();
    onTestFinished(async () => {
      await ingest.close();
      await bus.close();
      await store.close();
    });

    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let peakHeap = heapBefore;
    let peakHeld = 0;
    const sampler = setInterval(async () => {
      peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
      peakHeld = Math.max(peakHeld, await metrics.value('ingest_in_flight'));
    }, 50);
    onTestFinished(() => clearInterval(sampler));

    // 1. The flood: 200 connections × 64 unacknowledged QoS 1 publishes, as fast as the broker lets, for 8 s.
    const flood = await loadInWorker<RawLoadResult>(
      '--raw-worker',
      {
        host: '127.0.0.1',
        port,
        scenario: 'device',
        connections: CONNECTIONS,
        secret: SECRET,
        seconds: 8,
        window: 64,
        startMs: Date.UTC(2026, 0, 1),
      } satisfies RawLoadOptions,
      (child) =>
        onTestFinished(() => {
          child.kill('SIGKILL');
        }),
    );
    expect(flood.connected).toBe(CONNECTIONS);
    expect(flood.acked).toBeGreaterThan(10_000);

    // 2. Bounded: at most maxHeldMessages waited in memory, and the heap did not follow the flood.
    expect(peakHeld).toBeLessThanOrEqual(config.maxHeldMessages);
    const heapGrowthMb = (peakHeap - heapBefore) / 1_048_576;
    expect(heapGrowthMb).toBeLessThan(300);

    // 3. Nothing acknowledged is lost: every PUBACKed reading reaches the consumer.
    await expect.poll(() => seen.size, { timeout: 30_000 }).toBeGreaterThanOrEqual(flood.acked);
    expect(seen.size).toBeLessThanOrEqual(flood.published);

    // 4. Recovery: once the flood is over, a device that was not part of it connects and is acknowledged at once.
    const late = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'LATE-1',
      username: 'LATE-1',
      password: SECRET,
      reconnectPeriod: 0,
    });
    const t0 = Date.now();
    await late.publishAsync(
      telemetryTopic('water-meter', 'LATE-1'),
      JSON.stringify({ ts: '2026-01-01T00:00:00Z', seq: 0, metrics: { indexL: 1 } }),
      { qos: 1 },
    );
    const ackMs = Date.now() - t0;
    await late.endAsync();
    expect(ackMs).toBeLessThan(2_000);
    await expect.poll(() => seen.has('LATE-1', 0), { timeout: 10_000 }).toBe(true);
    expect(await metrics.value('ingest_server_errors_total')).toBe(0);
  });

  it('keeps serving when a dozen devices flood status messages while a device waits on its command topic', async () => {
    // The overload crash of Aedes 1.2 (ARCHITECTURE.md: mqemitter recursing when 10+ publishers feed a subscriber
    // that must catch up) needs messages routed through mqemitter to a subscriber. In Vigie only status messages
    // (and wills) take that route, and a device may subscribe to nothing but its own command topic, so a status
    // flood finds no subscriber to queue for. This floods it anyway, with a subscribed device present.
    const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    const registry = createDeviceRegistry(store, { scryptCost: 2 });
    const metrics = new Metrics();
    const bus = createMemoryBus();
    await bus.ensureTopic(TOPICS.readings('water-meter'));
    const ids = Array.from({ length: 12 }, (_, i) => `ST-${i}`);
    await registry.provision(
      [...ids, 'LISTENER'].map((deviceId) => ({ deviceId, kind: 'water-meter' as const, secret: SECRET })),
    );
    const ingest = createIngest({
      config: ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0 }),
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
    const connect = (id: string) =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId: id,
        username: id,
        password: SECRET,
        reconnectPeriod: 0,
      });
    const listener = await connect('LISTENER');
    await listener.subscribeAsync(commandTopic('water-meter', 'LISTENER'), { qos: 1 });
    const floods = await Promise.all(ids.map(connect));
    const sent = await Promise.all(
      floods.map(async (client, i) => {
        const topic = statusTopic('water-meter', ids[i]!);
        for (let n = 0; n < 5_000; n++) client.publish(topic, JSON.stringify({ online: true, n }), { qos: 0 });
        await client.endAsync();
        return 5_000;
      }),
    );
    expect(sent.reduce((a, b) => a + b, 0)).toBe(60_000);
    // Still serving: the listener gets a command, and a reading is acknowledged.
    const got = new Promise<string>((resolve) => listener.once('message', (_t, m) => resolve(m.toString())));
    await new Promise<void>((resolve, reject) =>
      ingest.broker.publish(
        {
          cmd: 'publish',
          topic: commandTopic('water-meter', 'LISTENER'),
          payload: Buffer.from('{"cmd":"ping"}'),
          qos: 1,
          retain: false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
    expect(await got).toBe('{"cmd":"ping"}');
    await listener.publishAsync(
      telemetryTopic('water-meter', 'LISTENER'),
      JSON.stringify({ ts: '2026-01-01T00:00:00Z', metrics: { indexL: 1 } }),
      { qos: 1 },
    );
    await listener.endAsync();
    expect(await metrics.value('ingest_messages_received_total')).toBeGreaterThan(1);
  });
});
