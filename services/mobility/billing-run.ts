import { createTask, type ScheduledTask } from 'node-cron';
import type { Bus } from '../../core/bus/port.ts';
import { type RetryPolicy, withRetry } from '../../core/bus/retry.ts';
import type { Clock } from '../../core/clock.ts';
import { Notification, TOPICS } from '../../core/contracts/index.ts';
import { cronLogger } from '../../core/cron.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { billMonth, shouldEmailInvoice } from './billing.ts';
import { localDate, localMonth } from './calendar.ts';
import type { MobilityConfig } from './config.ts';
import { renderInvoiceEmail } from './invoice-email.ts';
import type { EmailToSend, MobilityStore } from './store.ts';

/**
 * The monthly billing run: node-cron (`billingCron`, `timezone` = the city's) bills the local month before the one
 * the run fires in. Once across instances: a run first claims its month in `mobility_billing_runs` (INSERT … ON
 * CONFLICT; an unfinished claim is retaken only after `billingClaimTimeoutMs`, a crash); the instances that lose
 * skip it. Then per account (pages of {@link ACCOUNT_PAGE} in account id order): `billMonth` over the account's
 * stored usage of the month, and the invoice inserted with ON CONFLICT (account, month) DO NOTHING — a retaken or
 * repeated run issues no second invoice — with its email pending in the outbox when `shouldEmailInvoice`. A closed
 * account is billed for the month of its close (its usage up to the close) and for no month after it.
 *
 * Emails: the outbox is drained after each page (and at start, for emails a crash left): up to
 * {@link EMAIL_BATCH} rows claimed (SKIP LOCKED, so two instances never take the same), produced to
 * `notifications.v1` (channel email, subject + text + html, idempotency key `mobility:invoice:<number>`, key = the
 * address), then marked `queued`. A crash between produce and mark produces it again after the claim timeout; the
 * alerting delivery log sends one message per key. An email that is not a valid notification (e.g. a text over
 * 100,000 characters) is marked `failed`, counted and logged, never retried.
 */

/** Accounts billed per page. */
export const ACCOUNT_PAGE = 500;
/** Invoice emails produced per round. */
export const EMAIL_BATCH = 100;

/** What one billing run did. */
export interface BillingOutcome {
  /** The local month billed, `YYYY-MM`. */
  readonly month: string;
  /** `ran` by this instance, or `skipped`: another instance has (or had) the month's claim. */
  readonly outcome: 'ran' | 'skipped';
  /** This instance. */
  readonly instance: string;
  /** The instance holding the month's claim: the one that ran it. */
  readonly ranBy: string;
  /** Accounts looked at (0 when skipped). */
  readonly accounts: number;
  /** Invoices this run inserted (a rerun: only those missing). */
  readonly invoices: number;
  /** Invoice emails this run handed to notifications.v1. */
  readonly emails: number;
}

/** What the billing run needs. */
export interface BillingRunDeps {
  readonly mobility: MobilityStore;
  readonly bus: Bus;
  readonly config: MobilityConfig;
  readonly timeZone: string;
  readonly instance: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Retries of a run's transient failures (default 5 attempts, 1 s doubling to 30 s). */
  readonly retry?: RetryPolicy | undefined;
}

/** The billing run and its schedule. */
export interface BillingRun {
  /** Bills `month` (`YYYY-MM`), once across instances; ERR_MOBILITY_MONTH_INVALID for a malformed month. */
  runBilling(month: string): Promise<BillingOutcome>;
  /** Bills the local month before the local month of `atMs` (what the cron job runs). */
  runBillingAt(atMs: number): Promise<BillingOutcome>;
  /** Produces the invoice emails pending in the outbox; resolves with how many were produced. */
  flushEmails(): Promise<number>;
  /** Registers the cron job (nothing when `billingEnabled` is false). */
  start(): void;
  /** Stops the cron job and waits for runs in flight. */
  close(): Promise<void>;
  /** When the cron job fires next; null when not started. */
  nextRun(): Date | null;
}

const DEFAULT_RUN_RETRY: RetryPolicy = { initialDelayMs: 1_000, maxDelayMs: 30_000, maxAttempts: 5 };

/** The local month (`YYYY-MM`) before the local month of the instant `atMs` in `timeZone`. */
export function previousLocalMonth(atMs: number, timeZone: string): string {
  const [y, m] = localDate(atMs, timeZone).split('-').map(Number) as [number, number];
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

/** Creates the billing run (its cron job not registered until `start`). */
export function createBillingRun(deps: BillingRunDeps): BillingRun {
  const { mobility, bus, config, timeZone, instance, clock, metrics } = deps;
  const logger = deps.logger;
  const retry = deps.retry ?? DEFAULT_RUN_RETRY;
  const runs = metrics.counter(
    'mobility_billing_runs_total',
    'Monthly billing runs by outcome (ran here, skipped: another instance has the month, failed)',
    ['outcome'],
  );
  const issued = metrics.counter('mobility_invoices_issued_total', 'Invoices inserted by the billing runs');
  const emailsTotal = metrics.counter(
    'mobility_invoice_emails_total',
    'Invoice emails by outcome (queued on notifications.v1, failed: not a valid notification)',
    ['outcome'],
  );
  let task: ScheduledTask | undefined;
  const inFlight = new Set<Promise<unknown>>();
  let flushing: Promise<number> | undefined;

  function notificationOf({ invoice, account }: EmailToSend): Notification {
    const email = renderInvoiceEmail(invoice, account.locale, {
      holderName: account.name,
      ...(config.accountUrl !== undefined ? { accountUrl: config.accountUrl } : {}),
    });
    return Notification.parse({
      key: `mobility:invoice:${invoice.invoiceNumber}`,
      about: `mobility:invoice:${invoice.invoiceNumber}`,
      locale: account.locale,
      channel: 'email',
      to: account.email,
      subject: email.subject,
      text: email.text,
      html: email.html,
    });
  }

  async function drainEmails(): Promise<number> {
    let total = 0;
    for (;;) {
      const nowMs = clock.nowMs();
      const batch = await mobility.claimEmails(instance, nowMs, nowMs - config.billingClaimTimeoutMs, EMAIL_BATCH);
      if (batch.length === 0) return total;
      const good: string[] = [];
      const messages: { key: string; value: string }[] = [];
      for (const item of batch) {
        try {
          const n = notificationOf(item);
          messages.push({ key: n.to, value: JSON.stringify(n) });
          good.push(item.invoice.invoiceNumber);
        } catch (err) {
          emailsTotal.inc({ outcome: 'failed' });
          logger.error(
            { err, invoiceNumber: item.invoice.invoiceNumber, to: maskRecipient(item.account.email) },
            'mobility: invoice email is not a valid notification; marked failed (send it by hand)',
          );
          await mobility.markEmails(
            [item.invoice.invoiceNumber],
            'failed',
            nowMs,
            (err as Error).message.slice(0, 500),
          );
        }
      }
      if (messages.length > 0) await bus.produce(TOPICS.notifications, messages);
      await mobility.markEmails(good, 'queued', clock.nowMs());
      emailsTotal.inc({ outcome: 'queued' }, good.length);
      total += good.length;
      if (batch.length < EMAIL_BATCH) return total;
    }
  }

  /** One drain at a time in this process (a call during one waits for it, then drains again). */
  async function flushEmails(): Promise<number> {
    while (flushing) await flushing.catch(() => 0);
    flushing = drainEmails().finally(() => {
      flushing = undefined;
    });
    return flushing;
  }

  async function bill(month: string): Promise<{ accounts: number; invoices: number; emails: number }> {
    const bounds = localMonth(month, timeZone);
    let accounts = 0;
    let invoices = 0;
    let emails = 0;
    let afterId = '';
    for (;;) {
      const page = await mobility.accountsToBill(bounds, afterId, ACCOUNT_PAGE);
      for (const account of page) {
        // A closed account's month ends at its close: the usage consumer stores nothing started after it anyway.
        const closedMs = account.closedAt === null ? bounds.endMs : Date.parse(account.closedAt);
        const usage = await mobility.usageOf(account.accountId, bounds.startMs, Math.min(bounds.endMs, closedMs));
        const invoice = billMonth(usage, account, month, config.tariffs, timeZone);
        if ((await mobility.issueInvoice(invoice, clock.nowMs(), shouldEmailInvoice(invoice))) !== undefined) {
          invoices++;
          issued.inc();
        }
      }
      accounts += page.length;
      emails += await flushEmails();
      const last = page.at(-1);
      if (!last || page.length < ACCOUNT_PAGE) return { accounts, invoices, emails };
      afterId = last.accountId;
    }
  }

  async function run(month: string): Promise<BillingOutcome> {
    localMonth(month, timeZone); // ERR_MOBILITY_MONTH_INVALID before any claim
    const log = logger.child({ month });
    let claimed = false;
    try {
      const c = await withRetry(() => {
        const nowMs = clock.nowMs();
        return mobility.claimRun(month, instance, nowMs, nowMs - config.billingClaimTimeoutMs);
      }, retry);
      if (!c.claimed) {
        runs.inc({ outcome: 'skipped' });
        log.debug({ ranBy: c.owner }, 'mobility: month already claimed by an instance, billing skipped');
        return { month, outcome: 'skipped', instance, ranBy: c.owner, accounts: 0, invoices: 0, emails: 0 };
      }
      claimed = true;
      const counts = await withRetry(() => bill(month), retry);
      await mobility.finishRun(month, instance, clock.nowMs(), counts);
      runs.inc({ outcome: 'ran' });
      log.info(counts, 'mobility: month billed');
      return { month, outcome: 'ran', instance, ranBy: instance, ...counts };
    } catch (err) {
      runs.inc({ outcome: 'failed' });
      log.error({ err }, 'mobility: billing run failed; run this month again by hand');
      // Released so a run by hand (or another instance) can take the month at once; the invoices already inserted
      // stay, and the next run inserts only the missing ones. If the store is down the claim expires instead.
      if (claimed) await mobility.releaseRun(month, instance).catch(() => {});
      throw err;
    }
  }

  function track<T>(p: Promise<T>): Promise<T> {
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p)).catch(() => {});
    return p;
  }

  return {
    runBilling: (month) => track(run(month)),
    runBillingAt: (atMs) => track(run(previousLocalMonth(atMs, timeZone))),
    flushEmails: () => track(flushEmails()),
    start() {
      if (task || !config.billingEnabled) return;
      task = createTask(
        config.billingCron,
        async () => {
          try {
            await track(run(previousLocalMonth(clock.nowMs(), timeZone)));
          } catch {
            // Counted and logged by run(); cron goes on with the next month.
          } finally {
            logger.debug({ nextRunAt: task?.getNextRun()?.toISOString() ?? null }, 'mobility: next billing run');
          }
        },
        { timezone: timeZone, name: `mobility-billing-${instance}`, noOverlap: true, logger: cronLogger(logger) },
      );
      task.start();
      logger.debug({ nextRunAt: task.getNextRun()?.toISOString() ?? null }, 'mobility: next billing run');
    },
    async close() {
      const t = task;
      task = undefined;
      await t?.destroy();
      await Promise.allSettled([...inFlight]);
    },
    nextRun: () => task?.getNextRun() ?? null,
  };
}
