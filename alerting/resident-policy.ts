import { z } from 'zod';
import type { AlertType } from '../core/contracts/index.ts';
import { zoneOffsetMs } from '../core/local-time.ts';

/**
 * What residents receive, and when (issue 6): quiet hours for SMS that can wait, an all-clear sent only once the
 * condition has stayed resolved (so a flapping condition gives one SMS, not fifty), and a daily cap per recipient.
 * Pure functions; the router applies them with the store (router.ts) on the wall clock — an SMS wakes a resident
 * now, whatever the event time of the reading.
 */

const QUIET = /^(off|([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)$/;

/** Residents' delivery policy settings. */
export const residentPolicySchema = z.strictObject({
  quietHours: z
    .string()
    .regex(QUIET, '"HH:MM-HH:MM" (local time, may span midnight) or "off"')
    .default('21:00-08:00')
    .describe('Quiet hours for non-urgent resident SMS, local time (VIGIE_TZ): held until they end; "off" for none.'),
  urgentTypes: z
    .array(z.string())
    .default(['burst'])
    .describe('Alert types sent to residents at once, even in quiet hours (a burst floods a home now).'),
  resolvedSettleMinutes: z.coerce
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 60)
    .default(120)
    .describe(
      'Minutes a condition must stay resolved before residents get the all-clear; a reopening meanwhile cancels it (a flapping condition: one SMS, not one per flap).',
    ),
  maxSmsPerDay: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(10)
    .describe('Most SMS one resident number receives in 24 h; beyond, messages are suppressed and counted.'),
  sweepIntervalMs: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(5_000)
    .describe('How often held messages are checked and those due are sent, ms.'),
});
/** Residents' delivery policy settings. */
export type ResidentPolicy = z.output<typeof residentPolicySchema>;

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * When a resident message of `type` may go out, sent at `nowMs`: `nowMs` itself, or the end of the quiet hours it
 * falls in (local time of `timeZone`; quiet hours may span midnight). Urgent types and emails never wait.
 */
export function releaseAtMs(
  policy: ResidentPolicy,
  timeZone: string,
  type: AlertType,
  channel: 'sms' | 'email',
  nowMs: number,
): number {
  const q = policy.quietHours;
  if (q === 'off' || channel !== 'sms' || policy.urgentTypes.includes(type)) return nowMs;
  const start = minutesOf(q.slice(0, 5));
  const end = minutesOf(q.slice(6, 11));
  if (start === end) return nowMs;
  const offsetMs = zoneOffsetMs(timeZone, nowMs);
  const localMs = nowMs + offsetMs;
  const minuteOfDay = Math.floor((((localMs % 86_400_000) + 86_400_000) % 86_400_000) / 60_000);
  const quiet = start < end ? minuteOfDay >= start && minuteOfDay < end : minuteOfDay >= start || minuteOfDay < end;
  if (!quiet) return nowMs;
  // Minutes until the end of the quiet hours, then back to UTC at that instant's own offset (a DST night).
  const wait = (end - minuteOfDay + 1440) % 1440;
  const localEndMs = Math.floor(localMs / 60_000) * 60_000 + wait * 60_000;
  const guess = localEndMs - offsetMs;
  return localEndMs - zoneOffsetMs(timeZone, guess);
}
