import { inject } from 'vitest';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { type HttpPlugin, httpConfigSchema, httpMigrations, type Role, startHttp } from '../../services/http/index.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';
import { alertingMigrations } from '../index.ts';

/** Who holds the fixture's token of each role: the names the routes record (`acknowledgedBy`, `createdBy`...). */
export const TEST_OPERATORS = { viewer: 'vera', operator: 'otto', admin: 'ada' } as const satisfies Record<
  Role,
  string
>;

/** A JSON answer as the API tests read it: any object, with the error body's code and issues when it is one. */
export type ApiBody = Record<string, unknown> & { error?: { code: string; issues?: { path: string }[] } };

/** What `request` sends: the role whose token goes in `authorization` (none: no header) and a JSON body. */
export interface ApiRequestOptions {
  readonly token?: Role | undefined;
  readonly body?: unknown;
}

/** An operation of the OpenAPI document (`/docs/json`), as the API tests check it. */
export interface ApiOperation {
  readonly tags: string[];
  readonly security: unknown;
  readonly responses: Record<string, unknown>;
}

/** The OpenAPI document, read: every `METHOD /path`, the operations under `/api/`, the component schemas' names. */
export interface OpenApiSummary {
  readonly routes: string[];
  readonly apiOperations: ApiOperation[];
  readonly schemas: string[];
}

/** The HTTP server with the routes under test, its store and an operator token of each role. */
export interface ApiTestServer {
  readonly store: SqlStore;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** A bearer token of each role, held by `TEST_OPERATORS[role]`. */
  readonly tokens: Readonly<Record<Role, string>>;
  /** Sends `method path` (JSON body when given) with the token of `options.token`; the status and the JSON answer. */
  request(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options?: ApiRequestOptions,
  ): Promise<{ status: number; body: ApiBody }>;
  /** Reads `/docs/json` (no token needed). */
  openApi(): Promise<OpenApiSummary>;
  /** Stops the server, closes the store (and drops the PostgreSQL database). */
  close(): Promise<void>;
}

/** How to build the server: the route plugins (given the store) and the store's engine (default PGlite in memory). */
export interface ApiTestServerOptions {
  readonly routes: (store: SqlStore) => readonly HttpPlugin[];
  readonly engine?: 'pglite' | 'postgres';
}

/** Opens a store with the alerting and HTTP migrations, listens on a free port with `routes`, makes the tokens. */
export async function startApiTestServer(options: ApiTestServerOptions): Promise<ApiTestServer> {
  const db = options.engine === 'postgres' ? await createTestDatabase(inject('databaseUrl')) : undefined;
  const store = await openStore({ databaseUrl: db?.url, pgliteDir: 'memory://' }, [alertingMigrations, httpMigrations]);
  const closeStore = async () => {
    await store.close();
    await db?.drop();
  };
  const http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics: new Metrics(),
    plugins: options.routes(store),
  }).catch(async (err: unknown) => {
    await closeStore();
    throw err;
  });
  const close = async () => {
    await http.close();
    await closeStore();
  };
  const tokens: Record<Role, string> = { viewer: '', operator: '', admin: '' };
  try {
    for (const role of Object.keys(tokens) as Role[]) {
      tokens[role] = (await http.app.operatorTokens.create(TEST_OPERATORS[role], role)).token;
    }
  } catch (err) {
    await close();
    throw err;
  }
  const { url } = http;

  const request: ApiTestServer['request'] = async (method, path, { token, body } = {}) => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${tokens[token]}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${url}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as ApiBody };
  };

  return {
    store,
    url,
    tokens,
    request,
    async openApi() {
      const doc = (await request('GET', '/docs/json')).body as unknown as {
        paths: Record<string, Record<string, ApiOperation>>;
        components: { schemas: Record<string, unknown> };
      };
      const paths = Object.entries(doc.paths);
      return {
        routes: paths.flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`)),
        apiOperations: paths
          .filter(([path]) => path.startsWith('/api/'))
          .flatMap(([, methods]) => Object.values(methods)),
        schemas: Object.keys(doc.components.schemas),
      };
    },
    close,
  };
}
