import { describe, expect, inject, it } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { type ParkingSessionEnded, TOPICS } from '../../core/contracts/index.ts';
import { twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { mobilityMigrations } from './index.ts';
import { collectDeadLetters, createAccount, mobilityOn, openTestStore, produceUsage } from './test-env.ts';
import { parseUsage, type UsageEventInput } from './usage.ts';

const POLL = { timeout: 10_000, interval: 20 };
const OPENED_MS = Date.parse('2026-09-15T10:00:00Z');
/** The close: 10 October 2026, 10:00 in Paris (CEST). */
const CLOSE_MS = Date.parse('2026-10-10T10:00:00+02:00');
/** The monthly runs, 06:00 in Paris on the 1st: October billed on 1 November, November on 1 December. */
const NOV_RUN_MS = Date.parse('2026-11-01T05:00:00Z');
const DEC_RUN_MS = Date.parse('2026-12-01T05:00:00Z');
const JAN_RUN_MS = Date.parse('2027-01-01T05:00:00Z');

const validation = (usageId: string, accountId: string, startedAt: string): UsageEventInput => ({
  usageId,
  accountId,
  kind: 'transit-validation',
  startedAt,
  details: { line: 'A' },
});

/**
 * acc-close's October, hand-computed with the example tariffs: on the 5th a tram trip at 08:00 (1,50 €) and 45 min
 * of bike at 18:00 (30 free, then one started block of 30 min: 1,00 €) = 2,50 €. The trip on the 12th (it would
 * have cost 1,50 €) and the one at the very instant of the close are after it: refused.
 */
const BEFORE_CLOSE: UsageEventInput[] = [
  validation('c-05-tram', 'acc-close', '2026-10-05T08:00:00+02:00'),
  {
    usageId: 'c-05-bike',
    accountId: 'acc-close',
    kind: 'bike-rental',
    startedAt: '2026-10-05T18:00:00+02:00',
    endedAt: '2026-10-05T18:45:00+02:00',
    details: {},
  },
];
const AFTER_CLOSE: UsageEventInput[] = [
  validation('c-12-tram', 'acc-close', '2026-10-12T08:00:00+02:00'),
  validation('c-at-close', 'acc-close', new Date(CLOSE_MS).toISOString()),
];

describe.each(['pglite', 'postgres'] as const)('a closed mobility account on %s', (engine) => {
  it('bills the month of the close once with only the usage started before it, refuses the usage after it, and bills nothing the months after', async () => {
    const store = await openTestStore(engine);
    const bus = createMemoryBus();
    const clock = new ManualClock(OPENED_MS);
    const { mobility, metrics } = mobilityOn(store, bus, clock);
    const letters = await collectDeadLetters(bus);
    await createAccount(mobility, 'acc-close');
    await createAccount(mobility, 'acc-open');
    await mobility.start();

    // 1. Closed on the 10th; the usage of the 5th arrives only after that (the bus delivers late), with the 12th's,
    //    the close instant's, and an October trip of another account.
    clock.set(CLOSE_MS);
    await mobility.store.closeAccount('acc-close', { by: 'otto', reason: 'test' });
    clock.set(Date.parse('2026-10-13T09:00:00Z'));
    await produceUsage(bus, [
      ...BEFORE_CLOSE,
      ...AFTER_CLOSE,
      validation('o-12-tram', 'acc-open', '2026-10-12T08:00:00+02:00'),
    ]);
    const outcome = (o: string) => metrics.value('mobility_usage_events_total', { outcome: o });
    await expect.poll(async () => [await outcome('stored'), await outcome('after-close')], POLL).toEqual([3, 2]);

    // 2. Sent 5 = stored 3 + dead-lettered 2: the refused ones keep their bytes and say why.
    await expect.poll(() => letters.length, POLL).toBe(2);
    expect(
      letters
        .map((l) => ({
          code: l.errorCode,
          paths: l.issues.map((i) => i.path),
          raw: JSON.parse(Buffer.from(l.rawBase64, 'base64').toString('utf8')) as unknown,
        }))
        .sort((x, y) => ((x.raw as UsageEventInput).usageId < (y.raw as UsageEventInput).usageId ? -1 : 1)),
    ).toEqual([
      { code: 'ERR_MOBILITY_USAGE_AFTER_CLOSE', paths: ['startedAt'], raw: AFTER_CLOSE[0] },
      { code: 'ERR_MOBILITY_USAGE_AFTER_CLOSE', paths: ['startedAt'], raw: AFTER_CLOSE[1] },
    ]);
    expect(letters[0]?.message).toContain('closed at 2026-10-10T08:00:00.000Z');
    const stored = await store.query<{ usage_id: string }>('SELECT usage_id FROM mobility_usage ORDER BY usage_id');
    expect(stored.rows.map((r) => r.usage_id)).toEqual(['c-05-bike', 'c-05-tram', 'o-12-tram']);

    // 3. 1 November: October's invoice of the closed account has the 5th only, 2,50 €, and is emailed.
    clock.set(NOV_RUN_MS);
    expect(await mobility.runBillingAt(NOV_RUN_MS)).toMatchObject({
      month: '2026-10',
      outcome: 'ran',
      accounts: 2,
      invoices: 2,
      emails: 2,
    });
    const [october] = await mobility.store.invoicesOf('acc-close', 10);
    const invoice = await mobility.store.invoice(october?.invoiceNumber as string);
    expect(invoice).toMatchObject({ month: '2026-10', totalCents: 250, email: 'queued' });
    expect(invoice?.lines.map((l) => [l.date, l.usageId, l.amountCents])).toEqual([
      ['2026-10-05', 'c-05-tram', 150],
      ['2026-10-05', 'c-05-bike', 100],
    ]);

    // 4. 1 December and 1 January: the open account gets its (0 €) invoices, the closed one nothing.
    for (const [atMs, month] of [
      [DEC_RUN_MS, '2026-11'],
      [JAN_RUN_MS, '2026-12'],
    ] as const) {
      clock.set(atMs);
      expect(await mobility.runBillingAt(atMs)).toMatchObject({ month, outcome: 'ran', accounts: 1, invoices: 1 });
    }
    expect((await mobility.store.invoicesOf('acc-close', 10)).map((i) => [i.month, i.totalCents])).toEqual([
      ['2026-10', 250],
    ]);
    expect((await mobility.store.invoicesOf('acc-open', 10)).map((i) => [i.month, i.totalCents])).toEqual([
      ['2026-12', 0],
      ['2026-11', 0],
      ['2026-10', 150],
    ]);
  });

  it('bills a parking session to the account open when it started: the new one after a close, the closed one for a session from before it', async () => {
    const store = await openTestStore(engine);
    const bus = createMemoryBus();
    const clock = new ManualClock(OPENED_MS);
    const { mobility, metrics } = mobilityOn(store, bus, clock);
    const phone = '+33611223344';
    await createAccount(mobility, 'acc-old', { phone });
    await createAccount(mobility, 'acc-gone', { phone: '+33622334455' });
    await mobility.start();
    // 1. Both closed on the 10th; an hour later the driver opens a new account with the same number.
    clock.set(CLOSE_MS);
    await mobility.store.closeAccount('acc-old', { by: 'citizen' });
    await mobility.store.closeAccount('acc-gone', { by: 'citizen' });
    clock.set(CLOSE_MS + 3_600_000);
    await createAccount(mobility, 'acc-new', { phone });

    // 2. Sessions over: one on the 12th, one of the 8th arriving late, and one on the 12th of the closed-only number.
    const session = (reference: string, number: string, day: string, amountCents: number): ParkingSessionEnded => ({
      reference,
      phone: number,
      plate: 'AB-123-CD',
      zone: 'rouge',
      startedAt: `2026-10-${day}T08:00:00.000Z`,
      endedAt: `2026-10-${day}T09:30:00.000Z`,
      paidMinutes: 90,
      amountCents,
      status: 'ended',
    });
    const sessions = [
      session('NEW1-2345', phone, '12', 360),
      session('PAST-2345', phone, '08', 250),
      session('GNNE-2345', '+33622334455', '12', 180),
    ];
    await bus.produce(
      TOPICS.parkingSessions,
      sessions.map((s) => ({ key: s.phone, value: JSON.stringify(s) })),
    );
    const parked = (o: string) => metrics.value('mobility_parking_sessions_total', { outcome: o });
    await expect.poll(async () => [await parked('billed'), await parked('closed')], POLL).toEqual([2, 1]);
    await expect.poll(() => metrics.value('mobility_usage_events_total', { outcome: 'stored' }), POLL).toBe(2);
    const rows = await store.query<{ usage_id: string; account_id: string }>(
      'SELECT usage_id, account_id FROM mobility_usage ORDER BY usage_id',
    );
    expect(rows.rows).toEqual([
      { usage_id: 'parking:NEW1-2345', account_id: 'acc-new' },
      { usage_id: 'parking:PAST-2345', account_id: 'acc-old' },
    ]);

    // 3. October: each account its own session; the number closed for good gets its month of close at 0 €.
    clock.set(NOV_RUN_MS);
    expect(await mobility.runBillingAt(NOV_RUN_MS)).toMatchObject({ month: '2026-10', invoices: 3 });
    const totals = await store.query<{ account_id: string; total_cents: number }>(
      'SELECT account_id, total_cents FROM mobility_invoices ORDER BY account_id',
    );
    expect(totals.rows).toEqual([
      { account_id: 'acc-gone', total_cents: 0 },
      { account_id: 'acc-new', total_cents: 360 },
      { account_id: 'acc-old', total_cents: 250 },
    ]);
  });
});

describe('a closed mobility account across instances on postgres', () => {
  it('issues the invoice of the month of a close once when two instances run the schedule at once, and none for it the month after', async () => {
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [mobilityMigrations]);
    const bus = createMemoryBus();
    const clock = new ManualClock(OPENED_MS);
    const a = mobilityOn(storeA, bus, clock, { instanceId: 'mobility-a' });
    const b = mobilityOn(storeB, bus, clock, { instanceId: 'mobility-b' });
    await createAccount(a.mobility, 'acc-close');
    await createAccount(a.mobility, 'acc-open');
    for (const event of BEFORE_CLOSE) {
      expect(await a.mobility.store.insertUsage(parseUsage(event), clock.nowMs())).toBe('stored');
    }
    clock.set(CLOSE_MS);
    await b.mobility.store.closeAccount('acc-close', { by: 'otto' });
    // Through either instance's store, the 12th is refused: the account is closed for both.
    expect(await a.mobility.store.insertUsage(parseUsage(AFTER_CLOSE[0] as UsageEventInput), clock.nowMs())).toBe(
      'closed',
    );

    // 1. Both run the schedule's job at the same instant, each month: one runs it, the other skips it.
    for (const atMs of [NOV_RUN_MS, DEC_RUN_MS]) {
      clock.set(atMs);
      const outcomes = await Promise.all([a.mobility.runBillingAt(atMs), b.mobility.runBillingAt(atMs)]);
      expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ran', 'skipped']);
    }
    // 2. Even a run that gets past the claim (the rows removed by hand) issues nothing twice.
    await storeA.query('DELETE FROM mobility_billing_runs');
    expect(await b.mobility.runBilling('2026-10')).toMatchObject({ outcome: 'ran', invoices: 0 });
    expect(await a.mobility.runBilling('2026-11')).toMatchObject({ outcome: 'ran', accounts: 1, invoices: 0 });

    const invoices = await storeB.query<{ account_id: string; month: string; total_cents: number }>(
      'SELECT account_id, month, total_cents FROM mobility_invoices ORDER BY account_id, month',
    );
    expect(invoices.rows).toEqual([
      { account_id: 'acc-close', month: '2026-10', total_cents: 250 },
      { account_id: 'acc-open', month: '2026-10', total_cents: 0 },
      { account_id: 'acc-open', month: '2026-11', total_cents: 0 },
    ]);
  });
});
