import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { DeviceId, Kind, Severity } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlExecutor } from '../../core/store/store.ts';
import { ROLES } from '../http/auth.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../http/server.ts';
import { DEVICE_STATES, deviceKind, listDevices, readSeries, summarize } from './queries.ts';

/**
 * The operators' console API (issue 7), every route for a `viewer` token or above (services/http/auth.ts): who the
 * token is, the devices on the map (all, or what changed since a cursor), a device's hourly or daily series, and
 * the counts for the header. It only reads the console's read model (read-model.ts).
 */

const TAG = 'console';
const IsoTimestamp = z.iso.datetime({ offset: true });
const DAY_MS = 86_400_000;

/** Longest range of one series request, in days, by period (what the default retention keeps). */
export const MAX_RANGE_DAYS = { hour: 93, day: 1100 } as const;
/** Range of a series request without `from`, in days, by period. */
export const DEFAULT_RANGE_DAYS = { hour: 7, day: 90 } as const;

const State = z.enum(DEVICE_STATES);

/** One open alert of a device, as the API shows it. */
const DeviceAlertSchema = z
  .object({
    alertId: z.string(),
    type: z.string().describe('Alert type (leak, lamp-out, …)'),
    severity: Severity,
    summary: z.string(),
    since: IsoTimestamp.describe('When it opened (event time)'),
  })
  .meta({ id: 'ConsoleDeviceAlert' });

/** A device as the console shows it. */
export const ConsoleDeviceSchema = z
  .object({
    deviceId: z.string(),
    kind: Kind,
    district: z.string().nullable(),
    lat: z.number().nullable().describe('WGS 84 degrees; null when the registry gives no position'),
    lon: z.number().nullable().describe('WGS 84 degrees; null when the registry gives no position'),
    active: z.boolean().describe('False once revoked or removed from the registry'),
    state: State.describe('inactive when not active, else the worst open alert’s severity, else ok'),
    alerts: z.array(DeviceAlertSchema).describe('Open alerts, worst first'),
    updatedAt: IsoTimestamp.describe('Event time of the last change (registry update or alert transition)'),
  })
  .meta({ id: 'ConsoleDevice' });

const DevicesPage = z
  .object({
    cursor: z.string().describe('Pass as since next time to get only what changed'),
    devices: z.array(ConsoleDeviceSchema),
  })
  .meta({ id: 'ConsoleDevices' });

const StateCounts = z.object(
  Object.fromEntries(DEVICE_STATES.map((s) => [s, z.number().int()])) as Record<
    (typeof DEVICE_STATES)[number],
    z.ZodNumber
  >,
);

const Summary = z
  .object({
    total: z.number().int(),
    states: StateCounts,
    kinds: z.array(z.object({ kind: Kind, total: z.number().int(), states: StateCounts })),
  })
  .meta({ id: 'ConsoleSummary' });

const Series = z
  .object({
    deviceId: z.string(),
    kind: Kind,
    period: z.enum(['hour', 'day']),
    from: IsoTimestamp,
    to: IsoTimestamp,
    points: z.array(
      z.object({
        start: IsoTimestamp.describe('The period’s first instant'),
        values: z.record(z.string(), z.number()).describe('The rollup’s values: consumptionL, energyWh, …'),
      }),
    ),
  })
  .meta({ id: 'ConsoleSeries' });

/** A cursor: the decimal version a previous answer gave. */
const CURSOR = /^\d{1,15}$/;

/** What the routes need. */
export interface ConsoleRoutesDeps {
  /** The store holding the console's read model (consoleMigrations) and the operator tokens (httpMigrations). */
  readonly store: SqlExecutor;
  /** Now, for the series' default range (default: the system clock). */
  readonly clock?: Clock | undefined;
}

/** The console's routes, as a fastify plugin for `startHttp({ plugins })` or `app.register`. */
export function consoleRoutes(deps: ConsoleRoutesDeps): HttpPlugin {
  const { store } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  return async (app) => {
    const viewer = app.authorize('viewer');

    app.get(
      '/api/console/whoami',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'Who this token is',
          description: 'The name and role of the bearer token (the console checks a pasted token with it). Viewer.',
          security: BEARER_SECURITY,
          response: {
            200: z.object({ name: z.string(), role: z.enum(ROLES) }).meta({ id: 'ConsoleWhoami' }),
            ...errorResponses(401, 403),
          },
        },
      },
      async (request) => {
        const operator = request.operator;
        if (!operator) throw new Error('console routes: whoami without authorize()');
        return { name: operator.name, role: operator.role };
      },
    );

    app.get(
      '/api/console/devices',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'Devices on the map',
          description:
            'Every device (of `kind` when given) with its position, state and open alerts, and a cursor. With ' +
            '`since` (a cursor from a previous answer), only the devices changed after it — a registry change or ' +
            'an alert opened, updated or resolved. A cursor beyond the newest (the console’s store was rebuilt) ' +
            'gets every device, like no cursor. Viewer.',
          security: BEARER_SECURITY,
          querystring: z.strictObject({
            since: z.string().max(40).optional().describe('The cursor of a previous answer'),
            kind: Kind.optional().describe('Only devices of this kind'),
          }),
          response: { 200: DevicesPage, ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const { since, kind } = request.query;
        if (since !== undefined && !CURSOR.test(since)) {
          throw new AppError(
            'ERR_CONSOLE_CURSOR_INVALID',
            `since: ${JSON.stringify(since.slice(0, 40))} (the cursor of a previous answer, digits only)`,
          );
        }
        return listDevices(store, { since: since === undefined ? undefined : Number(since), kind });
      },
    );

    app.get(
      '/api/console/devices/:deviceId/series',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'A device’s series',
          description:
            'The device’s rollups of `period` whose start is in [from, to], oldest first. Defaults: to = now, from = ' +
            `to − ${DEFAULT_RANGE_DAYS.hour} days (hour) or − ${DEFAULT_RANGE_DAYS.day} days (day); at most ` +
            `${MAX_RANGE_DAYS.hour} days of hours, ${MAX_RANGE_DAYS.day} days of days. 404 when the console knows ` +
            'nothing of the device. Viewer.',
          security: BEARER_SECURITY,
          params: z.strictObject({ deviceId: DeviceId }),
          querystring: z.strictObject({
            period: z.enum(['hour', 'day']).default('hour').describe('hour (default) or day (local days)'),
            from: IsoTimestamp.optional().describe('First instant, ISO 8601'),
            to: IsoTimestamp.optional().describe('Last instant, ISO 8601 (default now)'),
          }),
          response: { 200: Series, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const { deviceId } = request.params;
        const { period } = request.query;
        const toMs = request.query.to !== undefined ? Date.parse(request.query.to) : clock.nowMs();
        const fromMs =
          request.query.from !== undefined
            ? Date.parse(request.query.from)
            : toMs - DEFAULT_RANGE_DAYS[period] * DAY_MS;
        if (!(fromMs <= toMs) || toMs - fromMs > MAX_RANGE_DAYS[period] * DAY_MS) {
          throw new AppError(
            'ERR_CONSOLE_RANGE_INVALID',
            `series range: ${new Date(fromMs).toISOString()} to ${new Date(toMs).toISOString()} (from ≤ to, at most ` +
              `${MAX_RANGE_DAYS[period]} days for period ${period})`,
          );
        }
        const kind = await deviceKind(store, deviceId);
        if (!kind) {
          throw new AppError(
            'ERR_CONSOLE_DEVICE_NOT_FOUND',
            `device: ${deviceId} (not in the registry, no alert, no rollup — check the id)`,
          );
        }
        return {
          deviceId,
          kind,
          period,
          from: new Date(fromMs).toISOString(),
          to: new Date(toMs).toISOString(),
          points: await readSeries(store, deviceId, period, { fromMs, toMs }),
        };
      },
    );

    app.get(
      '/api/console/summary',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'Devices by kind and state',
          description: 'How many devices there are, by state, in all and per kind (the console’s header). Viewer.',
          security: BEARER_SECURITY,
          response: { 200: Summary, ...errorResponses(401, 403) },
        },
      },
      async () => summarize(store),
    );
  };
}
