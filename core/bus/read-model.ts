import type { Counter } from 'prom-client';
import type { z } from 'zod';
import { type Logger, rateLimited } from '../logging.ts';
import type { Bus, BusMessage, Subscription } from './port.ts';

/**
 * A read model of one topic (STYLE.md §6.3, "nothing lost silently"): each record is decoded to `stored` (an item to
 * upsert), `ignored` on purpose (not this model's) or `invalid` (logged at error, rate-limited, and dropped — for
 * topics the producer can recompute, so not dead-lettered). The stored items of a batch are upserted together; the
 * outcomes are counted (`counter{outcome}`) only once the batch is stored, so a store failure — which throws, and
 * the bus redelivers the batch — does not count a record twice.
 */

/** What one record is for a read model. */
export type ReadModelRecord<T> =
  | { readonly outcome: 'stored'; readonly item: T }
  | { readonly outcome: 'ignored' }
  | { readonly outcome: 'invalid'; readonly reason: string };

/**
 * Parses one record's JSON `value` with `schema`, or says why it is not one: `not JSON`, or `not a <name> (paths)`
 * (the first five distinct paths of the schema's issues).
 */
export function parseRecord<S extends z.ZodType>(
  value: string,
  schema: S,
  name: string,
):
  | { readonly outcome: 'parsed'; readonly data: z.output<S> }
  | { readonly outcome: 'invalid'; readonly reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { outcome: 'invalid', reason: 'not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { outcome: 'parsed', data: parsed.data };
  const paths = parsed.error.issues.map((i) => i.path.join('.') || '(root)');
  return { outcome: 'invalid', reason: `not a ${name} (${[...new Set(paths)].slice(0, 5).join(', ')})` };
}

/** What a read model needs. */
export interface ReadModelOptions<T> {
  readonly bus: Bus;
  /** The topic read (created when missing). */
  readonly topic: string;
  readonly groupId: string;
  /** A new group starts at the oldest retained record (default true: a read model is rebuilt from the log). */
  readonly fromBeginning?: boolean;
  /** Decodes one record (pure; bad data is `invalid`, never thrown). */
  readonly decode: (message: BusMessage) => ReadModelRecord<T>;
  /** Upserts a batch's stored items, in offset order (never called empty); throws to have the batch redelivered. */
  readonly store: (items: T[]) => Promise<void>;
  /** Records by outcome (`stored`, `ignored`, `invalid`); the caller names it (Metrics.counter). */
  readonly counter: Counter<'outcome'>;
  readonly logger: Logger;
  /** The invalid record's log line without its last word, e.g. `consumption: invalid rollup` (→ `… dropped`). */
  readonly what: string;
}

/** A running read model. */
export interface ReadModel {
  /** Subscribes to the topic (creating it when missing); a second call does nothing. */
  start(): Promise<void>;
  /** Lets the batch in flight finish and commit, then leaves the group. */
  close(): Promise<void>;
}

/** Creates a read model of `options.topic` (not started). */
export function createReadModel<T>(options: ReadModelOptions<T>): ReadModel {
  const { bus, topic, decode, store, counter, logger, what } = options;
  const logInvalid = rateLimited(10_000);
  let subscription: Subscription | undefined;

  async function handle(messages: readonly BusMessage[]): Promise<void> {
    const items: T[] = [];
    const counts = { stored: 0, ignored: 0, invalid: 0 };
    for (const m of messages) {
      const record = decode(m);
      counts[record.outcome]++;
      if (record.outcome === 'stored') items.push(record.item);
      else if (record.outcome === 'invalid') {
        logInvalid(() =>
          logger.error(
            { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key, reason: record.reason },
            `${what} dropped`,
          ),
        );
      }
    }
    if (items.length > 0) await store(items);
    // Counted once stored: a batch redelivered after a store failure is not counted twice.
    for (const [outcome, n] of Object.entries(counts)) if (n > 0) counter.inc({ outcome }, n);
  }

  return {
    async start() {
      if (subscription) return;
      await bus.ensureTopic(topic);
      subscription = await bus.subscribe({
        groupId: options.groupId,
        topics: [topic],
        fromBeginning: options.fromBeginning ?? true,
        handler: handle,
      });
    },
    async close() {
      const s = subscription;
      subscription = undefined;
      await s?.close();
    },
  };
}
