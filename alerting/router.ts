import { randomUUID } from 'node:crypto';
import { busDeadLetter, parseBusMessage } from '../core/bus/dead-letter.ts';
import type { Bus, BusMessage, Subscription as BusSubscription } from '../core/bus/port.ts';
import { backoffDelayMs, type RetryPolicy } from '../core/bus/retry.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import { AlertTransition, type DeadLetter, TOPICS } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { type Logger, maskRecipient } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../core/store/store.ts';
import type { EmailMessage, SmsMessage } from './channels/channel.ts';
import type { Channels } from './channels/index.ts';
import type { AlertingConfig } from './config.ts';
import { isSmsAllowed, stopSms } from './consent.ts';
import { type DeliveryPurpose, enqueueMessages, type StoredMessage } from './delivery-log.ts';
import { createDevicePlaces, districtOf } from './device-places.ts';
import { cancelEscalation, escalationMessages, scheduleEscalation, takeDueEscalations } from './escalation.ts';
import { groupDueMs, groupedMessage, groupKeyOf, takeDueGroups } from './grouping.ts';
import { recordTransition } from './lifecycle-store.ts';
import {
  type Locale,
  type MessageOptions,
  RESIDENT_TYPES,
  renderOperatorEmail,
  renderResidentEmail,
  renderSms,
} from './messages.ts';
import { createNotificationIntake } from './notifications.ts';
import { releaseAtMs } from './resident-policy.ts';
import { createSchedules } from './schedules/index.ts';
import { type ActiveSilence, activeSilence, silenceMutes } from './silences.ts';
import { createSubscriptions } from './subscriptions.ts';
import { unsubscribeSecret, unsubscribeUrl } from './webhooks/unsubscribe-token.ts';

/**
 * The alerting router: consumes alert transitions (`alerts.v1`, group `alerting`), keeps the minimal lifecycle
 * record of each alert, chooses recipients, and sends each message once.
 *
 * Recipients: residents subscribed to the device (SMS and/or email, in their language) for resident-facing types
 * (leak, burst, backflow, no-consumption) on `open` and `resolved` — never `update`; the operators' email list
 * for every transition.
 *
 * Residents' policy (resident-policy.ts, wall clock): a non-urgent SMS in quiet hours is held (`scheduled`, with
 * `not_before`) until they end — a burst goes at once; the all-clear waits until the condition has stayed resolved
 * `resolvedSettleMinutes`, and a reopening meanwhile cancels it and is not announced again (the resident was never
 * told it ended: a condition flapping 50 times gives one SMS); a held open whose alert resolves before it is due is
 * cancelled with its all-clear; beyond `maxSmsPerDay` to one number, messages are `suppressed`. What each resident
 * was last told per device and type is in `alerting_resident_notices`. Held messages are sent by a sweep every
 * `sweepIntervalMs`: a row is taken by one instance (UPDATE … WHERE status = 'scheduled').
 *
 * Operators: messages wait `groupWaitSeconds` to be grouped by state, type and district (grouping.ts); alerts
 * nobody acknowledges escalate step by step (escalation.ts); a silence or maintenance window covering the alert
 * suppresses what it mutes (silences.ts); a message that cannot be delivered is reported to them. Each sweep also
 * sends what the delivery log holds for other purposes (digests, summaries, codes, notices; delivery-log.ts).
 *
 * Exactly-once effects on top of at-least-once delivery: every message has an idempotency key
 * `<alertId>:<state>:<channel>:<address>` (`:<ts>` appended for updates, which may repeat) and a row in
 * `alerting_deliveries`, inserted with ON CONFLICT DO NOTHING before any send. A key already `sent` or `rejected`
 * is skipped and counted (`alerting_messages_duplicate_total`): redelivery, replay and restart send nothing twice.
 * The batch handler resolves only once every delivery has a final status recorded, so offsets commit after the
 * effects are durable; rows left `pending` by a crash are retried at the next start or sweep.
 *
 * Ambiguous deliveries are reconciled before any resend. Every attempt first records `attempts + 1`, so a row
 * `pending` (or `failed`) with `attempts > 0` may have reached the provider: a crash, a store failure or a timeout
 * came between the provider accepting it and the row being marked `sent`. Before its next send — at start
 * (takeUnleased), on a redelivered batch, and before a retry after a timeout or a network error — the router
 * asks the channel (`Channel.find`): found → `sent` with the provider's id, nothing resent
 * (`alerting_messages_reconciled_total{channel}`); certainly not there → sent; cannot tell → retried with backoff
 * like a send (bounded; then `failed` and dead-lettered), never guessed. The SMS outbox, the email outbox and
 * Twilio can be asked (outbox line or file by key; Twilio's message list by number, sender, body and time).
 *
 * Known limit, stated plainly: SMTP cannot be asked. An email whose 250 was not recorded (a crash in a window of
 * one round-trip to the store, or a timeout after the server took it) is sent again — at least once — with the
 * same Message-ID (derived from the key), so receiving systems can drop the copy.
 *
 * Several instances: a row is leased by the instance delivering it (`lease_owner`, `lease_until`); an attempt is
 * recorded only under the instance's own lease, recipients are planned in one transaction per resident, device and
 * type (or operator group) under an advisory lock, and closing waits for sends under way before releasing its
 * leases. A row whose lease ran out (its instance died) is taken by the next sweep and reconciled first.
 *
 * Retries: each message gets `retry.maxAttempts` attempts with backoff (core/bus/retry.ts, Retry-After honoured),
 * at most `maxConcurrentSends` attempts in flight; messages to one recipient go out in transition order. After the
 * last attempt: status `failed`, a dead letter (stage `sending`, `ERR_RETRY_EXHAUSTED`, the transition's original
 * bytes) and `alerting_messages_failed_total{reason="exhausted"}`. A permanent refusal: status `rejected` and
 * `{reason="rejected"}`; it blocks nothing else. A replayed dead letter sends `failed` messages again.
 */

/** The consumer group of the alerting stage. */
export const ALERTING_GROUP_ID = 'alerting';

/** What the router needs. */
export interface AlertingDeps {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly config: AlertingConfig;
  readonly channels: Pick<Channels, 'sms' | 'email'>;
  /** A new consumer group starts at the oldest retained transition (default true: nothing is missed). */
  readonly fromBeginning?: boolean;
  /**
   * Consumer group of alerts.v1 (default `alerting`). Instances in one group share the partitions; instances in
   * different groups each handle every transition, and the delivery log still sends each message once.
   */
  readonly groupId?: string;
  /** Jitter source of the backoff, [0, 1) (default Math.random). */
  readonly random?: () => number;
  /** Wall clock of the residents' policy (quiet hours, settling, daily cap). Default: the system clock. */
  readonly clock?: Clock;
  /**
   * Base URL of the HTTP server residents reach (VIGIE_PUBLIC_URL, `publicUrlOf(http)`): their emails carry a
   * one-click unsubscribe link to it and the List-Unsubscribe headers. Absent: no link.
   */
  readonly publicUrl?: string | undefined;
}

/** The running alerting stage. */
export interface Alerting {
  /** Creates the topics, retries deliveries left pending by a crash, then consumes `alerts.v1`. */
  start(): Promise<void>;
  /** Stops consuming; deliveries waiting for a retry stay pending (retried at the next start). Channels stay open. */
  close(): Promise<void>;
  /** Sends the held messages now due (what the periodic sweep does); resolves once they have a final status. */
  sweep(): Promise<void>;
}

type ChannelName = 'sms' | 'email';

/** Where a delivery's transition came from: enough to dead-letter it with its original bytes. */
interface DeliverySource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly rawBase64: string;
}

interface Delivery {
  readonly key: string;
  readonly purpose: DeliveryPurpose;
  /** An earlier attempt may have reached the provider: ask it (`Channel.find`) before sending. */
  readonly ambiguous: boolean;
  /** When the delivery row was created (epoch ms): no attempt of it can be older. */
  readonly sinceMs: number;
  readonly alertId: string;
  readonly deviceId: string;
  readonly channel: ChannelName;
  readonly message: StoredMessage;
  /** Alert transitions only: what a failure dead-letters. */
  readonly source?: DeliverySource | undefined;
}

interface Recipient {
  readonly channel: ChannelName;
  readonly address: string;
  readonly locale: Locale;
  readonly audience: 'resident' | 'operator';
  /** Residents: their subscription, whose unsubscribe link their emails carry. */
  readonly subscriptionId?: number;
}

/** Creates the alerting stage. */
export function createAlerting(deps: AlertingDeps): Alerting {
  const { bus, store, metrics, logger, config, channels } = deps;
  const random = deps.random ?? Math.random;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const residents = config.residents;
  const subscriptions = createSubscriptions(store);
  const policy: RetryPolicy = config.retry;
  const limit = createLimiter(config.maxConcurrentSends);
  const abort = new AbortController();
  let subscription: BusSubscription | undefined;
  /** This instance, as the owner of the delivery leases it takes. */
  const instance = randomUUID();
  /** How long a lease lasts from each attempt (renewed then): one send, one backoff delay, and a margin. */
  const leaseMs = config.sendTimeoutMs + policy.maxDelayMs + 30_000;
  const devicePlaces = createDevicePlaces({ bus, store, logger, metrics });
  /** Deliveries under way: closing waits for them before releasing this instance's leases. */
  const inFlight = new Set<Promise<unknown>>();
  /** The unsubscribe links' base and key, read from the store at start when `publicUrl` is given. */
  let links: { publicUrl: string; secret: string } | undefined;
  const schedules = config.schedules.enabled
    ? createSchedules({
        store,
        bus,
        clock,
        logger,
        metrics,
        config: {
          schedules: config.schedules,
          timeZone: config.timeZone,
          locale: config.locale,
          priceEurPerM3: config.priceEurPerM3,
          operatorEmails: config.operatorEmails,
          waterTeamEmails: config.teamEmails['water-meter'],
          utilityContact: config.utilityContact,
          instanceId: instance,
          get unsubscribe() {
            return links;
          },
        },
      })
    : undefined;
  const notifications = createNotificationIntake({
    bus,
    store,
    logger,
    metrics,
    nowMs: () => clock.nowMs(),
    queued: () => void sweepOnce(),
  });
  /** Keys this instance is delivering right now. */
  const delivering = new Set<string>();

  const sentTotal = metrics.counter('alerting_messages_sent_total', 'Messages accepted by a provider or the outbox', [
    'channel',
  ]);
  const failedTotal = metrics.counter(
    'alerting_messages_failed_total',
    'Messages not delivered: rejected (permanent), exhausted (retries used up), error (fatal channel error)',
    ['channel', 'reason'],
  );
  const reconciledTotal = metrics.counter(
    'alerting_messages_reconciled_total',
    'Messages found at the provider after an attempt whose outcome was not recorded (crash, timeout): marked sent, not resent',
    ['channel'],
  );
  const duplicateTotal = metrics.counter(
    'alerting_messages_duplicate_total',
    'Messages dropped on purpose: already sent or rejected under the same idempotency key',
  );
  const transitionsTotal = metrics.counter('alerting_transitions_total', 'Alert transitions processed', [
    'type',
    'state',
  ]);
  const suppressedTotal = metrics.counter(
    'alerting_messages_suppressed_total',
    'Resident messages not sent on purpose: flapping (the resident still knows it is open), settled (never told it opened), rate-limit (daily cap)',
    ['channel', 'reason'],
  );
  const heldTotal = metrics.counter(
    'alerting_messages_held_total',
    'Resident messages held for later: quiet hours, or the all-clear waiting for the condition to settle',
    ['channel', 'reason'],
  );
  const elsewhereTotal = metrics.counter(
    'alerting_messages_leased_elsewhere_total',
    'Messages left to whoever is delivering them: another instance holding their lease (it sends them, or its lease runs out and another does), or this instance by another path',
  );
  const escalatedTotal = metrics.counter(
    'alerting_escalations_total',
    'Escalation steps taken for alerts nobody acknowledged in time, by step (1 = first)',
    ['step'],
  );
  const groupedTotal = metrics.counter(
    'alerting_messages_grouped_total',
    'Operator messages sent as part of one grouped message (same state, type and district) instead of one each',
  );
  const reportedTotal = metrics.counter(
    'alerting_failures_reported_total',
    'Messages that could not be delivered (rejected or retries exhausted), reported to the operators by email',
  );
  const invalidTotal = metrics.counter(
    'alerting_transitions_dead_lettered_total',
    'Transitions refused (not JSON, not an AlertTransition) and dead-lettered',
    ['reason'],
  );

  function messageOptions(locale: Locale): MessageOptions {
    return {
      locale,
      priceEurPerM3: config.priceEurPerM3,
      utilityContact: config.utilityContact,
      timeZone: config.timeZone,
    };
  }

  async function deadLetter(letter: DeadLetter, key: string): Promise<void> {
    await bus.produce(TOPICS.deadLetters, [{ key, value: JSON.stringify(letter) }]);
  }

  async function recipientsFor(t: AlertTransition): Promise<Recipient[]> {
    const out: Recipient[] = [];
    if (RESIDENT_TYPES.includes(t.type) && t.state !== 'update') {
      for (const s of await subscriptions.forDevice(t.deviceId)) {
        out.push({
          channel: s.channel,
          address: s.address,
          locale: s.locale,
          audience: 'resident',
          subscriptionId: s.id,
        });
      }
    }
    // Every transition to the operators, and to the team of the device's kind (once per address).
    for (const address of new Set([...config.operatorEmails, ...config.teamEmails[t.kind]])) {
      out.push({ channel: 'email', address, locale: config.locale, audience: 'operator' });
    }
    return out;
  }

  function render(t: AlertTransition, r: Recipient): StoredMessage {
    const options = messageOptions(r.locale);
    if (r.channel === 'sms') return { kind: 'sms', to: r.address, body: renderSms(t, options) };
    if (r.audience === 'operator') return { kind: 'email', to: r.address, ...renderOperatorEmail(t, options) };
    const link =
      links && r.subscriptionId !== undefined
        ? unsubscribeUrl(links.publicUrl, links.secret, r.subscriptionId)
        : undefined;
    return { kind: 'email', to: r.address, ...renderResidentEmail(t, { ...options, unsubscribeUrl: link }) };
  }

  /** Cancels held messages to one resident about one device and alert type; returns how many. */
  async function cancelHeld(
    db: SqlExecutor,
    r: Recipient,
    t: AlertTransition,
    state: 'open' | 'resolved',
    alertId?: string,
  ) {
    const res = await db.query(
      `UPDATE alerting_deliveries SET status = 'cancelled', last_error = $6, updated_at = now()
       WHERE status = 'scheduled' AND transition_state = $1 AND channel = $2 AND recipient = $3
         AND split_part(alert_id, ':', 1) = $4 AND split_part(alert_id, ':', 2) = $5
         AND ($7::text IS NULL OR alert_id = $7)`,
      [state, r.channel, r.address, t.deviceId, t.type, `cancelled by ${t.alertId} ${t.state}`, alertId ?? null],
    );
    return res.rowCount;
  }

  /** Records what a resident was last told about the device and type. */
  async function tell(db: SqlExecutor, r: Recipient, t: AlertTransition, toldOpen: boolean): Promise<void> {
    await db.query(
      `INSERT INTO alerting_resident_notices (channel, recipient, device_id, type, told_open, alert_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (channel, recipient, device_id, type) DO UPDATE
         SET told_open = EXCLUDED.told_open, alert_id = EXCLUDED.alert_id, updated_at = now()`,
      [r.channel, r.address, t.deviceId, t.type, toldOpen, t.alertId],
    );
  }

  /** What to do with a resident's message about `t` (see the file header), and the notice it leaves. */
  async function planResident(db: SqlExecutor, t: AlertTransition, r: Recipient): Promise<Plan> {
    const nowMs = clock.nowMs();
    const notice = await db.query<{ told_open: boolean }>(
      `SELECT told_open FROM alerting_resident_notices
       WHERE channel = $1 AND recipient = $2 AND device_id = $3 AND type = $4`,
      [r.channel, r.address, t.deviceId, t.type],
    );
    const toldOpen = notice.rows[0]?.told_open ?? false;
    const settle = t.state === 'open' ? 0 : residents.resolvedSettleMinutes * 60_000;
    if (t.state === 'open') {
      // A reopening while its all-clear is still held: the resident was never told it ended.
      const reopened = (await cancelHeld(db, r, t, 'resolved')) > 0;
      if (reopened || toldOpen) {
        await tell(db, r, t, true);
        return { status: 'suppressed', notBeforeMs: nowMs, reason: 'flapping' };
      }
    } else {
      // An open still held (quiet hours) goes with its all-clear; a resident never told it opened hears nothing.
      const heldOpen = (await cancelHeld(db, r, t, 'open', t.alertId)) > 0;
      await tell(db, r, t, false);
      if (heldOpen || !toldOpen) return { status: 'suppressed', notBeforeMs: nowMs, reason: 'settled' };
    }
    const at = releaseAtMs(residents, config.timeZone, t.type, r.channel, nowMs + settle);
    if (r.channel === 'sms') {
      const sent = await db.query<{ n: number | string }>(
        `SELECT count(*) AS n FROM alerting_deliveries
         WHERE channel = 'sms' AND recipient = $1 AND status IN ('pending', 'sent', 'scheduled')
           AND not_before > $2 AND not_before <= $3`,
        [r.address, new Date(at - 86_400_000).toISOString(), new Date(at).toISOString()],
      );
      if (Number(sent.rows[0]?.n ?? 0) >= residents.maxSmsPerDay) {
        return { status: 'suppressed', notBeforeMs: at, reason: 'rate-limit' };
      }
    }
    if (t.state === 'open') await tell(db, r, t, true);
    if (at <= nowMs) return { status: 'pending', notBeforeMs: nowMs };
    return { status: 'scheduled', notBeforeMs: at, reason: t.state === 'open' ? 'quiet-hours' : 'settling' };
  }

  /** What becomes of an operator message: suppressed by a silence, held to be grouped, or sent at once. */
  async function planOperator(db: SqlExecutor, t: AlertTransition, r: Recipient, place: Place): Promise<Plan> {
    const nowMs = clock.nowMs();
    if (place.silence && silenceMutes(place.silence.scope, 'operator')) {
      return {
        status: 'suppressed',
        notBeforeMs: nowMs,
        reason: place.silence.scope === 'maintenance' ? 'maintenance' : 'silenced',
      };
    }
    if (config.groupWaitSeconds === 0) return { status: 'pending', notBeforeMs: nowMs };
    const groupKey = groupKeyOf(t, place.district);
    const due = await groupDueMs(db, r, groupKey, nowMs, config.groupWaitSeconds * 1000);
    return { status: 'scheduled', notBeforeMs: due, reason: 'grouping', groupKey };
  }

  /**
   * Records the delivery row if new, with its plan (residents' policy, silences, grouping), in one transaction
   * serialised per resident, device and type (or per operator group) across instances: two instances handling the
   * same transition plan it once. Returns the delivery this instance is to make now, leased to it — fresh, or left
   * `pending` (an earlier batch failed, a crash) or `failed` (a replayed dead letter), ambiguous when an attempt may
   * have reached the provider — or undefined: held, not sent on purpose, already final, or leased elsewhere.
   */
  async function claim(
    t: AlertTransition,
    r: Recipient,
    d: Omit<Delivery, 'ambiguous' | 'sinceMs'>,
    place: Place,
  ): Promise<Delivery | undefined> {
    const lock =
      r.audience === 'resident'
        ? `resident:${r.channel}:${r.address}:${t.deviceId}:${t.type}`
        : `operator:${r.channel}:${r.address}:${groupKeyOf(t, place.district)}`;
    const outcome = await store.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
      const existing = await tx.query<{ status: string }>(
        'SELECT status FROM alerting_deliveries WHERE idempotency_key = $1',
        [d.key],
      );
      const row = existing.rows[0];
      if (row) {
        if (row.status !== 'pending' && row.status !== 'failed')
          return { kind: 'duplicate' as const, status: row.status };
        // `pending` (a crash, or an earlier batch that failed) or `failed` (a replayed dead letter): deliver it now
        // if no other instance holds it, after asking the provider when an earlier attempt may have reached it.
        const leased = await lease(tx, d.key, ['pending', 'failed']);
        return leased ? { kind: 'deliver' as const, ...leased } : { kind: 'elsewhere' as const };
      }
      let plan: Plan;
      if (r.audience === 'operator') plan = await planOperator(tx, t, r, place);
      else if (place.silence && silenceMutes(place.silence.scope, 'resident')) {
        plan = { status: 'suppressed', notBeforeMs: clock.nowMs(), reason: 'maintenance' };
      } else plan = await planResident(tx, t, r);
      const inserted = await tx.query<{ created_at: Date | string }>(
        `INSERT INTO alerting_deliveries
           (idempotency_key, alert_id, transition_state, channel, recipient, locale, message, source, status,
            not_before, last_error, group_key, lease_owner, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11, $12,
                 CASE WHEN $9 = 'pending' THEN $13 END,
                 CASE WHEN $9 = 'pending' THEN now() + $14 * interval '1 millisecond' END)
         RETURNING created_at`,
        [
          d.key,
          t.alertId,
          t.state,
          r.channel,
          r.address,
          r.locale,
          JSON.stringify(d.message),
          JSON.stringify(d.source),
          plan.status,
          new Date(plan.notBeforeMs).toISOString(),
          place.silence && plan.reason !== 'grouping'
            ? `silenced (${place.silence.scope} ${place.silence.id}): ${place.silence.reason}`.slice(0, 500)
            : (plan.reason ?? null),
          plan.groupKey ?? null,
          instance,
          leaseMs,
        ],
      );
      const created = inserted.rows[0]?.created_at;
      if (created === undefined) throw new Error(`alerting: delivery ${maskKey(d.key)} not inserted`); // a bug
      return { kind: 'planned' as const, plan, createdAt: created };
    });
    switch (outcome.kind) {
      case 'duplicate':
        duplicateTotal.inc();
        logger.debug({ key: maskKey(d.key), status: outcome.status }, 'duplicate message dropped on purpose');
        return undefined;
      case 'elsewhere':
        elsewhereTotal.inc();
        logger.debug({ key: maskKey(d.key) }, 'message leased by another alerting instance; left to it');
        return undefined;
      case 'deliver':
        return { ...d, ambiguous: outcome.attempts > 0, sinceMs: outcome.sinceMs };
    }
    const { plan } = outcome;
    if (plan.status === 'pending') return { ...d, ambiguous: false, sinceMs: epochMs(outcome.createdAt) };
    if (plan.reason !== 'grouping') {
      const counter = plan.status === 'scheduled' ? heldTotal : suppressedTotal;
      counter.inc({ channel: r.channel, reason: plan.reason ?? 'unknown' });
      logger.info(
        {
          alertId: t.alertId,
          channel: r.channel,
          to: maskRecipient(r.address),
          status: plan.status,
          reason: plan.reason,
        },
        plan.status === 'scheduled' ? 'message held' : 'message not sent on purpose',
      );
    }
    return undefined;
  }

  /**
   * Leases a row in one of `statuses` to this instance, unless another instance holds a live lease on it; returns
   * its attempts so far and when it was created, or undefined.
   */
  async function lease(
    db: SqlExecutor,
    key: string,
    statuses: readonly string[],
  ): Promise<{ attempts: number; sinceMs: number } | undefined> {
    const res = await db.query<{ attempts: number; created_at: Date | string }>(
      `UPDATE alerting_deliveries SET status = 'pending', lease_owner = $2,
         lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
       WHERE idempotency_key = $1 AND status = ANY(string_to_array($4, ','))
         AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
       RETURNING attempts, created_at`,
      [key, instance, leaseMs, statuses.join(',')],
    );
    const row = res.rows[0];
    return row ? { attempts: Number(row.attempts), sinceMs: epochMs(row.created_at) } : undefined;
  }

  /**
   * Asks the channel whether it already holds the message of `d`: its provider id, null when it certainly does
   * not (or the channel cannot be asked: SMTP), or a thrown AppError when it cannot tell.
   */
  async function findAtProvider(d: Delivery): Promise<string | null> {
    if (d.message.kind === 'sms') {
      const { find } = channels.sms;
      return find ? find.call(channels.sms, { to: d.message.to, body: d.message.body }, d.key, d.sinceMs) : null;
    }
    const { find } = channels.email;
    const email = { to: d.message.to, subject: d.message.subject, text: d.message.text, html: d.message.html };
    return find ? find.call(channels.email, email, d.key, d.sinceMs) : null;
  }

  async function setStatus(
    key: string,
    status: 'pending' | 'sent' | 'rejected' | 'failed' | 'suppressed',
    fields: { providerMessageId?: string; lastError?: string } = {},
  ): Promise<void> {
    await store.query(
      `UPDATE alerting_deliveries SET status = $2, provider_message_id = COALESCE($3, provider_message_id),
         last_error = COALESCE($4, last_error), updated_at = now() WHERE idempotency_key = $1`,
      [key, status, fields.providerMessageId ?? null, fields.lastError ?? null],
    );
  }

  /**
   * Delivers one message unless this instance is already delivering it by another path (a redelivered batch while
   * the sweep recovers the same row): the lease is the instance's, so only this set keeps two of its own apart.
   */
  async function deliver(d: Delivery): Promise<void> {
    if (delivering.has(d.key)) {
      elsewhereTotal.inc();
      return;
    }
    delivering.add(d.key);
    try {
      await sendWithRetries(d);
    } finally {
      delivering.delete(d.key);
    }
  }

  /** Sends one message with bounded retries and records its final status. Throws only when closing or on a bug. */
  async function sendWithRetries(d: Delivery): Promise<void> {
    const masked = maskRecipient(d.message.to);
    let firstFailedAt: string | undefined;
    let ambiguous = d.ambiguous;
    for (let attempt = 1; ; attempt++) {
      if (abort.signal.aborted) throw closing();
      try {
        if (ambiguous) {
          const found = await limit(() => findAtProvider(d));
          if (found !== null) {
            await setStatus(d.key, 'sent', { providerMessageId: found });
            reconciledTotal.inc({ channel: d.channel });
            logger.warn(
              { alertId: d.alertId, channel: d.channel, to: masked },
              'message found at the provider after an unrecorded attempt: marked sent, not sent again',
            );
            return;
          }
          ambiguous = false;
        }
        // A number that sent STOP hears nothing more, even a message queued or retried before it did.
        if (d.message.kind === 'sms' && !(await isSmsAllowed(store, d.message.to))) {
          await setStatus(d.key, 'suppressed', { lastError: 'the recipient sent STOP' });
          suppressedTotal.inc({ channel: 'sms', reason: 'opted-out' });
          logger.info({ alertId: d.alertId, to: masked }, 'SMS not sent: the recipient sent STOP');
          return;
        }
        const { message } = d;
        const result = await limit(async () => {
          // Recorded before the send, in the limiter's slot (the send follows at once): a row with attempts > 0
          // may have reached the provider (see above). Only while this instance still holds the row's lease: if it
          // ran out (a stalled process) and another instance took the row, that one sends it, not this one.
          const held = await store.query(
            `UPDATE alerting_deliveries SET attempts = attempts + 1, status = 'pending',
               lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
             WHERE idempotency_key = $1 AND lease_owner = $2 AND status = 'pending'`,
            [d.key, instance, leaseMs],
          );
          if (held.rowCount === 0) return undefined;
          const { kind, ...payload } = message;
          return kind === 'sms'
            ? channels.sms.send(payload as SmsMessage, d.key)
            : channels.email.send(payload as EmailMessage, d.key);
        });
        if (result === undefined) {
          elsewhereTotal.inc();
          logger.warn({ key: maskKey(d.key) }, 'lease lost to another alerting instance before sending; left to it');
          return;
        }
        if (result.status === 'delivered') {
          await setStatus(d.key, 'sent', { providerMessageId: result.providerMessageId });
          sentTotal.inc({ channel: d.channel });
        } else {
          await setStatus(d.key, 'rejected', { lastError: result.reason });
          failedTotal.inc({ channel: d.channel, reason: 'rejected' });
          logger.warn(
            { alertId: d.alertId, channel: d.channel, to: masked, reason: result.reason },
            'message rejected',
          );
          if (d.message.kind === 'sms' && result.optedOut) {
            // The carrier holds a STOP we never received (Twilio 21610): honour it for every later message.
            await stopSms(store, { number: d.message.to, source: 'sms', atMs: clock.nowMs() });
          } else {
            await reportFailure(d, `rejected: ${result.reason}`, 1);
          }
        }
        return;
      } catch (err) {
        if (!(err instanceof AppError)) throw err; // a bug: surface it, the batch is redelivered
        firstFailedAt ??= new Date().toISOString();
        // A timeout or a network error may come after the provider took the message: ask before the next send.
        if (!DEFINITELY_NOT_SENT.has(err.code)) ambiguous = true;
        const exhausted = err.retryable && attempt >= policy.maxAttempts;
        if (err.retryable && !exhausted) {
          await setStatus(d.key, 'pending', { lastError: err.message });
          await sleep(backoffDelayMs(policy, attempt, err.retryAfterMs, random), abort.signal);
          continue;
        }
        const code = exhausted ? 'ERR_RETRY_EXHAUSTED' : err.code;
        const message = exhausted
          ? `sending ${d.channel} to ${masked} for ${d.alertId} gave up after ${attempt} attempts: ${err.message}`
          : `sending ${d.channel} to ${masked} for ${d.alertId} failed: ${err.message}`;
        await setStatus(d.key, 'failed', { lastError: err.message });
        if (d.source) {
          await deadLetter(
            {
              rawBase64: d.source.rawBase64,
              source: { type: 'bus', topic: d.source.topic, partition: d.source.partition, offset: d.source.offset },
              deviceId: d.deviceId,
              errorCode: code,
              message,
              issues: [],
              component: 'alerting',
              stage: 'sending',
              attempts: attempt,
              firstFailedAt,
            },
            d.deviceId,
          );
        }
        failedTotal.inc({ channel: d.channel, reason: exhausted ? 'exhausted' : 'error' });
        logger.error({ alertId: d.alertId, channel: d.channel, to: masked, code }, message);
        await reportFailure(d, `${code}: ${err.message}`, attempt);
        return;
      }
    }
  }

  /**
   * Tells the operators that a message could not be delivered (queued like a digest: the sweep sends it once). A
   * failed report is not reported again; the recipient is masked in it, the delivery log has it whole.
   */
  async function reportFailure(d: Delivery, reason: string, attempts: number): Promise<void> {
    if (d.purpose === 'report' || config.operatorEmails.length === 0) return;
    const fr = config.locale === 'fr';
    const to = maskRecipient(d.message.to);
    const what = d.channel === 'sms' ? 'SMS' : 'email';
    const subject = fr
      ? `[Vigie] Échec d'envoi : ${what} à ${to} (${d.alertId})`
      : `[Vigie] Delivery failed: ${what} to ${to} (${d.alertId})`;
    const text = [
      fr ? `Un message n'a pas pu être remis.` : 'A message could not be delivered.',
      '',
      `${fr ? 'Objet' : 'About'} : ${d.alertId} (${d.purpose})`,
      `${fr ? 'Destinataire' : 'Recipient'} : ${to} (${d.channel})`,
      `${fr ? 'Tentatives' : 'Attempts'} : ${attempts}`,
      `${fr ? 'Raison' : 'Reason'} : ${reason.slice(0, 500)}`,
      `${fr ? 'Clé' : 'Key'} : ${maskKey(d.key)}`,
      '',
      fr
        ? "Le journal des envois (alerting_deliveries) garde le message entier ; après des essais épuisés, l'alerte est aussi en lettre morte (deadletter.v1), à rejouer une fois la cause réglée."
        : 'The delivery log (alerting_deliveries) keeps the whole message; after retries run out the alert is also dead-lettered (deadletter.v1), to replay once the cause is fixed.',
      '',
    ].join('\n');
    const queued = await enqueueMessages(
      store,
      config.operatorEmails.map((address) => ({
        key: `report:${d.key}:email:${address}`,
        subject: d.alertId,
        purpose: 'report' as const,
        locale: config.locale,
        message: { kind: 'email' as const, to: address, subject, text },
        notBeforeMs: clock.nowMs(),
      })),
    );
    if (queued > 0) reportedTotal.inc();
  }

  /** Delivers all, in order per recipient, recipients in parallel (attempts bounded by the limiter). */
  async function deliverAll(deliveries: readonly Delivery[]): Promise<void> {
    const byRecipient = new Map<string, Delivery[]>();
    for (const d of deliveries) {
      const k = `${d.channel}:${d.message.to}`;
      const list = byRecipient.get(k) ?? [];
      list.push(d);
      byRecipient.set(k, list);
    }
    const running = Promise.allSettled(
      [...byRecipient.values()].map(async (list) => {
        for (const d of list) await deliver(d);
      }),
    );
    inFlight.add(running);
    const results = await running.finally(() => inFlight.delete(running));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  async function handle(messages: readonly BusMessage[]): Promise<void> {
    const deliveries: Delivery[] = [];
    const seen = new Set<string>();
    for (const m of messages) {
      const t = await parseOrDeadLetter(m);
      if (!t) continue;
      transitionsTotal.inc({ type: t.type, state: t.state });
      await recordTransition(store, t);
      const nowMs = clock.nowMs();
      const district = await districtOf(store, t.deviceId);
      const silence = await activeSilence(store, { deviceId: t.deviceId, kind: t.kind, type: t.type, district }, nowMs);
      const place: Place = { district, silence };
      if (t.state === 'resolved' || silence) await cancelEscalation(store, t.alertId);
      else await scheduleEscalation(store, config.escalation, t, nowMs);
      const source: DeliverySource = {
        topic: m.topic,
        partition: m.partition,
        offset: m.offset,
        rawBase64: Buffer.from(m.value, 'utf8').toString('base64'),
      };
      for (const r of await recipientsFor(t)) {
        const key = `${t.alertId}:${t.state}:${r.channel}:${r.address}${t.state === 'update' ? `:${t.ts}` : ''}`;
        if (seen.has(key)) {
          duplicateTotal.inc(); // the same transition twice in one batch
          continue;
        }
        seen.add(key);
        const d = {
          key,
          purpose: 'alert' as const,
          alertId: t.alertId,
          deviceId: t.deviceId,
          channel: r.channel,
          message: render(t, r),
          source,
        };
        const claimed = await claim(t, r, d, place);
        if (claimed) deliveries.push(claimed);
      }
    }
    await deliverAll(deliveries);
  }

  async function parseOrDeadLetter(m: BusMessage): Promise<AlertTransition | undefined> {
    const parsed = parseBusMessage(m, AlertTransition, {
      what: 'alert transition',
      contract: 'CONTRACTS.md §4',
      jsonCode: 'ERR_ALERT_JSON',
      schemaCode: 'ERR_ALERT_SCHEMA',
    });
    if (parsed.ok) return parsed.data;
    invalidTotal.inc({ reason: parsed.errorCode === 'ERR_ALERT_JSON' ? 'json' : 'schema' });
    const deviceId = m.key.split(':')[0];
    await bus.produce(TOPICS.deadLetters, [
      busDeadLetter(m, parsed, {
        component: 'alerting',
        nowMs: Date.now(),
        key: m.key || 'alerting',
        ...(deviceId ? { deviceId } : {}),
      }),
    ]);
    return undefined;
  }

  /** The columns a delivery is rebuilt from, as a row-taking UPDATE returns them. */
  const DELIVERY_COLUMNS =
    'idempotency_key, purpose, attempts, created_at, alert_id, channel, message, source, not_before';

  /**
   * Leases the `pending` rows nobody holds — left by a crash, by an instance that closed, or whose lease ran out
   * (an instance died mid-send) — and returns them to deliver, oldest first: an attempt that may have reached the
   * provider is reconciled before any resend.
   */
  function takeUnleased(): Promise<Delivery[]> {
    return takeRows(
      `UPDATE alerting_deliveries SET lease_owner = $1, lease_until = now() + $2 * interval '1 millisecond',
         updated_at = now()
       WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < now())
       RETURNING ${DELIVERY_COLUMNS}`,
      [instance, leaseMs],
      'delivering messages left pending (a crash, a closed or lost instance)',
    );
  }

  /** Takes the held messages now due that are not grouped (residents' held SMS, digests, reports, codes). */
  function takeDueHeld(nowMs: number): Promise<Delivery[]> {
    return takeRows(
      `UPDATE alerting_deliveries SET status = 'pending', lease_owner = $2,
         lease_until = now() + $3 * interval '1 millisecond', updated_at = now()
       WHERE status = 'scheduled' AND group_key IS NULL AND not_before <= $1
       RETURNING ${DELIVERY_COLUMNS}`,
      [new Date(nowMs).toISOString(), instance, leaseMs],
      'sending held messages now due',
    );
  }

  /** Inserts a message leased to this instance (`pending`); undefined when its key is already in the log. */
  async function insertLeased(
    db: SqlExecutor,
    m: { key: string; subject: string; purpose: DeliveryPurpose; message: StoredMessage; groupKey?: string },
  ): Promise<Delivery | undefined> {
    const res = await db.query<{ created_at: Date | string }>(
      `INSERT INTO alerting_deliveries
         (idempotency_key, alert_id, purpose, channel, recipient, locale, status, message, not_before, group_key,
          lease_owner, lease_until)
       VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7::jsonb, now(), $8, $9, now() + $10 * interval '1 millisecond')
       ON CONFLICT (idempotency_key) DO NOTHING
       RETURNING created_at`,
      [
        m.key,
        m.subject,
        m.purpose,
        m.message.kind,
        m.message.to,
        config.locale,
        JSON.stringify(m.message),
        m.groupKey ?? null,
        instance,
        leaseMs,
      ],
    );
    const created = res.rows[0]?.created_at;
    if (created === undefined) return undefined;
    return {
      key: m.key,
      purpose: m.purpose,
      ambiguous: false,
      sinceMs: epochMs(created),
      alertId: m.subject,
      deviceId: m.subject.split(':')[0] ?? 'unknown',
      channel: m.message.kind,
      message: m.message,
    };
  }

  /** Takes the operator groups now due: a group of one goes as it is, a larger one as one message (grouping.ts). */
  async function takeGroups(tx: SqlExecutor, nowMs: number): Promise<Delivery[]> {
    const out: Delivery[] = [];
    for (const g of await takeDueGroups(tx, nowMs)) {
      const [only] = g.members;
      if (g.members.length === 1 && only) {
        const leased = await lease(tx, only.key, ['grouped']);
        if (leased) {
          out.push({
            key: only.key,
            purpose: 'alert',
            ambiguous: leased.attempts > 0,
            sinceMs: leased.sinceMs,
            alertId: only.alertId,
            deviceId: only.alertId.split(':')[0] ?? 'unknown',
            channel: g.channel,
            message: only.message,
            source: only.source as DeliverySource | undefined,
          });
        }
        continue;
      }
      const grouped = groupedMessage(g);
      await tx.query(
        `UPDATE alerting_deliveries SET last_error = $2 WHERE idempotency_key = ANY(string_to_array($1, E'\\n'))`,
        [g.members.map((m) => m.key).join('\n'), `grouped into ${maskKey(grouped.key)}`],
      );
      const d = await insertLeased(tx, {
        key: grouped.key,
        subject: `group:${g.groupKey}`,
        purpose: 'group',
        message: grouped.message,
        groupKey: g.groupKey,
      });
      groupedTotal.inc(g.members.length);
      if (d) out.push(d);
    }
    return out;
  }

  /** Takes the escalation steps now due and queues their messages (escalation.ts), leased to this instance. */
  async function takeEscalations(tx: SqlExecutor, nowMs: number): Promise<Delivery[]> {
    const due = await takeDueEscalations(tx, nowMs);
    if (due.length === 0) return [];
    for (const e of due) escalatedTotal.inc({ step: String(e.step + 1) });
    logger.warn({ alerts: due.length }, 'escalating alerts nobody acknowledged in time');
    const out: Delivery[] = [];
    const options = { locale: config.locale, timeZone: config.timeZone };
    for (const m of escalationMessages(config.escalation, due, options)) {
      const d = await insertLeased(tx, { ...m, purpose: 'escalation' });
      if (d) out.push(d);
    }
    return out;
  }

  /**
   * One sweep: operator groups and escalation steps now due (taken and queued in one transaction: once across
   * instances), held messages now due, and pending rows nobody holds; then delivers them all.
   */
  async function sweep(): Promise<void> {
    const nowMs = clock.nowMs();
    const taken = await store.transaction(async (tx) => [
      ...(await takeGroups(tx, nowMs)),
      ...(await takeEscalations(tx, nowMs)),
    ]);
    taken.push(...(await takeDueHeld(nowMs)), ...(await takeUnleased()));
    await deliverAll(taken);
  }

  /** Runs a row-taking UPDATE … RETURNING and rebuilds the deliveries it took, in the order they are due. */
  async function takeRows(sql: string, params: unknown[], what: string): Promise<Delivery[]> {
    const res = await store.query<{
      idempotency_key: string;
      purpose: DeliveryPurpose;
      attempts: number;
      created_at: Date | string;
      alert_id: string;
      channel: ChannelName;
      message: StoredMessage | string;
      source: DeliverySource | string | null;
      not_before: Date | string | null;
    }>(sql, params);
    if (res.rows.length === 0) return [];
    logger.info({ count: res.rows.length }, what);
    const due = (row: (typeof res.rows)[number]) =>
      row.not_before ? epochMs(row.not_before) : epochMs(row.created_at);
    const rows = [...res.rows].sort(
      (a, b) =>
        epochMs(a.created_at) - epochMs(b.created_at) ||
        due(a) - due(b) ||
        a.idempotency_key.localeCompare(b.idempotency_key),
    );
    const ids = rows.map((r) => r.alert_id);
    const devices = await store.query<{ alert_id: string; device_id: string }>(
      `SELECT alert_id, device_id FROM alerting_alerts WHERE alert_id = ANY(string_to_array($1, E'\\n'))`,
      [ids.join('\n')],
    );
    const deviceOf = new Map(devices.rows.map((r) => [r.alert_id, r.device_id]));
    return rows.map((row) => ({
      key: row.idempotency_key,
      purpose: row.purpose,
      ambiguous: Number(row.attempts) > 0,
      sinceMs: epochMs(row.created_at),
      alertId: row.alert_id,
      deviceId: deviceOf.get(row.alert_id) ?? row.alert_id.split(':')[0] ?? 'unknown',
      channel: row.channel,
      message: typeof row.message === 'string' ? (JSON.parse(row.message) as StoredMessage) : row.message,
      source:
        row.source === null
          ? undefined
          : typeof row.source === 'string'
            ? (JSON.parse(row.source) as DeliverySource)
            : row.source,
    }));
  }

  let sweeping: Promise<void> | undefined;
  let sweepTimer: ReturnType<typeof setInterval> | undefined;
  /** One sweep at a time; a failed sweep is logged and retried at the next tick. */
  const sweepOnce = () => {
    sweeping ??= sweep()
      .catch((err) => logger.error({ err }, 'sending held messages failed; retried at the next sweep'))
      .finally(() => {
        sweeping = undefined;
      });
    return sweeping;
  };

  return {
    sweep: () => sweep(),
    async start() {
      await bus.ensureTopic(TOPICS.alerts);
      await bus.ensureTopic(TOPICS.deadLetters);
      if (deps.publicUrl) {
        links = { publicUrl: deps.publicUrl, secret: await unsubscribeSecret(store, config.unsubscribeSecret) };
      }
      await devicePlaces.start();
      await schedules?.start();
      await notifications.start();
      await deliverAll(await takeUnleased());
      sweepTimer = setInterval(sweepOnce, residents.sweepIntervalMs);
      sweepTimer.unref();
      subscription = await bus.subscribe({
        groupId: deps.groupId ?? ALERTING_GROUP_ID,
        topics: [TOPICS.alerts],
        fromBeginning: deps.fromBeginning ?? true,
        handler: (messages) => handle(messages),
      });
    },
    async close() {
      clearInterval(sweepTimer);
      abort.abort();
      await sweeping;
      await subscription?.close();
      subscription = undefined;
      await devicePlaces.close();
      await schedules?.close();
      await notifications.close();
      await Promise.allSettled([...inFlight]); // sends under way end (waits for a retry end at once: aborted)
      // Deliveries left pending by this instance need no lease to run out: the next instance takes them at once.
      await store
        .query(
          `UPDATE alerting_deliveries SET lease_owner = NULL, lease_until = NULL
           WHERE lease_owner = $1 AND status = 'pending'`,
          [instance],
        )
        .catch((err) => logger.warn({ err }, 'alerting: releasing leases at close failed; they run out by themselves'));
    },
  };
}

/** What becomes of one resident message: sent now, held until `notBeforeMs`, or not sent on purpose. */
interface Plan {
  readonly status: 'pending' | 'scheduled' | 'suppressed';
  /** When it may go out (wall clock, epoch ms): also what the daily cap counts by. */
  readonly notBeforeMs: number;
  readonly reason?:
    | 'quiet-hours'
    | 'settling'
    | 'flapping'
    | 'settled'
    | 'rate-limit'
    | 'silenced'
    | 'maintenance'
    | 'grouping';
  /** Operator messages held to be grouped: their group (grouping.ts). */
  readonly groupKey?: string;
}

/** Where a transition's device is, and the silence or maintenance window covering its alert now, if any. */
interface Place {
  readonly district: string;
  readonly silence?: ActiveSilence | undefined;
}

/** Retryable errors that prove the provider did not take the message (it answered no); others may hide a yes. */
const DEFINITELY_NOT_SENT: ReadonlySet<string> = new Set([
  'ERR_CHANNEL_THROTTLED',
  'ERR_CHANNEL_UNAVAILABLE',
  'ERR_CHANNEL_CLOSED',
  'ERR_ALERTING_CLOSING',
]);

/** A timestamptz from the store (a Date, or a string from some drivers) in epoch ms. */
function epochMs(value: Date | string): number {
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  if (!Number.isFinite(ms)) throw new Error(`alerting: unreadable created_at ${String(value)}`); // a bug
  return ms;
}

function closing(): AppError {
  return new AppError('ERR_ALERTING_CLOSING', 'alerting: closing, delivery left pending (retried at next start)', {
    retryable: true,
  });
}

/** Sleeps `ms`, or rejects with a retryable closing error when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(closing());
    const onAbort = () => {
      clearTimeout(timer);
      reject(closing());
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** A counting semaphore: at most `max` calls of `fn` run at once; the rest wait in arrival order. */
function createLimiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (fn) => {
    // A released slot passes straight to the next waiter, so a newcomer can never overtake it and exceed `max`.
    if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

/** An idempotency key with its address masked, for logs. */
function maskKey(key: string): string {
  return key.replace(/(sms|email):([^:]+)/, (_m, channel: string, address: string) => {
    return `${channel}:${maskRecipient(address)}`;
  });
}
