import { z } from 'zod';

/** Earliest and latest event times accepted (1990 to 2100): anything outside is a broken device clock. */
const MIN_TS_MS = Date.UTC(1990, 0, 1);
const MAX_TS_MS = Date.UTC(2100, 0, 1);

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * An event time as devices send it: ISO 8601 with a zone, or epoch milliseconds.
 * Parses to a canonical ISO string in UTC with milliseconds (`2026-03-01T02:15:00.000Z`).
 */
export const EventTime = z
  .union([
    z.string().regex(ISO_8601, 'an ISO 8601 date-time with a time zone, e.g. 2026-03-01T02:15:00Z'),
    z.number().int('epoch milliseconds, an integer'),
  ])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? v : parseIso(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'a real calendar date and time, e.g. 2026-03-01T02:15:00Z' });
      return z.NEVER;
    }
    if (!Number.isFinite(ms) || ms < MIN_TS_MS || ms > MAX_TS_MS) {
      ctx.addIssue({ code: 'custom', message: 'a date between 1990 and 2100' });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  });

/** A canonical timestamp already normalised by {@link EventTime}: ISO 8601 in UTC. */
export const IsoTime = z.iso.datetime({ offset: false });

/**
 * `Date.parse`, except that fields out of range are refused rather than rolled over: V8 reads 2026-02-30 as
 * March 2nd, which would file a reading under the wrong day. `24:00:00` (ISO 8601's end of day) is allowed.
 */
function parseIso(text: string): number {
  const [date = '', time = ''] = text.split('T');
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hour, minute, second = 0] = time
    .replace(/(Z|[+-]\d{2}:?\d{2})$/, '')
    .split(':')
    .map(Number) as [number, number, number?];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const endOfDay = hour === 24 && minute === 0 && second === 0;
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return Number.NaN;
  if ((hour > 23 && !endOfDay) || minute > 59 || second >= 60) return Number.NaN;
  return Date.parse(text);
}
