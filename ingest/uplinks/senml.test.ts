import { describe, expect, it } from 'vitest';
import { DeadLetter, Reading } from '../../core/contracts/index.ts';
import type { ResolvedDevice, UplinkInput } from './common.ts';
import { decodeUplink } from './index.ts';
import { resolveSenmlPack, splitSenmlName } from './senml.ts';

const RECEIVED_AT_MS = Date.UTC(2026, 2, 1, 2, 15, 0);
const NOW = '2026-03-01T02:15:00.000Z';
const SENSOR_TOPIC = 'vigie/v1/sensor/ENV-0001/senml';
const WATER_TOPIC = 'vigie/v1/water-meter/WM-000123/senml';

/** The registry as the caller supplies it: Vigie device ids and SenML name aliases. */
const DEVICES: Record<string, ResolvedDevice> = {
  'ENV-0001': { deviceId: 'ENV-0001', kind: 'sensor' },
  'WM-000123': { deviceId: 'WM-000123', kind: 'water-meter' },
  'urn:dev:ow:10e2073a01080063': { deviceId: 'ENV-0001', kind: 'sensor' },
  'urn:dev:ow:10e2073a0108006': { deviceId: 'ENV-0002', kind: 'sensor' },
  '2001:db8::2': { deviceId: 'ENV-0102', kind: 'sensor' },
  '2001:db8::1': { deviceId: 'ENV-0101', kind: 'sensor' },
};

function input(topic: string, payload: unknown, devices: Record<string, ResolvedDevice> = DEVICES): UplinkInput {
  return {
    topic,
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8'),
    receivedAtMs: RECEIVED_AT_MS,
    maxPayloadBytes: 16_384,
    clientId: 'ENV-0001',
    resolve: (ref) => (ref.deviceId === undefined ? null : (devices[ref.deviceId] ?? null)),
  };
}

/** Readings as (device, ts, metrics), the part the RFC examples determine. */
function decoded(
  topic: string,
  pack: unknown,
): Array<{ deviceId: string; ts: string; metrics: Record<string, number> }> {
  const out = decodeUplink(input(topic, pack));
  expect(out.deadLetters).toEqual([]);
  for (const r of out.readings) expect(Reading.safeParse(r).success).toBe(true);
  return out.readings.map((r) => ({ deviceId: r.deviceId, ts: r.ts, metrics: r.metrics }));
}

// RFC 8428 §5.1.3 (Multiple Measurements), verbatim.
const RFC_5_1_3 = [
  { bn: 'urn:dev:ow:10e2073a01080063', bt: 1.320067464e9, bu: '%RH', v: 20 },
  { u: 'lon', v: 24.30621 },
  { u: 'lat', v: 60.07965 },
  { t: 60, v: 20.3 },
  { u: 'lon', t: 60, v: 24.30622 },
  { u: 'lat', t: 60, v: 60.07965 },
  { t: 120, v: 20.7 },
  { u: 'lon', t: 120, v: 24.30623 },
  { u: 'lat', t: 120, v: 60.07966 },
  { u: '%EL', t: 150, v: 98 },
  { t: 180, v: 21.2 },
  { u: 'lon', t: 180, v: 24.30628 },
  { u: 'lat', t: 180, v: 60.07967 },
];
const RFC_5_1_3_READINGS = [
  { deviceId: 'ENV-0001', ts: '2011-10-31T13:24:24.000Z', metrics: { humidityPct: 20, lon: 24.30621, lat: 60.07965 } },
  {
    deviceId: 'ENV-0001',
    ts: '2011-10-31T13:25:24.000Z',
    metrics: { humidityPct: 20.3, lon: 24.30622, lat: 60.07965 },
  },
  {
    deviceId: 'ENV-0001',
    ts: '2011-10-31T13:26:24.000Z',
    metrics: { humidityPct: 20.7, lon: 24.30623, lat: 60.07966 },
  },
  { deviceId: 'ENV-0001', ts: '2011-10-31T13:26:54.000Z', metrics: { batteryPct: 98 } },
  {
    deviceId: 'ENV-0001',
    ts: '2011-10-31T13:27:24.000Z',
    metrics: { humidityPct: 21.2, lon: 24.30628, lat: 60.07967 },
  },
];

describe('senml', () => {
  it('maps RFC 8428 §5.1.1 to one reading at the receipt time when the record has no time', () => {
    expect(decoded(SENSOR_TOPIC, [{ n: 'urn:dev:ow:10e2073a01080063', u: 'Cel', v: 23.1 }])).toEqual([
      { deviceId: 'ENV-0001', ts: NOW, metrics: { tempC: 23.1 } },
    ]);
  });

  it('maps RFC 8428 §5.1.2 to one reading with unit-suffixed names when voltage and current are "now"', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:', n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', u: 'A', v: 1.2 },
    ];
    expect(decoded(SENSOR_TOPIC, pack)).toEqual([
      { deviceId: 'ENV-0001', ts: NOW, metrics: { voltageV: 120.1, currentA: 1.2 } },
    ]);
  });

  it('maps RFC 8428 §5.1.2 to one reading per time when current is sampled each second', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a0108006:', bt: 1.276020076001e9, bu: 'A', bver: 5, n: 'voltage', u: 'V', v: 120.1 },
      { n: 'current', t: -5, v: 1.2 },
      { n: 'current', t: -4, v: 1.3 },
      { n: 'current', t: -3, v: 1.4 },
      { n: 'current', t: -2, v: 1.5 },
      { n: 'current', t: -1, v: 1.6 },
      { n: 'current', v: 1.7 },
    ];
    expect(decoded(SENSOR_TOPIC, pack)).toEqual([
      { deviceId: 'ENV-0002', ts: '2010-06-08T18:01:11.001Z', metrics: { currentA: 1.2 } },
      { deviceId: 'ENV-0002', ts: '2010-06-08T18:01:12.001Z', metrics: { currentA: 1.3 } },
      { deviceId: 'ENV-0002', ts: '2010-06-08T18:01:13.001Z', metrics: { currentA: 1.4 } },
      { deviceId: 'ENV-0002', ts: '2010-06-08T18:01:14.001Z', metrics: { currentA: 1.5 } },
      { deviceId: 'ENV-0002', ts: '2010-06-08T18:01:15.001Z', metrics: { currentA: 1.6 } },
      { deviceId: 'ENV-0002', ts: '2010-06-08T18:01:16.001Z', metrics: { voltageV: 120.1, currentA: 1.7 } },
    ]);
  });

  it('maps RFC 8428 §5.1.3 to one reading per time when a pack holds several measurements and times', () => {
    expect(decoded(SENSOR_TOPIC, RFC_5_1_3)).toEqual(RFC_5_1_3_READINGS);
  });

  it('maps RFC 8428 §5.1.4 (the same data resolved) to the same readings as §5.1.3', () => {
    const resolved = resolveSenmlPack(RFC_5_1_3, RECEIVED_AT_MS).records.map((r) => ({
      n: r.name,
      u: r.unit,
      t: r.timeMs / 1000,
      v: r.value,
    }));
    expect(resolved[1]).toEqual({ n: 'urn:dev:ow:10e2073a01080063', u: 'lon', t: 1.320067464e9, v: 24.30621 });
    expect(decoded(SENSOR_TOPIC, resolved)).toEqual(RFC_5_1_3_READINGS);
  });

  it('keeps numbers and booleans and counts the rest when RFC 8428 §5.1.5 mixes data types', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:', n: 'temp', u: 'Cel', v: 23.1 },
      { n: 'label', vs: 'Machine Room' },
      { n: 'open', vb: false },
      { n: 'nfv-reader', vd: 'aGkgCg' },
    ];
    const out = decodeUplink(input(SENSOR_TOPIC, pack));
    expect(out.deadLetters).toEqual([]);
    expect(out.readings.map((r) => r.metrics)).toEqual([{ tempC: 23.1, open: 0 }]);
    expect(out.ignored).toEqual({ text: 1, data: 1 });
  });

  it('gives each device its own reading when RFC 8428 §5.1.6 collects two devices in one pack', () => {
    const pack = [
      { bn: '2001:db8::2/', bt: 1.320078429e9, n: 'temperature', u: 'Cel', v: 25.2 },
      { n: 'humidity', u: '%RH', v: 30 },
      { bn: '2001:db8::1/', n: 'temperature', u: 'Cel', v: 12.3 },
      { n: 'humidity', u: '%RH', v: 67 },
    ];
    expect(decoded(SENSOR_TOPIC, pack)).toEqual([
      { deviceId: 'ENV-0102', ts: '2011-10-31T16:27:09.000Z', metrics: { tempC: 25.2, humidityPct: 30 } },
      { deviceId: 'ENV-0101', ts: '2011-10-31T16:27:09.000Z', metrics: { tempC: 12.3, humidityPct: 67 } },
    ]);
  });

  it('converts m³ to an index in litres and m³/s to L/h when a water meter sends SenML', () => {
    const pack = [
      { bn: 'WM-000123/', bt: 1772331300, n: 'volume', u: 'm3', s: 123.456 },
      { n: 'flow', u: 'm3/s', v: 0.000001 },
      { n: 'battery', u: '%EL', v: 87 },
    ];
    expect(decoded(WATER_TOPIC, pack)).toEqual([
      {
        deviceId: 'WM-000123',
        ts: '2026-03-01T02:15:00.000Z',
        metrics: { indexL: 123456, flowLph: 3.6, batteryPct: 87 },
      },
    ]);
  });

  it('reads the sum of a flow as the index when a record carries both (RFC 8428 §4.2, unit × seconds)', () => {
    expect(decoded(WATER_TOPIC, [{ n: 'flow', u: 'l/s', v: 0.001, s: 654321 }])).toEqual([
      { deviceId: 'WM-000123', ts: NOW, metrics: { indexL: 654321, flowLph: 3.6 } },
    ]);
  });

  it('resolves times below 2^28 against the receipt time when they are relative', () => {
    const pack = [
      { n: 'indexL', v: 100, t: -900 },
      { n: 'indexL', v: 110 },
    ];
    expect(decoded(WATER_TOPIC, pack)).toEqual([
      { deviceId: 'WM-000123', ts: '2026-03-01T02:00:00.000Z', metrics: { indexL: 100 } },
      { deviceId: 'WM-000123', ts: NOW, metrics: { indexL: 110 } },
    ]);
  });

  it('skips a record of base fields only when it opens the pack (RFC 8428 §5.1.7)', () => {
    const pack = [
      { bn: 'urn:dev:ow:10e2073a01080063:' },
      { n: 'temp', u: 'Cel', v: 23.1 },
      { n: 'heat', u: '/', v: 1 },
    ];
    expect(decoded(SENSOR_TOPIC, pack)).toEqual([
      { deviceId: 'ENV-0001', ts: NOW, metrics: { tempC: 23.1, heatPct: 100 } },
    ]);
  });

  it('splits names into device and measurement when they carry a URN, a base name or neither', () => {
    expect(splitSenmlName({ name: 'urn:dev:ow:10e2073a01080063:voltage', baseName: '', n: '' })).toEqual({
      sensorRef: 'urn:dev:ow:10e2073a01080063',
      measurement: 'voltage',
    });
    expect(splitSenmlName({ name: 'WM-1/volume', baseName: 'WM-1/', n: 'volume' })).toEqual({
      sensorRef: 'WM-1',
      measurement: 'volume',
    });
    expect(splitSenmlName({ name: 'temp', baseName: '', n: 'temp' })).toEqual({ sensorRef: null, measurement: 'temp' });
  });

  const malformed: Array<{ name: string; payload: unknown; topic?: string; code: string; path?: string }> = [
    { name: 'bytes that are not JSON', payload: '[{"n":"temp","v":', code: 'ERR_PAYLOAD_JSON' },
    { name: 'an object instead of an array', payload: { n: 'temp', v: 1 }, code: 'ERR_PAYLOAD_SCHEMA', path: '' },
    { name: 'an empty pack', payload: [], code: 'ERR_PAYLOAD_SCHEMA', path: '' },
    { name: 'a record without a name', payload: [{ u: 'Cel', v: 23 }], code: 'ERR_PAYLOAD_SCHEMA', path: '[0].n' },
    {
      name: 'a record with two values',
      payload: [
        { n: 'temp', u: 'Cel', v: 23 },
        { n: 'label', v: 1, vs: 'x' },
      ],
      code: 'ERR_PAYLOAD_SCHEMA',
      path: '[1].vs',
    },
    { name: 'a record with no value', payload: [{ n: 'temp', u: 'Cel' }], code: 'ERR_PAYLOAD_SCHEMA', path: '[0]' },
    { name: 'a value as a string', payload: [{ n: 'temp', v: '23' }], code: 'ERR_PAYLOAD_SCHEMA', path: '[0].v' },
    { name: 'a record that is a number', payload: [{ n: 'temp', v: 1 }, 7], code: 'ERR_PAYLOAD_SCHEMA', path: '[1]' },
    { name: 'a name with a space', payload: [{ n: 'air temp', v: 1 }], code: 'ERR_PAYLOAD_SCHEMA', path: '[0].n' },
    {
      name: 'a newer SenML version',
      payload: [{ bver: 11, n: 'temp', v: 1 }],
      code: 'ERR_PAYLOAD_SCHEMA',
      path: '[0].bver',
    },
    {
      name: 'a must-understand field',
      payload: [{ n: 'temp', v: 1, ttl_: 5 }],
      code: 'ERR_PAYLOAD_SCHEMA',
      path: '[0].ttl_',
    },
    { name: 'a time beyond 2100', payload: [{ n: 'temp', v: 1, bt: 5e9 }], code: 'ERR_PAYLOAD_SCHEMA', path: '[0].t' },
    { name: 'a value beyond ±2^53 only', payload: [{ n: 'x', v: 1e300 }], code: 'ERR_PAYLOAD_SCHEMA', path: '' },
    { name: 'text values only', payload: [{ n: 'label', vs: 'Machine Room' }], code: 'ERR_PAYLOAD_SCHEMA', path: '' },
    {
      name: 'two different values for one metric at one time',
      payload: [
        { n: 'temp', u: 'Cel', v: 21 },
        { n: 'temp', u: 'Cel', v: 22 },
      ],
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.tempC',
    },
    {
      name: 'a device URN the registry does not know',
      payload: [{ bn: 'urn:dev:ow:ffffffffffffffff:', n: 'temp', u: 'Cel', v: 1 }],
      code: 'ERR_DEVICE_UNKNOWN',
      path: '[0].n',
    },
    {
      name: 'an unknown topic device',
      topic: 'vigie/v1/sensor/ENV-9999/senml',
      payload: [{ n: 't', v: 1 }],
      code: 'ERR_DEVICE_UNKNOWN',
    },
    {
      name: 'a kind other than the registered one',
      topic: 'vigie/v1/streetlight/ENV-0001/senml',
      payload: [],
      code: 'ERR_KIND_MISMATCH',
    },
    { name: 'an unknown kind', topic: 'vigie/v1/boiler/ENV-0001/senml', payload: [], code: 'ERR_KIND_UNKNOWN' },
  ];
  for (const c of malformed) {
    it(`dead-letters the pack with ${c.code} when it has ${c.name}`, () => {
      const i = input(c.topic ?? SENSOR_TOPIC, c.payload);
      const out = decodeUplink(i);
      expect(out.readings).toEqual([]);
      expect(out.deadLetters).toHaveLength(1);
      const dl = out.deadLetters[0]!;
      expect(dl.errorCode).toBe(c.code);
      if (c.path !== undefined) expect(dl.issues.map((x) => x.path)).toContain(c.path);
      expect(Buffer.from(dl.rawBase64, 'base64')).toEqual(Buffer.from(i.payload));
      expect(dl.source).toEqual({ type: 'mqtt', topic: c.topic ?? SENSOR_TOPIC, clientId: 'ENV-0001' });
      expect(DeadLetter.safeParse(dl).success).toBe(true);
    });
  }

  it('delivers the known device and dead-letters the unknown one when a pack names both', () => {
    const pack = [
      { bn: '2001:db8::2/', bt: 1.320078429e9, n: 'temperature', u: 'Cel', v: 25.2 },
      { bn: '2001:db8::1/', n: 'temperature', u: 'Cel', v: 12.3 },
    ];
    const { '2001:db8::1': _, ...known } = DEVICES;
    const out = decodeUplink(input(SENSOR_TOPIC, pack, known));
    expect(out.readings.map((r) => r.deviceId)).toEqual(['ENV-0102']);
    expect(out.deadLetters.map((d) => [d.errorCode, d.issues])).toEqual([
      ['ERR_DEVICE_UNKNOWN', [{ path: '[1].n', message: 'device 2001:db8::1 is not registered (nor an alias)' }]],
    ]);
  });

  it('delivers the complete times and dead-letters the one without an index when a water meter pack mixes them', () => {
    const pack = [
      { n: 'indexL', v: 100, t: -60 },
      { n: 'battery', u: '%EL', v: 80 },
    ];
    const out = decodeUplink(input(WATER_TOPIC, pack));
    expect(out.readings.map((r) => [r.ts, r.metrics])).toEqual([['2026-03-01T02:14:00.000Z', { indexL: 100 }]]);
    expect(out.deadLetters).toHaveLength(1);
    expect(out.deadLetters[0]!.issues).toEqual([{ path: 'metrics.indexL', message: 'required for water-meter' }]);
    expect(out.deadLetters[0]!.message).toContain(NOW);
  });
});
