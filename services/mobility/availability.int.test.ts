import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import { type DeviceInfo, type Reading, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { httpConfigSchema, httpMigrations, type RunningHttp, startHttp } from '../../services/http/index.ts';
import { BUS_AND_ENGINE, openTestBus } from '../../test/helpers/bus.ts';
import {
  AvailabilitySchema,
  decodeAvailabilityReading,
  readAvailability,
  storeAvailabilityReadings,
} from './availability.ts';
import { mobilityMigrations, mobilityRoutes } from './index.ts';
import { mobilityOn, openTestStore } from './test-env.ts';

const POLL = { timeout: 60_000, interval: 50 };
const NOW = Date.parse('2026-03-02T09:00:00Z');

const device = (deviceId: string, kind: DeviceInfo['kind'], extra: Partial<DeviceInfo> = {}): DeviceInfo => ({
  deviceId,
  kind,
  district: 'centre',
  lat: 47.7475,
  lon: 7.339,
  active: true,
  updatedAt: '2026-03-01T00:00:00.000Z',
  ...extra,
});
const reading = (deviceId: string, kind: Reading['kind'], ts: string, metrics: Record<string, number>): Reading => ({
  deviceId,
  kind,
  ts,
  metrics,
  receivedAt: new Date(ts).toISOString(),
});
const msg = (value: { deviceId: string }) => ({ key: value.deviceId, value: JSON.stringify(value) });

describe('availability decoding', () => {
  it('keeps the map metrics of a reading, and refuses one without its kind’s required metrics', () => {
    const ok = decodeAvailabilityReading(
      JSON.stringify(
        reading('BS-000001', 'bike-station', '2026-03-02T08:00:00+01:00', {
          bikesAvailable: 4,
          docksAvailable: 11,
          capacity: 15,
          rssi: -80,
        }),
      ),
    );
    expect(ok).toEqual({
      outcome: 'stored',
      item: {
        deviceId: 'BS-000001',
        kind: 'bike-station',
        metrics: { bikesAvailable: 4, docksAvailable: 11, capacity: 15 },
        at: '2026-03-02T07:00:00.000Z',
      },
    });
    expect(
      decodeAvailabilityReading(
        JSON.stringify(reading('CP-000001', 'car-park', '2026-03-02T08:00:00Z', { capacity: 9 })),
      ),
    ).toEqual({ outcome: 'invalid', reason: 'car-park reading without spacesFree' });
    expect(
      decodeAvailabilityReading(
        JSON.stringify(reading('WM-000001', 'water-meter', '2026-03-02T08:00:00Z', { indexL: 1 })),
      ),
    ).toEqual({ outcome: 'ignored' });
    expect(decodeAvailabilityReading('{nope')).toEqual({ outcome: 'invalid', reason: 'not JSON' });
  });
});

describe.each(BUS_AND_ENGINE)('availability read model on the %s bus and %s', (busKind, engine) => {
  it('keeps the newest reading of each map device with its place, and lists active placed devices by kind', async () => {
    const store = await openTestStore(engine);
    const bus = await openTestBus(busKind, 'mobility-availability');
    const { mobility, metrics } = mobilityOn(store, bus, new ManualClock(NOW));
    // The registry's records are on the topic before the service starts (the read model reads from the beginning).
    await bus.ensureTopic(TOPICS.devices);
    await bus.produce(TOPICS.devices, [
      msg(device('BS-000001', 'bike-station')),
      msg(device('BS-000002', 'bike-station', { lat: 47.772, lon: 7.3235, district: 'bourtzwiller' })),
      msg(device('CS-000001', 'car-share')),
      msg(device('CS-000002', 'car-share', { active: false })),
      msg(device('CP-000001', 'car-park')),
      msg(device('WM-000001', 'water-meter')),
      { key: 'BS-000009', value: '{not json' },
    ]);
    await mobility.start();
    const count = (name: string, outcome: string) => metrics.value(name, { outcome });
    await expect.poll(() => count('mobility_availability_devices_total', 'stored'), POLL).toBe(5);
    expect(await count('mobility_availability_devices_total', 'ignored')).toBe(1);
    expect(await count('mobility_availability_devices_total', 'invalid')).toBe(1);

    for (const [kind, readings] of [
      [
        'bike-station',
        [
          reading('BS-000001', 'bike-station', '2026-03-02T07:00:00Z', { bikesAvailable: 9, docksAvailable: 6 }),
          reading('BS-000001', 'bike-station', '2026-03-02T07:15:00Z', {
            bikesAvailable: 2,
            docksAvailable: 13,
            ebikesAvailable: 1,
            capacity: 15,
          }),
          // Late: an older reading arrives after the newer one, and changes nothing.
          reading('BS-000001', 'bike-station', '2026-03-02T07:05:00Z', { bikesAvailable: 7, docksAvailable: 8 }),
          reading('BS-000002', 'bike-station', '2026-03-02T07:10:00Z', { bikesAvailable: 0, docksAvailable: 20 }),
          // Not placed by the registry: left off the map.
          reading('BS-000003', 'bike-station', '2026-03-02T07:10:00Z', { bikesAvailable: 5, docksAvailable: 5 }),
        ],
      ],
      [
        'car-share',
        [
          reading('CS-000001', 'car-share', '2026-03-02T07:00:00Z', { available: 1, chargePct: 81 }),
          reading('CS-000002', 'car-share', '2026-03-02T07:00:00Z', { available: 1, fuelPct: 50 }),
        ],
      ],
      [
        'car-park',
        [
          reading('CP-000001', 'car-park', '2026-03-02T07:00:00Z', { spacesFree: 12, capacity: 400, occupancyPct: 97 }),
          reading('CP-000001', 'car-park', '2026-03-02T07:30:00Z', { capacity: 400 }),
        ],
      ],
    ] as const) {
      await bus.ensureTopic(TOPICS.readings(kind));
      await bus.produce(TOPICS.readings(kind), readings.map(msg));
    }
    await expect.poll(() => metrics.value('mobility_availability_readings_total'), POLL).toBe(9);
    expect(await count('mobility_availability_readings_total', 'invalid')).toBe(1);

    const map = await readAvailability(store);
    expect(AvailabilitySchema.parse(map)).toEqual(map);
    expect(map).toEqual({
      bikeStations: [
        {
          deviceId: 'BS-000001',
          lat: 47.7475,
          lon: 7.339,
          district: 'centre',
          at: '2026-03-02T07:15:00.000Z',
          bikesAvailable: 2,
          docksAvailable: 13,
          ebikesAvailable: 1,
          capacity: 15,
        },
        {
          deviceId: 'BS-000002',
          lat: 47.772,
          lon: 7.3235,
          district: 'bourtzwiller',
          at: '2026-03-02T07:10:00.000Z',
          bikesAvailable: 0,
          docksAvailable: 20,
          ebikesAvailable: null,
          capacity: null,
        },
      ],
      carShares: [
        {
          deviceId: 'CS-000001',
          lat: 47.7475,
          lon: 7.339,
          district: 'centre',
          at: '2026-03-02T07:00:00.000Z',
          available: true,
          chargePct: 81,
          fuelPct: null,
        },
      ],
      carParks: [
        {
          deviceId: 'CP-000001',
          lat: 47.7475,
          lon: 7.339,
          district: 'centre',
          at: '2026-03-02T07:00:00.000Z',
          spacesFree: 12,
          capacity: 400,
          occupancyPct: 97,
        },
      ],
    });

    // The registry moves a station and revokes the car park: the map follows.
    await bus.produce(TOPICS.devices, [
      msg(device('BS-000002', 'bike-station', { lat: 47.756, lon: 7.357, district: 'drouot' })),
      msg(device('CP-000001', 'car-park', { active: false })),
    ]);
    await expect.poll(() => count('mobility_availability_devices_total', 'stored'), POLL).toBe(7);
    const after = await readAvailability(store);
    expect(after.bikeStations[1]).toMatchObject({
      deviceId: 'BS-000002',
      lat: 47.756,
      district: 'drouot',
      bikesAvailable: 0,
    });
    expect(after.carParks).toEqual([]);
  }, 120_000);
});

describe('availability store', () => {
  it('places a car reporting its own position there, and keeps the newest of a batch whatever its order', async () => {
    const store = await openTestStore('pglite');
    const n = await storeAvailabilityReadings(store, [
      {
        deviceId: 'CS-000009',
        kind: 'car-share',
        metrics: { available: 0, lat: 47.75, lon: 7.3 },
        at: '2026-03-02T08:00:00.000Z',
      },
      {
        deviceId: 'CS-000009',
        kind: 'car-share',
        metrics: { available: 1, lat: 47.76, lon: 7.31 },
        at: '2026-03-02T08:15:00.000Z',
      },
      {
        deviceId: 'CS-000009',
        kind: 'car-share',
        metrics: { available: 0, lat: 47.7, lon: 7.2 },
        at: '2026-03-02T08:10:00.000Z',
      },
    ]);
    expect(n).toBe(1);
    expect((await readAvailability(store)).carShares).toEqual([
      {
        deviceId: 'CS-000009',
        lat: 47.76,
        lon: 7.31,
        district: null,
        at: '2026-03-02T08:15:00.000Z',
        available: true,
        chargePct: null,
        fuelPct: null,
      },
    ]);
  });
});

describe('GET /api/mobility/availability', () => {
  let store: SqlStore;
  let bus: Bus;
  let http: RunningHttp;
  beforeAll(async () => {
    store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations, mobilityMigrations]);
    bus = createMemoryBus();
    http = await startHttp({
      config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
      store,
      logger: silentLogger(),
      metrics: new Metrics(),
      plugins: [mobilityRoutes({ store, clock: new ManualClock(NOW), availabilityPerMinutePerIp: 3 })],
    });
    await storeAvailabilityReadings(store, [
      {
        deviceId: 'CP-000002',
        kind: 'car-park',
        metrics: { spacesFree: 0, capacity: 150 },
        at: '2026-03-02T08:00:00.000Z',
      },
    ]);
    await store.query(`UPDATE mobility_availability SET lat = 47.74, lon = 7.33, district = 'rebberg'`);
  });
  afterAll(async () => {
    await http?.close();
    await bus?.close();
    await store?.close();
  });

  it('answers the map without a token, cacheable, then 429 ERR_MOBILITY_RATE_LIMITED past the limit per IP', async () => {
    const get = () => http.app.inject({ method: 'GET', url: '/api/mobility/availability' });
    const first = await get();
    expect(first.statusCode).toBe(200);
    expect(first.headers['cache-control']).toBe('public, max-age=30');
    expect(first.json()).toEqual({
      bikeStations: [],
      carShares: [],
      carParks: [
        {
          deviceId: 'CP-000002',
          lat: 47.74,
          lon: 7.33,
          district: 'rebberg',
          at: '2026-03-02T08:00:00.000Z',
          spacesFree: 0,
          capacity: 150,
          occupancyPct: null,
        },
      ],
    });
    expect((await get()).statusCode).toBe(200);
    expect((await get()).statusCode).toBe(200);
    const limited = await get();
    expect(limited.statusCode).toBe(429);
    expect(limited.json()).toMatchObject({ error: { code: 'ERR_MOBILITY_RATE_LIMITED' } });
    // Another address is counted on its own.
    const other = await http.app.inject({
      method: 'GET',
      url: '/api/mobility/availability',
      remoteAddress: '10.0.0.9',
    });
    expect(other.statusCode).toBe(200);
  });

  it('lists the route as public in the OpenAPI document', async () => {
    const doc = (await http.app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, { get?: { security?: unknown[] } }>;
    };
    const op = doc.paths['/api/mobility/availability']?.get;
    expect(op).toBeDefined();
    expect(op?.security ?? []).toEqual([]);
  });
});
