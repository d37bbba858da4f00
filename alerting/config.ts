import { z } from 'zod';
import { DEFAULT_RETRY } from '../core/bus/retry.ts';
import { E164 } from '../core/phone.ts';
import { escalationSchema } from './escalation.ts';
import { residentPolicySchema } from './resident-policy.ts';
import { schedulesConfigSchema } from './schedules/config.ts';

/**
 * The alerting stage's configuration (STYLE.md §7). Residents choose their language when subscribing; `locale`
 * is the operators'. Without Twilio credentials SMS go to the outbox, without an SMTP URL emails do (CONTRACTS.md
 * §1: the embedded default); partial Twilio settings are an error, not a silent fallback.
 */

/** A secret string: opaque in types, never printed (the logger redacts `authToken`; env errors show [redacted]). */
const secret = z.string().min(1).brand<'Secret'>().meta({ secret: true });

/** Retry policy of one delivery (core/bus/retry.ts): exponential backoff with full jitter, Retry-After honoured. */
const retrySchema = z.strictObject({
  initialDelayMs: z
    .number()
    .int()
    .positive()
    .default(500)
    .describe('First delay between two attempts of one message, in ms'),
  maxDelayMs: z
    .number()
    .int()
    .positive()
    .default(DEFAULT_RETRY.maxDelayMs)
    .describe('Largest delay between two attempts, in ms; also caps a Retry-After'),
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .max(20)
    .default(6)
    .describe('Attempts of one message before it is recorded failed and dead-lettered'),
});

/** A team's email addresses (comma-separated in the environment). */
const teamList = (what: string) => z.array(z.email()).max(50).default([]).describe(`${what} (comma-separated)`);

/** Alerting configuration. */
export const alertingConfigSchema = z
  .strictObject({
    locale: z.enum(['fr', 'en']).default('fr').describe("Language of the operators' emails (fr or en)"),
    priceEurPerM3: z
      .number()
      .positive()
      .max(100)
      .default(4.34)
      .describe(
        'Water + sanitation price in €/m³, for the money a leak costs per month (default: French average, SISPEA)',
      ),
    utilityContact: z
      .string()
      .max(40)
      .default('')
      .describe('Phone number residents are told to call, e.g. "03 89 00 00 00"; empty: "your water utility"'),
    timeZone: z.string().min(1).default('Europe/Paris').describe('Time zone of the dates in messages (VIGIE_TZ)'),
    operatorEmails: z
      .array(z.email())
      .max(50)
      .default([])
      .describe('Operators who receive an email for every alert transition (comma-separated)'),
    teamEmails: z
      .strictObject({
        'water-meter': teamList('The water network team: every water-meter alert transition'),
        streetlight: teamList('The public lighting team: every streetlight alert transition (lamp-out, day-burner…)'),
        'parking-meter': teamList('The parking team: every parking-meter alert transition (faults, no-data…)'),
        sensor: teamList('The team watching the other sensors: every sensor alert transition (anomaly…)'),
        'bike-station': teamList(
          'The mobility team: every bike-station alert transition (station-empty, station-full…)',
        ),
        'car-share': teamList('The mobility team: every car-share alert transition (no-data…)'),
        'car-park': teamList('The car parks team: every car-park alert transition (car-park-full, no-data…)'),
      })
      .prefault({})
      .describe("Each kind's team, emailed its kind's alert transitions (beside operatorEmails, who get every one)"),
    residents: residentPolicySchema
      .prefault({})
      .describe("Residents' delivery policy: quiet hours, the all-clear once settled, a daily SMS cap"),
    escalation: escalationSchema
      .prefault({})
      .describe('Escalation of alerts nobody acknowledges: steps of minutes and recipients'),
    groupWaitSeconds: z.coerce
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(30)
      .describe(
        'Seconds an operator message waits to be grouped with others of the same state, alert type and district (a district-wide event: one message); 0 sends each at once',
      ),
    schedules: schedulesConfigSchema
      .prefault({})
      .describe("Schedules in the city's time zone: the operators' daily digest, the residents' monthly summary"),
    outboxDir: z
      .string()
      .min(1)
      .default('data/outbox')
      .describe('Folder of the outbox: sms.ndjson and email/*.eml, used when a provider is not configured'),
    twilio: z
      .strictObject({
        accountSid: z
          .string()
          .regex(/^AC[0-9a-fA-F]{32}$/, 'a Twilio Account SID: AC followed by 32 hex digits')
          .optional()
          .describe('Twilio Account SID (TWILIO_ACCOUNT_SID); absent: SMS go to the outbox'),
        authToken: secret.optional().describe('Twilio auth token (TWILIO_AUTH_TOKEN); a secret'),
        fromNumber: z
          .string()
          .regex(E164, 'an E.164 phone number, e.g. +33612345678')
          .optional()
          .describe('Sender number (TWILIO_FROM_NUMBER); this or messagingServiceSid'),
        messagingServiceSid: z
          .string()
          .regex(/^MG[0-9a-fA-F]{32}$/, 'a Messaging Service SID: MG followed by 32 hex digits')
          .optional()
          .describe('Twilio Messaging Service SID (TWILIO_MESSAGING_SERVICE_SID); this or fromNumber'),
        apiBaseUrl: z
          .url({ protocol: /^https?$/ })
          .default('https://api.twilio.com')
          .describe('Twilio API base URL (TWILIO_API_BASE_URL); change only for a test stand-in'),
      })
      .prefault({})
      .describe('Twilio SMS settings'),
    smtpUrl: secret
      .refine((s) => /^smtps?:\/\/\S+$/.test(s), 'an smtp:// or smtps:// URL, e.g. smtps://user:pass@host:465')
      .optional()
      .describe('SMTP server URL with credentials (SMTP_URL); a secret; absent: emails go to the outbox'),
    unsubscribeSecret: secret
      .refine((v) => v.length >= 32, 'at least 32 characters')
      .optional()
      .describe(
        'Key of the unsubscribe links in resident emails (VIGIE_UNSUBSCRIBE_SECRET); a secret; absent: made once and kept in the store',
      ),
    emailFrom: z.string().min(3).default('Vigie <alertes@vigie.local>').describe('Sender of every email'),
    sendTimeoutMs: z
      .number()
      .int()
      .positive()
      .max(120_000)
      .default(10_000)
      .describe('Timeout of one send attempt, in ms'),
    maxConcurrentSends: z
      .number()
      .int()
      .min(1)
      .max(256)
      .default(8)
      .describe('Send attempts in flight at once, over all channels'),
    retry: retrySchema.prefault({}).describe('Retry policy of one message'),
  })
  .superRefine((c, ctx) => {
    const t = c.twilio;
    const any = t.accountSid !== undefined || t.authToken !== undefined || t.fromNumber || t.messagingServiceSid;
    if (!any) return;
    if (!t.accountSid)
      ctx.addIssue({ code: 'custom', path: ['twilio', 'accountSid'], message: 'required with twilio.authToken' });
    if (!t.authToken)
      ctx.addIssue({ code: 'custom', path: ['twilio', 'authToken'], message: 'required with twilio.accountSid' });
    if (!t.fromNumber && !t.messagingServiceSid) {
      ctx.addIssue({
        code: 'custom',
        path: ['twilio', 'fromNumber'],
        message: 'twilio.fromNumber or twilio.messagingServiceSid is required with twilio.accountSid',
      });
    }
  });

/** Alerting configuration, parsed. */
export type AlertingConfig = z.output<typeof alertingConfigSchema>;
