import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import type { Bus } from '../core/bus/port.ts';
import { DeviceInfo, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { deviceInfoOf, startDeviceDirectory } from './device-directory.ts';
import { createDeviceRegistry, ingestMigrations } from './device-registry.ts';

describe('device-directory', () => {
  let store: SqlStore;

  // One PGlite for the file (it takes seconds to start); each test starts from empty tables.
  beforeAll(async () => {
    store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
  }, 60_000);
  afterAll(async () => {
    await store.close();
  });
  beforeEach(async () => {
    await store.query('DELETE FROM devices');
    await store.query('DELETE FROM device_changes');
  });

  /** Every record of devices.v1 from the beginning, and the last one of each key. */
  async function read(bus: Bus, handle?: () => Promise<void>) {
    const records: string[] = [];
    const latest = new Map<string, DeviceInfo>();
    const sub = await bus.subscribe({
      groupId: `reader-${randomUUID()}`,
      topics: [TOPICS.devices],
      fromBeginning: true,
      handler: async (batch) => {
        await handle?.();
        for (const m of batch) {
          records.push(m.key);
          latest.set(m.key, DeviceInfo.parse(JSON.parse(m.value)));
        }
      },
    });
    onTestFinished(() => sub.close());
    return { records, latest };
  }

  it('leaves out an absent district, circuit and position when describing a device', () => {
    const base = { deviceId: 'WM-1', kind: 'water-meter', active: true, updatedAt: '2025-01-01T00:00:00.000Z' };
    expect(deviceInfoOf({ ...base, district: null, circuit: null, lat: null, lon: null })).toEqual(base);
    expect(deviceInfoOf({ ...base, district: 'centre', circuit: null, lat: 47.75, lon: 7.34 })).toEqual({
      ...base,
      district: 'centre',
      lat: 47.75,
      lon: 7.34,
    });
    const lamp = { ...base, deviceId: 'SL-1', kind: 'streetlight' };
    const described = deviceInfoOf({ ...lamp, district: 'dornach', circuit: 'AR-12', lat: null, lon: null });
    expect(described).toEqual({ ...lamp, district: 'dornach', circuit: 'AR-12' });
    expect(DeviceInfo.parse(described)).toEqual(described);
  });

  it('publishes in pages and then each change once when the registry changes under it', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision(
      Array.from({ length: 7 }, (_, i) => ({ deviceId: `WM-${i}`, kind: 'water-meter' as const, district: 'centre' })),
    );
    const bus = createMemoryBus();
    onTestFinished(() => bus.close());
    const metrics = new Metrics();
    const directory = await startDeviceDirectory({ registry, bus, logger: silentLogger(), metrics, chunkSize: 3 });
    onTestFinished(() => directory.close());
    const { records, latest } = await read(bus);
    await directory.flushed();
    await expect.poll(() => records.length).toBe(7);
    expect(latest.get('WM-2')).not.toHaveProperty('circuit');
    await registry.setLocation('WM-2', { district: 'dornach', lat: 47.7473, lon: 7.3062 });
    await registry.revoke('WM-3');
    await directory.flushed();
    await expect.poll(() => records.length).toBe(9);
    expect(latest.get('WM-2')).toMatchObject({ district: 'dornach', lat: 47.7473, lon: 7.3062, active: true });
    expect(latest.get('WM-3')).toMatchObject({ district: 'centre', active: false });
    // A circuit set, then cleared: published with it, then without it (absent, not null).
    await registry.setLocation('WM-4', { circuit: 'AR-7' });
    await directory.flushed();
    await expect.poll(() => records.length).toBe(10);
    expect(latest.get('WM-4')).toMatchObject({ district: 'centre', circuit: 'AR-7', active: true });
    await registry.setLocation('WM-4', { circuit: null });
    await directory.flushed();
    await expect.poll(() => records.length).toBe(11);
    expect(latest.get('WM-4')).toMatchObject({ district: 'centre' });
    expect(latest.get('WM-4')).not.toHaveProperty('circuit');
    expect(await metrics.value('ingest_device_directory_published_total', { trigger: 'start' })).toBe(7);
    expect(await metrics.value('ingest_device_directory_published_total', { trigger: 'change' })).toBe(4);
  });

  it('skips and counts a device the contract refuses when the store holds one', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([{ deviceId: 'WM-1', kind: 'water-meter' }]);
    // A row from before the kinds were closed (written behind the registry's back).
    await store.query("INSERT INTO devices (device_id, kind, secret_hash) VALUES ('OLD-1', 'toaster', 'x')");
    const bus = createMemoryBus();
    onTestFinished(() => bus.close());
    const metrics = new Metrics();
    const directory = await startDeviceDirectory({ registry, bus, logger: silentLogger(), metrics });
    onTestFinished(() => directory.close());
    const { latest } = await read(bus);
    await directory.flushed();
    await expect.poll(() => [...latest.keys()]).toEqual(['WM-1']);
    expect(await metrics.value('ingest_device_directory_skipped_total', { reason: 'invalid' })).toBe(1);
  });

  it('retries until every device is on the bus when the bus is full for a while', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision(
      Array.from({ length: 6 }, (_, i) => ({ deviceId: `WM-${i}`, kind: 'water-meter' as const })),
    );
    // One partition holding one uncommitted message: a reader that does not commit fills it.
    const bus = createMemoryBus({ defaultPartitions: 1, maxBacklogPerPartition: 1, produceTimeoutMs: 20 });
    onTestFinished(() => bus.close());
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await bus.ensureTopic(TOPICS.devices, { partitions: 1 });
    const { latest } = await read(bus, () => held);
    const metrics = new Metrics();
    const directory = await startDeviceDirectory({ registry, bus, logger: silentLogger(), metrics, chunkSize: 2 });
    onTestFinished(() => directory.close());
    // 1. The first page goes in; the next ones are refused (ERR_BUS_FULL) while the reader holds its batch.
    await expect
      .poll(() => metrics.value('ingest_device_directory_failures_total'), { timeout: 5_000 })
      .toBeGreaterThan(0);
    // 2. The reader commits: the retries get through and every device arrives.
    release();
    await directory.flushed();
    await expect.poll(() => latest.size, { timeout: 5_000 }).toBe(6);
  });

  it('keeps a compacted topic whole on the in-process bus when more than its retention is produced', async () => {
    const bus = createMemoryBus({ defaultPartitions: 1, maxBacklogPerPartition: 10, retainPerPartition: 10 });
    onTestFinished(() => bus.close());
    await bus.ensureTopic('compacted.v1', { compacted: true });
    await bus.ensureTopic('plain.v1');
    for (const topic of ['compacted.v1', 'plain.v1']) {
      for (let i = 0; i < 100; i += 10) {
        await bus.produce(
          topic,
          Array.from({ length: 10 }, (_, j) => ({ key: `k${i + j}`, value: '{}' })),
        );
      }
    }
    const seen = new Map<string, number>();
    for (const topic of ['compacted.v1', 'plain.v1']) {
      const sub = await bus.subscribe({
        groupId: `late-${topic}`,
        topics: [topic],
        fromBeginning: true,
        handler: async (batch) => {
          seen.set(topic, (seen.get(topic) ?? 0) + batch.length);
        },
      });
      onTestFinished(() => sub.close());
    }
    await expect.poll(() => seen.get('compacted.v1')).toBe(100);
    expect(seen.get('plain.v1')).toBeLessThan(100);
  });
});
