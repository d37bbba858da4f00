import { fc, test } from '@fast-check/vitest';
import { escape as clientEscape } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { AlertTransition, DeviceInfo, HealthReport, Reading, Rollup } from '../../core/contracts/index.ts';
import { schemaProblems } from './line-check.ts';
import * as lp from './line-protocol.ts';
import { escapeKey, escapeMeasurement, type PointLine, quoteString } from './line-protocol.ts';

const reading = (value: unknown) => Reading.parse(value);

/** Every line these tests produce is checked against the time-series schema (line-check.ts). */
function inSchema<T extends string | undefined>(line: T): T {
  if (line !== undefined) expect(schemaProblems(line), line).toEqual([]);
  return line;
}
function pointInSchema(p: PointLine): PointLine {
  if (p.kind === 'line') inSchema(p.line);
  return p;
}
const readingLine = (r: Reading) => inSchema(lp.readingLine(r));
const alertLine = (t: AlertTransition) => inSchema(lp.alertLine(t));
const deviceLine = (d: DeviceInfo) => inSchema(lp.deviceLine(d));
const rollupLine = (r: Rollup) => pointInSchema(lp.rollupLine(r));
const healthReportLine = (h: HealthReport) => pointInSchema(lp.healthReportLine(h));

describe('line-protocol', () => {
  it('writes a reading as measurement per kind, device_id tag, float fields and ms event time when it has metrics', () => {
    const line = readingLine(
      reading({
        deviceId: 'WM-000123',
        kind: 'water-meter',
        ts: '2026-03-01T02:15:00.250Z',
        seq: 7,
        metrics: { indexL: 123456, flowLph: 1.5, batteryPct: 87, tempC: -0 },
        flags: ['tamper'],
      }),
    );
    expect(line).toBe(
      'water_meter,device_id=WM-000123 indexL=123456,flowLph=1.5,batteryPct=87,tempC=0 1772331300250\n',
    );
  });

  it('names the measurement of every kind in snake_case when writing readings', () => {
    const lines = (['water-meter', 'streetlight', 'parking-meter', 'sensor'] as const).map((kind) =>
      readingLine(reading({ deviceId: 'D-1', kind, ts: 1772331300000, metrics: { x: 1 } })),
    );
    expect(lines.map((l) => l?.split(',')[0])).toEqual(['water_meter', 'streetlight', 'parking_meter', 'sensor']);
  });

  it('gives the same line for the same reading when it is written again (a replay overwrites the point with itself)', () => {
    const r = { deviceId: 'SL-9', kind: 'streetlight', ts: '2026-03-01T03:15:00+01:00', metrics: { powerW: 42.25 } };
    expect(readingLine(reading(r))).toBe(readingLine(reading(JSON.parse(JSON.stringify(r)))));
    expect(readingLine(reading(r))).toBe('streetlight,device_id=SL-9 powerW=42.25 1772331300000\n');
  });

  it('returns undefined when a reading has no metrics (line protocol needs a field)', () => {
    expect(readingLine(reading({ deviceId: 'S-1', kind: 'sensor', ts: 1772331300000, metrics: {} }))).toBeUndefined();
  });

  it('writes an alert transition with sorted tags, string fields and its event time', () => {
    const t = AlertTransition.parse({
      alertId: 'WM-000123:leak:1',
      type: 'leak',
      deviceId: 'WM-000123',
      kind: 'water-meter',
      state: 'open',
      ts: '2026-03-02T02:00:00.000Z',
      severity: 'warning',
      summary: 'Continuous flow for 24 h, about 4 L/h — "kitchen"\\tap\nsecond line',
      details: { estimatedLph: 4.2 },
    });
    expect(alertLine(t)).toBe(
      'alert,device_id=WM-000123,kind=water-meter,severity=warning,state=open,type=leak ' +
        'alert_id="WM-000123:leak:1",summary="Continuous flow for 24 h, about 4 L/h — \\"kitchen\\"\\\\tap second line" ' +
        '1772416800000\n',
    );
  });

  it('writes a device rollup with device_id and district tags, float values and the period start', () => {
    const r = Rollup.parse({
      kind: 'water-meter',
      scope: 'device',
      deviceId: 'WM-000123',
      district: 'DMA-12',
      period: 'day',
      start: '2026-02-28T23:00:00.000Z',
      values: { consumptionL: 412, nightMinFlowLph: 0.5 },
    });
    expect(rollupLine(r)).toEqual({
      kind: 'line',
      line: 'water_meter_daily,device_id=WM-000123,district=DMA-12 consumptionL=412,nightMinFlowLph=0.5 1772319600000\n',
    });
  });

  it('writes a district rollup with the district tag and an integer device count', () => {
    const r = Rollup.parse({
      kind: 'water-meter',
      scope: 'district',
      district: 'DMA-12',
      period: 'hour',
      start: '2026-03-01T02:00:00.000Z',
      values: { consumptionL: 1234.5 },
      devices: 3,
    });
    expect(rollupLine(r)).toEqual({
      kind: 'line',
      line: 'water_meter_district_hourly,district=DMA-12 consumptionL=1234.5,devices=3i 1772330400000\n',
    });
  });

  it('writes a streetlight rollup with its circuit tag, and a circuit rollup with circuit and district tags', () => {
    const lamp = Rollup.parse({
      kind: 'streetlight',
      scope: 'device',
      deviceId: 'SL-1',
      district: 'north',
      circuit: 'C-12',
      period: 'hour',
      start: '2026-03-01T02:00:00.000Z',
      values: { energyWh: 60, litHours: 1 },
    });
    expect(rollupLine(lamp)).toEqual({
      kind: 'line',
      line: 'streetlight_hourly,circuit=C-12,device_id=SL-1,district=north energyWh=60,litHours=1 1772330400000\n',
    });
    expect(rollupLine({ ...lamp, circuit: undefined })).toMatchObject({
      line: expect.stringContaining('streetlight_hourly,circuit=unassigned,device_id=SL-1,'),
    });
    const circuit = Rollup.parse({
      kind: 'streetlight',
      scope: 'circuit',
      circuit: 'C-12',
      district: 'north',
      period: 'day',
      start: '2026-02-28T23:00:00.000Z',
      values: { energyWh: 1234.5, litHours: 25.5 },
      devices: 2,
    });
    expect(rollupLine(circuit)).toEqual({
      kind: 'line',
      line: 'streetlight_circuit_daily,circuit=C-12,district=north energyWh=1234.5,litHours=25.5,devices=2i 1772319600000\n',
    });
  });

  it('writes a parking district rollup with revenue, payments and paid occupancy', () => {
    const r = Rollup.parse({
      kind: 'parking-meter',
      scope: 'district',
      district: 'centre',
      period: 'hour',
      start: '2026-03-01T10:00:00.000Z',
      values: {
        revenueCents: 450,
        revenueCoinCents: 200,
        revenueCardCents: 150,
        revenueSmsCents: 100,
        payments: 3,
        paidMinutes: 90,
        paidOccupancy: 1.5,
      },
      devices: 2,
    });
    expect(rollupLine(r)).toEqual({
      kind: 'line',
      line:
        'parking_meter_district_hourly,district=centre revenueCents=450,revenueCoinCents=200,revenueCardCents=150,' +
        'revenueSmsCents=100,payments=3,paidMinutes=90,paidOccupancy=1.5,devices=2i 1772359200000\n',
    });
  });

  it('reports a violation when a rollup value is not in the schema (never written)', () => {
    const base = {
      kind: 'water-meter',
      scope: 'device',
      deviceId: 'WM-1',
      district: 'D',
      start: '2026-03-01T02:00:00Z',
    };
    expect(rollupLine(Rollup.parse({ ...base, period: 'hour', values: { nightMinFlowLph: 1 } }))).toMatchObject({
      kind: 'violation',
      path: 'values.nightMinFlowLph',
      message: expect.stringMatching(/water_meter_hourly\.nightMinFlowLph \(fields: consumptionL\)/),
    });
    expect(rollupLine(Rollup.parse({ ...base, period: 'hour', values: {}, devices: 2 }))).toMatchObject({
      kind: 'violation',
      path: 'devices',
    });
    expect(rollupLine(Rollup.parse({ ...base, kind: 'sensor', period: 'day', values: { x: 1 } }))).toMatchObject({
      kind: 'violation',
      path: 'kind',
    });
    expect(
      rollupLine(Rollup.parse({ ...base, kind: 'water-meter', scope: 'circuit', period: 'day', values: {} })),
    ).toMatchObject({ kind: 'violation', path: 'kind' });
    expect(
      rollupLine(Rollup.parse({ ...base, kind: 'streetlight', scope: 'circuit', period: 'day', values: {} })),
    ).toMatchObject({ kind: 'violation', path: 'circuit' });
    expect(
      rollupLine(Rollup.parse({ ...base, deviceId: undefined, period: 'day', values: { consumptionL: 1 } })),
    ).toMatchObject({
      kind: 'violation',
      path: 'deviceId',
    });
    expect(rollupLine(Rollup.parse({ ...base, period: 'day', values: {} }))).toEqual({ kind: 'empty' });
  });

  it('writes a device description with sorted tags, lat/lon when known, active as a boolean and updatedAt', () => {
    const d = { deviceId: 'WM-1', kind: 'water-meter', active: true, updatedAt: '2026-03-01T02:00:00.000Z' };
    expect(deviceLine(DeviceInfo.parse({ ...d, district: 'DMA-12', lat: 47.75, lon: 7.335 }))).toBe(
      'device,device_id=WM-1,district=DMA-12,kind=water-meter lat=47.75,lon=7.335,active=true 1772330400000\n',
    );
    expect(deviceLine(DeviceInfo.parse({ ...d, active: false }))).toBe(
      'device,device_id=WM-1,district=unassigned,kind=water-meter active=false 1772330400000\n',
    );
  });

  it('writes a health report as integer fields under component and instance when its names are in the schema', () => {
    const h = HealthReport.parse({
      component: 'sink-influx',
      instance: 'host a',
      ts: '2026-03-01T02:00:00.000Z',
      values: { buffer_bytes: 10, points_written: 5, rss_bytes: 123456789 },
    });
    expect(healthReportLine(h)).toEqual({
      kind: 'line',
      line: 'pipeline_health,component=sink-influx,instance=host\\ a buffer_bytes=10i,points_written=5i,rss_bytes=123456789i 1772330400000\n',
    });
    expect(healthReportLine({ ...h, values: { buffer_bytes: 1, queue_depth: 2 } })).toMatchObject({
      kind: 'violation',
      path: 'values.queue_depth',
    });
    expect(healthReportLine({ ...h, values: {} })).toEqual({ kind: 'empty' });
  });

  it('escapes commas, spaces and equals signs when they appear in names and tags', () => {
    expect(escapeMeasurement('a b,c=d')).toBe('a\\ b\\,c=d');
    expect(escapeKey('a b,c=d')).toBe('a\\ b\\,c\\=d');
    expect(escapeKey('line\nbreak\ttab\rcr')).toBe('line\\nbreak\\ttab\\rcr');
    expect(quoteString('say "hi" \\ ok')).toBe('"say \\"hi\\" \\\\ ok"');
  });

  test.prop([fc.string({ unit: 'binary' })])(
    'escapes names and tags exactly as the official client for any string',
    (s) => {
      expect(escapeMeasurement(s)).toBe(clientEscape.measurement(s));
      expect(escapeKey(s)).toBe(clientEscape.tag(s));
    },
  );

  test.prop([fc.string({ unit: 'binary' }).filter((s) => !/[\n\r]/.test(s))])(
    'quotes string fields exactly as the official client when they hold no newline',
    (s) => {
      expect(quoteString(s)).toBe(clientEscape.quoted(s));
    },
  );

  test.prop([fc.string({ unit: 'binary' })])('never lets a raw newline into a line for any string', (s) => {
    expect(`${escapeMeasurement(s)}${escapeKey(s)}${quoteString(s)}`).not.toMatch(/[\n\r]/);
  });
});
