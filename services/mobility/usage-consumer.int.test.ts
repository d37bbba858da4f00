import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { collectDeadLetters, createAccount, mobilityOn, openTestStore, produceUsage } from './test-env.ts';
import type { UsageEventInput } from './usage.ts';

const POLL = { timeout: 10_000, interval: 20 };
const NOW_MS = Date.parse('2026-10-02T08:00:00Z');

const ride = (usageId: string, extra: Partial<UsageEventInput> = {}): UsageEventInput =>
  ({
    usageId,
    accountId: 'acc-a',
    kind: 'transit-validation',
    startedAt: '2026-10-01T07:30:00+02:00',
    details: { line: 'A' },
    ...extra,
  }) as UsageEventInput;

describe('mobility usage consumer', () => {
  it('stores each usage once and dead-letters invalid, unknown-account and conflicting events with their reason', async () => {
    const store = await openTestStore('pglite');
    const bus = createMemoryBus();
    const clock = new ManualClock(NOW_MS);
    const { mobility, metrics } = mobilityOn(store, bus, clock);
    const letters = await collectDeadLetters(bus);
    await createAccount(mobility, 'acc-a');
    // September is already being billed: a September usage arriving now is late.
    expect((await mobility.runBilling('2026-09')).outcome).toBe('ran');
    await mobility.start();

    const notJson = '{"usageId": "x-1",';
    const badBike = {
      usageId: 'x-2',
      accountId: 'acc-a',
      kind: 'bike-rental',
      startedAt: '2026-10-01T10:00:00+02:00',
      endedAt: '2026-10-01T09:00:00+02:00',
      details: {},
    };
    await produceUsage(bus, [
      ride('u-1'),
      ride('u-1'), // the same copy again: counted, nothing stored twice
      ride('u-1', { details: { line: 'B' } }), // the same id, other content: a producer bug
      notJson,
      JSON.stringify(badBike),
      ride('u-2', { accountId: 'acc-nobody' }),
      ride('u-3', { startedAt: '2026-09-30T23:30:00+02:00' }), // September, local: late
    ]);

    const outcome = (o: string) => metrics.value('mobility_usage_events_total', { outcome: o });
    await expect
      .poll(
        async () => [
          await outcome('stored'),
          await outcome('duplicate'),
          await outcome('conflict'),
          await outcome('invalid'),
          await outcome('unknown-account'),
          await outcome('late'),
        ],
        POLL,
      )
      .toEqual([1, 1, 1, 2, 1, 1]);
    await expect.poll(() => letters.length, POLL).toBe(4);

    const rows = await store.query<{ usage_id: string; details: unknown }>(
      'SELECT usage_id, details FROM mobility_usage ORDER BY usage_id',
    );
    expect(rows.rows).toEqual([
      { usage_id: 'u-1', details: { line: 'A' } },
      { usage_id: 'u-3', details: { line: 'A' } },
    ]);
    const byCode = letters
      .map((l) => ({
        code: l.errorCode,
        component: l.component,
        topic: l.source.type === 'bus' ? l.source.topic : undefined,
        paths: l.issues.map((i) => i.path),
        raw: Buffer.from(l.rawBase64, 'base64').toString('utf8'),
      }))
      .sort((x, y) => (x.code + x.raw < y.code + y.raw ? -1 : 1));
    expect(byCode).toEqual([
      {
        code: 'ERR_MOBILITY_ACCOUNT_UNKNOWN',
        component: 'mobility',
        topic: 'mobility-usage.v1',
        paths: ['accountId'],
        raw: JSON.stringify(ride('u-2', { accountId: 'acc-nobody' })),
      },
      {
        code: 'ERR_MOBILITY_USAGE_CONFLICT',
        component: 'mobility',
        topic: 'mobility-usage.v1',
        paths: ['usageId'],
        raw: JSON.stringify(ride('u-1', { details: { line: 'B' } })),
      },
      {
        code: 'ERR_MOBILITY_USAGE_INVALID',
        component: 'mobility',
        topic: 'mobility-usage.v1',
        paths: [],
        raw: notJson,
      },
      {
        code: 'ERR_MOBILITY_USAGE_INVALID',
        component: 'mobility',
        topic: 'mobility-usage.v1',
        paths: ['endedAt'],
        raw: JSON.stringify(badBike),
      },
    ]);
  });

  it('counts a replayed usage once and bills it once when the bus redelivers it after the month was billed', async () => {
    const store = await openTestStore('pglite');
    const bus = createMemoryBus();
    const clock = new ManualClock(NOW_MS);
    const { mobility, metrics } = mobilityOn(store, bus, clock);
    await createAccount(mobility, 'acc-a');
    await mobility.start();
    await produceUsage(bus, [ride('u-1')]);
    await expect.poll(() => metrics.value('mobility_usage_events_total', { outcome: 'stored' }), POLL).toBe(1);
    clock.set(Date.parse('2026-11-01T05:00:00Z'));
    expect(await mobility.runBillingAt(clock.nowMs())).toMatchObject({ month: '2026-10', invoices: 1, emails: 1 });
    // The producer sends it again (a retry): a duplicate, not a late usage, and the invoice is unchanged.
    await produceUsage(bus, [ride('u-1')]);
    await expect.poll(() => metrics.value('mobility_usage_events_total', { outcome: 'duplicate' }), POLL).toBe(1);
    expect(await metrics.value('mobility_usage_events_total', { outcome: 'late' })).toBe(0);
    const totals = await store.query<{ total_cents: number }>('SELECT total_cents FROM mobility_invoices');
    expect(totals.rows).toEqual([{ total_cents: 150 }]);
  });
});
