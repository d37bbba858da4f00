import { AsyncLocalStorage } from 'node:async_hooks';
import { maskRecipient } from '../../core/logging.ts';

/**
 * What every notifier channel shares (STYLE.md §3): the message shapes, the outcome of one attempt and the
 * channel interface. A channel makes one attempt per `send`; retries live in alerting/router.ts only.
 */

/** An SMS to one phone number (E.164). */
export interface SmsMessage {
  readonly to: string;
  readonly body: string;
}

/** An email to one address. */
export interface EmailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string | undefined;
  /**
   * Extra header fields, e.g. `List-Unsubscribe` and `List-Unsubscribe-Post` (RFC 2369, RFC 8058) on resident
   * emails. Names must be RFC 5322 field names; they never replace From, To, Subject, Message-ID or the idempotency
   * header.
   */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * The outcome of one attempt that got an answer: `delivered` (handed to the provider, with its message id) or
 * `rejected` (permanent: bad number or address, a 4xx other than 408/429, an SMTP 5xx). Transient failures are
 * thrown as retryable AppErrors instead, carrying `retryAfterMs` when the provider gives one.
 */
export type DeliveryResult =
  | { readonly status: 'delivered'; readonly providerMessageId: string }
  | {
      readonly status: 'rejected';
      readonly reason: string;
      /**
       * The recipient opted out at the provider (Twilio error 21610: the number replied STOP to our sender): every
       * SMS to it is refused until it sends START. The router records the opt-out (consent.ts `stopSms`).
       */
      readonly optedOut?: boolean | undefined;
    };

/** A notifier channel: one attempt per call, with a timeout; `close()` releases every socket. */
export interface Channel<M> {
  /** The channel's file name, e.g. `sms-twilio`, for logs. */
  readonly name: string;
  /** `outbox` when messages go to files in the outbox folder instead of a provider. */
  readonly mode: 'provider' | 'outbox';
  send(message: M, idempotencyKey: string): Promise<DeliveryResult>;
  /**
   * Asks the provider whether it already holds this message — sent under `idempotencyKey` by an attempt whose
   * outcome we never recorded (a crash or a timeout after the request left). Resolves to the provider's message
   * id when it does, `null` when it certainly does not; throws a retryable AppError when it cannot tell (the
   * caller then retries later and never guesses). `sinceMs` (epoch ms) is the earliest time that attempt can have
   * reached the provider. Absent when the provider cannot be asked (SMTP): a resend stays possible there.
   */
  find?(message: M, idempotencyKey: string, sinceMs: number): Promise<string | null>;
  close(): Promise<void>;
}

/** Per-send context, visible to the HTTP client the Twilio library calls (it has no per-request hook of its own). */
export interface SendContext {
  readonly idempotencyKey: string;
  /** Set by the HTTP client from a `Retry-After` response header, in milliseconds. */
  retryAfterMs?: number | undefined;
}

/** Carries the {@link SendContext} of the current `send` through the Twilio library down to the HTTP client. */
export const sendContext = new AsyncLocalStorage<SendContext>();

/** Parses a `Retry-After` header (delta-seconds or an HTTP date) into milliseconds, or undefined. */
export function parseRetryAfterMs(
  value: string | string[] | undefined,
  nowMs: number = Date.now(),
): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(raw.trim())) return Math.round(Number(raw.trim()) * 1000);
  const dateMs = Date.parse(raw);
  return Number.isFinite(dateMs) ? Math.max(0, dateMs - nowMs) : undefined;
}

/** Makes a file name from an idempotency key: safe characters only, bounded, with a hash to stay unique. */
export function safeFileName(key: string, hash: string): string {
  const cleaned = key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 100);
  return `${cleaned}-${hash.slice(0, 12)}`;
}

/**
 * Replaces every secret and recipient in a provider's text before it reaches an error or a log
 * (STYLE.md §3: addresses are masked; §6.9: logs never hold secrets). Phone-like runs of digits are masked too,
 * since providers echo the number back in their messages.
 */
export function scrub(text: string, secrets: readonly string[], recipients: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('[redacted]');
  for (const recipient of recipients) if (recipient) out = out.split(recipient).join(maskRecipient(recipient));
  return out.replace(/\+?\d[\d ]{7,}\d/g, (m) => maskRecipient(m.replace(/ /g, '')));
}
