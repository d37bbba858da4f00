import { createHmac, randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { InboundSms } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../../test/helpers/postgres.ts';
import { consentHistory, isSmsAllowed } from '../consent.ts';
import { alertingMigrations } from '../index.ts';
import { createSubscriptions, MAX_CONFIRMATION_ATTEMPTS } from '../subscriptions.ts';
import { deliveryStatusHistory, twilioWebhooks } from './twilio.ts';

const PUBLIC_URL = 'https://vigie.example.org';
const AUTH_TOKEN = randomBytes(16).toString('hex');

/** Twilio's algorithm, independently of the library: HMAC-SHA1(URL + sorted name+value), base64. */
function sign(token: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', token).update(Buffer.from(data, 'utf8')).digest('base64');
}

let counter = 0;
/** A fresh E.164 number per test. */
function number(): string {
  counter++;
  return `+3361${String(Date.now() % 1_000_000).padStart(6, '0')}${String(counter).padStart(2, '0')}`;
}

describe.each(['pglite', 'postgres'] as const)('twilio webhooks on %s', (engine) => {
  let store: SqlStore;
  let database: TestDatabase | undefined;
  const clock = new ManualClock(Date.parse('2026-03-01T10:00:00Z'));
  let base: string;
  let metrics: Metrics;
  const app = Fastify();

  beforeAll(async () => {
    if (engine === 'postgres') {
      database = await createTestDatabase(inject('databaseUrl'));
      store = await openStore({ databaseUrl: database.url, pgliteDir: 'memory://' }, [alertingMigrations]);
    } else {
      store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
    }
    metrics = new Metrics();
    await app.register(twilioWebhooks, {
      store,
      authToken: AUTH_TOKEN,
      publicUrl: PUBLIC_URL,
      metrics,
      logger: silentLogger(),
      clock,
      utilityContact: '03 89 00 00 00',
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app.close();
    await store?.close();
    await database?.drop();
  });

  /** Posts a form as Twilio does, signed for the public URL (unless told otherwise). */
  async function post(
    path: string,
    params: Record<string, string>,
    options: { signature?: string | null; signWith?: { token?: string; url?: string } } = {},
  ): Promise<{ status: number; text: string; type: string }> {
    const signature =
      options.signature === undefined
        ? sign(options.signWith?.token ?? AUTH_TOKEN, options.signWith?.url ?? `${PUBLIC_URL}${path}`, params)
        : options.signature;
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...(signature === null ? {} : { 'x-twilio-signature': signature }),
      },
      body: new URLSearchParams(params).toString(),
    });
    return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
  }

  function inbound(from: string, body: string): Record<string, string> {
    return {
      AccountSid: `AC${'1'.repeat(32)}`,
      MessageSid: `SM${randomBytes(16).toString('hex')}`,
      From: from,
      To: '+33700000001',
      Body: body,
      NumMedia: '0',
    };
  }

  /** Everything the webhooks may change, to prove a refused request changed nothing. */
  async function snapshot(): Promise<unknown> {
    const tables = [
      'alerting_subscriptions',
      'alerting_sms_optouts',
      'alerting_consent_log',
      'alerting_delivery_status',
    ];
    const out: Record<string, unknown> = {};
    for (const t of tables) out[t] = (await store.query(`SELECT * FROM ${t} ORDER BY 1`)).rows;
    out.deliveries = (await store.query('SELECT * FROM alerting_deliveries ORDER BY 1')).rows;
    return out;
  }

  async function subscribed(deviceId: string, address: string, locale: 'fr' | 'en' = 'fr') {
    return createSubscriptions(store, { clock }).add({
      deviceId,
      channel: 'sms',
      address,
      locale,
      consent: 'operator',
    });
  }

  it.each(['STOP', 'stop', ' Arrêt ', 'ARRET', 'STOPALL', 'unsubscribe', 'Desinscription'])(
    'stops every SMS to the number at once when it sends %j',
    async (word) => {
      const phone = number();
      await subscribed('WM-S1', phone);
      await subscribed('WM-S2', phone);
      const other = number();
      await subscribed('WM-S1', other);
      const params = inbound(phone, word);
      const res = await post('/webhooks/twilio/sms', params);
      expect(res.status).toBe(200);
      expect(res.type).toContain('text/xml');
      expect(res.text).toContain('<Response><Message>');
      expect(res.text).toContain('START');
      // 1. Nothing more goes to that number: neither device lists it, and the router's check says no.
      expect((await createSubscriptions(store).forDevice('WM-S1')).map((s) => s.address)).not.toContain(phone);
      expect((await createSubscriptions(store).forDevice('WM-S2')).map((s) => s.address)).not.toContain(phone);
      expect(await isSmsAllowed(store, phone)).toBe(false);
      // 2. Other numbers are untouched.
      expect((await createSubscriptions(store).forDevice('WM-S1')).map((s) => s.address)).toContain(other);
      expect(await isSmsAllowed(store, other)).toBe(true);
      // 3. The consent log holds the STOP with the SMS that made it.
      const log = await consentHistory(store, phone);
      expect(log.at(-1)).toMatchObject({ action: 'stopped', source: 'sms', messageSid: params.MessageSid });
    },
  );

  it('resubscribes what STOP stopped when the number sends START or OUI', async () => {
    const phone = number();
    await subscribed('WM-R1', phone);
    expect((await post('/webhooks/twilio/sms', inbound(phone, 'STOP'))).status).toBe(200);
    expect(await createSubscriptions(store).forDevice('WM-R1')).toEqual([]);
    const res = await post('/webhooks/twilio/sms', inbound(phone, 'oui'));
    expect(res.text).toContain('reprennent');
    expect((await createSubscriptions(store).forDevice('WM-R1')).map((s) => s.address)).toEqual([phone]);
    expect(await isSmsAllowed(store, phone)).toBe(true);
    expect((await consentHistory(store, phone)).map((e) => e.action)).toEqual(['confirmed', 'stopped', 'started']);
  });

  it.each([
    ['no signature', { signature: null }],
    ['a signature for another URL (the Host header)', { signWith: { url: 'http://127.0.0.1/webhooks/twilio/sms' } }],
    ['a signature under another token', { signWith: { token: 'not-the-token' } }],
    ['a garbage signature', { signature: 'AAAA' }],
  ] as const)('refuses STOP with 403 and changes nothing when it has %s', async (_name, options) => {
    const phone = number();
    await subscribed('WM-F1', phone);
    const before = await snapshot();
    const res = await post('/webhooks/twilio/sms', inbound(phone, 'STOP'), options);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text).error.code).toBe('ERR_WEBHOOK_SIGNATURE');
    expect(await snapshot()).toEqual(before);
    expect(await isSmsAllowed(store, phone)).toBe(true);
    expect(
      await metrics.value('alerting_webhook_requests_total', { route: 'sms', outcome: 'forbidden' }),
    ).toBeGreaterThan(0);
  });

  it('refuses with 403 and changes nothing when a signed parameter is tampered with', async () => {
    const phone = number();
    const victim = number();
    await subscribed('WM-F2', victim);
    const params = inbound(phone, 'STOP');
    const signature = sign(AUTH_TOKEN, `${PUBLIC_URL}/webhooks/twilio/sms`, params);
    const before = await snapshot();
    const res = await post('/webhooks/twilio/sms', { ...params, From: victim }, { signature });
    expect(res.status).toBe(403);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a status callback with 403 and records nothing when its signature is wrong', async () => {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const before = await snapshot();
    const res = await post(
      '/webhooks/twilio/status',
      { MessageSid: sid, MessageStatus: 'delivered' },
      { signWith: { token: 'x' } },
    );
    expect(res.status).toBe(403);
    expect(await snapshot()).toEqual(before);
  });

  it('confirms a pending subscription when the resident replies with its code', async () => {
    const phone = number();
    const added = await createSubscriptions(store, { clock }).add({
      deviceId: 'WM-C1',
      channel: 'sms',
      address: phone,
    });
    expect(added.status).toBe('pending');
    expect(added.confirmation?.message).toMatchObject({ channel: 'sms', to: phone });
    expect(await createSubscriptions(store).forDevice('WM-C1')).toEqual([]);
    const code = added.confirmation?.code as string;
    const params = inbound(phone, ` ${code} `);
    const res = await post('/webhooks/twilio/sms', params);
    expect(res.text).toContain('confirm');
    expect(res.text).toContain('WM-C1');
    expect((await createSubscriptions(store).forDevice('WM-C1')).map((s) => s.address)).toEqual([phone]);
    expect((await consentHistory(store, phone)).at(-1)).toMatchObject({
      action: 'confirmed',
      source: 'sms',
      messageSid: params.MessageSid,
      deviceId: 'WM-C1',
    });
  });

  it('counts wrong codes and refuses the right one after five wrong tries', async () => {
    const phone = number();
    const added = await createSubscriptions(store, { clock }).add({
      deviceId: 'WM-C2',
      channel: 'sms',
      address: phone,
    });
    const code = added.confirmation?.code as string;
    const wrong = code === '000000' ? '111111' : '000000';
    for (let i = 1; i <= MAX_CONFIRMATION_ATTEMPTS; i++) {
      const res = await post('/webhooks/twilio/sms', inbound(phone, wrong));
      expect(res.text).toContain('code incorrect');
      if (i < MAX_CONFIRMATION_ATTEMPTS) expect(res.text).toContain(`${MAX_CONFIRMATION_ATTEMPTS - i} essai`);
    }
    const res = await post('/webhooks/twilio/sms', inbound(phone, code));
    expect(res.text).toContain('aucun code en attente');
    expect(await createSubscriptions(store).forDevice('WM-C2')).toEqual([]);
  });

  it('refuses a code once 24 hours have passed', async () => {
    const phone = number();
    const added = await createSubscriptions(store, { clock }).add({
      deviceId: 'WM-C3',
      channel: 'sms',
      address: phone,
    });
    clock.advance(24 * 3_600_000);
    const res = await post('/webhooks/twilio/sms', inbound(phone, added.confirmation?.code as string));
    expect(res.text).toContain('aucun code en attente');
    expect(await createSubscriptions(store).forDevice('WM-C3')).toEqual([]);
  });

  it('answers a short helpful reply in French, or in English when the number subscribed in English', async () => {
    const fr = number();
    const en = number();
    await subscribed('WM-H1', fr, 'fr');
    await subscribed('WM-H1', en, 'en');
    const frReply = await post('/webhooks/twilio/sms', inbound(fr, 'Bonjour, ma fuite est réparée'));
    expect(frReply.text).toContain('ne lit pas les messages');
    expect(frReply.text).toContain('03 89 00 00 00');
    const enReply = await post('/webhooks/twilio/sms', inbound(en, 'Hello?'));
    expect(enReply.text).toContain('does not read messages');
    expect(await metrics.value('alerting_inbound_sms_total', { intent: 'other' })).toBeGreaterThanOrEqual(2);
  });

  it('sends no reply to a stopped number when it writes anything but START', async () => {
    const phone = number();
    await subscribed('WM-H2', phone);
    await post('/webhooks/twilio/sms', inbound(phone, 'STOP'));
    const res = await post('/webhooks/twilio/sms', inbound(phone, 'pourquoi ?'));
    expect(res.status).toBe(200);
    expect(res.text).not.toContain('<Message>');
  });

  it('answers 400 and changes nothing when a signed request lacks From', async () => {
    const before = await snapshot();
    const res = await post('/webhooks/twilio/sms', { Body: 'STOP' });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text).error.code).toBe('ERR_WEBHOOK_INVALID');
    expect(await snapshot()).toEqual(before);
  });

  it('appends delivery statuses to the history and keeps the furthest on the delivery row when callbacks come out of order', async () => {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const key = `WM-D1:leak:1:open:sms:${number()}`;
    await store.query(
      `INSERT INTO alerting_deliveries (idempotency_key, alert_id, transition_state, channel, recipient, locale,
         status, attempts, provider_message_id, message, source)
       VALUES ($1, 'WM-D1:leak:1', 'open', 'sms', '+33600000000', 'fr', 'sent', 1, $2, '{}'::jsonb, '{}'::jsonb)`,
      [key, sid],
    );
    for (const status of ['queued', 'sent', 'delivered', 'sent', 'delivered']) {
      const res = await post('/webhooks/twilio/status', {
        AccountSid: `AC${'1'.repeat(32)}`,
        MessageSid: sid,
        MessageStatus: status,
        To: '+33600000000',
      });
      expect(res.status).toBe(204);
    }
    expect((await deliveryStatusHistory(store, sid)).map((h) => h.status)).toEqual(['queued', 'sent', 'delivered']);
    const row = await store.query<{ provider_status: string }>(
      'SELECT provider_status FROM alerting_deliveries WHERE idempotency_key = $1',
      [key],
    );
    expect(row.rows[0]?.provider_status).toBe('delivered');
  });

  it('records a failed status with its error code when the message is not one of ours yet', async () => {
    const sid = `SM${randomBytes(16).toString('hex')}`;
    const res = await post('/webhooks/twilio/status', {
      MessageSid: sid,
      MessageStatus: 'undelivered',
      ErrorCode: '30003',
    });
    expect(res.status).toBe(204);
    expect(await deliveryStatusHistory(store, sid)).toEqual([
      expect.objectContaining({ status: 'undelivered', errorCode: '30003' }),
    ]);
  });

  it('answers 400 when a signed status callback has no valid MessageSid', async () => {
    const res = await post('/webhooks/twilio/status', { MessageSid: 'nope', MessageStatus: 'sent' });
    expect(res.status).toBe(400);
  });
});

describe('twilio webhooks, forwarding to the services', () => {
  it('hands an MMS with its photos to the services, without a reply, and still handles STOP itself', async () => {
    const store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
    const forwarded: InboundSms[] = [];
    const app = Fastify();
    await app.register(twilioWebhooks, {
      store,
      authToken: AUTH_TOKEN,
      publicUrl: PUBLIC_URL,
      metrics: new Metrics(),
      logger: silentLogger(),
      forward: async (sms) => {
        forwarded.push(InboundSms.parse(sms));
      },
    });
    onTestFinished(async () => {
      await app.close();
      await store.close();
    });
    const params = {
      AccountSid: `AC${'1'.repeat(32)}`,
      MessageSid: `MM${'a'.repeat(32)}`,
      From: '+33611223344',
      To: '36000',
      Body: 'Nid de poule rue du Sauvage',
      NumMedia: '2',
      MediaUrl0: 'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1',
      MediaContentType0: 'image/jpeg',
      MediaUrl1: 'https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2',
      MediaContentType1: 'image/png',
    };
    const post = (p: Record<string, string>) =>
      app.inject({
        method: 'POST',
        url: '/webhooks/twilio/sms',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-twilio-signature': sign(AUTH_TOKEN, `${PUBLIC_URL}/webhooks/twilio/sms`, p),
        },
        payload: new URLSearchParams(p).toString(),
      });
    const res = await post(params);
    expect(res.statusCode).toBe(200);
    expect(res.body).not.toContain('<Message>');
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]).toMatchObject({
      messageSid: params.MessageSid,
      from: '+33611223344',
      to: '36000',
      body: 'Nid de poule rue du Sauvage',
      media: [
        { url: params.MediaUrl0, contentType: 'image/jpeg' },
        { url: params.MediaUrl1, contentType: 'image/png' },
      ],
    });
    const stop = await post({ ...params, MessageSid: `SM${'b'.repeat(32)}`, Body: 'STOP', NumMedia: '0' });
    expect(stop.body).toContain('<Message>');
    expect(forwarded).toHaveLength(1);
  });
});
