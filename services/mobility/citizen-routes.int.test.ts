import { describe, expect, it } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { httpMigrations } from '../http/index.ts';
import { residentsMigrations } from '../residents/index.ts';
import { startResidentsServer } from '../residents/test-helpers.ts';
import { mobilityCitizenRoutes } from './citizen-routes.ts';
import { mobilityMigrations } from './index.ts';
import { createAccount, mobilityOn, produceUsage } from './test-env.ts';

const NOW_MS = Date.parse('2026-11-02T08:00:00Z');
const POLL = { timeout: 10_000, interval: 20 };

describe('a citizen’s own mobility account', () => {
  it('shows the accounts of the signed-in phone or email and their invoices, and no one else’s', async () => {
    const store = await openTestStore('pglite', [
      alertingMigrations,
      residentsMigrations,
      httpMigrations,
      mobilityMigrations,
    ]);
    // The accounts exist from 1 October; October is billed in November.
    const clock = new ManualClock(Date.parse('2026-10-01T06:00:00Z'));
    const bus = createMemoryBus();
    const { mobility, metrics } = mobilityOn(store, bus, clock);
    await createAccount(mobility, 'acc-lea', { phone: '+33611223344', email: 'lea@example.org' });
    await createAccount(mobility, 'acc-tom', { email: 'Tom@Example.org' });
    await mobility.start();
    await produceUsage(bus, [
      {
        usageId: 'v-1',
        accountId: 'acc-lea',
        kind: 'transit-validation',
        startedAt: '2026-10-05T07:30:00+02:00',
        details: { line: 'A' },
      },
      {
        usageId: 'v-2',
        accountId: 'acc-tom',
        kind: 'transit-validation',
        startedAt: '2026-10-06T07:30:00+02:00',
        details: { line: '2' },
      },
    ]);
    await expect.poll(() => metrics.value('mobility_usage_events_total', { outcome: 'stored' }), POLL).toBe(2);
    clock.set(NOW_MS);
    expect((await mobility.runBilling('2026-10')).outcome).toBe('ran');

    const web = await startResidentsServer({ store, clock, citizenPlugins: [mobilityCitizenRoutes({ store, clock })] });
    const lea = await web.signIn('+33611223344');
    const tom = await web.signIn('tom@example.org');
    const stranger = await web.signIn('+33699999999');

    const mine = await web.call('GET', '/api/me/mobility', { as: lea });
    expect(mine.status).toBe(200);
    expect((mine.body.accounts as Array<{ accountId: string }>).map((a) => a.accountId)).toEqual(['acc-lea']);
    const invoices = mine.body.invoices as Array<{ invoiceNumber: string; month: string; accountId: string }>;
    expect(invoices).toMatchObject([{ accountId: 'acc-lea', month: '2026-10' }]);
    const number = invoices[0]?.invoiceNumber as string;
    const one = await web.call('GET', `/api/me/mobility/invoices/${number}`, { as: lea });
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ invoiceNumber: number, accountId: 'acc-lea', month: '2026-10' });

    // Signed in by email, case ignored: Tom's account; Léa's invoice is not his, nor the stranger's.
    const his = await web.call('GET', '/api/me/mobility', { as: tom });
    expect((his.body.accounts as Array<{ accountId: string }>).map((a) => a.accountId)).toEqual(['acc-tom']);
    expect((await web.call('GET', `/api/me/mobility/invoices/${number}`, { as: tom })).status).toBe(404);
    expect((await web.call('GET', `/api/me/mobility/invoices/${number}`, { as: stranger })).status).toBe(404);
    expect((await web.call('GET', '/api/me/mobility', { as: stranger })).body).toEqual({ accounts: [], invoices: [] });
    expect((await web.call('GET', '/api/me/mobility')).status).toBe(401);
    expect((await web.call('GET', '/api/me/mobility/invoices/nope', { as: lea })).status).toBe(400);
  });
});
