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

  const GW = { deviceId: 'GW-000001', kind: 'water-meter' as const, secret: 'gateway-secret-1' };
  const WM2 = { deviceId: 'WM-000002', kind: 'water-meter' as const, secret: 'second-meter-secret' };

  it('stores the gateway of a device when it is provisioned after its devices in the same call', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16, batchSize: 1 });
    await registry.provision([{ ...WM, gatewayId: GW.deviceId }, { ...WM2, gatewayId: GW.deviceId }, GW]);
    expect(await registry.get(WM.deviceId)).toMatchObject({ gatewayId: 'GW-000001' });
    expect(await registry.get(GW.deviceId)).toMatchObject({ gatewayId: null });
    // Provisioned again without it: the device has no gateway any more.
    await registry.provision([WM]);
    expect(await registry.get(WM.deviceId)).toMatchObject({ gatewayId: null });
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).toBeNull();
  });

  it('changes nothing when the same devices with gateways are provisioned twice', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    const fleet = [GW, { ...WM, gatewayId: GW.deviceId }];
    await registry.provision(fleet);
    const before = await store.query('SELECT * FROM devices ORDER BY device_id');
    await registry.provision(fleet);
    expect((await store.query('SELECT * FROM devices ORDER BY device_id')).rows).toEqual(before.rows);
  });

  it('rejects the whole call when a gateway is unknown or a device is its own gateway', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await expect(registry.provision([SL, { ...WM, gatewayId: 'GW-404' }])).rejects.toMatchObject({
      code: 'ERR_DEVICE_INVALID',
      message: expect.stringMatching(/WM-000001.*unknown gateway "GW-404"/),
    });
    expect(await registry.get(SL.deviceId)).toBeNull();
    await expect(registry.provision([{ ...WM, gatewayId: WM.deviceId }])).rejects.toThrow(/not its own gateway/);
    // A gateway registered earlier is fine.
    await registry.provision([GW]);
    await registry.provision([{ ...WM, gatewayId: GW.deviceId }]);
    expect(await registry.get(WM.deviceId)).toMatchObject({ gatewayId: GW.deviceId });
  });

  it('lets a device publish for itself and its gateway for it, and no one else, when asked canPublishFor', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([GW, { ...WM, gatewayId: GW.deviceId }, SL]);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).toEqual({
      deviceId: WM.deviceId,
      kind: 'water-meter',
    });
    expect(await registry.canPublishFor(WM.deviceId, WM.deviceId)).toEqual({
      deviceId: WM.deviceId,
      kind: 'water-meter',
    });
    expect(await registry.canPublishFor(GW.deviceId, SL.deviceId)).toBeNull();
    expect(await registry.canPublishFor(SL.deviceId, WM.deviceId)).toBeNull();
    // A device is not a gateway for its gateway.
    expect(await registry.canPublishFor(WM.deviceId, GW.deviceId)).toBeNull();
    expect(await registry.canPublishFor(GW.deviceId, 'WM-404')).toBeNull();
    expect(await registry.canPublishFor(GW.deviceId, '../etc')).toBeNull();
  });

  it('answers canPublishFor from its cache until the entry expires, a fresh registry from the store', async () => {
    const clock = new ManualClock(1_000_000);
    await createDeviceRegistry(store, { scryptCost: 16 }).provision([GW, { ...WM, gatewayId: GW.deviceId }]);
    const registry = createDeviceRegistry(store, { scryptCost: 16, cacheTtlMs: 60_000, clock });
    // Many concurrent publishes for one device, on an empty cache: all answered, one entry.
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => registry.canPublishFor(GW.deviceId, WM.deviceId)),
    );
    expect(answers.every((a) => a?.deviceId === WM.deviceId)).toBe(true);
    // Moved to another gateway behind the registry's back (an operator's SQL): the cache still answers...
    await store.query('UPDATE devices SET gateway_id = NULL WHERE device_id = $1', [WM.deviceId]);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).not.toBeNull();
    // ...and the store decides once it expired.
    clock.advance(60_001);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).toBeNull();
    // Through the registry, a change applies at once.
    await registry.provision([{ ...WM, gatewayId: GW.deviceId }]);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).not.toBeNull();
  });

  it('forgets an unknown publish target after the negative TTL and a removed gateway at once', async () => {
    const clock = new ManualClock(1_000_000);
    const registry = createDeviceRegistry(store, { scryptCost: 16, negativeCacheTtlMs: 5_000, clock });
    await registry.provision([GW]);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).toBeNull();
    // Provisioned by another process: seen once the negative entry expired.
    await createDeviceRegistry(store, { scryptCost: 16 }).provision([{ ...WM, gatewayId: GW.deviceId }]);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).toBeNull();
    clock.advance(5_001);
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).not.toBeNull();
    // The gateway removed: its devices are detached (ON DELETE SET NULL), and the cache agrees.
    expect(await registry.remove(GW.deviceId)).toBe(true);
    expect(await registry.get(WM.deviceId)).toMatchObject({ gatewayId: null });
    expect(await registry.canPublishFor(GW.deviceId, WM.deviceId)).toBeNull();
  });

  it('keeps at most cacheMaxEntries publish targets when many devices are looked up', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16, cacheMaxEntries: 3 });
    const meters = Array.from({ length: 10 }, (_, i) => ({
      deviceId: `WM-9${i}`,
      kind: 'water-meter' as const,
      secret: `meter-secret-${i}`,
      gatewayId: GW.deviceId,
    }));
    await registry.provision([GW, ...meters]);
    for (const m of meters) expect(await registry.canPublishFor(GW.deviceId, m.deviceId)).not.toBeNull();
    // Evicted entries are read again from the store: a change there shows for the oldest, not for the newest.
    await store.query('UPDATE devices SET gateway_id = NULL');
    expect(await registry.canPublishFor(GW.deviceId, 'WM-90')).toBeNull();
    expect(await registry.canPublishFor(GW.deviceId, 'WM-99')).not.toBeNull();
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
    const withGateway = join(dir, 'gateways.ndjson');
    await writeFile(withGateway, `${JSON.stringify({ ...WM, gatewayId: 'GW-000001' })}\n`);
    expect(await loadDevicesFile(withGateway)).toEqual([{ ...WM, gatewayId: 'GW-000001' }]);
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
