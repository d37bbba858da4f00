import { isIP } from 'node:net';
import { z } from 'zod';

/** An IP address or a CIDR block (`10.0.0.0/8`, `fd00::/8`). */
function isAddressOrBlock(text: string): boolean {
  const [address = '', bits, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d{1,3}$/.test(bits) && n <= (family === 4 ? 32 : 128);
}

/**
 * Which reverse proxies to believe about the client's address (`X-Forwarded-For`, `-Proto`, `-Host`): `false` (none,
 * the default) or a comma-separated list of the proxies' addresses and CIDR blocks. Rate limits count by the
 * client's address: behind a proxy that is not trusted, every client shares the proxy's. Neither "every sender"
 * (any client could then choose its address) nor a hop count (fastify trusts no one with one) is accepted.
 */
const trustProxySchema = z
  .union([z.boolean(), z.array(z.string()), z.string()])
  .transform((value, ctx): false | string[] => {
    const text = Array.isArray(value) ? value.join(',') : String(value).trim();
    if (text === '' || text === 'false') return false;
    const list = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = list.filter((entry) => !isAddressOrBlock(entry));
    if (text === 'true' || bad.length > 0 || list.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message:
          `${bad.length > 0 ? `not an address or CIDR block: ${bad.join(', ')}` : `"${text}"`} ` +
          '(false, or the proxies’ addresses and CIDR blocks, e.g. 10.0.0.0/8,127.0.0.1; trusting every sender ' +
          'would let any client choose its address)',
      });
      return z.NEVER;
    }
    return list;
  });

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
  trustProxy: trustProxySchema
    .default(false)
    .describe(
      'Reverse proxies trusted for the client address (X-Forwarded-For): false, or their addresses and CIDR ' +
        'blocks, comma-separated. Rate limits count per client address.',
    ),
});
/** The HTTP server's configuration. */
export type HttpConfig = z.output<typeof httpConfigSchema>;

/** The public base URL, without a trailing slash: `publicUrl`, else `http://localhost:<port>`. */
export function publicUrlOf(config: HttpConfig, boundPort?: number): string {
  return (config.publicUrl ?? `http://localhost:${boundPort ?? config.port}`).replace(/\/+$/, '');
}
