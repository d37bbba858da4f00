import { describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { type ParkingSessionEnded, TOPICS } from '../../core/contracts/index.ts';
import { collectDeadLetters, createAccount, mobilityOn, openTestStore } from './test-env.ts';

const POLL = { timeout: 10_000, interval: 20 };
const NOW_MS = Date.parse('2026-10-02T08:00:00Z');

const session = (reference: string, phone: string, extra: Partial<ParkingSessionEnded> = {}): ParkingSessionEnded => ({
  reference,
  phone,
  plate: 'AB-123-CD',
  zone: 'rouge',
  startedAt: '2026-10-01T08:00:00.000Z',
  endedAt: '2026-10-01T09:30:00.000Z',
  paidMinutes: 90,
  amountCents: 360,
  status: 'ended',
  ...extra,
});

describe('parking sessions on the mobility account', () => {
  it('bills an SMS session once on the account with that phone, skips drivers without one, and dead-letters the rest', async () => {
    const store = await openTestStore('pglite');
    const bus = createMemoryBus();
    const { mobility, metrics } = mobilityOn(store, bus, new ManualClock(NOW_MS));
    const letters = await collectDeadLetters(bus);
    await createAccount(mobility, 'acc-driver', { phone: '+33611223344' });
    await createAccount(mobility, 'acc-twin-1', { phone: '+33699000000' });
    await createAccount(mobility, 'acc-twin-2', { phone: '+33699000000' });
    await mobility.start();

    const billed = session('AB12-CD3E', '+33611223344');
    await bus.produce(TOPICS.parkingSessions, [
      { key: billed.phone, value: JSON.stringify(billed) },
      { key: billed.phone, value: JSON.stringify(billed) }, // the parking sweep produced it twice
      { key: '+33600000001', value: JSON.stringify(session('ZZ12-CD3E', '+33600000001')) },
      { key: '+33699000000', value: JSON.stringify(session('YY12-CD3E', '+33699000000')) },
      { key: 'x', value: JSON.stringify({ ...billed, amountCents: -5 }) },
    ]);

    const outcome = (o: string) => metrics.value('mobility_parking_sessions_total', { outcome: o });
    await expect
      .poll(async () => [await outcome('billed'), await outcome('no-account'), await outcome('ambiguous')], POLL)
      .toEqual([2, 1, 1]);
    expect(await outcome('invalid')).toBe(1);
    await expect.poll(() => metrics.value('mobility_usage_events_total', { outcome: 'duplicate' }), POLL).toBe(1);
    const rows = await store.query<{ usage_id: string; account_id: string; kind: string; details: unknown }>(
      'SELECT usage_id, account_id, kind, details FROM mobility_usage',
    );
    expect(rows.rows).toEqual([
      {
        usage_id: 'parking:AB12-CD3E',
        account_id: 'acc-driver',
        kind: 'parking-session',
        details: { zone: 'rouge', amountCents: 360 },
      },
    ]);
    await expect
      .poll(() => letters.map((l) => l.errorCode).sort(), POLL)
      .toEqual(['ERR_MOBILITY_PARKING_AMBIGUOUS', 'ERR_MOBILITY_PARKING_SCHEMA']);

    // On October's invoice at the session's own price.
    expect((await mobility.runBilling('2026-10')).outcome).toBe('ran');
    const [invoice] = await mobility.store.invoicesOf('acc-driver', 10);
    expect(invoice?.totalCents).toBe(360);
    await mobility.close();
  });
});
