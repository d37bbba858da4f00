import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createDeviceRegistry, ingestMigrations, loadDevicesFile } from './device-registry.ts';

describe('device-registry', () => {
  let store: SqlStore;
  let dir: string;

  // One PGlite for the file (it takes seconds to start); each test starts from an empty table.
  beforeAll(async () => {
    store = await openStore({ pgliteDir: 'memory://' }, [ingestMigrations]);
  }, 60_000);
  afterAll(async () => {
    await store.close();
  });
  beforeEach(async () => {
    await store.query('DELETE FROM devices');
    dir = await mkdtemp(join(tmpdir(), 'vigie-devices-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const WM = { deviceId: 'WM-000001', kind: 'water-meter' as const, secret: 'correct horse battery' };
  const SL = { deviceId: 'SL-000001', kind: 'streetlight' as const, secret: 'another-secret-42' };

  it('verifies a provisioned device when its secret is right', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM, SL]);
    expect(await registry.verify('WM-000001', 'correct horse battery')).toEqual({
      deviceId: 'WM-000001',
      kind: 'water-meter',
    });
    expect(await registry.verify('SL-000001', 'another-secret-42')).toEqual({
      deviceId: 'SL-000001',
      kind: 'streetlight',
    });
  });

  it('returns null when the secret is wrong, empty or the device unknown', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM]);
    expect(await registry.verify('WM-000001', 'correct horse battery!')).toBeNull();
    expect(await registry.verify('WM-000001', '')).toBeNull();
    expect(await registry.verify('WM-404', 'correct horse battery')).toBeNull();
    expect(await registry.verify('../etc', 'correct horse battery')).toBeNull();
  });

  it('refuses a wrong secret when a right one is cached', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM]);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await registry.verify(WM.deviceId, 'not the secret')).toBeNull();
  });

  it('never stores a secret in clear when provisioning', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM, { ...SL, secret: WM.secret }]);
    const rows = await store.query<{ device_id: string; secret_hash: string }>(
      'SELECT device_id, secret_hash FROM devices ORDER BY device_id',
    );
    const dump = JSON.stringify(rows.rows);
    expect(dump).not.toContain(WM.secret);
    for (const row of rows.rows)
      expect(row.secret_hash).toMatch(/^scrypt\$1024\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    // Same secret, different salts: the hashes differ.
    expect(rows.rows[0]!.secret_hash).not.toBe(rows.rows[1]!.secret_hash);
  });

  it('changes nothing when the same devices are provisioned twice', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM, SL]);
    const before = await store.query('SELECT * FROM devices ORDER BY device_id');
    await registry.provision([WM, SL]);
    const after = await store.query('SELECT * FROM devices ORDER BY device_id');
    expect(after.rows).toEqual(before.rows);
  });

  it('updates the secret and kind when a device is provisioned again with new ones', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM]);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    await registry.provision([{ ...WM, kind: 'sensor', secret: 'rotated-secret-1' }]);
    expect(await registry.verify(WM.deviceId, WM.secret)).toBeNull();
    expect(await registry.verify(WM.deviceId, 'rotated-secret-1')).toEqual({ deviceId: WM.deviceId, kind: 'sensor' });
  });

  it('provisions in batches when the fleet is larger than a batch', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16, batchSize: 7 });
    const fleet = Array.from({ length: 30 }, (_, i) => ({
      deviceId: `S-${i}`,
      kind: 'sensor' as const,
      secret: `secret-${i}-xyz`,
    }));
    await registry.provision(fleet);
    const count = await store.query<{ n: number }>('SELECT count(*)::int AS n FROM devices');
    expect(count.rows[0]!.n).toBe(30);
    expect(await registry.verify('S-29', 'secret-29-xyz')).not.toBeNull();
  });

  it('gets and removes a device, forgetting its cached verification', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await registry.provision([WM]);
    const record = await registry.get(WM.deviceId);
    expect(record).toMatchObject({ deviceId: WM.deviceId, kind: 'water-meter', disabledAt: null });
    expect(Number.isNaN(Date.parse(record!.createdAt))).toBe(false);
    expect(record).not.toHaveProperty('secret');
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await registry.remove(WM.deviceId)).toBe(true);
    expect(await registry.remove(WM.deviceId)).toBe(false);
    expect(await registry.get(WM.deviceId)).toBeNull();
    expect(await registry.verify(WM.deviceId, WM.secret)).toBeNull();
  });

  it('checks the store again when the cached verification has expired', async () => {
    const clock = new ManualClock(1_000_000);
    const registry = createDeviceRegistry(store, { scryptCost: 1024, cacheTtlMs: 60_000, clock });
    await registry.provision([WM]);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    // Disabled behind the registry's back (an operator's SQL): the cache still answers within its TTL...
    await store.query('UPDATE devices SET disabled_at = now() WHERE device_id = $1', [WM.deviceId]);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    // ...and the store decides once it expired.
    clock.advance(60_001);
    expect(await registry.verify(WM.deviceId, WM.secret)).toBeNull();
  });

  it('rejects a device with an invalid id when provisioning', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    await expect(registry.provision([{ ...WM, deviceId: 'bad/id' }])).rejects.toMatchObject({
      code: 'ERR_DEVICE_INVALID',
    });
  });

  it('reads NDJSON and JSON arrays when loading a devices file', async () => {
    const ndjson = join(dir, 'devices.ndjson');
    await writeFile(ndjson, `${JSON.stringify(WM)}\n\n${JSON.stringify(SL)}\n`);
    expect(await loadDevicesFile(ndjson)).toEqual([WM, SL]);
    const array = join(dir, 'devices.json');
    await writeFile(array, JSON.stringify([WM, SL], null, 2));
    expect(await loadDevicesFile(array)).toEqual([WM, SL]);
  });

  it('names the line when a devices file has a bad entry', async () => {
    const ndjson = join(dir, 'bad.ndjson');
    await writeFile(ndjson, `${JSON.stringify(WM)}\n${JSON.stringify({ ...SL, kind: 'toaster' })}\n`);
    await expect(loadDevicesFile(ndjson)).rejects.toThrow(/bad\.ndjson line 2: kind/);
    const truncated = join(dir, 'truncated.ndjson');
    await writeFile(truncated, `${JSON.stringify(WM)}\n{"deviceId":"X"\n`);
    await expect(loadDevicesFile(truncated)).rejects.toThrow(/line 2: not valid JSON/);
    const array = join(dir, 'bad.json');
    await writeFile(array, JSON.stringify([WM, { ...SL, secret: 'short' }], null, 2));
    await expect(loadDevicesFile(array)).rejects.toThrow(/bad\.json line 7 \(item 2\): secret/);
    await expect(loadDevicesFile(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'ERR_DEVICES_FILE' });
  });
});
