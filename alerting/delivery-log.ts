import type { SqlExecutor } from '../core/store/store.ts';
import type { EmailMessage, SmsMessage } from './channels/channel.ts';

/**
 * The delivery log's entry point for messages that are not alert transitions (digests, monthly summaries,
 * confirmation codes, failure reports): a message is queued once under its idempotency key (`scheduled`, due at
 * `notBeforeMs`) and the alerting stage's sweep sends it with the same retries, leases and reconciliation as an
 * alert (router.ts). Queuing the same key again does nothing: a schedule run twice, or on two instances, sends once.
 */

/** A message as stored in the delivery log. */
export type StoredMessage = ({ kind: 'sms' } & SmsMessage) | ({ kind: 'email' } & EmailMessage);

/** Why a message is sent (the delivery log's `purpose`). */
export type DeliveryPurpose =
  | 'alert'
  | 'escalation'
  | 'group'
  | 'digest'
  | 'summary'
  | 'confirmation'
  | 'report'
  | 'notice';

/** One message to queue. */
export interface QueuedMessage {
  /** Idempotency key, unique per message and recipient, e.g. `digest:2026-11-26:email:ops@ville.fr`. */
  readonly key: string;
  /** What the message is about (the log's `alert_id` column): an alert id, or e.g. `digest:2026-11-26`. */
  readonly subject: string;
  readonly purpose: Exclude<DeliveryPurpose, 'alert'>;
  readonly locale: 'fr' | 'en';
  readonly message: StoredMessage;
  /** When it may go out, epoch ms (wall clock). */
  readonly notBeforeMs: number;
}

/** Queues messages; returns how many were new (a key already in the log is left as it is). */
export async function enqueueMessages(db: SqlExecutor, messages: readonly QueuedMessage[]): Promise<number> {
  let inserted = 0;
  for (const m of messages) {
    const res = await db.query(
      `INSERT INTO alerting_deliveries
         (idempotency_key, alert_id, purpose, channel, recipient, locale, status, message, not_before)
       VALUES ($1, $2, $3, $4, $5, $6, 'scheduled', $7, $8)
       ON CONFLICT (idempotency_key) DO NOTHING`,
      [
        m.key,
        m.subject,
        m.purpose,
        m.message.kind,
        m.message.to,
        m.locale,
        JSON.stringify(m.message),
        new Date(m.notBeforeMs).toISOString(),
      ],
    );
    inserted += res.rowCount;
  }
  return inserted;
}
