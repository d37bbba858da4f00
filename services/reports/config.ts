import { z } from 'zod';

/** A secret string: opaque in types, never printed. */
const secret = z.string().min(32).brand<'Secret'>().meta({ secret: true });

/** The citizen reports service's configuration (root section `reports`; VIGIE_REPORTS_* variables). */
export const reportsConfigSchema = z.strictObject({
  photoMaxBytes: z.coerce
    .number()
    .int()
    .min(64 * 1024)
    .max(32 * 1024 * 1024)
    .default(8 * 1024 * 1024)
    .describe('Largest photo accepted, in bytes (8 MiB); a larger one gets 413 ERR_REPORT_PHOTO_TOO_LARGE.'),
  photoMaxEdgePx: z.coerce
    .number()
    .int()
    .min(320)
    .max(8192)
    .default(2048)
    .describe('Longest side of a stored photo, in pixels (2048); larger photos are scaled down when re-encoded.'),
  photoMaxInputPixels: z.coerce
    .number()
    .int()
    .min(1_000_000)
    .max(268_402_689)
    .default(50_000_000)
    .describe('Most pixels a photo may declare (50 million): a decompression bomb is refused before decoding.'),
  photoLinkSecret: secret
    .optional()
    .describe(
      'Key of the signed photo links (VIGIE_REPORTS_PHOTO_LINK_SECRET, ≥ 32 characters); a secret; absent: a random ' +
        'key per process (links die on restart and work on that instance only).',
    ),
  photoLinkTtlSeconds: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 86_400)
    .default(3600)
    .describe('How long a signed photo link is valid, in seconds (1 h).'),
  intakePerHourPerIp: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(5)
    .describe('Reports one IP address may submit through the web per hour (5); more get 429.'),
  statusLookupsPerHourPerIp: z.coerce
    .number()
    .int()
    .min(1)
    .max(10_000)
    .default(60)
    .describe('Public status look-ups one IP address may make per hour (60; the contact check is 4 digits).'),
  mediaFetchTimeoutMs: z.coerce
    .number()
    .int()
    .min(500)
    .max(120_000)
    .default(15_000)
    .describe('Time allowed to fetch one MMS photo from Twilio, in milliseconds (15 s).'),
  awaitLocationHours: z.coerce
    .number()
    .min(0)
    .max(168)
    .default(24)
    .describe(
      'How long an SMS report without a place waits for the reporter’s reply giving it, in hours (24; 0: never).',
    ),
  notifyRetryIntervalMs: z.coerce
    .number()
    .int()
    .min(100)
    .max(3_600_000)
    .default(30_000)
    .describe('How often status messages not yet handed to the bus are produced again, in milliseconds (30 s).'),
});
/** The reports service's configuration. */
export type ReportsConfig = z.output<typeof reportsConfigSchema>;
