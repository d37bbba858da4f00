import exifr from 'exifr';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { httpConfigSchema, httpMigrations, type RunningHttp, startHttp } from '../../services/http/index.ts';
import { reportsConfigSchema } from './config.ts';
import { reportsMigrations } from './index.ts';
import { sniffImageType } from './photo.ts';
import { reportRoutes } from './routes.ts';
import { collectNotifications, jpegWithGps } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const PLACE = { latitude: 48.8584, longitude: 2.2945 };
const POLL = { timeout: 10_000, interval: 20 };

/** One server for the file (PGlite takes seconds to open). */
let store: SqlStore;
let bus: Bus;
let http: RunningHttp;
const clock = new ManualClock(T0);
const metrics = new Metrics();
const token = { viewer: '', operator: '', admin: '' };

async function serve(config: Record<string, unknown>) {
  return startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics,
    plugins: [reportRoutes({ store, bus, clock, metrics, config: reportsConfigSchema.parse(config) })],
  });
}

beforeAll(async () => {
  store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations, reportsMigrations]);
  bus = createMemoryBus();
  http = await serve({ photoMaxBytes: 64 * 1024, intakePerHourPerIp: 1000, statusLookupsPerHourPerIp: 1000 });
  token.viewer = (await http.app.operatorTokens.create('vera', 'viewer')).token;
  token.operator = (await http.app.operatorTokens.create('otto', 'operator')).token;
  token.admin = (await http.app.operatorTokens.create('ada', 'admin')).token;
});
afterAll(async () => {
  await http?.close();
  await bus?.close();
  await store?.close();
});

type Who = keyof typeof token | 'nobody';
type Json = Record<string, unknown> & { error?: { code: string; message: string; issues?: Array<{ path: string }> } };

async function call(who: Who, method: 'GET' | 'POST', path: string, body?: unknown, base = http.url) {
  const headers: Record<string, string> = {};
  if (who !== 'nobody') headers.authorization = `Bearer ${token[who]}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

/** Submits the web form (multipart), with a photo when given. */
async function submit(fields: Record<string, string>, photo?: Buffer, base = http.url) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  if (photo) form.append('photo', new Blob([new Uint8Array(photo)], { type: 'image/jpeg' }), 'photo.jpg');
  const res = await fetch(`${base}/api/reports`, { method: 'POST', body: form });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
}

/** The report id of a reference (operators list by id). */
async function idOf(reference: string): Promise<number> {
  const page = await call('viewer', 'GET', '/api/reports?limit=500');
  const found = (page.body.reports as Array<{ id: number; reference: string }>).find((r) => r.reference === reference);
  if (!found) throw new Error(`no report ${reference}`);
  return found.id;
}

const FIELDS = { category: 'roads', text: 'Nid de poule', latitude: '48.85', longitude: '2.35' };

describe('report routes', () => {
  it('takes a web report with a photo, places it at the photo’s GPS when no place is given, and stores the photo without EXIF', async () => {
    const res = await submit(
      { category: 'roads', text: 'Trou profond', contact: '06 12 34 56 78' },
      await jpegWithGps(PLACE),
    );
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      reference: expect.stringMatching(/^R-2026-\d{6}$/),
      status: 'received',
      locationSource: 'photo',
    });
    const id = await idOf(res.body.reference as string);

    const one = await call('viewer', 'GET', `/api/reports/${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({
      source: 'web',
      hasPhoto: true,
      locationSource: 'photo',
      contact: { channel: 'sms', address: '+336•••••78' },
      history: [{ status: 'received', by: 'citizen' }],
    });
    expect(one.body.latitude).toBeCloseTo(PLACE.latitude, 4);
    expect(one.body.longitude).toBeCloseTo(PLACE.longitude, 4);
    expect((await call('operator', 'GET', `/api/reports/${id}`)).body.contact).toEqual({
      channel: 'sms',
      address: '+33612345678',
    });

    // The signed link works without a token; the bytes are a JPEG with no EXIF left.
    const signed = await fetch(`${http.url}${one.body.photoUrl as string}`);
    expect(signed.status).toBe(200);
    expect(signed.headers.get('content-type')).toBe('image/jpeg');
    const bytes = Buffer.from(await signed.arrayBuffer());
    expect(sniffImageType(bytes)).toBe('image/jpeg');
    expect(await exifr.parse(bytes)).toBeUndefined();
    expect(bytes.includes(Buffer.from('Exif\0\0', 'latin1'))).toBe(false);
    const withToken = await fetch(`${http.url}/api/reports/${id}/photo`, {
      headers: { authorization: `Bearer ${token.viewer}` },
    });
    expect(Buffer.from(await withToken.arrayBuffer()).equals(bytes)).toBe(true);
    // A tampered or expired link, or no token at all: 401.
    const tampered = (one.body.photoUrl as string).replace(/sig=./, 'sig=A');
    expect((await fetch(`${http.url}${tampered}`)).status).toBe(401);
    expect((await fetch(`${http.url}/api/reports/${id}/photo`)).status).toBe(401);
    clock.advance(2 * 3600_000);
    const expired = await fetch(`${http.url}${one.body.photoUrl as string}`);
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as Json).error?.code).toBe('ERR_REPORT_PHOTO_LINK_UNAUTHORIZED');
    clock.set(T0);
  });

  it('refuses an oversized photo (413), a renamed text file (415), a fake JPEG header (400), and creates nothing', async () => {
    const before = (await call('viewer', 'GET', '/api/reports')).body.total;
    const big = Buffer.concat([await jpegWithGps(PLACE), Buffer.alloc(70 * 1024, 1)]);
    const tooLarge = await submit(FIELDS, big);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error?.code).toBe('ERR_REPORT_PHOTO_TOO_LARGE');
    const text = await submit(FIELDS, Buffer.from('just some text renamed photo.jpg\n'));
    expect(text.status).toBe(415);
    expect(text.body.error?.code).toBe('ERR_REPORT_PHOTO_UNSUPPORTED');
    const fake = await submit(FIELDS, Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(300, 0x41)]));
    expect(fake.status).toBe(400);
    expect(fake.body.error?.code).toBe('ERR_REPORT_PHOTO_INVALID');
    expect(await metrics.value('reports_photos_refused_total', { source: 'web' })).toBeGreaterThanOrEqual(3);
    expect((await call('viewer', 'GET', '/api/reports')).body.total).toBe(before);
  });

  it('refuses bad fields with 400 and their paths, and a report with no place at all', async () => {
    const bad = await submit({ category: 'potholes', text: '', latitude: '95', contact: 'call me' });
    expect(bad.status).toBe(400);
    expect(bad.body.error?.code).toBe('ERR_HTTP_VALIDATION');
    expect(bad.body.error?.issues?.map((i) => i.path).sort()).toEqual(
      ['body.category', 'body.contact', 'body.latitude', 'body.text'].sort(),
    );
    const nowhere = await submit({ category: 'roads', text: 'Trou' }, await jpegWithGps());
    expect(nowhere.status).toBe(400);
    expect(nowhere.body.error?.code).toBe('ERR_REPORT_LOCATION_INVALID');
    const tooLong = await call('nobody', 'POST', '/api/reports', { ...FIELDS, text: 'x'.repeat(2001) });
    expect(tooLong.status).toBe(400);
  });

  it('walks a report through the workflow, tells the reporter at each step on the bus, and refuses impossible steps (409)', async () => {
    const outbox = await collectNotifications(bus);
    onTestFinished(() => outbox.close());
    const created = await call('nobody', 'POST', '/api/reports', {
      category: 'green-spaces',
      text: 'Branche tombée',
      address: 'Parc Monceau',
      contact: 'Ann@Example.org',
      locale: 'en',
    });
    expect(created.status).toBe(201);
    const id = await idOf(created.body.reference as string);
    const path = (a: string) => `/api/reports/${id}/${a}`;

    expect((await call('operator', 'POST', path('start'), {})).status).toBe(409);
    const assigned = await call('operator', 'POST', path('assign'), { assignee: 'Espaces verts Sud' });
    expect(assigned.status).toBe(200);
    expect(assigned.body).toMatchObject({ status: 'assigned', assignee: 'Espaces verts Sud' });
    expect((await call('operator', 'POST', path('start'))).body).toMatchObject({ status: 'in-progress' });
    expect((await call('operator', 'POST', path('resolve'), {})).status).toBe(400); // a note is required
    expect((await call('admin', 'POST', path('resolve'), { note: 'Branch removed.' })).body).toMatchObject({
      status: 'resolved',
      note: 'Branch removed.',
    });
    const again = await call('operator', 'POST', path('reject'), { note: 'no' });
    expect(again.status).toBe(409);
    expect(again.body.error?.code).toBe('ERR_REPORT_CONFLICT');

    const mine = () => outbox.all.filter((n) => n.about === `report:${id}`);
    await expect.poll(() => mine().length, POLL).toBe(4);
    expect(mine().map((n) => n.key)).toEqual(
      ['received', 'assigned', 'in-progress', 'resolved'].map((s) => `report:${id}:${s}:email:ann@example.org`),
    );
    expect(mine().every((n) => n.channel === 'email' && n.locale === 'en' && n.to === 'ann@example.org')).toBe(true);
    const resolved = mine()[3];
    expect(resolved?.channel === 'email' && resolved.text).toContain('Branch removed.');

    const history = (await call('viewer', 'GET', `/api/reports/${id}`)).body.history as Array<{
      status: string;
      by: string;
    }>;
    expect(history.map((e) => [e.status, e.by])).toEqual([
      ['received', 'citizen'],
      ['assigned', 'otto'],
      ['in-progress', 'otto'],
      ['resolved', 'ada'],
    ]);

    // The reporter follows it with the reference and their email; a wrong check looks like an unknown reference.
    const ref = created.body.reference as string;
    const status = await call('nobody', 'GET', `/api/reports/${ref}/status?check=ANN@example.org`);
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({ reference: ref, status: 'resolved', note: 'Branch removed.' });
    expect((status.body.history as unknown[]).length).toBe(4);
    for (const check of ['bob@example.org', '1234']) {
      const wrong = await call('nobody', 'GET', `/api/reports/${ref}/status?check=${check}`);
      expect(wrong.status).toBe(404);
      expect(wrong.body.error?.code).toBe('ERR_REPORT_NOT_FOUND');
    }
    expect((await call('nobody', 'GET', '/api/reports/R-2099-999999/status?check=1234')).status).toBe(404);
  });

  it('refuses every operator route without a token (401), the actions to a viewer (403), and unknown reports (404)', async () => {
    const created = await submit(FIELDS);
    const id = await idOf(created.body.reference as string);
    for (const [method, p] of [
      ['GET', '/api/reports'],
      ['GET', '/api/reports/stats?from=2026-01&to=2026-02'],
      ['GET', `/api/reports/${id}`],
      ['GET', `/api/reports/${id}/photo`],
      ['POST', `/api/reports/${id}/assign`],
      ['POST', `/api/reports/${id}/start`],
      ['POST', `/api/reports/${id}/resolve`],
      ['POST', `/api/reports/${id}/reject`],
    ] as const) {
      const res = await call('nobody', method, p, method === 'POST' ? { note: 'x', assignee: 'y' } : undefined);
      expect(res.status, `${method} ${p}`).toBe(401);
      expect(res.body.error?.code).toBe('ERR_HTTP_UNAUTHORIZED');
    }
    for (const [action, body] of [
      ['assign', { assignee: 'Voirie' }],
      ['start', {}],
      ['resolve', { note: 'ok' }],
      ['reject', { note: 'no' }],
    ] as const) {
      const res = await call('viewer', 'POST', `/api/reports/${id}/${action}`, body);
      expect(res.status, action).toBe(403);
      expect(res.body.error?.code).toBe('ERR_HTTP_FORBIDDEN');
      const unknown = await call('operator', 'POST', `/api/reports/99999999/${action}`, body);
      expect(unknown.status, action).toBe(404);
      expect(unknown.body.error?.code).toBe('ERR_REPORT_NOT_FOUND');
    }
    expect((await call('viewer', 'GET', '/api/reports/99999999')).status).toBe(404);
    expect((await call('viewer', 'GET', `/api/reports/${id}/photo`)).status).toBe(404);
    expect((await call('viewer', 'GET', `/api/reports/${id}`)).body.status).toBe('received');
  });

  it('lists with filters and paging, and counts per month and category', async () => {
    const list = await call('viewer', 'GET', '/api/reports?category=green-spaces&status=resolved');
    expect(list.status).toBe(200);
    expect((list.body.reports as Array<{ category: string }>).every((r) => r.category === 'green-spaces')).toBe(true);
    const page = await call('viewer', 'GET', '/api/reports?limit=1');
    expect(page.body.nextCursor).toEqual(expect.any(String));
    const next = await call('viewer', 'GET', `/api/reports?limit=1&cursor=${page.body.nextCursor as string}`);
    expect((next.body.reports as Array<{ id: number }>)[0]?.id).toBeLessThan(
      (page.body.reports as Array<{ id: number }>)[0]?.id as number,
    );
    expect((await call('viewer', 'GET', '/api/reports?status=closed')).status).toBe(400);
    expect((await call('viewer', 'GET', '/api/reports?cursor=abc')).body.error?.code).toBe('ERR_REPORT_CURSOR_INVALID');

    const stats = await call('viewer', 'GET', '/api/reports/stats?from=2026-02&to=2026-03');
    expect(stats.status).toBe(200);
    const total = (await call('viewer', 'GET', '/api/reports')).body.total as number;
    expect(stats.body).toMatchObject({
      timeZone: 'Europe/Paris',
      months: [
        { month: '2026-02', total: 0 },
        { month: '2026-03', total },
      ],
    });
    expect((await call('viewer', 'GET', '/api/reports/stats?from=2026-13&to=2026-03')).status).toBe(400);
  });

  it('answers 429 with Retry-After once an IP has sent its reports for the hour', async () => {
    // Counts are kept in the store, shared by every server on it: start from none (the other tests sent reports).
    await store.query('DELETE FROM http_rate_limits');
    const limited = await serve({ intakePerHourPerIp: 2, statusLookupsPerHourPerIp: 2 });
    onTestFinished(() => limited.close());
    expect((await submit(FIELDS, undefined, limited.url)).status).toBe(201);
    const second = await submit(FIELDS, undefined, limited.url);
    expect(second.status).toBe(201);
    const third = await submit(FIELDS, undefined, limited.url);
    expect(third.status).toBe(429);
    expect(third.body.error?.code).toBe('ERR_REPORT_RATE_LIMITED');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThan(0);
    const ref = second.body.reference as string;
    for (let i = 0; i < 2; i++)
      expect(
        (await call('nobody', 'GET', `/api/reports/${ref}/status?check=0000`, undefined, limited.url)).status,
      ).toBe(404);
    expect((await call('nobody', 'GET', `/api/reports/${ref}/status?check=0000`, undefined, limited.url)).status).toBe(
      429,
    );
  });

  it('lists every report route in /docs/json with its tag and the bearer security on operator routes', async () => {
    const doc = (await (await fetch(`${http.url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, { tags: string[]; security?: unknown }>>;
    };
    const routes = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/api/reports'))
      .flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    expect(routes.sort()).toEqual(
      [
        'GET /api/reports',
        'POST /api/reports',
        'GET /api/reports/stats',
        'GET /api/reports/{id}',
        'GET /api/reports/{id}/photo',
        'GET /api/reports/{id}/status',
        'POST /api/reports/{id}/assign',
        'POST /api/reports/{id}/start',
        'POST /api/reports/{id}/resolve',
        'POST /api/reports/{id}/reject',
      ].sort(),
    );
    expect(doc.paths['/api/reports/{id}/assign']?.post?.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/api/reports']?.post?.security).toBeUndefined();
  });
});
