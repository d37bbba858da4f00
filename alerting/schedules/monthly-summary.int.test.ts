import { describe, expect, it } from 'vitest';
import type { SqlStore } from '../../core/store/store.ts';
import { upsertConsumptionDays } from './consumption.ts';
import { runMonthlySummary } from './monthly-summary.ts';
import {
  addSubscriptions,
  consumptionDays,
  openTestStore,
  queued,
  recordAlerts,
  recordDevices,
} from './test-helpers.ts';

const TZ = 'Europe/Paris';
/** 1 November 2026, 09:00 in Paris (UTC+1): the summary of October. */
const AT_MS = Date.parse('2026-11-01T08:00:00Z');
const OPTIONS = { timeZone: TZ, priceEurPerM3: 4.34 };

async function seed(store: SqlStore): Promise<void> {
  await addSubscriptions(store, [
    { deviceId: 'WM-1', channel: 'sms', address: '+33612345678', consent: 'operator' },
    { deviceId: 'WM-1', channel: 'email', address: 'one@example.org', locale: 'en', consent: 'operator' },
    { deviceId: 'WM-2', channel: 'sms', address: '+33698765432', consent: 'operator' },
    // Not summarised: a pending subscription (no consent yet), and a device that is not a water meter.
    { deviceId: 'WM-1', channel: 'sms', address: '+33611111111' },
    { deviceId: 'SL-9', channel: 'sms', address: '+33622222222', consent: 'operator' },
  ]);
  await recordDevices(store, [{ deviceId: 'SL-9', kind: 'streetlight', district: 'north' }]);
  // WM-1: October 31 × 100 L, September 30 × 80 L (and 1 November, not October's); WM-2: September only.
  await upsertConsumptionDays(
    store,
    [
      ...consumptionDays('WM-1', '2026-10', 31, 100),
      ...consumptionDays('WM-1', '2026-09', 30, 80),
      { deviceId: 'WM-1', day: '2026-11-01', consumptionL: 5000, nightMinFlowLph: null },
      ...consumptionDays('WM-2', '2026-09', 30, 90),
    ],
    AT_MS,
  );
  // A leak open during October at WM-1; one resolved before October does not count.
  await recordAlerts(store, [
    {
      deviceId: 'WM-1',
      type: 'leak',
      openedAt: '2026-10-12T03:00:00.000Z',
      resolvedAt: '2026-10-14T03:00:00.000Z',
      details: { estimatedLph: 6 },
    },
    { deviceId: 'WM-1', type: 'leak', openedAt: '2026-09-01T03:00:00.000Z', resolvedAt: '2026-09-02T03:00:00.000Z' },
  ]);
}

describe.each(['pglite', 'postgres'] as const)('monthly summary on %s', (engine) => {
  it('queues an SMS or an email per confirmed meter subscription with hand-checked figures when the month has data', async () => {
    const store = await openTestStore(engine);
    await seed(store);
    expect(await runMonthlySummary(store, '2026-10', AT_MS, OPTIONS)).toEqual({
      month: '2026-10',
      queued: 3,
      subscriptions: 3,
    });
    const rows = await queued(store, 'summary:');
    expect(rows.map((r) => [r.key, r.status, r.purpose, r.locale])).toEqual([
      ['summary:2026-10:email:one@example.org:WM-1', 'scheduled', 'summary', 'en'],
      ['summary:2026-10:sms:+33612345678:WM-1', 'scheduled', 'summary', 'fr'],
      ['summary:2026-10:sms:+33698765432:WM-2', 'scheduled', 'summary', 'fr'],
    ]);
    // 3 100 L = 3,1 m³, 100 L/day against 80 (+25 %), 3,1 × 4,34 = 13,45 €, one leak alert.
    expect(rows[1]?.message).toEqual({
      kind: 'sms',
      to: '+33612345678',
      body: 'Vigie : compteur WM-1, octobre 2026 : 3,1 m3, 100 L/jour (+25 % vs septembre), env. 13,45 €. 1 alerte fuite.',
    });
    expect(rows[0]?.message.subject).toBe('Vigie: your water consumption in October 2026 (meter WM-1)');
    expect(rows[0]?.message.text).toContain('- Consumption: 3.1 m³ (3,100 L)\n');
    expect(rows[0]?.message.text).toContain('- Compared with September 2026: 80 L per day, +25%');
    expect(rows[0]?.message.text).toContain('- Estimated cost: €13.45');
    expect(rows[0]?.message.html).toContain('<li>Leak alerts during the month: 1</li>');
  });

  it('says plainly there is no data when a meter sent nothing during the month', async () => {
    const store = await openTestStore(engine);
    await seed(store);
    await runMonthlySummary(store, '2026-10', AT_MS, OPTIONS);
    const [row] = await queued(store, 'summary:2026-10:sms:+33698765432:WM-2');
    expect(row?.message.body).toBe(
      "Vigie : aucune donnée de consommation n'est arrivée du compteur WM-2 en octobre 2026.",
    );
  });

  it('queues nothing more when the same month runs again', async () => {
    const store = await openTestStore(engine);
    await seed(store);
    await runMonthlySummary(store, '2026-10', AT_MS, OPTIONS);
    expect((await runMonthlySummary(store, '2026-10', AT_MS + 60_000, OPTIONS)).queued).toBe(0);
    expect(await queued(store, 'summary:')).toHaveLength(3);
  });
});

describe('monthly summary paging', () => {
  it('queues one message per subscription when there are more subscriptions than a page holds', async () => {
    const store = await openTestStore('pglite');
    await store.query(
      `INSERT INTO alerting_subscriptions (device_id, channel, address, locale, status)
       SELECT 'WM-' || i, 'sms', '+336' || lpad(i::text, 8, '0'), 'fr', 'confirmed' FROM generate_series(1, 1201) AS i`,
    );
    expect(await runMonthlySummary(store, '2026-10', AT_MS, OPTIONS)).toEqual({
      month: '2026-10',
      queued: 1201,
      subscriptions: 1201,
    });
  });
});
