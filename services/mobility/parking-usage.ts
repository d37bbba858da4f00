import { busDeadLetter, parseBusMessage } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage, OutgoingMessage, Subscription } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { ParkingSessionEnded, TOPICS } from '../../core/contracts/index.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { MobilityAccount, MobilityStore } from './store.ts';
import type { UsageEventInput } from './usage.ts';

/**
 * Parking on the mobility account: consumes `parking-sessions.v1` (SMS parking sessions once over, key = the
 * driver's phone; group `mobility-parking`) and produces the session as a `parking-session` usage event on
 * `mobility-usage.v1` of the one account with that phone number that was open when the session started — usageId
 * `parking:<reference>`, so a session produced twice is billed once (the usage consumer stores a usageId once). The
 * usage consumer does the rest (late months, conflicts). {@link accountsForSession} picks the account, so a session
 * arriving late still goes to the account closed since, and a new session to the account opened after a close.
 * Outcomes, in `mobility_parking_sessions_total{outcome}`: `billed` (produced), `no-account` (most drivers have none:
 * nothing to do), `closed` (the number's accounts were all closed when the session started), `ambiguous` (several
 * accounts open when it started share the number: dead-lettered, ERR_MOBILITY_PARKING_AMBIGUOUS — close all but one,
 * then replay), `invalid` (not the contract: dead-lettered, ERR_MOBILITY_PARKING_JSON|SCHEMA).
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

/**
 * The accounts of a phone number a session starting at `startedAtMs` may be billed to (one: bill it; none; several:
 * ambiguous). Those open at that instant (active, or closed after it); when several, those created by then; when still
 * several, the active ones (a number shared by two accounts is fixed by closing one: the replayed session then goes to
 * the other).
 */
export function accountsForSession(accounts: readonly MobilityAccount[], startedAtMs: number): MobilityAccount[] {
  let open = accounts.filter(
    (a) => a.status === 'active' || (a.closedAt !== null && Date.parse(a.closedAt) > startedAtMs),
  );
  const narrow = (keep: (a: MobilityAccount) => boolean) => {
    const kept = open.filter(keep);
    if (open.length > 1 && kept.length > 0) open = kept;
  };
  narrow((a) => Date.parse(a.createdAt) <= startedAtMs);
  narrow((a) => a.status === 'active');
  return open;
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
    const open = accountsForSession(accounts, Date.parse(session.startedAt));
    if (open.length === 0) {
      counted.inc({ outcome: accounts.length === 0 ? 'no-account' : 'closed' });
      return;
    }
    if (open.length > 1) {
      counted.inc({ outcome: 'ambiguous' });
      const message = `parking session ${session.reference}: ${open.length} accounts open when it started have the number ${maskRecipient(session.phone)} (${open.map((a) => a.accountId).join(', ')}; close all but one, then replay)`;
      logger.warn({ reference: session.reference }, message);
      letters.push(
        letter({
          errorCode: 'ERR_MOBILITY_PARKING_AMBIGUOUS',
          message,
          issues: [{ path: 'phone', message: 'several open mobility accounts' }],
        }),
      );
      return;
    }
    const account = open[0] as MobilityAccount;
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
