import { KINDS, type Kind, type RollupPeriod, type RollupScope } from '../../core/contracts/index.ts';

/**
 * The time-series schema the sink writes (README.md), as data: the dashboards' tests check every query against it,
 * and the sink's tests check every line it writes against it. A field's type never changes for the life of a
 * measurement (InfluxDB refuses a point whose field type differs from the stored one).
 */

/** Types a field may have in line protocol. */
export type FieldType = 'float' | 'integer' | 'string' | 'boolean';

/** One measurement: its tags (bounded cardinality), its known fields, and whether other float fields may appear. */
export interface MeasurementSchema {
  readonly tags: readonly string[];
  readonly fields: Readonly<Record<string, FieldType>>;
  /** Readings keep every metric a device sends (CONTRACTS.md §3): other fields, always floats, may appear. */
  readonly otherFloatFields: boolean;
}

/** Measurement of a device kind's readings: its name in snake_case (`water-meter` → `water_meter`). */
export function measurementOf(kind: Kind): string {
  return kind.replaceAll('-', '_');
}

/**
 * Measurement of a kind's rollups of one scope and period, e.g. `water_meter_hourly`, `water_meter_district_daily`,
 * `streetlight_circuit_hourly`.
 */
export function rollupMeasurementOf(kind: Kind, scope: RollupScope, period: RollupPeriod): string {
  return `${measurementOf(kind)}${scope === 'device' ? '' : `_${scope}`}_${period === 'hour' ? 'hourly' : 'daily'}`;
}

/** Measurement of alert transitions. */
export const ALERT_MEASUREMENT = 'alert';
/** Measurement of the pipeline's own health (one point per stage instance per report). */
export const HEALTH_MEASUREMENT = 'pipeline_health';
/** Measurement of the registry's description of each device (location for maps, district, active). */
export const DEVICE_MEASUREMENT = 'device';

/** The metrics of each kind that carry meaning (CONTRACTS.md §3), written as float fields. */
const READING_FIELDS: Record<Kind, readonly string[]> = {
  'water-meter': ['indexL', 'flowLph', 'batteryPct', 'tempC'],
  streetlight: ['powerW', 'dimPct', 'energyWh', 'lux'],
  'parking-meter': ['batteryPct', 'paperPct', 'coinFillPct'],
  sensor: [],
  'bike-station': ['bikesAvailable', 'docksAvailable', 'ebikesAvailable', 'capacity'],
  'car-share': ['available', 'fuelPct', 'chargePct'],
  'car-park': ['spacesFree', 'capacity', 'occupancyPct'],
};

/** Values of parking meters' rollups (processors/rollups/parking.ts). */
const PARKING_ROLLUP_FIELDS = [
  'revenueCents',
  'revenueCoinCents',
  'revenueCardCents',
  'revenueSmsCents',
  'payments',
  'paidMinutes',
  'paidOccupancy',
] as const;

/** The values of each kind's rollups (float fields); day rollups may carry more than hour rollups. */
const ROLLUP_FIELDS: Record<Kind, Record<RollupPeriod, readonly string[]>> = {
  'water-meter': { hour: ['consumptionL'], day: ['consumptionL', 'nightMinFlowLph'] },
  streetlight: { hour: ['energyWh', 'litHours'], day: ['energyWh', 'litHours'] },
  'parking-meter': { hour: PARKING_ROLLUP_FIELDS, day: PARKING_ROLLUP_FIELDS },
  sensor: { hour: [], day: [] },
  'bike-station': { hour: [], day: [] },
  'car-share': { hour: [], day: [] },
  'car-park': { hour: [], day: [] },
};

/** The scopes each kind is rolled up at besides `device` and `district`: streetlights per circuit too. */
const EXTRA_ROLLUP_SCOPES: Record<Kind, readonly RollupScope[]> = {
  'water-meter': [],
  streetlight: ['circuit'],
  'parking-meter': [],
  sensor: [],
  'bike-station': [],
  'car-share': [],
  'car-park': [],
};

/** Tags of the rollups of a kind and scope: device rollups of a kind with circuits carry the lamp's circuit too. */
function rollupTags(kind: Kind, scope: RollupScope): readonly string[] {
  if (scope === 'district') return ['district'];
  if (scope === 'circuit') return ['circuit', 'district'];
  return EXTRA_ROLLUP_SCOPES[kind].includes('circuit')
    ? ['device_id', 'district', 'circuit']
    : ['device_id', 'district'];
}

/** Counters and gauges of `pipeline_health` (integers); each component writes the ones it has. */
export const HEALTH_FIELDS = [
  'messages_in',
  'messages_out',
  'dead_letters',
  'bus_lag_messages',
  'connections',
  'held_messages',
  'buffer_bytes',
  'buffer_points',
  'points_written',
  'points_rejected',
  'write_retries',
  'alerts_open',
  'deliveries_pending',
  'deliveries_failed',
  'rss_bytes',
] as const;
/** A field of `pipeline_health`. */
export type HealthField = (typeof HEALTH_FIELDS)[number];

function floats(names: readonly string[]): Record<string, FieldType> {
  return Object.fromEntries(names.map((n) => [n, 'float' as const]));
}

function buildSchema(): Readonly<Record<string, MeasurementSchema>> {
  const schema: Record<string, MeasurementSchema> = {};
  for (const kind of KINDS) {
    schema[measurementOf(kind)] = { tags: ['device_id'], fields: floats(READING_FIELDS[kind]), otherFloatFields: true };
    for (const period of ['hour', 'day'] as const) {
      const fields = floats(ROLLUP_FIELDS[kind][period]);
      if (Object.keys(fields).length === 0) continue;
      schema[rollupMeasurementOf(kind, 'device', period)] = {
        tags: rollupTags(kind, 'device'),
        fields,
        otherFloatFields: false,
      };
      for (const scope of ['district', ...EXTRA_ROLLUP_SCOPES[kind]] as const) {
        schema[rollupMeasurementOf(kind, scope, period)] = {
          tags: rollupTags(kind, scope),
          fields: { ...fields, devices: 'integer' },
          otherFloatFields: false,
        };
      }
    }
  }
  schema[ALERT_MEASUREMENT] = {
    tags: ['device_id', 'kind', 'severity', 'state', 'type'],
    fields: { alert_id: 'string', summary: 'string' },
    otherFloatFields: false,
  };
  schema[HEALTH_MEASUREMENT] = {
    tags: ['component', 'instance'],
    fields: Object.fromEntries(HEALTH_FIELDS.map((f) => [f, 'integer' as const])),
    otherFloatFields: false,
  };
  schema[DEVICE_MEASUREMENT] = {
    tags: ['device_id', 'kind', 'district'],
    fields: { lat: 'float', lon: 'float', active: 'boolean' },
    otherFloatFields: false,
  };
  return schema;
}

/** Every measurement the sink writes, by name. */
export const SCHEMA: Readonly<Record<string, MeasurementSchema>> = buildSchema();

/** The type of `field` in `measurement`, or undefined when the sink never writes it there. */
export function fieldTypeOf(measurement: string, field: string): FieldType | undefined {
  const m = SCHEMA[measurement];
  if (!m) return undefined;
  return m.fields[field] ?? (m.otherFloatFields ? 'float' : undefined);
}
