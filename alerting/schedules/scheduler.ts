import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { createTask, type ScheduledTask } from 'node-cron';
import type { Bus } from '../../core/bus/port.ts';
import { type RetryPolicy, withRetry } from '../../core/bus/retry.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { cronLogger } from '../../core/cron.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { Locale } from '../messages.ts';
import type { SchedulesConfig } from './config.ts';
import { createConsumptionReadModel } from './consumption.ts';
import { runDigest } from './digest.ts';
import { runMonthlySummary } from './monthly-summary.ts';
import { schedulePeriod } from './periods.ts';

/**
 * The alerting schedules (node-cron, `timezone` = the city's): the operators' daily digest (digest.ts) and the
 * residents' monthly summary (monthly-summary.ts), plus the daily consumption read model the summary reads
 * (consumption.ts). A run only queues messages (delivery-log.ts); the router's sweep sends them.
 *
 * Once across instances: every instance schedules both jobs; a run first claims its (schedule, period) row in
 * `alerting_schedule_runs` — one INSERT … ON CONFLICT whose update only retakes a claim left unfinished for
 * `claimTimeoutMs` (15 min: a crash) — and the instances that lose skip it (`outcome: 'skipped'`, `ranBy` naming
 * the winner). The period is computed in the city's time zone from the run's instant: the local date for the digest,
 * the month summarised (the one before the run's local month) for the summary. The messages' idempotency keys make
 * a retaken or repeated run queue nothing twice.
 *
 * A run's transient store errors are retried with backoff (the job is idempotent); a run that still fails releases
 * its claim, is counted (`outcome="failed"`) and logged at error, and `runDigest` / `runMonthlySummary` reject:
 * cron fires again only at the next period, so a failed period is run again by hand. Jobs of one schedule never
 * overlap on an instance (node-cron `noOverlap`); each logs its next run at debug.
 *
 * Metrics: `alerting_schedule_runs_total{schedule,outcome=ran|skipped|failed}`,
 * `alerting_schedule_messages_queued_total{schedule}`, and the read model's `alerting_consumption_rollups_total`.
 */

/** The schedules. */
export type ScheduleName = 'digest' | 'monthly-summary';

/** Default age after which an unfinished claim may be retaken (a crashed run), ms: 15 min. */
export const CLAIM_TIMEOUT_MS = 15 * 60_000;

/** What the schedules need from the alerting configuration (an explicit subset, not AlertingConfig). */
export interface SchedulesOptions {
  /** Cron expressions and the on/off switch (`schedulesConfigSchema`). */
  readonly schedules: SchedulesConfig;
  /** The city's time zone (VIGIE_TZ): cron, periods and the times shown. */
  readonly timeZone: string;
  /** The operators' language (digest). */
  readonly locale: Locale;
  /** Water + sanitation price, €/m³. */
  readonly priceEurPerM3: number;
  /** Operators, who receive the digest. */
  readonly operatorEmails: readonly string[];
  /** The water-network team (`teamEmails['water-meter']`), who receive the digest too. */
  readonly waterTeamEmails: readonly string[];
  /** The utility's phone number for residents (empty: "your water utility"). */
  readonly utilityContact?: string;
  /** Unsubscribe links in the summary emails; absent: none. */
  readonly unsubscribe?: { readonly publicUrl: string; readonly secret: string } | undefined;
  /** This instance's name in `alerting_schedule_runs` (default `<hostname>:<pid>:<random>`). */
  readonly instanceId?: string;
  /** Age after which an unfinished claim may be retaken, ms (default 15 min). */
  readonly claimTimeoutMs?: number;
  /** Consumer group of the consumption read model (default `alerting-consumption`). */
  readonly consumptionGroupId?: string;
  /** Retries of a run's transient failures (default 5 attempts, 1 s doubling to 30 s). */
  readonly retry?: RetryPolicy;
}

/** What `createSchedules` needs. */
export interface SchedulesDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly config: SchedulesOptions;
  readonly clock?: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
}

/** What one run did. */
export interface RunOutcome {
  readonly schedule: ScheduleName;
  /** `YYYY-MM-DD` (digest) or `YYYY-MM` (the month summarised). */
  readonly period: string;
  /** `ran` by this instance, or `skipped`: another instance has (or had) the claim. */
  readonly outcome: 'ran' | 'skipped';
  /** This instance. */
  readonly instance: string;
  /** The instance holding the period's claim: the one that ran it. */
  readonly ranBy: string;
  /** Messages this run added to the delivery log (0 when skipped). */
  readonly queued: number;
}

/** The running schedules. */
export interface Schedules {
  /** This instance's name in `alerting_schedule_runs`. */
  readonly instance: string;
  /** Starts the consumption read model and registers both cron jobs (nothing when `schedules.enabled` is false). */
  start(): Promise<void>;
  /** Stops the cron jobs, waits for runs in flight, closes the read model. */
  close(): Promise<void>;
  /** Runs the digest of the 24 h ending at `atMs` (epoch ms), once across instances. */
  runDigest(atMs: number): Promise<RunOutcome>;
  /** Runs the summary of the month before `atMs`'s local month, once across instances. */
  runMonthlySummary(atMs: number): Promise<RunOutcome>;
  /** The next time each cron job fires; null when not started. */
  nextRuns(): Readonly<Record<ScheduleName, Date | null>>;
}

const DEFAULT_RUN_RETRY: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000, maxAttempts: 5 };

/** Creates the schedules (not started). */
export function createSchedules(deps: SchedulesDeps): Schedules {
  const { store, config, logger, metrics } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const instance = config.instanceId ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const claimTimeoutMs = config.claimTimeoutMs ?? CLAIM_TIMEOUT_MS;
  const runs = metrics.counter(
    'alerting_schedule_runs_total',
    'Scheduled runs by schedule and outcome (ran here, skipped: another instance has it, failed)',
    ['schedule', 'outcome'],
  );
  const queuedTotal = metrics.counter(
    'alerting_schedule_messages_queued_total',
    'Messages queued by the schedules (digests, monthly summaries), by schedule',
    ['schedule'],
  );
  const consumption = createConsumptionReadModel({
    bus: deps.bus,
    store,
    metrics,
    logger,
    timeZone: config.timeZone,
    clock,
    ...(config.consumptionGroupId ? { groupId: config.consumptionGroupId } : {}),
  });
  const tasks = new Map<ScheduleName, ScheduledTask>();
  const inFlight = new Set<Promise<unknown>>();
  let started = false;

  const jobs: Record<ScheduleName, (atMs: number, period: string) => Promise<number>> = {
    digest: async (atMs) =>
      (
        await runDigest(store, atMs, {
          timeZone: config.timeZone,
          locale: config.locale,
          priceEurPerM3: config.priceEurPerM3,
          recipients: [...config.operatorEmails, ...config.waterTeamEmails],
        })
      ).queued,
    'monthly-summary': async (atMs, period) =>
      (
        await runMonthlySummary(store, period, atMs, {
          timeZone: config.timeZone,
          priceEurPerM3: config.priceEurPerM3,
          ...(config.utilityContact !== undefined ? { utilityContact: config.utilityContact } : {}),
          unsubscribe: config.unsubscribe,
        })
      ).queued,
  };

  /** Claims (schedule, period) for this instance; the claim's holder otherwise. */
  async function claim(schedule: ScheduleName, period: string): Promise<{ claimed: boolean; owner: string }> {
    const nowMs = clock.nowMs();
    // One statement: a new period is inserted; an existing one is retaken only when unfinished and stale (a crash).
    // Two instances racing on a new period: the second waits for the first's insert and then sees a fresh claim.
    const res = await store.query<{ instance: string }>(
      `INSERT INTO alerting_schedule_runs (schedule, period, instance, started_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (schedule, period) DO UPDATE SET instance = EXCLUDED.instance, started_at = EXCLUDED.started_at
         WHERE alerting_schedule_runs.finished_at IS NULL AND alerting_schedule_runs.started_at < $5
       RETURNING instance`,
      [schedule, period, instance, new Date(nowMs).toISOString(), new Date(nowMs - claimTimeoutMs).toISOString()],
    );
    if (res.rowCount > 0) return { claimed: true, owner: instance };
    const held = await store.query<{ instance: string }>(
      'SELECT instance FROM alerting_schedule_runs WHERE schedule = $1 AND period = $2',
      [schedule, period],
    );
    return { claimed: false, owner: held.rows[0]?.instance ?? 'unknown' };
  }

  async function run(schedule: ScheduleName, atMs: number): Promise<RunOutcome> {
    const period = schedulePeriod(schedule, atMs, config.timeZone);
    const log = logger.child({ schedule, period });
    let claimed = false;
    try {
      const c = await withRetry(() => claim(schedule, period), config.retry ?? DEFAULT_RUN_RETRY);
      if (!c.claimed) {
        runs.inc({ schedule, outcome: 'skipped' });
        log.debug({ ranBy: c.owner }, 'schedule: period already claimed by an instance, skipped');
        return { schedule, period, outcome: 'skipped', instance, ranBy: c.owner, queued: 0 };
      }
      claimed = true;
      const queued = await withRetry(() => jobs[schedule](atMs, period), config.retry ?? DEFAULT_RUN_RETRY);
      await store.query(
        `UPDATE alerting_schedule_runs SET finished_at = $4, queued = $5
          WHERE schedule = $1 AND period = $2 AND instance = $3`,
        [schedule, period, instance, new Date(clock.nowMs()).toISOString(), queued],
      );
      runs.inc({ schedule, outcome: 'ran' });
      queuedTotal.inc({ schedule }, queued);
      log.info({ queued }, 'schedule: ran');
      return { schedule, period, outcome: 'ran', instance, ranBy: instance, queued };
    } catch (err) {
      runs.inc({ schedule, outcome: 'failed' });
      log.error({ err }, 'schedule: run failed; run this period again by hand');
      if (claimed) {
        // Released so a run by hand (or another instance) can take the period at once; if the store is down the
        // claim simply expires after claimTimeoutMs.
        await store
          .query(
            `DELETE FROM alerting_schedule_runs
              WHERE schedule = $1 AND period = $2 AND instance = $3 AND finished_at IS NULL`,
            [schedule, period, instance],
          )
          .catch(() => {});
      }
      throw err;
    }
  }

  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  }

  function logNext(schedule: ScheduleName): void {
    const next = tasks.get(schedule)?.getNextRun();
    logger.debug({ schedule, nextRunAt: next?.toISOString() ?? null }, 'schedule: next run');
  }

  function register(schedule: ScheduleName, expression: string): void {
    const task = createTask(
      expression,
      async () => {
        try {
          await track(run(schedule, clock.nowMs()));
        } catch {
          // Counted and logged by run(); cron goes on with the next period.
        } finally {
          logNext(schedule);
        }
      },
      {
        timezone: config.timeZone,
        name: `alerting-${schedule}-${instance}`,
        noOverlap: true,
        logger: cronLogger(logger),
      },
    );
    tasks.set(schedule, task);
    task.start();
    logNext(schedule);
  }

  return {
    instance,
    async start() {
      if (started || !config.schedules.enabled) return;
      started = true;
      await consumption.start();
      register('digest', config.schedules.digestCron);
      register('monthly-summary', config.schedules.monthlySummaryCron);
    },
    async close() {
      for (const task of tasks.values()) await task.destroy();
      tasks.clear();
      await Promise.allSettled([...inFlight]);
      await consumption.close();
      started = false;
    },
    runDigest: (atMs) => track(run('digest', atMs)),
    runMonthlySummary: (atMs) => track(run('monthly-summary', atMs)),
    nextRuns: () => ({
      digest: tasks.get('digest')?.getNextRun() ?? null,
      'monthly-summary': tasks.get('monthly-summary')?.getNextRun() ?? null,
    }),
  };
}
