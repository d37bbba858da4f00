import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The subscriber code of a meter (issue 6): proof that whoever subscribes on the web holds the meter's bill, so
 * nobody subscribes to a neighbour's meter. The utility prints it on the bill (`vigie subscriptions meter-code
 * <deviceId>`); the sign-up route (`POST /api/subscriptions`) asks for it.
 *
 * code = the first 40 bits of HMAC-SHA256(secret, `meter-code:<deviceId>`), in Crockford base32 (no I, L, O, U:
 * nothing to misread), shown `XXXX-XXXX`. Nothing is stored: the code is derived, and the secret is the store's one
 * secret, the unsubscribe links' (`unsubscribeSecret(store, VIGIE_UNSUBSCRIBE_SECRET)`, webhooks/unsubscribe-token.ts);
 * the `meter-code:` prefix keeps the two uses apart. Changing that secret changes every meter's code (and voids
 * every unsubscribe link): the bills must then be printed again.
 *
 * 40 bits: guessing is bounded far below by the route's rate limits (10 requests per hour per IP address).
 */

/** Crockford's base32 alphabet (https://www.crockford.com/base32.html). */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Characters of a code, without the dash. */
export const METER_CODE_CHARS = 8;

/** Longest input {@link verifyMeterCode} reads, in characters (a code with generous spacing). */
const MAX_INPUT_CHARS = 64;

/** The 8 characters of a meter's code, without the dash. */
function rawCode(secret: string, deviceId: string): string {
  const digest = createHmac('sha256', secret).update(`meter-code:${deviceId}`).digest();
  let bits = 0n;
  for (let i = 0; i < 5; i++) bits = (bits << 8n) | BigInt(digest[i] as number);
  let out = '';
  for (let i = METER_CODE_CHARS - 1; i >= 0; i--) out += CROCKFORD[Number((bits >> BigInt(i * 5)) & 31n)];
  return out;
}

/** The subscriber code of `deviceId` under `secret`, as printed on the bill: `XXXX-XXXX` (Crockford base32). */
export function meterCode(secret: string, deviceId: string): string {
  const code = rawCode(secret, deviceId);
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * Whether `input` is the code of `deviceId`: case, spaces and dashes ignored, and the letters Crockford reads as
 * digits (O as 0, I and L as 1) accepted; compared in constant time.
 */
export function verifyMeterCode(secret: string, deviceId: string, input: string): boolean {
  if (input.length > MAX_INPUT_CHARS) return false;
  const given = input
    .toUpperCase()
    .replace(/[\s-]+/g, '')
    .replace(/O/g, '0')
    .replace(/[IL]/g, '1');
  const expected = Buffer.from(rawCode(secret, deviceId));
  // Same length for timingSafeEqual; a wrong length still costs one comparison, then fails.
  const padded = Buffer.alloc(expected.length);
  padded.write(given.slice(0, expected.length), 'latin1');
  return timingSafeEqual(padded, expected) && given.length === expected.length;
}
