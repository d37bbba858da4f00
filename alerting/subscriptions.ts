import { z } from 'zod';
import { DeviceId } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { maskRecipient } from '../core/logging.ts';
import type { SqlStore } from '../core/store/store.ts';

/**
 * Resident subscriptions: who hears about which device, on which channel, in which language (`vigie subscribe`).
 * Phone numbers are stored in E.164 (spaces, dots, dashes and brackets removed; a leading 00 becomes +), email
 * addresses trimmed and lower-cased. Adding the same (device, channel, address) twice updates its language.
 */

/** A delivery channel. */
export const SubscriptionChannel = z.enum(['sms', 'email']);
/** A delivery channel. */
export type SubscriptionChannel = z.infer<typeof SubscriptionChannel>;

const E164 = /^\+[1-9]\d{7,14}$/;

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

/** Input of `add` and `remove`: the address must suit the channel. */
export const SubscriptionInput = z
  .strictObject({
    deviceId: DeviceId,
    channel: SubscriptionChannel,
    address: z.string().min(1).max(254),
    locale: z.enum(['fr', 'en']).default('fr'),
  })
  .transform((v, ctx) => {
    const parsed = (v.channel === 'sms' ? PhoneNumber : EmailAddress).safeParse(v.address);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: parsed.error.issues[0]?.message ?? 'invalid' });
      return z.NEVER;
    }
    return { ...v, address: parsed.data };
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
  readonly createdAt: string;
}

/** The subscriptions store. */
export interface Subscriptions {
  /** Adds (or updates the language of) a subscription; throws `ERR_SUBSCRIPTION_INVALID` on bad input. */
  add(input: SubscriptionInput): Promise<Subscription>;
  /** Removes a subscription; true when one was removed. */
  remove(input: Omit<SubscriptionInput, 'locale'>): Promise<boolean>;
  /** Every subscription of a device, oldest first. */
  forDevice(deviceId: string): Promise<Subscription[]>;
}

interface Row {
  id: string | number;
  device_id: string;
  channel: SubscriptionChannel;
  address: string;
  locale: 'fr' | 'en';
  created_at: Date | string;
}

function toSubscription(row: Row): Subscription {
  return {
    id: Number(row.id),
    deviceId: row.device_id,
    channel: row.channel,
    address: row.address,
    locale: row.locale,
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

/** Creates the subscriptions store on the operational store (alerting migrations applied). */
export function createSubscriptions(store: SqlStore): Subscriptions {
  return {
    async add(input) {
      const s = parse(input);
      const res = await store.query<Row>(
        `INSERT INTO alerting_subscriptions (device_id, channel, address, locale) VALUES ($1, $2, $3, $4)
         ON CONFLICT (device_id, channel, address) DO UPDATE SET locale = EXCLUDED.locale
         RETURNING id, device_id, channel, address, locale, created_at`,
        [s.deviceId, s.channel, s.address, s.locale],
      );
      return toSubscription(res.rows[0] as Row);
    },
    async remove(input) {
      const s = parse({ ...input, locale: 'fr' });
      const res = await store.query(
        'DELETE FROM alerting_subscriptions WHERE device_id = $1 AND channel = $2 AND address = $3',
        [s.deviceId, s.channel, s.address],
      );
      return res.rowCount > 0;
    },
    async forDevice(deviceId) {
      const res = await store.query<Row>(
        `SELECT id, device_id, channel, address, locale, created_at FROM alerting_subscriptions
         WHERE device_id = $1 ORDER BY id`,
        [deviceId],
      );
      return res.rows.map(toSubscription);
    },
  };
}
