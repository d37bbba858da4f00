import { afterEach, describe, expect, inject, it, vi } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { billMonth, invoiceNumber } from './billing.ts';
import { mobilityMigrations } from './index.ts';
import { DEFAULT_TARIFFS } from './tariffs.ts';
import { collectNotifications, createAccount, mobilityOn, openTestStore, produceUsage } from './test-env.ts';
import { parseUsage, type UsageEventInput } from './usage.ts';

const POLL = { timeout: 10_000, interval: 20 };
const SETUP_AT_MS = Date.parse('2026-09-15T10:00:00Z');
/** 06:00 in Paris (CET) on 1 November 2026: the cron's instant; the month billed is October. */
const RUN_AT_MS = Date.parse('2026-11-01T05:00:00Z');

/** Account acc-a's October, hand-computed with the example tariffs: 1,50 + 0 + 1,00 + 6,72 = 9,22 €. */
const USAGE_A: UsageEventInput[] = [
  // A trip at 08:00 (1,50 €) and a transfer 30 min later (free).
  {
    usageId: 'a-1',
    accountId: 'acc-a',
    kind: 'transit-validation',
    startedAt: '2026-10-05T08:00:00+02:00',
    details: { line: 'A' },
  },
  {
    usageId: 'a-2',
    accountId: 'acc-a',
    kind: 'transit-validation',
    startedAt: '2026-10-05T08:30:00+02:00',
    details: { line: 'B' },
  },
  // 45 min of bike: 30 free, then one started block of 30 min: 1,00 €.
  {
    usageId: 'a-3',
    accountId: 'acc-a',
    kind: 'bike-rental',
    startedAt: '2026-10-06T10:00:00+02:00',
    endedAt: '2026-10-06T10:45:00+02:00',
    details: {},
  },
  // Car share from 23:30 on 31 October (CET, after the clock change) to 00:30: billed in October, on its start day.
  // 4 blocks of 15 min × 0,75 + 12,4 km × 0,30 = 3,00 + 3,72 = 6,72 €.
  {
    usageId: 'a-4',
    accountId: 'acc-a',
    kind: 'car-share-trip',
    startedAt: '2026-10-31T23:30:00+01:00',
    endedAt: '2026-11-01T00:30:00+01:00',
    details: { km: 12.4 },
  },
  // 00:15 on 1 November local (23:15Z on the 31st): November's, not on October's invoice.
  {
    usageId: 'a-5',
    accountId: 'acc-a',
    kind: 'transit-validation',
    startedAt: '2026-10-31T23:15:00Z',
    details: { line: 'C' },
  },
];
const USAGE_B: UsageEventInput[] = [
  {
    usageId: 'b-1',
    accountId: 'acc-b',
    kind: 'parking-session',
    startedAt: '2026-10-10T14:00:00+02:00',
    endedAt: '2026-10-10T16:00:00+02:00',
    details: { zone: 'Centre', amountCents: 250 },
  },
];

afterEach(() => {
  vi.useRealTimers();
});

describe('mobility billing across instances on postgres', () => {
  it('issues exactly one invoice per account and one email per invoice when two instances bill the same month at once', async () => {
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [mobilityMigrations]);
    const bus = createMemoryBus();
    const clock = new ManualClock(SETUP_AT_MS);
    const a = mobilityOn(storeA, bus, clock, { instanceId: 'mobility-a' });
    const b = mobilityOn(storeB, bus, clock, { instanceId: 'mobility-b' });
    const notifications = await collectNotifications(bus);
    await createAccount(a.mobility, 'acc-a');
    await createAccount(a.mobility, 'acc-b', { locale: 'en', name: 'Bea' });
    await createAccount(b.mobility, 'acc-c'); // active, no usage in October
    await a.mobility.start();
    await b.mobility.start();
    await produceUsage(bus, [...USAGE_A, ...USAGE_B]);
    await expect
      .poll(async () => (await storeA.query('SELECT 1 FROM mobility_usage')).rowCount, POLL)
      .toBe(USAGE_A.length + USAGE_B.length);
    clock.set(RUN_AT_MS - 3_600_000);
    await createAccount(b.mobility, 'acc-d'); // opened after October ended: no October invoice

    // 1. Both instances run the schedule's job at the same instant: one runs October, the other skips it.
    clock.set(RUN_AT_MS);
    const outcomes = await Promise.all([a.mobility.runBillingAt(RUN_AT_MS), b.mobility.runBillingAt(RUN_AT_MS)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ran', 'skipped']);
    const winner = outcomes.find((o) => o.outcome === 'ran');
    expect(outcomes.map((o) => [o.month, o.ranBy])).toEqual([
      ['2026-10', winner?.instance],
      ['2026-10', winner?.instance],
    ]);
    expect(winner).toMatchObject({ accounts: 3, invoices: 3, emails: 2 });

    // 2. One invoice per account, numbered 1, 2, 3 in the order of issue (one continuous series for 2026, no gap
    //    although two instances ran); the empty month is stored at 0 € and not emailed.
    const invoices = await storeB.query<{ account_id: string; invoice_number: string; total_cents: number }>(
      'SELECT account_id, invoice_number, total_cents FROM mobility_invoices ORDER BY account_id',
    );
    expect(invoices.rows).toEqual([
      { account_id: 'acc-a', invoice_number: invoiceNumber(2026, 1), total_cents: 922 },
      { account_id: 'acc-b', invoice_number: invoiceNumber(2026, 2), total_cents: 250 },
      { account_id: 'acc-c', invoice_number: invoiceNumber(2026, 3), total_cents: 0 },
    ]);
    const invoiceA = await b.mobility.store.invoice(invoiceNumber(2026, 1));
    expect(invoiceA?.lines.map((l) => [l.usageId, l.type, l.amountCents])).toEqual([
      ['a-1', 'usage', 150],
      ['a-2', 'transfer', 0],
      ['a-3', 'usage', 100],
      ['a-4', 'usage', 672],
    ]);
    expect(invoiceA).toMatchObject({ timeZone: 'Europe/Paris', tariffId: 'example-2026', email: 'queued' });
    expect((await a.mobility.store.invoice(invoiceNumber(2026, 3)))?.email).toBe('none');

    // 3. One email per invoice with lines, keyed for the alerting delivery log, in the holder's language.
    await expect.poll(() => notifications.length, POLL).toBe(2);
    const byTo = Object.fromEntries(notifications.map((n) => [n.to, n]));
    expect(byTo['acc-a@example.org']).toMatchObject({
      channel: 'email',
      key: `mobility:invoice:${invoiceNumber(2026, 1)}`,
      locale: 'fr',
      subject: 'Votre facture mobilité de octobre 2026 : 9,22 €',
      text: expect.stringContaining('Bonjour Holder acc-a,'),
      html: expect.stringContaining('<table'),
    });
    expect(byTo['acc-b@example.org']).toMatchObject({
      key: `mobility:invoice:${invoiceNumber(2026, 2)}`,
      locale: 'en',
      subject: 'Your mobility invoice for October 2026: €2.50',
    });

    // 4. The run is recorded once; running October again (either instance, any time) does nothing.
    const runs = await storeA.query(
      'SELECT instance, invoices, emails, finished_at IS NOT NULL AS finished FROM mobility_billing_runs',
    );
    expect(runs.rows).toEqual([{ instance: winner?.instance, invoices: 3, emails: 2, finished: true }]);
    expect((await a.mobility.runBilling('2026-10')).outcome).toBe('skipped');
    expect((await b.mobility.runBilling('2026-10')).outcome).toBe('skipped');

    // 5. Even a run that gets past the claim (the row removed by hand) inserts and emails nothing twice.
    await storeA.query('DELETE FROM mobility_billing_runs');
    expect(await b.mobility.runBilling('2026-10')).toMatchObject({ outcome: 'ran', invoices: 0, emails: 0 });
    expect((await storeA.query('SELECT 1 FROM mobility_invoices')).rowCount).toBe(3);

    const sum = async (name: string, labels: Record<string, string> = {}) =>
      (await a.metrics.value(name, labels)) + (await b.metrics.value(name, labels));
    expect(await sum('mobility_invoices_issued_total')).toBe(3);
    expect(await sum('mobility_invoice_emails_total', { outcome: 'queued' })).toBe(2);
    expect(await sum('mobility_billing_runs_total', { outcome: 'skipped' })).toBe(3);
    expect(await sum('mobility_usage_events_total', { outcome: 'stored' })).toBe(6);
    expect(notifications).toHaveLength(2);
  });
});

describe.each(['pglite', 'postgres'] as const)('mobility billing on %s', (engine) => {
  it('refuses to change or delete an issued invoice when asked to by SQL', async () => {
    const store = await openTestStore(engine);
    const { mobility } = mobilityOn(store, createMemoryBus(), new ManualClock(SETUP_AT_MS));
    await createAccount(mobility, 'acc-a');
    expect(await mobility.runBilling('2026-09')).toMatchObject({ outcome: 'ran', invoices: 1, emails: 0 });
    await expect(store.query('UPDATE mobility_invoices SET total_cents = 1')).rejects.toThrow(/never changed/);
    await expect(store.query('DELETE FROM mobility_invoices')).rejects.toThrow(/never changed/);
    expect((await store.query<{ total_cents: number }>('SELECT total_cents FROM mobility_invoices')).rows).toEqual([
      { total_cents: 0 },
    ]);
  });

  it('retakes a claim left unfinished past the claim timeout and leaves a recent or finished one when an instance crashed', async () => {
    const store = await openTestStore(engine);
    const clock = new ManualClock(RUN_AT_MS);
    const { mobility, metrics } = mobilityOn(store, createMemoryBus(), clock, { instanceId: 'mobility-b' });
    await store.query(
      `INSERT INTO mobility_accounts (account_id, name, email, locale, status, created_at, created_by)
       VALUES ('acc-a', 'A', 'a@example.org', 'fr', 'active', '2026-01-01T00:00:00Z', 'test')`,
    );
    const claim = (month: string, startedAtMs: number, finished: boolean) =>
      store.query(
        `INSERT INTO mobility_billing_runs (month, instance, started_at, finished_at) VALUES ($1, 'mobility-a', $2, $3)`,
        [month, new Date(startedAtMs).toISOString(), finished ? new Date(startedAtMs).toISOString() : null],
      );
    // 1. A's claim is 5 minutes old and unfinished: A may still be running it.
    await claim('2026-10', RUN_AT_MS - 5 * 60_000, false);
    expect(await mobility.runBilling('2026-10')).toMatchObject({ outcome: 'skipped', ranBy: 'mobility-a' });
    // 2. Eleven minutes later it is 16 minutes old: A crashed; B takes it over and bills.
    clock.advance(11 * 60_000);
    expect(await mobility.runBilling('2026-10')).toMatchObject({ outcome: 'ran', ranBy: 'mobility-b', invoices: 1 });
    // 3. A finished claim is never taken again, however old.
    await claim('2026-08', RUN_AT_MS - 60 * 86_400_000, true);
    expect(await mobility.runBilling('2026-08')).toMatchObject({ outcome: 'skipped', ranBy: 'mobility-a' });
    expect(await metrics.value('mobility_billing_runs_total', { outcome: 'skipped' })).toBe(2);
  });

  it('counts a failed run, releases its claim and rejects, then bills the month when asked again', async () => {
    const store = await openTestStore(engine);
    const { mobility, metrics } = mobilityOn(store, createMemoryBus(), new ManualClock(SETUP_AT_MS));
    await createAccount(mobility, 'acc-a');
    await store.query('ALTER TABLE mobility_usage RENAME TO mobility_usage_away');
    await expect(mobility.runBilling('2026-09')).rejects.toThrow(/mobility_usage/);
    expect(await metrics.value('mobility_billing_runs_total', { outcome: 'failed' })).toBe(1);
    expect((await store.query('SELECT 1 FROM mobility_billing_runs')).rowCount).toBe(0);
    await store.query('ALTER TABLE mobility_usage_away RENAME TO mobility_usage');
    expect(await mobility.runBilling('2026-09')).toMatchObject({ outcome: 'ran', invoices: 1 });
  });

  it('refuses a malformed month with ERR_MOBILITY_MONTH_INVALID and claims nothing', async () => {
    const store = await openTestStore(engine);
    const { mobility } = mobilityOn(store, createMemoryBus(), new ManualClock(SETUP_AT_MS));
    await expect(mobility.runBilling('2026-13')).rejects.toMatchObject({ code: 'ERR_MOBILITY_MONTH_INVALID' });
    expect((await store.query('SELECT 1 FROM mobility_billing_runs')).rowCount).toBe(0);
  });

  it('produces an email a crashed instance left claimed once the claim is stale, and leaves a recent claim alone', async () => {
    const store = await openTestStore(engine);
    const clock = new ManualClock(SETUP_AT_MS);
    // An instance whose bus goes away mid-run: the invoice is issued, its email claimed but never produced.
    const deadBus = createMemoryBus();
    const crashed = mobilityOn(store, deadBus, clock, { instanceId: 'crashed' });
    await createAccount(crashed.mobility, 'acc-a');
    const usage = parseUsage({ ...USAGE_B[0], accountId: 'acc-a', startedAt: '2026-09-10T14:00:00+02:00' });
    expect(await crashed.mobility.store.insertUsage(usage, clock.nowMs())).toBe('stored');
    await deadBus.close();
    await expect(crashed.mobility.runBilling('2026-09')).rejects.toThrow();
    const number = invoiceNumber(2026, 1);
    expect((await crashed.mobility.store.invoice(number))?.email).toBe('sending');

    const bus = createMemoryBus();
    const live = mobilityOn(store, bus, clock, { instanceId: 'live' });
    const notifications = await collectNotifications(bus);
    expect(await live.mobility.flushEmails()).toBe(0);
    clock.advance(16 * 60_000);
    expect(await live.mobility.flushEmails()).toBe(1);
    await expect.poll(() => notifications.map((n) => n.key), POLL).toEqual([`mobility:invoice:${number}`]);
    expect((await live.mobility.store.invoice(number))?.email).toBe('queued');
    // The month's invoice stays the one the crashed run issued; billing it again adds nothing.
    expect(await live.mobility.runBilling('2026-09')).toMatchObject({ outcome: 'ran', invoices: 0, emails: 0 });
  });
});

describe('mobility billing with node-cron', () => {
  it('bills the previous month from its cron, once, when the cron fires every second', async () => {
    const store = await openTestStore('pglite');
    const { mobility, metrics } = mobilityOn(store, createMemoryBus(), SYSTEM_CLOCK, {
      config: { billingEnabled: true, billingCron: '* * * * * *' },
    });
    await store.query(
      `INSERT INTO mobility_accounts (account_id, name, email, locale, status, created_at, created_by)
       VALUES ('acc-a', 'A', 'a@example.org', 'fr', 'active', '2000-01-01T00:00:00Z', 'test')`,
    );
    await mobility.start();
    const runs = (outcome: string) => metrics.value('mobility_billing_runs_total', { outcome });
    await vi.waitFor(
      async () => {
        expect(await runs('ran')).toBeGreaterThanOrEqual(1);
        expect(await runs('skipped')).toBeGreaterThanOrEqual(1);
      },
      { timeout: 15_000, interval: 100 },
    );
    await mobility.close();
    expect(await runs('failed')).toBe(0);
    const months = await store.query<{ month: string }>('SELECT month FROM mobility_billing_runs');
    expect(await runs('ran')).toBe(months.rowCount);
    expect((await store.query('SELECT 1 FROM mobility_invoices')).rowCount).toBe(months.rowCount);
  });

  it('registers the billing in Europe/Paris so the next run is 06:00 local on the 1st across the clock change', async () => {
    const store = await openTestStore('pglite');
    const { mobility } = mobilityOn(store, createMemoryBus(), SYSTEM_CLOCK, { config: { billingEnabled: true } });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-10-24T10:00:00Z'));
    await mobility.start();
    const next = mobility.nextBillingRun();
    vi.useRealTimers();
    // 06:00 CET on 1 November is 05:00Z (it was 04:00Z in summer time).
    expect(next?.toISOString()).toBe('2026-11-01T05:00:00.000Z');
    await mobility.close();
    expect(mobility.nextBillingRun()).toBeNull();
  });

  it('registers nothing when billing is disabled', async () => {
    const store = await openTestStore('pglite');
    const { mobility } = mobilityOn(store, createMemoryBus(), SYSTEM_CLOCK, { config: { billingEnabled: false } });
    await mobility.start();
    expect(mobility.nextBillingRun()).toBeNull();
  });
});

describe('invoice numbers', () => {
  it('numbers invoices in the order of issue, one series per local year, and spends no number on a month already invoiced', async () => {
    const store = await openTestStore('postgres'); // a pool: the twenty below really run at once
    const clock = new ManualClock(SETUP_AT_MS);
    const { mobility } = mobilityOn(store, createMemoryBus(), clock);
    for (const id of ['acc-a', 'acc-b', 'acc-c']) await createAccount(mobility, id);
    const draft = (accountId: string, month: string) =>
      billMonth([], { accountId }, month, DEFAULT_TARIFFS, 'Europe/Paris');
    const dec1 = Date.parse('2026-12-01T05:00:00Z');
    expect(await mobility.store.issueInvoice(draft('acc-b', '2026-11'), dec1, false)).toBe('MOB-2026-000001');
    expect(await mobility.store.issueInvoice(draft('acc-a', '2026-11'), dec1 + 1, false)).toBe('MOB-2026-000002');
    // Issued again (a second run, a retry): nothing changes, no number spent.
    expect(await mobility.store.issueInvoice(draft('acc-a', '2026-11'), dec1 + 2, false)).toBeUndefined();
    expect(await mobility.store.issueInvoice(draft('acc-c', '2026-11'), dec1 + 3, false)).toBe('MOB-2026-000003');
    // 31 December 23:30 UTC is already 1 January in Mulhouse: December's invoices start the 2027 series.
    const newYear = Date.parse('2026-12-31T23:30:00Z');
    expect(await mobility.store.issueInvoice(draft('acc-a', '2026-12'), newYear, false)).toBe('MOB-2027-000001');
    expect(await mobility.store.issueInvoice(draft('acc-b', '2026-12'), newYear + 1, false)).toBe('MOB-2027-000002');
    // Twenty issued at once: 2027-000003…000022, each once, no gap.
    const accounts = Array.from({ length: 20 }, (_, i) => `acc-p${String(i).padStart(2, '0')}`);
    for (const id of accounts) await createAccount(mobility, id);
    const numbers = await Promise.all(
      accounts.map((id) => mobility.store.issueInvoice(draft(id, '2026-12'), newYear + 10, false)),
    );
    expect([...numbers].sort()).toEqual(Array.from({ length: 20 }, (_, i) => invoiceNumber(2027, i + 3)));
  });
});
