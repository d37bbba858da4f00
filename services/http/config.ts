import { z } from 'zod';

/** The HTTP server's configuration (root section `http`; VIGIE_HTTP_* variables). */
export const httpConfigSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .default('0.0.0.0')
    .describe('Address the HTTP API and console listen on (0.0.0.0: every interface).'),
  port: z.coerce
    .number()
    .int()
    .min(0)
    .max(65_535)
    .default(8080)
    .describe('Port of the HTTP API and console, 8080 (0: any free port).'),
  publicUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe(
      'The address residents and Twilio reach this server at (links in messages, webhook signatures), e.g. ' +
        'https://vigie.example.org; absent: http://localhost:<port>.',
    ),
  bodyLimitBytes: z.coerce
    .number()
    .int()
    .min(1_024)
    .max(50 * 1024 * 1024)
    .default(1024 * 1024)
    .describe('Largest request body accepted, in bytes (1 MiB); larger ones get 413. Routes may set their own.'),
});
/** The HTTP server's configuration. */
export type HttpConfig = z.output<typeof httpConfigSchema>;

/** The public base URL, without a trailing slash: `publicUrl`, else `http://localhost:<port>`. */
export function publicUrlOf(config: HttpConfig, boundPort?: number): string {
  return (config.publicUrl ?? `http://localhost:${boundPort ?? config.port}`).replace(/\/+$/, '');
}
