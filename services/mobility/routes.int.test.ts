import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { httpConfigSchema, httpMigrations, type RunningHttp, startHttp } from '../../services/http/index.ts';
import { invoiceNumber } from './billing.ts';
import { mobilityConfigSchema } from './config.ts';
import { createMobility, type Mobility, mobilityMigrations, mobilityRoutes } from './index.ts';
import { parseUsage } from './usage.ts';

const T0 = Date.parse('2026-09-15T10:00:00Z');

/** One server for the file (PGlite takes seconds to open). */
let store: SqlStore;
let bus: Bus;
let http: RunningHttp;
let mobility: Mobility;
const clock = new ManualClock(T0);
const token = { viewer: '', operator: '', admin: '' };

beforeAll(async () => {
  store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations, mobilityMigrations]);
  bus = createMemoryBus();
  const metrics = new Metrics();
  mobility = createMobility({
    store,
    bus,
    clock,
    logger: silentLogger(),
    metrics,
    timeZone: 'Europe/Paris',
    config: mobilityConfigSchema.parse({ billingEnabled: false }),
  });
  http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics,
    plugins: [mobilityRoutes({ store, clock })],
  });
  token.viewer = (await http.app.operatorTokens.create('vera', 'viewer')).token;
  token.operator = (await http.app.operatorTokens.create('otto', 'operator')).token;
  token.admin = (await http.app.operatorTokens.create('ada', 'admin')).token;
});
afterAll(async () => {
  await http?.close();
  await mobility?.close();
  await bus?.close();
  await store?.close();
});

type Who = keyof typeof token | 'nobody';
type Json = Record<string, unknown> & { error?: { code: string; message: string; issues?: Array<{ path: string }> } };

async function call(who: Who, method: 'GET' | 'POST', path: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (who !== 'nobody') headers.authorization = `Bearer ${token[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${http.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

const NEW = { accountId: 'acc-r1', name: 'Jeanne Martin', email: 'Jeanne@Example.org', phone: '06 12 34 56 78' };

describe('mobility routes', () => {
  it('creates an account for an admin and refuses anyone else, a duplicate id and a bad body', async () => {
    expect((await call('nobody', 'POST', '/api/mobility/accounts', NEW)).status).toBe(401);
    const forbidden = await call('operator', 'POST', '/api/mobility/accounts', NEW);
    expect([forbidden.status, forbidden.body.error?.code]).toEqual([403, 'ERR_HTTP_FORBIDDEN']);

    const created = await call('admin', 'POST', '/api/mobility/accounts', NEW);
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      accountId: 'acc-r1',
      name: 'Jeanne Martin',
      email: 'jeanne@example.org',
      phone: '+33612345678',
      locale: 'fr',
      status: 'active',
      createdAt: new Date(T0).toISOString(),
      createdBy: 'ada',
      closedAt: null,
      closedBy: null,
      closeReason: null,
    });
    const again = await call('admin', 'POST', '/api/mobility/accounts', NEW);
    expect([again.status, again.body.error?.code]).toEqual([409, 'ERR_MOBILITY_ACCOUNT_CONFLICT']);

    const generated = await call('admin', 'POST', '/api/mobility/accounts', { name: 'Sam', email: 's@example.org' });
    expect(generated.status).toBe(201);
    expect(generated.body.accountId).toMatch(/^acc-[0-9a-f]{12}$/);

    const bad = await call('admin', 'POST', '/api/mobility/accounts', {
      accountId: 'no spaces',
      name: '',
      email: 'not-an-email',
      phone: '12',
      locale: 'de',
      extra: 1,
    });
    expect([bad.status, bad.body.error?.code]).toEqual([400, 'ERR_HTTP_VALIDATION']);
    expect(new Set(bad.body.error?.issues?.map((i) => i.path))).toEqual(
      new Set(['body.accountId', 'body.name', 'body.email', 'body.phone', 'body.locale', 'body']),
    );
  });

  it('shows an account with its contact masked for a viewer and in full for an operator, and 404 for an unknown one', async () => {
    const viewer = await call('viewer', 'GET', '/api/mobility/accounts/acc-r1');
    expect(viewer.status).toBe(200);
    expect(viewer.body).toMatchObject({ email: 'j•••@example.org', phone: '+336•••••78' });
    expect((await call('operator', 'GET', '/api/mobility/accounts/acc-r1')).body).toMatchObject({
      email: 'jeanne@example.org',
      phone: '+33612345678',
    });
    expect((await call('nobody', 'GET', '/api/mobility/accounts/acc-r1')).status).toBe(401);
    const missing = await call('viewer', 'GET', '/api/mobility/accounts/acc-none');
    expect([missing.status, missing.body.error?.code]).toEqual([404, 'ERR_MOBILITY_ACCOUNT_NOT_FOUND']);
  });

  it('lists an account’s invoices and shows one invoice to a viewer once the month is billed', async () => {
    await mobility.store.insertUsage(
      parseUsage({
        usageId: 'r-1',
        accountId: 'acc-r1',
        kind: 'transit-validation',
        startedAt: '2026-09-20T08:00:00+02:00',
        details: { line: 'A' },
      }),
      clock.nowMs(),
    );
    clock.set(Date.parse('2026-10-01T04:00:00Z'));
    expect(await mobility.runBilling('2026-09')).toMatchObject({ outcome: 'ran', invoices: 2, emails: 1 });
    const number = (await mobility.store.invoicesOf('acc-r1', 1))[0]?.invoiceNumber as string;
    expect(number).toMatch(/^MOB-2026-00000[12]$/);

    const list = await call('viewer', 'GET', '/api/mobility/accounts/acc-r1/invoices');
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      accountId: 'acc-r1',
      invoices: [
        {
          invoiceNumber: number,
          month: '2026-09',
          totalCents: 150,
          issuedAt: '2026-10-01T04:00:00.000Z',
          email: 'queued',
        },
      ],
    });
    const one = await call('viewer', 'GET', `/api/mobility/invoices/${number}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      invoiceNumber: number,
      accountId: 'acc-r1',
      month: '2026-09',
      timeZone: 'Europe/Paris',
      totalCents: 150,
      lines: [{ date: '2026-09-20', time: '08:00', type: 'usage', usageId: 'r-1', amountCents: 150 }],
      usage: { received: 1, billed: 1 },
      email: 'queued',
    });
  });

  it('refuses invoice reads without a token, for an unknown account or invoice, and with a malformed number', async () => {
    const number = invoiceNumber(2026, 1);
    expect((await call('nobody', 'GET', '/api/mobility/accounts/acc-r1/invoices')).status).toBe(401);
    expect((await call('nobody', 'GET', `/api/mobility/invoices/${number}`)).status).toBe(401);
    const noAccount = await call('viewer', 'GET', '/api/mobility/accounts/acc-none/invoices');
    expect([noAccount.status, noAccount.body.error?.code]).toEqual([404, 'ERR_MOBILITY_ACCOUNT_NOT_FOUND']);
    const noInvoice = await call('viewer', 'GET', `/api/mobility/invoices/${invoiceNumber(2026, 999)}`);
    expect([noInvoice.status, noInvoice.body.error?.code]).toEqual([404, 'ERR_MOBILITY_INVOICE_NOT_FOUND']);
    const malformed = await call('viewer', 'GET', '/api/mobility/invoices/INV-1');
    expect([malformed.status, malformed.body.error?.issues?.[0]?.path]).toEqual([400, 'params.number']);
    const badLimit = await call('viewer', 'GET', '/api/mobility/accounts/acc-r1/invoices?limit=0');
    expect([badLimit.status, badLimit.body.error?.issues?.[0]?.path]).toEqual([400, 'querystring.limit']);
  });
});
