import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import { Notification, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { httpConfigSchema, httpMigrations, type RunningHttp, startHttp } from '../../services/http/index.ts';
import { parkingConfigSchema } from './config.ts';
import { createParking, type Parking, parkingMigrations } from './index.ts';
import { receiptToken } from './reference.ts';
import { parkingRoutes } from './routes.ts';
import { inboundSms, sendSms } from './test-helpers.ts';

/** Tuesday 10 March 2026, 10:00 in Mulhouse (UTC+1). */
const T0 = Date.parse('2026-03-10T09:00:00.000Z');
const MIN = 60_000;
const DAY = 86_400_000;
const POLL = { timeout: 10_000, interval: 20 };
const SECRET = 'parking-receipt-secret-for-the-tests-0123456789';
const DRIVER = '+33611223344';

/** One server and one service for the file (PGlite takes seconds to open). */
let store: SqlStore;
let bus: Bus;
let http: RunningHttp;
let parking: Parking;
const clock = new ManualClock(T0);
const metrics = new Metrics();
const token = { viewer: '', operator: '' };
const sent: Notification[] = [];
/** The session started by the driver's SMS in beforeAll: its reference and the link of its receipt. */
let reference = '';
let receiptPath = '';

const config = (extra: Record<string, unknown> = {}) =>
  parkingConfigSchema.parse({ receiptLinkSecret: SECRET, sweepIntervalMs: 600_000, ...extra });

async function serve(extra: Record<string, unknown> = {}) {
  return startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics,
    plugins: [parkingRoutes({ store, clock, metrics, config: config(extra), timeZone: 'Europe/Paris' })],
  });
}

beforeAll(async () => {
  store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations, parkingMigrations]);
  bus = createMemoryBus();
  await bus.ensureTopic(TOPICS.notifications);
  await bus.subscribe({
    groupId: 'test-notifications',
    topics: [TOPICS.notifications],
    fromBeginning: true,
    handler: async (ms) => {
      for (const m of ms) sent.push(Notification.parse(JSON.parse(m.value)));
    },
  });
  parking = createParking({
    store,
    bus,
    logger: silentLogger(),
    metrics,
    clock,
    config: config(),
    publicUrl: 'https://vigie.example/',
    timeZone: 'Europe/Paris',
  });
  await parking.start();
  http = await serve({ receiptLookupsPerHourPerIp: 1000 });
  token.viewer = (await http.app.operatorTokens.create('vera', 'viewer')).token;
  token.operator = (await http.app.operatorTokens.create('otto', 'operator')).token;
  await sendSms(bus, inboundSms('PARK rouge AB-123-CD 1h', { from: DRIVER }));
  await vi.waitFor(() => expect(sent).toHaveLength(1), POLL);
  const body = sent[0]?.channel === 'sms' ? sent[0].body : '';
  const link = /https:\/\/vigie\.example(\/p\/([0-9A-Z]{4}-[0-9A-Z]{4})\?k=[A-Za-z0-9_-]{12})/.exec(body);
  receiptPath = link?.[1] as string;
  reference = link?.[2] as string;
});
afterAll(async () => {
  await http?.close();
  await parking?.close();
  await bus?.close();
  await store?.close();
});

type Who = keyof typeof token | 'nobody';
type Json = Record<string, unknown> & { error?: { code: string; message: string } };

async function get(who: Who, path: string, base = http.url, headers: Record<string, string> = {}) {
  if (who !== 'nobody') headers.authorization = `Bearer ${token[who]}`;
  const res = await fetch(`${base}${path}`, { headers });
  const type = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    type,
    body: (type.includes('json') ? await res.json() : await res.text()) as Json,
  };
}

describe('parking routes', () => {
  it('answers paid for a plate with a running session and unpaid for another when an officer checks', async () => {
    clock.set(T0 + 30 * MIN);
    const paid = await get('viewer', '/api/parking/check?plate=ab123cd&zone=red');
    expect(paid).toMatchObject({
      status: 200,
      body: {
        plate: 'AB-123-CD',
        zone: 'rouge',
        paid: true,
        session: { reference, endsAt: new Date(T0 + 60 * MIN).toISOString(), source: 'sms' },
        paymentRequiredNow: true,
      },
    });
    expect((await get('viewer', '/api/parking/check?plate=ZZ-999-ZZ&zone=rouge')).body).toEqual({
      plate: 'ZZ-999-ZZ',
      zone: 'rouge',
      paid: false,
      paymentRequiredNow: true,
      at: new Date(T0 + 30 * MIN).toISOString(),
    });
    // Paid in rouge is not paid in orange; after its end it is not paid either.
    expect((await get('viewer', '/api/parking/check?plate=AB-123-CD&zone=orange')).body.paid).toBe(false);
    clock.set(T0 + 60 * MIN);
    expect((await get('viewer', '/api/parking/check?plate=AB-123-CD&zone=rouge')).body.paid).toBe(false);
    // Sunday: nothing to pay.
    clock.set(Date.parse('2026-03-15T10:00:00Z'));
    expect((await get('viewer', '/api/parking/check?plate=AB-123-CD&zone=rouge')).body.paymentRequiredNow).toBe(false);
    clock.set(T0);
  });

  it('refuses a check without a token, with an unknown zone, or with a bad plate', async () => {
    expect((await get('nobody', '/api/parking/check?plate=AB-123-CD&zone=rouge')).status).toBe(401);
    const zone = await get('viewer', '/api/parking/check?plate=AB-123-CD&zone=violet');
    expect(zone).toMatchObject({ status: 400, body: { error: { code: 'ERR_PARKING_QUERY_INVALID' } } });
    const plate = await get('viewer', '/api/parking/check?plate=ABCDEF&zone=rouge');
    expect(plate).toMatchObject({ status: 400, body: { error: { code: 'ERR_PARKING_PLATE_INVALID' } } });
  });

  it('lists sessions with the phone masked for a viewer and whole for an operator', async () => {
    const viewer = await get('viewer', '/api/parking/sessions?plate=ab-123-cd&status=running');
    expect(viewer.status).toBe(200);
    expect(viewer.body.sessions).toEqual([
      {
        reference,
        plate: 'AB-123-CD',
        zone: 'rouge',
        phone: '+336•••••44',
        startsAt: new Date(T0).toISOString(),
        endsAt: new Date(T0 + 60 * MIN).toISOString(),
        paidMinutes: 60,
        amountCents: 240,
        status: 'running',
        source: 'sms',
        deviceId: null,
      },
    ]);
    const operator = await get('operator', '/api/parking/sessions?zone=rouge');
    expect((operator.body.sessions as Array<{ phone: string }>)[0]?.phone).toBe(DRIVER);
    expect((await get('viewer', '/api/parking/sessions?zone=orange')).body.sessions).toEqual([]);
  });

  it('shows the receipt to whoever holds its link, as JSON or a page, until the link expires', async () => {
    const json = await get('nobody', receiptPath);
    expect(json).toMatchObject({
      status: 200,
      body: { reference, plate: 'AB-123-CD', zone: 'rouge', amountCents: 240, status: 'running', validNow: true },
    });
    const page = await get('nobody', receiptPath, http.url, { accept: 'text/html' });
    expect(page.status).toBe(200);
    expect(page.type).toContain('text/html');
    expect(page.body).toContain(`<td>${reference}</td>`);
    expect(page.body).toContain('<td>2,40 €</td>');
    // Lower case and without the dash reads the same reference.
    expect((await get('nobody', receiptPath.replace(reference, reference.toLowerCase().replace('-', '')))).status).toBe(
      200,
    );
    // 90 days after the end: gone, like an unknown one.
    clock.set(T0 + 60 * MIN + 90 * DAY + MIN);
    const expired = await get('nobody', receiptPath);
    clock.set(T0);
    expect(expired).toMatchObject({ status: 404, body: { error: { code: 'ERR_PARKING_RECEIPT_NOT_FOUND' } } });
  });

  it('answers the same 404 for a wrong token, a token of another reference and an unknown reference', async () => {
    const wrong = await get('nobody', `/p/${reference}?k=AAAAAAAAAAAA`);
    const none = await get('nobody', `/p/${reference}`);
    const other = '0000-0000';
    const unknown = await get('nobody', `/p/${other}?k=${receiptToken(SECRET, other)}`);
    const garbage = await get('nobody', '/p/not-a-reference?k=x');
    for (const res of [wrong, none, unknown, garbage]) {
      expect(res).toMatchObject({ status: 404, body: { error: { code: 'ERR_PARKING_RECEIPT_NOT_FOUND' } } });
    }
    expect(new Set([wrong, none, unknown, garbage].map((r) => r.body.error?.message)).size).toBe(1);
  });

  it('limits receipt look-ups per IP address with 429 when there are too many', async () => {
    // Counts are kept in the store, shared by every server on it: start from none (the other tests looked up too).
    await store.query('DELETE FROM http_rate_limits');
    const limited = await serve({ receiptLookupsPerHourPerIp: 2 });
    try {
      expect((await get('nobody', receiptPath, limited.url)).status).toBe(200);
      expect((await get('nobody', '/p/0000-0000?k=x', limited.url)).status).toBe(404);
      const third = await get('nobody', receiptPath, limited.url);
      expect(third).toMatchObject({ status: 429, body: { error: { code: 'ERR_PARKING_RATE_LIMITED' } } });
    } finally {
      await limited.close();
    }
  });
});
