import { z } from 'zod';
import { busDeadLetter, type Refusal } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage, OutgoingMessage, Subscription } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { AppError, preview } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { localDate } from './calendar.ts';
import type { MobilityStore } from './store.ts';
import { parseUsage, type UsageEvent } from './usage.ts';

/**
 * The usage consumer: group `mobility-usage` on `mobility-usage.v1` (key = accountId). Each record ends in one way,
 * counted in `mobility_usage_events_total{kind,outcome}`:
 * - `stored`: a new usageId of a known account, inserted (the offset is committed after the insert);
 * - `late`: stored, but its local month's billing had already started: it is on that invoice only if the run read
 *   it (the invoice's lines name their usageIds); otherwise it waits for a manual credit note — it is never billed
 *   in another month (logged at warn);
 * - `duplicate`: the same usageId with the same content again: nothing done (dropped on purpose);
 * - `conflict`: the same usageId with different content (a producer bug): the first copy stays, this one is
 *   dead-lettered (ERR_MOBILITY_USAGE_CONFLICT);
 * - `invalid`: not JSON or not a usage event (`parseUsage`): dead-lettered (ERR_MOBILITY_USAGE_INVALID, the issues'
 *   paths);
 * - `unknown-account`: no such account: dead-lettered (ERR_MOBILITY_ACCOUNT_UNKNOWN) rather than parked — accounts
 *   are created before their cards are used, so this is a provisioning error; create the account, then replay the
 *   dead letter;
 * - `after-close`: the usage started at or after its account's close (`closedAt`): not stored, not billed,
 *   dead-lettered (ERR_MOBILITY_USAGE_AFTER_CLOSE) so the record and its bytes are kept — a card still used after its
 *   account was closed (block it). A usage started before the close is stored as usual however late it arrives (the
 *   bus delivers late): on the closing month's invoice if it comes before that month's billing, else `late`.
 * Dead letters are produced before the batch is committed. A store error rejects the batch (redelivered; the
 * usageId makes the retry harmless).
 */

/** The consumer group of mobility-usage.v1. */
export const USAGE_GROUP_ID = 'mobility-usage';

/** The outcomes of one usage record. */
export type UsageOutcome = 'stored' | 'late' | 'duplicate' | 'conflict' | 'invalid' | 'unknown-account' | 'after-close';

/** What the usage consumer needs. */
export interface UsageConsumerDeps {
  readonly bus: Bus;
  readonly mobility: MobilityStore;
  readonly timeZone: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Consumer group (default {@link USAGE_GROUP_ID}). */
  readonly groupId?: string | undefined;
}

/** The running consumer. */
export interface UsageConsumer {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Creates the usage consumer (not subscribed until `start`). */
export function createUsageConsumer(deps: UsageConsumerDeps): UsageConsumer {
  const { bus, mobility, timeZone, clock, logger } = deps;
  const counted = deps.metrics.counter(
    'mobility_usage_events_total',
    'Usage events consumed, by kind and outcome (stored, late, duplicate, conflict, invalid, unknown-account, after-close)',
    ['kind', 'outcome'],
  );
  let subscription: Subscription | undefined;

  const letterOf = (m: BusMessage, refusal: Refusal): OutgoingMessage =>
    busDeadLetter(m, refusal, { component: 'mobility', nowMs: clock.nowMs(), key: m.key || m.topic });

  function parse(m: BusMessage): { ok: true; event: UsageEvent } | { ok: false; refusal: Refusal } {
    let json: unknown;
    try {
      json = JSON.parse(m.value);
    } catch (err) {
      const message = `usage event: not JSON ${preview(m.value)} (${(err as Error).message})`;
      return { ok: false, refusal: { errorCode: 'ERR_MOBILITY_USAGE_INVALID', message, issues: [] } };
    }
    try {
      return { ok: true, event: parseUsage(json) };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      const issues =
        err.cause instanceof z.ZodError
          ? err.cause.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))
          : [];
      return { ok: false, refusal: { errorCode: err.code, message: err.message, issues } };
    }
  }

  async function handle(m: BusMessage): Promise<{ outcome: UsageOutcome; letter?: OutgoingMessage }> {
    const parsed = parse(m);
    if (!parsed.ok) {
      counted.inc({ kind: 'unknown', outcome: 'invalid' });
      logger.warn(
        { offset: m.offset, partition: m.partition, errorCode: parsed.refusal.errorCode },
        parsed.refusal.message,
      );
      return { outcome: 'invalid', letter: letterOf(m, parsed.refusal) };
    }
    const event = parsed.event;
    const account = await mobility.account(event.accountId);
    if (!account) {
      counted.inc({ kind: event.kind, outcome: 'unknown-account' });
      const refusal: Refusal = {
        errorCode: 'ERR_MOBILITY_ACCOUNT_UNKNOWN',
        message: `usage ${event.usageId}: account ${event.accountId} unknown (create the account, then replay this dead letter)`,
        issues: [{ path: 'accountId', message: 'no such mobility account' }],
      };
      logger.warn({ usageId: event.usageId, errorCode: refusal.errorCode }, refusal.message);
      return { outcome: 'unknown-account', letter: letterOf(m, refusal) };
    }
    const inserted = await mobility.insertUsage(event, clock.nowMs());
    if (inserted === 'closed') {
      counted.inc({ kind: event.kind, outcome: 'after-close' });
      // Read again: the account may have been closed since it was read above.
      const closedAt = (await mobility.account(event.accountId))?.closedAt ?? account.closedAt ?? 'unknown';
      const refusal: Refusal = {
        errorCode: 'ERR_MOBILITY_USAGE_AFTER_CLOSE',
        message: `usage ${event.usageId}: started ${new Date(event.startedAt).toISOString()}, account ${event.accountId} closed at ${closedAt} (a usage started before the close; not billed)`,
        issues: [{ path: 'startedAt', message: 'at or after the account was closed' }],
      };
      logger.warn(
        { usageId: event.usageId, accountId: event.accountId, errorCode: refusal.errorCode },
        refusal.message,
      );
      return { outcome: 'after-close', letter: letterOf(m, refusal) };
    }
    if (inserted === 'duplicate') {
      counted.inc({ kind: event.kind, outcome: 'duplicate' });
      return { outcome: 'duplicate' };
    }
    if (inserted === 'conflict') {
      counted.inc({ kind: event.kind, outcome: 'conflict' });
      const refusal: Refusal = {
        errorCode: 'ERR_MOBILITY_USAGE_CONFLICT',
        message: `usage ${event.usageId}: already stored with different content (one content per usageId; the first copy is kept)`,
        issues: [{ path: 'usageId', message: 'stored with different content' }],
      };
      logger.error({ usageId: event.usageId, errorCode: refusal.errorCode }, refusal.message);
      return { outcome: 'conflict', letter: letterOf(m, refusal) };
    }
    const month = localDate(event.startedAt, timeZone).slice(0, 7);
    if (await mobility.monthBillingStarted(month)) {
      counted.inc({ kind: event.kind, outcome: 'late' });
      logger.warn(
        { usageId: event.usageId, accountId: event.accountId, month },
        'mobility: usage arrived after its month’s billing started (check the invoice; a credit note if missing)',
      );
      return { outcome: 'late' };
    }
    counted.inc({ kind: event.kind, outcome: 'stored' });
    return { outcome: 'stored' };
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.mobilityUsage);
      await bus.ensureTopic(TOPICS.deadLetters);
      subscription = await bus.subscribe({
        groupId: deps.groupId ?? USAGE_GROUP_ID,
        topics: [TOPICS.mobilityUsage],
        fromBeginning: true,
        handler: async (messages) => {
          const letters: OutgoingMessage[] = [];
          for (const m of messages) {
            const { letter } = await handle(m);
            if (letter) letters.push(letter);
          }
          if (letters.length > 0) await bus.produce(TOPICS.deadLetters, letters);
        },
      });
    },
    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
