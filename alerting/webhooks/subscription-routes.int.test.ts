import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createHttpServer, httpConfigSchema, httpMigrations } from '../../services/http/index.ts';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.ts';
import { consentHistory, stopSms } from '../consent.ts';
import { alertingMigrations } from '../index.ts';
import { meterCode } from '../meter-code.ts';
import { createSubscriptions } from '../subscriptions.ts';
import { confirmationSubject, type SubscriptionRoutesOptions, subscriptionRoutes } from './subscription-routes.ts';
import { unsubscribeSecret, unsubscribeToken, unsubscribeUrl } from './unsubscribe-token.ts';

/** A listening shared HTTP server (services/http: its error shape) with the subscription routes. */
async function startRoutes(
  store: SqlStore,
  options: Omit<SubscriptionRoutesOptions, 'store' | 'metrics' | 'logger'>,
): Promise<{ base: string; close(): Promise<void> }> {
  const app = createHttpServer({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics: new Metrics(),
  });
  await app.register(subscriptionRoutes, { store, metrics: new Metrics(), logger: silentLogger(), ...options });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
}

describe.each(['pglite', 'postgres'] as const)('subscription routes on %s', (engine) => {
  let store: SqlStore;
  let database: TestDatabase | undefined;
  let base: string;
  let secret: string;
  let server: Awaited<ReturnType<typeof startRoutes>> | undefined;
  const clock = new ManualClock(Date.now());

  beforeAll(async () => {
    if (engine === 'postgres') {
      database = await createTestDatabase(inject('databaseUrl'));
      store = await openStore({ databaseUrl: database.url, pgliteDir: 'memory://' }, [
        alertingMigrations,
        httpMigrations,
      ]);
    } else {
      store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations, httpMigrations]);
    }
    secret = await unsubscribeSecret(store);
    // Limits raised here: every test of the file comes from 127.0.0.1. The limits are tested on their own server.
    server = await startRoutes(store, {
      unsubscribeSecret: secret,
      clock,
      rateLimits: { perIpPerHour: 10_000, perAddressPerHour: 1_000 },
    });
    base = server.base;
  });
  afterAll(async () => {
    await server?.close();
    await store?.close();
    await database?.drop();
  });

  const email = () => `resident-${randomBytes(4).toString('hex')}@example.org`;
  const phone = () => `+336${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;
  const meter = () => `WM-S${randomBytes(3).toString('hex').toUpperCase()}`;

  async function signUp(body: Record<string, string>, form = false, at = base) {
    const res = await fetch(`${at}/api/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' },
      body: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
    });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
  }

  interface QueuedRow {
    idempotency_key: string;
    alert_id: string;
    purpose: string;
    channel: string;
    recipient: string;
    locale: string;
    status: string;
    not_before: Date | string;
    message: { kind: string; to: string; body?: string; subject?: string; text?: string } | string;
  }

  /** The delivery log's rows of a subscription's confirmation messages, oldest first. */
  async function queued(subscriptionId: number) {
    const res = await store.query<QueuedRow>(
      `SELECT idempotency_key, alert_id, purpose, channel, recipient, locale, status, not_before, message
       FROM alerting_deliveries WHERE alert_id = $1 ORDER BY idempotency_key`,
      [confirmationSubject(subscriptionId)],
    );
    return res.rows.map((r) => ({
      ...r,
      message: (typeof r.message === 'string' ? JSON.parse(r.message) : r.message) as Exclude<
        QueuedRow['message'],
        string
      >,
    }));
  }

  /** The 6-digit code a queued message carries (what the resident reads). */
  function codeIn(message: { body?: string; text?: string }): string {
    return /\b(\d{6})\b/.exec(message.body ?? message.text ?? '')?.[1] ?? 'none';
  }

  async function subscriptionOf(deviceId: string) {
    const rows = await store.query<{ id: string | number; status: string }>(
      'SELECT id, status FROM alerting_subscriptions WHERE device_id = $1',
      [deviceId],
    );
    return rows.rows.map((r) => ({ id: Number(r.id), status: r.status }));
  }

  async function confirm(address: string, code: string) {
    const res = await fetch(`${base}/api/subscriptions/confirm`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address, code }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }

  it('queues the code by email and answers 202 without it when the meter code is right', async () => {
    const address = email();
    const deviceId = meter();
    const res = await signUp({ deviceId, address, meterCode: meterCode(secret, deviceId) });
    const expiresAtMs = clock.nowMs() + 24 * 3_600_000;
    expect(res).toMatchObject({
      status: 202,
      body: { status: 'pending', expiresAt: new Date(expiresAtMs).toISOString() },
    });
    expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'status']);
    const [sub] = await subscriptionOf(deviceId);
    expect(sub?.status).toBe('pending');
    const rows = await queued(sub?.id ?? 0);
    expect(rows).toHaveLength(1);
    const row = rows[0] as (typeof rows)[number];
    expect(row).toMatchObject({
      idempotency_key: `confirmation:${sub?.id}:${expiresAtMs}`,
      purpose: 'confirmation',
      channel: 'email',
      recipient: address,
      locale: 'fr',
      status: 'scheduled',
      message: { kind: 'email', to: address, subject: 'Vigie : confirmez votre abonnement' },
    });
    expect(new Date(row.not_before).getTime()).toBe(clock.nowMs());
    const code = codeIn(row.message);
    expect(code).toMatch(/^\d{6}$/);
    expect(JSON.stringify(res.body)).not.toContain(code);
    // The resident types the code received: the subscription is confirmed and receives alerts.
    expect(await confirm(address, code)).toEqual({
      status: 200,
      body: { status: 'confirmed', subscriptions: [{ deviceId, channel: 'email' }] },
    });
    expect((await createSubscriptions(store).forDevice(deviceId)).map((s) => s.address)).toEqual([address]);
    expect((await consentHistory(store, address)).map((e) => [e.action, e.source])).toEqual([
      ['requested', 'web'],
      ['confirmed', 'web'],
    ]);
  });

  it('queues the code by SMS in English when a form posts a number with spaces and a lowercase code', async () => {
    const number = phone();
    const deviceId = meter();
    const spaced = `${number.slice(0, 3)} ${number.slice(3, 4)} ${number.slice(4, 8)} ${number.slice(8)}`;
    const code = meterCode(secret, deviceId).toLowerCase().replace('-', ' ');
    const res = await signUp({ deviceId, address: spaced, meterCode: code, locale: 'en' }, true);
    expect(res).toMatchObject({ status: 202, body: { status: 'pending' } });
    const [sub] = await subscriptionOf(deviceId);
    const [row] = await queued(sub?.id ?? 0);
    expect(row).toMatchObject({ channel: 'sms', recipient: number, locale: 'en', status: 'scheduled' });
    expect(row?.message).toMatchObject({ kind: 'sms', to: number });
    expect(row?.message.body).toContain('Reply with this code');
    expect((await confirm(number, codeIn(row?.message ?? {}))).status).toBe(200);
    expect(await subscriptionOf(deviceId)).toEqual([{ id: sub?.id, status: 'confirmed' }]);
  });

  it('answers 200 confirmed and queues nothing when the subscription is already confirmed', async () => {
    const address = email();
    const deviceId = meter();
    const sub = await createSubscriptions(store).add({ deviceId, channel: 'email', address, consent: 'operator' });
    const res = await signUp({ deviceId, address, meterCode: meterCode(secret, deviceId) });
    expect(res).toEqual({ status: 200, headers: expect.anything(), body: { status: 'confirmed' } });
    expect(await queued(sub.id)).toEqual([]);
    expect(await subscriptionOf(deviceId)).toEqual([{ id: sub.id, status: 'confirmed' }]);
  });

  it('cancels the waiting message of an older code when the resident asks again', async () => {
    const address = email();
    const deviceId = meter();
    const body = { deviceId, address, meterCode: meterCode(secret, deviceId) };
    expect((await signUp(body)).status).toBe(202);
    clock.advance(60_000);
    expect((await signUp(body)).status).toBe(202);
    const [sub] = await subscriptionOf(deviceId);
    const rows = await queued(sub?.id ?? 0);
    expect(rows.map((r) => r.status)).toEqual(['cancelled', 'scheduled']);
    // Only the newest code is alive.
    const [older, newer] = rows.map((r) => codeIn(r.message));
    if (older !== newer) expect((await confirm(address, older ?? '')).status).toBe(400);
    expect((await confirm(address, newer ?? '')).status).toBe(200);
  });

  it('answers 403 alike whether the meter exists or not when the meter code is wrong', async () => {
    const known = meter();
    await createSubscriptions(store).add({ deviceId: known, channel: 'email', address: email(), consent: 'operator' });
    const unknown = meter();
    const address = email();
    const wrongForKnown = await signUp({ deviceId: known, address, meterCode: meterCode(secret, unknown) });
    const wrongForUnknown = await signUp({ deviceId: unknown, address, meterCode: meterCode(secret, known) });
    const otherSecret = await signUp({ deviceId: unknown, address, meterCode: meterCode(`${secret}x`, unknown) });
    for (const res of [wrongForKnown, wrongForUnknown, otherSecret]) {
      expect(res.status).toBe(403);
      expect(res.body).toEqual(wrongForKnown.body);
    }
    expect(wrongForKnown.body).toMatchObject({ error: { code: 'ERR_SUBSCRIPTION_METER_CODE' } });
    expect(await subscriptionOf(unknown)).toEqual([]);
    expect(await createSubscriptions(store).forAddress('email', address)).toEqual([]);
  });

  it('answers 400 in the shared error shape when the address or the body is invalid', async () => {
    const deviceId = meter();
    const good = meterCode(secret, deviceId);
    const invalid = await signUp({ deviceId, address: '06 12', meterCode: good });
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: 'ERR_SUBSCRIPTION_INVALID' } } });
    expect(JSON.stringify(invalid.body)).toContain('E.164');
    const noCode = await signUp({ deviceId, address: email() });
    expect(noCode).toMatchObject({ status: 400, body: { error: { code: 'ERR_HTTP_VALIDATION' } } });
    expect(JSON.stringify(noCode.body)).toContain('body.meterCode');
    const badLocale = await signUp({ deviceId, address: email(), meterCode: good, locale: 'de' });
    expect(badLocale).toMatchObject({ status: 400, body: { error: { code: 'ERR_HTTP_VALIDATION' } } });
    expect(await subscriptionOf(deviceId)).toEqual([]);
  });

  it('answers 409 telling to text START and makes nothing when the number sent STOP', async () => {
    const number = phone();
    const deviceId = meter();
    await stopSms(store, { number, source: 'sms', atMs: clock.nowMs() });
    const res = await signUp({ deviceId, address: number, meterCode: meterCode(secret, deviceId) });
    expect(res).toMatchObject({ status: 409, body: { error: { code: 'ERR_SUBSCRIPTION_SMS_STOPPED' } } });
    expect(JSON.stringify(res.body)).toContain('START');
    expect(JSON.stringify(res.body)).not.toContain(number);
    expect(await subscriptionOf(deviceId)).toEqual([]);
  });

  it('answers 429 beyond 3 requests per address and 10 per IP address in an hour', async () => {
    // A server of its own, with the default limits: every request here comes from 127.0.0.1. Counts are kept in the
    // store, shared by every server on it: start from none (the other tests signed up too).
    await store.query('DELETE FROM http_rate_limits');
    const limited = await startRoutes(store, { unsubscribeSecret: secret, clock });
    onTestFinished(() => limited.close());
    const deviceId = meter();
    const good = meterCode(secret, deviceId);
    const address = email();
    // 1–3: the same address, accepted (a new code each time); 4: refused for the address.
    for (let i = 0; i < 3; i++) {
      clock.advance(1_000);
      expect((await signUp({ deviceId, address, meterCode: good }, false, limited.base)).status).toBe(202);
    }
    const perAddress = await signUp({ deviceId, address: address.toUpperCase(), meterCode: good }, false, limited.base);
    expect(perAddress).toMatchObject({ status: 429, body: { error: { code: 'ERR_SUBSCRIPTION_RATE_LIMITED' } } });
    expect(JSON.stringify(perAddress.body)).toContain('for this address');
    expect(Number(perAddress.headers.get('retry-after'))).toBeGreaterThan(3_000);
    const [sub] = await subscriptionOf(deviceId);
    expect((await queued(sub?.id ?? 0)).filter((r) => r.status === 'scheduled')).toHaveLength(1);
    // 5–10: other addresses (wrong meter codes count too); 11: refused for the IP address, whatever the address.
    for (let i = 5; i <= 10; i++) {
      const res = await signUp({ deviceId, address: email(), meterCode: 'AAAA-AAAA' }, false, limited.base);
      expect(res.status).toBe(403);
    }
    const perIp = await signUp({ deviceId, address: email(), meterCode: good }, true, limited.base);
    expect(perIp).toMatchObject({ status: 429, body: { error: { code: 'ERR_SUBSCRIPTION_RATE_LIMITED' } } });
    expect(JSON.stringify(perIp.body)).toContain('from this IP address');
    expect(perIp.headers.get('retry-after')).toMatch(/^\d+$/);
  });

  it('documents the sign-up route in the OpenAPI document when the server serves it', async () => {
    const doc = (await (await fetch(`${base}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(Object.keys(doc.paths['/api/subscriptions']?.post?.responses ?? {}).sort()).toEqual(
      ['200', '202', '400', '403', '409', '429'].sort(),
    );
  });

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
