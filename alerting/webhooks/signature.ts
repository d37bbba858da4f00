import twilio from 'twilio';

/**
 * Twilio webhook signatures (https://www.twilio.com/docs/usage/webhooks/webhooks-security): Twilio signs each
 * request with HMAC-SHA1, keyed by the account's auth token, over the full URL it called followed by every POST
 * parameter name and value sorted by name, base64-encoded in `X-Twilio-Signature`. We check it with the twilio
 * library's own `validateRequest`, against the URL Twilio was given — `publicUrl` + the request's path and query —
 * never one rebuilt from the Host header, which a proxy rewrites (and a caller controls).
 */

/** A request to check. */
export interface SignedRequest {
  /** The `X-Twilio-Signature` header (absent: refused). */
  readonly signature: string | undefined;
  /** The request's path and query as received, e.g. `/webhooks/twilio/sms`. */
  readonly pathAndQuery: string;
  /** The form-encoded POST parameters, decoded. */
  readonly params: Readonly<Record<string, string | readonly string[]>>;
}

/** The URL Twilio signed for a path: `publicUrl` (scheme, host, optional prefix) + path and query. */
export function signedUrl(publicUrl: string, pathAndQuery: string): string {
  return `${publicUrl.replace(/\/+$/, '')}${pathAndQuery}`;
}

/** True when the request carries a valid Twilio signature for `publicUrl` under `authToken`. */
export function isValidTwilioSignature(authToken: string, publicUrl: string, request: SignedRequest): boolean {
  if (!request.signature || authToken === '') return false;
  return twilio.validateRequest(
    authToken,
    request.signature,
    signedUrl(publicUrl, request.pathAndQuery),
    request.params as Record<string, unknown>,
  );
}
