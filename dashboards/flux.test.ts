import { describe, expect, it } from 'vitest';
import {
  FluxQueryBuilder,
  fluxBuckets,
  fluxFieldKeys,
  fluxQuery,
  fluxScript,
  fluxTagValues,
  readsOfFlux,
} from './flux.ts';

describe('flux', () => {
  it('writes a select with one filter for the measurement, one for the fields, one per tag when given tags', () => {
    const q = fluxQuery(
      {
        measurement: 'alert',
        fields: ['alert_id', 'summary'],
        where: { type: 'leak', kind: ['water-meter', 'sensor'], device_id: { variable: 'meter' } },
      },
      ['last()'],
    );
    expect(q.text).toBe(
      [
        `from(bucket: "\${bucket}")`,
        '  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)',
        '  |> filter(fn: (r) => r._measurement == "alert")',
        '  |> filter(fn: (r) => r._field == "alert_id" or r._field == "summary")',
        '  |> filter(fn: (r) => r.type == "leak")',
        '  |> filter(fn: (r) => r.kind == "water-meter" or r.kind == "sensor")',
        `  |> filter(fn: (r) => r.device_id =~ /^\${meter:regex}$/)`,
        '  |> last()',
      ].join('\n'),
    );
    expect(q.reads).toEqual([
      { measurement: 'alert', fields: ['alert_id', 'summary'], tags: ['type', 'kind', 'device_id'] },
    ]);
  });

  it('reads back from the text what it recorded when the script has several streams', () => {
    const q = fluxScript({
      imports: ['join'],
      streams: {
        a: { select: { measurement: 'device', fields: ['lat', 'lon'], start: '0' }, pipeline: ['last()'] },
        b: { select: { measurement: 'alert', fields: ['alert_id'], where: { state: 'open' } } },
      },
      result: 'join.left(left: a, right: b, on: (l, r) => l.device_id == r.device_id, as: (l, r) => l)',
    });
    expect(q.text.startsWith(`import "join"\n\na = from(bucket: "\${bucket}")\n  |> range(start: 0)`)).toBe(true);
    expect(readsOfFlux(q.text)).toEqual({ reads: q.reads, problems: [] });
    const tags = fluxTagValues({ measurement: 'water_meter', tag: 'device_id' });
    expect(readsOfFlux(tags.text)).toEqual({ reads: tags.reads, problems: [] });
    expect(readsOfFlux(fluxBuckets().text)).toEqual({ reads: [], problems: [] });
  });

  it('lists the fields of one measurement among the series a variable selects and reads them back', () => {
    const q = fluxFieldKeys({ measurement: 'sensor', where: { device_id: `\${sensor}` } });
    expect(q.text).toBe(
      'import "influxdata/influxdb/schema"\n\n' +
        `schema.fieldKeys(bucket: "\${bucket}", predicate: (r) => r._measurement == "sensor" and (r.device_id == "\${sensor}"), start: -30d)`,
    );
    expect(q.reads).toEqual([{ measurement: 'sensor', fields: [], tags: ['device_id'] }]);
    expect(readsOfFlux(q.text)).toEqual({ reads: q.reads, problems: [] });
    const noMeasurement = 'schema.fieldKeys(bucket: "x", predicate: (r) => true)';
    expect(readsOfFlux(noMeasurement).problems).toEqual([expect.stringMatching(/fieldKeys needs one measurement/)]);
  });

  it('refuses a select that names no field when built', () => {
    expect(() => fluxQuery({ measurement: 'alert', fields: [] })).toThrow(/names no field/);
  });

  it('reports a select with no field filter or no measurement when reading back hand-written Flux', () => {
    const noField = 'from(bucket: "x")\n  |> range(start: -1h)\n  |> filter(fn: (r) => r._measurement == "alert")';
    expect(readsOfFlux(noField).problems).toEqual(['a select on alert names no field']);
    const noMeasurement = 'from(bucket: "x")\n  |> range(start: -1h)\n  |> filter(fn: (r) => r._field == "a")';
    expect(readsOfFlux(noMeasurement).problems).toEqual([expect.stringMatching(/exactly one measurement \(found 0\)/)]);
  });

  it('builds a Grafana InfluxDB target with refId, datasource and the Flux text when serialised', () => {
    const built = new FluxQueryBuilder(fluxQuery({ measurement: 'alert', fields: ['alert_id'] }))
      .refId('B')
      .hide(false)
      .datasource({ type: 'influxdb', uid: 'influxdb' })
      .build();
    expect(JSON.parse(JSON.stringify(built))).toEqual({
      query: expect.stringContaining('r._measurement == "alert"'),
      refId: 'B',
      hide: false,
      datasource: { type: 'influxdb', uid: 'influxdb' },
    });
  });
});
