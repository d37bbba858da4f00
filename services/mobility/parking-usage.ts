import { busDeadLetter, parseBusMessage } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage, OutgoingMessage, Subscription } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { ParkingSessionEnded, TOPICS } from '../../core/contracts/index.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { MobilityStore } from './store.ts';
import type { UsageEventInput } from './usage.ts';

/**
 * Parking on the mobility account: consumes `parking-sessions.v1` (SMS parking sessions once over, key = the
 * driver's phone; group `mobility-parking`) and, when exactly one active mobility account has that phone number,
 * produces the session as a `parking-session` usage event of that account on `mobility-usage.v1` — usageId
 * `parking:<reference>`, so a session produced twice is billed once (the usage consumer stores a usageId once). The
 * usage consumer does the rest (late months, conflicts). Outcomes, in `mobility_parking_sessions_total{outcome}`:
 * `billed` (produced), `no-account` (most drivers have none: nothing to do), `closed` (the account is closed),
 * `ambiguous` (several active accounts share the number: dead-lettered, ERR_MOBILITY_PARKING_AMBIGUOUS — fix the
 * accounts, then replay), `invalid` (not the contract: dead-lettered, ERR_MOBILITY_PARKING_JSON|SCHEMA).
 */

/** The consumer group of parking-sessions.v1. */
export const PARKING_USAGE_GROUP_ID = 'mobility-parking';

/** The usage event of an ended parking session on `accountId`'s account. */
export function parkingUsage(session: ParkingSessionEnded, accountId: string): UsageEventInput {
  return {
    usageId: `parking:${session.reference}`,
    accountId,
    kind: 'parking-session',
    startedAt: session.startedAt,
    endedAt: session.endedAt,
    details: { zone: session.zone, amountCents: session.amountCents },
  };
}

/** Creates the consumer (not subscribed until `start`). */
export function createParkingUsage(deps: {
  readonly bus: Bus;
  readonly mobility: MobilityStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly groupId?: string | undefined;
}): { start(): Promise<void>; close(): Promise<void> } {
  const { bus, mobility, clock, logger } = deps;
  const counted = deps.metrics.counter(
    'mobility_parking_sessions_total',
    'SMS parking sessions over, by outcome (billed, no-account, closed, ambiguous, invalid)',
    ['outcome'],
  );
  let subscription: Subscription | undefined;

  async function handle(m: BusMessage, usage: OutgoingMessage[], letters: OutgoingMessage[]): Promise<void> {
    const parsed = parseBusMessage(m, ParkingSessionEnded, {
      what: 'parking session',
      contract: 'core/contracts/parking-session.ts',
      jsonCode: 'ERR_MOBILITY_PARKING_JSON',
      schemaCode: 'ERR_MOBILITY_PARKING_SCHEMA',
    });
    const letter = (refusal: { errorCode: string; message: string; issues: { path: string; message: string }[] }) =>
      busDeadLetter(m, refusal, { component: 'mobility', nowMs: clock.nowMs(), key: m.key || m.topic });
    if (!parsed.ok) {
      counted.inc({ outcome: 'invalid' });
      logger.warn({ offset: m.offset, errorCode: parsed.errorCode }, parsed.message);
      letters.push(letter(parsed));
      return;
    }
    const session = parsed.data;
    const accounts = await mobility.accountsByPhone(session.phone);
    const active = accounts.filter((a) => a.status === 'active');
    if (active.length === 0) {
      counted.inc({ outcome: accounts.length === 0 ? 'no-account' : 'closed' });
      return;
    }
    if (active.length > 1) {
      counted.inc({ outcome: 'ambiguous' });
      const message = `parking session ${session.reference}: ${active.length} active accounts have the number ${maskRecipient(session.phone)} (${active.map((a) => a.accountId).join(', ')}; one account per number, then replay)`;
      logger.warn({ reference: session.reference }, message);
      letters.push(
        letter({
          errorCode: 'ERR_MOBILITY_PARKING_AMBIGUOUS',
          message,
          issues: [{ path: 'phone', message: 'several active mobility accounts' }],
        }),
      );
      return;
    }
    const account = active[0] as (typeof active)[number];
    usage.push({ key: account.accountId, value: JSON.stringify(parkingUsage(session, account.accountId)) });
    counted.inc({ outcome: 'billed' });
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.parkingSessions);
      await bus.ensureTopic(TOPICS.mobilityUsage);
      await bus.ensureTopic(TOPICS.deadLetters);
      subscription = await bus.subscribe({
        groupId: deps.groupId ?? PARKING_USAGE_GROUP_ID,
        topics: [TOPICS.parkingSessions],
        fromBeginning: true,
        handler: async (messages) => {
          const usage: OutgoingMessage[] = [];
          const letters: OutgoingMessage[] = [];
          for (const m of messages) await handle(m, usage, letters);
          // Produced before the batch is committed: a failure redelivers it (the usageId makes that harmless).
          if (usage.length > 0) await bus.produce(TOPICS.mobilityUsage, usage);
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
