import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { httpConfigSchema } from './config.ts';
import { httpMigrations } from './index.ts';
import { errorResponses, type HttpPlugin, startHttp } from './server.ts';

/** A server on a free port with `plugins`, PGlite in memory, and its log lines captured. */
async function serve(plugins: HttpPlugin[], config: Partial<z.input<typeof httpConfigSchema>> = {}) {
  const store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations]);
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
  const metrics = new Metrics();
  const http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0, ...config }),
    store,
    logger,
    metrics,
    plugins,
  });
  onTestFinished(async () => {
    await http.close();
    await store.close();
  });
  return { http, store, lines, metrics, url: http.url };
}

/** Routes to exercise the server's own behaviour. */
const testRoutes: HttpPlugin = async (app) => {
  app.post(
    '/test/echo',
    {
      schema: {
        tags: ['test'],
        querystring: z.strictObject({ mode: z.enum(['plain', 'loud']).default('plain') }),
        body: z.strictObject({ n: z.number().int(), name: z.string().min(2) }),
        response: { 200: z.object({ n: z.number(), name: z.string(), mode: z.string() }), ...errorResponses(400) },
      },
    },
    async (request) => ({ ...request.body, mode: request.query.mode }),
  );
  app.post('/test/form', { schema: { body: z.object({ Body: z.string(), From: z.string() }) } }, async (request) => ({
    got: request.body,
  }));
  app.get(
    '/test/admin',
    { onRequest: app.authorize('admin'), schema: { response: { 200: z.object({ by: z.string() }) } } },
    async (request) => ({ by: request.operator?.name ?? '' }),
  );
  app.get(
    '/test/viewer',
    { onRequest: app.authorize('viewer'), schema: { response: { 200: z.object({ role: z.string() }) } } },
    async (request) => ({ role: request.operator?.role ?? '' }),
  );
  app.get('/test/bug', { schema: {} }, async () => {
    throw new Error('secret internals: password=hunter2');
  });
  app.get('/test/conflict', { schema: {} }, async () => {
    throw new AppError('ERR_TEST_CONFLICT', 'thing: taken (another one)');
  });
  app.get('/test/unavailable', { schema: {} }, async () => {
    throw new AppError('ERR_STORE_UNREACHABLE', 'cannot connect to PostgreSQL: db (down)', { retryable: true });
  });
};

describe('http server', () => {
  it('answers /healthz and gives unknown routes a 404 in the error shape when nothing is registered', async () => {
    const { url } = await serve([]);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const missing = await fetch(`${url}/nope?x=1`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: 'ERR_HTTP_NOT_FOUND', message: 'route: GET /nope (see /docs)' },
    });
  });

  it('refuses a body or a query that fails its zod schema with 400 and every issue when a route has schemas', async () => {
    const { url } = await serve([testRoutes]);
    const ok = await fetch(`${url}/test/echo?mode=loud`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 3, name: 'ab' }),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ n: 3, name: 'ab', mode: 'loud' });

    const bad = await fetch(`${url}/test/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1.5, name: 'a', extra: true }),
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; issues: { path: string }[] } };
    expect(body.error.code).toBe('ERR_HTTP_VALIDATION');
    expect(body.error.issues.map((i) => i.path).sort()).toEqual(['body', 'body.n', 'body.name']);

    const badQuery = await fetch(`${url}/test/echo?mode=whisper`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1, name: 'ab' }),
    });
    expect(badQuery.status).toBe(400);
    expect(await badQuery.json()).toMatchObject({
      error: { code: 'ERR_HTTP_VALIDATION', issues: [{ path: 'querystring.mode' }] },
    });
  });

  it('answers 400 for malformed JSON, 413 over the body limit and 415 for an unknown media type', async () => {
    const { url } = await serve([testRoutes], { bodyLimitBytes: 1024 });
    const post = (body: string, type = 'application/json') =>
      fetch(`${url}/test/echo`, { method: 'POST', headers: { 'content-type': type }, body });
    const malformed = await post('{"n": 1,');
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { code: 'ERR_HTTP_BAD_REQUEST' } });
    const large = await post(JSON.stringify({ n: 1, name: 'x'.repeat(2000) }));
    expect(large.status).toBe(413);
    expect(await large.json()).toMatchObject({ error: { code: 'ERR_HTTP_BODY_TOO_LARGE' } });
    const unknownType = await post('n=1', 'application/x-unknown');
    expect(unknownType.status).toBe(415);
    expect(await unknownType.json()).toMatchObject({ error: { code: 'ERR_HTTP_UNSUPPORTED_MEDIA_TYPE' } });
  });

  it('parses application/x-www-form-urlencoded bodies when a route takes a form', async () => {
    const { url } = await serve([testRoutes]);
    const res = await fetch(`${url}/test/form`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ Body: 'STOP', From: '+33612345678' }).toString(),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ got: { Body: 'STOP', From: '+33612345678' } });
  });

  it('refuses no token and a bad token with 401, a lower role with 403, and lets a high enough role through', async () => {
    const { url, http } = await serve([testRoutes]);
    const tokens = http.app.operatorTokens;
    const viewer = (await tokens.create('vera', 'viewer')).token;
    const admin = (await tokens.create('ada@city.example', 'admin')).token;
    const get = (path: string, token?: string) =>
      fetch(`${url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});

    const none = await get('/test/viewer');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="vigie"');
    expect(await none.json()).toMatchObject({ error: { code: 'ERR_HTTP_UNAUTHORIZED' } });
    expect((await get('/test/viewer', 'not-a-token')).status).toBe(401);
    // The token with its last character changed (to another one: a token already ending in A stayed valid).
    const altered = `${viewer.slice(0, -1)}${viewer.endsWith('A') ? 'B' : 'A'}`;
    expect(altered).not.toBe(viewer);
    expect((await get('/test/viewer', altered)).status).toBe(401);
    const basic = await fetch(`${url}/test/viewer`, { headers: { authorization: 'Basic dXNlcjpwYXNz' } });
    expect(basic.status).toBe(401);

    const low = await get('/test/admin', viewer);
    expect(low.status).toBe(403);
    expect(await low.json()).toEqual({
      error: { code: 'ERR_HTTP_FORBIDDEN', message: 'role: viewer (this needs admin or above)' },
    });
    expect(await (await get('/test/viewer', viewer)).json()).toEqual({ role: 'viewer' });
    expect(await (await get('/test/viewer', admin)).json()).toEqual({ role: 'admin' });
    expect(await (await get('/test/admin', admin)).json()).toEqual({ by: 'ada@city.example' });

    await tokens.revoke({ name: 'vera' });
    expect((await get('/test/viewer', viewer)).status).toBe(401);
  });

  it('maps AppError codes to statuses and hides the message of a bug behind 500 ERR_HTTP_INTERNAL', async () => {
    const { url, lines } = await serve([testRoutes]);
    const bug = await fetch(`${url}/test/bug`);
    expect(bug.status).toBe(500);
    const text = await bug.text();
    expect(JSON.parse(text)).toEqual({
      error: { code: 'ERR_HTTP_INTERNAL', message: 'internal error (see the server log)' },
    });
    expect(text).not.toContain('hunter2');
    const errorLine = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request failed');
    expect(errorLine).toMatchObject({ level: 50, route: '/test/bug' });

    const conflict = await fetch(`${url}/test/conflict`);
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({
      error: { code: 'ERR_TEST_CONFLICT', message: 'thing: taken (another one)' },
    });
    const unavailable = await fetch(`${url}/test/unavailable`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('5');
  });

  it('never logs a token, a header or a query string, and counts requests by route pattern', async () => {
    const { url, http, lines, metrics } = await serve([testRoutes]);
    const { token } = await http.app.operatorTokens.create('ops', 'admin');
    const secretInQuery = 'code=918273645';
    for (const path of ['/test/admin', `/test/viewer?${secretInQuery}`, '/test/bug']) {
      await fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    }
    // The secret is base64url: it may itself hold '_'.
    const secretPart = token.replace(/^vigie_\d+_/, '');
    const all = lines.join('\n');
    expect(all).not.toContain(secretPart);
    expect(all).not.toContain('918273645');
    expect(all).not.toMatch(/authorization/i);
    expect(lines.some((l) => l.includes('"route":"/test/viewer"'))).toBe(true);
    expect(await metrics.value('http_requests_total', { route: '/test/viewer', status: '200' })).toBe(1);
    expect(await metrics.value('http_requests_total', { route: '/test/bug', status: '500' })).toBe(1);
  });

  it('serves the OpenAPI document at /docs/json listing every route, and its UI at /docs', async () => {
    const { url } = await serve([testRoutes]);
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/healthz',
        '/test/admin',
        '/test/bug',
        '/test/conflict',
        '/test/echo',
        '/test/form',
        '/test/unavailable',
        '/test/viewer',
      ].sort(),
    );
    expect(doc.components.securitySchemes).toHaveProperty('bearerAuth');
    const ui = await fetch(`${url}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger-ui');
  });

  it('lets a request in flight finish and refuses new connections when closed', async () => {
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let arrived: () => void = () => {};
    const started = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const slow: HttpPlugin = async (app) => {
      app.get('/test/slow', { schema: {} }, async () => {
        arrived();
        await held;
        return { done: true };
      });
    };
    const { http, url } = await serve([slow]);
    const inFlight = fetch(`${url}/test/slow`);
    await started;
    const closing = http.close();
    release();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ done: true });
    await closing;
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('rejects with ERR_HTTP_LISTEN when the port is taken', async () => {
    const { http } = await serve([]);
    const store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations]);
    onTestFinished(() => store.close());
    const error = await startHttp({
      config: httpConfigSchema.parse({ host: '127.0.0.1', port: http.port }),
      store,
      logger: pino({ level: 'silent' }),
      metrics: new Metrics(),
    }).then(
      () => undefined,
      (err: unknown) => err as AppError,
    );
    expect(error?.code).toBe('ERR_HTTP_LISTEN');
    expect(error?.message).toContain(String(http.port));
  });
});
