import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import twilio from 'twilio';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { InboundSms as InboundSmsRecord } from '../../core/contracts/index.ts';
import { type Logger, maskRecipient, rateLimited } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { PhoneNumber } from '../subscriptions.ts';
import { useFormParser } from './form.ts';
import { createInboundSmsHandler } from './inbound-sms.ts';
import { isValidTwilioSignature } from './signature.ts';

/**
 * Twilio's webhooks, as a fastify plugin the HTTP server registers (issue 6):
 * - `POST /webhooks/twilio/sms` — an SMS from a resident (STOP, START, a confirmation code, anything else),
 *   answered with TwiML (https://www.twilio.com/docs/messaging/twiml);
 * - `POST /webhooks/twilio/status` — a delivery status callback (MessageSid, MessageStatus, ErrorCode), appended to
 *   `alerting_delivery_status` and kept as the latest status of the delivery row with that provider id.
 * Both are form-encoded, as Twilio sends them, and checked against `X-Twilio-Signature` (signature.ts) before
 * anything else: a missing or wrong signature gets 403 and changes nothing. The plugin is encapsulated: it parses
 * form bodies itself (whatever the parent registered) and compiles its zod schemas itself.
 */

/** Largest webhook body read, in bytes (an inbound SMS is at most 1,600 characters plus Twilio's fields). */
const MAX_BODY_BYTES = 64 * 1024;

/** Twilio's message statuses, in the order a message goes through them (DOMAIN.md "SMS"). */
const STATUS_RANK: Readonly<Record<string, number>> = {
  accepted: 0,
  scheduled: 1,
  queued: 2,
  sending: 3,
  sent: 4,
  receiving: 4,
  received: 5,
  delivered: 5,
  undelivered: 5,
  failed: 5,
  canceled: 5,
  partially_delivered: 5,
  read: 6,
};

/** Options of {@link twilioWebhooks}. */
export interface TwilioWebhooksOptions {
  readonly store: SqlStore;
  /** The Twilio auth token (TWILIO_AUTH_TOKEN) that signs the webhooks. */
  readonly authToken: string;
  /** Public base URL Twilio calls (VIGIE_PUBLIC_URL), e.g. `https://vigie.example.org`: what Twilio signed. */
  readonly publicUrl: string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  /** Phone number residents may call, in the help reply (alerting.utilityContact). */
  readonly utilityContact?: string | undefined;
  /**
   * Hands the services what is not STOP, START or a code — a problem report, a parking command, an MMS — as an
   * InboundSms (publish it on `inbound-sms.v1`); they answer through notifications. Absent: the help reply.
   */
  readonly forward?: ((sms: InboundSmsRecord) => Promise<void>) | undefined;
}

/** Twilio's MMS fields (`NumMedia`, `MediaUrl<N>`, `MediaContentType<N>`) as the contract's media list. */
function mediaOf(body: Record<string, unknown>): InboundSmsRecord['media'] {
  const count = Math.min(Number(body.NumMedia ?? 0) || 0, 10);
  const media: Array<InboundSmsRecord['media'][number]> = [];
  for (let i = 0; i < count; i++) {
    const url = body[`MediaUrl${i}`];
    const contentType = body[`MediaContentType${i}`];
    if (typeof url === 'string' && /^https?:\/\//.test(url)) {
      media.push({ url, contentType: typeof contentType === 'string' ? contentType.slice(0, 100) : '' });
    }
  }
  return media;
}

const InboundBody = z.looseObject({
  From: z.string().min(1).max(64),
  Body: z.string().max(10_000).default(''),
  MessageSid: z.string().max(64).optional(),
  To: z.string().max(64).optional(),
});

const StatusBody = z.looseObject({
  MessageSid: z.string().regex(/^(SM|MM)[0-9a-fA-F]{32}$/, 'a Twilio message SID: SM or MM then 32 hex digits'),
  MessageStatus: z.string().regex(/^[a-z_]{1,32}$/, "a Twilio message status, e.g. 'delivered'"),
  ErrorCode: z
    .string()
    .regex(/^\d{0,10}$/)
    .optional(),
});

/** Twilio's webhooks (inbound SMS, delivery status), signature-checked; register on the shared HTTP server. */
export const twilioWebhooks: FastifyPluginAsync<TwilioWebhooksOptions> = async (parent, options) => {
  const app = parent.withTypeProvider<ZodTypeProvider>();
  const { store, metrics, logger } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  useFormParser(parent, MAX_BODY_BYTES);

  const requestsTotal = metrics.counter(
    'alerting_webhook_requests_total',
    'Twilio webhook requests: ok, forbidden (bad or missing signature, nothing changed), invalid (signed but malformed)',
    ['route', 'outcome'],
  );
  const inboundTotal = metrics.counter(
    'alerting_inbound_sms_total',
    'SMS received from residents, by what they asked',
    ['intent'],
  );
  const statusTotal = metrics.counter('alerting_delivery_status_total', 'Delivery status callbacks received', [
    'status',
  ]);
  const logForbidden = rateLimited(10_000);
  const handleSms = createInboundSmsHandler({ store, clock, utilityContact: options.utilityContact });

  /** Refuses (403) any request without a valid signature, before its body is validated or used. */
  const verify = (route: 'sms' | 'status') => async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers['x-twilio-signature'];
    const body = request.body;
    const params =
      typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, string>) : {};
    const ok = isValidTwilioSignature(options.authToken, options.publicUrl, {
      signature: typeof header === 'string' ? header : undefined,
      pathAndQuery: request.url,
      params,
    });
    if (ok) return;
    requestsTotal.inc({ route, outcome: 'forbidden' });
    logForbidden(() =>
      logger.warn(
        { route, ip: request.ip, signed: typeof header === 'string' },
        'Twilio webhook refused: missing or wrong X-Twilio-Signature (check VIGIE_PUBLIC_URL and TWILIO_AUTH_TOKEN)',
      ),
    );
    return reply.code(403).send({
      error: { code: 'ERR_WEBHOOK_SIGNATURE', message: 'X-Twilio-Signature: missing or wrong (a Twilio signature)' },
    });
  };

  const invalid = (route: 'sms' | 'status') => (request: FastifyRequest) => {
    requestsTotal.inc({ route, outcome: 'invalid' });
    logger.warn({ route, ip: request.ip }, 'Twilio webhook signed but malformed: refused with 400');
  };

  app.post(
    '/webhooks/twilio/sms',
    {
      schema: { body: InboundBody, hide: true },
      preValidation: verify('sms'),
      attachValidation: true,
    },
    async (request, reply) => {
      if (request.validationError) {
        invalid('sms')(request);
        return reply
          .code(400)
          .send({ error: { code: 'ERR_WEBHOOK_INVALID', message: request.validationError.message } });
      }
      const from = PhoneNumber.safeParse(request.body.From);
      const twiml = new twilio.twiml.MessagingResponse();
      if (from.success) {
        const outcome = await handleSms({
          from: from.data,
          body: request.body.Body,
          messageSid: request.body.MessageSid,
        });
        if (outcome.intent === 'other' && options.forward) {
          // The services act on it and answer through notifications: no help reply here.
          await options.forward({
            messageSid: request.body.MessageSid ?? `local-${randomUUID()}`,
            from: from.data,
            ...(typeof request.body.To === 'string' ? { to: request.body.To.slice(0, 32) } : {}),
            body: request.body.Body.slice(0, 1600),
            media: mediaOf(request.body),
            receivedAt: new Date(clock.nowMs()).toISOString(),
          });
          inboundTotal.inc({ intent: 'forwarded' });
        } else {
          inboundTotal.inc({ intent: outcome.intent });
          if (outcome.intent === 'stop' || outcome.intent === 'start') {
            logger.info({ from: maskRecipient(from.data), intent: outcome.intent }, 'resident SMS consent changed');
          }
          if (outcome.reply) twiml.message(outcome.reply);
        }
      } else {
        // A short code or an alphanumeric sender: nobody to subscribe or stop, nothing to answer.
        inboundTotal.inc({ intent: 'ignored' });
      }
      requestsTotal.inc({ route: 'sms', outcome: 'ok' });
      return reply.type('text/xml; charset=utf-8').send(twiml.toString());
    },
  );

  app.post(
    '/webhooks/twilio/status',
    {
      schema: { body: StatusBody, hide: true },
      preValidation: verify('status'),
      attachValidation: true,
    },
    async (request, reply) => {
      if (request.validationError) {
        invalid('status')(request);
        return reply
          .code(400)
          .send({ error: { code: 'ERR_WEBHOOK_INVALID', message: request.validationError.message } });
      }
      const { MessageSid: sid, MessageStatus: status, ErrorCode: errorCode } = request.body;
      await recordDeliveryStatus(store, { sid, status, errorCode: errorCode || undefined, atMs: clock.nowMs() });
      statusTotal.inc({ status: status in STATUS_RANK ? status : 'other' });
      requestsTotal.inc({ route: 'status', outcome: 'ok' });
      return reply.code(204).send();
    },
  );
};

/**
 * Appends a status to the message's history (a status repeated by a retried callback is kept once) and keeps the
 * latest on its delivery row. Callbacks can arrive out of order (`sent` after `delivered`): the row's status only
 * moves forward in {@link STATUS_RANK}.
 */
export async function recordDeliveryStatus(
  store: SqlStore,
  s: { sid: string; status: string; errorCode?: string | undefined; atMs: number },
): Promise<void> {
  await store.transaction(async (tx) => {
    const at = new Date(s.atMs);
    await tx.query(
      `INSERT INTO alerting_delivery_status (provider_message_id, status, error_code, received_at)
       VALUES ($1, $2, $3, $4) ON CONFLICT (provider_message_id, status) DO NOTHING`,
      [s.sid, s.status, s.errorCode ?? null, at],
    );
    const rows = await tx.query<{ idempotency_key: string; provider_status: string | null }>(
      'SELECT idempotency_key, provider_status FROM alerting_deliveries WHERE provider_message_id = $1 FOR UPDATE',
      [s.sid],
    );
    const rank = STATUS_RANK[s.status] ?? -1;
    for (const row of rows.rows) {
      const current = row.provider_status === null ? -2 : (STATUS_RANK[row.provider_status] ?? -1);
      if (rank < current) continue;
      await tx.query(
        'UPDATE alerting_deliveries SET provider_status = $2, provider_status_at = $3 WHERE idempotency_key = $1',
        [row.idempotency_key, s.status, at],
      );
    }
  });
}

/** The status history of a provider message, oldest first. */
export async function deliveryStatusHistory(
  store: SqlStore,
  providerMessageId: string,
): Promise<Array<{ status: string; errorCode: string | undefined; receivedAt: string }>> {
  const res = await store.query<{ status: string; error_code: string | null; received_at: Date | string }>(
    `SELECT status, error_code, received_at FROM alerting_delivery_status WHERE provider_message_id = $1 ORDER BY id`,
    [providerMessageId],
  );
  return res.rows.map((r) => ({
    status: r.status,
    errorCode: r.error_code ?? undefined,
    receivedAt: new Date(r.received_at).toISOString(),
  }));
}
