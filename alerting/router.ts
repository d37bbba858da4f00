import type { Bus, BusMessage, Subscription as BusSubscription } from '../core/bus/port.ts';
import { backoffDelayMs, type RetryPolicy } from '../core/bus/retry.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import { AlertTransition, type DeadLetter, TOPICS } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { type Logger, maskRecipient } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import type { EmailMessage, SmsMessage } from './channels/channel.ts';
import type { Channels } from './channels/index.ts';
import type { AlertingConfig } from './config.ts';
import { isSmsAllowed } from './consent.ts';
import { recordTransition } from './lifecycle-store.ts';
import {
  type Locale,
  type MessageOptions,
  RESIDENT_TYPES,
  renderOperatorEmail,
  renderResidentEmail,
  renderSms,
} from './messages.ts';
import { releaseAtMs } from './resident-policy.ts';
import { createSubscriptions } from './subscriptions.ts';

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
 * Exactly-once effects on top of at-least-once delivery: every message has an idempotency key
 * `<alertId>:<state>:<channel>:<address>` (`:<ts>` appended for updates, which may repeat) and a row in
 * `alerting_deliveries`, inserted with ON CONFLICT DO NOTHING before any send. A key already `sent` or `rejected`
 * is skipped and counted (`alerting_messages_duplicate_total`): redelivery, replay and restart send nothing twice.
 * The batch handler resolves only once every delivery has a final status recorded, so offsets commit after the
 * effects are durable; rows left `pending` by a crash are retried at the next start.
 *
 * Ambiguous deliveries are reconciled before any resend. Every attempt first records `attempts + 1`, so a row
 * `pending` (or `failed`) with `attempts > 0` may have reached the provider: a crash, a store failure or a timeout
 * came between the provider accepting it and the row being marked `sent`. Before its next send — at start
 * (recoverPending), on a redelivered batch, and before a retry after a timeout or a network error — the router
 * asks the channel (`Channel.find`): found → `sent` with the provider's id, nothing resent
 * (`alerting_messages_reconciled_total{channel}`); certainly not there → sent; cannot tell → retried with backoff
 * like a send (bounded; then `failed` and dead-lettered), never guessed. The SMS outbox, the email outbox and
 * Twilio can be asked (outbox line or file by key; Twilio's message list by number, sender, body and time).
 *
 * Known limit, stated plainly: SMTP cannot be asked. An email whose 250 was not recorded (a crash in a window of
 * one round-trip to the store, or a timeout after the server took it) is sent again — at least once — with the
 * same Message-ID (derived from the key), so receiving systems can drop the copy. With several alerting instances,
 * two starting together may both reconcile and send the same pending rows (run one instance per store).
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
  /** Jitter source of the backoff, [0, 1) (default Math.random). */
  readonly random?: () => number;
  /** Wall clock of the residents' policy (quiet hours, settling, daily cap). Default: the system clock. */
  readonly clock?: Clock;
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
type StoredMessage = ({ kind: 'sms' } & SmsMessage) | ({ kind: 'email' } & EmailMessage);

/** Where a delivery's transition came from: enough to dead-letter it with its original bytes. */
interface DeliverySource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly rawBase64: string;
}

interface Delivery {
  readonly key: string;
  /** An earlier attempt may have reached the provider: ask it (`Channel.find`) before sending. */
  readonly ambiguous: boolean;
  /** When the delivery row was created (epoch ms): no attempt of it can be older. */
  readonly sinceMs: number;
  readonly alertId: string;
  readonly deviceId: string;
  readonly channel: ChannelName;
  readonly message: StoredMessage;
  readonly source: DeliverySource;
}

interface Recipient {
  readonly channel: ChannelName;
  readonly address: string;
  readonly locale: Locale;
  readonly audience: 'resident' | 'operator';
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
        out.push({ channel: s.channel, address: s.address, locale: s.locale, audience: 'resident' });
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
    const email = r.audience === 'operator' ? renderOperatorEmail(t, options) : renderResidentEmail(t, options);
    return { kind: 'email', to: r.address, ...email };
  }

  /** Cancels held messages to one resident about one device and alert type; returns how many. */
  async function cancelHeld(r: Recipient, t: AlertTransition, state: 'open' | 'resolved', alertId?: string) {
    const res = await store.query(
      `UPDATE alerting_deliveries SET status = 'cancelled', last_error = $6, updated_at = now()
       WHERE status = 'scheduled' AND transition_state = $1 AND channel = $2 AND recipient = $3
         AND split_part(alert_id, ':', 1) = $4 AND split_part(alert_id, ':', 2) = $5
         AND ($7::text IS NULL OR alert_id = $7)`,
      [state, r.channel, r.address, t.deviceId, t.type, `cancelled by ${t.alertId} ${t.state}`, alertId ?? null],
    );
    return res.rowCount;
  }

  /** Records what a resident was last told about the device and type. */
  async function tell(r: Recipient, t: AlertTransition, toldOpen: boolean): Promise<void> {
    await store.query(
      `INSERT INTO alerting_resident_notices (channel, recipient, device_id, type, told_open, alert_id)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (channel, recipient, device_id, type) DO UPDATE
         SET told_open = EXCLUDED.told_open, alert_id = EXCLUDED.alert_id, updated_at = now()`,
      [r.channel, r.address, t.deviceId, t.type, toldOpen, t.alertId],
    );
  }

  /** What to do with a resident's message about `t` (see the file header), and the notice it leaves. */
  async function planResident(t: AlertTransition, r: Recipient): Promise<Plan> {
    const nowMs = clock.nowMs();
    const notice = await store.query<{ told_open: boolean }>(
      `SELECT told_open FROM alerting_resident_notices
       WHERE channel = $1 AND recipient = $2 AND device_id = $3 AND type = $4`,
      [r.channel, r.address, t.deviceId, t.type],
    );
    const toldOpen = notice.rows[0]?.told_open ?? false;
    const settle = t.state === 'open' ? 0 : residents.resolvedSettleMinutes * 60_000;
    if (t.state === 'open') {
      // A reopening while its all-clear is still held: the resident was never told it ended.
      const reopened = (await cancelHeld(r, t, 'resolved')) > 0;
      if (reopened || toldOpen) {
        await tell(r, t, true);
        return { status: 'suppressed', notBeforeMs: nowMs, reason: 'flapping' };
      }
    } else {
      // An open still held (quiet hours) goes with its all-clear; a resident never told it opened hears nothing.
      const heldOpen = (await cancelHeld(r, t, 'open', t.alertId)) > 0;
      await tell(r, t, false);
      if (heldOpen || !toldOpen) return { status: 'suppressed', notBeforeMs: nowMs, reason: 'settled' };
    }
    const at = releaseAtMs(residents, config.timeZone, t.type, r.channel, nowMs + settle);
    if (r.channel === 'sms') {
      const sent = await store.query<{ n: number | string }>(
        `SELECT count(*) AS n FROM alerting_deliveries
         WHERE channel = 'sms' AND recipient = $1 AND status IN ('pending', 'sent', 'scheduled')
           AND not_before > $2 AND not_before <= $3`,
        [r.address, new Date(at - 86_400_000).toISOString(), new Date(at).toISOString()],
      );
      if (Number(sent.rows[0]?.n ?? 0) >= residents.maxSmsPerDay) {
        return { status: 'suppressed', notBeforeMs: at, reason: 'rate-limit' };
      }
    }
    if (t.state === 'open') await tell(r, t, true);
    if (at <= nowMs) return { status: 'pending', notBeforeMs: nowMs };
    return { status: 'scheduled', notBeforeMs: at, reason: t.state === 'open' ? 'quiet-hours' : 'settling' };
  }

  /**
   * Records the delivery row if new. Returns the delivery still to make — fresh (never attempted) or ambiguous (an
   * attempt may have reached the provider) — or undefined when it is already `sent` or `rejected`.
   */
  async function claim(
    t: AlertTransition,
    r: Recipient,
    d: Omit<Delivery, 'ambiguous' | 'sinceMs'>,
    plan: Plan = { status: 'pending', notBeforeMs: clock.nowMs() },
  ): Promise<Delivery | undefined> {
    const inserted = await store.query<{ created_at: Date | string }>(
      `INSERT INTO alerting_deliveries
         (idempotency_key, alert_id, transition_state, channel, recipient, locale, message, source, status,
          not_before, last_error)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10, $11)
       ON CONFLICT (idempotency_key) DO NOTHING
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
        plan.reason ?? null,
      ],
    );
    const fresh = inserted.rows[0];
    if (fresh) {
      if (plan.status === 'pending') return { ...d, ambiguous: false, sinceMs: epochMs(fresh.created_at) };
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
        plan.status === 'scheduled' ? 'resident message held' : 'resident message not sent on purpose',
      );
      return undefined;
    }
    const existing = await store.query<{ status: string; attempts: number; created_at: Date | string }>(
      'SELECT status, attempts, created_at FROM alerting_deliveries WHERE idempotency_key = $1',
      [d.key],
    );
    const row = existing.rows[0];
    if (!row) throw new Error(`alerting: delivery ${maskKey(d.key)} neither inserted nor found`); // a bug
    if (row.status !== 'pending' && row.status !== 'failed') {
      duplicateTotal.inc();
      logger.debug({ key: maskKey(d.key), status: row.status }, 'duplicate message dropped on purpose');
      return undefined;
    }
    // `pending` (a crash, or an earlier batch that failed) or `failed` (a replayed dead letter): deliver it now,
    // after asking the provider when an earlier attempt may have reached it.
    return { ...d, ambiguous: Number(row.attempts) > 0, sinceMs: epochMs(row.created_at) };
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

  /** Sends one message with bounded retries and records its final status. Throws only when closing or on a bug. */
  async function deliver(d: Delivery): Promise<void> {
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
        // Recorded before the send: a row with attempts > 0 may have reached the provider (see above).
        await store.query(
          `UPDATE alerting_deliveries SET attempts = attempts + 1, status = 'pending', updated_at = now()
           WHERE idempotency_key = $1`,
          [d.key],
        );
        const result = await limit(() =>
          d.message.kind === 'sms'
            ? channels.sms.send({ to: d.message.to, body: d.message.body }, d.key)
            : channels.email.send(
                { to: d.message.to, subject: d.message.subject, text: d.message.text, html: d.message.html },
                d.key,
              ),
        );
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
        failedTotal.inc({ channel: d.channel, reason: exhausted ? 'exhausted' : 'error' });
        logger.error({ alertId: d.alertId, channel: d.channel, to: masked, code }, message);
        return;
      }
    }
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
    const results = await Promise.allSettled(
      [...byRecipient.values()].map(async (list) => {
        for (const d of list) await deliver(d);
      }),
    );
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
          alertId: t.alertId,
          deviceId: t.deviceId,
          channel: r.channel,
          message: render(t, r),
          source,
        };
        const plan = r.audience === 'resident' ? await planResident(t, r) : undefined;
        const claimed = await claim(t, r, d, plan);
        if (claimed) deliveries.push(claimed);
      }
    }
    await deliverAll(deliveries);
  }

  async function parseOrDeadLetter(m: BusMessage): Promise<AlertTransition | undefined> {
    let json: unknown;
    try {
      json = JSON.parse(m.value);
    } catch (err) {
      await refuse(m, 'ERR_ALERT_JSON', `alert transition is not JSON: ${(err as Error).message}`, []);
      return undefined;
    }
    const parsed = AlertTransition.safeParse(json);
    if (parsed.success) return parsed.data;
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    await refuse(
      m,
      'ERR_ALERT_SCHEMA',
      `alert transition does not match the schema: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`,
      issues,
    );
    return undefined;
  }

  async function refuse(
    m: BusMessage,
    code: string,
    message: string,
    issues: Array<{ path: string; message: string }>,
  ): Promise<void> {
    invalidTotal.inc({ reason: code === 'ERR_ALERT_JSON' ? 'json' : 'schema' });
    const deviceId = m.key.split(':')[0];
    await deadLetter(
      {
        rawBase64: Buffer.from(m.value, 'utf8').toString('base64'),
        source: { type: 'bus', topic: m.topic, partition: m.partition, offset: m.offset },
        ...(deviceId ? { deviceId } : {}),
        errorCode: code,
        message: message.slice(0, 2000),
        issues,
        component: 'alerting',
        stage: 'processing',
        attempts: 1,
        firstFailedAt: new Date().toISOString(),
      },
      m.key || 'alerting',
    );
  }

  /** Delivers what a crash left pending, reconciling with the provider first where an attempt was made. */
  async function recoverPending(): Promise<void> {
    await deliverRows(
      `SELECT d.idempotency_key, d.attempts, d.created_at, d.alert_id, d.channel, d.message, d.source, a.device_id
       FROM alerting_deliveries d LEFT JOIN alerting_alerts a ON a.alert_id = d.alert_id
       WHERE d.status = 'pending' ORDER BY d.created_at, d.idempotency_key`,
      [],
      'retrying deliveries left pending by a previous run',
    );
  }

  /** Takes the held messages now due (one instance each: the UPDATE's row lock) and delivers them. */
  async function sweep(): Promise<void> {
    await deliverRows(
      `WITH due AS (
         UPDATE alerting_deliveries SET status = 'pending', updated_at = now()
         WHERE status = 'scheduled' AND not_before <= $1
         RETURNING idempotency_key, attempts, created_at, alert_id, channel, message, source, not_before)
       SELECT due.idempotency_key, due.attempts, due.created_at, due.alert_id, due.channel, due.message, due.source,
              a.device_id
       FROM due LEFT JOIN alerting_alerts a ON a.alert_id = due.alert_id
       ORDER BY due.not_before, due.idempotency_key`,
      [new Date(clock.nowMs()).toISOString()],
      'sending held messages now due',
    );
  }

  async function deliverRows(sql: string, params: unknown[], what: string): Promise<void> {
    const res = await store.query<{
      idempotency_key: string;
      attempts: number;
      created_at: Date | string;
      alert_id: string;
      channel: ChannelName;
      message: StoredMessage | string;
      source: DeliverySource | string;
      device_id: string | null;
    }>(sql, params);
    if (res.rows.length === 0) return;
    logger.info({ count: res.rows.length }, what);
    await deliverAll(
      res.rows.map((row) => ({
        key: row.idempotency_key,
        ambiguous: Number(row.attempts) > 0,
        sinceMs: epochMs(row.created_at),
        alertId: row.alert_id,
        deviceId: row.device_id ?? row.alert_id.split(':')[0] ?? 'unknown',
        channel: row.channel,
        message: typeof row.message === 'string' ? (JSON.parse(row.message) as StoredMessage) : row.message,
        source: typeof row.source === 'string' ? (JSON.parse(row.source) as DeliverySource) : row.source,
      })),
    );
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
      await recoverPending();
      sweepTimer = setInterval(sweepOnce, residents.sweepIntervalMs);
      sweepTimer.unref();
      subscription = await bus.subscribe({
        groupId: ALERTING_GROUP_ID,
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
    },
  };
}

/** What becomes of one resident message: sent now, held until `notBeforeMs`, or not sent on purpose. */
interface Plan {
  readonly status: 'pending' | 'scheduled' | 'suppressed';
  /** When it may go out (wall clock, epoch ms): also what the daily cap counts by. */
  readonly notBeforeMs: number;
  readonly reason?: 'quiet-hours' | 'settling' | 'flapping' | 'settled' | 'rate-limit';
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
