import { fileURLToPath } from 'node:url';
import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { migrationsFromDir } from '../../core/store/migrate.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createDeadLetterConsumer, type DeadLetterRetention } from './consumer.ts';
import { deadLetterMetrics } from './metrics.ts';
import { createDeadLetterStore, type DeadLetterStore } from './store.ts';

export {
  DEAD_LETTERS_GROUP_ID,
  DEFAULT_PURGE_INTERVAL_MS,
  DEFAULT_RESOLVED_DAYS,
  type DeadLetterRetention,
} from './consumer.ts';
export { COMPONENT as DEAD_LETTERS_COMPONENT, decodeRecord, INVALID_CODE, recordKeyOf } from './decode.ts';
export { type DeadLetterMetrics, deadLetterMetrics } from './metrics.ts';
export {
  type BulkReplayResult,
  createReplayer,
  NOT_REPLAYABLE_CODE,
  notReplayableReason,
  RESOLVED_CODE,
  type Replayer,
  replayKeyOf,
} from './replay.ts';
export {
  type DeadLetterRoutesDeps,
  DeadLetterSchema,
  deadLetterRoutes,
  MAX_BULK_REPLAY,
} from './routes.ts';
export {
  createDeadLetterStore,
  DEAD_LETTER_STATUSES,
  type DeadLetterRecord,
  type DeadLetterStatus,
  type DeadLetterStore,
  type DeadLetterSummary,
  PREVIEW_CHARS,
  textPreview,
} from './store.ts';

/** The dead-letters service's SQL migrations, component `dead-letters`, for `openStore`. */
export const deadLetterMigrations = migrationsFromDir(
  'dead-letters',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/** What the dead-letters service needs. */
export interface DeadLettersDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Stamps rows and drives the retention (default the system clock). */
  readonly clock?: Clock | undefined;
  /** Retention of replayed and discarded rows (default: 90 days, deleted once an hour). */
  readonly retention?: DeadLetterRetention | undefined;
  /** The consumer group of deadletter.v1 (default `dead-letters`; tests give their own). */
  readonly groupId?: string | undefined;
}

/** The running dead-letters service: its store and its consumer. */
export interface DeadLetters {
  readonly deadLetters: DeadLetterStore;
  /** Subscribes to deadletter.v1 (group `dead-letters`, from the oldest retained record) and starts the retention. */
  start(): Promise<void>;
  /** Deletes replayed and discarded rows past the retention now; returns how many (the timer does it hourly). */
  purge(): Promise<number>;
  /** Stops the retention timer, lets the batch in flight finish and commit, leaves the group. */
  close(): Promise<void>;
}

/**
 * Creates the dead-letters service: the consumer storing every deadletter.v1 record once, and the retention of
 * resolved rows. Its routes are {@link deadLetterRoutes}, mounted on the HTTP server separately.
 */
export function createDeadLetters(deps: DeadLettersDeps): DeadLetters {
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const deadLetters = createDeadLetterStore(deps.store, { clock });
  const consumer = createDeadLetterConsumer({
    bus: deps.bus,
    deadLetters,
    logger: deps.logger.child({ component: 'dead-letters' }),
    metrics: deadLetterMetrics(deps.metrics, deadLetters),
    clock,
    retention: deps.retention,
    groupId: deps.groupId,
  });
  return { deadLetters, start: consumer.start, purge: consumer.purge, close: consumer.close };
}
