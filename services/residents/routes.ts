import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { verifyMeterCode } from '../../alerting/meter-code.ts';
import { createSubscriptions, parseAddress } from '../../alerting/subscriptions.ts';
import { unsubscribeSecret } from '../../alerting/webhooks/unsubscribe-token.ts';
import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { DeviceId, Notification, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { type Logger, maskRecipient } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { type AccountEraser, CITIZEN_COOKIE, type CitizenAuth, type CitizenPlugin } from '../http/citizen.ts';
import { namedLimiter, refuseWhenLimited, useRateLimits } from '../http/rate-limit.ts';
import { CITIZEN_SECURITY, ErrorBody, errorBody, errorResponses } from '../http/server.ts';
import { type AccountChannel, constantTimeEqual, createAccounts, type ResidentSession } from './accounts.ts';
import type { ResidentsConfig } from './config.ts';
import {
  dailyConsumption,
  dateMinusDays,
  daysBetween,
  localDateOf,
  monthlyConsumption,
  monthMinus,
  monthsBetween,
} from './consumption.ts';
import { leakHistory, linkMeter, metersOf, ownsMeter, unlinkMeter } from './meters.ts';

/**
 * "My water meter" (issue 7): a resident signs in with a one-time code, sees their meters' consumption and leak
 * history, and manages their alert subscriptions. A fastify plugin for the shared HTTP server; no operator token.
 *
 * Sign-in: `POST /api/me/sign-in` {address} stores a 6-digit code and produces the message carrying it on
 * `notifications.v1` (the alerting stage sends it): 202 whether the address has an account or not (an account is
 * made at the first verified code). `POST /api/me/verify` {address, code} opens a session: cookie `vigie_resident`
 * (HttpOnly, SameSite=Lax, Path=/api/me, Secure over https), and the session's CSRF token in the body.
 *
 * CSRF: every state-changing route with a session needs the `x-csrf-token` header (the token from verify or
 * `GET /api/me`); a cross-site form can send the cookie (SameSite=Lax stops that in current browsers, not in all)
 * but cannot read or compute the token. Sign-in and verify, before any session, take JSON bodies only (a cross-site
 * form cannot send `application/json` without a CORS preflight, which is never granted), against login CSRF. Any
 * state-changing request a browser marks `Sec-Fetch-Site: cross-site` is refused too.
 *
 * Limits (@fastify/rate-limit, counted in the store by every instance together): codes asked 5 per hour
 * per address and 20 per hour per IP address; codes submitted 60 per hour per IP address, and 5 wrong tries per code;
 * meter links 10 per hour per resident. Behind a proxy the server must trust it (`VIGIE_HTTP_TRUST_PROXY`) or every resident
 * shares the proxy's IP limit.
 *
 * A resident sees only their own meters: the meters of their confirmed subscriptions and those they linked with the
 * subscriber code printed on the bill. Any other device id, existing or not, gets the same 403.
 */

/** The session cookie's name (the citizen account's, services/http/citizen.ts). */
export const RESIDENT_COOKIE = CITIZEN_COOKIE;

/** The header carrying the session's CSRF token. */
export const CSRF_HEADER = 'x-csrf-token';

/** Longest range of a consumption query: days for `period=day`, months for `period=month`. */
export const MAX_RANGE = { day: 366, month: 36 } as const;

const HOUR_MS = 3_600_000;

/** Options of {@link residentRoutes}. */
export interface ResidentRoutesOptions {
  readonly store: SqlStore;
  /** Where sign-in codes go (`notifications.v1`). */
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly config: ResidentsConfig;
  /** The city's time zone (VIGIE_TZ): local days and months of the consumption. */
  readonly timeZone: string;
  /** The server's public URL (http.publicUrl): an https one makes the cookie Secure with `cookieSecure: auto`. */
  readonly publicUrl?: string | undefined;
  /** The secret of meter codes (VIGIE_UNSUBSCRIBE_SECRET); absent: the one kept in the store (`unsubscribeSecret`). */
  readonly unsubscribeSecret?: string | undefined;
  readonly clock?: Clock | undefined;
  /**
   * The other citizen services' routes under `/api/me/…` (the vault, the consultations), registered in this scope
   * with its session hook (services/http/citizen.ts).
   */
  readonly citizenPlugins?: readonly CitizenPlugin[] | undefined;
  /** What `DELETE /api/me/account` erases in the other citizen services, in its transaction. */
  readonly accountErasers?: readonly AccountEraser[] | undefined;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed-in resident, once the session hook let the request through; null otherwise. */
    resident: ResidentSession | null;
  }
}

const Address = z.string().min(1).max(254).describe('A phone number in E.164 (+33612345678) or an email address');

const SignInBody = z.strictObject({
  address: Address,
  locale: z.enum(['fr', 'en']).default('fr').describe('Language of the message carrying the code'),
});

const SignInReply = z.object({
  status: z.literal('code-sent').describe('Sent when the address can receive it; the same answer for any address'),
  expiresInSeconds: z.number().int().describe('How long the code is valid'),
});

const VerifyBody = z.strictObject({
  address: Address,
  code: z.string().min(1).max(16).describe('The 6-digit code received'),
});

const MeReply = z.object({
  account: z.object({ channel: z.enum(['sms', 'email']), address: z.string() }),
  csrfToken: z.string().describe('Send it back in the x-csrf-token header of every POST and DELETE'),
  expiresAt: z.string().describe('When the session ends (ISO 8601)'),
});

const CodeErrorReply = ErrorBody.extend({
  attemptsLeft: z.number().int().optional().describe('Wrong tries left for this code'),
});

const SignOutBody = z
  .strictObject({
    everywhere: z.boolean().default(false).describe('End every session of the account, not only this one'),
  })
  .default({ everywhere: false });

const ProfileBody = z.strictObject({
  displayName: z.string().trim().max(100).nullable().default(null).describe('How the city addresses you'),
  locale: z.enum(['fr', 'en']).default('fr').describe('Language of the messages'),
  postalAddress: z.string().trim().max(300).nullable().default(null).describe('For services that send letters'),
});

const ProfileReply = z.object({
  account: z.object({ channel: z.enum(['sms', 'email']), address: z.string() }),
  displayName: z.string().nullable(),
  locale: z.enum(['fr', 'en']),
  postalAddress: z.string().nullable(),
});

const Meter = z.object({
  deviceId: z.string(),
  sources: z.array(z.enum(['subscription', 'linked'])).describe('Why it is yours'),
});

const LinkBody = z.strictObject({
  deviceId: DeviceId.describe('The water meter, as printed on the bill, e.g. WM-000123'),
  meterCode: z.string().min(1).max(64).describe('The subscriber code printed on the bill, XXXX-XXXX'),
});

const DeviceParams = z.strictObject({ deviceId: DeviceId });

const ConsumptionQuery = z.strictObject({
  period: z.enum(['day', 'month']).default('day').describe('day: local days; month: local months (sums of days)'),
  from: z
    .string()
    .optional()
    .describe('First day (YYYY-MM-DD) or month (YYYY-MM), included; default 29 days / 11 months before `to`'),
  to: z.string().optional().describe('Last day or month, included; default today / this month (VIGIE_TZ)'),
});

const ConsumptionReply = z.object({
  deviceId: z.string(),
  period: z.enum(['day', 'month']),
  from: z.string(),
  to: z.string(),
  timeZone: z.string(),
  points: z
    .array(
      z.object({
        date: z.string().describe('YYYY-MM-DD or YYYY-MM, local'),
        consumptionL: z.number(),
        partial: z.boolean().describe('Not final yet: hours so far, or a day with no day rollup yet'),
        days: z.number().int().optional().describe('Months: days with data'),
      }),
    )
    .describe('Periods with data, oldest first'),
});

const AlertsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  before: z.iso.datetime({ offset: true }).optional().describe('Alerts opened before this time (paging)'),
});

const AlertsReply = z.object({
  alerts: z.array(
    z.object({
      alertId: z.string(),
      type: z.string(),
      severity: z.string(),
      summary: z.string(),
      openedAt: z.string(),
      resolvedAt: z.string().nullable(),
      acknowledged: z.boolean(),
    }),
  ),
});

const SubscriptionReply = z.object({
  id: z.number().int(),
  deviceId: z.string(),
  channel: z.enum(['sms', 'email']),
  address: z.string(),
  locale: z.enum(['fr', 'en']),
  status: z.enum(['pending', 'confirmed', 'unsubscribed']),
  createdAt: z.string(),
});

const AddSubscriptionBody = z.strictObject({
  deviceId: DeviceId.describe('One of your meters'),
  locale: z.enum(['fr', 'en']).default('fr').describe('Language of the alerts'),
});

const SubscriptionParams = z.strictObject({ id: z.coerce.number().int().positive() });

/** The message carrying a sign-in code, in the resident's language (plain GSM-7 characters for the SMS). */
export function signInMessage(
  channel: AccountChannel,
  to: string,
  code: string,
  locale: 'fr' | 'en',
  ttlMinutes: number,
): Notification {
  const common = { key: `resident-sign-in:${randomUUID()}`, about: 'resident:sign-in', locale };
  const en = locale === 'en';
  if (channel === 'sms') {
    const body = en
      ? `Vigie: your sign-in code is ${code} (valid ${ttlMinutes} min). Never share it.`
      : `Vigie : votre code de connexion est ${code} (valable ${ttlMinutes} min). Ne le communiquez a personne.`;
    return Notification.parse({ ...common, channel: 'sms', to, body });
  }
  return Notification.parse({
    ...common,
    channel: 'email',
    to,
    subject: en ? `Vigie: your sign-in code ${code}` : `Vigie : votre code de connexion ${code}`,
    text: en
      ? `Hello,\n\nYour code to sign in to "My water meter": ${code}\nIt is valid for ${ttlMinutes} minutes. Never share it.\n\nIf you did not ask for it, ignore this message.\n`
      : `Bonjour,\n\nVotre code pour vous connecter à « Mon compteur d'eau » : ${code}\nIl est valable ${ttlMinutes} minutes. Ne le communiquez à personne.\n\nSi vous n'avez rien demandé, ignorez ce message.\n`,
  });
}

/** The account address of a typed address (alerting's normalisation: E.164, lower-cased email); 400 otherwise. */
function accountAddress(address: string): { channel: AccountChannel; address: string } {
  try {
    return parseAddress(address);
  } catch {
    throw new AppError(
      'ERR_RESIDENT_ADDRESS_INVALID',
      `address: ${maskRecipient(address)} (an E.164 phone number, e.g. +33612345678, or an email address)`,
    );
  }
}

/** The rate-limit key of an address: its normalised form, the raw text (bounded) when it is neither. */
function addressKey(address: unknown): string {
  if (typeof address !== 'string') return '(none)';
  try {
    return parseAddress(address).address;
  } catch {
    return address.trim().toLowerCase().slice(0, 254);
  }
}

function resident(request: FastifyRequest): ResidentSession {
  if (!request.resident) throw new AppError('ERR_RESIDENT_UNAUTHORIZED', 'session: none (sign in first)');
  return request.resident;
}

function meReply(session: ResidentSession) {
  return {
    account: { channel: session.account.channel, address: session.account.address },
    csrfToken: session.csrfToken,
    expiresAt: new Date(session.expiresAtMs).toISOString(),
  };
}

/** Residents' "my water meter" routes; register on the shared HTTP server. */
export const residentRoutes: FastifyPluginAsync<ResidentRoutesOptions> = async (parent, options) => {
  const app = parent.withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  const { store, config, timeZone, logger } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const accounts = createAccounts(store, config, { clock });
  const subscriptions = createSubscriptions(store, { clock });
  const meterSecret = await unsubscribeSecret(store, options.unsubscribeSecret);
  await options.bus.ensureTopic(TOPICS.notifications);

  const signIns = options.metrics.counter(
    'residents_sign_in_requests_total',
    'Sign-in codes asked, by outcome: sent (produced to notifications.v1), invalid, rate_limited',
    ['outcome'],
  );
  const verifications = options.metrics.counter(
    'residents_sign_in_verifications_total',
    'Sign-in codes submitted, by outcome: signed-in, wrong-code, none (no live code), invalid, rate_limited',
    ['outcome'],
  );
  const refusals = options.metrics.counter(
    'residents_requests_refused_total',
    'Residents’ requests refused, by reason: session (401), csrf, meter, subscription (403), rate_limited (429)',
    ['reason'],
  );

  await app.register(cookie);
  await useRateLimits(app);
  app.decorateRequest('resident', null);

  const perIpSignIn = namedLimiter(app, 'residents:sign-in:ip', {
    max: config.signInPerIpPerHour,
    timeWindow: HOUR_MS,
  });
  const perAddressSignIn = namedLimiter(app, 'residents:sign-in:address', {
    max: config.signInPerAddressPerHour,
    timeWindow: HOUR_MS,
    keyGenerator: (request) => `address:${addressKey((request.body as { address?: unknown } | undefined)?.address)}`,
  });
  const perIpVerify = namedLimiter(app, 'residents:verify:ip', { max: config.verifyPerIpPerHour, timeWindow: HOUR_MS });
  const perAccountLink = namedLimiter(app, 'residents:meter-link:account', {
    max: config.linkPerAccountPerHour,
    timeWindow: HOUR_MS,
    keyGenerator: (request) => `account:${request.resident?.account.id ?? 0}`,
  });

  /** Counts the request against `limiter`; answers 429 (and returns true) once the limit is passed. */
  async function limited(
    limiter: typeof perIpSignIn,
    request: FastifyRequest,
    reply: FastifyReply,
    what: string,
  ): Promise<boolean> {
    const refused = await refuseWhenLimited(limiter, request, reply, {
      code: 'ERR_RESIDENT_RATE_LIMITED',
      message: (max) => `${what}: more than ${max} per hour`,
    });
    if (refused) refusals.inc({ reason: 'rate_limited' });
    return refused;
  }

  function crossSite(request: FastifyRequest): boolean {
    return request.headers['sec-fetch-site'] === 'cross-site';
  }

  /** Before a session: JSON bodies only, never a request the browser marks cross-site (login CSRF). */
  const jsonOnly: onRequestHookHandler = async (request) => {
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json' || crossSite(request)) {
      refusals.inc({ reason: 'csrf' });
      throw new AppError(
        'ERR_RESIDENT_CSRF_FORBIDDEN',
        `request: ${type || 'no body type'}${crossSite(request) ? ' from another site' : ''} (a JSON body from this site)`,
      );
    }
  };

  /** A live session from the cookie (401 otherwise); for POST and DELETE, its CSRF token in the header (403). */
  const session: onRequestHookHandler = async (request, reply) => {
    const secret = request.cookies[RESIDENT_COOKIE];
    const found = secret ? await accounts.session(secret) : undefined;
    if (!found) {
      refusals.inc({ reason: 'session' });
      if (secret) clearCookie(request, reply);
      throw new AppError('ERR_RESIDENT_UNAUTHORIZED', 'session: none, expired or ended (sign in with a code)');
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      const header = request.headers[CSRF_HEADER];
      const token = typeof header === 'string' ? header : '';
      if (crossSite(request) || !constantTimeEqual(token, found.csrfToken)) {
        refusals.inc({ reason: 'csrf' });
        throw new AppError(
          'ERR_RESIDENT_CSRF_FORBIDDEN',
          `${CSRF_HEADER}: ${token ? 'wrong' : 'missing'} (the csrfToken of POST /api/me/verify or GET /api/me)`,
        );
      }
    }
    request.resident = found;
  };

  /** 403 unless the route's :deviceId is one of the resident's meters (the same for a device that does not exist). */
  async function ownMeter(request: FastifyRequest, deviceId: string): Promise<void> {
    if (!(await ownsMeter(store, resident(request).account, deviceId))) {
      refusals.inc({ reason: 'meter' });
      throw new AppError('ERR_RESIDENT_METER_FORBIDDEN', `meter: ${deviceId} is not one of your meters`);
    }
  }

  function secure(request: FastifyRequest): boolean {
    if (config.cookieSecure !== 'auto') return config.cookieSecure === 'always';
    return request.protocol === 'https' || (options.publicUrl ?? '').startsWith('https:');
  }

  function clearCookie(request: FastifyRequest, reply: FastifyReply): void {
    reply.clearCookie(RESIDENT_COOKIE, { path: '/api/me', httpOnly: true, sameSite: 'lax', secure: secure(request) });
  }

  const tags = ['my water meter'];
  const noStore = async (_request: FastifyRequest, reply: FastifyReply) => {
    reply.header('cache-control', 'no-store');
  };
  app.addHook('onRequest', noStore);

  app.post(
    '/api/me/sign-in',
    {
      schema: {
        tags,
        summary: 'Ask for a sign-in code (sent by SMS or email to the address)',
        description:
          'Answers 202 whatever the address (known or not). The code is valid 10 min, for 5 tries. Limits: 5 per ' +
          'hour per address, 20 per hour per IP address. JSON bodies only.',
        body: SignInBody,
        response: { 202: SignInReply, ...errorResponses(400, 403, 429, 503) },
      },
      onRequest: [
        jsonOnly,
        async (request, reply) => {
          if (await limited(perIpSignIn, request, reply, 'sign-in codes from this IP address')) return reply;
        },
      ],
      preHandler: async (request, reply) => {
        if (await limited(perAddressSignIn, request, reply, 'sign-in codes for this address')) return reply;
      },
    },
    async (request, reply) => {
      let target: { channel: AccountChannel; address: string };
      try {
        target = accountAddress(request.body.address);
      } catch (err) {
        signIns.inc({ outcome: 'invalid' });
        throw err;
      }
      const issued = await accounts.issueCode(target.channel, target.address);
      const ttlMinutes = Math.round(config.codeTtlMs / 60_000);
      const message = signInMessage(target.channel, target.address, issued.code, request.body.locale, ttlMinutes);
      try {
        await options.bus.produce(TOPICS.notifications, [{ key: target.address, value: JSON.stringify(message) }]);
      } catch (err) {
        throw new AppError(
          'ERR_RESIDENT_NOTIFY_UNAVAILABLE',
          `sign-in code for ${maskRecipient(target.address)}: the bus did not take the message (${(err as Error).message}; try again)`,
          { cause: err, retryable: true },
        );
      }
      signIns.inc({ outcome: 'sent' });
      logger.debug({ to: maskRecipient(target.address) }, 'sign-in code queued');
      return reply
        .code(202)
        .send({ status: 'code-sent' as const, expiresInSeconds: Math.round(config.codeTtlMs / 1000) });
    },
  );

  app.post(
    '/api/me/verify',
    {
      schema: {
        tags,
        summary: 'Sign in with the code received: sets the session cookie, returns the CSRF token',
        body: VerifyBody,
        response: { 200: MeReply, 400: CodeErrorReply, ...errorResponses(403, 429) },
      },
      onRequest: [
        jsonOnly,
        async (request, reply) => {
          if (await limited(perIpVerify, request, reply, 'codes submitted from this IP address')) return reply;
        },
      ],
    },
    async (request, reply) => {
      let target: { channel: AccountChannel; address: string };
      try {
        target = accountAddress(request.body.address);
      } catch (err) {
        verifications.inc({ outcome: 'invalid' });
        throw err;
      }
      const result = await accounts.verify(target.channel, target.address, request.body.code.trim());
      verifications.inc({ outcome: result.outcome });
      if (result.outcome !== 'signed-in') {
        // One answer for a wrong code and no code, but the tries left: no hint whether an address has an account.
        return reply.code(400).send({
          ...errorBody(
            'ERR_RESIDENT_CODE_INVALID',
            result.outcome === 'wrong-code'
              ? `code: wrong (the 6-digit code received; ${result.attemptsLeft} tries left)`
              : `code: none waiting for this address (expired after ${Math.round(config.codeTtlMs / 60_000)} min, used, or too many wrong tries: ask for a new one)`,
          ),
          attemptsLeft: result.outcome === 'wrong-code' ? result.attemptsLeft : 0,
        });
      }
      reply.setCookie(RESIDENT_COOKIE, result.secret, {
        path: '/api/me',
        httpOnly: true,
        sameSite: 'lax',
        secure: secure(request),
        maxAge: Math.floor(config.sessionTtlMs / 1000),
      });
      logger.info({ to: maskRecipient(target.address) }, 'resident signed in');
      return meReply(result.session);
    },
  );

  app.post(
    '/api/me/sign-out',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'End this session (or every session of the account)',
        body: SignOutBody,
        response: { 204: z.null(), ...errorResponses(401, 403) },
      },
      onRequest: session,
    },
    async (request, reply) => {
      await accounts.signOut(resident(request).sessionHash, { everywhere: request.body?.everywhere ?? false });
      clearCookie(request, reply);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/me',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Who is signed in, and the CSRF token',
        response: { 200: MeReply, ...errorResponses(401) },
      },
      onRequest: session,
    },
    async (request) => meReply(resident(request)),
  );

  app.get(
    '/api/me/meters',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'My meters: those of my confirmed subscriptions and those I linked',
        response: { 200: z.object({ meters: z.array(Meter) }), ...errorResponses(401) },
      },
      onRequest: session,
    },
    async (request) => ({ meters: await metersOf(store, resident(request).account) }),
  );

  app.post(
    '/api/me/meters',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Link a meter with the subscriber code printed on the bill',
        description: 'Limit: 10 tries per hour per resident.',
        body: LinkBody,
        response: { 201: Meter, ...errorResponses(400, 401, 403, 429) },
      },
      onRequest: session,
      preHandler: async (request, reply) => {
        if (await limited(perAccountLink, request, reply, 'meter links')) return reply;
      },
    },
    async (request, reply) => {
      const { account } = resident(request);
      const { deviceId, meterCode } = request.body;
      // Derived, nothing looked up: a wrong code for a meter that exists and for one that does not answer alike.
      if (!verifyMeterCode(meterSecret, deviceId, meterCode)) {
        refusals.inc({ reason: 'meter' });
        throw new AppError(
          'ERR_RESIDENT_METER_CODE_FORBIDDEN',
          'meterCode: does not match this meter (the subscriber code printed on the water bill, XXXX-XXXX)',
        );
      }
      await linkMeter(store, account, deviceId, clock);
      const meter = (await metersOf(store, account)).find((m) => m.deviceId === deviceId);
      return reply.code(201).send(meter ?? { deviceId, sources: ['linked' as const] });
    },
  );

  app.delete(
    '/api/me/meters/:deviceId',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Unlink a meter I linked (a subscription’s meter goes with its subscriptions)',
        params: DeviceParams,
        response: { 204: z.null(), ...errorResponses(401, 403, 409) },
      },
      onRequest: session,
    },
    async (request, reply) => {
      const { deviceId } = request.params;
      await ownMeter(request, deviceId);
      if (!(await unlinkMeter(store, resident(request).account, deviceId))) {
        throw new AppError(
          'ERR_RESIDENT_METER_CONFLICT',
          `meter: ${deviceId} is yours through your alert subscriptions (remove them instead)`,
        );
      }
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/api/me/meters/:deviceId/consumption',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Daily or monthly consumption of one of my meters, in litres (local days and months, VIGIE_TZ)',
        params: DeviceParams,
        querystring: ConsumptionQuery,
        response: { 200: ConsumptionReply, ...errorResponses(400, 401, 403) },
      },
      onRequest: session,
    },
    async (request) => {
      const { deviceId } = request.params;
      await ownMeter(request, deviceId);
      const { period } = request.query;
      const today = localDateOf(clock.nowMs(), timeZone);
      if (period === 'day') {
        const to = checkRange('to', request.query.to ?? today, /^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD');
        const from = checkRange(
          'from',
          request.query.from ?? dateMinusDays(to, 29),
          /^\d{4}-\d{2}-\d{2}$/,
          'YYYY-MM-DD',
        );
        checkSpan(daysBetween(from, to), MAX_RANGE.day, 'days');
        const days = await dailyConsumption(store, deviceId, { from, to }, timeZone);
        return { deviceId, period, from, to, timeZone, points: days };
      }
      const to = checkRange('to', request.query.to ?? today.slice(0, 7), /^\d{4}-\d{2}$/, 'YYYY-MM');
      const from = checkRange('from', request.query.from ?? monthMinus(to, 11), /^\d{4}-\d{2}$/, 'YYYY-MM');
      checkSpan(monthsBetween(from, to), MAX_RANGE.month, 'months');
      const months = await monthlyConsumption(store, deviceId, { from, to }, timeZone);
      return {
        deviceId,
        period,
        from,
        to,
        timeZone,
        points: months.map((m) => ({ date: m.month, consumptionL: m.consumptionL, partial: m.partial, days: m.days })),
      };
    },
  );

  app.get(
    '/api/me/meters/:deviceId/alerts',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Leak history of one of my meters (leak, burst, backflow, no consumption), newest first',
        params: DeviceParams,
        querystring: AlertsQuery,
        response: { 200: AlertsReply, ...errorResponses(400, 401, 403) },
      },
      onRequest: session,
    },
    async (request) => {
      const { deviceId } = request.params;
      await ownMeter(request, deviceId);
      const { limit, before } = request.query;
      return {
        alerts: await leakHistory(store, deviceId, {
          limit,
          beforeMs: before === undefined ? undefined : Date.parse(before),
        }),
      };
    },
  );

  app.get(
    '/api/me/subscriptions',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'My alert subscriptions (those of my address), whatever their status',
        response: { 200: z.object({ subscriptions: z.array(SubscriptionReply) }), ...errorResponses(401) },
      },
      onRequest: session,
    },
    async (request) => {
      const { account } = resident(request);
      return { subscriptions: await subscriptions.forAddress(account.channel, account.address) };
    },
  );

  app.post(
    '/api/me/subscriptions',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Receive the alerts of one of my meters at my address (confirmed at once: sign-in proved it)',
        body: AddSubscriptionBody,
        response: {
          201: SubscriptionReply.extend({
            smsStopped: z.boolean().describe('The number sent STOP: nothing reaches it until it sends START'),
          }),
          ...errorResponses(400, 401, 403),
        },
      },
      onRequest: session,
    },
    async (request, reply) => {
      const { account } = resident(request);
      const { deviceId, locale } = request.body;
      await ownMeter(request, deviceId);
      // The address is proven by the sign-in code: no second code (the consent log records it confirmed, on the web).
      const added = await subscriptions.add({
        deviceId,
        channel: account.channel,
        address: account.address,
        locale,
        consent: 'verified',
      });
      const { confirmation: _unused, ...sub } = added;
      return reply.code(201).send(sub);
    },
  );

  app.delete(
    '/api/me/subscriptions/:id',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags,
        summary: 'Remove one of my subscriptions',
        params: SubscriptionParams,
        response: { 204: z.null(), ...errorResponses(401, 403) },
      },
      onRequest: session,
    },
    async (request, reply) => {
      const { account } = resident(request);
      const own = (await subscriptions.forAddress(account.channel, account.address)).find(
        (s) => s.id === request.params.id,
      );
      if (!own) {
        refusals.inc({ reason: 'subscription' });
        throw new AppError(
          'ERR_RESIDENT_SUBSCRIPTION_FORBIDDEN',
          `subscription: ${request.params.id} is not one of yours (GET /api/me/subscriptions lists them)`,
        );
      }
      await subscriptions.remove({ deviceId: own.deviceId, channel: own.channel, address: own.address, source: 'web' });
      return reply.code(204).send(null);
    },
  );

  const accountTags = ['citizen account'];
  const profileReply = async (request: FastifyRequest) => {
    const { account } = resident(request);
    return {
      account: { channel: account.channel, address: account.address },
      ...(await accounts.profile(account.id)),
    };
  };

  app.get(
    '/api/me/profile',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags: accountTags,
        summary: 'My profile',
        response: { 200: ProfileReply, ...errorResponses(401) },
      },
      onRequest: session,
    },
    profileReply,
  );

  app.put(
    '/api/me/profile',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags: accountTags,
        summary: 'Replace my profile (every field optional; an absent one is cleared)',
        body: ProfileBody,
        response: { 200: ProfileReply, ...errorResponses(400, 401, 403) },
      },
      onRequest: session,
    },
    async (request) => {
      await accounts.setProfile(resident(request).account.id, {
        displayName: request.body.displayName || null,
        locale: request.body.locale,
        postalAddress: request.body.postalAddress || null,
      });
      return profileReply(request);
    },
  );

  app.delete(
    '/api/me/account',
    {
      schema: {
        security: CITIZEN_SECURITY,
        tags: accountTags,
        summary: 'Delete my account',
        description:
          'Deletes the account at once, with its sessions, linked meters and profile; the document vault’s keys ' +
          'are destroyed (the documents can never be read again) and consultation answers are kept anonymous. ' +
          'Alert subscriptions are separate consents: STOP by SMS or the link in an email ends them.',
        response: { 204: z.null(), ...errorResponses(401, 403) },
      },
      onRequest: session,
    },
    async (request, reply) => {
      const { account } = resident(request);
      await accounts.deleteAccount(account.id, options.accountErasers ?? []);
      clearCookie(request, reply);
      logger.info({ to: maskRecipient(account.address) }, 'resident account deleted');
      return reply.code(204).send(null);
    },
  );

  const auth: CitizenAuth = {
    session,
    citizen: (request) => {
      const { account } = resident(request);
      return { id: account.id, channel: account.channel, address: account.address };
    },
  };
  for (const plugin of options.citizenPlugins ?? []) await app.register(async (scope) => plugin(scope, auth));
};

function checkRange(key: 'from' | 'to', value: string, shape: RegExp, expected: string): string {
  const valid =
    shape.test(value) &&
    !Number.isNaN(Date.parse(`${value.length === 7 ? `${value}-01` : value}T00:00:00Z`)) &&
    new Date(`${value.length === 7 ? `${value}-01` : value}T00:00:00Z`).toISOString().startsWith(value);
  if (!valid)
    throw new AppError('ERR_RESIDENT_RANGE_INVALID', `${key}: ${JSON.stringify(value.slice(0, 20))} (${expected})`);
  return value;
}

function checkSpan(count: number, max: number, unit: string): void {
  if (count < 1 || count > max) {
    throw new AppError(
      'ERR_RESIDENT_RANGE_INVALID',
      `from..to: ${count < 1 ? 'from is after to' : `${count} ${unit}`} (from before to, at most ${max} ${unit})`,
    );
  }
}
