import { describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { httpConfigSchema, startHttp } from '../http/index.ts';
import { createConsole } from './index.ts';
import { consoleRoutes } from './routes.ts';
import { device, message, openTestStore, rollup, transition } from './test-helpers.ts';

const NOW = Date.parse('2026-03-10T08:00:00.000Z');
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const POLL = { timeout: 10_000, interval: 20 };
const iso = (ms: number) => new Date(ms).toISOString();

type Json = Record<string, unknown> & { error?: { code: string; message: string } };

/** A console on PGlite and the memory bus behind a listening server, with viewer, operator and admin tokens. */
async function setup() {
  const store = await openTestStore('pglite');
  const bus = createMemoryBus();
  onTestFinished(() => bus.close());
  const metrics = new Metrics();
  const clock = new ManualClock(NOW);
  const service = createConsole({ store, bus, metrics, clock, logger: silentLogger() });
  await service.start();
  onTestFinished(() => service.close());
  const http = await startHttp({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics,
    plugins: [consoleRoutes({ store, clock })],
  });
  onTestFinished(() => http.close());
  const tokens = {
    viewer: (await http.app.operatorTokens.create('vera', 'viewer')).token,
    operator: (await http.app.operatorTokens.create('otto', 'operator')).token,
    admin: (await http.app.operatorTokens.create('ada', 'admin')).token,
  };
  /** GET `path` as `who` (a role's token, or a raw Authorization header value, or nobody). */
  const get = async (path: string, who: keyof typeof tokens | { header: string } | 'nobody' = 'viewer') => {
    const headers: Record<string, string> = {};
    if (typeof who === 'object') headers.authorization = who.header;
    else if (who !== 'nobody') headers.authorization = `Bearer ${tokens[who]}`;
    const res = await fetch(`${http.url}${path}`, { headers });
    return { status: res.status, headers: res.headers, body: (await res.json()) as Json };
  };
  /** Produces records and waits until the console has read them all. */
  const feed = async (topic: string, records: Array<Parameters<typeof message>[0]>) => {
    const name = {
      [TOPICS.devices]: 'console_device_records_total',
      [TOPICS.alerts]: 'console_alert_transitions_total',
      [TOPICS.rollups]: 'console_rollups_total',
    }[topic] as string;
    const before = await metrics.value(name);
    await bus.ensureTopic(topic);
    await bus.produce(topic, records.map(message));
    await expect.poll(() => metrics.value(name), POLL).toBe(before + records.length);
  };
  return { http, tokens, get, feed, clock };
}

const ROUTES = [
  '/api/console/whoami',
  '/api/console/devices',
  '/api/console/devices/WM-1/series',
  '/api/console/summary',
];

describe('console routes', () => {
  it('refuses every route without a token, with a malformed one and with a revoked one (401), and names the token to any role', async () => {
    const { http, tokens, get } = await setup();
    const revoked = (await http.app.operatorTokens.create('gone', 'admin')).token;
    await http.app.operatorTokens.revoke({ name: 'gone' });
    for (const path of ROUTES) {
      for (const who of ['nobody', { header: 'Bearer vigie_1_short' }, { header: `Bearer ${revoked}` }] as const) {
        const res = await get(path, who);
        expect(res.status, `${path} ${JSON.stringify(who)}`).toBe(401);
        expect(res.body.error?.code).toBe('ERR_HTTP_UNAUTHORIZED');
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="vigie"');
      }
    }
    expect((await get('/api/console/whoami', 'viewer')).body).toEqual({ name: 'vera', role: 'viewer' });
    expect((await get('/api/console/whoami', 'operator')).body).toEqual({ name: 'otto', role: 'operator' });
    expect((await get('/api/console/whoami', 'admin')).body).toEqual({ name: 'ada', role: 'admin' });
    expect((await get('/api/console/whoami', { header: `Bearer ${tokens.viewer}` })).status).toBe(200);
    // The console's routes are in the OpenAPI document, under their tag, with the bearer requirement.
    const doc = (await fetch(`${http.url}/docs/json`).then((r) => r.json())) as {
      paths: Record<string, { get?: { tags?: string[]; security?: unknown[] } }>;
    };
    for (const path of ['/api/console/whoami', '/api/console/devices', '/api/console/devices/{deviceId}/series']) {
      expect(doc.paths[path]?.get?.tags).toEqual(['console']);
      expect(doc.paths[path]?.get?.security).toEqual([{ bearerAuth: [] }]);
    }
  });

  it('lists devices, then only those changed after the cursor, as an alert opens, updates and resolves', async () => {
    const { get, feed } = await setup();
    // 1. Empty: cursor 0.
    expect((await get('/api/console/devices')).body).toEqual({ cursor: '0', devices: [] });
    await feed(TOPICS.devices, [
      device('WM-1'),
      device('WM-2', { district: undefined, lat: undefined, lon: undefined }),
      device('SL-1', { kind: 'streetlight', active: false }),
    ]);
    const all = await get('/api/console/devices');
    expect(all.status).toBe(200);
    const c1 = all.body.cursor as string;
    expect(
      (all.body.devices as Array<Record<string, unknown>>).map((d) => [d.deviceId, d.state, d.district, d.lat]),
    ).toEqual([
      ['SL-1', 'inactive', 'north', 47.75],
      ['WM-1', 'ok', 'north', 47.75],
      ['WM-2', 'ok', null, null],
    ]);
    const meters = await get('/api/console/devices?kind=water-meter');
    expect((meters.body.devices as Array<{ deviceId: string }>).map((d) => d.deviceId)).toEqual(['WM-1', 'WM-2']);
    expect(meters.body.cursor).toBe(c1);
    expect((await get(`/api/console/devices?since=${c1}`)).body).toEqual({ cursor: c1, devices: [] });

    // 2. A leak opens on WM-1: only WM-1 after c1, critical.
    await feed(TOPICS.alerts, [transition('WM-1', 'open', '2026-03-09T02:00:00.000Z')]);
    const opened = await get(`/api/console/devices?since=${c1}`);
    const c2 = opened.body.cursor as string;
    expect(Number(c2)).toBeGreaterThan(Number(c1));
    expect(opened.body.devices).toEqual([
      {
        deviceId: 'WM-1',
        kind: 'water-meter',
        district: 'north',
        lat: 47.75,
        lon: 7.33,
        active: true,
        state: 'critical',
        alerts: [
          {
            alertId: 'WM-1:leak:1',
            type: 'leak',
            severity: 'critical',
            summary: 'Continuous flow for 24 h, about 4 L/h',
            since: '2026-03-09T02:00:00.000Z',
          },
        ],
        updatedAt: '2026-03-09T02:00:00.000Z',
      },
    ]);

    // 3. It updates (lower severity, a low-battery info beside it): still open since 02:00, worst first.
    await feed(TOPICS.alerts, [
      transition('WM-1', 'update', '2026-03-09T06:00:00.000Z', { severity: 'warning', summary: 'About 2 L/h' }),
      transition('WM-1', 'open', '2026-03-09T07:00:00.000Z', {
        type: 'low-battery',
        severity: 'info',
        summary: 'Battery 9 %',
      }),
    ]);
    const updated = await get(`/api/console/devices?since=${c2}`);
    const c3 = updated.body.cursor as string;
    const wm1 = (updated.body.devices as Array<{ state: string; alerts: Array<Record<string, unknown>> }>)[0];
    expect(wm1?.state).toBe('warning');
    expect(wm1?.alerts.map((a) => [a.alertId, a.severity, a.since])).toEqual([
      ['WM-1:leak:1', 'warning', '2026-03-09T02:00:00.000Z'],
      ['WM-1:low-battery:1', 'info', '2026-03-09T07:00:00.000Z'],
    ]);

    // 4. Both resolve: ok again, and only WM-1 changed after c3.
    await feed(TOPICS.alerts, [
      transition('WM-1', 'resolved', '2026-03-09T09:00:00.000Z'),
      transition('WM-1', 'resolved', '2026-03-09T09:30:00.000Z', { type: 'low-battery', severity: 'info' }),
    ]);
    const resolved = await get(`/api/console/devices?since=${c3}`);
    expect(
      (resolved.body.devices as Array<Record<string, unknown>>).map((d) => [d.deviceId, d.state, d.alerts]),
    ).toEqual([['WM-1', 'ok', []]]);

    // 5. A cursor beyond the newest (a rebuilt store) gets every device; a malformed one is refused.
    expect(((await get('/api/console/devices?since=999999999')).body.devices as unknown[]).length).toBe(3);
    for (const bad of ['abc', '-1', '1.5', '1e3', '12345678901234567']) {
      const res = await get(`/api/console/devices?since=${encodeURIComponent(bad)}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error?.code).toBe('ERR_CONSOLE_CURSOR_INVALID');
    }
    const badKind = await get('/api/console/devices?kind=toaster');
    expect([badKind.status, badKind.body.error?.code]).toEqual([400, 'ERR_HTTP_VALIDATION']);
  });

  it('answers a device’s series in its range, by default the last 7 days of hours or 90 days of days, and refuses a bad range', async () => {
    const { get, feed, clock } = await setup();
    await feed(TOPICS.devices, [device('WM-1')]);
    await feed(TOPICS.rollups, [
      rollup('WM-1', 'hour', iso(NOW - 8 * DAY_MS), { consumptionL: 1 }),
      rollup('WM-1', 'hour', iso(NOW - 2 * HOUR_MS), { consumptionL: 2 }),
      rollup('WM-1', 'hour', iso(NOW - HOUR_MS), { consumptionL: 3 }),
      rollup('WM-1', 'hour', iso(NOW - HOUR_MS), { consumptionL: 4, flowMaxLph: 30 }),
      rollup('WM-1', 'day', iso(NOW - 91 * DAY_MS), { consumptionL: 100 }),
      rollup('WM-1', 'day', iso(NOW - DAY_MS), { consumptionL: 200 }),
      // A meter the registry has not described: its series still answers, with the rollup's kind.
      { ...rollup('SN-7', 'day', iso(NOW - DAY_MS), { tempC: 21.5 }), kind: 'sensor' },
    ]);
    // 1. Defaults: hours of the last 7 days up to now (the clock), oldest first; the later record of an hour won.
    const hours = await get('/api/console/devices/WM-1/series');
    expect(hours.status).toBe(200);
    expect(hours.body).toEqual({
      deviceId: 'WM-1',
      kind: 'water-meter',
      period: 'hour',
      from: iso(NOW - 7 * DAY_MS),
      to: iso(NOW),
      points: [
        { start: iso(NOW - 2 * HOUR_MS), values: { consumptionL: 2 } },
        { start: iso(NOW - HOUR_MS), values: { consumptionL: 4, flowMaxLph: 30 } },
      ],
    });
    const days = await get('/api/console/devices/WM-1/series?period=day');
    expect((days.body.points as Array<{ start: string }>).map((p) => p.start)).toEqual([iso(NOW - DAY_MS)]);
    // 2. An explicit range, and the clock moving on.
    const range = await get(
      `/api/console/devices/WM-1/series?period=hour&from=${iso(NOW - 9 * DAY_MS)}&to=${iso(NOW - 2 * HOUR_MS)}`,
    );
    expect((range.body.points as Array<{ values: unknown }>).map((p) => p.values)).toEqual([
      { consumptionL: 1 },
      { consumptionL: 2 },
    ]);
    clock.advance(7 * DAY_MS);
    expect(((await get('/api/console/devices/WM-1/series')).body.points as unknown[]).length).toBe(0);
    expect((await get('/api/console/devices/SN-7/series?period=day&from=2026-01-01T00:00:00Z')).body).toMatchObject({
      kind: 'sensor',
      points: [{ values: { tempC: 21.5 } }],
    });
    // 3. Refused: too long a range, from after to, an unknown device, a malformed id or period.
    for (const query of [
      `period=hour&from=${iso(NOW - 94 * DAY_MS)}&to=${iso(NOW)}`,
      `period=day&from=${iso(NOW - 1101 * DAY_MS)}&to=${iso(NOW)}`,
      `period=hour&from=${iso(NOW)}&to=${iso(NOW - HOUR_MS)}`,
      `period=hour&to=${iso(NOW - 100 * DAY_MS)}&from=${iso(NOW)}`,
    ]) {
      const res = await get(`/api/console/devices/WM-1/series?${query}`);
      expect([res.status, res.body.error?.code], query).toEqual([400, 'ERR_CONSOLE_RANGE_INVALID']);
    }
    const longest = await get(
      `/api/console/devices/WM-1/series?period=day&from=${iso(NOW - 1100 * DAY_MS)}&to=${iso(NOW)}`,
    );
    expect(longest.status).toBe(200);
    const unknown = await get('/api/console/devices/WM-404/series');
    expect([unknown.status, unknown.body.error?.code]).toEqual([404, 'ERR_CONSOLE_DEVICE_NOT_FOUND']);
    for (const path of ['/api/console/devices/WM%2F1/series', '/api/console/devices/WM-1/series?period=week']) {
      const res = await get(path);
      expect([res.status, res.body.error?.code], path).toEqual([400, 'ERR_HTTP_VALIDATION']);
    }
  });

  it('counts devices by kind and state for the header', async () => {
    const { get, feed } = await setup();
    expect((await get('/api/console/summary')).body).toEqual({
      total: 0,
      states: { ok: 0, info: 0, warning: 0, critical: 0, inactive: 0 },
      kinds: [],
    });
    await feed(TOPICS.devices, [
      device('WM-1'),
      device('WM-2'),
      device('WM-3', { active: false }),
      device('SL-1', { kind: 'streetlight' }),
    ]);
    await feed(TOPICS.alerts, [
      transition('WM-1', 'open', '2026-03-09T02:00:00.000Z', { severity: 'warning' }),
      transition('WM-1', 'open', '2026-03-09T03:00:00.000Z', { type: 'burst', severity: 'critical' }),
      transition('WM-3', 'open', '2026-03-09T03:00:00.000Z', { type: 'no-data', severity: 'warning' }),
      transition('SL-1', 'open', '2026-03-09T19:00:00.000Z', {
        type: 'lamp-out',
        kind: 'streetlight',
        severity: 'info',
      }),
    ]);
    expect((await get('/api/console/summary')).body).toEqual({
      total: 4,
      states: { ok: 1, info: 1, warning: 0, critical: 1, inactive: 1 },
      kinds: [
        { kind: 'streetlight', total: 1, states: { ok: 0, info: 1, warning: 0, critical: 0, inactive: 0 } },
        { kind: 'water-meter', total: 3, states: { ok: 1, info: 0, warning: 0, critical: 1, inactive: 1 } },
      ],
    });
  });
});
