import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AppError } from '../../core/errors.ts';

/**
 * Parking receipt references and their verification links (issue 8), pure.
 *
 * A reference is 7 random characters of Crockford's base 32 (no I, L, O, U: nothing to confuse when read aloud or
 * copied from an SMS; https://www.crockford.com/base32.html) plus one Luhn mod 32 check character, shown as
 * `XXXX-XXXX`. 35 random bits (34 billion) keep references unique in practice; the store still enforces it (retry
 * on a clash). Reading one back ignores case, spaces and dashes and takes I/L as 1 and O as 0; the check character
 * catches any single wrong character and most swaps of two neighbours.
 *
 * References alone are guessable one by one, so the receipt link carries a token: the first 72 bits of
 * HMAC-SHA256(secret, `parking-receipt:v1:<reference>`), base64url. Whoever holds the SMS can open their receipt
 * online; nobody can list others'. Rotating the secret voids the links already sent (the version tag lets a later
 * format coexist).
 */

/** Crockford base 32 alphabet. */
export const REFERENCE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const N = REFERENCE_ALPHABET.length;
/** Random characters of a reference (the check character comes on top). */
const BODY_CHARS = 7;
/** Characters of the verification token (base64url, 6 bits each: 72 bits). */
export const TOKEN_CHARS = 12;
/** Least secret length, bytes. */
const MIN_SECRET_BYTES = 16;
/** Canonical reference, e.g. `7KQ2-X9M3`. */
export const REFERENCE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

function luhnCheckChar(body: string): string {
  let factor = 2;
  let sum = 0;
  for (let i = body.length - 1; i >= 0; i--) {
    let addend = factor * REFERENCE_ALPHABET.indexOf(body[i] as string);
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / N) + (addend % N);
    sum += addend;
  }
  return REFERENCE_ALPHABET[(N - (sum % N)) % N] as string;
}

/** A new random reference `XXXX-XXXX`; `random(n)` gives n random bytes (node:crypto by default; seed it in tests). */
export function newReference(random: (bytes: number) => Uint8Array = randomBytes): string {
  const bytes = random(5);
  if (bytes.length < 5) throw new RangeError('random source gave fewer than 5 bytes');
  let bits = 0n;
  for (const b of bytes.subarray(0, 5)) bits = (bits << 8n) | BigInt(b);
  let body = '';
  for (let i = 0; i < BODY_CHARS; i++) body += REFERENCE_ALPHABET[Number((bits >> BigInt(5 * i)) & 31n)];
  const full = body + luhnCheckChar(body);
  return `${full.slice(0, 4)}-${full.slice(4)}`;
}

/** The canonical reference `text` spells (case, spaces and dashes ignored; I/L = 1, O = 0), or undefined. */
export function normalizeReference(text: string): string | undefined {
  const compact = text.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0');
  if (compact.length !== BODY_CHARS + 1) return undefined;
  for (const ch of compact) if (!REFERENCE_ALPHABET.includes(ch)) return undefined;
  if (luhnCheckChar(compact.slice(0, BODY_CHARS)) !== compact[BODY_CHARS]) return undefined;
  return `${compact.slice(0, 4)}-${compact.slice(4)}`;
}

/** The canonical reference `text` spells; throws ERR_PARKING_REFERENCE_INVALID otherwise. */
export function parseReference(text: string): string {
  const ref = normalizeReference(text);
  if (ref === undefined) {
    throw new AppError(
      'ERR_PARKING_REFERENCE_INVALID',
      `parking reference: ${text.slice(0, 20)} (8 characters such as 7KQ2-X9M3, with a valid check character)`,
    );
  }
  return ref;
}

function keyOf(secret: string | Uint8Array): Uint8Array {
  const key = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (key.length < MIN_SECRET_BYTES) {
    throw new AppError(
      'ERR_PARKING_SECRET_INVALID',
      `receipt link secret: ${key.length} bytes (at least ${MIN_SECRET_BYTES})`,
    );
  }
  return key;
}

/** The verification token of `reference` (canonical form) under `secret` (≥ 16 bytes): 12 base64url characters. */
export function receiptToken(secret: string | Uint8Array, reference: string): string {
  return createHmac('sha256', keyOf(secret))
    .update(`parking-receipt:v1:${reference}`)
    .digest('base64url')
    .slice(0, TOKEN_CHARS);
}

/** True when `token` is the verification token of `reference` under `secret` (constant-time comparison). */
export function verifyReceiptToken(secret: string | Uint8Array, reference: string, token: string): boolean {
  const canonical = normalizeReference(reference);
  if (canonical === undefined) return false;
  const wanted = Buffer.from(receiptToken(secret, canonical));
  const given = Buffer.from(token);
  return given.length === wanted.length && timingSafeEqual(given, wanted);
}

/** The receipt's verification link: `<publicUrl>/p/<reference>?k=<token>` (publicUrl without a trailing slash). */
export function receiptUrl(publicUrl: string, reference: string, secret: string | Uint8Array): string {
  return `${publicUrl.replace(/\/+$/, '')}/p/${reference}?k=${receiptToken(secret, reference)}`;
}
