import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { escapeHtml } from '../../core/html.ts';
import { maskRecipient } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { roleAllows } from '../http/auth.ts';
import { useRateLimits } from '../http/rate-limit.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../http/server.ts';
import { type ParkingConfig, parkingConfigSchema, receiptLinkKey, resolveTariffs } from './config.ts';
import { normalizeReference, verifyReceiptToken } from './reference.ts';
import { formatEuros, formatLocalTime } from './reply-texts.ts';
import { normalizePlate } from './sms-commands.ts';
import { createParkingStore, type ParkingSession, SESSION_SOURCES, SESSION_STATUSES } from './store.ts';
import { findZone, paymentRequiredAt, type TariffTable } from './tariffs.ts';

/**
 * The parking API (issue 8). Enforcement officers (a `viewer` token or above, services/http/auth.ts): `GET
 * /api/parking/check?plate=&zone=` — is this plate paid in this zone now, and must parking be paid here now — and
 * `GET /api/parking/sessions`. Public: `GET /p/:reference?k=<token>`, the receipt a driver's SMS links to (JSON, or
 * a small HTML page for a browser): only with the reference's token (reference.ts), and only until
 * `receiptLinkDays` after the session ends; anything else — unknown reference, wrong token, expired link — is the
 * same 404, so references cannot be enumerated. Rate-limited per IP (`receiptLookupsPerHourPerIp`, counted in this
 * process like the reports' public routes).
 */

const TAG = 'parking';
const DAY_MS = 86_400_000;
const IsoTimestamp = z.iso.datetime({ offset: true });

/** A session as the operators' API shows it. */
export const ParkingSessionSchema = z
  .object({
    reference: z.string().describe('Receipt reference, XXXX-XXXX'),
    plate: z.string().nullable().describe('Null for a meter payment without a plate'),
    zone: z.string(),
    phone: z.string().nullable().describe('The driver (SMS sessions); masked below operator'),
    startsAt: IsoTimestamp,
    endsAt: IsoTimestamp,
    paidMinutes: z.number().int(),
    amountCents: z.number().int().describe('Charged less refunded, euro cents'),
    status: z.enum(SESSION_STATUSES),
    source: z.enum(SESSION_SOURCES),
    deviceId: z.string().nullable().describe('The parking meter (meter sessions)'),
  })
  .meta({ id: 'ParkingSession' });

const CheckResult = z
  .object({
    plate: z.string().describe('The plate as normalized (AB-123-CD)'),
    zone: z.string().describe('The zone id'),
    paid: z.boolean().describe('A session covers this plate in this zone now'),
    session: z
      .object({ reference: z.string(), endsAt: IsoTimestamp, source: z.enum(SESSION_SOURCES) })
      .optional()
      .describe('The covering session (the one ending last)'),
    paymentRequiredNow: z
      .boolean()
      .describe('Parking must be paid in this zone now (a paid window, not a free day or hour)'),
    at: IsoTimestamp,
  })
  .meta({ id: 'ParkingCheck' });

const Receipt = z
  .object({
    reference: z.string(),
    plate: z.string().nullable(),
    zone: z.string(),
    startsAt: IsoTimestamp,
    endsAt: IsoTimestamp,
    paidMinutes: z.number().int(),
    amountCents: z.number().int(),
    status: z.enum(SESSION_STATUSES),
    source: z.enum(SESSION_SOURCES),
    validNow: z.boolean().describe('Running and not ended yet'),
  })
  .meta({ id: 'ParkingReceipt' });

/** What the routes need. */
export interface ParkingRoutesDeps {
  readonly store: SqlStore;
  /** The `parking` config section (default: the schema's defaults). */
  readonly config?: ParkingConfig;
  /** The tariff table (default: the config's). */
  readonly table?: TariffTable;
  readonly metrics?: Metrics;
  readonly clock?: Clock;
  /** The city's time zone (VIGIE_TZ, default Europe/Paris). */
  readonly timeZone?: string;
}

/** The parking routes, as a fastify plugin for `startHttp({ plugins })`. */
export function parkingRoutes(deps: ParkingRoutesDeps): HttpPlugin {
  const config = deps.config ?? parkingConfigSchema.parse({});
  const table = deps.table ?? resolveTariffs(config.tariffs);
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const timeZone = deps.timeZone ?? 'Europe/Paris';
  const metrics = deps.metrics ?? new Metrics();
  const sessions = createParkingStore(deps.store);
  const linkKey = receiptLinkKey(config);
  const checks = metrics.counter('parking_checks_total', 'Enforcement checks answered, by result (paid, unpaid)', [
    'result',
  ]);
  const receipts = metrics.counter('parking_receipts_total', 'Receipt pages asked for, by outcome (shown, refused)', [
    'outcome',
  ]);

  const zoneOf = (text: string) => {
    const zone = findZone(table, text);
    if (zone === undefined) {
      throw new AppError(
        'ERR_PARKING_QUERY_INVALID',
        `zone: ${text.slice(0, 20)} (one of ${Object.keys(table.zones).join(', ')}, or an alias)`,
      );
    }
    return zone;
  };
  const plateOf = (text: string) => {
    const plate = normalizePlate(text);
    if (!plate) {
      throw new AppError('ERR_PARKING_PLATE_INVALID', `plate: ${text.slice(0, 20)} (2–10 letters and digits)`);
    }
    return plate.plate;
  };

  return async (app) => {
    await useRateLimits(app);
    const viewer = app.authorize('viewer');

    const show = (s: ParkingSession, request: FastifyRequest) => {
      const full = request.operator !== null && roleAllows(request.operator.role, 'operator');
      return {
        reference: s.reference,
        plate: s.plate,
        zone: s.zone,
        phone: s.phone === null ? null : full ? s.phone : maskRecipient(s.phone),
        startsAt: new Date(s.startMs).toISOString(),
        endsAt: new Date(s.endMs).toISOString(),
        paidMinutes: s.paidMinutes,
        amountCents: s.amountCents,
        status: s.status,
        source: s.source,
        deviceId: s.deviceId,
      };
    };

    app.get(
      '/api/parking/check',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'Is this plate paid in this zone now?',
          description:
            'For enforcement: whether a session (SMS or meter) covers the plate in the zone now, and whether ' +
            'parking must be paid there now (free hours and days need none). Viewer.',
          security: BEARER_SECURITY,
          querystring: z.strictObject({
            plate: z.string().trim().min(2).max(20).describe('The plate, any spacing (AB-123-CD, ab123cd)'),
            zone: z.string().trim().min(1).max(20).describe('Zone id or alias (rouge, red)'),
          }),
          response: { 200: CheckResult, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const plate = plateOf(request.query.plate);
        const zone = zoneOf(request.query.zone);
        const nowMs = clock.nowMs();
        const session = await sessions.paidAt(plate, zone, nowMs);
        checks.inc({ result: session ? 'paid' : 'unpaid' });
        return {
          plate,
          zone,
          paid: session !== undefined,
          ...(session
            ? {
                session: {
                  reference: session.reference,
                  endsAt: new Date(session.endMs).toISOString(),
                  source: session.source,
                },
              }
            : {}),
          paymentRequiredNow: paymentRequiredAt(table, zone, nowMs, timeZone),
          at: new Date(nowMs).toISOString(),
        };
      },
    );

    app.get(
      '/api/parking/sessions',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'List parking sessions',
          description: 'Sessions matching the filters, newest first. Viewer (phone numbers masked below operator).',
          security: BEARER_SECURITY,
          querystring: z.strictObject({
            plate: z.string().trim().min(2).max(20).optional().describe('Only this plate'),
            zone: z.string().trim().min(1).max(20).optional().describe('Only this zone (id or alias)'),
            status: z.enum(SESSION_STATUSES).optional().describe('Only this status'),
            source: z.enum(SESSION_SOURCES).optional().describe('Only SMS or meter sessions'),
            limit: z.coerce.number().int().min(1).max(500).default(100).describe('At most this many, 1–500'),
          }),
          response: {
            200: z.object({ sessions: z.array(ParkingSessionSchema) }),
            ...errorResponses(400, 401, 403),
          },
        },
      },
      async (request) => {
        const q = request.query;
        const list = await sessions.list({
          plate: q.plate === undefined ? undefined : plateOf(q.plate),
          zone: q.zone === undefined ? undefined : zoneOf(q.zone),
          status: q.status,
          source: q.source,
          limit: q.limit,
        });
        return { sessions: list.map((s) => show(s, request)) };
      },
    );

    app.get(
      '/p/:reference',
      {
        config: {
          rateLimit: {
            max: config.receiptLookupsPerHourPerIp,
            timeWindow: 3_600_000,
            errorResponseBuilder: (_req: FastifyRequest, ctx: { max: number; after: string }) =>
              new AppError(
                'ERR_PARKING_RATE_LIMITED',
                `receipts: more than ${ctx.max} from this address (try again in ${ctx.after})`,
              ),
          },
        },
        schema: {
          tags: [TAG],
          summary: 'A parking receipt (public)',
          description:
            'The receipt an SMS links to: the session with this reference, given its token `k`. JSON, or an HTML ' +
            `page when the browser asks for one. Valid until ${config.receiptLinkDays} days after the session ends; ` +
            'any other reference, token or date answers the same 404. ' +
            `At most ${config.receiptLookupsPerHourPerIp} per hour per IP address.`,
          params: z.strictObject({ reference: z.string().max(20).describe('XXXX-XXXX') }),
          querystring: z.strictObject({ k: z.string().max(40).default('').describe('The token of the link') }),
          response: { 200: Receipt, ...errorResponses(404, 429) },
        },
      },
      async (request, reply) => {
        const reference = normalizeReference(request.params.reference);
        const nowMs = clock.nowMs();
        const session =
          reference !== undefined && verifyReceiptToken(linkKey, reference, request.query.k)
            ? await sessions.getByReference(reference)
            : undefined;
        if (!session || session.endMs + config.receiptLinkDays * DAY_MS < nowMs) {
          receipts.inc({ outcome: 'refused' });
          throw new AppError(
            'ERR_PARKING_RECEIPT_NOT_FOUND',
            `receipt: no such receipt (check the link in your SMS; links work ${config.receiptLinkDays} days after parking ends)`,
          );
        }
        receipts.inc({ outcome: 'shown' });
        const body = {
          reference: session.reference,
          plate: session.plate,
          zone: session.zone,
          startsAt: new Date(session.startMs).toISOString(),
          endsAt: new Date(session.endMs).toISOString(),
          paidMinutes: session.paidMinutes,
          amountCents: session.amountCents,
          status: session.status,
          source: session.source,
          validNow: session.status === 'running' && session.endMs > nowMs,
        };
        reply.header('cache-control', 'private, no-store').header('referrer-policy', 'no-referrer');
        const accept = request.headers.accept ?? '';
        if (accept.includes('text/html')) {
          return reply
            .type('text/html; charset=utf-8')
            .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'")
            .send(receiptPage(body, timeZone) as never);
        }
        return body;
      },
    );
  };
}

/** The receipt as a small French HTML page (no script, nothing fetched). */
function receiptPage(r: z.output<typeof Receipt>, timeZone: string): string {
  const start = Date.parse(r.startsAt);
  const end = Date.parse(r.endsAt);
  const day = (ms: number) =>
    new Intl.DateTimeFormat('fr-FR', { timeZone, day: '2-digit', month: '2-digit', year: 'numeric' }).format(ms);
  const rows: Array<[string, string]> = [
    ['Référence', r.reference],
    ['Plaque', r.plate ?? '—'],
    ['Zone', r.zone],
    ['Début', `${day(start)} ${formatLocalTime(start, timeZone)}`],
    ['Fin', `${day(end)} ${formatLocalTime(end, timeZone)}`],
    ['Montant', formatEuros(r.amountCents, 'fr')],
    ['État', r.validNow ? 'en cours' : r.status === 'ended' ? 'terminé' : 'expiré'],
  ];
  return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Justificatif de stationnement ${escapeHtml(r.reference)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}th{text-align:left;padding-right:1rem}</style>
</head><body><h1>Justificatif de stationnement</h1><table>${rows
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join('')}</table></body></html>`;
}
