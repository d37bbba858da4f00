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
    const ms = typeof v === 'number' ? v : Date.parse(v);
    if (!Number.isFinite(ms) || ms < MIN_TS_MS || ms > MAX_TS_MS) {
      ctx.addIssue({ code: 'custom', message: 'a date between 1990 and 2100' });
      return z.NEVER;
    }
    return new Date(ms).toISOString();
  });

/** A canonical timestamp already normalised by {@link EventTime}: ISO 8601 in UTC. */
export const IsoTime = z.iso.datetime({ offset: false });
