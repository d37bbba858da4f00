import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import {
  createDeviceRegistry,
  type DeviceRegistry,
  ingestMigrations,
  loadDevicesFile,
  parseDevicesText,
} from './device-registry.ts';

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
    await store.query('DELETE FROM device_changes');
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
  /** Starts a watch on `registry` collecting what it reports; stopped at the end of the test. */
  async function watch(registry: DeviceRegistry, pollIntervalMs = 20): Promise<string[][]> {
    const reported: string[][] = [];
    const errors: unknown[] = [];
    const w = registry.watchRevocations((ids) => reported.push(ids), {
      pollIntervalMs,
      onError: (e) => errors.push(e),
    });
    onTestFinished(() => {
      w.stop();
      expect(errors).toEqual([]);
    });
    await w.ready;
    return reported;
  }

  it('generates a 192-bit URL-safe secret, returned once and stored hashed, when a new device has none', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 1024 });
    const result = await registry.provision([{ deviceId: 'WM-NEW', kind: 'water-meter' }, SL]);
    expect(result).toMatchObject({ created: 2, updated: 0, unchanged: 0 });
    expect(result.generatedSecrets).toHaveLength(1);
    const { deviceId, secret } = result.generatedSecrets[0]!;
    expect(deviceId).toBe('WM-NEW');
    expect(secret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(24);
    const rows = await store.query<{ secret_hash: string }>('SELECT secret_hash FROM devices WHERE device_id = $1', [
      'WM-NEW',
    ]);
    expect(rows.rows[0]!.secret_hash).toMatch(/^scrypt\$16\$8\$1\$/);
    expect(JSON.stringify((await store.query('SELECT * FROM devices')).rows)).not.toContain(secret);
    // A fresh registry (no cached verification) checks it against the stored hash.
    expect(await createDeviceRegistry(store).verify('WM-NEW', secret)).toEqual({ deviceId, kind: 'water-meter' });
  });

  it('keeps the secret of an enabled device and gives a revoked one a new secret when listed without a secret', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([WM, SL]);
    expect(await registry.revoke(SL.deviceId)).toBe(true);
    const again = await registry.provision([
      { deviceId: WM.deviceId, kind: WM.kind },
      { deviceId: SL.deviceId, kind: SL.kind },
    ]);
    expect(again).toMatchObject({ created: 0, updated: 1, unchanged: 1 });
    expect(again.generatedSecrets.map((s) => s.deviceId)).toEqual([SL.deviceId]);
    expect(await createDeviceRegistry(store).verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await createDeviceRegistry(store).verify(SL.deviceId, SL.secret)).toBeNull();
    expect(await registry.verify(SL.deviceId, again.generatedSecrets[0]!.secret)).not.toBeNull();
    expect(await registry.get(SL.deviceId)).toMatchObject({ disabledAt: null });
  });

  it('hands the generated secrets over batch by batch when onSecrets is given', async () => {
    const registry = createDeviceRegistry(store, { batchSize: 4 });
    const fleet = Array.from({ length: 10 }, (_, i) => ({ deviceId: `S-${i}`, kind: 'sensor' as const }));
    const batches: string[][] = [];
    const result = await registry.provision(fleet, {
      onSecrets: (secrets) => {
        batches.push(secrets.map((s) => s.deviceId));
      },
    });
    expect(batches.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(batches.flat()).toEqual(fleet.map((d) => d.deviceId));
    expect(result.generatedSecrets.map((s) => s.deviceId)).toEqual(batches.flat());
  });

  it('refuses the old secret at once and accepts the new one when a secret is rotated without grace', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([WM]);
    const reported = await watch(registry);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    const rotated = await registry.rotate(WM.deviceId);
    expect(rotated).toMatchObject({ deviceId: WM.deviceId, generated: true, previousSecretUntil: null });
    expect(reported).toEqual([[WM.deviceId]]);
    expect(await registry.verify(WM.deviceId, WM.secret)).toBeNull();
    expect(await registry.verify(WM.deviceId, rotated!.secret)).not.toBeNull();
    const given = await registry.rotate(WM.deviceId, { secret: 'a-given-secret-1' });
    expect(given).toMatchObject({ secret: 'a-given-secret-1', generated: false });
    expect(await createDeviceRegistry(store).verify(WM.deviceId, rotated!.secret)).toBeNull();
    expect(await createDeviceRegistry(store).verify(WM.deviceId, 'a-given-secret-1')).not.toBeNull();
    expect(await registry.rotate('WM-404')).toBeNull();
    await expect(registry.rotate(WM.deviceId, { secret: 'short' })).rejects.toMatchObject({
      code: 'ERR_DEVICE_INVALID',
    });
    await expect(registry.rotate(WM.deviceId, { graceMs: -1 })).rejects.toMatchObject({ code: 'ERR_DEVICE_INVALID' });
  });

  it('accepts both secrets until the grace period ends, then tells the watchers, when rotated with grace', async () => {
    const clock = new ManualClock(1_000_000);
    const registry = createDeviceRegistry(store, { scryptCost: 16, clock });
    await registry.provision([WM]);
    const reported = await watch(registry);
    // Connected with the old secret before the rotation.
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    const rotated = await registry.rotate(WM.deviceId, { graceMs: 3_600_000 });
    expect(rotated!.previousSecretUntil).toBe(new Date(1_000_000 + 3_600_000).toISOString());
    expect(await registry.get(WM.deviceId)).toMatchObject({ previousSecretUntil: rotated!.previousSecretUntil });
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await createDeviceRegistry(store, { clock }).verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await registry.verify(WM.deviceId, rotated!.secret)).not.toBeNull();
    expect(reported).toEqual([]);
    // The grace period ends: connections are not told apart, so the device is reported (one on the old secret
    // must close), and only the new secret works.
    clock.advance(3_600_000);
    await expect.poll(() => reported, { timeout: 5_000 }).toEqual([[WM.deviceId]]);
    expect(await registry.verify(WM.deviceId, WM.secret)).toBeNull();
    expect(await createDeviceRegistry(store, { clock }).verify(WM.deviceId, WM.secret)).toBeNull();
    expect(await registry.verify(WM.deviceId, rotated!.secret)).not.toBeNull();
  });

  it('tells the watchers at once and forgets the cached verification when a device is revoked or removed', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([WM, SL]);
    const reported = await watch(registry);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await registry.revoke(WM.deviceId)).toBe(true);
    expect(reported).toEqual([[WM.deviceId]]);
    expect(await registry.verify(WM.deviceId, WM.secret)).toBeNull();
    expect(await registry.get(WM.deviceId)).toMatchObject({ disabledAt: expect.any(String) });
    await expect(registry.rotate(WM.deviceId)).rejects.toThrow(/revoked/);
    expect(await registry.revoke('WM-404')).toBe(false);
    expect(await registry.remove(SL.deviceId)).toBe(true);
    expect(reported).toEqual([[WM.deviceId], [SL.deviceId]]);
    // Provisioned again with its secret: enabled again.
    await registry.provision([WM]);
    expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
  });

  it('tells the watchers when a device is provisioned again with another secret or kind, not when unchanged', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([WM, SL]);
    const reported = await watch(registry);
    await registry.provision([WM, SL]);
    await registry.provision([
      { ...WM, secret: 'another-secret-1' },
      { deviceId: SL.deviceId, kind: 'sensor' },
    ]);
    expect(reported).toEqual([[WM.deviceId, SL.deviceId]]);
    expect(await registry.verify(SL.deviceId, SL.secret)).toEqual({ deviceId: SL.deviceId, kind: 'sensor' });
  });

  it('sees a revocation made through another registry on the same store within its poll interval', async () => {
    const watched = createDeviceRegistry(store, { scryptCost: 16 });
    const other = createDeviceRegistry(store, { scryptCost: 16 });
    await other.provision([WM, { ...SL, devEui: '70b3d57ed0000001' }]);
    const reported = await watch(watched);
    expect(await watched.verify(WM.deviceId, WM.secret)).not.toBeNull();
    expect(await watched.verify(SL.deviceId, SL.secret)).not.toBeNull();
    expect(watched.resolveAlias({ network: 'chirpstack', devEui: '70B3D57ED0000001' })).toMatchObject({
      deviceId: SL.deviceId,
    });
    await other.revoke(WM.deviceId);
    await other.rotate(SL.deviceId);
    await expect.poll(() => reported.flat(), { timeout: 5_000 }).toEqual([WM.deviceId, SL.deviceId]);
    // Cached verifications were dropped: the store decides.
    expect(await watched.verify(WM.deviceId, WM.secret)).toBeNull();
    expect(await watched.verify(SL.deviceId, SL.secret)).toBeNull();
    // A device provisioned elsewhere resolves here soon after; a revoked one no longer does.
    await other.provision([{ deviceId: 'PM-1', kind: 'parking-meter', devEui: '70B3D57ED0000002' }]);
    await other.revoke(SL.deviceId);
    await expect
      .poll(() => watched.resolveAlias({ network: 'tts', devEui: '70b3d57ed0000002' }), { timeout: 5_000 })
      .toEqual({ deviceId: 'PM-1', kind: 'parking-meter' });
    await expect
      .poll(() => watched.resolveAlias({ network: 'chirpstack', devEui: '70B3D57ED0000001' }), { timeout: 5_000 })
      .toBeNull();
  });

  it('resolves an uplink by DevEUI or device id when the device is registered and enabled', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await registry.provision([
      { ...WM, devEui: '0004a30b001c0530' },
      { deviceId: 'sensor-7', kind: 'sensor', secret: 'sensor-secret-7' },
    ]);
    const fresh = createDeviceRegistry(store);
    await fresh.loadAliases();
    for (const r of [registry, fresh]) {
      expect(r.resolveAlias({ network: 'chirpstack', devEui: '0004A30B001C0530' })).toEqual({
        deviceId: WM.deviceId,
        kind: 'water-meter',
      });
      expect(r.resolveAlias({ network: 'tts', devEui: '0004a30b001c0530', deviceId: 'eui-0004a30b001c0530' })).toEqual({
        deviceId: WM.deviceId,
        kind: 'water-meter',
      });
      expect(r.resolveAlias({ network: 'tts', deviceId: 'sensor-7', applicationId: 'city' })).toEqual({
        deviceId: 'sensor-7',
        kind: 'sensor',
      });
      expect(r.resolveAlias({ network: 'senml', deviceId: WM.deviceId })).toEqual({
        deviceId: WM.deviceId,
        kind: 'water-meter',
      });
      // A device registered with another DevEUI is not this uplink's; unknown and malformed ones resolve to nothing.
      expect(r.resolveAlias({ network: 'tts', devEui: 'FFFFFFFFFFFFFFFF', deviceId: WM.deviceId })).toBeNull();
      expect(r.resolveAlias({ network: 'chirpstack', devEui: 'FFFFFFFFFFFFFFFF' })).toBeNull();
      expect(r.resolveAlias({ network: 'chirpstack', devEui: '0004a30b001c053' })).toBeNull();
      expect(r.resolveAlias({ network: 'senml', deviceId: '../etc' })).toBeNull();
      expect(r.resolveAlias({ network: 'senml' })).toBeNull();
    }
    await registry.revoke(WM.deviceId);
    expect(registry.resolveAlias({ network: 'chirpstack', devEui: '0004A30B001C0530' })).toBeNull();
    // Moved to another device in one call: released, then taken.
    await registry.provision([{ ...WM, devEui: '0004A30B001C0531' }]);
    await registry.provision([
      { deviceId: WM.deviceId, kind: WM.kind },
      { deviceId: 'sensor-7', kind: 'sensor', devEui: '0004A30B001C0531' },
    ]);
    expect(registry.resolveAlias({ network: 'chirpstack', devEui: '0004A30B001C0531' })).toMatchObject({
      deviceId: 'sensor-7',
    });
    expect(await registry.get(WM.deviceId)).toMatchObject({ devEui: null });
  });

  it('rejects the whole call when a DevEUI is given twice or belongs to another device', async () => {
    const registry = createDeviceRegistry(store, { scryptCost: 16 });
    await expect(
      registry.provision([
        { ...WM, devEui: '0004a30b001c0530' },
        { ...SL, devEui: '0004A30B001C0530' },
      ]),
    ).rejects.toThrow(/devEui: 0004A30B001C0530 is also given to "WM-000001"/);
    await registry.provision([{ ...WM, devEui: '0004a30b001c0530' }]);
    await expect(registry.provision([{ ...SL, devEui: '0004a30b001c0530' }])).rejects.toMatchObject({
      code: 'ERR_DEVICE_INVALID',
      message: expect.stringMatching(/belongs to "WM-000001"/),
    });
    expect(await registry.get(SL.deviceId)).toBeNull();
    await expect(registry.provision([{ ...SL, devEui: 'not-hex-at-all!!' }])).rejects.toThrow(/16 hexadecimal/);
  });

  it('looks a device up in the background when the alias cache is smaller than the fleet', async () => {
    await createDeviceRegistry(store, { scryptCost: 16 }).provision(
      Array.from({ length: 10 }, (_, i) => ({
        deviceId: `WM-A${i}`,
        kind: 'water-meter' as const,
        secret: `meter-secret-${i}`,
        devEui: `00000000000000${i}${i}`,
      })),
    );
    const registry = createDeviceRegistry(store, { aliasCacheMaxEntries: 3 });
    await registry.loadAliases();
    expect(registry.resolveAlias({ network: 'chirpstack', devEui: '0000000000000000' })).toMatchObject({
      deviceId: 'WM-A0',
    });
    // Beyond the cache: not there yet, there once looked up.
    expect(registry.resolveAlias({ network: 'chirpstack', devEui: '0000000000000099' })).toBeNull();
    await expect
      .poll(() => registry.resolveAlias({ network: 'chirpstack', devEui: '0000000000000099' }), { timeout: 5_000 })
      .toEqual({ deviceId: 'WM-A9', kind: 'water-meter' });
  });

  it('reads a CSV file with a header, quoted cells and empty cells when loading a devices file', async () => {
    const csv = join(dir, 'devices.csv');
    await writeFile(
      csv,
      '\ufeffdeviceId,kind,secret,gatewayId,devEui\r\n' +
        'GW-000001,water-meter,gateway-secret-1,,\r\n' +
        '\r\n' +
        'WM-000001, water-meter ,"a ""quoted"", secret",GW-000001,70b3d57ed0000001\r\n' +
        'WM-000002,water-meter,,,\r\n',
    );
    expect(await loadDevicesFile(csv)).toEqual([
      { deviceId: 'GW-000001', kind: 'water-meter', secret: 'gateway-secret-1' },
      {
        deviceId: 'WM-000001',
        kind: 'water-meter',
        secret: 'a "quoted", secret',
        gatewayId: 'GW-000001',
        devEui: '70B3D57ED0000001',
      },
      { deviceId: 'WM-000002', kind: 'water-meter' },
    ]);
    expect(parseDevicesText('kind,deviceId\nsensor,S-1\n', 'x.csv')).toEqual([{ deviceId: 'S-1', kind: 'sensor' }]);
    expect(parseDevicesText(`${JSON.stringify({ deviceId: 'S-1', kind: 'sensor' })}\n`, '-')).toEqual([
      { deviceId: 'S-1', kind: 'sensor' },
    ]);
  });

  it('names the line when a CSV devices file is wrong', () => {
    expect(() => parseDevicesText('deviceId,kind,colour\n', 'a.csv')).toThrow(
      /a\.csv line 1: header: unknown column "colour"/,
    );
    expect(() => parseDevicesText('deviceId,secret\n', 'a.csv')).toThrow(/deviceId and kind are required/);
    expect(() => parseDevicesText('deviceId,kind\nS-1,sensor,extra\n', 'a.csv')).toThrow(
      /a\.csv line 2: 3 fields where the header has 2/,
    );
    expect(() => parseDevicesText('deviceId,kind\nS-1,"sensor\n', 'a.csv')).toThrow(
      /line 2: unterminated quoted field/,
    );
    expect(() => parseDevicesText('deviceId,kind\n\nS-1,toaster\n', 'a.csv')).toThrow(/a\.csv line 3: kind/);
    expect(() => parseDevicesText('deviceId,kind,devEui\nS-1,sensor,xyz\n', 'a.csv')).toThrow(
      /line 2: devEui: a DevEUI is 16 hexadecimal digits/,
    );
  });

  describe('districts and positions', () => {
    const MULHOUSE = { district: 'centre', lat: 47.7508, lon: 7.3359 };

    it('stores the district and position given when provisioning, and clears them when a device is listed without', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      expect(await registry.provision([{ ...WM, ...MULHOUSE }, SL])).toMatchObject({ created: 2 });
      expect(await registry.get(WM.deviceId)).toMatchObject(MULHOUSE);
      expect(await registry.get(SL.deviceId)).toMatchObject({ district: null, lat: null, lon: null });
      // The same file again changes nothing; another district is an update; listed without: none afterwards.
      expect(await registry.provision([{ ...WM, ...MULHOUSE }, SL])).toMatchObject({ updated: 0, unchanged: 2 });
      const before = (await registry.get(WM.deviceId))!.updatedAt;
      expect(await registry.provision([{ ...WM, ...MULHOUSE, district: 'rebberg' }, SL])).toMatchObject({
        updated: 1,
        unchanged: 1,
      });
      const moved = await registry.get(WM.deviceId);
      expect(moved).toMatchObject({ ...MULHOUSE, district: 'rebberg' });
      expect(Date.parse(moved!.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before));
      // With a new secret too (the row is written again): counted once, the position written with it.
      expect(await registry.provision([{ ...WM, secret: 'a-new-secret-9', lat: 47.74, lon: 7.31 }])).toMatchObject({
        updated: 1,
      });
      expect(await registry.get(WM.deviceId)).toMatchObject({ district: null, lat: 47.74, lon: 7.31 });
      await registry.provision([WM]);
      expect(await registry.get(WM.deviceId)).toMatchObject({ district: null, lat: null, lon: null });
    });

    it('rejects a bad district or position, or lat without lon, when provisioning', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      await expect(registry.provision([{ ...WM, district: 'centre ville' }])).rejects.toThrow(/district: a district/);
      await expect(registry.provision([{ ...WM, lat: 91, lon: 7 }])).rejects.toThrow(/lat: a latitude from -90 to 90/);
      await expect(registry.provision([{ ...WM, lat: 47, lon: -180.5 }])).rejects.toThrow(/lon: a longitude/);
      await expect(registry.provision([{ ...WM, lat: 47 }])).rejects.toThrow(/lon: lat and lon are given together/);
      expect(await registry.get(WM.deviceId)).toBeNull();
    });

    it('sets, keeps and clears a district and position when setLocation is called', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      await registry.provision([WM]);
      expect(await registry.setLocation(WM.deviceId, { district: 'dornach' })).toMatchObject({
        district: 'dornach',
        lat: null,
      });
      expect(await registry.setLocation(WM.deviceId, { lat: 47.7473, lon: 7.3062 })).toMatchObject({
        district: 'dornach',
        lat: 47.7473,
        lon: 7.3062,
      });
      expect(await registry.setLocation(WM.deviceId, { district: null })).toMatchObject({
        district: null,
        lat: 47.7473,
      });
      expect(await registry.setLocation(WM.deviceId, { lat: null, lon: null })).toMatchObject({ lat: null, lon: null });
      expect(await registry.setLocation('WM-404', { district: 'centre' })).toBeNull();
      await expect(registry.setLocation(WM.deviceId, { lat: 47 })).rejects.toMatchObject({
        code: 'ERR_DEVICE_INVALID',
        message: expect.stringMatching(/lat and lon are given together/),
      });
      await expect(registry.setLocation(WM.deviceId, { district: '-x' })).rejects.toThrow(/district/);
      // Only real changes are logged: the same values twice make one `updated` row.
      await store.query('DELETE FROM device_changes');
      await registry.setLocation(WM.deviceId, { district: 'drouot' });
      await registry.setLocation(WM.deviceId, { district: 'drouot' });
      const log = await store.query<{ change: string; device_ids: string[] }>(
        'SELECT change, device_ids FROM device_changes ORDER BY revision',
      );
      expect(log.rows).toEqual([{ change: 'updated', device_ids: [WM.deviceId] }]);
    });

    it('tells change watchers, not revocation watchers, when a district is set, and both when a device is revoked', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      await registry.provision([WM, SL]);
      const revoked = await watch(registry);
      const changed: string[][] = [];
      const w = registry.watchChanges((ids) => changed.push(ids), { pollIntervalMs: 20 });
      onTestFinished(() => w.stop());
      await w.ready;
      await registry.setLocation(WM.deviceId, { district: 'coteaux' });
      await registry.rotate(SL.deviceId);
      await registry.revoke(SL.deviceId);
      await registry.provision([{ deviceId: 'S-1', kind: 'sensor' }]);
      await registry.remove('S-1');
      expect(changed).toEqual([[WM.deviceId], [SL.deviceId], ['S-1'], ['S-1']]);
      expect(revoked).toEqual([[SL.deviceId], [SL.deviceId], ['S-1']]);
      // Another registry on the same store: its changes arrive through the poll, the district included.
      const other = createDeviceRegistry(store, { scryptCost: 16 });
      await other.setLocation(SL.deviceId, { district: 'bourtzwiller' });
      await expect.poll(() => changed.at(-1), { timeout: 5_000 }).toEqual([SL.deviceId]);
      expect(revoked).toHaveLength(3);
      expect(await registry.verify(WM.deviceId, WM.secret)).not.toBeNull();
    });

    it('lists registered devices in pages and describes removed ones as inactive when the directory reads', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      await registry.provision([
        { ...WM, ...MULHOUSE },
        SL,
        { deviceId: 'PM-000001', kind: 'parking-meter', district: 'drouot' },
      ]);
      await registry.revoke(SL.deviceId);
      const first = await registry.directoryPage('', 2);
      expect(first.map((e) => e.deviceId)).toEqual(['PM-000001', 'SL-000001']);
      expect(first[1]).toMatchObject({ kind: 'streetlight', active: false, district: null, lat: null });
      const second = await registry.directoryPage('SL-000001', 2);
      expect(second).toEqual([
        {
          deviceId: WM.deviceId,
          kind: 'water-meter',
          ...MULHOUSE,
          circuit: null,
          active: true,
          updatedAt: expect.any(String),
        },
      ]);
      expect(await registry.directoryPage(WM.deviceId, 2)).toEqual([]);
      expect(await registry.remove('PM-000001')).toBe(true);
      const removed = await registry.removedDevices();
      expect(removed).toEqual([
        {
          deviceId: 'PM-000001',
          kind: 'parking-meter',
          district: null,
          circuit: null,
          lat: null,
          lon: null,
          active: false,
          updatedAt: expect.any(String),
        },
      ]);
      const entries = await registry.directoryEntries(['PM-000001', WM.deviceId, 'NEVER-1', WM.deviceId]);
      expect(entries.map((e) => [e.deviceId, e.active]).sort()).toEqual([
        ['PM-000001', false],
        [WM.deviceId, true],
      ]);
      // Registered again: no longer among the removed.
      await registry.provision([{ deviceId: 'PM-000001', kind: 'parking-meter' }]);
      expect(await registry.removedDevices()).toEqual([]);
    });

    it('stores, updates, keeps and clears a circuit like a district when provisioning and calling setLocation', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      const lamp = { ...SL, district: 'dornach', circuit: 'AR-12' };
      expect(await registry.provision([lamp, WM])).toMatchObject({ created: 2 });
      expect(await registry.get(SL.deviceId)).toMatchObject({ district: 'dornach', circuit: 'AR-12' });
      expect(await registry.get(WM.deviceId)).toMatchObject({ circuit: null });
      // The same again changes nothing; another circuit alone is an update (no new secret: second pass).
      expect(await registry.provision([lamp, WM])).toMatchObject({ updated: 0, unchanged: 2 });
      const before = (await registry.get(SL.deviceId))!.updatedAt;
      expect(await registry.provision([{ ...lamp, circuit: 'AR-13' }, WM])).toMatchObject({ updated: 1 });
      const moved = await registry.get(SL.deviceId);
      expect(moved).toMatchObject({ district: 'dornach', circuit: 'AR-13' });
      expect(Date.parse(moved!.updatedAt)).toBeGreaterThanOrEqual(Date.parse(before));
      // With a new secret (the row written again): the circuit written with it; listed without: none afterwards.
      await registry.provision([{ ...lamp, secret: 'a-new-secret-9', circuit: 'AR-14' }]);
      expect(await registry.get(SL.deviceId)).toMatchObject({ circuit: 'AR-14' });
      await registry.provision([{ ...SL, secret: 'a-new-secret-9' }]);
      expect(await registry.get(SL.deviceId)).toMatchObject({ district: null, circuit: null });
      // setLocation: set, kept when only the district changes, cleared by null; only real changes are logged.
      expect(await registry.setLocation(SL.deviceId, { circuit: 'AR-12' })).toMatchObject({ circuit: 'AR-12' });
      expect(await registry.setLocation(SL.deviceId, { district: 'centre' })).toMatchObject({
        district: 'centre',
        circuit: 'AR-12',
      });
      await store.query('DELETE FROM device_changes');
      await registry.setLocation(SL.deviceId, { circuit: 'AR-12' });
      expect((await store.query('SELECT 1 FROM device_changes')).rows).toHaveLength(0);
      expect(await registry.setLocation(SL.deviceId, { circuit: null })).toMatchObject({
        district: 'centre',
        circuit: null,
      });
      expect((await registry.directoryEntries([SL.deviceId]))[0]).toMatchObject({ circuit: null, district: 'centre' });
      await registry.setLocation(SL.deviceId, { circuit: 'AR.7_b-2' });
      expect((await registry.directoryPage('', 10)).find((e) => e.deviceId === SL.deviceId)).toMatchObject({
        circuit: 'AR.7_b-2',
      });
    });

    it('rejects a bad circuit with ERR_DEVICE_INVALID naming the key when provisioning or calling setLocation', async () => {
      const registry = createDeviceRegistry(store, { scryptCost: 16 });
      await expect(registry.provision([{ ...SL, circuit: 'armoire 12' }])).rejects.toMatchObject({
        code: 'ERR_DEVICE_INVALID',
        message: expect.stringMatching(/circuit: a circuit is 1–64 characters/),
      });
      await expect(registry.provision([{ ...SL, circuit: 'x'.repeat(65) }])).rejects.toThrow(/circuit: a circuit/);
      expect(await registry.get(SL.deviceId)).toBeNull();
      await registry.provision([SL]);
      await expect(registry.setLocation(SL.deviceId, { circuit: '-AR' })).rejects.toMatchObject({
        code: 'ERR_DEVICE_INVALID',
        message: expect.stringMatching(/circuit: a circuit is/),
      });
      // The table refuses one too (a write that bypasses the registry).
      await expect(
        store.query("UPDATE devices SET circuit = 'a b' WHERE device_id = $1", [SL.deviceId]),
      ).rejects.toThrow();
    });

    it('reads district, lat and lon from CSV and JSON and names the line of a bad one when loading a devices file', () => {
      expect(
        parseDevicesText(
          'deviceId,kind,district,lat,lon\nWM-1,water-meter,centre,47.7508,7.3359\nWM-2,water-meter,,,\n',
          'f.csv',
        ),
      ).toEqual([
        { deviceId: 'WM-1', kind: 'water-meter', district: 'centre', lat: 47.7508, lon: 7.3359 },
        { deviceId: 'WM-2', kind: 'water-meter' },
      ]);
      expect(
        parseDevicesText(
          `${JSON.stringify({ deviceId: 'WM-1', kind: 'water-meter', district: 'rebberg', lat: 47.74, lon: 7.33 })}\n`,
          'f.ndjson',
        ),
      ).toEqual([{ deviceId: 'WM-1', kind: 'water-meter', district: 'rebberg', lat: 47.74, lon: 7.33 }]);
      expect(() =>
        parseDevicesText('deviceId,kind,lat,lon\nWM-1,water-meter,47.7,7.3\nWM-2,water-meter,north,7.3\n', 'f.csv'),
      ).toThrow(/f\.csv line 3: lat: a latitude in degrees, a number from -90 to 90/);
      expect(() => parseDevicesText('deviceId,kind,lat,lon\nWM-1,water-meter,95,7.3\n', 'f.csv')).toThrow(
        /f\.csv line 2: lat: a latitude from -90 to 90 degrees/,
      );
      expect(() => parseDevicesText('deviceId,kind,lat\nWM-1,water-meter,47.7\n', 'f.csv')).toThrow(
        /f\.csv line 2: lon: lat and lon are given together/,
      );
      expect(() => parseDevicesText('deviceId,kind,district\nWM-1,water-meter,Île\n', 'f.csv')).toThrow(
        /f\.csv line 2: district: a district is 1–64 characters/,
      );
      // circuit: a column and a key like district.
      expect(
        parseDevicesText(
          'deviceId,kind,district,circuit\nSL-1,streetlight,dornach,AR-12\nSL-2,streetlight,dornach,\n',
          'f.csv',
        ),
      ).toEqual([
        { deviceId: 'SL-1', kind: 'streetlight', district: 'dornach', circuit: 'AR-12' },
        { deviceId: 'SL-2', kind: 'streetlight', district: 'dornach' },
      ]);
      expect(
        parseDevicesText(JSON.stringify([{ deviceId: 'SL-1', kind: 'streetlight', circuit: 'AR-3' }]), 'f.json'),
      ).toEqual([{ deviceId: 'SL-1', kind: 'streetlight', circuit: 'AR-3' }]);
      expect(
        parseDevicesText(`${JSON.stringify({ deviceId: 'SL-1', kind: 'streetlight', circuit: 'AR-4' })}\n`, 'f.ndjson'),
      ).toEqual([{ deviceId: 'SL-1', kind: 'streetlight', circuit: 'AR-4' }]);
      expect(() => parseDevicesText('deviceId,kind,circuit\nSL-1,streetlight,AR 1\n', 'f.csv')).toThrow(
        /f\.csv line 2: circuit: a circuit is 1–64 characters/,
      );
      expect(() => parseDevicesText('{"deviceId":"SL-1","kind":"streetlight","circuit":12}\n', 'f.ndjson')).toThrow(
        /f\.ndjson line 1: circuit:/,
      );
      expect(() =>
        parseDevicesText(
          JSON.stringify(
            [
              { deviceId: 'WM-1', kind: 'water-meter' },
              { deviceId: 'WM-2', kind: 'water-meter', lat: '47', lon: 7 },
            ],
            null,
            2,
          ),
          'f.json',
        ),
      ).toThrow(/f\.json line 6 \(item 2\): lat: a latitude in degrees/);
    });
  });
});
