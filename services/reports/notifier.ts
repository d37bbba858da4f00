import type { Bus } from '../../core/bus/port.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { type Logger, rateLimited } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { reportNotification } from './messages.ts';
import type { ReportStore } from './store.ts';

/**
 * Hands the reporters' status messages to the alerting stage: reads the history rows still `pending` (the outbox,
 * written in the same transaction as the status change), produces one Notification each to notifications.v1 (key
 * = the recipient), then marks them `done`. A produce that fails leaves them pending for the next flush (after the
 * next change, or the periodic sweep of `createReports`): a crash between produce and mark produces it again,
 * which the alerting stage's delivery log absorbs (one message per key).
 */

/** Rows handled per flush round. */
const BATCH = 100;

/** The notifier. */
export interface ReportNotifier {
  /** Produces every pending message; resolves with how many were produced. Never rejects (failures are counted). */
  flush(): Promise<number>;
}

/** Creates the notifier. */
export function createReportNotifier(deps: {
  readonly reports: ReportStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
}): ReportNotifier {
  const { reports, bus, logger } = deps;
  const produced = deps.metrics.counter(
    'reports_notifications_total',
    'Status messages to reporters handed to notifications.v1, by outcome (produced, failed: retried later)',
    ['outcome'],
  );
  const logFailure = rateLimited(10_000);
  let running: Promise<number> | undefined;
  let again = false;

  async function drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const pending = await reports.pendingNotices(BATCH);
      if (pending.length === 0) return total;
      const messages = pending.flatMap(({ event, report }) => {
        const n = reportNotification(report, event);
        return n ? [{ key: n.to, value: JSON.stringify(n) }] : [];
      });
      if (messages.length > 0) await bus.produce(TOPICS.notifications, messages);
      await reports.markNotified(pending.map((p) => p.event.id));
      produced.inc({ outcome: 'produced' }, messages.length);
      total += messages.length;
      if (pending.length < BATCH) return total;
    }
  }

  async function run(): Promise<number> {
    let total = 0;
    do {
      again = false;
      try {
        total += await drain();
      } catch (err) {
        produced.inc({ outcome: 'failed' });
        logFailure(() => logger.error({ err }, 'reports: status messages not produced yet (retried by the sweep)'));
        return total;
      }
    } while (again);
    return total;
  }

  return {
    flush() {
      // One flush at a time in this process; a call during one makes it go round once more.
      if (running) {
        again = true;
        return running;
      }
      running = run().finally(() => {
        running = undefined;
      });
      return running;
    },
  };
}
