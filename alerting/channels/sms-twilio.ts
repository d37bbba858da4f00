import http from 'node:http';
import https from 'node:https';
import twilio from 'twilio';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { maskRecipient } from '../../core/logging.ts';
import { E164 } from '../../core/phone.ts';
import {
  type Channel,
  type DeliveryResult,
  parseRetryAfterMs,
  type SendContext,
  type SmsMessage,
  scrub,
  sendContext,
} from './channel.ts';

/**
 * SMS through Twilio's Programmable Messaging API (POST /2010-04-01/Accounts/{AccountSid}/Messages.json), with the
 * official `twilio` client. The client's `httpClient` option carries the requests: by default our own small
 * node:http client below (rather than the library's axios RequestClient) because
 *  - axios errors hold the request config, Authorization header included: one logged error would leak the token;
 *  - we own its sockets (one keep-alive Agent), so `close()` releases every one of them;
 *  - the per-attempt timeout aborts the socket instead of leaving it to finish in the background;
 *  - it reads `Retry-After`, which the library's RestException drops.
 * The outbox (alerting/channels/outbox-http-client.ts) is another httpClient: same code path up to the transport.
 *
 * Twilio has no idempotency key on message creation, so deduplication lives in the router's delivery log, and an
 * attempt whose answer never came back (a timeout, a crash) is reconciled before any resend: `find` lists the
 * messages Twilio holds for the number (GET …/Messages.json?To=…, newest first, paged) and looks for ours — same
 * body, same sender, created since the first attempt (minus {@link FIND_CLOCK_SKEW_MS}). It does not filter on
 * `DateSent`: that filter is per day and `date_sent` stays empty while a message is still queued — exactly the
 * messages a crash leaves behind. In outbox mode, `find` reads the outbox file back by idempotency key instead.
 * Error codes: https://www.twilio.com/docs/api/errors (21211 invalid To, 21610 unsubscribed, 20429 too many requests).
 * A 21610 is `rejected` with `optedOut: true`: the router records the opt-out (the resident's STOP reached Twilio
 * but not our webhook, or came before it was set up) so nothing more is attempted to the number.
 */

/** Channel name. */
export const name = 'sms-twilio';

/**
 * Twilio error 21610, "Attempt to send to unsubscribed recipient": the number replied STOP (or another opt-out
 * keyword) to our sender, and Twilio blocks it until it replies START (https://www.twilio.com/docs/api/errors/21610).
 */
export const TWILIO_UNSUBSCRIBED = 21610;

/** Configuration of the Twilio SMS channel. */
export const configSchema = z
  .strictObject({
    accountSid: z
      .string()
      .regex(/^AC[0-9a-fA-F]{32}$/, 'a Twilio Account SID: AC followed by 32 hex digits')
      .describe('Twilio Account SID (TWILIO_ACCOUNT_SID)'),
    authToken: z.string().min(1).describe('Twilio auth token (TWILIO_AUTH_TOKEN); a secret, never printed'),
    fromNumber: z
      .string()
      .regex(E164, 'an E.164 phone number, e.g. +33612345678')
      .optional()
      .describe('Sender number in E.164 (TWILIO_FROM_NUMBER); this or messagingServiceSid'),
    messagingServiceSid: z
      .string()
      .regex(/^MG[0-9a-fA-F]{32}$/, 'a Messaging Service SID: MG followed by 32 hex digits')
      .optional()
      .describe('Twilio Messaging Service SID (TWILIO_MESSAGING_SERVICE_SID); this or fromNumber'),
    apiBaseUrl: z
      .url({ protocol: /^https?$/ })
      .default('https://api.twilio.com')
      .describe('Where API requests go (scheme, host, port); a local stand-in in tests'),
    timeoutMs: z.number().int().positive().max(120_000).default(10_000).describe('Timeout of one attempt, in ms'),
    statusCallbackUrl: z
      .url({ protocol: /^https?$/ })
      .optional()
      .describe("Where Twilio posts each message's delivery statuses (<VIGIE_PUBLIC_URL>/webhooks/twilio/status)"),
  })
  .superRefine((c, ctx) => {
    if (!c.fromNumber && !c.messagingServiceSid) {
      ctx.addIssue({ code: 'custom', path: ['fromNumber'], message: 'set fromNumber or messagingServiceSid' });
    }
  });

/** Configuration of the Twilio SMS channel, parsed. */
export type SmsTwilioConfig = z.output<typeof configSchema>;

/** What the `twilio` library asks of an `httpClient` (the part of its RequestClient it calls). */
export interface TwilioHttpClient {
  request(opts: TwilioRequest): Promise<TwilioResponse>;
  /** Releases the client's sockets or files. */
  close?(): Promise<void>;
  /** A transport that records messages itself (the outbox) answers `find` by idempotency key here. */
  findByIdempotencyKey?(idempotencyKey: string): Promise<string | null>;
}

/** How far the provider's clock may lag ours when `find` compares creation times, in ms. */
export const FIND_CLOCK_SKEW_MS = 5 * 60_000;

/** Most pages of 100 messages `find` reads before it gives up as "cannot tell" (retried later). */
const FIND_MAX_PAGES = 20;

/** A request as the `twilio` library hands it to its `httpClient`. */
export interface TwilioRequest {
  readonly method: string;
  readonly uri: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly headers?: Record<string, string> | undefined;
  readonly params?: Record<string, unknown> | undefined;
  readonly data?: Record<string, unknown> | undefined;
  readonly timeout?: number | undefined;
}

/** A response as the `twilio` library expects it back. */
export interface TwilioResponse {
  readonly statusCode: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** Largest response body read, in bytes: Twilio answers are a few KB. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** Encodes Twilio's form data (arrays repeat the key, as the library's own client does). */
export function encodeForm(data: Record<string, unknown> | undefined): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(data ?? {})) {
    if (value === undefined || value === null) continue;
    for (const v of Array.isArray(value) ? value : [value]) form.append(key, String(v));
  }
  return form.toString();
}

/**
 * A node:http(s) client for the `twilio` library: one keep-alive agent, a hard timeout per request (the socket is
 * destroyed), requests redirected to `apiBaseUrl`, and errors that never carry the Authorization header.
 */
export function createNodeHttpClient(options: {
  apiBaseUrl: string;
  timeoutMs: number;
}): Required<Pick<TwilioHttpClient, 'request' | 'close'>> {
  const base = new URL(options.apiBaseUrl);
  const secure = base.protocol === 'https:';
  const agent = secure
    ? new https.Agent({ keepAlive: true, maxSockets: 16 })
    : new http.Agent({ keepAlive: true, maxSockets: 16 });
  const doRequest = secure ? https.request : http.request;
  let closed = false;

  return {
    request(opts) {
      if (closed)
        return Promise.reject(new AppError('ERR_CHANNEL_CLOSED', 'sms-twilio: channel closed', { retryable: true }));
      const target = new URL(opts.uri);
      const url = new URL(`${target.pathname}${target.search}`, base);
      for (const [k, v] of Object.entries(opts.params ?? {}))
        if (v !== undefined) url.searchParams.append(k, String(v));
      const body = opts.data ? encodeForm(opts.data) : undefined;
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.username && opts.password) {
        headers.Authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
      }
      if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
      const timeoutMs = options.timeoutMs;
      const ctx = sendContext.getStore();
      return new Promise<TwilioResponse>((resolve, reject) => {
        let settled = false;
        let timedOut = false;
        const fail = (err: NodeJS.ErrnoException) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          if (timedOut) {
            reject(
              new AppError('ERR_CHANNEL_TIMEOUT', `sms-twilio: no answer from ${base.host} within ${timeoutMs} ms`, {
                retryable: true,
              }),
            );
            return;
          }
          // Only the errno code and the host: the error object itself may describe the request.
          reject(
            new AppError(
              'ERR_CHANNEL_UNREACHABLE',
              `sms-twilio: cannot reach ${base.host}: ${err.code ?? err.message} (network error, will retry)`,
              { retryable: true },
            ),
          );
        };
        const req = doRequest(url, { method: opts.method.toUpperCase(), headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) {
              req.destroy(new Error(`response larger than ${MAX_RESPONSE_BYTES} bytes`));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            if (ctx) ctx.retryAfterMs = parseRetryAfterMs(res.headers['retry-after']);
            resolve({
              statusCode: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              headers: res.headers,
            });
          });
          res.on('error', fail);
          res.on('aborted', () => fail(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
        });
        const timer = setTimeout(() => {
          timedOut = true;
          req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
        }, timeoutMs);
        req.on('error', fail);
        req.end(body);
      });
    },
    async close() {
      closed = true;
      agent.destroy();
    },
  };
}

/** The `twilio` library's RestException, as far as we read it. */
interface RestExceptionLike {
  status: number;
  code?: number;
  message?: string;
}

function isRestException(err: unknown): err is RestExceptionLike {
  return typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number';
}

/**
 * Creates the Twilio SMS channel. `deps.httpClient` replaces the node:http client (the outbox uses this);
 * `deps.mode` says which one it is, for the start-up message.
 */
export function create(
  config: SmsTwilioConfig,
  deps: { httpClient?: TwilioHttpClient; mode?: 'provider' | 'outbox' } = {},
): Channel<SmsMessage> {
  const httpClient: TwilioHttpClient = deps.httpClient ?? createNodeHttpClient(config);
  const client = twilio(config.accountSid, config.authToken, {
    httpClient: httpClient as unknown as NonNullable<Parameters<typeof twilio>[2]>['httpClient'],
    autoRetry: false,
  });
  const secrets = [config.authToken, Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')];
  const sender = config.messagingServiceSid
    ? { messagingServiceSid: config.messagingServiceSid }
    : { from: config.fromNumber as string };

  return {
    name,
    mode: deps.mode ?? 'provider',
    async send(message: SmsMessage, idempotencyKey: string): Promise<DeliveryResult> {
      const ctx: SendContext = { idempotencyKey };
      const masked = maskRecipient(message.to);
      try {
        const created = await sendContext.run(ctx, () =>
          client.messages.create({
            to: message.to,
            body: message.body,
            ...sender,
            ...(config.statusCallbackUrl ? { statusCallback: config.statusCallbackUrl } : {}),
          }),
        );
        return { status: 'delivered', providerMessageId: created.sid };
      } catch (err) {
        if (err instanceof AppError) {
          throw new AppError(err.code, scrub(err.message, secrets, [message.to]), {
            retryable: err.retryable,
            ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
          });
        }
        if (isRestException(err)) {
          const detail = scrub(`${err.code ?? '-'} ${err.message ?? ''}`.trim(), secrets, [message.to]);
          const status = err.status;
          if (status === 401 || status === 403) {
            throw new AppError(
              'ERR_CHANNEL_AUTH',
              `sms-twilio: credentials refused: HTTP ${status} (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)`,
            );
          }
          if (status === 408 || status === 429 || status >= 500) {
            throw new AppError(
              status === 429 ? 'ERR_CHANNEL_THROTTLED' : 'ERR_CHANNEL_UNAVAILABLE',
              `sms-twilio: SMS to ${masked} not accepted now: HTTP ${status} ${detail} (transient, will retry)`,
              { retryable: true, ...(ctx.retryAfterMs === undefined ? {} : { retryAfterMs: ctx.retryAfterMs }) },
            );
          }
          if (status >= 400) {
            // 21610: the number replied STOP to our sender; Twilio refuses every SMS to it until START.
            if (err.code === TWILIO_UNSUBSCRIBED) {
              return { status: 'rejected', reason: `HTTP ${status} ${detail}`, optedOut: true };
            }
            return { status: 'rejected', reason: `HTTP ${status} ${detail}` };
          }
        }
        // Anything else (a non-JSON 2xx, a library change): not a provider verdict we understand. Not retried —
        // the router records it as failed and dead-letters it, where an operator can look.
        const text = err instanceof Error ? err.message : String(err);
        throw new AppError(
          'ERR_CHANNEL_PROTOCOL',
          `sms-twilio: unexpected answer: ${scrub(text, secrets, [message.to])}`,
        );
      }
    },
    async find(message: SmsMessage, idempotencyKey: string, sinceMs: number): Promise<string | null> {
      if (httpClient.findByIdempotencyKey) return httpClient.findByIdempotencyKey(idempotencyKey);
      const ctx: SendContext = { idempotencyKey };
      const fromMs = sinceMs - FIND_CLOCK_SKEW_MS;
      const isOurs = (m: MessageLike): boolean =>
        m.to === message.to &&
        // A trial account prefixes the body; anything else must match to the character.
        (m.body === message.body || (m.body ?? '').endsWith(message.body)) &&
        (config.messagingServiceSid
          ? m.messagingServiceSid === config.messagingServiceSid
          : m.from === config.fromNumber) &&
        (m.direction ?? 'outbound-api').startsWith('outbound');
      try {
        return await sendContext.run(ctx, async () => {
          let page = await client.messages.page({
            to: message.to,
            ...(config.messagingServiceSid || !config.fromNumber ? {} : { from: config.fromNumber }),
            pageSize: 100,
          });
          for (let pages = 1; ; pages++) {
            let reachedOlder = false;
            for (const m of page.instances as MessageLike[]) {
              const createdMs = m.dateCreated instanceof Date ? m.dateCreated.getTime() : Number.NaN;
              if (createdMs < fromMs) {
                reachedOlder = true; // newest first: older pages hold nothing of ours
                continue;
              }
              if (isOurs(m)) return m.sid;
            }
            if (reachedOlder || !page.nextPageUrl) return null;
            if (pages >= FIND_MAX_PAGES) {
              throw new AppError(
                'ERR_CHANNEL_UNAVAILABLE',
                `sms-twilio: more than ${pages * 100} messages to ${maskRecipient(message.to)} since the first attempt; cannot tell whether it went out (will retry)`,
                { retryable: true },
              );
            }
            const next = await page.nextPage();
            if (!next) return null;
            page = next as typeof page;
          }
        });
      } catch (err) {
        throw classifyFindError(err, ctx, secrets, message.to);
      }
    },
    async close() {
      await httpClient.close?.();
    },
  };
}

/** The fields of a listed message that `find` reads. */
interface MessageLike {
  sid: string;
  to: string;
  from?: string | null;
  messagingServiceSid?: string | null;
  body?: string | null;
  direction?: string | null;
  dateCreated?: Date | null;
}

/** Turns a failed listing into an AppError: retryable unless asking again cannot help (credentials, a 4xx). */
function classifyFindError(err: unknown, ctx: SendContext, secrets: readonly string[], to: string): AppError {
  if (err instanceof AppError) {
    return new AppError(err.code, scrub(err.message, secrets, [to]), {
      retryable: err.retryable,
      ...(err.retryAfterMs === undefined ? {} : { retryAfterMs: err.retryAfterMs }),
    });
  }
  if (isRestException(err)) {
    const status = err.status;
    const detail = scrub(`${err.code ?? '-'} ${err.message ?? ''}`.trim(), secrets, [to]);
    if (status === 401 || status === 403) {
      return new AppError(
        'ERR_CHANNEL_AUTH',
        `sms-twilio: credentials refused when listing messages: HTTP ${status} (check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)`,
      );
    }
    if (status === 408 || status === 429 || status >= 500) {
      return new AppError(
        status === 429 ? 'ERR_CHANNEL_THROTTLED' : 'ERR_CHANNEL_UNAVAILABLE',
        `sms-twilio: cannot list messages now: HTTP ${status} ${detail} (transient, will retry)`,
        { retryable: true, ...(ctx.retryAfterMs === undefined ? {} : { retryAfterMs: ctx.retryAfterMs }) },
      );
    }
    return new AppError('ERR_CHANNEL_PROTOCOL', `sms-twilio: listing messages refused: HTTP ${status} ${detail}`);
  }
  const text = err instanceof Error ? err.message : String(err);
  return new AppError(
    'ERR_CHANNEL_PROTOCOL',
    `sms-twilio: unexpected answer when listing messages: ${scrub(text, secrets, [to])}`,
  );
}
