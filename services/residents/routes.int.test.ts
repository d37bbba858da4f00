import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { consentHistory } from '../../alerting/consent.ts';
import { recordTransition } from '../../alerting/lifecycle-store.ts';
import { meterCode } from '../../alerting/meter-code.ts';
import { createSubscriptions } from '../../alerting/subscriptions.ts';
import { unsubscribeSecret } from '../../alerting/webhooks/unsubscribe-token.ts';
import { ManualClock } from '../../core/clock.ts';
import type { AlertTransition } from '../../core/contracts/index.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { AccountEraser, CitizenPlugin } from '../http/index.ts';
import type { residentsConfigSchema } from './config.ts';
import { upsertConsumption } from './consumption.ts';
import { RESIDENT_COOKIE } from './routes.ts';
import { openTestStore, startResidentsServer } from './test-helpers.ts';

const meter = () => `WM-R${randomBytes(3).toString('hex').toUpperCase()}`;
const email = () => `resident-${randomBytes(4).toString('hex')}@example.org`;
const phone = () => `+336${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;

const TZ = 'Europe/Paris';
/** Wednesday 4 November 2026, 10:00 in Paris. */
const NOW = Date.parse('2026-11-04T09:00:00.000Z');

/** The residents' routes on the shared server (inject), a memory bus whose notifications are collected. */
async function setup(
  engine: 'pglite' | 'postgres',
  overrides: Partial<z.input<typeof residentsConfigSchema>> = {},
  extra: Omit<Parameters<typeof startResidentsServer>[0], 'store' | 'clock' | 'config'> = {},
) {
  const store: SqlStore = await openTestStore(engine);
  const server = await startResidentsServer({ store, clock: new ManualClock(NOW), config: overrides, ...extra });
  const secret = await unsubscribeSecret(store);
  return { ...server, store, secret };
}

describe.each(['pglite', 'postgres'] as const)('resident routes on %s', (engine) => {
  it('answers 202 alike for a known and an unknown address and produces the code as a notification', async () => {
    const { call, outbox, codeSentTo, signIn } = await setup(engine);
    const known = email();
    await signIn(known);
    const unknown = phone();
    const a = await call('POST', '/api/me/sign-in', { json: { address: known.toUpperCase(), locale: 'en' } });
    const b = await call('POST', '/api/me/sign-in', { json: { address: unknown } });
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(a.body).toEqual(b.body);
    expect(a.body).toEqual({ status: 'code-sent', expiresInSeconds: 600 });
    const code = await codeSentTo(unknown);
    const sms = outbox.find((n) => n.to === unknown);
    expect(sms).toMatchObject({ channel: 'sms', about: 'resident:sign-in', locale: 'fr' });
    expect(sms?.channel === 'sms' && sms.body).toContain(code);
    await codeSentTo(known, 2);
    expect(outbox.filter((n) => n.to === known).at(-1)).toMatchObject({ channel: 'email', locale: 'en' });
    // Format only: not an address at all.
    const bad = await call('POST', '/api/me/sign-in', { json: { address: '0612' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'ERR_RESIDENT_ADDRESS_INVALID' } });
  });

  it('signs in with the code into an HttpOnly SameSite=Lax cookie and refuses a wrong, a spent or an expired code', async () => {
    const { call, codeSentTo, clock } = await setup(engine);
    const address = phone();
    await call('POST', '/api/me/sign-in', { json: { address } });
    const code = await codeSentTo(address);
    const wrong = await call('POST', '/api/me/verify', {
      json: { address, code: code === '111111' ? '222222' : '111111' },
    });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toMatchObject({ error: { code: 'ERR_RESIDENT_CODE_INVALID' }, attemptsLeft: 4 });
    const ok = await call('POST', '/api/me/verify', { json: { address: address.replace('+33', '0033 '), code } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      account: { channel: 'sms', address },
      csrfToken: expect.any(String),
      expiresAt: new Date(NOW + 30 * 86_400_000).toISOString(),
    });
    const cookie = ok.cookies.find((c) => c.name === RESIDENT_COOKIE);
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/api/me', maxAge: 30 * 86_400 });
    expect(cookie?.secure).toBeFalsy();
    const spent = await call('POST', '/api/me/verify', { json: { address, code } });
    expect(spent.status).toBe(400);
    expect(spent.body).toMatchObject({ attemptsLeft: 0 });

    await call('POST', '/api/me/sign-in', { json: { address } });
    const late = await codeSentTo(address, 2);
    clock.advance(600_000);
    const expired = await call('POST', '/api/me/verify', { json: { address, code: late } });
    expect(expired.status).toBe(400);
    expect(expired.body).toMatchObject({ error: { code: 'ERR_RESIDENT_CODE_INVALID' } });
  });

  it('marks the cookie Secure when the public URL is https or cookieSecure is always', async () => {
    const https = await setup(engine, {}, { publicUrl: 'https://vigie.example.org' });
    expect((await https.signIn(email())).attributes).toMatchObject({ secure: true, httpOnly: true });
    const never = await setup(engine, { cookieSecure: 'never' }, { publicUrl: 'https://vigie.example.org' });
    expect((await never.signIn(email())).attributes?.secure).toBeFalsy();
    const always = await setup(engine, { cookieSecure: 'always' });
    expect((await always.signIn(email())).attributes).toMatchObject({ secure: true });
  });

  it('refuses no session, an unknown cookie and an ended session with 401, and ends it at sign-out', async () => {
    const { call, signIn } = await setup(engine);
    const none = await call('GET', '/api/me');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: 'ERR_RESIDENT_UNAUTHORIZED' } });
    const forged = { cookie: randomBytes(32).toString('base64url'), csrf: 'x', address: '' };
    expect((await call('GET', '/api/me', { as: forged })).status).toBe(401);
    for (const [method, url] of [
      ['GET', '/api/me/meters'],
      ['GET', '/api/me/subscriptions'],
      ['GET', '/api/me/meters/WM-1/consumption'],
      ['GET', '/api/me/meters/WM-1/alerts'],
      ['POST', '/api/me/sign-out'],
      ['POST', '/api/me/meters'],
      ['POST', '/api/me/subscriptions'],
      ['DELETE', '/api/me/meters/WM-1'],
      ['DELETE', '/api/me/subscriptions/1'],
    ] as const) {
      expect((await call(method, url, { json: method === 'GET' ? undefined : {} })).status, url).toBe(401);
    }

    const browser = await signIn(email());
    const me = await call('GET', '/api/me', { as: browser });
    expect(me.status).toBe(200);
    expect(me.body.csrfToken).toBe(browser.csrf);
    expect(me.headers['cache-control']).toBe('no-store');
    const out = await call('POST', '/api/me/sign-out', { as: browser, json: {} });
    expect(out.status).toBe(204);
    expect(out.cookies.find((c) => c.name === RESIDENT_COOKIE)?.value).toBe('');
    expect((await call('GET', '/api/me', { as: browser })).status).toBe(401);
  });

  it('refuses a forged cross-site form post and a missing or wrong CSRF token with 403', async () => {
    const { call, signIn, store } = await setup(engine);
    const browser = await signIn(email());
    const device = meter();
    await store.query(
      `INSERT INTO resident_meters (account_id, device_id, linked_at)
      SELECT id, $2, now() FROM residents_accounts WHERE address = $1`,
      [browser.address, device],
    );
    // What a hostile page's auto-submitted <form method=post> sends: the cookie, a form body, no token.
    const forged = await call('POST', '/api/me/subscriptions', {
      as: browser,
      csrf: null,
      form: { deviceId: device },
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(forged.status).toBe(403);
    expect(forged.body).toMatchObject({ error: { code: 'ERR_RESIDENT_CSRF_FORBIDDEN' } });
    // The same without Sec-Fetch-Site (an older browser): still no token.
    expect(
      (await call('POST', '/api/me/subscriptions', { as: browser, csrf: null, form: { deviceId: device } })).status,
    ).toBe(403);
    expect(
      (await call('POST', '/api/me/subscriptions', { as: browser, csrf: 'guess', json: { deviceId: device } })).status,
    ).toBe(403);
    expect((await call('DELETE', `/api/me/meters/${device}`, { as: browser, csrf: null })).status).toBe(403);
    expect((await call('POST', '/api/me/sign-out', { as: browser, csrf: null, json: {} })).status).toBe(403);
    // With the token, even a cross-site marked request is refused; from the page itself it passes.
    expect(
      (
        await call('POST', '/api/me/subscriptions', {
          as: browser,
          json: { deviceId: device },
          headers: { 'sec-fetch-site': 'cross-site' },
        })
      ).status,
    ).toBe(403);
    expect((await call('POST', '/api/me/subscriptions', { as: browser, json: { deviceId: device } })).status).toBe(201);
    // Before any session (login CSRF): forms are refused on sign-in and verify.
    const formSignIn = await call('POST', '/api/me/sign-in', { form: { address: email() } });
    expect(formSignIn.status).toBe(403);
    expect((await call('POST', '/api/me/verify', { form: { address: email(), code: '123456' } })).status).toBe(403);
  });

  it('shows the meters of confirmed subscriptions and linked meters only, and refuses any other meter with 403', async () => {
    const { call, signIn, store, secret } = await setup(engine);
    const mine = await signIn(email());
    const theirs = await signIn(phone());
    const subscribed = meter();
    const pending = meter();
    const linked = meter();
    const neighbour = meter();
    const subs = createSubscriptions(store);
    await subs.add({ deviceId: subscribed, channel: 'email', address: mine.address, consent: 'operator' });
    await subs.add({ deviceId: pending, channel: 'email', address: mine.address, consent: 'resident' });
    await subs.add({ deviceId: neighbour, channel: 'sms', address: theirs.address, consent: 'operator' });

    const wrongCode = await call('POST', '/api/me/meters', {
      as: mine,
      json: { deviceId: linked, meterCode: 'AAAA-AAAA' },
    });
    expect(wrongCode.status).toBe(403);
    expect(wrongCode.body).toMatchObject({ error: { code: 'ERR_RESIDENT_METER_CODE_FORBIDDEN' } });
    const link = await call('POST', '/api/me/meters', {
      as: mine,
      json: { deviceId: linked, meterCode: meterCode(secret, linked).toLowerCase() },
    });
    expect(link.status).toBe(201);
    expect(link.body).toEqual({ deviceId: linked, sources: ['linked'] });
    const both = await call('POST', '/api/me/meters', {
      as: mine,
      json: { deviceId: subscribed, meterCode: meterCode(secret, subscribed) },
    });
    expect(both.body).toEqual({ deviceId: subscribed, sources: ['subscription', 'linked'] });

    const list = await call('GET', '/api/me/meters', { as: mine });
    expect(list.body).toEqual({
      meters: [
        { deviceId: linked, sources: ['linked'] },
        { deviceId: subscribed, sources: ['subscription', 'linked'] },
      ].sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1)),
    });
    expect((await call('GET', '/api/me/meters', { as: theirs })).body).toEqual({
      meters: [{ deviceId: neighbour, sources: ['subscription'] }],
    });

    // Someone else's meter, a pending subscription's, and one that does not exist: the same 403.
    const refusals = [];
    for (const device of [neighbour, pending, 'WM-NOSUCH']) {
      for (const path of ['consumption', 'alerts']) {
        const res = await call('GET', `/api/me/meters/${device}/${path}`, { as: mine });
        expect(res.status, `${device} ${path}`).toBe(403);
        refusals.push(res.body);
      }
      expect((await call('DELETE', `/api/me/meters/${device}`, { as: mine })).status).toBe(403);
      expect((await call('POST', '/api/me/subscriptions', { as: mine, json: { deviceId: device } })).status).toBe(403);
    }
    expect(new Set(refusals.map((b) => (b as { error: { code: string } }).error.code))).toEqual(
      new Set(['ERR_RESIDENT_METER_FORBIDDEN']),
    );

    // Unlink: a linked meter goes; a subscription's only meter cannot be unlinked here.
    expect((await call('DELETE', `/api/me/meters/${linked}`, { as: mine })).status).toBe(204);
    expect((await call('GET', `/api/me/meters/${linked}/alerts`, { as: mine })).status).toBe(403);
    expect((await call('DELETE', `/api/me/meters/${subscribed}`, { as: mine })).status).toBe(204);
    const conflict = await call('DELETE', `/api/me/meters/${subscribed}`, { as: mine });
    expect(conflict.status).toBe(409);
    expect((await call('GET', `/api/me/meters/${subscribed}/alerts`, { as: mine })).status).toBe(200);
  });

  it('answers daily and monthly consumption in local days and months, and refuses a bad range with 400', async () => {
    const { call, signIn, store, secret } = await setup(engine);
    const browser = await signIn(email());
    const device = meter();
    await call('POST', '/api/me/meters', {
      as: browser,
      json: { deviceId: device, meterCode: meterCode(secret, device) },
    });
    await upsertConsumption(
      store,
      [
        { deviceId: device, period: 'day', startMs: Date.parse('2026-10-24T22:00:00.000Z'), consumptionL: 250 },
        { deviceId: device, period: 'day', startMs: Date.parse('2026-10-31T23:00:00.000Z'), consumptionL: 40 },
        { deviceId: device, period: 'day', startMs: Date.parse('2026-11-02T23:00:00.000Z'), consumptionL: 120 },
        // Today (November 4, local) so far: two hours.
        { deviceId: device, period: 'hour', startMs: Date.parse('2026-11-03T23:00:00.000Z'), consumptionL: 2 },
        { deviceId: device, period: 'hour', startMs: Date.parse('2026-11-04T07:00:00.000Z'), consumptionL: 9 },
      ],
      NOW,
    );
    const days = await call('GET', `/api/me/meters/${device}/consumption`, { as: browser });
    expect(days.status).toBe(200);
    expect(days.body).toEqual({
      deviceId: device,
      period: 'day',
      from: '2026-10-06',
      to: '2026-11-04',
      timeZone: TZ,
      points: [
        { date: '2026-10-25', consumptionL: 250, partial: false },
        { date: '2026-11-01', consumptionL: 40, partial: false },
        { date: '2026-11-03', consumptionL: 120, partial: false },
        { date: '2026-11-04', consumptionL: 11, partial: true },
      ],
    });
    const months = await call('GET', `/api/me/meters/${device}/consumption?period=month&from=2026-10&to=2026-11`, {
      as: browser,
    });
    expect(months.body.points).toEqual([
      { date: '2026-10', consumptionL: 250, partial: false, days: 1 },
      { date: '2026-11', consumptionL: 171, partial: true, days: 3 },
    ]);
    const oneDay = await call('GET', `/api/me/meters/${device}/consumption?from=2026-11-01&to=2026-11-01`, {
      as: browser,
    });
    expect(oneDay.body.points).toEqual([{ date: '2026-11-01', consumptionL: 40, partial: false }]);
    for (const query of [
      'from=2026-11-05&to=2026-11-01',
      'from=2025-01-01&to=2026-11-01',
      'from=2026-02-30&to=2026-03-01',
      'from=2026-11&to=2026-11-02',
      'period=month&from=2026-11-01',
      'period=month&from=2020-01&to=2026-11',
      'period=week',
    ]) {
      const res = await call('GET', `/api/me/meters/${device}/consumption?${query}`, { as: browser });
      expect(res.status, query).toBe(400);
    }
  });

  it('lists the leak history of my meter only, newest first, with paging', async () => {
    const { call, signIn, store, secret } = await setup(engine);
    const browser = await signIn(phone());
    const device = meter();
    await call('POST', '/api/me/meters', {
      as: browser,
      json: { deviceId: device, meterCode: meterCode(secret, device) },
    });
    const open = (type: AlertTransition['type'], ts: string): AlertTransition => ({
      alertId: `${device}:${type}:${ts}`,
      deviceId: device,
      kind: 'water-meter',
      type,
      state: 'open',
      ts,
      severity: 'warning',
      summary: `${type} at ${device}`,
      details: {},
    });
    await recordTransition(store, open('leak', '2026-10-01T02:00:00.000Z'));
    await recordTransition(store, {
      ...open('leak', '2026-10-01T02:00:00.000Z'),
      state: 'resolved',
      ts: '2026-10-02T08:00:00.000Z',
    });
    await recordTransition(store, open('burst', '2026-10-20T02:00:00.000Z'));
    await recordTransition(store, open('low-battery', '2026-10-21T02:00:00.000Z'));
    await recordTransition(store, { ...open('leak', '2026-10-22T02:00:00.000Z'), deviceId: 'WM-OTHER', alertId: 'x' });
    const all = await call('GET', `/api/me/meters/${device}/alerts`, { as: browser });
    expect(all.status).toBe(200);
    expect(all.body).toEqual({
      alerts: [
        {
          alertId: `${device}:burst:2026-10-20T02:00:00.000Z`,
          type: 'burst',
          severity: 'warning',
          summary: `burst at ${device}`,
          openedAt: '2026-10-20T02:00:00.000Z',
          resolvedAt: null,
          acknowledged: false,
        },
        expect.objectContaining({ type: 'leak', resolvedAt: '2026-10-02T08:00:00.000Z' }),
      ],
    });
    const page = await call('GET', `/api/me/meters/${device}/alerts?limit=1&before=2026-10-20T02:00:00.000Z`, {
      as: browser,
    });
    expect((page.body.alerts as unknown[]).map((a) => (a as { type: string }).type)).toEqual(['leak']);
    expect((await call('GET', `/api/me/meters/${device}/alerts?limit=0`, { as: browser })).status).toBe(400);
  });

  it('lists, adds at once and removes my own subscriptions only', async () => {
    const { call, signIn, store, secret } = await setup(engine);
    const mine = await signIn(phone());
    const theirs = await signIn(email());
    const device = meter();
    await call('POST', '/api/me/meters', {
      as: mine,
      json: { deviceId: device, meterCode: meterCode(secret, device) },
    });
    const added = await call('POST', '/api/me/subscriptions', { as: mine, json: { deviceId: device, locale: 'en' } });
    expect(added.status).toBe(201);
    expect(added.body).toEqual({
      id: expect.any(Number),
      deviceId: device,
      channel: 'sms',
      address: mine.address,
      locale: 'en',
      status: 'confirmed',
      createdAt: expect.any(String),
      smsStopped: false,
    });
    expect((await consentHistory(store, mine.address)).map((e) => [e.action, e.source])).toEqual([
      ['confirmed', 'web'],
    ]);
    const other = await createSubscriptions(store).add({
      deviceId: meter(),
      channel: 'email',
      address: theirs.address,
      consent: 'operator',
    });
    const list = await call('GET', '/api/me/subscriptions', { as: mine });
    expect(list.body).toEqual({ subscriptions: [expect.objectContaining({ id: added.body.id, status: 'confirmed' })] });
    const refused = await call('DELETE', `/api/me/subscriptions/${other.id}`, { as: mine });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: { code: 'ERR_RESIDENT_SUBSCRIPTION_FORBIDDEN' } });
    expect((await call('DELETE', '/api/me/subscriptions/999999', { as: mine })).status).toBe(403);
    expect((await call('DELETE', `/api/me/subscriptions/${added.body.id}`, { as: mine })).status).toBe(204);
    expect((await call('GET', '/api/me/subscriptions', { as: mine })).body).toEqual({ subscriptions: [] });
    expect((await call('GET', '/api/me/subscriptions', { as: theirs })).body).toMatchObject({
      subscriptions: [{ id: other.id }],
    });
  });
});

describe.each(['pglite', 'postgres'] as const)('the citizen account on %s', (engine) => {
  /** A citizen service's routes in the account's scope, as the vault's and the consultations' are. */
  const whoAmI: CitizenPlugin = async (app, auth) => {
    app.get('/api/me/who', { onRequest: auth.session }, async (request) => auth.citizen(request));
    app.post('/api/me/who', { onRequest: auth.session }, async (request) => auth.citizen(request));
  };

  it('keeps the profile a citizen gives, their own only, and refuses a change without the CSRF token', async () => {
    const { call, signIn } = await setup(engine);
    const camille = await signIn(email());
    const other = await signIn(phone());
    expect((await call('GET', '/api/me/profile', { as: camille })).body).toEqual({
      account: { channel: 'email', address: camille.address },
      displayName: null,
      locale: 'fr',
      postalAddress: null,
    });
    const profile = { displayName: 'Camille Meyer', locale: 'en', postalAddress: '12 rue du Sauvage, 68100 Mulhouse' };
    expect((await call('PUT', '/api/me/profile', { as: camille, json: profile, csrf: null })).status).toBe(403);
    const put = await call('PUT', '/api/me/profile', { as: camille, json: profile });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject(profile);
    expect((await call('GET', '/api/me/profile', { as: camille })).body).toMatchObject(profile);
    expect((await call('GET', '/api/me/profile', { as: other })).body).toMatchObject({ displayName: null });
    expect((await call('PUT', '/api/me/profile', { as: camille, json: { locale: 'de' } })).status).toBe(400);
    expect((await call('GET', '/api/me/profile')).status).toBe(401);
  });

  it('runs the other services’ routes behind the session and its CSRF check, with the signed-in citizen', async () => {
    const { call, signIn } = await setup(engine, {}, { citizenPlugins: [whoAmI] });
    const citizen = await signIn(phone());
    const me = await call('GET', '/api/me/who', { as: citizen });
    expect(me.body).toEqual({ id: expect.any(Number), channel: 'sms', address: citizen.address });
    expect((await call('GET', '/api/me/who')).status).toBe(401);
    expect((await call('POST', '/api/me/who', { as: citizen, csrf: null })).status).toBe(403);
    expect((await call('POST', '/api/me/who', { as: citizen })).body).toEqual(me.body);
  });

  it('deletes the account after the erasers ran in its transaction; the session ends and the address starts afresh', async () => {
    const erased: number[] = [];
    let failing = true;
    const eraser: AccountEraser = async (tx, citizenId) => {
      await tx.query('SELECT 1');
      if (failing) throw new Error('the vault is unavailable');
      erased.push(citizenId);
    };
    const { call, signIn, store } = await setup(engine, {}, { citizenPlugins: [whoAmI], accountErasers: [eraser] });
    const citizen = await signIn(phone());
    const { id } = (await call('GET', '/api/me/who', { as: citizen })).body as { id: number };
    expect((await call('DELETE', '/api/me/account', { as: citizen, csrf: null })).status).toBe(403);
    // An eraser that fails rolls the whole deletion back: nothing half-deleted.
    expect((await call('DELETE', '/api/me/account', { as: citizen })).status).toBe(500);
    expect((await call('GET', '/api/me', { as: citizen })).status).toBe(200);
    failing = false;
    const deleted = await call('DELETE', '/api/me/account', { as: citizen });
    expect(deleted.status).toBe(204);
    expect(deleted.cookies.find((c) => c.name === RESIDENT_COOKIE)?.value).toBe('');
    expect(erased).toEqual([id]);
    expect((await call('GET', '/api/me', { as: citizen })).status).toBe(401);
    const rows = await store.query('SELECT 1 FROM residents_sessions WHERE account_id = $1', [id]);
    expect(rows.rows).toHaveLength(0);
    const again = await signIn(citizen.address);
    const renewed = (await call('GET', '/api/me/who', { as: again })).body as { id: number };
    expect(renewed.id).not.toBe(id);
  });
});

describe('resident routes documentation', () => {
  it('lists every route in the OpenAPI document when the server is ready', async () => {
    const { app } = await setup('pglite');
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const paths = Object.keys((JSON.parse(res.body) as { paths: Record<string, unknown> }).paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/me/sign-in',
        '/api/me/verify',
        '/api/me/sign-out',
        '/api/me',
        '/api/me/meters',
        '/api/me/meters/{deviceId}',
        '/api/me/meters/{deviceId}/consumption',
        '/api/me/meters/{deviceId}/alerts',
        '/api/me/subscriptions',
        '/api/me/subscriptions/{id}',
      ]),
    );
  });
});

describe('resident routes rate limits', () => {
  it('answers 429 beyond 5 codes per hour for one address and 20 per hour from one IP address', async () => {
    const { call } = await setup('pglite', { signInPerIpPerHour: 20 });
    const address = email();
    for (let i = 0; i < 5; i++) {
      expect((await call('POST', '/api/me/sign-in', { json: { address }, ip: '10.0.0.1' })).status).toBe(202);
    }
    const sixth = await call('POST', '/api/me/sign-in', { json: { address: address.toUpperCase() }, ip: '10.0.0.2' });
    expect(sixth.status).toBe(429);
    expect(sixth.body).toMatchObject({ error: { code: 'ERR_RESIDENT_RATE_LIMITED' } });
    expect(Number(sixth.headers['retry-after'])).toBeGreaterThan(0);
    for (let i = 0; i < 20; i++) {
      expect((await call('POST', '/api/me/sign-in', { json: { address: email() }, ip: '10.0.0.3' })).status).toBe(202);
    }
    expect((await call('POST', '/api/me/sign-in', { json: { address: email() }, ip: '10.0.0.3' })).status).toBe(429);
    expect((await call('POST', '/api/me/sign-in', { json: { address: email() }, ip: '10.0.0.4' })).status).toBe(202);
  });

  it('answers 429 beyond the codes submitted from one IP address and the meter links of one resident', async () => {
    const { call, signIn } = await setup('pglite', { verifyPerIpPerHour: 3, linkPerAccountPerHour: 2 });
    for (let i = 0; i < 3; i++) {
      expect(
        (await call('POST', '/api/me/verify', { json: { address: email(), code: '123456' }, ip: '10.0.1.1' })).status,
      ).toBe(400);
    }
    expect(
      (await call('POST', '/api/me/verify', { json: { address: email(), code: '123456' }, ip: '10.0.1.1' })).status,
    ).toBe(429);
    const browser = await signIn(email());
    const link = () =>
      call('POST', '/api/me/meters', { as: browser, json: { deviceId: meter(), meterCode: 'AAAA-AAAA' } });
    expect((await link()).status).toBe(403);
    expect((await link()).status).toBe(403);
    expect((await link()).status).toBe(429);
  });
});
