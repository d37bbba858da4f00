import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Bus } from '../../core/bus/port.ts';
import { createReadModel, parseRecord, type ReadModel, type ReadModelRecord } from '../../core/bus/read-model.ts';
import { DeviceInfo, type Kind, Reading, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { errorResponses, type HttpPlugin } from '../../services/http/server.ts';
import { useRateLimits } from '../http/rate-limit.ts';

/**
 * Availability for the residents' map (issue 8, "The mobility account"): bike-share stations, shared cars and car
 * parks, the simulated device kinds `bike-station`, `car-share`, `car-park` (CONTRACTS.md §3).
 *
 * Read model (core/bus/read-model.ts; each record stored, ignored on purpose or invalid — logged, counted, dropped:
 * the devices send again within minutes, so nothing is dead-lettered), table `mobility_availability`
 * (migrations/003_availability.sql), one row per device:
 * - `readings.bike-station.v1`, `readings.car-share.v1`, `readings.car-park.v1` (group `mobility-availability-<kind>`,
 *   from the beginning): the availability metrics of the device's newest reading by event time (a late or
 *   redelivered older reading changes nothing). A reading without its kind's required metrics is invalid (ingest
 *   already refuses them).
 * - `devices.v1` (group `mobility-availability-devices`): the three kinds' place (lat/lon), district and `active`;
 *   other kinds are ignored.
 *
 * A shared car stands at its station (station-based car-share, as the simulator models it): its place is the
 * registry's; a car that reports `lat`/`lon` metrics (a free-floating fleet) is placed there instead. The route lists
 * active devices with a reading and a place: one the registry has not placed yet is left off the map.
 */

/** The kinds on the map. */
export const AVAILABILITY_KINDS = ['bike-station', 'car-share', 'car-park'] as const satisfies readonly Kind[];
/** A kind on the map. */
export type AvailabilityKind = (typeof AVAILABILITY_KINDS)[number];

/** Consumer groups of the read model. */
export const AVAILABILITY_GROUP_IDS = {
  devices: 'mobility-availability-devices',
  readings: (kind: AvailabilityKind) => `mobility-availability-${kind}`,
} as const;

/** The metrics kept per kind (the first ones required), as the map shows them. */
const KEPT: Readonly<Record<AvailabilityKind, { required: readonly string[]; optional: readonly string[] }>> = {
  'bike-station': { required: ['bikesAvailable', 'docksAvailable'], optional: ['ebikesAvailable', 'capacity'] },
  'car-share': { required: ['available'], optional: ['chargePct', 'fuelPct', 'lat', 'lon'] },
  'car-park': { required: ['spacesFree'], optional: ['capacity', 'occupancyPct'] },
};

const isAvailabilityKind = (kind: string): kind is AvailabilityKind =>
  (AVAILABILITY_KINDS as readonly string[]).includes(kind);

/** The newest availability of one device, as stored. */
export interface AvailabilityReading {
  readonly deviceId: string;
  readonly kind: AvailabilityKind;
  /** The kept metrics. */
  readonly metrics: Readonly<Record<string, number>>;
  /** The reading's event time, ISO 8601 UTC. */
  readonly at: string;
}

/** Decodes one reading of a map kind: its kept metrics (pure). */
export function decodeAvailabilityReading(value: string): ReadModelRecord<AvailabilityReading> {
  const parsed = parseRecord(value, Reading, 'Reading');
  if (parsed.outcome === 'invalid') return parsed;
  const r = parsed.data;
  if (!isAvailabilityKind(r.kind)) return { outcome: 'ignored' };
  const kept = KEPT[r.kind];
  const missing = kept.required.filter((name) => r.metrics[name] === undefined);
  if (missing.length > 0) return { outcome: 'invalid', reason: `${r.kind} reading without ${missing.join(', ')}` };
  const metrics: Record<string, number> = {};
  for (const name of [...kept.required, ...kept.optional]) {
    const v = r.metrics[name];
    if (v !== undefined) metrics[name] = v;
  }
  return { outcome: 'stored', item: { deviceId: r.deviceId, kind: r.kind, metrics, at: new Date(r.ts).toISOString() } };
}

/** Decodes one `devices.v1` record: a map kind's place is stored, other kinds ignored (pure). */
export function decodeAvailabilityDevice(value: string): ReadModelRecord<DeviceInfo> {
  const parsed = parseRecord(value, DeviceInfo, 'DeviceInfo');
  if (parsed.outcome === 'invalid') return parsed;
  return isAvailabilityKind(parsed.data.kind) ? { outcome: 'stored', item: parsed.data } : { outcome: 'ignored' };
}

/** The last item of each device, in order (one statement cannot update a row twice). */
function lastPerDevice<T extends { readonly deviceId: string }>(items: readonly T[]): T[] {
  return [...new Map(items.map((i) => [i.deviceId, i])).values()];
}

/** Stores readings: a device's row takes a reading only when it is newer (by event time) than the one it has. */
export async function storeAvailabilityReadings(
  db: SqlExecutor,
  readings: readonly AvailabilityReading[],
): Promise<number> {
  if (readings.length === 0) return 0;
  const newest = new Map<string, AvailabilityReading>();
  for (const r of readings) {
    const known = newest.get(r.deviceId);
    if (!known || Date.parse(r.at) > Date.parse(known.at)) newest.set(r.deviceId, r);
  }
  const rows = [...newest.values()];
  const res = await db.query(
    `INSERT INTO mobility_availability AS a (device_id, kind, metrics, at)
     SELECT u.device_id, u.kind, u.metrics::jsonb, u.at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) AS u(device_id, kind, metrics, at)
     ON CONFLICT (device_id) DO UPDATE SET kind = EXCLUDED.kind, metrics = EXCLUDED.metrics, at = EXCLUDED.at
     WHERE a.at IS NULL OR EXCLUDED.at > a.at`,
    [
      rows.map((r) => r.deviceId),
      rows.map((r) => r.kind),
      rows.map((r) => JSON.stringify(r.metrics)),
      rows.map((r) => r.at),
    ],
  );
  return res.rowCount;
}

/** Stores the registry's descriptions of map devices (in offset order: the last of a device wins). */
export async function storeAvailabilityDevices(db: SqlExecutor, devices: readonly DeviceInfo[]): Promise<void> {
  const rows = lastPerDevice(devices);
  if (rows.length === 0) return;
  await db.query(
    `INSERT INTO mobility_availability AS a (device_id, kind, district, lat, lon, active)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::float8[], $6::boolean[])
     ON CONFLICT (device_id) DO UPDATE SET
       kind = EXCLUDED.kind, district = EXCLUDED.district, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
       active = EXCLUDED.active`,
    [
      rows.map((d) => d.deviceId),
      rows.map((d) => d.kind),
      rows.map((d) => d.district ?? null),
      rows.map((d) => d.lat ?? null),
      rows.map((d) => d.lon ?? null),
      rows.map((d) => d.active),
    ],
  );
}

/** What the read model needs. */
export interface AvailabilityReadModelDeps {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** Creates the availability read models (not started): the registry's places, and one per kind's readings. */
export function createAvailabilityReadModels(deps: AvailabilityReadModelDeps): ReadModel[] {
  const { bus, store, metrics, logger } = deps;
  const readings = metrics.counter(
    'mobility_availability_readings_total',
    'Readings of bike stations, shared cars and car parks read by the availability map, by outcome (stored, invalid)',
    ['outcome'],
  );
  return [
    createReadModel<DeviceInfo>({
      bus,
      topic: TOPICS.devices,
      groupId: AVAILABILITY_GROUP_IDS.devices,
      decode: (m) => decodeAvailabilityDevice(m.value),
      store: (devices) => storeAvailabilityDevices(store, devices),
      counter: metrics.counter(
        'mobility_availability_devices_total',
        'devices.v1 records read by the availability map, by outcome (stored, ignored: another kind, invalid)',
        ['outcome'],
      ),
      logger,
      what: 'mobility: invalid device record',
    }),
    ...AVAILABILITY_KINDS.map((kind) =>
      createReadModel<AvailabilityReading>({
        bus,
        topic: TOPICS.readings(kind),
        groupId: AVAILABILITY_GROUP_IDS.readings(kind),
        decode: (m) => decodeAvailabilityReading(m.value),
        store: async (items) => {
          await storeAvailabilityReadings(store, items);
        },
        counter: readings,
        logger,
        what: `mobility: invalid ${kind} reading`,
      }),
    ),
  ];
}

const IsoTimestamp = z.iso.datetime({ offset: true });
const place = {
  deviceId: z.string(),
  lat: z.number().describe('WGS 84 degrees'),
  lon: z.number().describe('WGS 84 degrees'),
  district: z.string().nullable(),
  at: IsoTimestamp.describe('Event time of the reading shown'),
};

/** A bike-share station on the map. */
export const BikeStationAvailability = z
  .object({
    ...place,
    bikesAvailable: z.number().int().describe('Bikes to rent, e-bikes included'),
    docksAvailable: z.number().int().describe('Free docks to return a bike'),
    ebikesAvailable: z.number().int().nullable().describe('E-bikes among the bikes (null: not reported)'),
    capacity: z.number().int().nullable().describe('Docks'),
  })
  .meta({ id: 'BikeStationAvailability' });

/** A shared car on the map. */
export const CarShareAvailability = z
  .object({
    ...place,
    available: z.boolean().describe('At its station and bookable now'),
    chargePct: z.number().nullable().describe('Electric cars: charge, %'),
    fuelPct: z.number().nullable().describe('Other cars: fuel, %'),
  })
  .meta({ id: 'CarShareAvailability' });

/** A car park on the map. */
export const CarParkAvailability = z
  .object({
    ...place,
    spacesFree: z.number().int(),
    capacity: z.number().int().nullable(),
    occupancyPct: z.number().nullable(),
  })
  .meta({ id: 'CarParkAvailability' });

/** The answer of `GET /api/mobility/availability`. */
export const AvailabilitySchema = z
  .object({
    bikeStations: z.array(BikeStationAvailability),
    carShares: z.array(CarShareAvailability),
    carParks: z.array(CarParkAvailability),
  })
  .meta({ id: 'MobilityAvailability' });
/** The answer of `GET /api/mobility/availability`. */
export type Availability = z.output<typeof AvailabilitySchema>;

/** Reads the map: active devices with a reading and a place, by kind, in device id order. */
export async function readAvailability(db: SqlExecutor): Promise<Availability> {
  const { rows } = await db.query<{
    device_id: string;
    kind: AvailabilityKind;
    district: string | null;
    lat: number | null;
    lon: number | null;
    metrics: Record<string, number> | string;
    at: Date | string;
  }>(
    `SELECT device_id, kind, district, lat, lon, metrics, at FROM mobility_availability
     WHERE active AND at IS NOT NULL ORDER BY kind, device_id`,
  );
  const out: Availability = { bikeStations: [], carShares: [], carParks: [] };
  const num = (m: Record<string, number>, name: string) => (typeof m[name] === 'number' ? m[name] : null);
  for (const row of rows) {
    const m = typeof row.metrics === 'string' ? (JSON.parse(row.metrics) as Record<string, number>) : row.metrics;
    // A car reporting its position is placed there; everything else where the registry put it.
    const lat = row.kind === 'car-share' && typeof m.lat === 'number' ? m.lat : row.lat;
    const lon = row.kind === 'car-share' && typeof m.lon === 'number' ? m.lon : row.lon;
    if (lat === null || lon === null) continue;
    const base = { deviceId: row.device_id, lat, lon, district: row.district, at: new Date(row.at).toISOString() };
    if (row.kind === 'bike-station') {
      out.bikeStations.push({
        ...base,
        bikesAvailable: m.bikesAvailable ?? 0,
        docksAvailable: m.docksAvailable ?? 0,
        ebikesAvailable: num(m, 'ebikesAvailable'),
        capacity: num(m, 'capacity'),
      });
    } else if (row.kind === 'car-share') {
      out.carShares.push({
        ...base,
        available: m.available === 1,
        chargePct: num(m, 'chargePct'),
        fuelPct: num(m, 'fuelPct'),
      });
    } else {
      out.carParks.push({
        ...base,
        spacesFree: m.spacesFree ?? 0,
        capacity: num(m, 'capacity'),
        occupancyPct: num(m, 'occupancyPct'),
      });
    }
  }
  return out;
}

/** Requests per minute per IP address on the public route, by default. */
export const AVAILABILITY_REQUESTS_PER_MINUTE_PER_IP = 60;
/** How long a client or a cache may keep an answer, seconds (devices report every few minutes). */
export const AVAILABILITY_MAX_AGE_SECONDS = 30;

/** What the availability route needs. */
export interface AvailabilityRoutesDeps {
  readonly store: SqlStore;
  /** Requests per minute per IP address (default {@link AVAILABILITY_REQUESTS_PER_MINUTE_PER_IP}). */
  readonly requestsPerMinutePerIp?: number | undefined;
}

/**
 * `GET /api/mobility/availability`, public (the residents' map: no token), limited per IP address
 * (@fastify/rate-limit, counted in the store by every instance together) with ERR_MOBILITY_RATE_LIMITED (429).
 */
export function availabilityRoutes(deps: AvailabilityRoutesDeps): HttpPlugin {
  const max = deps.requestsPerMinutePerIp ?? AVAILABILITY_REQUESTS_PER_MINUTE_PER_IP;
  return async (app) => {
    await useRateLimits(app);
    app.get(
      '/api/mobility/availability',
      {
        config: {
          rateLimit: {
            max,
            timeWindow: 60_000,
            errorResponseBuilder: (_req: FastifyRequest, ctx: { max: number; after: string }) =>
              new AppError(
                'ERR_MOBILITY_RATE_LIMITED',
                `availability: more than ${ctx.max} requests a minute from this address (try again in ${ctx.after})`,
              ),
          },
        },
        schema: {
          tags: ['mobility'],
          summary: 'Bike stations, shared cars and car parks available now (public)',
          description:
            'For the residents’ map: each active bike-share station, shared car and car park with a place, and ' +
            'what its newest reading says (bikes and docks free, the car bookable, spaces free), with the event ' +
            `time of that reading. No token. At most ${max} requests a minute per IP address; answers may be ` +
            `cached ${AVAILABILITY_MAX_AGE_SECONDS} s.`,
          response: { 200: AvailabilitySchema, ...errorResponses(429) },
        },
      },
      async (_request, reply) => {
        reply.header('cache-control', `public, max-age=${AVAILABILITY_MAX_AGE_SECONDS}`);
        return readAvailability(deps.store);
      },
    );
  };
}
