import { beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { activeSilence } from '../silences.ts';
import { silenceRoutes } from './silence-routes.ts';
import { type ApiTestServer, startApiTestServer } from './test-server.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** One server for the file (PGlite takes seconds to open); each test uses devices of its own. */
let api: ApiTestServer;
const clock = new ManualClock(T0);

beforeAll(async () => {
  api = await startApiTestServer({ routes: (store) => [silenceRoutes({ store, clock })] });
  return api.close;
});

let devices = 0;
function newDevice(): string {
  devices++;
  return `WM-${String(devices).padStart(6, '0')}`;
}

describe('silence routes', () => {
  it('refuses every route without a token (401), and creating or ending with a viewer token (403)', async () => {
    clock.set(T0);
    const device = newDevice();
    const created = await api.request('POST', '/api/silences', {
      token: 'operator',
      body: { deviceId: device, endsAt: iso(T0 + HOUR_MS), reason: 'meter replaced' },
    });
    expect(created.status).toBe(201);
    const path = `/api/silences/${created.body.id}`;
    for (const [method, p] of [
      ['GET', '/api/silences'],
      ['POST', '/api/silences'],
      ['GET', path],
      ['DELETE', path],
    ] as const) {
      const res = await api.request(method, p, { body: method === 'POST' ? { deviceId: device } : undefined });
      expect(res.status, `${method} ${p}`).toBe(401);
      expect(res.body.error?.code).toBe('ERR_HTTP_UNAUTHORIZED');
    }
    const viewerCreates = await api.request('POST', '/api/silences', {
      token: 'viewer',
      body: { deviceId: device, endsAt: iso(T0 + HOUR_MS), reason: 'x' },
    });
    expect(viewerCreates.status).toBe(403);
    expect(viewerCreates.body.error?.code).toBe('ERR_HTTP_FORBIDDEN');
    expect((await api.request('DELETE', path, { token: 'viewer' })).status).toBe(403);
    expect((await api.request('GET', path, { token: 'viewer' })).body).toMatchObject({
      state: 'active',
      endedAt: null,
    });
  });

  it('creates a silence by the token’s name (201) and a router finds it in force for the device', async () => {
    clock.set(T0);
    const device = newDevice();
    const res = await api.request('POST', '/api/silences', {
      token: 'operator',
      body: {
        deviceId: device,
        type: 'leak',
        scope: 'maintenance',
        startsAt: '2026-03-10T10:00:00+01:00',
        endsAt: iso(T0 + 3 * HOUR_MS),
        reason: 'replacing the meter',
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.any(Number),
      deviceId: device,
      district: null,
      kind: null,
      type: 'leak',
      scope: 'maintenance',
      startsAt: iso(T0 + HOUR_MS),
      endsAt: iso(T0 + 3 * HOUR_MS),
      reason: 'replacing the meter',
      createdBy: 'otto',
      createdAt: iso(T0),
      endedAt: null,
      endedBy: null,
      state: 'upcoming',
    });
    const alert = { deviceId: device, kind: 'water-meter', type: 'leak' } as const;
    expect(await activeSilence(api.store, alert, T0)).toBeUndefined();
    expect((await activeSilence(api.store, alert, T0 + HOUR_MS))?.id).toBe(res.body.id);
    const read = await api.request('GET', `/api/silences/${res.body.id}`, { token: 'viewer' });
    expect(read).toEqual({ status: 200, body: res.body });
  });

  it('refuses bad silences with 400 and stores nothing', async () => {
    clock.set(T0);
    const device = newDevice();
    const ok = { deviceId: device, endsAt: iso(T0 + HOUR_MS), reason: 'works' };
    const cases: Array<[string, Record<string, unknown>, string, string[]?]> = [
      ['no matcher', { endsAt: ok.endsAt, reason: 'works' }, 'ERR_HTTP_VALIDATION', ['body']],
      ['a type alone', { type: 'leak', endsAt: ok.endsAt, reason: 'works' }, 'ERR_HTTP_VALIDATION', ['body']],
      ['no endsAt', { deviceId: device, reason: 'works' }, 'ERR_HTTP_VALIDATION', ['body.endsAt']],
      ['no reason', { deviceId: device, endsAt: ok.endsAt }, 'ERR_HTTP_VALIDATION', ['body.reason']],
      ['a reason too long', { ...ok, reason: 'x'.repeat(501) }, 'ERR_HTTP_VALIDATION', ['body.reason']],
      ['an unknown kind', { ...ok, kind: 'toaster' }, 'ERR_HTTP_VALIDATION', ['body.kind']],
      ['an unknown type', { ...ok, type: 'flood' }, 'ERR_HTTP_VALIDATION', ['body.type']],
      ['an unknown key', { ...ok, createdBy: 'mallory' }, 'ERR_HTTP_VALIDATION', ['body']],
      ['endsAt before startsAt', { ...ok, startsAt: iso(T0 + 2 * HOUR_MS) }, 'ERR_SILENCE_INVALID'],
      ['more than 30 days', { ...ok, endsAt: iso(T0 + 31 * DAY_MS) }, 'ERR_SILENCE_INVALID'],
    ];
    for (const [name, body, code, issues] of cases) {
      const res = await api.request('POST', '/api/silences', { token: 'operator', body });
      expect(res.status, name).toBe(400);
      expect(res.body.error?.code, name).toBe(code);
      if (issues)
        expect(
          res.body.error?.issues?.map((i) => i.path),
          name,
        ).toEqual(issues);
    }
    const all = await api.request('GET', '/api/silences?state=all&limit=500', { token: 'viewer' });
    expect((all.body.silences as Array<{ deviceId: string }>).filter((s) => s.deviceId === device)).toEqual([]);
    const query = await api.request('GET', '/api/silences?state=gone&limit=0', { token: 'viewer' });
    expect(query.status).toBe(400);
    expect(query.body.error?.issues?.map((i) => i.path).sort()).toEqual(['querystring.limit', 'querystring.state']);
    expect((await api.request('GET', '/api/silences/abc', { token: 'viewer' })).status).toBe(400);
  });

  it('ends a silence now (200), keeps it in history, answers 409 when ending it again and 404 for an unknown id', async () => {
    clock.set(T0);
    const device = newDevice();
    const created = await api.request('POST', '/api/silences', {
      token: 'operator',
      body: { district: 'north-7', kind: 'water-meter', endsAt: iso(T0 + 4 * HOUR_MS), reason: 'network works' },
    });
    const path = `/api/silences/${created.body.id}`;
    clock.set(T0 + HOUR_MS);
    const ended = await api.request('DELETE', path, { token: 'admin' });
    expect(ended.status).toBe(200);
    expect(ended.body).toMatchObject({
      id: created.body.id,
      endedAt: iso(T0 + HOUR_MS),
      endedBy: 'ada',
      endsAt: iso(T0 + 4 * HOUR_MS),
      state: 'ended',
    });
    const alert = { deviceId: device, kind: 'water-meter', type: 'leak', district: 'north-7' } as const;
    expect(await activeSilence(api.store, alert, T0 + HOUR_MS)).toBeUndefined();
    const again = await api.request('DELETE', path, { token: 'operator' });
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe('ERR_SILENCE_CONFLICT');
    expect((await api.request('GET', path, { token: 'viewer' })).body).toEqual(ended.body);
    for (const method of ['GET', 'DELETE'] as const) {
      const res = await api.request(method, '/api/silences/987654321', { token: 'operator' });
      expect(res.status, method).toBe(404);
      expect(res.body.error?.code).toBe('ERR_SILENCE_NOT_FOUND');
    }
  });

  it('lists active silences by default, and upcoming, ended or all when asked, newest first', async () => {
    const base = T0 + 100 * DAY_MS; // after every other test's silences
    clock.set(base);
    const device = newDevice();
    const create = async (startsMs: number, endsMs: number) =>
      (
        await api.request('POST', '/api/silences', {
          token: 'operator',
          body: { deviceId: device, startsAt: iso(startsMs), endsAt: iso(endsMs), reason: 'list' },
        })
      ).body.id as number;
    const a = await create(base, base + HOUR_MS);
    clock.advance(1000);
    const b = await create(base + DAY_MS, base + 2 * DAY_MS);
    clock.advance(1000);
    const c = await create(base, base + 3 * HOUR_MS);
    clock.set(base + 2 * HOUR_MS);
    const ids = async (query: string) => {
      const { body } = await api.request('GET', `/api/silences${query}`, { token: 'viewer' });
      return (body.silences as Array<{ id: number; deviceId: string }>)
        .filter((s) => s.deviceId === device)
        .map((s) => s.id);
    };
    expect(await ids('')).toEqual([c]);
    expect(await ids('?state=upcoming')).toEqual([b]);
    expect(await ids('?state=ended')).toEqual([a]);
    expect(await ids('?state=all')).toEqual([c, b, a]);
    const one = await api.request('GET', '/api/silences?state=all&limit=1', { token: 'viewer' });
    expect(one.body.silences).toHaveLength(1);
  });

  it('lists every silence route in /docs/json with its tag, bearer security and schemas', async () => {
    const doc = await api.openApi();
    expect(doc.routes.filter((r) => r.includes('/api/')).sort()).toEqual([
      'DELETE /api/silences/{id}',
      'GET /api/silences',
      'GET /api/silences/{id}',
      'POST /api/silences',
    ]);
    for (const op of doc.apiOperations) {
      expect(op.tags).toEqual(['silences']);
      expect(op.security).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['400', '401', '403']));
    }
    expect(doc.schemas).toEqual(expect.arrayContaining(['Silence']));
  });
});
