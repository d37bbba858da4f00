import { z } from 'zod';
import { IsoTime } from './time.ts';

/**
 * A parking session paid by SMS that has ended, on `parking-sessions.v1` (key = the driver's phone): produced by the
 * parking service once the session is over (stopped with FIN or run out), at least once — `reference` identifies
 * it. Its amount is final (charged less refunded). The mobility service bills it on the monthly invoice of the
 * account with that phone number, if there is one.
 */
export const ParkingSessionEnded = z.strictObject({
  reference: z.string().regex(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/, 'a receipt reference, XXXX-XXXX'),
  phone: z.string().regex(/^\+[1-9]\d{7,14}$/, 'an E.164 phone number'),
  plate: z.string().min(1).max(12),
  zone: z.string().min(1).max(20),
  startedAt: IsoTime,
  endedAt: IsoTime,
  paidMinutes: z.number().int().min(0),
  amountCents: z.number().int().min(0),
  /** `ended`: stopped by the driver; `expired`: ran out. */
  status: z.enum(['ended', 'expired']),
});
/** An ended SMS parking session. */
export type ParkingSessionEnded = z.output<typeof ParkingSessionEnded>;
