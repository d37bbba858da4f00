import { z } from 'zod';
import { IsoTime } from './time.ts';

/**
 * An SMS or MMS received on the city's short number, on `inbound-sms.v1` (key = the sender): what the alerting
 * stage's Twilio webhook does not handle itself (STOP, START, confirmation codes) — a problem report, a parking
 * command — for the services to act on. `media` are the MMS attachments as Twilio lists them (`MediaUrl<N>`,
 * `MediaContentType<N>`): fetched by the service with the Twilio credentials. `messageSid` makes it idempotent.
 */
export const InboundSms = z.strictObject({
  messageSid: z.string().min(1).max(64),
  from: z.string().regex(/^\+[1-9]\d{7,14}$/, 'an E.164 phone number'),
  to: z.string().max(32).optional(),
  body: z.string().max(1600),
  media: z
    .array(z.strictObject({ url: z.url({ protocol: /^https?$/ }), contentType: z.string().max(100) }))
    .max(10)
    .default([]),
  receivedAt: IsoTime,
});
/** An inbound SMS or MMS. */
export type InboundSms = z.output<typeof InboundSms>;
