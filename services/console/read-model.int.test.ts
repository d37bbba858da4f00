import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { BUS_AND_ENGINE, openTestBus } from '../../test/helpers/bus.ts';
import { consoleConfigSchema } from './config.ts';
import { createConsole } from './index.ts';
import { type ConsoleDevice, listDevices, readSeries } from './queries.ts';
import { storeAlerts, storeDevices } from './read-model.ts';
import { device, message, openTestStore, rollup, transition } from './test-helpers.ts';

const POLL = { timeout: 60_000, interval: 50 };
const NOW = Date.parse('2026-03-10T08:00:00.000Z');
const DAY_MS = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** Every stored series row of a device and period, as [start, values]. */
async function series(store: SqlStore, deviceId: string, period: 'hour' | 'day') {
  const points = await readSeries(store, deviceId, period, { fromMs: 0, toMs: NOW + 365 * DAY_MS });
  return points.map((p) => [p.start, p.values]);
}

describe.each(BUS_AND_ENGINE)('console read model on the %s bus and %s', (busKind, engine) => {
  it('keeps devices and their open alerts, bumps the cursor on each change only, and ignores an old episode’s late resolve', async () => {
    const store = await openTestStore(engine);
    const bus = await openTestBus(busKind, 'console');
    const metrics = new Metrics();
    const service = createConsole({ store, bus, metrics, logger: silentLogger(), clock: new ManualClock(NOW) });
    const count = (name: string, outcome?: string) => metrics.value(name, outcome ? { outcome } : {});
    // 1. The registry's records are on the topic before the console starts (it reads from the beginning).
    await bus.ensureTopic(TOPICS.devices);
    await bus.produce(TOPICS.devices, [
      message(device('WM-1')),
      message(device('SL-1', { kind: 'streetlight', circuit: 'C-1', lat: 47.76, lon: 7.34 })),
      message(device('WM-2', { active: false })),
      { key: 'WM-3', value: '{not json' },
      message({ ...device('WM-3'), lat: 200 }),
    ]);
    await service.start();
    onTestFinished(() => service.close());
    await expect.poll(() => count('console_device_records_total'), POLL).toBe(5);
    expect(await count('console_device_records_total', 'invalid')).toBe(2);
    const first = await listDevices(store, {});
    expect(first.devices.map((d) => [d.deviceId, d.kind, d.state, d.lat, d.district])).toEqual([
      ['SL-1', 'streetlight', 'ok', 47.76, 'north'],
      ['WM-1', 'water-meter', 'ok', 47.75, 'north'],
      ['WM-2', 'water-meter', 'inactive', 47.75, 'north'],
    ]);
    expect(await listDevices(store, { since: Number(first.cursor) })).toEqual({ cursor: first.cursor, devices: [] });

    // 2. A leak opens on WM-1: WM-1 alone changed since the cursor, critical.
    await bus.ensureTopic(TOPICS.alerts);
    await bus.produce(TOPICS.alerts, [message(transition('WM-1', 'open', '2026-03-09T02:00:00.000Z'))]);
    await expect.poll(() => count('console_alert_transitions_total'), POLL).toBe(1);
    const second = await listDevices(store, { since: Number(first.cursor) });
    expect(second.devices).toEqual([
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
    expect(Number(second.cursor)).toBeGreaterThan(Number(first.cursor));

    // 3. The same registry record again and the same open again (redeliveries) change nothing: no new version.
    await bus.produce(TOPICS.devices, [message(device('WM-1'))]);
    await bus.produce(TOPICS.alerts, [message(transition('WM-1', 'open', '2026-03-09T02:00:00.000Z'))]);
    await expect.poll(() => count('console_device_records_total'), POLL).toBe(6);
    await expect.poll(() => count('console_alert_transitions_total'), POLL).toBe(2);
    expect(await listDevices(store, { since: Number(second.cursor) })).toEqual({
      cursor: second.cursor,
      devices: [],
    });

    // 4. An update keeps `since`; a resolve of episode 1 clears it; episode 2 opens; episode 1's late resolve
    //    leaves episode 2 open; an alert of a device the registry has not described creates it (kind, no position).
    await bus.produce(TOPICS.alerts, [
      message(
        transition('WM-1', 'update', '2026-03-09T05:00:00.000Z', { severity: 'warning', summary: 'About 2 L/h' }),
      ),
      message(transition('WM-1', 'resolved', '2026-03-09T08:00:00.000Z')),
      message(transition('WM-1', 'open', '2026-03-09T20:00:00.000Z', { episode: 2, severity: 'warning' })),
      message(transition('WM-1', 'resolved', '2026-03-09T21:00:00.000Z', { episode: 1 })),
      message(
        transition('PM-9', 'open', '2026-03-09T22:00:00.000Z', {
          type: 'fault',
          kind: 'parking-meter',
          severity: 'info',
        }),
      ),
    ]);
    await expect.poll(() => count('console_alert_transitions_total'), POLL).toBe(7);
    expect(await count('console_alert_resolves_unmatched_total')).toBe(1);
    const third = await listDevices(store, { since: Number(second.cursor) });
    expect(
      third.devices.map((d) => [d.deviceId, d.kind, d.state, d.lat, d.alerts.map((a) => [a.alertId, a.since])]),
    ).toEqual([
      ['PM-9', 'parking-meter', 'info', null, [['PM-9:fault:1', '2026-03-09T22:00:00.000Z']]],
      ['WM-1', 'water-meter', 'warning', 47.75, [['WM-1:leak:2', '2026-03-09T20:00:00.000Z']]],
    ]);

    // 5. The registry moves WM-1 and describes PM-9: both change, the alerts stay; a kind filter keeps the cursor.
    await bus.produce(TOPICS.devices, [
      message(device('WM-1', { lat: 47.7, updatedAt: '2026-03-10T07:00:00.000Z' })),
      message(device('PM-9', { kind: 'parking-meter', district: 'centre' })),
    ]);
    await expect.poll(() => count('console_device_records_total'), POLL).toBe(8);
    const fourth = await listDevices(store, { since: Number(third.cursor), kind: 'parking-meter' });
    expect(fourth.devices.map((d) => [d.deviceId, d.district, d.state])).toEqual([['PM-9', 'centre', 'info']]);
    const all = await listDevices(store, { since: Number(third.cursor) });
    expect(all.cursor).toBe(fourth.cursor);
    expect(all.devices.map((d) => [d.deviceId, d.lat, d.state, d.updatedAt])).toEqual([
      ['PM-9', 47.75, 'info', '2026-03-01T00:00:00.000Z'],
      ['WM-1', 47.7, 'warning', '2026-03-10T07:00:00.000Z'],
    ]);
  });

  it('stores device rollups per hour and day, replaces a later record, and deletes expired rows at most once an hour', async () => {
    const store = await openTestStore(engine);
    const bus = await openTestBus(busKind, 'console');
    const metrics = new Metrics();
    const clock = new ManualClock(NOW);
    const service = createConsole({
      store,
      bus,
      metrics,
      logger: silentLogger(),
      clock,
      config: consoleConfigSchema.parse({ hourRetentionDays: 10, dayRetentionDays: 100 }),
    });
    const count = (outcome?: string) => metrics.value('console_rollups_total', outcome ? { outcome } : {});
    // 1. Hours and days of two meters, a streetlight's energy, a district (ignored) and bad records (invalid).
    await bus.ensureTopic(TOPICS.rollups);
    await bus.produce(TOPICS.rollups, [
      message(rollup('WM-1', 'hour', iso(NOW - 2 * 3_600_000), { consumptionL: 5 })),
      message(rollup('WM-1', 'hour', iso(NOW - 3_600_000), { consumptionL: 7 })),
      message(rollup('WM-1', 'day', iso(NOW - DAY_MS), { consumptionL: 120, nightMinFlowLph: 0 })),
      message({
        ...rollup('SL-1', 'hour', iso(NOW - 3_600_000), { energyWh: 40 }),
        kind: 'streetlight',
        circuit: 'C-1',
      }),
      message({
        ...rollup('WM-1', 'day', iso(NOW - DAY_MS), { consumptionL: 9 }),
        scope: 'district',
        deviceId: undefined,
      }),
      message({ ...rollup('WM-1', 'day', iso(NOW - DAY_MS), { consumptionL: 9 }), deviceId: undefined }),
      { key: 'WM-1', value: 'null' },
    ]);
    await service.start();
    onTestFinished(() => service.close());
    await expect.poll(() => count(), POLL).toBe(7);
    expect(await count('ignored')).toBe(1);
    expect(await count('invalid')).toBe(2);
    // 2. A later record of the same hour replaces it.
    await bus.produce(TOPICS.rollups, [message(rollup('WM-1', 'hour', iso(NOW - 3_600_000), { consumptionL: 8 }))]);
    await expect.poll(() => count('stored'), POLL).toBe(5);
    expect(await series(store, 'WM-1', 'hour')).toEqual([
      [iso(NOW - 2 * 3_600_000), { consumptionL: 5 }],
      [iso(NOW - 3_600_000), { consumptionL: 8 }],
    ]);
    expect(await series(store, 'WM-1', 'day')).toEqual([
      [iso(NOW - DAY_MS), { consumptionL: 120, nightMinFlowLph: 0 }],
    ]);
    expect(await series(store, 'SL-1', 'hour')).toEqual([[iso(NOW - 3_600_000), { energyWh: 40 }]]);

    // 3. Expired rows arrive within the hour of the last sweep (the first batch's): they stay until the next one.
    await bus.produce(TOPICS.rollups, [
      message(rollup('WM-1', 'hour', iso(NOW - 11 * DAY_MS), { consumptionL: 1 })),
      message(rollup('WM-1', 'day', iso(NOW - 101 * DAY_MS), { consumptionL: 2 })),
      message(rollup('WM-1', 'day', iso(NOW - 99 * DAY_MS), { consumptionL: 3 })),
    ]);
    await expect.poll(() => count('stored'), POLL).toBe(8);
    expect(await series(store, 'WM-1', 'hour')).toHaveLength(3);
    expect(await metrics.value('console_series_rows_deleted_total')).toBe(0);

    // 4. An hour later, the next stored batch sweeps: the 11-day-old hour and the 101-day-old day go.
    clock.advance(3_600_000);
    await bus.produce(TOPICS.rollups, [message(rollup('WM-1', 'hour', iso(NOW), { consumptionL: 4 }))]);
    await expect.poll(() => metrics.value('console_series_rows_deleted_total'), POLL).toBe(2);
    expect(await metrics.value('console_series_rows_deleted_total', { period: 'hour' })).toBe(1);
    expect((await series(store, 'WM-1', 'hour')).map(([start]) => start)).toEqual([
      iso(NOW - 2 * 3_600_000),
      iso(NOW - 3_600_000),
      iso(NOW),
    ]);
    expect((await series(store, 'WM-1', 'day')).map(([start]) => start)).toEqual([
      iso(NOW - 99 * DAY_MS),
      iso(NOW - DAY_MS),
    ]);
  });
});

describe('console cursor on PostgreSQL', () => {
  it('never misses a change when a client follows the cursor while several writers commit at once', async () => {
    const store = await openTestStore('postgres');
    const seen = new Map<string, ConsoleDevice>();
    let cursor: number | undefined;
    const follow = async () => {
      const page = await listDevices(store, { since: cursor });
      for (const d of page.devices) seen.set(d.deviceId, d);
      cursor = Number(page.cursor);
    };
    // 1. Writers on a pool of connections — one writing large batches of new devices (a long statement between its
    //    first version and its commit), three writing single devices and alerts — and a client following the cursor.
    //    Every device changes once or twice only, so a change the client skipped would not be healed by a later one.
    let writing = true;
    const big = (async () => {
      for (let b = 0; b < 8; b++) {
        await storeDevices(
          store,
          Array.from({ length: 400 }, (_, k) => device(`BIG-${b}-${k}`)),
        );
      }
    })();
    const small = Array.from({ length: 3 }, async (_, w) => {
      for (let i = 0; i < 60; i++) {
        const id = `S-${w}-${i}`;
        if (i % 2 === 0) await storeDevices(store, [device(id, { lat: 47 + i / 1000 })]);
        else await storeAlerts(store, [transition(id, 'open', iso(NOW + i * 60_000))]);
      }
    });
    const writers = [big, ...small];
    const reader = (async () => {
      while (writing) await follow();
    })();
    await Promise.all(writers);
    writing = false;
    await reader;
    // 2. One last look after the writers: what the client pieced together is exactly the current state.
    await follow();
    const now = await listDevices(store, {});
    expect(now.devices).toHaveLength(8 * 400 + 3 * 60);
    expect(now.devices.filter((d) => seen.get(d.deviceId)?.updatedAt !== d.updatedAt).map((d) => d.deviceId)).toEqual(
      [],
    );
    expect(new Map(now.devices.map((d) => [d.deviceId, d]))).toEqual(seen);
    expect(String(cursor)).toBe(now.cursor);
  });
});
