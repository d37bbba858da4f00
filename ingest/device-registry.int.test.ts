import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { twoStoresOnNewDatabase } from '../test/helpers/postgres.ts';
import { createDeviceRegistry, type DeviceRegistry, ingestMigrations } from './device-registry.ts';

const WM = { deviceId: 'WM-000001', kind: 'water-meter' as const, secret: 'correct horse battery' };
const SL = { deviceId: 'SL-000001', kind: 'streetlight' as const, secret: 'another-secret-42' };
const PM = { deviceId: 'PM-000001', kind: 'parking-meter' as const, secret: 'parking-secret-7' };

describe('device-registry on PostgreSQL', () => {
  const twoProcesses = () => twoStoresOnNewDatabase(inject('databaseUrl'), [ingestMigrations]);

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

  it('stores districts and positions, and tells a watching process of a district set elsewhere, when the store is PostgreSQL', async () => {
    const [ingestStore, cliStore] = await twoProcesses();
    const cli = createDeviceRegistry(cliStore, { scryptCost: 16, batchSize: 2 });
    const fleet = Array.from({ length: 5 }, (_, i) => ({
      deviceId: `WM-${i}`,
      kind: 'water-meter' as const,
      district: i % 2 === 0 ? 'centre' : 'rebberg',
      lat: 47.75 + i / 1000,
      lon: 7.34 - i / 1000,
    }));
    expect(await cli.provision([...fleet, SL])).toMatchObject({ created: 6 });
    expect(await cli.get('WM-3')).toMatchObject({ district: 'rebberg', lat: 47.753, lon: 7.337 });
    expect(await cli.provision([...fleet, SL])).toMatchObject({ updated: 0, unchanged: 6 });
    // Re-importing with changed districts updates them.
    const moved = fleet.map((d) => ({ ...d, district: 'dornach' }));
    expect(await cli.provision([...moved, SL])).toMatchObject({ updated: 5, unchanged: 1 });
    expect((await cli.directoryPage('', 10)).map((e) => e.district)).toEqual([
      null,
      'dornach',
      'dornach',
      'dornach',
      'dornach',
      'dornach',
    ]);
    const ingest = createDeviceRegistry(ingestStore, { scryptCost: 16 });
    const changed: string[] = [];
    const revoked = await watch(ingest);
    const w = ingest.watchChanges((ids) => changed.push(...ids), { pollIntervalMs: 50 });
    onTestFinished(() => w.stop());
    await w.ready;
    expect(await cli.setLocation('WM-1', { district: 'bourtzwiller', lat: 47.7711, lon: 7.3246 })).toMatchObject({
      district: 'bourtzwiller',
      lat: 47.7711,
    });
    await cli.remove('WM-4');
    await expect.poll(() => changed, { timeout: 2_000 }).toEqual(['WM-1', 'WM-4']);
    expect(revoked).toEqual(['WM-4']);
    const entries = await ingest.directoryEntries(['WM-1', 'WM-4']);
    expect(entries.find((e) => e.deviceId === 'WM-1')).toMatchObject({ district: 'bourtzwiller', active: true });
    expect(entries.find((e) => e.deviceId === 'WM-4')).toMatchObject({ kind: 'water-meter', active: false });
    // The CHECK constraints hold for a writer that bypasses the registry.
    await expect(cliStore.query("UPDATE devices SET lat = 91, lon = 7 WHERE device_id = 'WM-0'")).rejects.toThrow();
    await expect(cliStore.query("UPDATE devices SET lat = NULL WHERE device_id = 'WM-0'")).rejects.toThrow();
    await expect(cliStore.query("UPDATE devices SET district = 'a b' WHERE device_id = 'WM-0'")).rejects.toThrow();
    await expect(cliStore.query("UPDATE devices SET circuit = 'a b' WHERE device_id = 'WM-0'")).rejects.toThrow();
  });

  it('stores circuits from an import in batches, and tells a watching process of a circuit set elsewhere, when the store is PostgreSQL', async () => {
    const [ingestStore, cliStore] = await twoProcesses();
    const cli = createDeviceRegistry(cliStore, { scryptCost: 16, batchSize: 2 });
    const lamps = Array.from({ length: 5 }, (_, i) => ({
      deviceId: `SL-${i}`,
      kind: 'streetlight' as const,
      district: 'dornach',
      circuit: `AR-${1 + (i % 2)}`,
    }));
    expect(await cli.provision(lamps)).toMatchObject({ created: 5 });
    expect(await cli.get('SL-3')).toMatchObject({ district: 'dornach', circuit: 'AR-2' });
    expect(await cli.provision(lamps)).toMatchObject({ updated: 0, unchanged: 5 });
    // Re-wired to one cabinet: the two lamps on AR-2 move (updated); listed without a circuit: none afterwards.
    expect(await cli.provision(lamps.map((d) => ({ ...d, circuit: 'AR-1' })))).toMatchObject({
      updated: 2,
      unchanged: 3,
    });
    expect((await cli.directoryPage('', 10)).map((e) => e.circuit)).toEqual(['AR-1', 'AR-1', 'AR-1', 'AR-1', 'AR-1']);
    await cli.provision([{ deviceId: 'SL-0', kind: 'streetlight', district: 'dornach' }]);
    expect(await cli.get('SL-0')).toMatchObject({ district: 'dornach', circuit: null });
    const ingest = createDeviceRegistry(ingestStore, { scryptCost: 16 });
    const changed: string[] = [];
    const revoked = await watch(ingest);
    const w = ingest.watchChanges((ids) => changed.push(...ids), { pollIntervalMs: 50 });
    onTestFinished(() => w.stop());
    await w.ready;
    expect(await cli.setLocation('SL-1', { circuit: 'AR-9' })).toMatchObject({ district: 'dornach', circuit: 'AR-9' });
    expect(await cli.setLocation('SL-2', { circuit: null })).toMatchObject({ circuit: null });
    await expect.poll(() => changed, { timeout: 2_000 }).toEqual(['SL-1', 'SL-2']);
    expect(revoked).toEqual([]);
    const entries = await ingest.directoryEntries(['SL-1', 'SL-2']);
    expect(entries.find((e) => e.deviceId === 'SL-1')).toMatchObject({ circuit: 'AR-9', active: true });
    expect(entries.find((e) => e.deviceId === 'SL-2')).toMatchObject({ circuit: null, district: 'dornach' });
    await expect(cli.setLocation('SL-1', { circuit: 'AR 9' })).rejects.toMatchObject({ code: 'ERR_DEVICE_INVALID' });
  });
});
