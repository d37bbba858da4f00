import { z } from 'zod';

/**
 * Configuration of the time-series sink (STYLE.md §7): where to write (the InfluxDB v2 write API, which InfluxDB
 * 2.x, 3.x, 1.8+ and VictoriaMetrics all serve), how to batch, and the bounds of the on-disk buffer.
 */
export const influxSinkConfigSchema = z.strictObject({
  url: z
    .string()
    .regex(/^https?:\/\/[^\s/]+/, 'an http:// or https:// URL, e.g. http://influxdb:8086')
    .optional()
    .describe('Base URL of the server (InfluxDB 2.x/3.x/1.8+ or VictoriaMetrics); the sink runs only when set.'),
  token: z
    .string()
    .default('')
    .describe('API token (InfluxDB 2.x/3.x), or `user:password` (1.8); empty: no Authorization header (secret).'),
  org: z
    .string()
    .default('vigie')
    .describe('Organisation (InfluxDB 2.x); ignored by InfluxDB 1.8/3.x and VictoriaMetrics.'),
  bucket: z
    .string()
    .min(1)
    .default('vigie')
    .describe('Bucket (2.x), database (3.x) or `database/retention-policy` (1.8); ignored by VictoriaMetrics.'),
  batchSize: z.coerce
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(5_000)
    .describe("Most lines per write request (InfluxDB's guidance: 5,000)."),
  flushIntervalMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(1_000)
    .describe('Longest a point waits for a fuller batch before it is written, ms (1 s).'),
  timeoutMs: z.coerce
    .number()
    .int()
    .min(100)
    .max(300_000)
    .default(10_000)
    .describe('Timeout of one write request, ms (10 s); a timeout is retried.'),
  retryInitialDelayMs: z.coerce
    .number()
    .int()
    .min(1)
    .max(60_000)
    .default(500)
    .describe('First delay before retrying a write the server could not take (429, 5xx, network), ms.'),
  retryMaxDelayMs: z.coerce
    .number()
    .int()
    .min(1)
    .max(600_000)
    .default(30_000)
    .describe('Largest delay between retries, ms (30 s); also caps a Retry-After. Retries never give up.'),
  compression: z
    .enum(['gzip', 'none'])
    .default('gzip')
    .describe('Request body encoding: gzip for bodies over 1 KiB (InfluxDB guidance), or none.'),
  bufferDir: z
    .string()
    .default('')
    .describe('Folder of the on-disk buffer (segment files); empty: <dataDir>/sink-influx.'),
  bufferMaxBytes: z.coerce
    .number()
    .int()
    .min(1_048_576)
    .default(536_870_912)
    .describe('Most bytes the buffer holds on disk (512 MiB); when full, the sink stops taking batches.'),
  segmentBytes: z.coerce
    .number()
    .int()
    .min(65_536)
    .max(268_435_456)
    .default(8_388_608)
    .describe('Size at which the buffer starts a new segment file (8 MiB); a segment is deleted once written.'),
  fullWaitMs: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(5_000)
    .describe('How long a bus batch waits for room in a full buffer before it fails and is redelivered, ms.'),
});
/** Configuration of the time-series sink. */
export type InfluxSinkConfig = z.output<typeof influxSinkConfigSchema>;
