import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { DeviceId } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { escapeHtml } from '../../core/html.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { namedLimiter, refuseWhenLimited, useRateLimits } from '../../services/http/rate-limit.ts';
import { errorBody } from '../../services/http/server.ts';
import { isSmsAllowed } from '../consent.ts';
import { enqueueMessages, type StoredMessage } from '../delivery-log.ts';
import { verifyMeterCode } from '../meter-code.ts';
import { createSubscriptions, type PendingConfirmation, parseAddress } from '../subscriptions.ts';
import { useFormParser } from './form.ts';
import { verifyUnsubscribeToken } from './unsubscribe-token.ts';

/**
 * Residents' own routes (issue 6), as a fastify plugin the HTTP server registers; no operator token:
 * - `POST /api/subscriptions` {deviceId, address, meterCode, locale?} (JSON or form) — a resident signs up on the
 *   web: the meter's subscriber code (printed on the bill, meter-code.ts) proves they hold the bill; the
 *   subscription is made `pending` and the message carrying its 6-digit code is queued in the delivery log
 *   (purpose `confirmation`, due now), which the alerting stage's sweep sends. 202 `{status: 'pending', expiresAt}`
 *   (never the code); 200 `{status: 'confirmed'}` when it already is (nothing sent); 403 for a wrong meter code
 *   (one answer whether the device exists or not), 400 for an address that is neither E.164 nor an email, 409 for
 *   a number that sent STOP (it must text START first), 429 beyond 10 requests per hour from one IP address or 3
 *   per hour for one address (@fastify/rate-limit, counted in the store by every instance together).
 *   Known limit: the subscription and its message are written in two transactions; a crash between them leaves a
 *   pending subscription with no code sent, and the resident asks again (a new code, a new message). A newer code
 *   cancels the older code's message if it is still waiting (`cancelled`, it would carry a dead code);
 * - `POST /api/subscriptions/confirm` {address, code} — confirms a pending subscription with its code (double
 *   opt-in; 5 wrong tries per subscription, then a new request is needed);
 * - `GET /u/:token` — the unsubscribe link of an email: unsubscribes at once, answers a tiny French HTML page;
 * - `POST /u/:token` — the same, one-click from the mail client (RFC 8058 `List-Unsubscribe-Post`).
 * Known limit: a mail scanner that follows links (some corporate filters do) unsubscribes with the GET; the
 * resident can subscribe again. Confirmation proves the resident owns the address; the meter code, that they hold
 * the meter's bill. The IP address rate-limited is fastify's `request.ip`: behind a proxy, the server must trust it
 * (`VIGIE_HTTP_TRUST_PROXY`) or every resident shares the proxy's limit.
 */

/** Options of {@link subscriptionRoutes}. */
export interface SubscriptionRoutesOptions {
  readonly store: SqlStore;
  /** Secret of the unsubscribe links (VIGIE_UNSUBSCRIBE_SECRET, or `unsubscribeSecret(store)`). */
  readonly unsubscribeSecret: string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  /** Sign-up requests allowed per hour (defaults: 10 per IP address, 3 per phone number or email address). */
  readonly rateLimits?: { readonly perIpPerHour?: number; readonly perAddressPerHour?: number } | undefined;
}

/** Sign-up requests allowed per hour from one IP address. */
export const SIGNUPS_PER_IP_PER_HOUR = 10;

/** Sign-up requests allowed per hour for one phone number or email address. */
export const SIGNUPS_PER_ADDRESS_PER_HOUR = 3;

const HOUR_MS = 3_600_000;

const SignUpBody = z.strictObject({
  deviceId: DeviceId.describe('The water meter, as printed on the bill, e.g. WM-000123'),
  address: z
    .string()
    .min(1)
    .max(254)
    .describe('Where alerts go: a phone number in E.164 (+33612345678) or an email address'),
  meterCode: z
    .string()
    .min(1)
    .max(64)
    .describe('The subscriber code printed on the bill, XXXX-XXXX (case, spaces and dashes ignored)'),
  locale: z.enum(['fr', 'en']).default('fr').describe('Language of the messages: fr (default) or en'),
});

const PendingReply = z.object({
  status: z.literal('pending'),
  expiresAt: z.string().describe('When the code sent stops being valid (ISO 8601, 24 h)'),
});

const AlreadyConfirmedReply = z.object({ status: z.literal('confirmed') });

const ConfirmBody = z.strictObject({
  address: z.string().min(1).max(254).describe('The phone number (E.164) or email address that subscribed'),
  code: z.string().min(1).max(16).describe('The 6-digit code it received'),
});

const ConfirmedReply = z.object({
  status: z.literal('confirmed'),
  subscriptions: z.array(z.object({ deviceId: z.string(), channel: z.enum(['sms', 'email']) })),
});

/** Errors as the shared HTTP server answers them (`{error: {code, message, issues?}}`), plus the tries left. */
const ErrorReply = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  }),
  attemptsLeft: z.number().int().optional(),
});

const TokenParams = z.strictObject({ token: z.string().max(200) });

/** Residents' confirmation and unsubscribe routes; register on the shared HTTP server. */
export const subscriptionRoutes: FastifyPluginAsync<SubscriptionRoutesOptions> = async (parent, options) => {
  const app = parent.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  useFormParser(parent, 4096); // RFC 8058 one-click posts `List-Unsubscribe=One-Click`, form-encoded
  const clock = options.clock ?? SYSTEM_CLOCK;
  const subscriptions = createSubscriptions(options.store, { clock });
  const { logger } = options;
  const confirmTotal = options.metrics.counter(
    'alerting_confirmations_total',
    'Confirmation codes submitted on the web, by outcome',
    ['outcome'],
  );
  const signUpTotal = options.metrics.counter(
    'alerting_subscription_requests_total',
    'Web sign-ups, by outcome: pending (code queued), confirmed (already), forbidden (meter code), invalid, stopped, rate_limited',
    ['outcome'],
  );
  await useRateLimits(parent);
  const perIp = namedLimiter(parent, 'subscriptions:sign-up:ip', {
    max: options.rateLimits?.perIpPerHour ?? SIGNUPS_PER_IP_PER_HOUR,
    timeWindow: HOUR_MS,
  });
  const perAddress = namedLimiter(parent, 'subscriptions:sign-up:address', {
    max: options.rateLimits?.perAddressPerHour ?? SIGNUPS_PER_ADDRESS_PER_HOUR,
    timeWindow: HOUR_MS,
    keyGenerator: (request) => `address:${addressKey((request.body as { address?: unknown } | undefined)?.address)}`,
  });
  /** Counts the request against `limiter`; answers 429 (and returns true) once the limit is passed. */
  async function limited(
    limiter: typeof perIp,
    request: FastifyRequest,
    reply: FastifyReply,
    what: string,
  ): Promise<boolean> {
    const refused = await refuseWhenLimited(limiter, request, reply, {
      code: 'ERR_SUBSCRIPTION_RATE_LIMITED',
      message: (max) => `sign-up requests: more than ${max} per hour ${what}`,
    });
    if (refused) signUpTotal.inc({ outcome: 'rate_limited' });
    return refused;
  }
  const unsubscribeTotal = options.metrics.counter(
    'alerting_unsubscribe_links_total',
    'Unsubscribe links followed: ok, invalid (bad token or no such subscription)',
    ['outcome'],
  );

  app.post(
    '/api/subscriptions',
    {
      schema: {
        summary: 'Subscribe to the alerts of a water meter (the code is sent to the address)',
        description:
          'Needs the subscriber code printed on the bill. Sends a 6-digit code to the address (SMS or email), to be ' +
          'confirmed with POST /api/subscriptions/confirm within 24 h. Limits: 10 requests per hour per IP address, ' +
          '3 per hour per address.',
        tags: ['subscriptions'],
        body: SignUpBody,
        response: {
          200: AlreadyConfirmedReply,
          202: PendingReply,
          400: ErrorReply,
          403: ErrorReply,
          409: ErrorReply,
          429: ErrorReply,
        },
      },
      onRequest: async (request, reply) => {
        if (await limited(perIp, request, reply, 'from this IP address')) return reply;
      },
      preHandler: async (request, reply) => {
        if (await limited(perAddress, request, reply, 'for this address')) return reply;
      },
    },
    async (request, reply) => {
      const { deviceId, meterCode, locale } = request.body;
      let target: ReturnType<typeof parseAddress>;
      try {
        target = parseAddress(request.body.address);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        signUpTotal.inc({ outcome: 'invalid' });
        return reply.code(400).send(errorBody(err.code, err.message));
      }
      // Checked for every device id alike (the code is derived, nothing is looked up): a wrong code for a meter
      // that exists and for one that does not get the same answer.
      if (!verifyMeterCode(options.unsubscribeSecret, deviceId, meterCode)) {
        signUpTotal.inc({ outcome: 'forbidden' });
        return reply
          .code(403)
          .send(
            errorBody(
              'ERR_SUBSCRIPTION_METER_CODE',
              'meterCode: does not match this meter (the subscriber code printed on the water bill, XXXX-XXXX)',
            ),
          );
      }
      if (target.channel === 'sms' && !(await isSmsAllowed(options.store, target.address))) {
        signUpTotal.inc({ outcome: 'stopped' });
        return reply
          .code(409)
          .send(
            errorBody(
              'ERR_SUBSCRIPTION_SMS_STOPPED',
              `address: ${maskRecipient(target.address)} sent STOP (text START to the number the alerts come from, then subscribe again)`,
            ),
          );
      }
      let added: Awaited<ReturnType<typeof subscriptions.add>>;
      try {
        added = await subscriptions.add({
          deviceId,
          channel: target.channel,
          address: target.address,
          locale,
          consent: 'resident',
          source: 'web',
        });
      } catch (err) {
        if (err instanceof AppError && err.code === 'ERR_SUBSCRIPTION_INVALID') {
          signUpTotal.inc({ outcome: 'invalid' });
          return reply.code(400).send(errorBody(err.code, err.message));
        }
        throw err;
      }
      const confirmation = added.confirmation;
      if (added.status === 'confirmed' || !confirmation) {
        signUpTotal.inc({ outcome: 'confirmed' });
        return reply.code(200).send({ status: 'confirmed' as const });
      }
      await queueConfirmation(options.store, added.id, locale, confirmation, clock.nowMs());
      signUpTotal.inc({ outcome: 'pending' });
      logger.info({ to: maskRecipient(target.address), deviceId }, 'subscription requested on the web');
      return reply
        .code(202)
        .send({ status: 'pending' as const, expiresAt: new Date(confirmation.expiresAtMs).toISOString() });
    },
  );

  app.post(
    '/api/subscriptions/confirm',
    {
      schema: {
        summary: 'Confirm a subscription with the code the resident received',
        tags: ['subscriptions'],
        body: ConfirmBody,
        response: { 200: ConfirmedReply, 400: ErrorReply },
      },
    },
    async (request, reply) => {
      let result: Awaited<ReturnType<typeof subscriptions.confirm>>;
      try {
        result = await subscriptions.confirm({ ...request.body, source: 'web' });
      } catch (err) {
        if (err instanceof AppError && err.code === 'ERR_SUBSCRIPTION_INVALID') {
          confirmTotal.inc({ outcome: 'invalid' });
          return reply.code(400).send({ error: { code: err.code, message: err.message } });
        }
        throw err;
      }
      confirmTotal.inc({ outcome: result.outcome });
      if (result.outcome === 'confirmed') {
        logger.info({ to: maskRecipient(request.body.address) }, 'subscription confirmed on the web');
        return {
          status: 'confirmed' as const,
          subscriptions: result.subscriptions.map((s) => ({ deviceId: s.deviceId, channel: s.channel })),
        };
      }
      // One answer for "wrong" and "none" but the tries left: no hint whether an address has something pending.
      return reply.code(400).send({
        error: {
          code: 'ERR_SUBSCRIPTION_CODE',
          message:
            result.outcome === 'wrong-code'
              ? `code: wrong (the 6-digit code received; ${result.attemptsLeft} tries left)`
              : 'code: no code waiting for this address (expired after 24 h, used, or 5 wrong tries: subscribe again)',
        },
        attemptsLeft: result.outcome === 'wrong-code' ? result.attemptsLeft : 0,
      });
    },
  );

  async function unsubscribe(token: string, reply: FastifyReply, html: boolean) {
    const id = verifyUnsubscribeToken(options.unsubscribeSecret, token);
    const sub = id === undefined ? undefined : await subscriptions.unsubscribe(id, 'web');
    unsubscribeTotal.inc({ outcome: sub ? 'ok' : 'invalid' });
    reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
    if (!html)
      return reply
        .code(sub ? 200 : 404)
        .type('text/plain; charset=utf-8')
        .send(sub ? 'unsubscribed' : 'unknown link');
    const body = sub
      ? `<h1>Désinscription faite</h1><p>${escapeHtml(maskRecipient(sub.address))} ne recevra plus les alertes du compteur ${escapeHtml(sub.deviceId)}${sub.channel === 'sms' ? ' par SMS' : ' par email'}.</p><p>Vous pourrez vous réabonner à tout moment.</p>`
      : '<h1>Lien inconnu</h1><p>Ce lien de désinscription n’est pas valable. Copiez-le en entier depuis l’email, ou contactez votre service des eaux.</p>';
    return reply
      .code(sub ? 200 : 404)
      .type('text/html; charset=utf-8')
      .send(page(body));
  }

  app.get('/u/:token', { schema: { params: TokenParams, hide: true } }, (request, reply) =>
    unsubscribe(request.params.token, reply, true),
  );
  app.post('/u/:token', { schema: { params: TokenParams, hide: true } }, (request, reply) =>
    unsubscribe(request.params.token, reply, false),
  );
};

/** The subject (`alert_id`) of a subscription's confirmation messages in the delivery log. */
export function confirmationSubject(subscriptionId: number): string {
  return `subscription:${subscriptionId}`;
}

/**
 * The idempotency key of a confirmation message: the subscription and its code's expiry (epoch ms, 13 digits until
 * the year 2286, so keys of one subscription sort by age).
 */
export function confirmationKey(subscriptionId: number, expiresAtMs: number): string {
  return `confirmation:${subscriptionId}:${expiresAtMs}`;
}

/**
 * Queues the message carrying a subscription's code (due now) and cancels any older one of the same subscription
 * still waiting: its code is dead (a new request replaced it), and the newest one stays, whatever order two
 * requests finish in.
 */
async function queueConfirmation(
  store: SqlStore,
  subscriptionId: number,
  locale: 'fr' | 'en',
  confirmation: PendingConfirmation,
  nowMs: number,
): Promise<void> {
  const m = confirmation.message;
  const message: StoredMessage =
    m.channel === 'sms'
      ? { kind: 'sms', to: m.to, body: m.body }
      : { kind: 'email', to: m.to, subject: m.subject, text: m.text, ...(m.html ? { html: m.html } : {}) };
  const subject = confirmationSubject(subscriptionId);
  await store.transaction(async (tx) => {
    await enqueueMessages(tx, [
      {
        key: confirmationKey(subscriptionId, confirmation.expiresAtMs),
        subject,
        purpose: 'confirmation',
        locale,
        message,
        notBeforeMs: nowMs,
      },
    ]);
    await tx.query(
      `UPDATE alerting_deliveries SET status = 'cancelled', last_error = 'superseded by a newer code', updated_at = now()
       WHERE alert_id = $1 AND purpose = 'confirmation' AND status = 'scheduled'
         AND idempotency_key < (SELECT max(idempotency_key) FROM alerting_deliveries
                                WHERE alert_id = $1 AND purpose = 'confirmation')`,
      [subject],
    );
  });
}

/** The rate-limit key of an address: its E.164 or lower-cased form, the raw text (bounded) when it is neither. */
function addressKey(address: unknown): string {
  if (typeof address !== 'string') return '(none)';
  try {
    return parseAddress(address).address;
  } catch {
    return address.trim().toLowerCase().slice(0, 254);
  }
}

function page(body: string): string {
  return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>Vigie — désinscription</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}</style></head><body>${body}</body></html>`;
}
