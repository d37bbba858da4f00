import { z } from 'zod';
import type { Clock } from '../../core/clock.ts';
import { AlertType, Kind } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../../services/http/server.ts';
import { createSilences, SILENCE_SCOPES, SILENCE_STATES, SilenceInput } from '../silences.ts';

/**
 * The silences API (issue 6): operators mute alerts by device, district or kind (optionally one alert type) for at
 * most 30 days, as a `silence` (operators not notified, no escalation; residents still are) or a `maintenance`
 * window (nobody notified). Listing and reading need a `viewer` token, creating and ending an `operator` token
 * (services/http/auth.ts); the token's name is recorded as who created or ended it. Ending is `DELETE`: the silence
 * stays in history (`endedAt`, `endedBy`); ending one already ended is 409 ERR_SILENCE_CONFLICT.
 */

const TAG = 'silences';

const IsoTimestamp = z.iso.datetime({ offset: true });

/** A silence as the API shows it. */
export const SilenceSchema = z
  .object({
    id: z.number().int(),
    deviceId: z.string().nullable().describe('Only alerts of this device; null: any'),
    district: z.string().nullable().describe('Only alerts of devices in this district; null: any'),
    kind: Kind.nullable().describe('Only alerts of devices of this kind; null: any'),
    type: AlertType.nullable().describe('Only this alert type; null: any'),
    scope: z
      .enum(SILENCE_SCOPES)
      .describe('silence: operators not notified, nothing escalates, residents still are; maintenance: nobody'),
    startsAt: IsoTimestamp,
    endsAt: IsoTimestamp.describe('Planned end (excluded); endedAt is earlier when it was ended early'),
    reason: z.string(),
    createdBy: z.string().describe('Name of the token that created it'),
    createdAt: IsoTimestamp,
    endedAt: IsoTimestamp.nullable().describe('When it was ended early; null otherwise'),
    endedBy: z.string().nullable().describe('Name of the token that ended it early'),
    state: z.enum(SILENCE_STATES).describe('At the time of the request: active, upcoming or ended'),
  })
  .meta({ id: 'Silence' });

const SilenceListSchema = z.object({ silences: z.array(SilenceSchema) }).meta({ id: 'SilenceList' });

const ListQuery = z.strictObject({
  state: z
    .enum([...SILENCE_STATES, 'all'])
    .default('active')
    .describe('active (in force now, the default), upcoming, ended or all'),
  limit: z.coerce.number().int().min(1).max(500).default(100).describe('Most silences returned, 1–500'),
});

const SilenceParams = z.strictObject({
  id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('The silence id'),
});

/** What the routes need. */
export interface SilenceRoutesDeps {
  readonly store: SqlStore;
  /** Stamps creation and ending, and says which silences are active (default the system clock). */
  readonly clock?: Clock;
}

/** The silences routes, as a fastify plugin for `startHttp({ plugins })` or `app.register`. */
export function silenceRoutes(deps: SilenceRoutesDeps): HttpPlugin {
  const silences = createSilences(deps.store, deps.clock ? { clock: deps.clock } : {});
  return async (app) => {
    app.post(
      '/api/silences',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Create a silence or a maintenance window',
          description:
            'Mutes the alerts matching every matcher given (at least one of deviceId, district, kind; type optional) ' +
            'over [startsAt, endsAt), endsAt at most 30 days after startsAt (default now). Operator.',
          security: BEARER_SECURITY,
          body: SilenceInput,
          response: { 201: SilenceSchema, ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const silence = await silences.create(request.body, operatorName(request.operator));
        return reply.code(201).send(silence);
      },
    );

    app.get(
      '/api/silences',
      {
        onRequest: app.authorize('viewer'),
        schema: {
          tags: [TAG],
          summary: 'List silences',
          description: 'Silences in a state (default active), newest created first. Viewer.',
          security: BEARER_SECURITY,
          querystring: ListQuery,
          response: { 200: SilenceListSchema, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({ silences: await silences.list(request.query) }),
    );

    app.get(
      '/api/silences/:id',
      {
        onRequest: app.authorize('viewer'),
        schema: {
          tags: [TAG],
          summary: 'One silence',
          description: 'The silence, ended ones included. Viewer.',
          security: BEARER_SECURITY,
          params: SilenceParams,
          response: { 200: SilenceSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const silence = await silences.get(request.params.id);
        if (!silence) {
          throw new AppError('ERR_SILENCE_NOT_FOUND', `silence: ${request.params.id} (no silence has this id)`);
        }
        return silence;
      },
    );

    app.delete(
      '/api/silences/:id',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'End a silence now',
          description:
            'Ends an active or upcoming silence now; it stays in history (endedAt, endedBy). ' +
            'Already ended: 409 ERR_SILENCE_CONFLICT. Operator.',
          security: BEARER_SECURITY,
          params: SilenceParams,
          response: { 200: SilenceSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => silences.end(request.params.id, operatorName(request.operator)),
    );
  };
}

function operatorName(operator: { name: string } | null): string {
  // authorize() ran first: a null here is a route declared without it, a bug.
  if (!operator) throw new Error('silence routes: a route acting on silences without authorize()');
  return operator.name;
}
