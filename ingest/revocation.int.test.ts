import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import { ManualClock } from '../core/clock.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { cliEnv } from '../test/helpers/cli-env.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { createDeviceRegistry, type DeviceRegistry, ingestMigrations } from './device-registry.ts';
import { createIngest, ingestConfigSchema } from './mqtt.ts';

const BIN = fileURLToPath(new URL('../bin/vigie.mjs', import.meta.url));
const WM_A = { deviceId: 'WM-A', kind: 'water-meter' as const, secret: 'secret-of-meter-a' };
const WM_B = { deviceId: 'WM-B', kind: 'water-meter' as const, secret: 'secret-of-meter-b' };
const WM_C = { deviceId: 'WM-C', kind: 'water-meter' as const, secret: 'secret-of-meter-c' };
/** The acceptance: a revoked device is disconnected within a second. */
const DISCONNECT_WITHIN_MS = 1_000;

/** A connected device, with the moment its connection closed (performance.now()), once it has. */
interface Device {
  readonly client: MqttClient;
  closedAtMs(): number | undefined;
}

describe('revocation', () => {
  async function pgliteStore(): Promise<SqlStore> {
    const store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
    onTestFinished(() => store.close());
    return store;
  }

  async function postgresStore(): Promise<{ store: SqlStore; url: string }> {
    const db = await createTestDatabase(inject('databaseUrl'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [ingestMigrations]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
    });
    return { store, url: db.url };
  }

  async function startIngest(registry: DeviceRegistry): Promise<string> {
    const memory = createMemoryBus();
    const ingest = createIngest({
      config: ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0 }),
      bus: memory,
      registry,
      metrics: new Metrics(),
      logger: silentLogger(),
    });
    const { port } = await ingest.listen();
    onTestFinished(async () => {
      await ingest.close();
      await memory.close();
    });
    return `mqtt://127.0.0.1:${port}`;
  }

  async function connect(url: string, creds: { deviceId: string; secret: string }): Promise<Device> {
    const client = await connectAsync(url, {
      username: creds.deviceId,
      password: creds.secret,
      clientId: `${creds.deviceId}-${randomUUID().slice(0, 8)}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    let closedAtMs: number | undefined;
    client.once('close', () => {
      closedAtMs = performance.now();
    });
    onTestFinished(() => client.endAsync(true));
    return { client, closedAtMs: () => closedAtMs };
  }

  /** Resolves once the device's connection closed; fails after the acceptance delay plus margin. */
  async function closed(device: Device): Promise<number> {
    await expect.poll(() => device.closedAtMs(), { timeout: DISCONNECT_WITHIN_MS + 4_000, interval: 5 }).toBeDefined();
    return device.closedAtMs()!;
  }

  async function vigie(
    env: Record<string, string>,
    ...args: string[]
  ): Promise<{ stdout: string; exitedAtMs: number }> {
    const dataDir = await mkdtemp(join(tmpdir(), 'vigie-revoke-'));
    onTestFinished(() => rm(dataDir, { recursive: true, force: true }));
    const { stdout } = await promisify(execFile)(process.execPath, [BIN, ...args], {
      env: cliEnv({ VIGIE_DATA_DIR: dataDir, ...env }),
    });
    return { stdout, exitedAtMs: performance.now() };
  }

  it('disconnects a connected device within a second and refuses it again when it is revoked in process', async () => {
    const registry = createDeviceRegistry(await pgliteStore(), { scryptCost: 16 });
    await registry.provision([WM_A, WM_B]);
    const url = await startIngest(registry);
    const a = await connect(url, WM_A);
    const b = await connect(url, WM_B);
    const revokedAtMs = performance.now();
    expect(await registry.revoke(WM_A.deviceId)).toBe(true);
    expect((await closed(a)) - revokedAtMs).toBeLessThan(DISCONNECT_WITHIN_MS);
    await expect(connect(url, WM_A)).rejects.toMatchObject({ code: 4 });
    // Another device keeps its connection.
    expect(b.client.connected).toBe(true);
    await b.client.publishAsync('vigie/v1/water-meter/WM-B/status', 'online', { qos: 1 });
  });

  it('disconnects a device within a second and refuses it again when `vigie devices revoke` runs in another process on PostgreSQL', async () => {
    const { store, url: databaseUrl } = await postgresStore();
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([WM_A, WM_B]);
    const url = await startIngest(registry);
    const a = await connect(url, WM_A);
    const b = await connect(url, WM_B);
    const { stdout, exitedAtMs } = await vigie({ DATABASE_URL: databaseUrl }, 'devices', 'revoke', '--id', 'WM-A');
    expect(stdout).toBe('revoked WM-A\n');
    // The revocation is committed before the command exits: the disconnection follows within a second of it.
    expect((await closed(a)) - exitedAtMs).toBeLessThan(DISCONNECT_WITHIN_MS);
    await expect(connect(url, WM_A)).rejects.toMatchObject({ code: 4 });
    expect(b.client.connected).toBe(true);
  });

  it('disconnects a device and accepts only its new secret when `vigie devices rotate` runs in another process on PostgreSQL', async () => {
    const { store, url: databaseUrl } = await postgresStore();
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([WM_C]);
    const url = await startIngest(registry);
    const c = await connect(url, WM_C);
    const { stdout, exitedAtMs } = await vigie({ DATABASE_URL: databaseUrl }, 'devices', 'rotate', '--id', 'WM-C');
    const [header, line] = stdout.trim().split('\n');
    expect(header).toBe('deviceId,secret');
    const secret = line!.split(',')[1]!;
    expect((await closed(c)) - exitedAtMs).toBeLessThan(DISCONNECT_WITHIN_MS);
    await expect(connect(url, WM_C)).rejects.toMatchObject({ code: 4 });
    const again = await connect(url, { deviceId: 'WM-C', secret });
    expect(again.client.connected).toBe(true);
  });

  it('keeps the old secret working until the grace period ends, then refuses it and accepts the new one', async () => {
    const clock = new ManualClock(Date.UTC(2026, 2, 1));
    const registry = createDeviceRegistry(await pgliteStore(), { scryptCost: 16, clock });
    await registry.provision([WM_A]);
    const url = await startIngest(registry);
    const before = await connect(url, WM_A);
    const rotated = await registry.rotate(WM_A.deviceId, { graceMs: 24 * 3_600_000 });
    // During the grace period both secrets connect, and the connection made before the rotation stays.
    const during = await connect(url, WM_A);
    const renewed = await connect(url, { deviceId: WM_A.deviceId, secret: rotated!.secret });
    expect(before.client.connected && during.client.connected && renewed.client.connected).toBe(true);
    const endedAtMs = performance.now();
    clock.advance(24 * 3_600_000);
    // Connections are not told apart by secret: all of the device's close, then only the new secret connects.
    expect((await closed(before)) - endedAtMs).toBeLessThan(DISCONNECT_WITHIN_MS);
    expect((await closed(during)) - endedAtMs).toBeLessThan(DISCONNECT_WITHIN_MS);
    await expect(connect(url, WM_A)).rejects.toMatchObject({ code: 4 });
    const after = await connect(url, { deviceId: WM_A.deviceId, secret: rotated!.secret });
    expect(after.client.connected).toBe(true);
  });

  it('refuses the old secret at once and disconnects the device when rotated without grace in process', async () => {
    const registry = createDeviceRegistry(await pgliteStore(), { scryptCost: 16 });
    await registry.provision([WM_A]);
    const url = await startIngest(registry);
    const a = await connect(url, WM_A);
    const rotatedAtMs = performance.now();
    const rotated = await registry.rotate(WM_A.deviceId, { secret: 'the-new-secret-1' });
    expect(rotated).toMatchObject({ generated: false, previousSecretUntil: null });
    expect((await closed(a)) - rotatedAtMs).toBeLessThan(DISCONNECT_WITHIN_MS);
    await expect(connect(url, WM_A)).rejects.toMatchObject({ code: 4 });
    expect((await connect(url, { deviceId: WM_A.deviceId, secret: 'the-new-secret-1' })).client.connected).toBe(true);
  });
});
