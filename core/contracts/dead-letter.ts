import { z } from 'zod';
import { IsoTime } from './time.ts';

/** Where a dead letter came from. */
export const DeadLetterSource = z.discriminatedUnion('type', [
  z.object({ type: z.literal('mqtt'), topic: z.string(), clientId: z.string().optional() }),
  z.object({ type: z.literal('bus'), topic: z.string(), partition: z.number().int(), offset: z.number().int() }),
  z.object({ type: z.literal('file'), path: z.string(), line: z.number().int() }),
  z.object({ type: z.literal('http'), route: z.string() }),
]);
/** Where a dead letter came from. */
export type DeadLetterSource = z.infer<typeof DeadLetterSource>;

/**
 * A dead letter on `deadletter.v1`: the original bytes (base64, never lost), where they came from, why they
 * were refused, and enough to replay them once the cause is fixed (STYLE.md §6.2).
 */
export const DeadLetter = z.object({
  rawBase64: z.string(),
  source: DeadLetterSource,
  deviceId: z.string().optional(),
  errorCode: z.string().regex(/^ERR_[A-Z0-9_]+$/),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).default([]),
  component: z.string(),
  stage: z.enum(['receiving', 'processing', 'sending']),
  attempts: z.number().int().positive().default(1),
  firstFailedAt: IsoTime,
});
/** A dead letter. */
export type DeadLetter = z.output<typeof DeadLetter>;
