import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  ALERT_TYPES,
  AlertTransition,
  DeviceInfo,
  HEALTH_COMPONENTS,
  HealthReport,
  KINDS,
  Reading,
  Rollup,
} from '../../core/contracts/index.ts';
import { parseLine, schemaProblems } from './line-check.ts';
import { alertLine, deviceLine, healthReportLine, readingLine, rollupLine } from './line-protocol.ts';
import { fieldTypeOf, HEALTH_FIELDS, HEALTH_MEASUREMENT, rollupMeasurementOf, SCHEMA } from './schema.ts';

/** Every line the sink can write satisfies the time-series schema (schema.ts), for any valid record. */

const deviceId = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/);
const district = deviceId;
const metricName = fc.stringMatching(/^[A-Za-z][A-Za-z0-9_]{0,63}$/);
const metricValue = fc.double({
  noNaN: true,
  noDefaultInfinity: true,
  min: -Number.MAX_SAFE_INTEGER,
  max: Number.MAX_SAFE_INTEGER,
});
const isoTime = fc
  .integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2099, 11, 31) })
  .map((ms) => new Date(ms).toISOString());
const kind = fc.constantFrom(...KINDS);
/** Names that are in some schema and names that are not, so both outcomes are exercised. */
const rollupValueName = fc.oneof(
  fc.constantFrom('consumptionL', 'nightMinFlowLph', 'energyWh', 'litHours', 'revenueCents', 'paidOccupancy'),
  metricName,
);
const healthValueName = fc.oneof(fc.constantFrom(...HEALTH_FIELDS), metricName);

const reading = fc
  .record({ deviceId, kind, ts: isoTime, metrics: fc.dictionary(metricName, metricValue, { maxKeys: 8 }) })
  .map((r) => Reading.parse(r));
const alert = fc
  .record({
    alertId: fc.string({ minLength: 1, maxLength: 160 }),
    type: fc.constantFrom(...ALERT_TYPES),
    deviceId,
    kind,
    state: fc.constantFrom('open', 'update', 'resolved'),
    ts: isoTime,
    severity: fc.constantFrom('info', 'warning', 'critical'),
    summary: fc.string({ maxLength: 500, unit: 'binary' }),
    details: fc.constant({}),
  })
  .map((a) => AlertTransition.parse(a));
const rollup = fc
  .record(
    {
      kind,
      scope: fc.constantFrom('device', 'circuit', 'district'),
      deviceId,
      district,
      circuit: district,
      period: fc.constantFrom('hour', 'day'),
      start: isoTime,
      values: fc.dictionary(rollupValueName, metricValue, { maxKeys: 3 }),
      devices: fc.nat({ max: 200_000 }),
    },
    { requiredKeys: ['kind', 'scope', 'district', 'period', 'start', 'values'] },
  )
  .map((r) => Rollup.parse(r));
const device = fc
  .record(
    {
      deviceId,
      kind,
      district,
      lat: fc.double({ min: -90, max: 90, noNaN: true }),
      lon: fc.double({ min: -180, max: 180, noNaN: true }),
      active: fc.boolean(),
      updatedAt: isoTime,
    },
    { requiredKeys: ['deviceId', 'kind', 'active', 'updatedAt'] },
  )
  .map((d) => DeviceInfo.parse(d));
const health = fc
  .record({
    component: fc.constantFrom(...HEALTH_COMPONENTS),
    instance: fc.string({ minLength: 1, maxLength: 128, unit: 'grapheme-ascii' }).filter((s) => !s.includes('\\')),
    ts: isoTime,
    values: fc.dictionary(healthValueName, fc.nat({ max: Number.MAX_SAFE_INTEGER }), { maxKeys: 6 }),
  })
  .map((h) => HealthReport.parse(h));

describe('sink-influx schema', () => {
  test.prop([reading])('writes every reading in the schema with its values and event time', (r) => {
    const line = readingLine(r);
    if (line === undefined) {
      expect(Object.keys(r.metrics)).toEqual([]);
      return;
    }
    expect(schemaProblems(line)).toEqual([]);
    const parsed = parseLine(line);
    expect(parsed.tags).toEqual({ device_id: r.deviceId });
    expect(Object.fromEntries(Object.entries(parsed.fields).map(([k, f]) => [k, f.value]))).toEqual(
      Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, Object.is(v, -0) ? 0 : v])),
    );
    expect(parsed.timestampMs).toBe(Date.parse(r.ts));
  });

  test.prop([alert])('writes every alert transition in the schema', (a) => {
    const line = alertLine(a);
    expect(schemaProblems(line)).toEqual([]);
    expect(parseLine(line).fields.alert_id?.value).toBe(a.alertId.replace(/\r\n|[\n\r]/g, ' '));
  });

  test.prop([rollup])('writes a rollup in the schema, or refuses it only when a value is outside it', (r) => {
    const result = rollupLine(r);
    const measurement = rollupMeasurementOf(r.kind, r.scope, r.period);
    const outside =
      SCHEMA[measurement] === undefined ||
      Object.keys(r.values).some((name) => fieldTypeOf(measurement, name) !== 'float') ||
      (r.devices !== undefined && fieldTypeOf(measurement, 'devices') !== 'integer') ||
      (r.scope === 'device' && r.deviceId === undefined) ||
      (r.scope === 'circuit' && r.circuit === undefined);
    if (result.kind === 'line') {
      expect(outside).toBe(false);
      expect(schemaProblems(result.line)).toEqual([]);
      expect(parseLine(result.line).timestampMs).toBe(Date.parse(r.start));
    } else if (result.kind === 'violation') {
      expect(outside).toBe(true);
    } else {
      expect(outside).toBe(false);
      expect(Object.keys(r.values).length + (r.devices === undefined ? 0 : 1)).toBe(0);
    }
  });

  test.prop([device])('writes every device description in the schema', (d) => {
    const line = deviceLine(d);
    expect(schemaProblems(line)).toEqual([]);
    const parsed = parseLine(line);
    expect(parsed.fields.active).toEqual({ type: 'boolean', value: d.active });
    expect(parsed.fields.lat?.value).toBe(d.lat === undefined ? undefined : Object.is(d.lat, -0) ? 0 : d.lat);
  });

  test.prop([health])('writes a health report in the schema, or refuses it only when a name is outside it', (h) => {
    const result = healthReportLine(h);
    const outside = Object.keys(h.values).some((n) => fieldTypeOf(HEALTH_MEASUREMENT, n) !== 'integer');
    if (result.kind === 'line') {
      expect(schemaProblems(result.line)).toEqual([]);
      expect(parseLine(result.line).tags).toEqual({ component: h.component, instance: h.instance });
    } else {
      expect(result.kind === 'violation').toBe(outside);
    }
  });

  it('finds the problems of a line outside the schema when the helper checks it', () => {
    expect(schemaProblems('water_meter,device_id=WM-1 indexL=1i 1000')).toEqual([
      'water_meter.indexL: integer (schema: float)',
    ]);
    expect(schemaProblems('pipeline_health,component=ingest cpu=1i 1000')).toEqual([
      'pipeline_health: tags component (schema: component,instance)',
      'pipeline_health.cpu: integer (schema: none)',
    ]);
    expect(schemaProblems('nowhere f=1 1')).toEqual(['unknown measurement nowhere']);
    expect(schemaProblems('water_meter,device_id=WM-1 1000')[0]).toMatch(/field without value|no timestamp/);
  });
});
