import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { createDeviceRegistry, type DeviceRegistry, ingestMigrations } from './device-registry.ts';

const WM = { deviceId: 'WM-000001', kind: 'water-meter' as const, secret: 'correct horse battery' };
const SL = { deviceId: 'SL-000001', kind: 'streetlight' as const, secret: 'another-secret-42' };
const PM = { deviceId: 'PM-000001', kind: 'parking-meter' as const, secret: 'parking-secret-7' };

describe('device-registry on PostgreSQL', () => {
  /** Two stores (two connection pools) on one new database: two processes sharing the registry. */
  async function twoProcesses(): Promise<[SqlStore, SqlStore]> {
    const db = await createTestDatabase(inject('databaseUrl'));
    const a = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [ingestMigrations]);
    const b = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [ingestMigrations]);
    onTestFinished(async () => {
      await a.close();
      await b.close();
      await db.drop();
    });
    return [a, b];
  }

  async function watch(registry: DeviceRegistry): Promise<string[]> {
    const reported: string[] = [];
    const errors: unknown[] = [];
    const w = registry.watchRevocations((ids) => reported.push(...ids), {
      pollIntervalMs: 50,
      onError: (e) => errors.push(e),
    });
    onTestFinished(() => {
      w.stop();
      expect(errors).toEqual([]);
    });
    await w.ready;
    return reported;
  }

  it('imports, verifies, rotates and revokes when the store is PostgreSQL', async () => {
    const [store] = await twoProcesses();
    const registry = createDeviceRegistry(store, { scryptCost: 16, batchSize: 3 });
    const fleet = Array.from({ length: 8 }, (_, i) => ({
      deviceId: `S-${i}`,
      kind: 'sensor' as const,
      devEui: `70B3D57ED000000${i}`,
    }));
    const result = await registry.provision([...fleet, WM]);
    expect(result).toMatchObject({ created: 9, updated: 0, unchanged: 0 });
    expect(result.generatedSecrets).toHaveLength(8);
    const fresh = createDeviceRegistry(store);
    for (const { deviceId, secret } of result.generatedSecrets) {
      expect(await fresh.verify(deviceId, secret)).toEqual({ deviceId, kind: 'sensor' });
    }
    expect(await registry.provision([...fleet, WM])).toMatchObject({ created: 0, updated: 0, unchanged: 9 });
    const rotated = await registry.rotate(WM.deviceId, { graceMs: 60_000 });
    expect(await fresh.verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await fresh.verify(WM.deviceId, rotated!.secret)).not.toBeNull();
    expect(await registry.revoke(WM.deviceId)).toBe(true);
    expect(await createDeviceRegistry(store).verify(WM.deviceId, rotated!.secret)).toBeNull();
    expect(await createDeviceRegistry(store).verify(WM.deviceId, WM.secret)).toBeNull();
  });

  it('tells a watching process within its poll interval when another process revokes, rotates or removes', async () => {
    const [ingestStore, cliStore] = await twoProcesses();
    const cli = createDeviceRegistry(cliStore, { scryptCost: 16 });
    await cli.provision([WM, SL, { ...PM, devEui: '0004a30b001c0530' }]);
    const ingest = createDeviceRegistry(ingestStore, { scryptCost: 16 });
    const reported = await watch(ingest);
    for (const d of [WM, SL, PM]) expect(await ingest.verify(d.deviceId, d.secret)).not.toBeNull();
    expect(ingest.resolveAlias({ network: 'chirpstack', devEui: '0004A30B001C0530' })).toMatchObject({
      deviceId: PM.deviceId,
    });
    await cli.revoke(WM.deviceId);
    await cli.rotate(SL.deviceId);
    await cli.remove(PM.deviceId);
    await expect.poll(() => reported, { timeout: 2_000 }).toEqual([WM.deviceId, SL.deviceId, PM.deviceId]);
    // Its cached verifications went with them: the cached secrets no longer work.
    for (const d of [WM, SL, PM]) expect(await ingest.verify(d.deviceId, d.secret)).toBeNull();
    expect(ingest.resolveAlias({ network: 'chirpstack', devEui: '0004A30B001C0530' })).toBeNull();
    // A device provisioned by the other process resolves here within a poll or two.
    await cli.provision([{ deviceId: 'WM-LORA', kind: 'water-meter', devEui: '0004a30b001c0531' }]);
    await expect
      .poll(
        () => ingest.resolveAlias({ network: 'tts', devEui: '0004A30B001C0531', deviceId: 'eui-0004a30b001c0531' }),
        {
          timeout: 2_000,
        },
      )
      .toEqual({ deviceId: 'WM-LORA', kind: 'water-meter' });
  });

  it('still sees a change whose transaction commits after a later one when reading the change log', async () => {
    const [ingestStore, cliStore] = await twoProcesses();
    const cli = createDeviceRegistry(cliStore, { scryptCost: 16 });
    await cli.provision([WM, SL]);
    const ingest = createDeviceRegistry(ingestStore, { scryptCost: 16 });
    const reported = await watch(ingest);
    expect(await ingest.verify(WM.deviceId, WM.secret)).not.toBeNull();
    await cliStore.transaction(async (tx) => {
      // This revision is taken first but committed last: the poll sees the later one first, then this one.
      await tx.query('UPDATE devices SET disabled_at = now() WHERE device_id = $1', [WM.deviceId]);
      await tx.query("INSERT INTO device_changes (change, device_ids) VALUES ('revoked', $1::text[])", [[WM.deviceId]]);
      await cli.revoke(SL.deviceId);
      await expect.poll(() => reported, { timeout: 2_000 }).toEqual([SL.deviceId]);
    });
    await expect.poll(() => reported, { timeout: 2_000 }).toEqual([SL.deviceId, WM.deviceId]);
    expect(await ingest.verify(WM.deviceId, WM.secret)).toBeNull();
  });

  it('lets one of two processes giving the same DevEUI to two devices win and refuses the other', async () => {
    const [a, b] = await twoProcesses();
    const results = await Promise.allSettled([
      createDeviceRegistry(a, { scryptCost: 16 }).provision([{ ...WM, devEui: '0004A30B001C0530' }]),
      createDeviceRegistry(b, { scryptCost: 16 }).provision([{ ...SL, devEui: '0004a30b001c0530' }]),
    ]);
    const refused = results.filter((r) => r.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_DEVICE_INVALID' });
    const owners = await a.query<{ device_id: string }>('SELECT device_id FROM devices WHERE dev_eui IS NOT NULL');
    expect(owners.rows).toHaveLength(1);
  });
});
