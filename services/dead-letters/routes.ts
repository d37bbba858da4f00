import { z } from 'zod';
import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { DeadLetterSource } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../http/server.ts';
import { boundedLabel, deadLetterMetrics } from './metrics.ts';
import { createReplayer, notFound, notReplayableReason, RESOLVED_CODE, replayKeyOf } from './replay.ts';
import {
  createDeadLetterStore,
  DEAD_LETTER_STATUSES,
  type DeadLetterRecord,
  type DeadLetterSummary,
  PREVIEW_CHARS,
} from './store.ts';

/**
 * The dead letters API: what every stage refused, for operators to read, then replay once the cause is fixed, or
 * discard. Everything needs an `operator` token (services/http/auth.ts) — reading too: the bytes of a refused SMS or
 * notification hold residents' numbers, addresses and words, which viewers do not see elsewhere either; who replayed
 * or discarded is the token's name. Replay semantics (bus sources only, the key, at least once): replay.ts.
 * ERR_DEADLETTER_NOT_REPLAYABLE and ERR_DEADLETTER_RESOLVED are 409 (services/http/server.ts `httpStatusOf`).
 */

const TAG = 'dead letters';
const IsoTimestamp = z.iso.datetime({ offset: true });
const ErrorCode = z
  .string()
  .regex(/^ERR_[A-Z0-9_]+$/, 'an error code, ERR_<AREA>_<WHAT>')
  .max(100);
const MAX_NOTE_CHARS = 500;
/** Most dead letters one bulk replay takes. */
export const MAX_BULK_REPLAY = 1000;

const Issue = z.object({ path: z.string(), message: z.string() });

/** A dead letter as listed: everything but its bytes, of which a preview. */
export const DeadLetterSchema = z
  .object({
    id: z.number().int(),
    receivedAt: IsoTimestamp.describe('When this service stored it'),
    errorCode: z.string().describe('Why it was refused (docs/errors.md)'),
    message: z.string(),
    issues: z.array(Issue).describe('The schema issues, one per field'),
    component: z.string().describe('The component that refused it (ingest, processors, alerting, a service…)'),
    stage: z.enum(['receiving', 'processing', 'sending']),
    source: DeadLetterSource.describe(
      'Where the bytes came from: an MQTT topic, a bus record, a file line, an HTTP route',
    ),
    deviceId: z.string().nullable(),
    attempts: z.number().int(),
    firstFailedAt: IsoTimestamp,
    status: z.enum(DEAD_LETTER_STATUSES).describe('open until an operator replays or discards it'),
    resolvedAt: IsoTimestamp.nullable(),
    resolvedBy: z.string().nullable().describe('The token name that replayed or discarded it last'),
    resolveNote: z.string().nullable().describe('The note given when discarding'),
    replayCount: z.number().int().describe('Times it was produced again'),
    replayable: z.boolean().describe('A bus source: POST …/replay produces it again; otherwise its sender resends it'),
    rawPreview: z
      .string()
      .describe(`The first ${PREVIEW_CHARS} characters of the original bytes read as UTF-8 (invalid bytes as U+FFFD)`),
    rawSizeBytes: z.number().int().describe('Size of the original bytes'),
  })
  .meta({ id: 'DeadLetter' });

const SameBytesSchema = z.object({
  id: z.number().int(),
  receivedAt: IsoTimestamp,
  errorCode: z.string(),
  status: z.enum(DEAD_LETTER_STATUSES),
});

const DeadLetterDetailSchema = DeadLetterSchema.extend({
  rawBase64: z.string().describe('The original bytes, whole'),
  rawSha256: z.string().describe('sha256 of the original bytes, hex'),
  replayKey: z
    .string()
    .nullable()
    .describe('The key a replay produces it with (null: not replayable); see services/dead-letters/README.md'),
  record: z
    .object({ partition: z.number().int(), offset: z.number().int(), key: z.string() })
    .describe('Where the dead letter sits on deadletter.v1'),
  sameBytes: z
    .array(SameBytesSchema)
    .describe(
      'Other dead letters of the same bytes from the same source (it failed again after a replay), newest first',
    ),
}).meta({ id: 'DeadLetterDetail' });

const OpenSummarySchema = z
  .object({
    open: z.number().int().describe('Open dead letters, all codes'),
    byErrorCode: z
      .array(z.object({ errorCode: z.string(), count: z.number().int() }))
      .describe('Open dead letters by error code, most first (the 100 commonest codes)'),
  })
  .meta({ id: 'DeadLetterOpenSummary' });

const DeadLetterPageSchema = z
  .object({
    items: z.array(DeadLetterSchema),
    total: z.number().int().describe('Dead letters matching the filters, all pages together'),
    nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page'),
    summary: OpenSummarySchema,
  })
  .meta({ id: 'DeadLetterPage' });

const BulkResultSchema = z
  .object({
    replayed: z.number().int().describe('Produced again and marked replayed'),
    notReplayable: z
      .number()
      .int()
      .describe('Open ones of this code that come from MQTT, HTTP or a file: not replayed'),
    remaining: z.number().int().describe('Open replayable ones of this code still left (beyond the limit): call again'),
  })
  .meta({ id: 'DeadLetterBulkReplay' });

const ListQuery = z.strictObject({
  status: z
    .enum([...DEAD_LETTER_STATUSES, 'all'])
    .default('open')
    .describe('Only dead letters in this status (default open; all: every status)'),
  errorCode: ErrorCode.optional().describe('Only this error code'),
  component: z.string().min(1).max(64).optional().describe('Only from this component'),
  deviceId: z.string().min(1).max(128).optional().describe('Only about this device'),
  since: IsoTimestamp.optional().describe('Received at or after (ISO 8601)'),
  until: IsoTimestamp.optional().describe('Received before (ISO 8601)'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Page size, 1–500'),
  cursor: z.string().max(200).optional().describe('nextCursor of the previous page'),
});

const IdParams = z.strictObject({
  id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).describe('The dead letter id'),
});

const ReplayQuery = z.strictObject({
  force: z
    .enum(['true', 'false'])
    .optional()
    .describe('true: replay a dead letter already replayed again (never a discarded one)'),
});

const DiscardBody = z.strictObject({
  note: z.string().trim().min(1).max(MAX_NOTE_CHARS).describe('Why it is not replayed (kept with the dead letter)'),
});

const BulkBody = z.strictObject({
  errorCode: ErrorCode.describe('Replay the open dead letters of this code, e.g. ERR_MOBILITY_ACCOUNT_UNKNOWN'),
  component: z.string().min(1).max(64).optional().describe('Only those from this component'),
  limit: z
    .number()
    .int()
    .min(1)
    .max(MAX_BULK_REPLAY)
    .default(MAX_BULK_REPLAY)
    .describe(`Most dead letters replayed, 1–${MAX_BULK_REPLAY} (default ${MAX_BULK_REPLAY}), oldest first`),
});

/** What the routes need. */
export interface DeadLetterRoutesDeps {
  readonly store: SqlStore;
  /** Where replays are produced. */
  readonly bus: Bus;
  readonly metrics: Metrics;
  /** Stamps operator actions (default the system clock). */
  readonly clock?: Clock | undefined;
}

/** The dead letters routes, as a fastify plugin for `startHttp({ plugins })` or `app.register`. */
export function deadLetterRoutes(deps: DeadLetterRoutesDeps): HttpPlugin {
  const deadLetters = createDeadLetterStore(deps.store, { clock: deps.clock ?? SYSTEM_CLOCK });
  const metrics = deadLetterMetrics(deps.metrics, deadLetters);
  const replayer = createReplayer({ deadLetters, bus: deps.bus, metrics });

  return async (app) => {
    app.get(
      '/api/dead-letters',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'List dead letters',
          description:
            'Dead letters matching the filters (default: the open ones), newest received first, paged by cursor, ' +
            'each with a text preview of its bytes; and the open ones counted by error code. Operator.',
          security: BEARER_SECURITY,
          querystring: ListQuery,
          response: { 200: DeadLetterPageSchema, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const [page, summary] = await Promise.all([deadLetters.list(request.query), deadLetters.openSummary()]);
        return { items: page.items.map(asItem), total: page.total, nextCursor: page.nextCursor, summary };
      },
    );

    app.get(
      '/api/dead-letters/:id',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'One dead letter with its bytes',
          description:
            'The dead letter, its original bytes (base64), the key a replay would use, and the other dead letters of ' +
            'the same bytes (it failed again after a replay). Operator.',
          security: BEARER_SECURITY,
          params: IdParams,
          response: { 200: DeadLetterDetailSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const record = await deadLetters.get(request.params.id);
        if (!record) throw notFound(request.params.id);
        return { ...asDetail(record), sameBytes: await deadLetters.sameBytes(record) };
      },
    );

    app.post(
      '/api/dead-letters/:id/replay',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Replay a dead letter',
          description:
            'Produces the original bytes again, unchanged, to the bus topic they came from (every consumer group of ' +
            'that topic reads them again), then marks the dead letter replayed by the token’s name. If it fails ' +
            'again, its stage dead-letters it anew: a new dead letter. Only bus sources: an MQTT, HTTP or file ' +
            'source is 409 ERR_DEADLETTER_NOT_REPLAYABLE (its message says how to resend). Replayed or discarded: ' +
            '409 ERR_DEADLETTER_RESOLVED (?force=true replays a replayed one again). Operator.',
          security: BEARER_SECURITY,
          params: IdParams,
          querystring: ReplayQuery,
          response: { 200: DeadLetterSchema, ...errorResponses(400, 401, 403, 404, 409, 503) },
        },
      },
      async (request) =>
        asItem(
          await replayer.replayOne(request.params.id, operatorName(request.operator), {
            force: request.query.force === 'true',
          }),
        ),
    );

    app.post(
      '/api/dead-letters/:id/discard',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Discard a dead letter',
          description:
            'Marks an open dead letter discarded (not to be replayed), with who and why. Replayed or discarded ' +
            'already: 409 ERR_DEADLETTER_RESOLVED. Operator.',
          security: BEARER_SECURITY,
          params: IdParams,
          body: DiscardBody,
          response: { 200: DeadLetterSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const discarded = await deadLetters.discard(id, operatorName(request.operator), request.body.note);
        if (discarded) {
          metrics.discarded.inc({ component: boundedLabel(discarded.component) });
          return asItem(discarded);
        }
        const record = await deadLetters.get(id);
        if (!record) throw notFound(id);
        throw new AppError(
          RESOLVED_CODE,
          `discard dead letter ${id}: ${record.status} by ${record.resolvedBy} at ${record.resolvedAt} (open dead letters only)`,
        );
      },
    );

    app.post(
      '/api/dead-letters/replay',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Replay the open dead letters of an error code',
          description:
            'Once the cause is fixed (e.g. the account created): replays up to `limit` open dead letters of ' +
            '`errorCode` (and `component`) that came from the bus, oldest first, as POST /api/dead-letters/{id}/' +
            'replay does one; counts those left aside (MQTT, HTTP or file sources) and those still open beyond the ' +
            'limit. Operator.',
          security: BEARER_SECURITY,
          body: BulkBody,
          response: { 200: BulkResultSchema, ...errorResponses(400, 401, 403, 503) },
        },
      },
      async (request) =>
        replayer.replayMatching(
          { errorCode: request.body.errorCode, component: request.body.component, limit: request.body.limit },
          operatorName(request.operator),
        ),
    );
  };
}

function asItem(record: DeadLetterSummary): z.input<typeof DeadLetterSchema> {
  return { ...record, replayable: notReplayableReason(record) === undefined };
}

function asDetail(record: DeadLetterRecord): Omit<z.input<typeof DeadLetterDetailSchema>, 'sameBytes'> {
  const { raw, rawSha256, recordPartition, recordOffset, recordBusKey, ...summary } = record;
  const item = asItem(summary);
  return {
    ...item,
    rawBase64: raw.toString('base64'),
    rawSha256,
    replayKey: item.replayable && record.source.type === 'bus' ? replayKeyOf(record.source.topic, record) : null,
    record: { partition: recordPartition, offset: recordOffset, key: recordBusKey },
  };
}

function operatorName(operator: { name: string } | null): string {
  // authorize() ran first: a null here is a route declared without it, a bug.
  if (!operator) throw new Error('dead letter routes: a route acting on dead letters without authorize()');
  return operator.name;
}
