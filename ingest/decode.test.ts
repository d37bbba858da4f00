import { fc, it as propIt } from '@fast-check/vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { DeadLetter, DeviceEvent, DevicePayload, Reading } from '../core/contracts/index.ts';
import { commonDevicePayload, type DecodeInput, decodeDeviceMessage, parseDeviceTopic } from './decode.ts';

const RECEIVED_AT_MS = Date.UTC(2026, 2, 1, 2, 15, 30);
const WATER = { deviceId: 'WM-000123', kind: 'water-meter' };
const TELEMETRY = 'vigie/v1/water-meter/WM-000123/telemetry';

function input(payload: string | Uint8Array, overrides: Partial<DecodeInput> = {}): DecodeInput {
  return {
    topic: TELEMETRY,
    payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
    device: WATER,
    clientId: 'client-1',
    receivedAtMs: RECEIVED_AT_MS,
    maxPayloadBytes: 16_384,
    ...overrides,
  };
}

describe('decode', () => {
  it('builds a canonical reading when the payload is valid', () => {
    const out = decodeDeviceMessage(
      input('{"ts":"2026-03-01T02:15:00Z","seq":1234,"metrics":{"indexL":123456,"batteryPct":87},"flags":["tamper"]}'),
    );
    expect(out.reading).toEqual({
      deviceId: 'WM-000123',
      kind: 'water-meter',
      ts: '2026-03-01T02:15:00.000Z',
      seq: 1234,
      metrics: { indexL: 123456, batteryPct: 87 },
      flags: ['tamper'],
      receivedAt: '2026-03-01T02:15:30.000Z',
    });
    expect(Reading.safeParse(out.reading).success).toBe(true);
  });

  it.each([
    ['bike-station', 'BS-000001', '{"bikesAvailable":3}', ['metrics.docksAvailable']],
    ['bike-station', 'BS-000001', '{"ebikesAvailable":1}', ['metrics.bikesAvailable', 'metrics.docksAvailable']],
    ['car-share', 'CS-000001', '{"fuelPct":80}', ['metrics.available']],
    ['car-park', 'CP-000001', '{"occupancyPct":80,"capacity":400}', ['metrics.spacesFree']],
  ])(
    'dead-letters a %s reading with ERR_PAYLOAD_SCHEMA when its metrics %s lack a required one',
    (kind, id, m, paths) => {
      const out = decodeDeviceMessage(
        input(`{"ts":"2026-03-02T08:00:00Z","metrics":${m}}`, {
          topic: `vigie/v1/${kind}/${id}/telemetry`,
          device: { deviceId: id, kind },
        }),
      );
      expect(out.reading).toBeUndefined();
      expect(out.deadLetter?.errorCode).toBe('ERR_PAYLOAD_SCHEMA');
      expect(out.deadLetter?.issues?.map((i) => i.path)).toEqual(paths);
    },
  );

  it.each([
    ['bike-station', 'BS-000001', { bikesAvailable: 0, docksAvailable: 20, ebikesAvailable: 0, capacity: 20 }],
    ['car-share', 'CS-000001', { available: 1, chargePct: 64 }],
    ['car-park', 'CP-000001', { spacesFree: 12, capacity: 400, occupancyPct: 97 }],
  ])('builds a %s reading when its required metrics are there', (kind, id, metrics) => {
    const out = decodeDeviceMessage(
      input(JSON.stringify({ ts: '2026-03-02T08:00:00Z', metrics }), {
        topic: `vigie/v1/${kind}/${id}/telemetry`,
        device: { deviceId: id, kind },
      }),
    );
    expect(out.reading).toMatchObject({ deviceId: id, kind, metrics });
  });

  it('accepts epoch milliseconds when ts is a number', () => {
    const out = decodeDeviceMessage(input(`{"ts":${Date.UTC(2026, 0, 1)},"metrics":{"indexL":1}}`));
    expect(out.reading?.ts).toBe('2026-01-01T00:00:00.000Z');
    expect(out.reading).not.toHaveProperty('seq');
  });

  it('builds a device event when a parking meter reports a payment', () => {
    const out = decodeDeviceMessage(
      input(
        '{"ts":"2026-03-01T10:00:00+01:00","type":"payment","data":{"amountCents":250,"method":"sms","minutes":60}}',
        {
          topic: 'vigie/v1/parking-meter/PM-7/event',
          device: { deviceId: 'PM-7', kind: 'parking-meter' },
        },
      ),
    );
    expect(out.event).toEqual({
      deviceId: 'PM-7',
      kind: 'parking-meter',
      ts: '2026-03-01T09:00:00.000Z',
      type: 'payment',
      data: { amountCents: 250, method: 'sms', minutes: 60 },
      receivedAt: '2026-03-01T02:15:30.000Z',
    });
    expect(DeviceEvent.safeParse(out.event).success).toBe(true);
  });

  const invalid: Array<{ name: string; payload: string | Uint8Array; code: string; path?: string; topic?: string }> = [
    { name: 'truncated JSON', payload: '{"ts":"2026-03-01T02:15:00Z","metr', code: 'ERR_PAYLOAD_JSON' },
    { name: 'empty payload', payload: '', code: 'ERR_PAYLOAD_JSON' },
    { name: 'JSON but not an object', payload: '[1,2,3]', code: 'ERR_PAYLOAD_SCHEMA', path: '' },
    { name: 'missing metrics', payload: '{"ts":"2026-03-01T02:15:00Z"}', code: 'ERR_PAYLOAD_SCHEMA', path: 'metrics' },
    {
      name: 'missing the kind’s required metric',
      payload: '{"ts":"2026-03-01T02:15:00Z","metrics":{"flowLph":3}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.indexL',
    },
    {
      name: 'a metric as a string',
      payload: '{"ts":"2026-03-01T02:15:00Z","metrics":{"indexL":"12"}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.indexL',
    },
    {
      name: 'a huge number (1e400 parses to Infinity)',
      payload: '{"ts":"2026-03-01T02:15:00Z","metrics":{"indexL":1e400}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.indexL',
    },
    {
      name: 'a number beyond 2^53',
      payload: '{"ts":"2026-03-01T02:15:00Z","metrics":{"indexL":9007199254740993}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.indexL',
    },
    {
      name: 'no time zone',
      payload: '{"ts":"2026-03-01T02:15:00","metrics":{"indexL":1}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'ts',
    },
    { name: 'a date in 1970', payload: '{"ts":0,"metrics":{"indexL":1}}', code: 'ERR_PAYLOAD_SCHEMA', path: 'ts' },
    {
      name: 'a negative seq',
      payload: '{"ts":0,"seq":-1,"metrics":{"indexL":1}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'seq',
    },
    { name: 'invalid UTF-8', payload: Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d]), code: 'ERR_PAYLOAD_ENCODING' },
    { name: 'an oversized payload', payload: `{"pad":"${'x'.repeat(16_400)}"}`, code: 'ERR_PAYLOAD_TOO_LARGE' },
    {
      name: 'an unknown kind in the topic',
      payload: '{"ts":0,"metrics":{"indexL":1}}',
      code: 'ERR_KIND_UNKNOWN',
      topic: 'vigie/v1/toaster/WM-000123/telemetry',
    },
    {
      name: 'a kind other than the registered one',
      payload: '{"ts":0,"metrics":{"powerW":1}}',
      code: 'ERR_KIND_MISMATCH',
      topic: 'vigie/v1/streetlight/WM-000123/telemetry',
    },
    {
      name: 'a payment without its amount',
      payload: '{"ts":"2026-03-01T02:15:00Z","type":"payment","data":{"method":"sms","minutes":60}}',
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'data.amountCents',
      topic: 'vigie/v1/water-meter/WM-000123/event',
    },
    {
      name: 'a topic of another device',
      payload: '{"ts":0,"metrics":{"indexL":1}}',
      code: 'ERR_TOPIC_INVALID',
      topic: 'vigie/v1/water-meter/WM-999/telemetry',
    },
  ];

  it.each(invalid)('dead-letters the exact bytes with $code when the payload has $name', (c) => {
    const payload = typeof c.payload === 'string' ? Buffer.from(c.payload, 'utf8') : c.payload;
    const topic = c.topic ?? TELEMETRY;
    const out = decodeDeviceMessage(input(payload, { topic }));
    expect(out.reading).toBeUndefined();
    const dl = out.deadLetter!;
    expect(DeadLetter.parse(dl)).toEqual(dl);
    expect(dl.errorCode).toBe(c.code);
    expect(Buffer.from(dl.rawBase64, 'base64').equals(Buffer.from(payload))).toBe(true);
    expect(dl).toMatchObject({
      source: { type: 'mqtt', topic, clientId: 'client-1' },
      deviceId: 'WM-000123',
      component: 'ingest',
      stage: 'receiving',
      attempts: 1,
      firstFailedAt: '2026-03-01T02:15:30.000Z',
    });
    expect(dl.message).toMatch(/^[^:]+: .+\(.+\)/);
    if (c.path !== undefined) expect(dl.issues.map((i) => i.path)).toContain(c.path);
  });

  it('parses device topics when they have the vigie/v1 shape', () => {
    expect(parseDeviceTopic('vigie/v1/sensor/S-1/status')).toEqual({
      kind: 'sensor',
      deviceId: 'S-1',
      channel: 'status',
    });
    expect(parseDeviceTopic('vigie/v1/sensor/S-1/command')).toBeNull();
    expect(parseDeviceTopic('vigie/v1/sensor/S-1/telemetry/x')).toBeNull();
    expect(parseDeviceTopic('vigie/v2/sensor/S-1/telemetry')).toBeNull();
  });

  propIt.prop([fc.uint8Array({ maxLength: 600 }), fc.constantFrom(TELEMETRY, 'vigie/v1/water-meter/WM-000123/event')])(
    'gives a reading, an event or a dead letter holding the same bytes when the bytes are arbitrary',
    (bytes, topic) => {
      const out = decodeDeviceMessage(input(bytes, { topic, maxPayloadBytes: 500 }));
      const outcomes = [out.reading, out.event, out.deadLetter].filter((x) => x !== undefined);
      expect(outcomes).toHaveLength(1);
      if (out.deadLetter) expect(Buffer.from(out.deadLetter.rawBase64, 'base64').equals(Buffer.from(bytes))).toBe(true);
    },
  );

  const jsonish = fc.oneof(
    fc.jsonValue().map((v) => JSON.stringify(v)),
    fc
      .record(
        {
          ts: fc.oneof(
            fc.integer(),
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            fc.string(),
          ),
          seq: fc.oneof(fc.integer(), fc.double()),
          metrics: fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.double(), fc.integer(), fc.string())),
          flags: fc.array(fc.string({ maxLength: 40 })),
        },
        { requiredKeys: [] },
      )
      .map((v) => JSON.stringify({ ...v, metrics: { indexL: 1, ...(v.metrics ?? {}) } })),
  );

  propIt.prop([jsonish])('never throws and keeps the bytes when the payload is JSON-like', (text) => {
    const bytes = Buffer.from(text, 'utf8');
    const out = decodeDeviceMessage(input(bytes));
    if (out.reading) expect(Reading.safeParse(out.reading).success).toBe(true);
    else expect(Buffer.from(out.deadLetter!.rawBase64, 'base64').equals(bytes)).toBe(true);
  });

  it('takes the fast path for the common telemetry shape when the payload is plain', () => {
    const payload = { ts: '2026-03-01T02:15:00Z', seq: 3, metrics: { indexL: 100_003, batteryPct: 90 } };
    expect(commonDevicePayload(payload)).toEqual(DevicePayload.parse(payload));
    expect(commonDevicePayload({ ...payload, ts: Date.UTC(2026, 2, 1) })).toEqual(
      DevicePayload.parse({ ...payload, ts: Date.UTC(2026, 2, 1) }),
    );
  });

  it('leaves the schema to decide when the time is odd or the payload invalid', () => {
    const base = { ts: '2026-03-01T02:15:00Z', metrics: { indexL: 1 } };
    for (const odd of [
      { ...base, ts: '2026-02-30T00:00:00Z' },
      { ...base, ts: '2026-03-01T24:00:00Z' },
      { ...base, ts: '2026-03-01T02:15:00+01:00' },
      { ...base, ts: '1989-12-31T23:59:59Z' },
      { ...base, ts: 1.5 },
      { ...base, seq: -1 },
      { ...base, seq: null },
      { ...base, metrics: { _x: 1 } },
      { ...base, metrics: [] },
      { ...base, flags: ['no space'] },
      { ...base, flags: 'tamper' },
      [base],
      null,
    ]) {
      expect(commonDevicePayload(odd)).toBeNull();
    }
  });

  const nearTelemetry = fc.record(
    {
      ts: fc.oneof(
        { arbitrary: fc.constant('2026-03-01T02:15:00Z'), weight: 3 },
        fc
          .date({ min: new Date(Date.UTC(1985, 0, 1)), max: new Date(Date.UTC(2105, 0, 1)), noInvalidDate: true })
          .map((d) => d.toISOString()),
        fc
          .date({ min: new Date(Date.UTC(1985, 0, 1)), max: new Date(Date.UTC(2105, 0, 1)), noInvalidDate: true })
          .map((d) => `${d.toISOString().slice(0, 19)}Z`),
        fc
          .tuple(fc.integer({ min: 1985, max: 2105 }), fc.nat(13), fc.nat(32), fc.nat(25), fc.nat(61), fc.nat(61))
          .map(([y, mo, d, h, mi, s]) => {
            const p = (n: number) => String(n).padStart(2, '0');
            return `${y}-${p(mo)}-${p(d)}T${p(h)}:${p(mi)}:${p(s)}Z`;
          }),
        fc.integer({ min: Date.UTC(1985, 0, 1), max: Date.UTC(2105, 0, 1) }),
        fc.double(),
        fc.string({ maxLength: 30 }),
      ),
      seq: fc.oneof(
        { arbitrary: fc.nat(), weight: 6 },
        fc.integer(),
        fc.double(),
        fc.constant(Number.MAX_SAFE_INTEGER + 2),
        fc.constant(null),
      ),
      metrics: fc.oneof(
        {
          arbitrary: fc.dictionary(
            fc.constantFrom('indexL', 'batteryPct', 'a', 'Z_9', `m${'x'.repeat(62)}`, `m${'x'.repeat(63)}`),
            fc.oneof(
              { arbitrary: fc.integer(), weight: 12 },
              fc.double({ noNaN: true, min: -1e6, max: 1e6 }),
              fc.double({ noNaN: true }),
              fc.constant(2 ** 53),
              fc.constant(-(2 ** 53) - 2),
            ),
            { maxKeys: 6 },
          ),
          weight: 8,
        },
        fc.dictionary(
          fc.oneof(fc.constantFrom('indexL', 'batteryPct', 'a', 'Z_9'), fc.string({ maxLength: 66 })),
          fc.oneof(fc.double(), fc.integer(), fc.constant(2 ** 60), fc.string()),
          { maxKeys: 70 },
        ),
        fc.array(fc.integer(), { maxLength: 2 }),
        fc.constant(null),
      ),
      flags: fc.oneof(
        { arbitrary: fc.array(fc.constantFrom('tamper', 'low-batt_2', 'x'.repeat(32)), { maxLength: 17 }), weight: 4 },
        fc.array(fc.oneof(fc.constantFrom('tamper', 'low-batt_2'), fc.string({ maxLength: 34 })), { maxLength: 18 }),
        fc.string(),
      ),
      extra: fc.jsonValue(),
    },
    { requiredKeys: ['ts', 'metrics'] },
  );
  let fastHits = 0;
  afterAll(() => {
    // The property above means something only if the fast path answered often enough.
    expect(fastHits).toBeGreaterThan(200);
  });
  propIt.prop([nearTelemetry], { numRuns: 2_000 })(
    'gives exactly the schema’s output whenever the fast path answers',
    (payload) => {
      // Through JSON, as the payload arrives (no -0, no undefined, no NaN).
      const json: unknown = JSON.parse(JSON.stringify(payload));
      const fast = commonDevicePayload(json);
      const schema = DevicePayload.safeParse(json);
      if (fast !== null) {
        fastHits++;
        expect(schema.success).toBe(true);
        expect(fast).toEqual(schema.data);
        expect(JSON.stringify(fast)).toBe(JSON.stringify(schema.data));
      }
    },
  );
});
