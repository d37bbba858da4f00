import formbody from '@fastify/formbody';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  LogController,
  type onRequestHookHandler,
  type RawReplyDefaultExpression,
  type RawRequestDefaultExpression,
  type RawServerDefault,
} from 'fastify';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  type FastifyPluginAsyncZod,
  hasZodFastifySchemaValidationErrors,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createOperatorTokens, type Operator, type OperatorTokens, type Role, roleAllows } from './auth.ts';
import { CITIZEN_COOKIE } from './citizen.ts';
import type { HttpConfig } from './config.ts';
import { sqlRateLimitStore } from './rate-limit-store.ts';

/**
 * The HTTP server every service mounts its routes on (fastify 5): zod schemas on every route (validation and
 * serialization, fastify-type-provider-zod), the OpenAPI document at `/docs/json` and its UI at `/docs`, forms
 * (`application/x-www-form-urlencoded`, for Twilio webhooks and HTML forms), operator bearer tokens with roles
 * (`app.authorize(role)`), one error shape, `/healthz`. `createHttpServer` builds it without listening (tests
 * may `inject`); `startHttp` builds, listens and returns how to close it (STYLE.md §10: build split from listen).
 *
 * Errors, always `{"error": {"code", "message", "issues"?}}`: zod validation → 400 `ERR_HTTP_VALIDATION` with the
 * issues (`path` is `body.x`, `querystring.y`, `params.z`); an AppError → its status by the code's suffix
 * (`_NOT_FOUND` 404, `_UNAUTHORIZED` 401, `_FORBIDDEN` 403, `_CONFLICT` 409, `_INVALID` 400, `_TOO_LARGE` 413,
 * `_RATE_LIMITED` 429; otherwise 503 when retryable, else 500); anything else → 500 `ERR_HTTP_INTERNAL`, logged,
 * its message not sent. Logs stay quiet (one debug line per request, errors at error) and never hold a header, a
 * query string or a body: only the method, the route pattern and the status.
 */

/** The fastify instance with zod types: what route plugins receive. */
export type HttpServer = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** A module's routes: a fastify plugin with zod types (register several; each is encapsulated). */
export type HttpPlugin = FastifyPluginAsyncZod;

declare module 'fastify' {
  interface FastifyInstance {
    /** An onRequest hook refusing requests without a valid bearer token (401) or with a lower role (403). */
    authorize(role: Role): onRequestHookHandler;
    /** The operator token store. */
    readonly operatorTokens: OperatorTokens;
    /**
     * Options for `register(rateLimit, app.rateLimitSettings)`: limits counted in the operational store, together
     * with every other process on it (rate-limit-store.ts); never global. A `createRateLimit` limiter needs a
     * `groupId`, its name.
     */
    readonly rateLimitSettings: { readonly global: false; readonly store: FastifyRateLimitStoreCtor };
  }
  interface FastifyRequest {
    /** Who the bearer token belongs to, once `authorize` let the request through; null otherwise. */
    operator: Operator | null;
  }
}

/** One zod issue, as the API reports it. */
export const ErrorIssue = z.object({
  path: z.string().describe('Where: body.note, querystring.limit, params.alertId…'),
  message: z.string().describe('What is wrong there'),
});

/** The body of every error response. */
export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().describe('Stable code, ERR_<AREA>_<WHAT> (docs/errors.md)'),
      message: z.string().describe('What failed, the offending value, what is allowed'),
      issues: z
        .array(ErrorIssue)
        .optional()
        .describe(
          'What is wrong, one entry per field (400: ERR_HTTP_VALIDATION and the services’ own validation errors)',
        ),
    }),
  })
  .describe('An error');
/** The body of every error response. */
export type ErrorBody = z.output<typeof ErrorBody>;

/** Builds an error body (for a plugin answering an error itself). */
export function errorBody(code: string, message: string, issues?: ErrorBody['error']['issues']): ErrorBody {
  return { error: { code, message, ...(issues ? { issues } : {}) } };
}

/** The error responses of a route, for its schema: `response: { 200: X, ...errorResponses(401, 404) }`. */
export function errorResponses<S extends number>(...statuses: S[]): Record<S, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as Record<S, typeof ErrorBody>;
}

/** OpenAPI security requirement of routes that need a bearer token. */
export const BEARER_SECURITY = [{ bearerAuth: [] as string[] }];

/** OpenAPI security requirement of the citizen account's routes (a signed-in session; see citizen.ts). */
export const CITIZEN_SECURITY = [{ citizenSession: [] as string[] }];

const STATUS_BY_SUFFIX: ReadonlyArray<readonly [RegExp, number]> = [
  [/_NOT_FOUND$/, 404],
  [/_UNAUTHORIZED$/, 401],
  [/_FORBIDDEN$/, 403],
  [/_CONFLICT$/, 409],
  [/_INVALID$/, 400],
  [/_TOO_LARGE$/, 413],
  [/_RATE_LIMITED$/, 429],
  // Exact codes whose suffix says nothing (a `_CLOSED` rule would catch ERR_STORE_CLOSED too).
  [
    /^ERR_(CONSULTATION_(ALREADY_ANSWERED|ALREADY_CLOSED|CLOSED)|MOBILITY_ACCOUNT_CLOSED|DEADLETTER_(NOT_REPLAYABLE|RESOLVED))$/,
    409,
  ],
];

/** The HTTP status of an AppError raised in a route: by its code's suffix, else 503 (retryable) or 500. */
export function httpStatusOf(err: AppError): number {
  for (const [suffix, status] of STATUS_BY_SUFFIX) if (suffix.test(err.code)) return status;
  return err.retryable ? 503 : 500;
}

/** What the server needs. */
export interface HttpServerDeps {
  readonly config: HttpConfig;
  readonly store: SqlStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Version shown in the OpenAPI document (default 0.1.0). */
  readonly version?: string;
}

/** Builds the server (not listening): register route plugins on it, then `listen` or `inject`. */
export function createHttpServer(deps: HttpServerDeps): HttpServer {
  const { config, store, metrics } = deps;
  const logger = deps.logger.child({ component: 'http' });
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // Quiet when things go well (STYLE.md §6.9): the onResponse hook below logs each request at debug instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // Idle keep-alive sockets are closed on close(), requests in flight finish (fastify's default, stated).
    forceCloseConnections: 'idle',
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>() as unknown as HttpServer;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const requests = metrics.counter('http_requests_total', 'HTTP requests answered, by route pattern and status', [
    'method',
    'route',
    'status',
  ]);
  const durations = metrics.histogram(
    'http_request_duration_seconds',
    'Time to answer an HTTP request, by route pattern',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    ['method', 'route'],
  );
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern (bounded), never the URL: a query string may carry a code or a token.
    const route = request.routeOptions.url ?? 'unmatched';
    requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    durations.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    request.log.debug(
      { method: request.method, route, status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  const tokens = createOperatorTokens(store);
  app.decorate('operatorTokens', tokens);
  app.decorate('rateLimitSettings', { global: false as const, store: sqlRateLimitStore(store) });
  app.decorateRequest('operator', null);
  app.decorate('authorize', (role: Role): onRequestHookHandler => {
    return async (request) => {
      const header = request.headers.authorization;
      const match = header ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
      if (!match) {
        throw new AppError(
          'ERR_HTTP_UNAUTHORIZED',
          'authorization: missing (a bearer token: Authorization: Bearer vigie_…; vigie tokens create)',
        );
      }
      const operator = await tokens.verify(match[1] as string);
      if (!operator) {
        throw new AppError(
          'ERR_HTTP_UNAUTHORIZED',
          'bearer token: not valid (unknown, revoked or mistyped; vigie tokens list shows the active ones)',
        );
      }
      if (!roleAllows(operator.role, role)) {
        throw new AppError('ERR_HTTP_FORBIDDEN', `role: ${operator.role} (this needs ${role} or above)`);
      }
      request.operator = operator;
    };
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const issues = err.validation.map((v) => ({
        path: [where, ...v.instancePath.split('/').filter(Boolean)].join('.'),
        message: v.message ?? 'invalid',
      }));
      return sendError(
        reply,
        400,
        'ERR_HTTP_VALIDATION',
        `request ${where}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')} (see /docs)`.slice(0, 2000),
        issues,
      );
    }
    if (err instanceof AppError) {
      const status = httpStatusOf(err);
      if (status >= 500) {
        request.log.error({ err, method: request.method, route }, 'request failed');
        if (status === 503) reply.header('retry-after', '5');
        return sendError(reply, status, err.code, status === 503 ? err.message : 'internal error (see the server log)');
      }
      if (status === 401) reply.header('www-authenticate', 'Bearer realm="vigie"');
      return sendError(reply, status, err.code, err.message);
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      const code =
        status === 413
          ? 'ERR_HTTP_BODY_TOO_LARGE'
          : status === 415
            ? 'ERR_HTTP_UNSUPPORTED_MEDIA_TYPE'
            : status === 404
              ? 'ERR_HTTP_NOT_FOUND'
              : 'ERR_HTTP_BAD_REQUEST';
      return sendError(reply, status, code, `request: ${err.message}`);
    }
    request.log.error({ err, method: request.method, route }, 'request failed');
    return sendError(reply, 500, 'ERR_HTTP_INTERNAL', 'internal error (see the server log)');
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '';
    return sendError(reply, 404, 'ERR_HTTP_NOT_FOUND', `route: ${request.method} ${path.slice(0, 200)} (see /docs)`);
  });

  app.register(formbody);
  app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Vigie API',
        description:
          'The operators’ alert lifecycle API and the citizen services. Operator routes need a bearer token ' +
          '(vigie tokens create --name N --role viewer|operator|admin). Errors: {"error": {"code", "message", "issues"?}}.',
        version: deps.version ?? '0.1.0',
      },
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', description: 'An operator token: vigie_<id>_<secret>' },
          citizenSession: {
            type: 'apiKey',
            in: 'cookie',
            name: CITIZEN_COOKIE,
            description:
              'A citizen’s session (POST /api/me/sign-in, then /api/me/verify); every method but GET also needs ' +
              'its CSRF token in x-csrf-token',
          },
        },
      },
    },
    transform: createJsonSchemaTransform({ skipList: ['/docs', '/docs/', '/docs/*', '/docs/json', '/docs/yaml'] }),
    // Schemas with a `.meta({ id })` become components, referenced by $ref.
    transformObject: createJsonSchemaTransformObject({}),
  });
  app.register(swaggerUi, { routePrefix: '/docs' });

  // In a plugin, so it is registered after swagger's onRoute hook and appears in the document.
  app.register(async (scope) => {
    scope.get(
      '/healthz',
      {
        schema: {
          tags: ['system'],
          summary: 'Liveness',
          description: 'Answers 200 while the server runs (503 once it is closing).',
          response: { 200: z.object({ status: z.literal('ok') }) },
        },
      },
      async () => ({ status: 'ok' as const }),
    );
  });
  return app;
}

function sendError(
  reply: FastifyReply,
  status: number,
  code: string,
  message: string,
  issues?: ErrorBody['error']['issues'],
): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(errorBody(code, message, issues));
}

/** A listening server. */
export interface RunningHttp {
  readonly app: HttpServer;
  /** The port bound (useful with port 0). */
  readonly port: number;
  /** `http://<host>:<port>` to reach it from this machine (127.0.0.1 when listening on every interface). */
  readonly url: string;
  /** Stops accepting, lets requests in flight finish, closes idle connections. */
  close(): Promise<void>;
}

/**
 * Builds the server, registers `plugins` (each module's routes), listens on `config.host:config.port`. Rejects with
 * `ERR_HTTP_LISTEN` when the port cannot be bound. What `vigie serve` runs, and what `vigie start` mounts.
 */
export async function startHttp(
  deps: HttpServerDeps & { readonly plugins?: readonly HttpPlugin[] },
): Promise<RunningHttp> {
  const app = createHttpServer(deps);
  for (const plugin of deps.plugins ?? []) app.register(plugin);
  try {
    await app.listen({ host: deps.config.host, port: deps.config.port });
  } catch (err) {
    await app.close().catch(() => {});
    throw new AppError(
      'ERR_HTTP_LISTEN',
      `HTTP server: cannot listen on ${deps.config.host}:${deps.config.port} (${(err as Error).message}; a free port, VIGIE_HTTP_PORT)`,
      { cause: err },
    );
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : deps.config.port;
  const host = deps.config.host === '0.0.0.0' || deps.config.host === '::' ? '127.0.0.1' : deps.config.host;
  return {
    app,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    close: () => app.close(),
  };
}
