import { z } from 'zod';
import { IsoTime } from './time.ts';

/**
 * A message a service asks the alerting stage to send, on `notifications.v1` (key = the recipient): a report's
 * status to its reporter, a sign-in code, a parking receipt, an invoice. The alerting stage queues it in its
 * delivery log under `key` (its idempotency key: a notification produced twice is sent once) and sends it with the
 * same retries, consent checks (STOP) and failure reports as an alert. `about` names what it concerns (e.g.
 * `report:42`), for the delivery log and the operators.
 */
const common = {
  /** Idempotency key, unique per message and recipient, e.g. `report:42:assigned:sms:+33612345678`. */
  key: z.string().min(1).max(300),
  /** What the message concerns, e.g. `report:42`. */
  about: z.string().min(1).max(160),
  locale: z.enum(['fr', 'en']),
  /** Not before this time (wall clock); absent: at once. */
  notBefore: IsoTime.optional(),
};

/** A notification: an SMS or an email. */
export const Notification = z.discriminatedUnion('channel', [
  z.strictObject({
    ...common,
    channel: z.literal('sms'),
    to: z.string().regex(/^\+[1-9]\d{7,14}$/, 'an E.164 phone number'),
    body: z.string().min(1).max(1600),
  }),
  z.strictObject({
    ...common,
    channel: z.literal('email'),
    to: z.email(),
    subject: z.string().min(1).max(300),
    text: z.string().min(1).max(100_000),
    html: z.string().max(500_000).optional(),
  }),
]);
/** A notification. */
export type Notification = z.output<typeof Notification>;
