import { afterEach, describe, expect, inject, it, onTestFinished, vi } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { type Clock, ManualClock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { alertingMigrations } from '../index.ts';
import { createSubscriptions } from '../subscriptions.ts';
import { schedulesConfigSchema } from './config.ts';
import { createSchedules, type Schedules, type SchedulesOptions } from './scheduler.ts';
import { openTestStore, queued, recordAlert } from './test-helpers.ts';

const TZ = 'Europe/Paris';
const DIGEST_AT_MS = Date.parse('2026-11-26T06:00:00Z');
const SUMMARY_AT_MS = Date.parse('2026-11-01T08:00:00Z');

function options(overrides: Partial<SchedulesOptions> = {}): SchedulesOptions {
  return {
    schedules: schedulesConfigSchema.parse({}),
    timeZone: TZ,
    locale: 'fr',
    priceEurPerM3: 4.34,
    operatorEmails: ['ops@ville.fr', 'chef@ville.fr'],
    waterTeamEmails: ['eau@ville.fr'],
    retry: { initialDelayMs: 10, maxDelayMs: 50, maxAttempts: 2 },
    ...overrides,
  };
}

function schedulesOn(
  store: SqlStore,
  overrides: Partial<SchedulesOptions> = {},
  clock: Clock = new ManualClock(DIGEST_AT_MS),
): { schedules: Schedules; metrics: Metrics } {
  const metrics = new Metrics();
  const schedules = createSchedules({
    store,
    bus: createMemoryBus(),
    config: options(overrides),
    clock,
    logger: silentLogger(),
    metrics,
  });
  onTestFinished(() => schedules.close());
  return { schedules, metrics };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('schedules across instances on postgres', () => {
  it('queues each message once and both instances name the one that ran when two run the same digest at once', async () => {
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [alertingMigrations]);
    await recordAlert(storeA, {
      deviceId: 'WM-A',
      type: 'leak',
      openedAt: '2026-11-26T00:00:00.000Z',
      details: { estimatedLph: 10 },
    });
    const a = schedulesOn(storeA, { instanceId: 'alerting-a' });
    const b = schedulesOn(storeB, { instanceId: 'alerting-b' });
    const outcomes = await Promise.all([a.schedules.runDigest(DIGEST_AT_MS), b.schedules.runDigest(DIGEST_AT_MS)]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ran', 'skipped']);
    const winner = outcomes.find((o) => o.outcome === 'ran')?.instance;
    expect(outcomes.map((o) => [o.period, o.ranBy])).toEqual([
      ['2026-11-26', winner],
      ['2026-11-26', winner],
    ]);
    expect(outcomes.reduce((n, o) => n + o.queued, 0)).toBe(3);
    const rows = await queued(storeB, 'digest:');
    expect(rows.map((r) => r.key)).toEqual([
      'digest:2026-11-26:email:chef@ville.fr',
      'digest:2026-11-26:email:eau@ville.fr',
      'digest:2026-11-26:email:ops@ville.fr',
    ]);
    expect(rows.every((r) => r.status === 'scheduled')).toBe(true);
    const runs = await storeA.query<{ instance: string; queued: number; finished: boolean }>(
      `SELECT instance, queued, finished_at IS NOT NULL AS finished FROM alerting_schedule_runs
        WHERE schedule = 'digest' AND period = '2026-11-26'`,
    );
    expect(runs.rows).toEqual([{ instance: winner, queued: 3, finished: true }]);
    const counted = async (outcome: string) =>
      (await a.metrics.value('alerting_schedule_runs_total', { schedule: 'digest', outcome })) +
      (await b.metrics.value('alerting_schedule_runs_total', { schedule: 'digest', outcome }));
    expect([await counted('ran'), await counted('skipped')]).toEqual([1, 1]);
  });

  it('queues each summary once when two instances run the same month at once', async () => {
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [alertingMigrations]);
    const subs = createSubscriptions(storeA);
    await subs.add({ deviceId: 'WM-1', channel: 'sms', address: '+33612345678', consent: 'operator' });
    await subs.add({ deviceId: 'WM-2', channel: 'email', address: 'two@example.org', consent: 'operator' });
    const a = schedulesOn(storeA, { instanceId: 'alerting-a' });
    const b = schedulesOn(storeB, { instanceId: 'alerting-b' });
    const outcomes = await Promise.all([
      a.schedules.runMonthlySummary(SUMMARY_AT_MS),
      b.schedules.runMonthlySummary(SUMMARY_AT_MS),
    ]);
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['ran', 'skipped']);
    expect(new Set(outcomes.map((o) => o.ranBy)).size).toBe(1);
    expect(outcomes.map((o) => o.period)).toEqual(['2026-10', '2026-10']);
    expect((await queued(storeA, 'summary:')).map((r) => r.key)).toEqual([
      'summary:2026-10:email:two@example.org:WM-2',
      'summary:2026-10:sms:+33612345678:WM-1',
    ]);
  });
});

describe.each(['pglite', 'postgres'] as const)('schedules on %s', (engine) => {
  it('names the period in the city time zone when a digest runs at 00:30 on the last Sunday of October', async () => {
    const store = await openTestStore(engine);
    const { schedules } = schedulesOn(store);
    // 2026-10-25 00:30 CEST is 2026-10-24T22:30Z.
    const digest = await schedules.runDigest(Date.parse('2026-10-24T22:30:00Z'));
    expect(digest).toMatchObject({ period: '2026-10-25', outcome: 'ran' });
    expect((await queued(store, 'digest:'))[0]?.key).toBe('digest:2026-10-25:email:chef@ville.fr');
    // 00:30 on 1 November (CET) is 2026-10-31T23:30Z: the summary of October.
    expect((await schedules.runMonthlySummary(Date.parse('2026-10-31T23:30:00Z'))).period).toBe('2026-10');
  });

  it('retakes a claim left unfinished for 15 minutes and leaves a recent or finished one when an instance crashed', async () => {
    const store = await openTestStore(engine);
    const clock = new ManualClock(DIGEST_AT_MS);
    const { schedules, metrics } = schedulesOn(store, { instanceId: 'alerting-b' }, clock);
    const claim = (period: string, startedAtMs: number, finished: boolean) =>
      store.query(
        `INSERT INTO alerting_schedule_runs (schedule, period, instance, started_at, finished_at)
         VALUES ('digest', $1, 'alerting-a', $2, $3)`,
        [period, new Date(startedAtMs).toISOString(), finished ? new Date(startedAtMs).toISOString() : null],
      );
    // 1. A's claim is 5 minutes old and unfinished: A may still be running it.
    await claim('2026-11-26', DIGEST_AT_MS - 5 * 60_000, false);
    expect(await schedules.runDigest(DIGEST_AT_MS)).toMatchObject({
      outcome: 'skipped',
      ranBy: 'alerting-a',
      queued: 0,
    });
    // 2. Eleven minutes later it is 16 minutes old: A crashed; B takes it over and queues the digest.
    clock.advance(11 * 60_000);
    expect(await schedules.runDigest(DIGEST_AT_MS)).toMatchObject({ outcome: 'ran', ranBy: 'alerting-b', queued: 3 });
    // 3. A finished claim is never taken again, however old.
    await claim('2026-11-20', DIGEST_AT_MS - 6 * 86_400_000, true);
    expect(await schedules.runDigest(Date.parse('2026-11-20T06:00:00Z'))).toMatchObject({
      outcome: 'skipped',
      ranBy: 'alerting-a',
    });
    expect(await metrics.value('alerting_schedule_runs_total', { outcome: 'skipped' })).toBe(2);
    expect(await metrics.value('alerting_schedule_messages_queued_total', { schedule: 'digest' })).toBe(3);
  });

  it('counts a failed run, releases its claim and rejects, then runs the period when asked again', async () => {
    const store = await openTestStore(engine);
    const { schedules, metrics } = schedulesOn(store);
    // 1. The alerts table is missing: the digest cannot be read (not retryable).
    await store.query('ALTER TABLE alerting_alerts RENAME TO alerting_alerts_away');
    await expect(schedules.runDigest(DIGEST_AT_MS)).rejects.toThrow(/alerting_alerts/);
    expect(await metrics.value('alerting_schedule_runs_total', { schedule: 'digest', outcome: 'failed' })).toBe(1);
    expect((await store.query('SELECT 1 FROM alerting_schedule_runs')).rowCount).toBe(0);
    // 2. Once fixed, the same period runs.
    await store.query('ALTER TABLE alerting_alerts_away RENAME TO alerting_alerts');
    expect(await schedules.runDigest(DIGEST_AT_MS)).toMatchObject({ outcome: 'ran', queued: 3 });
  });
});

describe('schedules with node-cron', () => {
  it('fires the digest from its cron and runs it once per period when the cron fires every second', async () => {
    const store = await openTestStore('pglite');
    const { schedules, metrics } = schedulesOn(
      store,
      { schedules: schedulesConfigSchema.parse({ digestCron: '* * * * * *' }) },
      SYSTEM_CLOCK,
    );
    await schedules.start();
    const runs = (outcome: string) => metrics.value('alerting_schedule_runs_total', { schedule: 'digest', outcome });
    await vi.waitFor(
      async () => {
        expect(await runs('ran')).toBeGreaterThanOrEqual(1);
        expect(await runs('skipped')).toBeGreaterThanOrEqual(1);
      },
      { timeout: 15_000, interval: 100 },
    );
    await schedules.close();
    expect(await runs('failed')).toBe(0);
    // One run per local date (two only if the test straddles local midnight), three emails each.
    const periods = await store.query<{ period: string }>(`SELECT period FROM alerting_schedule_runs`);
    expect(await runs('ran')).toBe(periods.rowCount);
    expect((await queued(store, 'digest:')).length).toBe(3 * periods.rowCount);
  });

  it('registers both jobs in Europe/Paris so the next runs follow local time across the clock change', async () => {
    const store = await openTestStore('pglite');
    const { schedules } = schedulesOn(store, { instanceId: 'alerting-a' }, SYSTEM_CLOCK);
    vi.useFakeTimers({ toFake: ['Date'] });
    // Saturday 24 October 2026 noon (CEST); clocks go back that night.
    vi.setSystemTime(new Date('2026-10-24T10:00:00Z'));
    await schedules.start();
    const next = schedules.nextRuns();
    vi.useRealTimers();
    // 07:00 CET on Sunday the 25th is 06:00Z; 09:00 CET on 1 November is 08:00Z.
    expect(next.digest?.toISOString()).toBe('2026-10-25T06:00:00.000Z');
    expect(next['monthly-summary']?.toISOString()).toBe('2026-11-01T08:00:00.000Z');
    await schedules.close();
    expect(schedules.nextRuns()).toEqual({ digest: null, 'monthly-summary': null });
  });

  it('registers nothing when the schedules are disabled', async () => {
    const store = await openTestStore('pglite');
    const { schedules } = schedulesOn(store, { schedules: schedulesConfigSchema.parse({ enabled: false }) });
    await schedules.start();
    expect(schedules.nextRuns()).toEqual({ digest: null, 'monthly-summary': null });
  });
});
