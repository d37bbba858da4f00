import type { Counter, Gauge } from 'prom-client';
import type { Metrics } from '../../core/metrics.ts';
import type { DeadLetterStore } from './store.ts';

/** The dead-letters service's metrics (created once per registry; the consumer and the routes share them). */
export interface DeadLetterMetrics {
  /** Records stored, by component and error code (a record delivered again is not counted). */
  readonly stored: Counter<'component' | 'error_code'>;
  /** Records already stored, skipped on purpose (delivered again). */
  readonly duplicates: Counter;
  /** Dead letters produced again to their source topic, by component. */
  readonly replayed: Counter<'component'>;
  /** Dead letters discarded by an operator, by component. */
  readonly discarded: Counter<'component'>;
  /** Resolved rows deleted by the retention. */
  readonly purged: Counter;
  /** Open dead letters (read from the store when collected: every instance's changes counted). */
  readonly open: Gauge;
}

const LABEL = /^[A-Za-z0-9_.-]{1,64}$/;

/** A label value from a bounded set: the value when it looks like a component or a code, else `other`. */
export function boundedLabel(value: string): string {
  return LABEL.test(value) ? value : 'other';
}

/** Creates (or finds) the metrics on `metrics`' registry; the open count is `deadLetters`'. */
export function deadLetterMetrics(
  metrics: Metrics,
  deadLetters: Pick<DeadLetterStore, 'openCount'>,
): DeadLetterMetrics {
  return {
    stored: metrics.counter(
      'dead_letters_stored_total',
      'Dead letters stored from deadletter.v1, by component and error code (ERR_DEADLETTER_INVALID: not a dead letter)',
      ['component', 'error_code'],
    ),
    duplicates: metrics.counter(
      'dead_letters_duplicates_total',
      'deadletter.v1 records delivered again and skipped on purpose (already stored)',
    ),
    replayed: metrics.counter(
      'dead_letters_replayed_total',
      'Dead letters produced again to their source topic by an operator, by component',
      ['component'],
    ),
    discarded: metrics.counter('dead_letters_discarded_total', 'Dead letters discarded by an operator, by component', [
      'component',
    ]),
    purged: metrics.counter(
      'dead_letters_purged_total',
      'Replayed or discarded dead letters deleted once past the retention',
    ),
    open: metrics.gauge('dead_letters_open', 'Dead letters waiting for an operator (status open)', [], () =>
      deadLetters.openCount(),
    ),
  };
}
