import { describe, expect, it } from 'vitest';
import type { Kind } from '../../core/contracts/index.ts';
import { collectObjectValues, type MetricCandidate, mapMetrics, sanitizeMetricName } from './metrics.ts';

const one = (path: string | string[], value: number, unit?: string): MetricCandidate => ({
  path: typeof path === 'string' ? [path] : path,
  value,
  ...(unit === undefined ? {} : { unit }),
});

describe('metrics', () => {
  const cases: Array<{ name: string; kind: Kind; candidates: MetricCandidate[]; metrics: Record<string, number> }> = [
    {
      name: 'canonical names pass through',
      kind: 'water-meter',
      candidates: [one('indexL', 5), one('flowLph', 2)],
      metrics: { indexL: 5, flowLph: 2 },
    },
    {
      name: 'a vendor volume in m³',
      kind: 'water-meter',
      candidates: [one('volume_m3', 123.456)],
      metrics: { indexL: 123456 },
    },
    {
      name: 'a vendor volume in m³ on a sensor',
      kind: 'sensor',
      candidates: [one('volume_m3', 1.5)],
      metrics: { volume_m3: 1.5 },
    },
    {
      name: 'a vendor flow in m³/h',
      kind: 'water-meter',
      candidates: [one('flowM3h', 0.25)],
      metrics: { flowLph: 250 },
    },
    {
      name: 'a nested flow in L/h',
      kind: 'water-meter',
      candidates: [one(['flow', 'current_l_h'], 3)],
      metrics: { flowLph: 3 },
    },
    {
      name: 'a battery in percent',
      kind: 'parking-meter',
      candidates: [one('battery_percent', 64)],
      metrics: { batteryPct: 64 },
    },
    { name: 'a battery in volts', kind: 'sensor', candidates: [one('BatV', 3.6)], metrics: { batteryV: 3.6 } },
    {
      name: 'a battery in millivolts',
      kind: 'sensor',
      candidates: [one('battery_mv', 3600)],
      metrics: { batteryV: 3.6 },
    },
    {
      name: 'a unitless battery (volts or percent?)',
      kind: 'sensor',
      candidates: [one('battery', 3.6)],
      metrics: { battery: 3.6 },
    },
    {
      name: 'a unitless temperature',
      kind: 'sensor',
      candidates: [one('temperature', 21.5)],
      metrics: { tempC: 21.5 },
    },
    { name: 'power in kW', kind: 'streetlight', candidates: [one('activePowerKW', 0.0415)], metrics: { powerW: 41.5 } },
    { name: 'energy in kWh', kind: 'streetlight', candidates: [one('energy_kwh', 12.5)], metrics: { energyWh: 12500 } },
    { name: 'a dim level', kind: 'streetlight', candidates: [one('dimming_pct', 70)], metrics: { dimPct: 70 } },
    {
      name: 'SenML m³ as a sum',
      kind: 'water-meter',
      candidates: [one('water', 1.2, 'm3')],
      metrics: { indexL: 1200 },
    },
    { name: 'SenML kelvin', kind: 'sensor', candidates: [one('temp', 294.65, 'K')], metrics: { tempC: 21.5 } },
    {
      name: 'SenML lux',
      kind: 'streetlight',
      candidates: [one([], 12, 'lx'), one('powerW', 40)],
      metrics: { lux: 12, powerW: 40 },
    },
    { name: 'SenML J to Wh', kind: 'streetlight', candidates: [one('energy', 7200, 'J')], metrics: { energyWh: 2 } },
    {
      name: 'SenML ratio to percent',
      kind: 'streetlight',
      candidates: [one('dim', 0.5, '/')],
      metrics: { dimPct: 50 },
    },
    {
      name: 'a SenML unit Vigie does not convert',
      kind: 'sensor',
      candidates: [one('co2', 412, 'ppm')],
      metrics: { co2Ppm: 412 },
    },
    {
      name: 'a SenML measurement with a path',
      kind: 'sensor',
      candidates: [one(['3303', '0', '5700'], 20, 'Cel')],
      metrics: { tempC: 20 },
    },
    {
      name: 'two names claiming tempC',
      kind: 'sensor',
      candidates: [one('temperature', 20), one('temp_c', 21)],
      metrics: { tempC: 20, temp_c: 21 },
    },
    {
      name: 'a name that is not a metric name',
      kind: 'sensor',
      candidates: [one('2nd sensor (°C)', 5), one(['a', 'b'], 1)],
      metrics: { m2nd_sensor_C: 5, a_b: 1 },
    },
  ];
  for (const c of cases) {
    it(`maps ${c.name} when the kind is ${c.kind}`, () => {
      const mapped = mapMetrics(c.kind, c.candidates);
      expect(mapped.issues).toEqual([]);
      expect(mapped.metrics).toEqual(c.metrics);
    });
  }

  it('reports a conflict when two values claim one name and no other name is free', () => {
    const mapped = mapMetrics('water-meter', [one('indexL', 1), one('volume_m3', 2)]);
    expect(mapped.metrics).toEqual({ indexL: 1, volume_m3: 2 });
    const conflict = mapMetrics('water-meter', [one('indexL', 1), one('indexL', 2)]);
    expect(conflict.issues).toEqual([
      { path: 'metrics.indexL', message: 'two different values for one metric: 1 and 2' },
    ]);
  });

  it('drops optional metadata rather than conflict when its name is taken', () => {
    const mapped = mapMetrics('sensor', [one('rssiDbm', -80), { path: ['rssiDbm'], value: -70, optional: true }]);
    expect(mapped).toEqual({ metrics: { rssiDbm: -80 }, issues: [], ignored: { duplicate: 1 }, placed: 1 });
  });

  it('keeps canonical metrics first and counts the rest when more than 64 are offered', () => {
    const extras = Array.from({ length: 70 }, (_, i) => one(`field${i}`, i));
    const mapped = mapMetrics('water-meter', [...extras, one('indexL', 9)]);
    expect(Object.keys(mapped.metrics)).toHaveLength(64);
    expect(mapped.metrics['indexL']).toBe(9);
    expect(mapped.ignored).toEqual({ limit: 7 });
  });

  it('counts numbers beyond ±2^53 when a value cannot be a metric', () => {
    expect(mapMetrics('sensor', [one('huge', 1e300)])).toEqual({
      metrics: {},
      issues: [],
      ignored: { range: 1 },
      placed: 0,
    });
  });

  it('collects numbers, booleans and numeric text when walking a decoded object', () => {
    const values = collectObjectValues({
      a: 1,
      b: { c: true, d: '24.73', e: '3.3 V', f: null },
      g: [5, 6],
    });
    expect(values.candidates).toEqual([
      { path: ['a'], value: 1 },
      { path: ['b', 'c'], value: 1 },
      { path: ['b', 'd'], value: 24.73 },
      { path: ['g', '0'], value: 5 },
      { path: ['g', '1'], value: 6 },
    ]);
    expect(values.ignored).toEqual({ text: 1, null: 1 });
  });

  it('makes valid metric names when vendor names are free text', () => {
    expect(sanitizeMetricName('Hum_SHT')).toBe('Hum_SHT');
    expect(sanitizeMetricName('__')).toBeNull();
    expect(sanitizeMetricName('x'.repeat(80))).toHaveLength(64);
  });
});
