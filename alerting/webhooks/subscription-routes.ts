import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createSubscriptions } from '../subscriptions.ts';
import { useFormParser } from './form.ts';
import { verifyUnsubscribeToken } from './unsubscribe-token.ts';

/**
 * Residents' own routes (issue 6), as a fastify plugin the HTTP server registers; no operator token:
 * - `POST /api/subscriptions/confirm` {address, code} — confirms a pending subscription with its code (double
 *   opt-in; 5 wrong tries per subscription, then a new request is needed);
 * - `GET /u/:token` — the unsubscribe link of an email: unsubscribes at once, answers a tiny French HTML page;
 * - `POST /u/:token` — the same, one-click from the mail client (RFC 8058 `List-Unsubscribe-Post`).
 * Known limit: a mail scanner that follows links (some corporate filters do) unsubscribes with the GET; the
 * resident can subscribe again. Confirmation is per address, so it does not prove the resident owns the meter.
 */

/** Options of {@link subscriptionRoutes}. */
export interface SubscriptionRoutesOptions {
  readonly store: SqlStore;
  /** Secret of the unsubscribe links (VIGIE_UNSUBSCRIBE_SECRET, or `unsubscribeSecret(store)`). */
  readonly unsubscribeSecret: string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
}

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
  const subscriptions = createSubscriptions(options.store, { clock: options.clock ?? SYSTEM_CLOCK });
  const { logger } = options;
  const confirmTotal = options.metrics.counter(
    'alerting_confirmations_total',
    'Confirmation codes submitted on the web, by outcome',
    ['outcome'],
  );
  const unsubscribeTotal = options.metrics.counter(
    'alerting_unsubscribe_links_total',
    'Unsubscribe links followed: ok, invalid (bad token or no such subscription)',
    ['outcome'],
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

function page(body: string): string {
  return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>Vigie — désinscription</title><style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}</style></head><body>${body}</body></html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
