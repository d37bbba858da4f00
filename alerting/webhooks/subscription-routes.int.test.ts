import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.ts';
import { consentHistory } from '../consent.ts';
import { alertingMigrations } from '../index.ts';
import { createSubscriptions } from '../subscriptions.ts';
import { subscriptionRoutes } from './subscription-routes.ts';
import { unsubscribeSecret, unsubscribeToken, unsubscribeUrl } from './unsubscribe-token.ts';

describe.each(['pglite', 'postgres'] as const)('subscription routes on %s', (engine) => {
  let store: SqlStore;
  let database: TestDatabase | undefined;
  let base: string;
  let secret: string;
  const app = Fastify();

  beforeAll(async () => {
    if (engine === 'postgres') {
      database = await createTestDatabase(inject('databaseUrl'));
      store = await openStore({ databaseUrl: database.url, pgliteDir: 'memory://' }, [alertingMigrations]);
    } else {
      store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
    }
    secret = await unsubscribeSecret(store);
    await app.register(subscriptionRoutes, {
      store,
      unsubscribeSecret: secret,
      metrics: new Metrics(),
      logger: silentLogger(),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
    await store?.close();
    await database?.drop();
  });

  const email = () => `resident-${randomBytes(4).toString('hex')}@example.org`;

  async function confirm(address: string, code: string) {
    const res = await fetch(`${base}/api/subscriptions/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address, code }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('confirms an email subscription when the resident enters the code on the web', async () => {
    const address = email();
    const added = await createSubscriptions(store).add({ deviceId: 'WM-W1', channel: 'email', address, locale: 'en' });
    expect(added.confirmation?.message).toMatchObject({ channel: 'email', to: address });
    expect(added.confirmation?.message.channel === 'email' && added.confirmation.message.text).toContain(
      added.confirmation?.code,
    );
    const res = await confirm(address.toUpperCase(), added.confirmation?.code as string);
    expect(res).toEqual({
      status: 200,
      body: { status: 'confirmed', subscriptions: [{ deviceId: 'WM-W1', channel: 'email' }] },
    });
    expect((await createSubscriptions(store).forDevice('WM-W1')).map((s) => s.address)).toEqual([address]);
    expect((await consentHistory(store, address)).map((e) => [e.action, e.source])).toEqual([
      ['requested', 'web'],
      ['confirmed', 'web'],
    ]);
  });

  it('answers 400 with the tries left when the code is wrong, and 0 once nothing is pending', async () => {
    const address = email();
    const added = await createSubscriptions(store).add({ deviceId: 'WM-W2', channel: 'email', address });
    const wrong = added.confirmation?.code === '999999' ? '999998' : '999999';
    expect(await confirm(address, wrong)).toMatchObject({
      status: 400,
      body: { error: { code: 'ERR_SUBSCRIPTION_CODE' }, attemptsLeft: 4 },
    });
    expect(await confirm(email(), '123456')).toMatchObject({
      status: 400,
      body: { error: { code: 'ERR_SUBSCRIPTION_CODE' }, attemptsLeft: 0 },
    });
  });

  it('answers 400 when the address is neither a number nor an email', async () => {
    expect(await confirm('not an address', '123456')).toMatchObject({
      status: 400,
      body: { error: { code: 'ERR_SUBSCRIPTION_INVALID' } },
    });
  });

  it('unsubscribes at once and answers a French page when the link is followed', async () => {
    const address = email();
    const sub = await createSubscriptions(store).add({
      deviceId: 'WM-U1',
      channel: 'email',
      address,
      consent: 'operator',
    });
    const url = unsubscribeUrl('https://vigie.example.org', secret, sub.id);
    expect(url).toMatch(/^https:\/\/vigie\.example\.org\/u\/\d+\./);
    const res = await fetch(`${base}${new URL(url).pathname}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    const html = await res.text();
    expect(html).toContain('Désinscription faite');
    expect(html).toContain('WM-U1');
    expect(html).not.toContain(address);
    expect(await createSubscriptions(store).forDevice('WM-U1')).toEqual([]);
    expect((await consentHistory(store, address)).at(-1)).toMatchObject({ action: 'unsubscribed', source: 'web' });
    // Following it again still answers the page, and logs nothing more.
    expect((await fetch(`${base}${new URL(url).pathname}`)).status).toBe(200);
    expect((await consentHistory(store, address)).filter((e) => e.action === 'unsubscribed')).toHaveLength(1);
  });

  it('unsubscribes on a one-click POST from the mail client (RFC 8058)', async () => {
    const address = email();
    const sub = await createSubscriptions(store).add({
      deviceId: 'WM-U2',
      channel: 'email',
      address,
      consent: 'operator',
    });
    const res = await fetch(`${base}/u/${unsubscribeToken(secret, sub.id)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(res.status).toBe(200);
    expect(await createSubscriptions(store).forDevice('WM-U2')).toEqual([]);
  });

  it('answers 404 and unsubscribes nobody when the token is forged', async () => {
    const address = email();
    const sub = await createSubscriptions(store).add({
      deviceId: 'WM-U3',
      channel: 'email',
      address,
      consent: 'operator',
    });
    const forged = unsubscribeToken(`${secret}-other`, sub.id);
    const res = await fetch(`${base}/u/${forged}`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('Lien inconnu');
    expect((await createSubscriptions(store).forDevice('WM-U3')).map((s) => s.address)).toEqual([address]);
  });

  it('keeps one generated secret across calls when none is configured', async () => {
    expect(await unsubscribeSecret(store)).toBe(secret);
    expect(secret.length).toBeGreaterThanOrEqual(32);
    expect(await unsubscribeSecret(store, 'configured-secret')).toBe('configured-secret');
  });
});
