import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { AlertType, DeviceId, Kind, Severity, TransitionState } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../../services/http/server.ts';
import { ALERT_EVENT_TYPES, createLifecycleStore, LIFECYCLE_STATES, MAX_NOTE_CHARS } from '../lifecycle-store.ts';

/**
 * The alert lifecycle API (issue 6): list, read, acknowledge, resolve and comment alerts. Reading needs a `viewer`
 * token, acting an `operator` token (services/http/auth.ts); what is recorded as who is the token's name.
 * Acknowledging an acknowledged alert and resolving a resolved one answer 200 with the alert unchanged (who did it
 * first is kept, no history row): retries are harmless. Acknowledging a resolved alert is 409 ERR_ALERT_CONFLICT.
 */

const TAG = 'alerts';

const IsoTimestamp = z.iso.datetime({ offset: true });

/** An alert as the API shows it. */
export const AlertSchema = z
  .object({
    alertId: z.string().describe('<deviceId>:<type>:<episode>'),
    deviceId: z.string(),
    kind: Kind,
    type: AlertType,
    state: z
      .enum(LIFECYCLE_STATES)
      .describe('open, acknowledged (an operator took charge) or resolved (by the detector or by hand)'),
    lastTransition: TransitionState.describe(
      "The detector's last transition: open, update or resolved (the condition may still be there after a resolve by hand)",
    ),
    severity: Severity,
    summary: z.string(),
    details: z.record(z.string(), z.unknown()).describe("The detector's evidence (numbers with units in their keys)"),
    openedAt: IsoTimestamp.describe('Event time of the opening transition'),
    updatedAt: IsoTimestamp.describe('Event time of the latest transition'),
    acknowledgedAt: IsoTimestamp.nullable(),
    acknowledgedBy: z.string().nullable().describe('Name of the token that acknowledged it'),
    resolvedAt: IsoTimestamp.nullable(),
    resolvedBy: z.string().nullable().describe('Name of the token that resolved it by hand; null: the detector'),
  })
  .meta({ id: 'Alert' });

/** One event of an alert's history. */
export const AlertEventSchema = z
  .object({
    id: z.number().int().describe('Order of recording'),
    type: z.enum(ALERT_EVENT_TYPES),
    at: IsoTimestamp.describe('When: the transition’s event time, or the server’s clock for operator actions'),
    by: z.string().nullable().describe('The operator (token name); null for the detector'),
    text: z.string().nullable().describe('The comment or note; the summary for the detector’s transitions'),
  })
  .meta({ id: 'AlertEvent' });

const AlertWithHistorySchema = AlertSchema.extend({
  history: z.array(AlertEventSchema).describe('Every event, in the order recorded'),
}).meta({ id: 'AlertWithHistory' });

const AlertPageSchema = z
  .object({
    alerts: z.array(AlertSchema),
    total: z.number().int().describe('Alerts matching the filters, all pages together'),
    nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page'),
  })
  .meta({ id: 'AlertPage' });

const ListQuery = z.strictObject({
  state: z.enum(LIFECYCLE_STATES).optional().describe('Only alerts in this lifecycle state'),
  type: AlertType.optional().describe('Only this alert type'),
  kind: Kind.optional().describe('Only this device kind'),
  deviceId: DeviceId.optional().describe('Only this device'),
  since: IsoTimestamp.optional().describe('Opened at or after (ISO 8601)'),
  until: IsoTimestamp.optional().describe('Opened before (ISO 8601)'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Page size, 1–500'),
  cursor: z.string().max(500).optional().describe('nextCursor of the previous page'),
});

const AlertParams = z.strictObject({
  alertId: z.string().min(1).max(160).describe('The alert id, <deviceId>:<type>:<episode>'),
});

const Note = z.string().trim().min(1).max(MAX_NOTE_CHARS);

const ActionBody = z
  .strictObject({ note: Note.optional().describe('Recorded with the event in the history') })
  .nullish()
  .describe('Optional: a POST with no body is fine (fastify gives null)');

const CommentBody = z.strictObject({ text: Note.describe('The comment') });

/** What the routes need. */
export interface AlertRoutesDeps {
  readonly store: SqlStore;
  /** Stamps operator actions (default the system clock). */
  readonly clock?: Clock;
}

/** The alert lifecycle routes, as a fastify plugin for `startHttp({ plugins })` or `app.register`. */
export function alertRoutes(deps: AlertRoutesDeps): HttpPlugin {
  const lifecycle = createLifecycleStore(deps.store, deps.clock ? { clock: deps.clock } : {});
  return async (app) => {
    app.get(
      '/api/alerts',
      {
        onRequest: app.authorize('viewer'),
        schema: {
          tags: [TAG],
          summary: 'List alerts',
          description:
            'Alerts matching the filters, newest opened first, paged by cursor (stable while alerts arrive). Viewer.',
          security: BEARER_SECURITY,
          querystring: ListQuery,
          response: { 200: AlertPageSchema, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => lifecycle.list(request.query),
    );

    app.get(
      '/api/alerts/:alertId',
      {
        onRequest: app.authorize('viewer'),
        schema: {
          tags: [TAG],
          summary: 'One alert with its history',
          description: 'The alert and every event of its history, in the order recorded. Viewer.',
          security: BEARER_SECURITY,
          params: AlertParams,
          response: { 200: AlertWithHistorySchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const alert = await lifecycle.get(request.params.alertId);
        if (!alert) {
          throw new AppError(
            'ERR_ALERT_NOT_FOUND',
            `alert: ${JSON.stringify(request.params.alertId)} (no alert has this id)`,
          );
        }
        return alert;
      },
    );

    app.post(
      '/api/alerts/:alertId/acknowledge',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Acknowledge an alert',
          description:
            'An operator takes charge: records who and when (and the note). Already acknowledged: 200, unchanged. ' +
            'Resolved: 409 ERR_ALERT_CONFLICT. Operator.',
          security: BEARER_SECURITY,
          params: AlertParams,
          body: ActionBody,
          response: { 200: AlertSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) =>
        lifecycle.acknowledge(request.params.alertId, operatorName(request.operator), request.body?.note),
    );

    app.post(
      '/api/alerts/:alertId/resolve',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Resolve an alert by hand',
          description:
            'Records who and when (and the note); the detector’s later transitions still update the alert. ' +
            'Already resolved: 200, unchanged. Operator.',
          security: BEARER_SECURITY,
          params: AlertParams,
          body: ActionBody,
          response: { 200: AlertSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => lifecycle.resolve(request.params.alertId, operatorName(request.operator), request.body?.note),
    );

    app.post(
      '/api/alerts/:alertId/comments',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Comment an alert',
          description: 'Adds a comment to the history (resolved alerts too). Operator.',
          security: BEARER_SECURITY,
          params: AlertParams,
          body: CommentBody,
          response: { 201: AlertEventSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request, reply) => {
        const event = await lifecycle.comment(
          request.params.alertId,
          operatorName(request.operator),
          request.body.text,
        );
        return reply.code(201).send(event);
      },
    );
  };
}

function operatorName(operator: { name: string } | null): string {
  // authorize() ran first: a null here is a route declared without it, a bug.
  if (!operator) throw new Error('alert routes: a route acting on alerts without authorize()');
  return operator.name;
}
