import { z } from 'zod';
import type { SqlExecutor } from '../core/store/store.ts';

/**
 * Residents' consent (issue 6): the per-number SMS opt-out that STOP sets and START lifts, and the consent log —
 * every change, who made it and how, kept append-only as the record of what each resident agreed to.
 *
 * STOP is per number, not per subscription: one row in `alerting_sms_optouts` silences every subscription of the
 * number, those made later too, and every message not yet sent (the router asks {@link isSmsAllowed} right before
 * each SMS). This mirrors what Twilio itself does with its standard keywords (it refuses to send to the number,
 * error 21610, until START): https://help.twilio.com/articles/223134027.
 */

/** How a consent change was made: an SMS from the resident, the web (form, link), an operator, the CLI. */
export const ConsentSource = z.enum(['sms', 'web', 'operator', 'cli']);
/** How a consent change was made. */
export type ConsentSource = z.infer<typeof ConsentSource>;

/** What changed. */
export type ConsentAction = 'requested' | 'confirmed' | 'stopped' | 'started' | 'unsubscribed' | 'removed';

/** One entry of the consent log. */
export interface ConsentEntry {
  readonly channel: 'sms' | 'email';
  readonly address: string;
  readonly action: ConsentAction;
  readonly source: ConsentSource;
  readonly subscriptionId?: number | undefined;
  readonly deviceId?: string | undefined;
  /** The provider's id of the SMS that made the change (Twilio MessageSid). */
  readonly messageSid?: string | undefined;
  /** When, in epoch ms. */
  readonly atMs: number;
}

/** Appends one entry to the consent log (run it in the transaction that makes the change). */
export async function logConsent(db: SqlExecutor, entry: ConsentEntry): Promise<void> {
  await db.query(
    `INSERT INTO alerting_consent_log (channel, address, action, source, subscription_id, device_id, message_sid, at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      entry.channel,
      entry.address,
      entry.action,
      entry.source,
      entry.subscriptionId ?? null,
      entry.deviceId ?? null,
      entry.messageSid ?? null,
      new Date(entry.atMs),
    ],
  );
}

/** The consent log of one address (E.164 number or lower-cased email), oldest first. */
export async function consentHistory(db: SqlExecutor, address: string): Promise<ConsentEntry[]> {
  const res = await db.query<{
    channel: 'sms' | 'email';
    address: string;
    action: ConsentAction;
    source: ConsentSource;
    subscription_id: number | null;
    device_id: string | null;
    message_sid: string | null;
    at: Date | string;
  }>(
    `SELECT channel, address, action, source, subscription_id, device_id, message_sid, at
     FROM alerting_consent_log WHERE address = $1 ORDER BY id`,
    [address],
  );
  return res.rows.map((r) => ({
    channel: r.channel,
    address: r.address,
    action: r.action,
    source: r.source,
    subscriptionId: r.subscription_id === null ? undefined : Number(r.subscription_id),
    deviceId: r.device_id ?? undefined,
    messageSid: r.message_sid ?? undefined,
    atMs: new Date(r.at).getTime(),
  }));
}

/**
 * Whether an SMS may go to `number` (E.164) now: false once it has sent STOP, until it sends START. The router
 * calls it right before every SMS send, so a STOP holds for messages already queued too.
 */
export async function isSmsAllowed(db: SqlExecutor, number: string): Promise<boolean> {
  const res = await db.query('SELECT 1 FROM alerting_sms_optouts WHERE address = $1', [number]);
  return res.rows.length === 0;
}

/** Who changed the opt-out, and how. */
export interface OptOutChange {
  readonly number: string;
  readonly source: ConsentSource;
  readonly messageSid?: string | undefined;
  /** When, in epoch ms. */
  readonly atMs: number;
}

/**
 * Stops every SMS to a number (STOP): all its subscriptions, present and future, and messages not yet sent.
 * Logged every time (a repeated STOP is still the resident's word); resolves true when the number was not stopped.
 */
export async function stopSms(db: SqlExecutor, change: OptOutChange): Promise<boolean> {
  const res = await db.query<{ inserted: boolean }>(
    `INSERT INTO alerting_sms_optouts (address, stopped_at, source, message_sid) VALUES ($1, $2, $3, $4)
     ON CONFLICT (address) DO UPDATE SET stopped_at = alerting_sms_optouts.stopped_at
     RETURNING (xmax = 0) AS inserted`,
    [change.number, new Date(change.atMs), change.source, change.messageSid ?? null],
  );
  await logConsent(db, { channel: 'sms', address: change.number, action: 'stopped', ...rest(change) });
  return res.rows[0]?.inserted === true;
}

/**
 * Lifts a STOP (START, OUI): the number's confirmed subscriptions receive SMS again. Logged every time; resolves
 * true when the number was stopped.
 */
export async function startSms(db: SqlExecutor, change: OptOutChange): Promise<boolean> {
  const res = await db.query('DELETE FROM alerting_sms_optouts WHERE address = $1', [change.number]);
  await logConsent(db, { channel: 'sms', address: change.number, action: 'started', ...rest(change) });
  return res.rowCount > 0;
}

function rest(change: OptOutChange): Pick<ConsentEntry, 'source' | 'messageSid' | 'atMs'> {
  return { source: change.source, messageSid: change.messageSid, atMs: change.atMs };
}
