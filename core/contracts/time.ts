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

const ISO_PARTS = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|([+-])(\d{2}):?(\d{2}))$/;

/**
 * Reads an ISO 8601 date-time, refusing fields out of range rather than rolling them over as `Date.parse` does
 * (V8 reads 2026-02-30 as March 2nd, which would file a reading under the wrong day). `24:00:00` (ISO 8601's end
 * of day) is allowed. One regular expression and `Date.UTC`: this runs for every reading, twice.
 */
function parseIso(text: string): number {
  const m = ISO_PARTS.exec(text);
  if (!m) return Number.NaN;
  const [year, month, day, hour, minute] = [+m[1]!, +m[2]!, +m[3]!, +m[4]!, +m[5]!];
  const second = m[6] === undefined ? 0 : +m[6];
  const millis = m[7] === undefined ? 0 : Math.floor(+`0.${m[7]}` * 1000);
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return Number.NaN;
  const endOfDay = hour === 24 && minute === 0 && second === 0 && millis === 0;
  if ((hour > 23 && !endOfDay) || minute > 59 || second > 59) return Number.NaN;
  const offsetMinutes = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (+m[9]! * 60 + +m[10]!);
  if (m[8] !== undefined && (+m[9]! > 23 || +m[10]! > 59)) return Number.NaN;
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}
