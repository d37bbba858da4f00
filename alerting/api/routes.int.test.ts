import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { AlertTransition } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { httpConfigSchema, httpMigrations, type RunningHttp, startHttp } from '../../services/http/index.ts';
import { alertingMigrations } from '../index.ts';
import { recordTransition } from '../lifecycle-store.ts';
import { leakTransition } from '../test-helpers.ts';
import { alertRoutes } from './routes.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');

/** One server for the file (PGlite takes seconds to open); each test uses alerts of its own devices. */
let store: SqlStore;
let http: RunningHttp;
const clock = new ManualClock(T0);
const token = { viewer: '', operator: '', admin: '' };

beforeAll(async () => {
  store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations, httpMigrations]);
  http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics: new Metrics(),
    plugins: [alertRoutes({ store, clock })],
  });
  token.viewer = (await http.app.operatorTokens.create('vera', 'viewer')).token;
  token.operator = (await http.app.operatorTokens.create('otto', 'operator')).token;
  token.admin = (await http.app.operatorTokens.create('ada', 'admin')).token;
});
afterAll(async () => {
  await http?.close();
  await store?.close();
});

let devices = 0;
/** Records an open leak on a new device; returns its alert id. */
async function openLeak(overrides: Partial<AlertTransition> = {}): Promise<string> {
  devices++;
  const deviceId = `WM-${String(devices).padStart(6, '0')}`;
  const t = leakTransition(deviceId, overrides);
  await recordTransition(store, t);
  return t.alertId;
}

type Who = keyof typeof token | 'nobody';

async function call(who: Who, method: 'GET' | 'POST', path: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (who !== 'nobody') headers.authorization = `Bearer ${token[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${http.url}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> & { error?: { code: string } } };
}

const alertPath = (id: string, action = '') => `/api/alerts/${encodeURIComponent(id)}${action}`;

describe('alert routes', () => {
  it('refuses every route without a token (401) and the actions with a viewer token (403)', async () => {
    const id = await openLeak();
    for (const [method, path] of [
      ['GET', '/api/alerts'],
      ['GET', alertPath(id)],
      ['POST', alertPath(id, '/acknowledge')],
      ['POST', alertPath(id, '/resolve')],
      ['POST', alertPath(id, '/comments')],
    ] as const) {
      const res = await call('nobody', method, path, method === 'POST' ? { text: 'x' } : undefined);
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error?.code).toBe('ERR_HTTP_UNAUTHORIZED');
    }
    for (const [path, body] of [
      ['/acknowledge', {}],
      ['/resolve', {}],
      ['/comments', { text: 'hello' }],
    ] as const) {
      const res = await call('viewer', 'POST', alertPath(id, path), body);
      expect(res.status, path).toBe(403);
      expect(res.body.error?.code).toBe('ERR_HTTP_FORBIDDEN');
    }
    expect((await call('viewer', 'GET', alertPath(id))).body).toMatchObject({ state: 'open' });
  });

  it('acknowledges with who and when, and answers the same alert unchanged when acknowledged again', async () => {
    const id = await openLeak();
    clock.set(T0 + 60_000);
    const first = await call('operator', 'POST', alertPath(id, '/acknowledge'), { note: 'crew sent' });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      alertId: id,
      state: 'acknowledged',
      acknowledgedBy: 'otto',
      acknowledgedAt: new Date(T0 + 60_000).toISOString(),
    });
    clock.advance(60_000);
    // No body at all is fine too; the admin role includes the operator's.
    const again = await fetch(`${http.url}${alertPath(id, '/acknowledge')}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.admin}` },
    });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first.body);
  });

  it('resolves by hand with who and when, keeps the history in order, and refuses to acknowledge it then (409)', async () => {
    const id = await openLeak();
    clock.set(T0 + 10 * 60_000);
    await call('operator', 'POST', alertPath(id, '/acknowledge'));
    clock.advance(60_000);
    const comment = await call('operator', 'POST', alertPath(id, '/comments'), { text: 'valve found open' });
    expect(comment.status).toBe(201);
    expect(comment.body).toMatchObject({ type: 'comment', by: 'otto', text: 'valve found open' });
    clock.advance(60_000);
    const resolved = await call('admin', 'POST', alertPath(id, '/resolve'), { note: 'closed the valve' });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      state: 'resolved',
      resolvedBy: 'ada',
      resolvedAt: new Date(T0 + 12 * 60_000).toISOString(),
      lastTransition: 'open',
    });
    const conflict = await call('operator', 'POST', alertPath(id, '/acknowledge'));
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.code).toBe('ERR_ALERT_CONFLICT');
    expect((await call('operator', 'POST', alertPath(id, '/resolve'))).body).toMatchObject({ resolvedBy: 'ada' });

    const alert = await call('viewer', 'GET', alertPath(id));
    expect(alert.status).toBe(200);
    expect((alert.body.history as Array<Record<string, unknown>>).map((e) => [e.type, e.by, e.at, e.text])).toEqual([
      ['opened', null, '2026-03-01T02:15:00.000Z', 'Continuous flow for 24 h, about 4 L/h'],
      ['acknowledged', 'otto', new Date(T0 + 10 * 60_000).toISOString(), null],
      ['comment', 'otto', new Date(T0 + 11 * 60_000).toISOString(), 'valve found open'],
      ['resolved', 'ada', new Date(T0 + 12 * 60_000).toISOString(), 'closed the valve'],
    ]);
  });

  it('answers 404 ERR_ALERT_NOT_FOUND for an unknown alert on every route', async () => {
    const id = 'WM-999999:leak:7';
    for (const [method, path, body] of [
      ['GET', '', undefined],
      ['POST', '/acknowledge', {}],
      ['POST', '/resolve', {}],
      ['POST', '/comments', { text: 'x' }],
    ] as const) {
      const res = await call('operator', method, alertPath(id, path), body);
      expect(res.status, path).toBe(404);
      expect(res.body.error?.code).toBe('ERR_ALERT_NOT_FOUND');
    }
  });

  it('refuses bad bodies and queries with 400 and the issues, and changes nothing', async () => {
    const id = await openLeak();
    const cases = [
      { path: alertPath(id, '/comments'), body: {}, issues: ['body.text'] },
      { path: alertPath(id, '/comments'), body: { text: '   ' }, issues: ['body.text'] },
      { path: alertPath(id, '/comments'), body: { text: 'x'.repeat(2001) }, issues: ['body.text'] },
      { path: alertPath(id, '/acknowledge'), body: { note: 'ok', by: 'mallory' }, issues: ['body'] },
      { path: alertPath(id, '/resolve'), body: { note: 42 }, issues: ['body.note'] },
    ];
    for (const c of cases) {
      const res = await call('operator', 'POST', c.path, c.body);
      expect(res.status, JSON.stringify(c.body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'ERR_HTTP_VALIDATION' });
      expect((res.body.error as unknown as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(c.issues);
    }
    const query = await call('viewer', 'GET', '/api/alerts?state=closed&limit=0&since=yesterday&color=red');
    expect(query.status).toBe(400);
    expect((query.body.error as unknown as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual([
      'querystring',
      'querystring.limit',
      'querystring.since',
      'querystring.state',
    ]);
    expect((await call('viewer', 'GET', '/api/alerts?cursor=garbage')).body.error?.code).toBe(
      'ERR_ALERT_CURSOR_INVALID',
    );
    expect((await call('viewer', 'GET', alertPath(id))).body).toMatchObject({ state: 'open', history: [{}] });
  });

  it('lists with filters and pages through every alert once when given a cursor', async () => {
    const base = Date.parse('2031-05-01T00:00:00.000Z');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await openLeak({ ts: new Date(base + i * 60_000).toISOString() }));
    }
    await call('operator', 'POST', alertPath(ids[1] as string, '/acknowledge'));
    const window = `since=${encodeURIComponent('2031-05-01T00:00:00Z')}&until=${encodeURIComponent('2031-05-02T00:00:00+00:00')}`;
    const all = await call('viewer', 'GET', `/api/alerts?${window}`);
    expect((all.body.alerts as Array<{ alertId: string }>).map((a) => a.alertId)).toEqual([...ids].reverse());
    const acked = await call('viewer', 'GET', `/api/alerts?${window}&state=acknowledged&type=leak&kind=water-meter`);
    expect((acked.body.alerts as Array<{ alertId: string }>).map((a) => a.alertId)).toEqual([ids[1]]);
    const device = (ids[3] as string).split(':')[0] as string;
    const one = await call('viewer', 'GET', `/api/alerts?deviceId=${device}`);
    expect(one.body).toMatchObject({ total: 1, nextCursor: null, alerts: [{ alertId: ids[3] }] });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Record<string, unknown> } = await call(
        'viewer',
        'GET',
        `/api/alerts?${window}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.body.total).toBe(5);
      seen.push(...(page.body.alerts as Array<{ alertId: string }>).map((a) => a.alertId));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('lists every alert route in /docs/json with its tag, bearer security and schemas', async () => {
    const doc = (await (await fetch(`${http.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { tags: string[]; security: unknown; responses: Record<string, unknown> }>>;
      components: { schemas: Record<string, unknown> };
    };
    const routes = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes.sort()).toEqual(
      [
        'GET /api/alerts',
        'GET /api/alerts/{alertId}',
        'GET /healthz',
        'POST /api/alerts/{alertId}/acknowledge',
        'POST /api/alerts/{alertId}/comments',
        'POST /api/alerts/{alertId}/resolve',
      ].sort(),
    );
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.startsWith('/api/')) continue;
      for (const op of Object.values(methods)) {
        expect(op.tags).toEqual(['alerts']);
        expect(op.security).toEqual([{ bearerAuth: [] }]);
        expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
      }
    }
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Alert', 'AlertEvent']));
  });
});
