import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { AlertTransition } from '../../core/contracts/index.ts';
import { recordTransition } from '../lifecycle-store.ts';
import { leakTransition } from '../test-helpers.ts';
import { alertRoutes } from './routes.ts';
import { type ApiTestServer, startApiTestServer } from './test-server.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');

/** One server for the file (PGlite takes seconds to open); each test uses alerts of its own devices. */
let api: ApiTestServer;
const clock = new ManualClock(T0);

beforeAll(async () => {
  api = await startApiTestServer({ routes: (store) => [alertRoutes({ store, clock })] });
  return api.close;
});

let devices = 0;
/** Records an open leak on a new device; returns its alert id. */
async function openLeak(overrides: Partial<AlertTransition> = {}): Promise<string> {
  devices++;
  const deviceId = `WM-${String(devices).padStart(6, '0')}`;
  const t = leakTransition(deviceId, overrides);
  await recordTransition(api.store, t);
  return t.alertId;
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
      const res = await api.request(method, path, { body: method === 'POST' ? { text: 'x' } : undefined });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(res.body.error?.code).toBe('ERR_HTTP_UNAUTHORIZED');
    }
    for (const [path, body] of [
      ['/acknowledge', {}],
      ['/resolve', {}],
      ['/comments', { text: 'hello' }],
    ] as const) {
      const res = await api.request('POST', alertPath(id, path), { token: 'viewer', body });
      expect(res.status, path).toBe(403);
      expect(res.body.error?.code).toBe('ERR_HTTP_FORBIDDEN');
    }
    expect((await api.request('GET', alertPath(id), { token: 'viewer' })).body).toMatchObject({ state: 'open' });
  });

  it('acknowledges with who and when, and answers the same alert unchanged when acknowledged again', async () => {
    const id = await openLeak();
    clock.set(T0 + 60_000);
    const first = await api.request('POST', alertPath(id, '/acknowledge'), {
      token: 'operator',
      body: { note: 'crew sent' },
    });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      alertId: id,
      state: 'acknowledged',
      acknowledgedBy: 'otto',
      acknowledgedAt: new Date(T0 + 60_000).toISOString(),
    });
    clock.advance(60_000);
    // No body at all is fine too; the admin role includes the operator's.
    const again = await api.request('POST', alertPath(id, '/acknowledge'), { token: 'admin' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  it('resolves by hand with who and when, keeps the history in order, and refuses to acknowledge it then (409)', async () => {
    const id = await openLeak();
    clock.set(T0 + 10 * 60_000);
    await api.request('POST', alertPath(id, '/acknowledge'), { token: 'operator' });
    clock.advance(60_000);
    const comment = await api.request('POST', alertPath(id, '/comments'), {
      token: 'operator',
      body: { text: 'valve found open' },
    });
    expect(comment.status).toBe(201);
    expect(comment.body).toMatchObject({ type: 'comment', by: 'otto', text: 'valve found open' });
    clock.advance(60_000);
    const resolved = await api.request('POST', alertPath(id, '/resolve'), {
      token: 'admin',
      body: { note: 'closed the valve' },
    });
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({
      state: 'resolved',
      resolvedBy: 'ada',
      resolvedAt: new Date(T0 + 12 * 60_000).toISOString(),
      lastTransition: 'open',
    });
    const conflict = await api.request('POST', alertPath(id, '/acknowledge'), { token: 'operator' });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error?.code).toBe('ERR_ALERT_CONFLICT');
    expect((await api.request('POST', alertPath(id, '/resolve'), { token: 'operator' })).body).toMatchObject({
      resolvedBy: 'ada',
    });

    const alert = await api.request('GET', alertPath(id), { token: 'viewer' });
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
      const res = await api.request(method, alertPath(id, path), { token: 'operator', body });
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
      const res = await api.request('POST', c.path, { token: 'operator', body: c.body });
      expect(res.status, JSON.stringify(c.body)).toBe(400);
      expect(res.body.error).toMatchObject({ code: 'ERR_HTTP_VALIDATION' });
      expect((res.body.error as unknown as { issues: { path: string }[] }).issues.map((i) => i.path)).toEqual(c.issues);
    }
    const query = await api.request('GET', '/api/alerts?state=closed&limit=0&since=yesterday&color=red', {
      token: 'viewer',
    });
    expect(query.status).toBe(400);
    expect((query.body.error as unknown as { issues: { path: string }[] }).issues.map((i) => i.path).sort()).toEqual([
      'querystring',
      'querystring.limit',
      'querystring.since',
      'querystring.state',
    ]);
    expect((await api.request('GET', '/api/alerts?cursor=garbage', { token: 'viewer' })).body.error?.code).toBe(
      'ERR_ALERT_CURSOR_INVALID',
    );
    expect((await api.request('GET', alertPath(id), { token: 'viewer' })).body).toMatchObject({
      state: 'open',
      history: [{}],
    });
  });

  it('lists with filters and pages through every alert once when given a cursor', async () => {
    const base = Date.parse('2031-05-01T00:00:00.000Z');
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await openLeak({ ts: new Date(base + i * 60_000).toISOString() }));
    }
    await api.request('POST', alertPath(ids[1] as string, '/acknowledge'), { token: 'operator' });
    const window = `since=${encodeURIComponent('2031-05-01T00:00:00Z')}&until=${encodeURIComponent('2031-05-02T00:00:00+00:00')}`;
    const all = await api.request('GET', `/api/alerts?${window}`, { token: 'viewer' });
    expect((all.body.alerts as Array<{ alertId: string }>).map((a) => a.alertId)).toEqual([...ids].reverse());
    const acked = await api.request('GET', `/api/alerts?${window}&state=acknowledged&type=leak&kind=water-meter`, {
      token: 'viewer',
    });
    expect((acked.body.alerts as Array<{ alertId: string }>).map((a) => a.alertId)).toEqual([ids[1]]);
    const device = (ids[3] as string).split(':')[0] as string;
    const one = await api.request('GET', `/api/alerts?deviceId=${device}`, { token: 'viewer' });
    expect(one.body).toMatchObject({ total: 1, nextCursor: null, alerts: [{ alertId: ids[3] }] });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: Record<string, unknown> } = await api.request(
        'GET',
        `/api/alerts?${window}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        { token: 'viewer' },
      );
      expect(page.body.total).toBe(5);
      seen.push(...(page.body.alerts as Array<{ alertId: string }>).map((a) => a.alertId));
      cursor = page.body.nextCursor as string | null;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
  });

  it('lists every alert route in /docs/json with its tag, bearer security and schemas', async () => {
    const doc = await api.openApi();
    expect(doc.routes.sort()).toEqual(
      [
        'GET /api/alerts',
        'GET /api/alerts/{alertId}',
        'GET /healthz',
        'POST /api/alerts/{alertId}/acknowledge',
        'POST /api/alerts/{alertId}/comments',
        'POST /api/alerts/{alertId}/resolve',
      ].sort(),
    );
    for (const op of doc.apiOperations) {
      expect(op.tags).toEqual(['alerts']);
      expect(op.security).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
    expect(doc.schemas).toEqual(expect.arrayContaining(['Alert', 'AlertEvent']));
  });
});
