import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { AppError } from '../core/errors.ts';
import { isGsm7 } from '../core/sms-text.ts';
import { openStore } from '../core/store/open.ts';
import type { ComponentMigrations, SqlStore } from '../core/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/postgres.ts';
import { consentHistory, isSmsAllowed, startSms, stopSms } from './consent.ts';
import { alertingMigrations } from './index.ts';
import { CONFIRMATION_TTL_MS, createSubscriptions } from './subscriptions.ts';

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
    await subs.add({ deviceId: 'WM-1', channel: 'sms', address: '+33 6 12.34-56 78', consent: 'operator' });
    await subs.add({
      deviceId: 'WM-1',
      channel: 'email',
      address: ' Resident@Example.ORG ',
      locale: 'en',
      consent: 'operator',
    });
    await subs.add({ deviceId: 'WM-2', channel: 'sms', address: '0033698765432', consent: 'operator' });
    const list = await subs.forDevice('WM-1');
    expect(list.map((s) => [s.channel, s.address, s.locale])).toEqual([
      ['sms', '+33612345678', 'fr'],
      ['email', 'resident@example.org', 'en'],
    ]);
    expect((await subs.forDevice('WM-2'))[0]?.address).toBe('+33698765432');
  });

  it('updates the language instead of duplicating when the same subscription is added twice', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-3', channel: 'sms', address: '+33612345678', locale: 'fr', consent: 'operator' });
    await subs.add({ deviceId: 'WM-3', channel: 'sms', address: '+33612345678', locale: 'en', consent: 'operator' });
    const list = await subs.forDevice('WM-3');
    expect(list).toHaveLength(1);
    expect(list[0]?.locale).toBe('en');
  });

  it('removes a subscription and says so when it existed', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-4', channel: 'email', address: 'a@example.org', consent: 'operator' });
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

  it('creates a pending subscription with a code to send when a resident subscribes', async () => {
    const clock = new ManualClock(Date.parse('2026-03-01T10:00:00Z'));
    const subs = createSubscriptions(store, { clock });
    const added = await subs.add({ deviceId: 'WM-P1', channel: 'sms', address: '+33611111111' });
    expect(added.status).toBe('pending');
    expect(added.smsStopped).toBe(false);
    expect(added.confirmation?.code).toMatch(/^\d{6}$/);
    expect(added.confirmation?.expiresAtMs).toBe(clock.nowMs() + CONFIRMATION_TTL_MS);
    const message = added.confirmation?.message;
    expect(message?.channel === 'sms' && message.body).toContain(added.confirmation?.code);
    expect(message?.channel === 'sms' && isGsm7(message.body)).toBe(true);
    expect(await subs.forDevice('WM-P1')).toEqual([]);
    expect((await consentHistory(store, '+33611111111')).map((e) => [e.action, e.source])).toEqual([
      ['requested', 'web'],
    ]);
    // The code itself is not stored.
    const raw = await store.query('SELECT * FROM alerting_subscriptions WHERE id = $1', [added.id]);
    expect(JSON.stringify(raw.rows)).not.toContain(added.confirmation?.code);
  });

  it('voids the old code when the resident asks again, and confirms with the new one', async () => {
    const subs = createSubscriptions(store);
    const first = await subs.add({ deviceId: 'WM-P2', channel: 'sms', address: '+33622222222' });
    const second = await subs.add({ deviceId: 'WM-P2', channel: 'sms', address: '+33622222222' });
    const [a, b] = [first.confirmation?.code as string, second.confirmation?.code as string];
    if (a !== b) {
      expect((await subs.confirm({ address: '+33622222222', code: a, source: 'web' })).outcome).toBe('wrong-code');
    }
    const ok = await subs.confirm({ address: '+33 6 22 22 22 22', code: b, source: 'web' });
    expect(ok.outcome).toBe('confirmed');
    expect((await subs.forDevice('WM-P2')).map((s) => s.status)).toEqual(['confirmed']);
  });

  it('keeps a confirmed subscription confirmed and sends no code when a resident asks again', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-P3', channel: 'email', address: 'p3@example.org', consent: 'operator' });
    const again = await subs.add({ deviceId: 'WM-P3', channel: 'email', address: 'p3@example.org', locale: 'en' });
    expect(again.status).toBe('confirmed');
    expect(again.confirmation).toBeUndefined();
    expect((await subs.forDevice('WM-P3'))[0]?.locale).toBe('en');
  });

  it('logs an operator or CLI subscription as confirmed with its source when consent is on paper', async () => {
    const subs = createSubscriptions(store);
    const op = await subs.add({ deviceId: 'WM-P4', channel: 'sms', address: '+33644444444', consent: 'operator' });
    expect(op.status).toBe('confirmed');
    await subs.add({ deviceId: 'WM-P5', channel: 'sms', address: '+33644444444', consent: 'operator', source: 'cli' });
    // Confirming again changes nothing and logs nothing.
    await subs.add({ deviceId: 'WM-P5', channel: 'sms', address: '+33644444444', consent: 'operator', source: 'cli' });
    expect((await consentHistory(store, '+33644444444')).map((e) => [e.action, e.source, e.deviceId])).toEqual([
      ['confirmed', 'operator', 'WM-P4'],
      ['confirmed', 'cli', 'WM-P5'],
    ]);
  });

  it('confirms at once with no code and logs it as the web when a signed-in resident has proven the address', async () => {
    const subs = createSubscriptions(store);
    const added = await subs.add({
      deviceId: 'WM-V1',
      channel: 'email',
      address: 'V1@example.org',
      consent: 'verified',
    });
    expect([added.status, added.confirmation]).toEqual(['confirmed', undefined]);
    expect((await consentHistory(store, 'v1@example.org')).map((e) => [e.action, e.source, e.deviceId])).toEqual([
      ['confirmed', 'web', 'WM-V1'],
    ]);
  });

  it('keeps a stopped number silent when an operator subscribes it, until it sends START', async () => {
    const subs = createSubscriptions(store);
    const number = '+33655555555';
    await store.transaction((tx) => stopSms(tx, { number, source: 'sms', atMs: Date.now() }));
    const added = await subs.add({ deviceId: 'WM-P6', channel: 'sms', address: number, consent: 'operator' });
    expect(added.smsStopped).toBe(true);
    expect(await subs.forDevice('WM-P6')).toEqual([]);
    expect(await isSmsAllowed(store, number)).toBe(false);
    await store.transaction((tx) => startSms(tx, { number, source: 'sms', atMs: Date.now() }));
    expect((await subs.forDevice('WM-P6')).map((s) => s.address)).toEqual([number]);
  });

  it('logs the removal with its source when a subscription is removed', async () => {
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: 'WM-P7', channel: 'email', address: 'p7@example.org', consent: 'operator' });
    expect(await subs.remove({ deviceId: 'WM-P7', channel: 'email', address: 'p7@example.org' })).toBe(true);
    expect((await consentHistory(store, 'p7@example.org')).at(-1)).toMatchObject({ action: 'removed', source: 'cli' });
  });
});

describe.each(['pglite', 'postgres'] as const)('consent migration on %s', (engine) => {
  it('keeps subscriptions made before double opt-in confirmed when migration 003 runs', async () => {
    const before: ComponentMigrations = {
      component: alertingMigrations.component,
      migrations: alertingMigrations.migrations.filter((m) => m.id < '003'),
    };
    let database: TestDatabase | undefined;
    const open = async (migrations: ComponentMigrations) => {
      if (engine === 'pglite') return openStore({ pgliteDir: 'memory://' }, [migrations]);
      database ??= await createTestDatabase(inject('databaseUrl'));
      return openStore({ databaseUrl: database.url, pgliteDir: 'memory://' }, [migrations]);
    };
    const old = await open(before);
    try {
      await old.query(
        "INSERT INTO alerting_subscriptions (device_id, channel, address, locale) VALUES ('WM-OLD', 'sms', '+33666666666', 'fr')",
      );
      if (engine === 'pglite') {
        // PGlite in memory lives in this store: run the rest on it.
        const { runMigrations } = await import('../core/store/migrate.ts');
        await runMigrations(old, [alertingMigrations]);
        expect((await createSubscriptions(old).forDevice('WM-OLD')).map((s) => s.status)).toEqual(['confirmed']);
        return;
      }
    } finally {
      await old.close();
    }
    const upgraded = await open(alertingMigrations);
    try {
      expect((await createSubscriptions(upgraded).forDevice('WM-OLD')).map((s) => s.status)).toEqual(['confirmed']);
    } finally {
      await upgraded.close();
      await database?.drop();
    }
  });
});
