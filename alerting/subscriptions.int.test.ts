import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { AppError } from '../core/errors.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/postgres.ts';
import { alertingMigrations } from './index.ts';
import { createSubscriptions } from './subscriptions.ts';

// The same SQL on both engines of the operational store.
describe.each(['pglite', 'postgres'] as const)('subscriptions on %s', (engine) => {
  let store: SqlStore;
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    if (engine === 'postgres') {
      database = await createTestDatabase(inject('databaseUrl'));
      store = await openStore({ databaseUrl: database.url, pgliteDir: 'memory://' }, [alertingMigrations]);
    } else {
      store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
    }
  });
  afterAll(async () => {
    await store?.close();
    await database?.drop();
  });

  it('stores E.164 numbers and lower-cased emails when residents subscribe', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-1', channel: 'sms', address: '+33 6 12.34-56 78' });
    await subs.add({ deviceId: 'WM-1', channel: 'email', address: ' Resident@Example.ORG ', locale: 'en' });
    await subs.add({ deviceId: 'WM-2', channel: 'sms', address: '0033698765432' });
    const list = await subs.forDevice('WM-1');
    expect(list.map((s) => [s.channel, s.address, s.locale])).toEqual([
      ['sms', '+33612345678', 'fr'],
      ['email', 'resident@example.org', 'en'],
    ]);
    expect((await subs.forDevice('WM-2'))[0]?.address).toBe('+33698765432');
  });

  it('updates the language instead of duplicating when the same subscription is added twice', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-3', channel: 'sms', address: '+33612345678', locale: 'fr' });
    await subs.add({ deviceId: 'WM-3', channel: 'sms', address: '+33612345678', locale: 'en' });
    const list = await subs.forDevice('WM-3');
    expect(list).toHaveLength(1);
    expect(list[0]?.locale).toBe('en');
  });

  it('removes a subscription and says so when it existed', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-4', channel: 'email', address: 'a@example.org' });
    expect(await subs.remove({ deviceId: 'WM-4', channel: 'email', address: 'A@example.org' })).toBe(true);
    expect(await subs.remove({ deviceId: 'WM-4', channel: 'email', address: 'a@example.org' })).toBe(false);
    expect(await subs.forDevice('WM-4')).toEqual([]);
  });

  it.each([
    ['sms', '0612345678', 'E.164'],
    ['sms', 'resident@example.org', 'E.164'],
    ['email', '+33612345678', 'email'],
    ['email', 'not-an-email', 'email'],
  ] as const)('refuses %s address %s with a message naming what is allowed', async (channel, address, expected) => {
    const subs = createSubscriptions(store);
    const err = await subs.add({ deviceId: 'WM-5', channel, address }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ERR_SUBSCRIPTION_INVALID');
    expect((err as AppError).message).toContain(expected);
    expect((err as AppError).message).not.toContain(address.slice(0, -2) || address);
  });

  it('refuses a device id that is not one when subscribing', async () => {
    const subs = createSubscriptions(store);
    await expect(subs.add({ deviceId: 'bad/id', channel: 'sms', address: '+33612345678' })).rejects.toThrow(/deviceId/);
  });
});
