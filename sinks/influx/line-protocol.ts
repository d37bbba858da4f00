import {
  type AlertTransition,
  type DeviceInfo,
  type HealthReport,
  type Reading,
  type Rollup,
  UNASSIGNED_DISTRICT,
} from '../../core/contracts/index.ts';
import {
  ALERT_MEASUREMENT,
  DEVICE_MEASUREMENT,
  fieldTypeOf,
  HEALTH_MEASUREMENT,
  measurementOf,
  rollupMeasurementOf,
  SCHEMA,
} from './schema.ts';

/**
 * InfluxDB line protocol for Vigie's points (schema in README.md), written as strings: ARCHITECTURE.md measures the
 * client's `Point` at 2.3 µs per point against 0.6 µs for a precompiled template, and the write API takes lines.
 * Escaping follows https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/#special-characters and
 * matches the client's own `escape` (a property test compares them): measurement — comma, space; tag keys, tag
 * values, field keys — comma, equals sign, space; string field values — double quote, backslash. Newlines (and
 * tabs, carriage returns) cannot appear raw in a line: in names and tags they become `\n` (`\t`, `\r`) as the
 * client writes them, in string fields a space.
 */

const MEASUREMENT_SPECIAL = /[, \n\r\t]/;
const KEY_SPECIAL = /[, =\n\r\t]/;
const STRING_SPECIAL = /["\\\n\r]/;

/** Escapes a measurement name. */
export function escapeMeasurement(name: string): string {
  if (!MEASUREMENT_SPECIAL.test(name)) return name;
  return name.replace(/[, \n\r\t]/g, escapeChar);
}

/** Escapes a tag key, a tag value or a field key. */
export function escapeKey(key: string): string {
  if (!KEY_SPECIAL.test(key)) return key;
  return key.replace(/[, =\n\r\t]/g, escapeChar);
}

/** A string field value, quoted and escaped; newlines become spaces (a raw newline would end the line). */
export function quoteString(value: string): string {
  if (!STRING_SPECIAL.test(value)) return `"${value}"`;
  return `"${value.replace(/["\\]/g, '\\$&').replace(/\r\n|[\n\r]/g, ' ')}"`;
}

function escapeChar(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default:
      return `\\${c}`;
  }
}

/** A float field value: JavaScript's shortest round-trip form, which InfluxDB and VictoriaMetrics parse exactly. */
function floatValue(n: number): string {
  return Object.is(n, -0) ? '0' : String(n);
}

/**
 * The line of one reading, with its newline: measurement per kind, tag `device_id`, one float field per metric (its
 * contract name), the event time in ms. The same reading always gives the same line (same series and timestamp),
 * so writing it again after a replay overwrites the point with itself. Returns undefined for a reading without
 * metrics (line protocol needs at least one field).
 */
export function readingLine(reading: Reading): string | undefined {
  let fields = '';
  for (const name in reading.metrics) {
    const value = reading.metrics[name]!;
    fields += `${fields === '' ? '' : ','}${escapeKey(name)}=${floatValue(value)}`;
  }
  if (fields === '') return undefined;
  return `${measurementOf(reading.kind)},device_id=${escapeKey(reading.deviceId)} ${fields} ${Date.parse(reading.ts)}\n`;
}

/**
 * The line of one alert transition, with its newline: measurement `alert`, tags (sorted) device_id, kind, severity,
 * state, type; string fields alert_id and summary; the transition's event time in ms. `device_id` is a tag, not a
 * field: two meters' transitions at the same event time must be two points, not one overwriting the other.
 */
export function alertLine(t: AlertTransition): string {
  return (
    `${ALERT_MEASUREMENT},device_id=${escapeKey(t.deviceId)},kind=${t.kind},severity=${t.severity},state=${t.state},` +
    `type=${t.type} alert_id=${quoteString(t.alertId)},summary=${quoteString(t.summary)} ${Date.parse(t.ts)}\n`
  );
}

/**
 * What a record becomes: a line (with its newline), nothing to write (no field: line protocol needs one), or a
 * violation of the time-series schema (schema.ts) — a value the sink never writes, so that a field's type can never
 * change and dashboards only meet the fields they know. The sink dead-letters a violation (`ERR_SINK_SCHEMA`).
 */
export type PointLine =
  | { readonly kind: 'line'; readonly line: string }
  | { readonly kind: 'empty' }
  | { readonly kind: 'violation'; readonly path: string; readonly message: string };

function known(measurement: string): string {
  return Object.keys(SCHEMA[measurement]?.fields ?? {}).join(', ') || 'none';
}

/**
 * The line of one rollup: measurement {@link rollupMeasurementOf} (e.g. `water_meter_hourly`,
 * `water_meter_district_daily`, `streetlight_circuit_hourly`); tags device_id and district (scope device; plus circuit
 * for streetlights), circuit and district (scope circuit) or district (scope district); one float field per value,
 * plus the integer `devices` (scopes circuit and district); the period's start in ms. The same (scope, key,
 * period, start) always gives the same series and timestamp, so a later rollup of that period (late readings)
 * overwrites the earlier one, and a replay overwrites each point with itself.
 */
export function rollupLine(r: Rollup): PointLine {
  const measurement = rollupMeasurementOf(r.kind, r.scope, r.period);
  if (!SCHEMA[measurement]) {
    return {
      kind: 'violation',
      path: 'kind',
      message: `rollup outside the time-series schema: ${measurement} (${r.kind} has no ${r.period} rollups in sinks/influx/schema.ts)`,
    };
  }
  let tags: string;
  if (r.scope === 'device') {
    if (r.deviceId === undefined) {
      return {
        kind: 'violation',
        path: 'deviceId',
        message: 'device rollup without deviceId: (none) (scope device needs it)',
      };
    }
    // Streetlights' device rollups carry their circuit (`unassigned` when the registry has none).
    const circuit = SCHEMA[measurement]?.tags.includes('circuit')
      ? `circuit=${escapeKey(r.circuit ?? UNASSIGNED_DISTRICT)},`
      : '';
    tags = `${circuit}device_id=${escapeKey(r.deviceId)},district=${escapeKey(r.district)}`;
  } else if (r.scope === 'circuit') {
    if (r.circuit === undefined) {
      return {
        kind: 'violation',
        path: 'circuit',
        message: 'circuit rollup without circuit: (none) (scope circuit needs it)',
      };
    }
    tags = `circuit=${escapeKey(r.circuit)},district=${escapeKey(r.district)}`;
  } else {
    tags = `district=${escapeKey(r.district)}`;
  }
  let fields = '';
  for (const name in r.values) {
    if (fieldTypeOf(measurement, name) !== 'float') {
      return {
        kind: 'violation',
        path: `values.${name}`,
        message: `rollup value outside the time-series schema: ${measurement}.${name} (fields: ${known(measurement)})`,
      };
    }
    fields += `${fields === '' ? '' : ','}${escapeKey(name)}=${floatValue(r.values[name]!)}`;
  }
  if (r.devices !== undefined) {
    if (fieldTypeOf(measurement, 'devices') !== 'integer') {
      return {
        kind: 'violation',
        path: 'devices',
        message: `rollup value outside the time-series schema: ${measurement}.devices (only circuit and district rollups count devices)`,
      };
    }
    fields += `${fields === '' ? '' : ','}devices=${r.devices}i`;
  }
  if (fields === '') return { kind: 'empty' };
  return { kind: 'line', line: `${measurement},${tags} ${fields} ${Date.parse(r.start)}\n` };
}

/**
 * The line of a device's description: measurement `device`, tags (sorted) device_id, district (`unassigned` when
 * the registry places it nowhere) and kind; fields lat and lon (floats, only when known) and active (boolean); the
 * registry's `updatedAt` in ms. The same record always gives the same line.
 */
export function deviceLine(d: DeviceInfo): string {
  let fields = '';
  if (d.lat !== undefined) fields += `lat=${floatValue(d.lat)},`;
  if (d.lon !== undefined) fields += `lon=${floatValue(d.lon)},`;
  return (
    `${DEVICE_MEASUREMENT},device_id=${escapeKey(d.deviceId)},district=${escapeKey(d.district ?? UNASSIGNED_DISTRICT)},` +
    `kind=${d.kind} ${fields}active=${d.active ? 'true' : 'false'} ${Date.parse(d.updatedAt)}\n`
  );
}

/**
 * The line of a stage's health report: measurement `pipeline_health`, tags component and instance, one integer
 * field per value (only the names of HEALTH_FIELDS), the report's time in ms.
 */
export function healthReportLine(h: HealthReport): PointLine {
  let fields = '';
  for (const name in h.values) {
    if (fieldTypeOf(HEALTH_MEASUREMENT, name) !== 'integer') {
      return {
        kind: 'violation',
        path: `values.${name}`,
        message: `health value outside the time-series schema: ${HEALTH_MEASUREMENT}.${name} (fields: ${known(HEALTH_MEASUREMENT)})`,
      };
    }
    fields += `${fields === '' ? '' : ','}${name}=${h.values[name]!}i`;
  }
  if (fields === '') return { kind: 'empty' };
  return {
    kind: 'line',
    line: `${HEALTH_MEASUREMENT},component=${h.component},instance=${escapeKey(h.instance)} ${fields} ${Date.parse(h.ts)}\n`,
  };
}
