import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SqlStore } from '../../core/store/store.ts';

/**
 * Unsubscribe links for emails (issue 6): `<publicUrl>/u/<token>`, the token naming one subscription and signed
 * with HMAC-SHA256 under a secret (`VIGIE_UNSUBSCRIBE_SECRET`, or one generated once and kept in the store). A
 * token never expires: a link in a two-year-old email must still work. Changing the secret voids every link sent.
 */

/** Characters of the signature in a token (base64url of HMAC-SHA256, cut to 192 bits). */
const SIGNATURE_CHARS = 32;

/** Shortest secret accepted, in characters. */
export const MIN_UNSUBSCRIBE_SECRET_CHARS = 32;

function signature(secret: string, subscriptionId: number): string {
  return createHmac('sha256', secret)
    .update(`vigie:unsubscribe:v1:${subscriptionId}`)
    .digest('base64url')
    .slice(0, SIGNATURE_CHARS);
}

/** The token of a subscription's unsubscribe link: `<id>.<signature>`. */
export function unsubscribeToken(secret: string, subscriptionId: number): string {
  return `${subscriptionId}.${signature(secret, subscriptionId)}`;
}

/** The subscription id a token names, or undefined when it is malformed or its signature is wrong. */
export function verifyUnsubscribeToken(secret: string, token: string): number | undefined {
  const match = /^([1-9]\d{0,15})\.([A-Za-z0-9_-]+)$/.exec(token);
  if (!match) return undefined;
  const id = Number(match[1]);
  if (!Number.isSafeInteger(id)) return undefined;
  const expected = Buffer.from(signature(secret, id));
  const given = Buffer.from(match[2] as string);
  return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined;
}

/** The unsubscribe link of a subscription, for emails (body and `List-Unsubscribe` header). */
export function unsubscribeUrl(publicUrl: string, secret: string, subscriptionId: number): string {
  return `${publicUrl.replace(/\/+$/, '')}/u/${unsubscribeToken(secret, subscriptionId)}`;
}

/**
 * The secret of unsubscribe links: `configured` when given (`VIGIE_UNSUBSCRIBE_SECRET`), else one generated once
 * (256 random bits) and kept in `alerting_settings`, so links keep working across restarts with no configuration.
 * Several instances starting together agree on one (the first insert wins).
 */
export async function unsubscribeSecret(store: SqlStore, configured?: string): Promise<string> {
  if (configured !== undefined) return configured;
  await store.query(
    `INSERT INTO alerting_settings (key, value) VALUES ('unsubscribe_secret', $1) ON CONFLICT (key) DO NOTHING`,
    [randomBytes(32).toString('base64url')],
  );
  const res = await store.query<{ value: string }>(
    `SELECT value FROM alerting_settings WHERE key = 'unsubscribe_secret'`,
  );
  return (res.rows[0] as { value: string }).value;
}
