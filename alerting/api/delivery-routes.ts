import { z } from 'zod';
import { maskRecipient } from '../../core/logging.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../../services/http/server.ts';

/**
 * The delivery log as operators read it (issue 6): every message Vigie queued or sent — alerts, escalations,
 * grouped messages, digests, summaries, codes, notices — with its idempotency key, purpose, channel, status, attempts,
 * times and the provider's status history (Twilio callbacks). Recipients are masked, in the key too: the log is
 * for following a message, not for reading residents' numbers. Viewer token.
 */

const TAG = 'deliveries';
const STATUSES = ['pending', 'sent', 'rejected', 'failed', 'scheduled', 'suppressed', 'cancelled', 'grouped'] as const;
const PURPOSES = ['alert', 'escalation', 'group', 'digest', 'summary', 'confirmation', 'report', 'notice'] as const;
const IsoTimestamp = z.iso.datetime({ offset: true });

const DeliverySchema = z
  .object({
    key: z.string().describe('Idempotency key, recipient masked'),
    about: z.string().describe('What it concerns: an alert id, a digest date, a report…'),
    purpose: z.enum(PURPOSES),
    channel: z.enum(['sms', 'email']),
    recipient: z.string().describe('Masked'),
    status: z.enum(STATUSES),
    attempts: z.number().int(),
    notBefore: IsoTimestamp.nullable().describe('When it may go out (held messages)'),
    lastError: z.string().nullable().describe('Why it failed, was held, suppressed or grouped (recipients masked)'),
    providerMessageId: z.string().nullable(),
    providerStatuses: z
      .array(z.object({ status: z.string(), errorCode: z.string().nullable(), at: IsoTimestamp }))
      .describe("The provider's delivery statuses, in the order received"),
    createdAt: IsoTimestamp,
    updatedAt: IsoTimestamp,
  })
  .meta({ id: 'Delivery' });

const ListQuery = z.strictObject({
  about: z.string().max(160).optional().describe('Only the messages about this alert id (or digest, report…)'),
  status: z.enum(STATUSES).optional(),
  purpose: z.enum(PURPOSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

/** The delivery log's read route: `GET /api/deliveries`. */
export function deliveryRoutes(deps: { readonly store: SqlStore }): HttpPlugin {
  const { store } = deps;
  return async (app) => {
    app.get(
      '/api/deliveries',
      {
        onRequest: app.authorize('viewer'),
        schema: {
          tags: [TAG],
          summary: 'The delivery log',
          description: 'Messages queued or sent, newest first, with their status history; recipients masked. Viewer.',
          security: BEARER_SECURITY,
          querystring: ListQuery,
          response: { 200: z.object({ deliveries: z.array(DeliverySchema) }), ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const q = request.query;
        const res = await store.query<{
          idempotency_key: string;
          alert_id: string;
          purpose: (typeof PURPOSES)[number];
          channel: 'sms' | 'email';
          recipient: string;
          status: (typeof STATUSES)[number];
          attempts: number;
          not_before: Date | null;
          last_error: string | null;
          provider_message_id: string | null;
          created_at: Date;
          updated_at: Date;
        }>(
          `SELECT idempotency_key, alert_id, purpose, channel, recipient, status, attempts, not_before, last_error,
                  provider_message_id, created_at, updated_at
           FROM alerting_deliveries
           WHERE ($1::text IS NULL OR alert_id = $1) AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR purpose = $3)
           ORDER BY created_at DESC, idempotency_key DESC LIMIT $4`,
          [q.about ?? null, q.status ?? null, q.purpose ?? null, q.limit],
        );
        const ids = res.rows.map((r) => r.provider_message_id).filter((id): id is string => id !== null);
        const statuses = await store.query<{
          provider_message_id: string;
          status: string;
          error_code: string | null;
          received_at: Date;
        }>(
          `SELECT provider_message_id, status, error_code, received_at FROM alerting_delivery_status
           WHERE provider_message_id = ANY(string_to_array($1, ',')) ORDER BY id`,
          [ids.join(',')],
        );
        const byId = new Map<string, Array<{ status: string; errorCode: string | null; at: string }>>();
        for (const s of statuses.rows) {
          const list = byId.get(s.provider_message_id) ?? [];
          list.push({ status: s.status, errorCode: s.error_code, at: new Date(s.received_at).toISOString() });
          byId.set(s.provider_message_id, list);
        }
        return {
          deliveries: res.rows.map((r) => {
            const masked = maskRecipient(r.recipient);
            return {
              key: r.idempotency_key.split(r.recipient).join(masked),
              about: r.alert_id,
              purpose: r.purpose,
              channel: r.channel,
              recipient: masked,
              status: r.status,
              attempts: Number(r.attempts),
              notBefore: r.not_before ? new Date(r.not_before).toISOString() : null,
              lastError: r.last_error === null ? null : r.last_error.split(r.recipient).join(masked),
              providerMessageId: r.provider_message_id,
              providerStatuses: r.provider_message_id ? (byId.get(r.provider_message_id) ?? []) : [],
              createdAt: new Date(r.created_at).toISOString(),
              updatedAt: new Date(r.updated_at).toISOString(),
            };
          }),
        };
      },
    );
  };
}
