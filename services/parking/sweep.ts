import type { Bus } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { type ParkingSessionEnded, TOPICS } from '../../core/contracts/index.ts';
import { type Logger, rateLimited } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { smsRecord } from './inbound.ts';
import { reminderText } from './reply-texts.ts';
import type { ParkingSession, ParkingStore } from './store.ts';

/**
 * The parking sweep, every `sweepIntervalMs`: marks running sessions whose end has passed `expired`, sends the
 * reminders that are due (`reminderLeadMinutes` before the end) on notifications.v1 (idempotency key
 * `parking:<ref>:reminder:<endMs>`), and produces each SMS session once over (stopped or expired) to
 * parking-sessions.v1 for the mobility account — at least once: produced, then marked; the reference identifies it.
 *
 * Why a sweep and not a notification produced at the start with `notBefore`: the alerting stage cannot take a
 * queued message back, and a session extended or stopped must not get the reminder of its old end. Here the
 * reminder is decided when it is due, from the session as it is then.
 *
 * Several instances: each reminder is claimed with a conditional UPDATE … RETURNING that sets a lease
 * (`LEASE_MS`); only the claimant produces it, then marks it sent. If it dies in between, the lease lapses and
 * another instance produces it again — the same key, which the alerting stage's delivery log sends once.
 */

/** How long a claimed reminder is another instance's to send, ms. */
export const LEASE_MS = 60_000;
/** Reminders claimed per round. */
const BATCH = 100;

/** What one sweep did. */
export interface SweepResult {
  readonly expired: number;
  readonly reminded: number;
  /** Sessions over produced to parking-sessions.v1. */
  readonly published: number;
}

/** The parking-sessions.v1 record of an SMS session that is over. */
export function endedRecord(s: ParkingSession): ParkingSessionEnded {
  return {
    reference: s.reference,
    phone: s.phone as string,
    plate: s.plate as string,
    zone: s.zone,
    startedAt: new Date(s.startMs).toISOString(),
    endedAt: new Date(s.endMs).toISOString(),
    paidMinutes: s.paidMinutes,
    amountCents: s.amountCents,
    status: s.status === 'expired' ? 'expired' : 'ended',
  };
}

/** The sweep. */
export interface ParkingSweep {
  /** Expires ended sessions and sends due reminders; one run at a time per process. Never rejects (counted). */
  run(): Promise<SweepResult>;
  /** Resolves once no run is in flight. */
  idle(): Promise<void>;
}

/** Creates the sweep. */
export function createParkingSweep(deps: {
  readonly sessions: ParkingStore;
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly clock: Clock;
  readonly timeZone: string;
}): ParkingSweep {
  const { sessions, bus, logger, clock, timeZone } = deps;
  const reminders = deps.metrics.counter(
    'parking_reminders_total',
    'Expiry reminders handed to notifications.v1, by outcome (produced, failed: retried by the next sweep)',
    ['outcome'],
  );
  const expired = deps.metrics.counter('parking_sessions_expired_total', 'Sessions marked expired by the sweep');
  const logFailure = rateLimited(10_000);
  let running: Promise<SweepResult> | undefined;

  const reminderOf = (s: ParkingSession, nowMs: number) =>
    smsRecord(
      `parking:${s.reference}:reminder:${s.endMs}`,
      `parking:${s.reference}`,
      s.phone as string,
      s.locale,
      reminderText({
        plate: s.plate ?? '',
        zone: s.zone,
        endMs: s.endMs,
        nowMs,
        locale: s.locale,
        timeZone,
      }),
    );

  async function once(): Promise<SweepResult> {
    const nowMs = clock.nowMs();
    let result: SweepResult = { expired: 0, reminded: 0, published: 0 };
    try {
      const n = await sessions.expireDue(nowMs);
      expired.inc(n);
      result = { ...result, expired: n };
      for (;;) {
        const due = await sessions.claimReminders(nowMs, LEASE_MS, BATCH);
        if (due.length === 0) break;
        try {
          await bus.produce(
            TOPICS.notifications,
            due.map((s) => {
              const r = reminderOf(s, nowMs);
              return { key: r.key, value: r.value };
            }),
          );
        } catch (err) {
          await sessions.releaseReminders(due.map((s) => s.id)).catch(() => {});
          throw err;
        }
        await sessions.markReminded(due, nowMs);
        reminders.inc({ outcome: 'produced' }, due.length);
        result = { ...result, reminded: result.reminded + due.length };
        if (due.length < BATCH) break;
      }
      for (;;) {
        const over = await sessions.endedUnpublished(BATCH);
        if (over.length === 0) break;
        await bus.produce(
          TOPICS.parkingSessions,
          over.map((s) => ({ key: s.phone as string, value: JSON.stringify(endedRecord(s)) })),
        );
        await sessions.markEndedPublished(
          over.map((s) => s.id),
          nowMs,
        );
        result = { ...result, published: result.published + over.length };
        if (over.length < BATCH) break;
      }
    } catch (err) {
      reminders.inc({ outcome: 'failed' });
      logFailure(() => logger.error({ err }, 'parking: sweep failed (retried by the next one)'));
    }
    return result;
  }

  return {
    run() {
      if (!running) {
        running = once().finally(() => {
          running = undefined;
        });
      }
      return running;
    },
    async idle() {
      await running;
    },
  };
}
