import { createHash, randomInt } from 'node:crypto';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import { DeviceId } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { maskRecipient } from '../core/logging.ts';
import { E164 } from '../core/phone.ts';
import { toGsm7 } from '../core/sms-text.ts';
import type { SqlExecutor, SqlStore } from '../core/store/store.ts';
import type { EmailMessage, SmsMessage } from './channels/channel.ts';
import { ConsentSource, isSmsAllowed, logConsent } from './consent.ts';

/**
 * Resident subscriptions: who hears about which device, on which channel, in which language (`vigie subscribe`,
 * the web), with double opt-in (issue 6). Phone numbers are stored in E.164 (spaces, dots, dashes and brackets
 * removed; a leading 00 becomes +), email addresses trimmed and lower-cased. Adding the same (device, channel,
 * address) twice updates its language.
 *
 * Double opt-in: a resident's own request (`consent: 'resident'`, the default) makes a `pending` subscription with
 * a 6-digit code, valid {@link CONFIRMATION_TTL_MS} and {@link MAX_CONFIRMATION_ATTEMPTS} wrong tries; `add` returns
 * the message that carries it and the caller sends it. The code comes back by SMS reply or on the web
 * (`confirm`). An operator holding the resident's consent on paper (`consent: 'operator'`: `vigie subscribe`, the
 * demo) makes it `confirmed` at once, and so does a resident signed in with a one-time code sent to the address
 * (`consent: 'verified'`: the code has proven it already). Only confirmed subscriptions of numbers that have not sent STOP receive
 * alerts (`forDevice`). Every change is written to the consent log (consent.ts) in the same transaction.
 * The code is stored hashed (sha256 of address and code): a weak shield for 10^6 codes, enough to keep codes out
 * of dumps and logs; the real bound is the number of tries.
 */

/** How long a confirmation code is valid, in ms (24 h). */
export const CONFIRMATION_TTL_MS = 24 * 3_600_000;

/** Wrong codes accepted for one pending subscription before its code is dead (a new request sends a new one). */
export const MAX_CONFIRMATION_ATTEMPTS = 5;

/** A delivery channel. */
export const SubscriptionChannel = z.enum(['sms', 'email']);
/** A delivery channel. */
export type SubscriptionChannel = z.infer<typeof SubscriptionChannel>;

/** Where a subscription stands: waiting for its code, receiving alerts, or unsubscribed by its link. */
export type SubscriptionStatus = 'pending' | 'confirmed' | 'unsubscribed';

/** A phone number in E.164, e.g. `+33612345678`; separators are accepted and removed. */
export const PhoneNumber = z
  .string()
  .transform((s) => s.replace(/[\s.()-]/g, '').replace(/^00/, '+'))
  .refine((s) => E164.test(s), 'an E.164 phone number: + then 8 to 15 digits, e.g. +33612345678');

/** An email address, trimmed and lower-cased. */
export const EmailAddress = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.email('an email address, e.g. resident@example.org'));

/** A confirmation code: 6 digits (spaces around are ignored). */
export const ConfirmationCode = z
  .string()
  .trim()
  .regex(/^\d{6}$/, 'the 6-digit code received');

/** Input of `add` and `remove`: the address must suit the channel. */
export const SubscriptionInput = z
  .strictObject({
    deviceId: DeviceId,
    channel: SubscriptionChannel,
    address: z.string().min(1).max(254),
    locale: z.enum(['fr', 'en']).default('fr'),
    /**
     * `resident`: double opt-in (pending until the code comes back); `verified`: the resident's own request with the
     * address proven already (signed in with a one-time code sent to it), confirmed at once; `operator`: consent
     * held on paper, confirmed at once.
     */
    consent: z.enum(['resident', 'verified', 'operator']).default('resident'),
    /** How the request came; default `web` for a resident, `operator` for an operator. */
    source: ConsentSource.optional(),
  })
  .transform((v, ctx) => {
    const parsed = (v.channel === 'sms' ? PhoneNumber : EmailAddress).safeParse(v.address);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: parsed.error.issues[0]?.message ?? 'invalid' });
      return z.NEVER;
    }
    return { ...v, address: parsed.data, source: v.source ?? (v.consent === 'operator' ? 'operator' : 'web') };
  });
/** Input of `add` and `remove`, before parsing. */
export type SubscriptionInput = z.input<typeof SubscriptionInput>;

/** A stored subscription. */
export interface Subscription {
  readonly id: number;
  readonly deviceId: string;
  readonly channel: SubscriptionChannel;
  readonly address: string;
  readonly locale: 'fr' | 'en';
  readonly status: SubscriptionStatus;
  readonly createdAt: string;
}

/** The code of a pending subscription and the message that carries it to the resident (the caller sends it). */
export interface PendingConfirmation {
  readonly code: string;
  /** When the code stops being valid, epoch ms. */
  readonly expiresAtMs: number;
  readonly message: ({ readonly channel: 'sms' } & SmsMessage) | ({ readonly channel: 'email' } & EmailMessage);
}

/** What `add` made. */
export interface AddedSubscription extends Subscription {
  /** Present when the subscription waits for its code: send this message (unless `smsStopped`). */
  readonly confirmation?: PendingConfirmation | undefined;
  /** The number sent STOP: nothing reaches it (not even the code) until it sends START. */
  readonly smsStopped: boolean;
}

/** Outcome of a confirmation code. */
export type ConfirmResult =
  | { readonly outcome: 'confirmed'; readonly subscriptions: readonly Subscription[] }
  | { readonly outcome: 'wrong-code'; readonly attemptsLeft: number }
  /** No pending subscription with a live code: none asked, expired, or its tries used up. */
  | { readonly outcome: 'none' };

/** The subscriptions store. */
export interface Subscriptions {
  /**
   * Adds a subscription (or updates its language): pending with a code for a resident, confirmed at once with
   * `consent: 'operator'`; a confirmed one stays confirmed. Throws `ERR_SUBSCRIPTION_INVALID` on bad input.
   */
  add(input: SubscriptionInput): Promise<AddedSubscription>;
  /** Confirms the pending subscriptions of `address` (phone or email) whose code is `code`. */
  confirm(input: {
    address: string;
    code: string;
    source: ConsentSource;
    messageSid?: string | undefined;
  }): Promise<ConfirmResult>;
  /** Unsubscribes at once (the email link); the subscription as it now is, undefined when there is none. */
  unsubscribe(id: number, source: ConsentSource): Promise<Subscription | undefined>;
  /** Removes a subscription; true when one was removed (logged `removed`, source `cli` by default). */
  remove(input: Omit<SubscriptionInput, 'locale' | 'consent'>): Promise<boolean>;
  /** The confirmed subscriptions of a device whose address may receive (SMS: not stopped), oldest first. */
  forDevice(deviceId: string): Promise<Subscription[]>;
  /** Every subscription of an address, whatever its status, oldest first. */
  forAddress(channel: SubscriptionChannel, address: string): Promise<Subscription[]>;
}

interface Row {
  id: string | number;
  device_id: string;
  channel: SubscriptionChannel;
  address: string;
  locale: 'fr' | 'en';
  status: SubscriptionStatus;
  created_at: Date | string;
}

const COLUMNS = 'id, device_id, channel, address, locale, status, created_at';

function toSubscription(row: Row): Subscription {
  return {
    id: Number(row.id),
    deviceId: row.device_id,
    channel: row.channel,
    address: row.address,
    locale: row.locale,
    status: row.status,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

function parse(input: unknown): z.output<typeof SubscriptionInput> {
  const result = SubscriptionInput.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.join('.') || 'subscription'}: ${i.message}`).join('; ');
  const raw = input as { address?: unknown };
  const shown = typeof raw?.address === 'string' ? maskRecipient(raw.address) : '(none)';
  throw new AppError('ERR_SUBSCRIPTION_INVALID', `invalid subscription for ${shown}: ${issues}`);
}

/** Reads a phone number or an email address, with its channel; throws `ERR_SUBSCRIPTION_INVALID`. */
export function parseAddress(address: string): { channel: SubscriptionChannel; address: string } {
  const channel: SubscriptionChannel = address.includes('@') ? 'email' : 'sms';
  const parsed = (channel === 'sms' ? PhoneNumber : EmailAddress).safeParse(address);
  if (parsed.success) return { channel, address: parsed.data };
  throw new AppError(
    'ERR_SUBSCRIPTION_INVALID',
    `address: ${maskRecipient(address)} (an E.164 phone number, e.g. +33612345678, or an email address)`,
  );
}

function codeHash(address: string, code: string): string {
  return createHash('sha256').update(`${address}:${code}`).digest('hex');
}

/** The message carrying a confirmation code, in the resident's language (SMS kept in GSM-7). */
export function confirmationMessage(
  s: Pick<Subscription, 'channel' | 'address' | 'deviceId' | 'locale'>,
  code: string,
): PendingConfirmation['message'] {
  const en = s.locale === 'en';
  if (s.channel === 'sms') {
    const body = en
      ? `Vigie: code ${code} confirms alerts for meter ${s.deviceId}. Reply with this code (valid 24 h). Ignore this SMS if you did not ask.`
      : `Vigie : code ${code} pour recevoir les alertes du compteur ${s.deviceId}. Répondez avec ce code (valable 24 h). Ignorez ce SMS si vous n'avez rien demandé.`;
    return { channel: 'sms', to: s.address, body: toGsm7(body) };
  }
  return en
    ? {
        channel: 'email',
        to: s.address,
        subject: 'Vigie: confirm your subscription',
        text: `Hello,\n\nTo receive the alerts of water meter ${s.deviceId} by email, enter this confirmation code: ${code}\nIt is valid for 24 hours.\n\nIf you did not ask for this, ignore this message: nothing will be sent to you.\n`,
      }
    : {
        channel: 'email',
        to: s.address,
        subject: 'Vigie : confirmez votre abonnement',
        text: `Bonjour,\n\nPour recevoir par email les alertes du compteur ${s.deviceId}, saisissez ce code de confirmation : ${code}\nIl est valable 24 heures.\n\nSi vous n'avez rien demandé, ignorez ce message : rien ne vous sera envoyé.\n`,
      };
}

/** Creates the subscriptions store on the operational store (alerting migrations applied). */
export function createSubscriptions(store: SqlStore, options: { clock?: Clock } = {}): Subscriptions {
  const clock = options.clock ?? SYSTEM_CLOCK;

  async function addIn(tx: SqlExecutor, s: z.output<typeof SubscriptionInput>): Promise<AddedSubscription> {
    const nowMs = clock.nowMs();
    const key = [s.deviceId, s.channel, s.address];
    // The status before this statement (for the consent log): read in the statement's snapshot. No FOR UPDATE:
    // RETURNING evaluates it after the upsert, when a lock would skip the row this very statement updated.
    const old = `WITH old AS (SELECT status FROM alerting_subscriptions
                   WHERE device_id = $1 AND channel = $2 AND address = $3)`;
    let row: Row & { previous_status: SubscriptionStatus | null };
    let confirmation: PendingConfirmation | undefined;
    if (s.consent !== 'resident') {
      const res = await tx.query<Row & { previous_status: SubscriptionStatus | null }>(
        `${old}
         INSERT INTO alerting_subscriptions (device_id, channel, address, locale, status, confirmed_at)
         VALUES ($1, $2, $3, $4, 'confirmed', $5)
         ON CONFLICT (device_id, channel, address) DO UPDATE SET locale = EXCLUDED.locale, status = 'confirmed',
           confirmed_at = CASE WHEN alerting_subscriptions.status = 'confirmed'
                               THEN alerting_subscriptions.confirmed_at ELSE EXCLUDED.confirmed_at END,
           confirm_code_hash = NULL, confirm_expires_at = NULL, confirm_attempts = 0
         RETURNING ${COLUMNS}, (SELECT status FROM old) AS previous_status`,
        [...key, s.locale, new Date(nowMs)],
      );
      row = res.rows[0] as typeof row;
    } else {
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const expiresAtMs = nowMs + CONFIRMATION_TTL_MS;
      // A confirmed subscription stays confirmed: asking again only changes its language.
      const res = await tx.query<Row & { previous_status: SubscriptionStatus | null }>(
        `${old}
         INSERT INTO alerting_subscriptions
           (device_id, channel, address, locale, status, confirm_code_hash, confirm_expires_at, confirm_attempts)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, 0)
         ON CONFLICT (device_id, channel, address) DO UPDATE SET locale = EXCLUDED.locale,
           status = CASE WHEN alerting_subscriptions.status = 'confirmed' THEN 'confirmed' ELSE 'pending' END,
           confirm_code_hash = CASE WHEN alerting_subscriptions.status = 'confirmed'
                                    THEN NULL ELSE EXCLUDED.confirm_code_hash END,
           confirm_expires_at = CASE WHEN alerting_subscriptions.status = 'confirmed'
                                     THEN NULL ELSE EXCLUDED.confirm_expires_at END,
           confirm_attempts = 0
         RETURNING ${COLUMNS}, (SELECT status FROM old) AS previous_status`,
        [...key, s.locale, codeHash(s.address, code), new Date(expiresAtMs)],
      );
      row = res.rows[0] as typeof row;
      if (row.status === 'pending') {
        confirmation = { code, expiresAtMs, message: confirmationMessage(toSubscription(row), code) };
      }
    }
    const sub = toSubscription(row);
    const changed = row.previous_status !== sub.status || sub.status === 'pending';
    if (changed) {
      await logConsent(tx, {
        channel: sub.channel,
        address: sub.address,
        action: sub.status === 'pending' ? 'requested' : 'confirmed',
        source: s.source,
        subscriptionId: sub.id,
        deviceId: sub.deviceId,
        atMs: nowMs,
      });
    }
    const smsStopped = sub.channel === 'sms' && !(await isSmsAllowed(tx, sub.address));
    return { ...sub, confirmation, smsStopped };
  }

  return {
    async add(input) {
      const s = parse(input);
      return store.transaction((tx) => addIn(tx, s));
    },

    async confirm(input) {
      const { channel, address } = parseAddress(input.address);
      const code = ConfirmationCode.safeParse(input.code);
      const nowMs = clock.nowMs();
      return store.transaction(async (tx): Promise<ConfirmResult> => {
        const live = await tx.query<Row & { confirm_code_hash: string; confirm_attempts: number }>(
          `SELECT ${COLUMNS}, confirm_code_hash, confirm_attempts FROM alerting_subscriptions
           WHERE channel = $1 AND address = $2 AND status = 'pending' AND confirm_expires_at > $3
             AND confirm_attempts < $4
           ORDER BY id FOR UPDATE`,
          [channel, address, new Date(nowMs), MAX_CONFIRMATION_ATTEMPTS],
        );
        if (live.rows.length === 0) return { outcome: 'none' };
        const hash = code.success ? codeHash(address, code.data) : undefined;
        const matched = live.rows.filter((r) => r.confirm_code_hash === hash);
        if (matched.length === 0) {
          // A wrong code counts against every live code of the address: guessing is bounded per subscription.
          await tx.query(
            `UPDATE alerting_subscriptions SET confirm_attempts = confirm_attempts + 1
             WHERE id = ANY($1::bigint[])`,
            [live.rows.map((r) => Number(r.id))],
          );
          const attemptsLeft = Math.max(...live.rows.map((r) => MAX_CONFIRMATION_ATTEMPTS - r.confirm_attempts - 1));
          return { outcome: 'wrong-code', attemptsLeft: Math.max(0, attemptsLeft) };
        }
        const confirmed: Subscription[] = [];
        for (const r of matched) {
          const res = await tx.query<Row>(
            `UPDATE alerting_subscriptions SET status = 'confirmed', confirmed_at = $2, confirm_code_hash = NULL,
               confirm_expires_at = NULL, confirm_attempts = 0
             WHERE id = $1 RETURNING ${COLUMNS}`,
            [Number(r.id), new Date(nowMs)],
          );
          const sub = toSubscription(res.rows[0] as Row);
          confirmed.push(sub);
          await logConsent(tx, {
            channel,
            address,
            action: 'confirmed',
            source: input.source,
            subscriptionId: sub.id,
            deviceId: sub.deviceId,
            messageSid: input.messageSid,
            atMs: nowMs,
          });
        }
        return { outcome: 'confirmed', subscriptions: confirmed };
      });
    },

    async unsubscribe(id, source) {
      const nowMs = clock.nowMs();
      return store.transaction(async (tx) => {
        const res = await tx.query<Row & { previous_status: SubscriptionStatus }>(
          `WITH old AS (SELECT id, status FROM alerting_subscriptions WHERE id = $1 FOR UPDATE)
           UPDATE alerting_subscriptions s SET status = 'unsubscribed', confirm_code_hash = NULL,
             confirm_expires_at = NULL
           FROM old WHERE s.id = old.id
           RETURNING s.id, s.device_id, s.channel, s.address, s.locale, s.status, s.created_at,
             old.status AS previous_status`,
          [id],
        );
        const row = res.rows[0];
        if (!row) return undefined;
        const sub = toSubscription(row);
        if (row.previous_status !== 'unsubscribed') {
          await logConsent(tx, {
            channel: sub.channel,
            address: sub.address,
            action: 'unsubscribed',
            source,
            subscriptionId: sub.id,
            deviceId: sub.deviceId,
            atMs: nowMs,
          });
        }
        return sub;
      });
    },

    async remove(input) {
      const s = parse({ ...input, locale: 'fr', source: input.source ?? 'cli' });
      return store.transaction(async (tx) => {
        const res = await tx.query<{ id: string | number }>(
          'DELETE FROM alerting_subscriptions WHERE device_id = $1 AND channel = $2 AND address = $3 RETURNING id',
          [s.deviceId, s.channel, s.address],
        );
        const removed = res.rows[0];
        if (!removed) return false;
        await logConsent(tx, {
          channel: s.channel,
          address: s.address,
          action: 'removed',
          source: s.source,
          subscriptionId: Number(removed.id),
          deviceId: s.deviceId,
          atMs: clock.nowMs(),
        });
        return true;
      });
    },

    async forDevice(deviceId) {
      const res = await store.query<Row>(
        `SELECT ${COLUMNS} FROM alerting_subscriptions s
         WHERE device_id = $1 AND status = 'confirmed'
           AND NOT (channel = 'sms' AND EXISTS (SELECT 1 FROM alerting_sms_optouts o WHERE o.address = s.address))
         ORDER BY id`,
        [deviceId],
      );
      return res.rows.map(toSubscription);
    },

    async forAddress(channel, address) {
      const res = await store.query<Row>(
        `SELECT ${COLUMNS} FROM alerting_subscriptions WHERE channel = $1 AND address = $2 ORDER BY id`,
        [channel, address],
      );
      return res.rows.map(toSubscription);
    },
  };
}
