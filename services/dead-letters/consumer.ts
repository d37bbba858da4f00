import type { Bus, BusMessage, Subscription } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { type Logger, rateLimited } from '../../core/logging.ts';
import { decodeRecord, INVALID_CODE } from './decode.ts';
import { boundedLabel, type DeadLetterMetrics } from './metrics.ts';
import type { DeadLetterStore } from './store.ts';

/**
 * The consumer of deadletter.v1 (group `dead-letters`): each record stored once (decode.ts; a record delivered again
 * is skipped and counted), then the batch committed — the row is the next hop (STYLE.md §0.2). A record that is not
 * a dead letter is stored too (ERR_DEADLETTER_INVALID) and logged, never produced anywhere: no loop. A store failure
 * throws, and the bus delivers the batch again. The same service deletes replayed and discarded rows past the
 * retention, at start and then every `purgeIntervalMs` (several instances may each run it: a DELETE is idempotent).
 */

/** The consumer group of deadletter.v1. */
export const DEAD_LETTERS_GROUP_ID = 'dead-letters';

/** How long resolved dead letters are kept, and how often they are deleted. */
export interface DeadLetterRetention {
  /** Days a replayed or discarded dead letter is kept after its resolution (default 90). */
  readonly resolvedDays?: number;
  /** Milliseconds between two deletions (default 3,600,000: once an hour). */
  readonly purgeIntervalMs?: number;
}

/** Default retention of resolved dead letters, days. */
export const DEFAULT_RESOLVED_DAYS = 90;
/** Default interval between deletions of resolved dead letters, ms. */
export const DEFAULT_PURGE_INTERVAL_MS = 3_600_000;

/** What the consumer needs. */
export interface DeadLetterConsumerDeps {
  readonly bus: Bus;
  readonly deadLetters: DeadLetterStore;
  readonly logger: Logger;
  readonly metrics: DeadLetterMetrics;
  readonly clock: Clock;
  readonly retention?: DeadLetterRetention | undefined;
  /** The consumer group (default `dead-letters`). */
  readonly groupId?: string | undefined;
}

/** The running consumer. */
export interface DeadLetterConsumer {
  /** Subscribes to deadletter.v1 (from the oldest retained record) and starts the retention timer. */
  start(): Promise<void>;
  /** Deletes resolved rows past the retention now; returns how many. */
  purge(): Promise<number>;
  /** Stops the timer, lets the batch in flight finish and commit, leaves the group. */
  close(): Promise<void>;
}

/** Creates the consumer (not started). */
export function createDeadLetterConsumer(deps: DeadLetterConsumerDeps): DeadLetterConsumer {
  const { bus, deadLetters, logger, metrics, clock } = deps;
  const resolvedDays = deps.retention?.resolvedDays ?? DEFAULT_RESOLVED_DAYS;
  const purgeIntervalMs = deps.retention?.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
  if (!(resolvedDays > 0) || !(purgeIntervalMs > 0)) {
    throw new RangeError(
      `dead-letters retention: resolvedDays ${resolvedDays}, purgeIntervalMs ${purgeIntervalMs} (both positive)`,
    );
  }
  const logInvalid = rateLimited(10_000);
  let subscription: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  let purging: Promise<number> | undefined;

  async function handle(messages: readonly BusMessage[]): Promise<void> {
    const rows = messages.map(decodeRecord);
    const inserted = await deadLetters.insert(rows);
    // Counted once stored: a batch delivered again after a store failure is not counted twice.
    for (const row of inserted) {
      metrics.stored.inc({ component: boundedLabel(row.component), error_code: boundedLabel(row.errorCode) });
      if (row.errorCode === INVALID_CODE) {
        logInvalid(() =>
          logger.error(
            { partition: row.recordPartition, offset: row.recordOffset, key: row.recordBusKey },
            `dead-letters: ${row.message}; stored as ${INVALID_CODE}`,
          ),
        );
      }
    }
    if (rows.length > inserted.length) metrics.duplicates.inc(rows.length - inserted.length);
  }

  function purge(): Promise<number> {
    purging ??= (async () => {
      try {
        const deleted = await deadLetters.purgeResolved(clock.nowMs() - resolvedDays * 86_400_000);
        if (deleted > 0) {
          metrics.purged.inc(deleted);
          logger.debug({ deleted, resolvedDays }, 'dead-letters: resolved dead letters past the retention deleted');
        }
        return deleted;
      } finally {
        purging = undefined;
      }
    })();
    return purging;
  }

  function purgeLater(): void {
    purge().catch((err: unknown) =>
      logger.error({ err }, 'dead-letters: deleting resolved dead letters failed; tried again at the next interval'),
    );
  }

  return {
    async start() {
      if (subscription) return;
      await bus.ensureTopic(TOPICS.deadLetters);
      subscription = await bus.subscribe({
        groupId: deps.groupId ?? DEAD_LETTERS_GROUP_ID,
        topics: [TOPICS.deadLetters],
        fromBeginning: true,
        handler: handle,
      });
      purgeLater();
      timer = setInterval(purgeLater, purgeIntervalMs);
      timer.unref();
    },
    purge,
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
      await purging?.catch(() => {});
    },
  };
}
