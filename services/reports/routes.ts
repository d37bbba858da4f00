import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import multipart from '@fastify/multipart';
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { z } from 'zod';
import type { Bus } from '../../core/bus/port.ts';
import type { Clock } from '../../core/clock.ts';
import { SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { toE164 } from '../../core/phone.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { roleAllows } from '../../services/http/auth.ts';
import { BEARER_SECURITY, errorBody, errorResponses, type HttpPlugin } from '../../services/http/server.ts';
import { useRateLimits } from '../http/rate-limit.ts';
import { type ReportsConfig, reportsConfigSchema } from './config.ts';
import { createReportNotifier, type ReportNotifier } from './notifier.ts';
import { type CleanPhoto, cleanPhoto, photoErrorStatus } from './photo.ts';
import {
  CATEGORIES,
  createReportStore,
  MAX_ADDRESS_CHARS,
  MAX_ASSIGNEE_CHARS,
  MAX_NOTE_CHARS,
  MAX_TEXT_CHARS,
  REPORT_STATUSES,
  type Report,
  type ReportAction,
  type ReportStore,
  type ReportWithHistory,
  SOURCES,
} from './store.ts';

/**
 * The reports API (issue 7). Public: `POST /api/reports` (the web form: multipart with an optional `photo`, or JSON
 * / a form without one; rate-limited per IP) and `GET /api/reports/:reference/status?check=` (the reporter follows
 * their report with its reference and the last 4 digits of their phone, or their email). Operators (bearer
 * tokens, services/http/auth.ts): reading needs `viewer`, acting `operator`; what is recorded as who is the token's
 * name. A report's photo is served to a viewer token, or to anyone holding a signed link (the `photoUrl` of a
 * report, valid `photoLinkTtlSeconds`), so an `<img>` tag can show it.
 *
 * Rate limits are counted in the operational store, by every instance together (services/http/rate-limit-store.ts).
 * Behind a reverse proxy the server needs `VIGIE_HTTP_TRUST_PROXY` for `request.ip` to be the client's.
 */

const TAG = 'reports';
const IsoTimestamp = z.iso.datetime({ offset: true });

const ContactSchema = z
  .object({ channel: z.enum(['sms', 'email']), address: z.string().describe('Masked for viewer tokens') })
  .nullable();

/** A report as the API shows it. */
export const ReportSchema = z
  .object({
    id: z.number().int(),
    reference: z.string().describe('Public reference, R-<year>-<number>'),
    category: z.enum(CATEGORIES),
    text: z.string(),
    latitude: z.number().nullable().describe('WGS 84 degrees'),
    longitude: z.number().nullable().describe('WGS 84 degrees'),
    address: z.string().nullable(),
    locationSource: z
      .enum(['given', 'photo', 'text', 'reply', 'device'])
      .nullable()
      .describe('given by the reporter, the photo’s GPS, an address in the SMS, the reply to our question, the lamp'),
    contact: ContactSchema,
    locale: z.enum(['fr', 'en']),
    source: z.enum(SOURCES),
    deviceId: z.string().nullable().describe('The lamp, for reports opened by a lamp-out alert'),
    status: z.enum(REPORT_STATUSES),
    assignee: z.string().nullable().describe('Team or person it is assigned to'),
    note: z.string().nullable().describe('Resolution or rejection note (shown to the reporter)'),
    hasPhoto: z.boolean(),
    photoProblem: z.string().nullable().describe('Why a photo sent with it was not kept (error code)'),
    createdAt: IsoTimestamp,
    updatedAt: IsoTimestamp,
  })
  .meta({ id: 'Report' });

/** One status change. */
export const ReportEventSchema = z
  .object({
    id: z.number().int(),
    status: z.enum(REPORT_STATUSES),
    at: IsoTimestamp,
    by: z.string().describe('Token name, or citizen, sms, alerting'),
    assignee: z.string().nullable(),
    note: z.string().nullable(),
  })
  .meta({ id: 'ReportEvent' });

const ReportDetailSchema = ReportSchema.extend({
  history: z.array(ReportEventSchema),
  photoUrl: z.string().nullable().describe('A signed link to the photo (no token needed until it expires)'),
}).meta({ id: 'ReportDetail' });

const ReportPageSchema = z
  .object({
    reports: z.array(ReportSchema),
    total: z.number().int(),
    nextCursor: z.string().nullable().describe('Pass as cursor for the next page; null on the last page'),
  })
  .meta({ id: 'ReportPage' });

const Created = z
  .object({
    reference: z.string(),
    status: z.literal('received'),
    category: z.enum(CATEGORIES),
    locationSource: z.enum(['given', 'photo']),
    createdAt: IsoTimestamp,
  })
  .meta({ id: 'ReportCreated' });

const PublicStatus = z
  .object({
    reference: z.string(),
    category: z.enum(CATEGORIES),
    status: z.enum(REPORT_STATUSES),
    note: z.string().nullable(),
    createdAt: IsoTimestamp,
    updatedAt: IsoTimestamp,
    history: z.array(z.object({ status: z.enum(REPORT_STATUSES), at: IsoTimestamp })),
  })
  .meta({ id: 'ReportPublicStatus' });

const Stats = z
  .object({
    from: z.string(),
    to: z.string(),
    timeZone: z.string(),
    months: z.array(
      z.object({
        month: z.string().describe('YYYY-MM'),
        counts: z.record(z.enum(CATEGORIES), z.number().int()),
        total: z.number().int(),
      }),
    ),
  })
  .meta({ id: 'ReportStats' });

const optionalText = (max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() === '' ? undefined : v),
    z.string().trim().max(max).optional(),
  );
const optionalNumber = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (v.trim() === '' ? undefined : Number(v)) : v),
    z.number().min(min).max(max).optional(),
  );

/** The web form's fields. */
export const ReportSubmission = z
  .strictObject({
    category: z.enum(CATEGORIES),
    text: z.string().trim().min(1).max(MAX_TEXT_CHARS),
    latitude: optionalNumber(-90, 90),
    longitude: optionalNumber(-180, 180),
    address: optionalText(MAX_ADDRESS_CHARS),
    contact: optionalText(254).superRefine((v, ctx) => {
      if (v !== undefined && !v.includes('@') && !toE164(v)) {
        ctx.addIssue({ code: 'custom', message: 'an E.164 phone number (+33612345678) or an email address' });
      }
      if (v?.includes('@') && !z.email().safeParse(v).success) {
        ctx.addIssue({ code: 'custom', message: 'an E.164 phone number (+33612345678) or an email address' });
      }
    }),
    locale: z.preprocess((v) => (v === '' ? undefined : v), z.enum(['fr', 'en']).default('fr')),
  })
  .refine((s) => (s.latitude === undefined) === (s.longitude === undefined), {
    message: 'latitude and longitude go together',
    path: ['longitude'],
  });

const ListQuery = z.strictObject({
  status: z.enum(REPORT_STATUSES).optional().describe('Only reports in this status'),
  category: z.enum(CATEGORIES).optional().describe('Only this category'),
  source: z.enum(SOURCES).optional().describe('Only reports from this source'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('Page size, 1–500'),
  cursor: z.string().max(40).optional().describe('nextCursor of the previous page'),
});

const IdParams = z.strictObject({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) });
const Note = z.string().trim().min(1).max(MAX_NOTE_CHARS);
const AssignBody = z.strictObject({
  assignee: z.string().trim().min(1).max(MAX_ASSIGNEE_CHARS).describe('The team or person'),
  note: Note.optional(),
});
const StartBody = z.strictObject({ note: Note.optional() }).nullish();
const CloseBody = z.strictObject({ note: Note.describe('Shown to the reporter') });
const Month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM');

/** What the routes need. */
export interface ReportRoutesDeps {
  readonly store: SqlStore;
  readonly bus: Bus;
  /** The `reports` config section (default: the schema's defaults). */
  readonly config?: ReportsConfig;
  readonly logger?: Logger;
  readonly metrics?: Metrics;
  readonly clock?: Clock;
  /** Time zone of the monthly stats (default Europe/Paris; VIGIE_TZ). */
  readonly timeZone?: string;
  /** A shared notifier (createReports'), so one process flushes in one place; default: one of the routes' own. */
  readonly notifier?: ReportNotifier;
}

/** The reports routes, as a fastify plugin for `startHttp({ plugins })` or `app.register`. */
export function reportRoutes(deps: ReportRoutesDeps): HttpPlugin {
  const config = deps.config ?? reportsConfigSchema.parse({});
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const metrics = deps.metrics ?? new Metrics();
  const timeZone = deps.timeZone ?? 'Europe/Paris';
  const reports = createReportStore(deps.store, { clock });
  const linkKey = config.photoLinkSecret ? Buffer.from(config.photoLinkSecret, 'utf8') : randomBytes(32);
  const intake = metrics.counter('reports_received_total', 'Reports created, by source', ['source']);
  const refused = metrics.counter(
    'reports_photos_refused_total',
    'Photos not kept, by source and reason (the report is kept without them)',
    ['source', 'reason'],
  );
  const limits = {
    maxBytes: config.photoMaxBytes,
    maxEdgePx: config.photoMaxEdgePx,
    maxInputPixels: config.photoMaxInputPixels,
  };

  const sign = (id: number, expires: number) =>
    createHmac('sha256', linkKey).update(`report-photo:${id}:${expires}`).digest('base64url');
  const photoUrl = (id: number) => {
    const expires = Math.floor(clock.nowMs() / 1000) + config.photoLinkTtlSeconds;
    return `/api/reports/${id}/photo?expires=${expires}&sig=${sign(id, expires)}`;
  };

  return async (app) => {
    const log = deps.logger ?? app.log;
    const notifier = deps.notifier ?? createReportNotifier({ reports, bus: deps.bus, logger: log as Logger, metrics });
    await useRateLimits(app);
    await app.register(multipart, {
      limits: { fileSize: config.photoMaxBytes, files: 1, fields: 10, fieldSize: 16 * 1024, parts: 11 },
    });

    const viewer = app.authorize('viewer');
    const rateLimited = (what: string) => (_req: FastifyRequest, ctx: { max: number; after: string }) =>
      new AppError(
        'ERR_REPORT_RATE_LIMITED',
        `${what}: more than ${ctx.max} from this address (try again in ${ctx.after})`,
      );

    const show = (report: Report, request: FastifyRequest) => {
      const full = request.operator !== null && roleAllows(request.operator.role, 'operator');
      const contact = report.contact
        ? {
            channel: report.contact.channel,
            address: full ? report.contact.address : maskRecipient(report.contact.address),
          }
        : null;
      const { sourceRef: _ref, ...rest } = report;
      return { ...rest, contact };
    };
    const detail = (report: ReportWithHistory, request: FastifyRequest) => ({
      ...show(report, request),
      history: [...report.history],
      photoUrl: report.hasPhoto ? photoUrl(report.id) : null,
    });
    const act = async (
      id: number,
      action: ReportAction,
      request: FastifyRequest,
      details: { assignee?: string; note?: string | undefined },
    ) => {
      const by = request.operator?.name;
      if (!by) throw new Error('report routes: an action without authorize()');
      const report = await reports.transition(id, action, by, details);
      await notifier.flush();
      return show(report, request);
    };

    app.post(
      '/api/reports',
      {
        config: {
          rateLimit: {
            max: config.intakePerHourPerIp,
            timeWindow: 3_600_000,
            errorResponseBuilder: rateLimited('reports'),
          },
        },
        bodyLimit: config.photoMaxBytes + 64 * 1024,
        schema: {
          tags: [TAG],
          summary: 'Report a problem',
          description:
            'Public (no token). multipart/form-data with the fields category, text, latitude + longitude and/or ' +
            'address, contact (E.164 phone or email), locale (fr|en), and an optional `photo` (JPEG, PNG or WebP, ' +
            `at most ${config.photoMaxBytes} bytes): its GPS position is used when no place is given, then every ` +
            'metadata block is removed. JSON or a urlencoded form without a photo work too. ' +
            `At most ${config.intakePerHourPerIp} per hour per IP address (429).`,
          consumes: ['multipart/form-data', 'application/json', 'application/x-www-form-urlencoded'],
          response: { 201: Created, ...errorResponses(400, 413, 415, 429) },
        },
      },
      async (request, reply) => {
        const fields: Record<string, string> = {};
        let upload: Buffer | undefined;
        if (request.isMultipart()) {
          try {
            for await (const part of request.parts()) {
              if (part.type === 'file') {
                if (part.fieldname !== 'photo' || upload) {
                  part.file.resume();
                  return reply
                    .code(400)
                    .send(errorBody('ERR_REPORT_INVALID', `file field: ${part.fieldname} (one file, named photo)`));
                }
                upload = await part.toBuffer();
              } else {
                fields[part.fieldname] = String(part.value);
              }
            }
          } catch (err) {
            const code = (err as { code?: string }).code;
            if (code === 'FST_REQ_FILE_TOO_LARGE') {
              refused.inc({ source: 'web', reason: 'ERR_REPORT_PHOTO_TOO_LARGE' });
              throw new AppError(
                'ERR_REPORT_PHOTO_TOO_LARGE',
                `photo: more than ${config.photoMaxBytes} bytes (at most ${config.photoMaxBytes} bytes)`,
              );
            }
            throw err;
          }
        } else {
          const body = request.body;
          if (body && typeof body === 'object') {
            for (const [k, v] of Object.entries(body)) fields[k] = typeof v === 'string' ? v : String(v);
          }
        }
        const parsed = ReportSubmission.safeParse(fields);
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => ({
            path: ['body', ...i.path.map(String)].join('.'),
            message: i.message,
          }));
          return reply
            .code(400)
            .send(
              errorBody(
                'ERR_HTTP_VALIDATION',
                `report: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')} (see /docs)`.slice(0, 2000),
                issues,
              ),
            );
        }
        const s = parsed.data;
        let photo: CleanPhoto | undefined;
        if (upload && upload.length > 0) {
          try {
            photo = await cleanPhoto(upload, limits);
          } catch (err) {
            const status = err instanceof AppError ? photoErrorStatus(err.code) : undefined;
            if (!status) throw err;
            refused.inc({ source: 'web', reason: (err as AppError).code });
            return reply.code(status as 415).send(errorBody((err as AppError).code, (err as AppError).message));
          }
        }
        const given = s.latitude !== undefined || s.address !== undefined;
        if (!given && !photo?.gps) {
          throw new AppError(
            'ERR_REPORT_LOCATION_INVALID',
            'report place: none (give latitude and longitude, an address, or a photo with its GPS position)',
          );
        }
        const place =
          s.latitude !== undefined
            ? { latitude: s.latitude, longitude: s.longitude }
            : !given && photo?.gps
              ? { latitude: photo.gps.latitude, longitude: photo.gps.longitude }
              : {};
        const contact = s.contact
          ? s.contact.includes('@')
            ? { channel: 'email' as const, address: s.contact.toLowerCase() }
            : { channel: 'sms' as const, address: toE164(s.contact) as string }
          : undefined;
        const { report } = await reports.create({
          category: s.category,
          text: s.text,
          ...place,
          address: s.address,
          locationSource: given ? 'given' : 'photo',
          contact,
          locale: s.locale,
          source: 'web',
          photo,
          by: 'citizen',
        });
        intake.inc({ source: 'web' });
        await notifier.flush();
        return reply.code(201).send({
          reference: report.reference,
          status: 'received' as const,
          category: report.category,
          locationSource: given ? ('given' as const) : ('photo' as const),
          createdAt: report.createdAt,
        });
      },
    );

    app.get(
      '/api/reports',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'List reports',
          description: 'Reports matching the filters, newest first, paged by cursor. Viewer.',
          security: BEARER_SECURITY,
          querystring: ListQuery,
          response: { 200: ReportPageSchema, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const page = await reports.list(request.query);
        return { ...page, reports: page.reports.map((r) => show(r, request)) };
      },
    );

    app.get(
      '/api/reports/stats',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'Reports per month and category',
          description: `Reports created per month (in ${timeZone}) and category over [from, to], zeros included. Viewer.`,
          security: BEARER_SECURITY,
          querystring: z.strictObject({
            from: Month.describe('First month, YYYY-MM'),
            to: Month.describe('Last month, YYYY-MM (inclusive)'),
          }),
          response: { 200: Stats, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => ({
        from: request.query.from,
        to: request.query.to,
        timeZone,
        months: await reports.monthlyCounts(request.query.from, request.query.to, timeZone),
      }),
    );

    app.get(
      '/api/reports/:id',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'One report with its history',
          description: 'The report, every status change, and a signed link to its photo. Viewer.',
          security: BEARER_SECURITY,
          params: IdParams,
          response: { 200: ReportDetailSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => detail(await mustGet(reports, request.params.id), request),
    );

    const photoAccess: onRequestHookHandler = async function (this: unknown, request, reply) {
      const query = request.query as { expires?: unknown; sig?: unknown };
      if (query.sig === undefined && query.expires === undefined) {
        return (viewer as unknown as (r: FastifyRequest, p: FastifyReply) => Promise<void>).call(this, request, reply);
      }
      const id = Number((request.params as { id?: string }).id);
      const expires = Number(query.expires);
      const given = Buffer.from(typeof query.sig === 'string' ? query.sig : '', 'utf8');
      const wanted = Buffer.from(sign(id, expires), 'utf8');
      const valid = given.length === wanted.length && timingSafeEqual(given, wanted);
      if (!valid || !Number.isSafeInteger(expires) || expires * 1000 < clock.nowMs()) {
        throw new AppError(
          'ERR_REPORT_PHOTO_LINK_UNAUTHORIZED',
          'photo link: not valid or expired (ask the report again for a fresh photoUrl, or use a bearer token)',
        );
      }
    };

    app.get(
      '/api/reports/:id/photo',
      {
        onRequest: photoAccess,
        schema: {
          tags: [TAG],
          summary: 'A report’s photo',
          description:
            'The stored photo (JPEG, without metadata). A viewer token, or the signed photoUrl of the report.',
          security: BEARER_SECURITY,
          params: IdParams,
          querystring: z.strictObject({
            expires: z.string().max(20).optional().describe('Signed link: expiry, Unix seconds'),
            sig: z.string().max(100).optional().describe('Signed link: signature'),
          }),
          response: errorResponses(400, 401, 403, 404),
        },
      },
      async (request, reply) => {
        const photo = await reports.photo(request.params.id);
        if (!photo) {
          throw new AppError(
            'ERR_REPORT_NOT_FOUND',
            `report photo: ${request.params.id} (no such report, or no photo)`,
          );
        }
        return reply
          .type(photo.contentType)
          .header('cache-control', 'private, max-age=300')
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'")
          .send(photo.bytes as never);
      },
    );

    const action = (name: ReportAction, summary: string, description: string, body: z.ZodType) =>
      app.post(
        `/api/reports/:id/${name}`,
        {
          onRequest: app.authorize('operator'),
          schema: {
            tags: [TAG],
            summary,
            description: `${description} The reporter is told (SMS or email). Operator.`,
            security: BEARER_SECURITY,
            params: IdParams,
            body,
            response: { 200: ReportSchema, ...errorResponses(400, 401, 403, 404, 409) },
          },
        },
        async (request) => {
          const b = (request.body ?? {}) as { assignee?: string; note?: string };
          return act((request.params as { id: number }).id, name, request, {
            ...(b.assignee !== undefined ? { assignee: b.assignee } : {}),
            note: b.note,
          });
        },
      );
    action('assign', 'Assign a report', 'To a team or person (received or assigned → assigned).', AssignBody);
    action('start', 'Start work on a report', 'assigned → in-progress.', StartBody);
    action('resolve', 'Resolve a report', 'received, assigned or in-progress → resolved, with a note.', CloseBody);
    action('reject', 'Reject a report', 'received, assigned or in-progress → rejected, with a note.', CloseBody);

    app.get(
      '/api/reports/:id/status',
      {
        config: {
          rateLimit: {
            max: config.statusLookupsPerHourPerIp,
            timeWindow: 3_600_000,
            errorResponseBuilder: rateLimited('status look-ups'),
          },
        },
        schema: {
          tags: [TAG],
          summary: 'Follow a report (public)',
          description:
            'Public (no token): the status of the report with this reference (R-2026-000123), given `check`: the ' +
            'last 4 digits of the phone number, or the email address, it was sent with. A wrong check answers like ' +
            `an unknown reference (404). At most ${config.statusLookupsPerHourPerIp} per hour per IP address.`,
          params: z.strictObject({
            id: z
              .string()
              .regex(/^R-\d{4}-\d{6,}$/, 'a reference, R-2026-000123')
              .describe('The reference'),
          }),
          querystring: z.strictObject({
            check: z.string().trim().min(4).max(254).describe('Last 4 digits of the phone, or the email address'),
          }),
          response: { 200: PublicStatus, ...errorResponses(400, 404, 429) },
        },
      },
      async (request) => {
        const report = await reports.getByReference(request.params.id);
        if (!report?.contact || !checkMatches(report.contact.address, request.query.check)) {
          throw new AppError(
            'ERR_REPORT_NOT_FOUND',
            `report: ${request.params.id} with this check (the reference and the last 4 digits of your phone, or your email)`,
          );
        }
        return {
          reference: report.reference,
          category: report.category,
          status: report.status,
          note: report.status === 'resolved' || report.status === 'rejected' ? report.note : null,
          createdAt: report.createdAt,
          updatedAt: report.updatedAt,
          history: report.history.map((e) => ({ status: e.status, at: e.at })),
        };
      },
    );
  };
}

async function mustGet(reports: ReportStore, id: number): Promise<ReportWithHistory> {
  const report = await reports.get(id);
  if (!report) throw new AppError('ERR_REPORT_NOT_FOUND', `report: ${id} (no report has this id)`);
  return report;
}

/** The contact check of the public status: the phone's last 4 digits, or the whole email (any case). */
function checkMatches(contact: string, check: string): boolean {
  const given = check.trim().toLowerCase();
  const want = contact.includes('@') ? contact.toLowerCase() : contact.slice(-4);
  const a = Buffer.from(given, 'utf8');
  const b = Buffer.from(want, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
