import { pino } from 'pino';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { z } from 'zod';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore, twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { httpConfigSchema } from './config.ts';
import { httpMigrations } from './index.ts';
import { namedLimiter, refuseWhenLimited, useRateLimits } from './rate-limit.ts';
import { type HttpPlugin, startHttp } from './server.ts';

/**
 * Limits counted in the operational store: several processes serving the API on one database count together, each
 * limiter apart from the others, and the client is the one a trusted proxy names.
 */

/** A route limited to 3 a minute, and two handler limiters keyed by the IP address alike. */
const limitedRoutes: HttpPlugin = async (app) => {
  await useRateLimits(app);
  app.get('/t/route', { config: { rateLimit: { max: 3, timeWindow: 60_000 } } }, async (request) => ({
    ip: request.ip,
  }));
  const first = namedLimiter(app, 'test:first', { max: 2, timeWindow: 60_000 });
  const second = namedLimiter(app, 'test:second', { max: 2, timeWindow: 60_000 });
  const short = namedLimiter(app, 'test:short', { max: 1, timeWindow: 400 });
  const refusal = { code: 'ERR_TEST_RATE_LIMITED', message: (max: number) => `more than ${max}` };
  app.post('/t/first', async (request, reply) =>
    (await refuseWhenLimited(first, request, reply, refusal)) ? reply : { ok: 1 },
  );
  app.post('/t/second', async (request, reply) =>
    (await refuseWhenLimited(second, request, reply, refusal)) ? reply : { ok: 2 },
  );
  app.post('/t/short', async (request, reply) =>
    (await refuseWhenLimited(short, request, reply, refusal)) ? reply : { ok: 3 },
  );
};

async function serve(store: SqlStore, config: Partial<z.input<typeof httpConfigSchema>> = {}) {
  const http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0, ...config }),
    store,
    logger: pino({ level: 'silent' }),
    metrics: new Metrics(),
    plugins: [limitedRoutes],
  });
  onTestFinished(() => http.close());
  return http.url;
}

const call = async (url: string, method: 'GET' | 'POST', headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method, headers });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    retryAfter: res.headers.get('retry-after'),
  };
};

describe('rate limits shared through the store', () => {
  it('counts the requests to two servers on one PostgreSQL database together, per route and per limiter', async () => {
    const [a, b] = await twoStoresOnNewDatabase(inject('databaseUrl'), [httpMigrations]);
    const [one, two] = [await serve(a), await serve(b)];
    // 3 a minute on the route, whichever server answers.
    const statuses = [];
    for (const url of [one, two, one, two]) statuses.push((await call(`${url}/t/route`, 'GET')).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    // Two limiters keyed by the same address keep their own counts: 2 each, not 2 in all.
    const first = [];
    const second = [];
    for (const url of [one, two, one]) first.push((await call(`${url}/t/first`, 'POST')).status);
    for (const url of [two, one, two]) second.push((await call(`${url}/t/second`, 'POST')).status);
    expect(first).toEqual([200, 200, 429]);
    expect(second).toEqual([200, 200, 429]);
    const refused = await call(`${two}/t/first`, 'POST');
    expect(refused.body).toMatchObject({
      error: { code: 'ERR_TEST_RATE_LIMITED', message: 'more than 2 (try again in 1 min)' },
    });
    expect(Number(refused.retryAfter)).toBeGreaterThan(50);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(60);
    // The table holds hashes, not the address.
    const rows = await a.query<{ bucket: string }>('SELECT bucket FROM http_rate_limits');
    expect(rows.rows.length).toBe(3);
    for (const row of rows.rows) expect(row.bucket).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(['pglite', 'postgres'] as const)('opens a new window once the last has ended, on %s', async (engine) => {
    const store = await openTestStore(engine, [httpMigrations]);
    const url = await serve(store);
    expect((await call(`${url}/t/short`, 'POST')).status).toBe(200);
    expect((await call(`${url}/t/short`, 'POST')).status).toBe(429);
    await new Promise((resolve) => setTimeout(resolve, 450));
    expect((await call(`${url}/t/short`, 'POST')).status).toBe(200);
    expect((await call(`${url}/t/short`, 'POST')).status).toBe(429);
  });

  it('counts each client a trusted proxy names apart, and ignores the header from anyone else', async () => {
    const store = await openTestStore('pglite', [httpMigrations]);
    const behindProxy = await serve(store, { trustProxy: '10.0.0.0/8, 127.0.0.1' });
    const forwarded = (ip: string) => ({ 'x-forwarded-for': ip });
    const seen = [];
    for (const ip of ['203.0.113.7', '203.0.113.7', '203.0.113.7', '203.0.113.7', '198.51.100.2']) {
      const res = await call(`${behindProxy}/t/route`, 'GET', forwarded(ip));
      seen.push(`${res.body.ip ?? ''} ${res.status}`);
    }
    expect(seen).toEqual(['203.0.113.7 200', '203.0.113.7 200', '203.0.113.7 200', ' 429', '198.51.100.2 200']);
    // Not trusted (the default): the header changes nothing, every request is the peer's.
    const direct = await serve(await openTestStore('pglite', [httpMigrations]));
    const ips = [];
    for (const ip of ['203.0.113.7', '198.51.100.2'])
      ips.push((await call(`${direct}/t/route`, 'GET', forwarded(ip))).body.ip);
    expect(ips).toEqual(['127.0.0.1', '127.0.0.1']);
  });

  it('refuses a limiter without a name at start, so that two never count together by accident', async () => {
    const store = await openTestStore('pglite', [httpMigrations]);
    const nameless: HttpPlugin = async (app) => {
      await useRateLimits(app);
      app.createRateLimit({ max: 1, timeWindow: 1_000 });
    };
    await expect(
      startHttp({
        config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
        store,
        logger: pino({ level: 'silent' }),
        metrics: new Metrics(),
        plugins: [nameless],
      }),
    ).rejects.toThrow('needs a groupId');
  });
});

describe('http.trustProxy', () => {
  const parse = (trustProxy: unknown) => httpConfigSchema.safeParse({ trustProxy });
  it('takes false or the proxies’ addresses and CIDR blocks', () => {
    expect(httpConfigSchema.parse({}).trustProxy).toBe(false);
    expect(parse('false').data?.trustProxy).toBe(false);
    expect(parse(' 10.0.0.0/8, 127.0.0.1 ,fd00::/8').data?.trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1', 'fd00::/8']);
    expect(parse(['172.16.0.0/12']).data?.trustProxy).toEqual(['172.16.0.0/12']);
  });
  it('refuses every sender, a hop count and what is not an address, saying why', () => {
    for (const bad of ['true', true, '2', '10.0.0.0/33', 'proxy.local', '10.0.0.1/8/2']) {
      const result = parse(bad);
      expect(result.success, String(bad)).toBe(false);
      expect(result.error?.issues[0]?.message).toContain('the proxies’ addresses and CIDR blocks');
    }
  });
});
