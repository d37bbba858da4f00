import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DeadLetter, Reading } from '../../core/contracts/index.ts';
import type { DeviceRef, ResolvedDevice, UplinkInput } from './common.ts';
import { decodeUplink } from './index.ts';

const RECEIVED_AT_MS = Date.UTC(2026, 2, 1, 2, 15, 5);

interface Fixture {
  readonly description: string;
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

/** The registry as the caller supplies it: DevEUI → Vigie device. */
const DEVICES: Record<string, ResolvedDevice> = {
  '70b3d5e75e00470c': { deviceId: 'WM-000123', kind: 'water-meter' },
  a840419edb62011c: { deviceId: 'ENV-0001', kind: 'sensor' },
  '0004a30b001c0530': { deviceId: 'SL-0042', kind: 'streetlight' },
  '0004a30b001c0531': { deviceId: 'SL-0043', kind: 'streetlight' },
};

function input(
  topic: string,
  payload: unknown,
  overrides: Partial<UplinkInput> = {},
): UplinkInput & { refs: DeviceRef[] } {
  const refs: DeviceRef[] = [];
  return {
    topic,
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8'),
    receivedAtMs: RECEIVED_AT_MS,
    maxPayloadBytes: 16_384,
    clientId: 'chirpstack-bridge',
    resolve: (ref) => {
      refs.push(ref);
      return ref.devEui === undefined ? null : (DEVICES[ref.devEui] ?? null);
    },
    refs,
    ...overrides,
  };
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0]!;
}

describe('chirpstack', () => {
  it('maps a water meter uplink to a canonical reading when the codec reports m³, L/h and flags', () => {
    const f = fixture('chirpstack-up-water-meter');
    const i = input(f.topic, f.payload);
    const out = decodeUplink(i);
    expect(out.network).toBe('chirpstack');
    expect(out.deadLetters).toEqual([]);
    expect(i.refs).toEqual([
      { network: 'chirpstack', devEui: '70b3d5e75e00470c', applicationId: '0b7b4a3e-4d9c-4a4b-9f41-5c3f0a6d2e11' },
    ]);
    const reading = only(out.readings);
    expect(reading).toEqual({
      deviceId: 'WM-000123',
      kind: 'water-meter',
      ts: '2026-03-01T02:15:04.118Z',
      seq: 1834,
      metrics: { indexL: 123456, flowLph: 4.2, batteryPct: 87, leak: 0, rssiDbm: -97, snrDb: 7.5 },
      receivedAt: '2026-03-01T02:15:05.000Z',
    });
    expect(Reading.safeParse(reading).success).toBe(true);
    expect(out.ignored).toEqual({ text: 1 });
  });

  it('keeps vendor names it does not know as extra metrics when a sensor reports them', () => {
    const f = fixture('chirpstack-up-lht65n');
    const reading = only(decodeUplink(input(f.topic, f.payload)).readings);
    expect(reading.metrics).toEqual({
      batteryV: 3.297,
      TempC_SHT: 24.73,
      Bat_status: 3,
      Hum_SHT: 45.2,
      TempC_DS: 22.93,
      rssiDbm: -102,
      snrDb: -12,
    });
    expect(reading.seq).toBe(0);
    expect(reading.ts).toBe('2026-03-01T14:39:44.530Z');
  });

  it('maps Cayenne LPP channels to canonical names when the streetlight codec is the built-in one', () => {
    const f = fixture('chirpstack-up-cayenne-lpp');
    const reading = only(decodeUplink(input(f.topic, f.payload)).readings);
    expect(reading.metrics).toEqual({
      tempC: 27.2,
      lux: 4,
      powerW: 41.5,
      dimPct: 70,
      analogInput_1: 3.61,
      rssiDbm: -91,
      snrDb: 6.5,
    });
  });

  it('dead-letters the uplink with ERR_UPLINK_UNDECODED when the device profile has no codec', () => {
    const f = fixture('chirpstack-up-no-codec');
    const i = input(f.topic, f.payload);
    const out = decodeUplink(i);
    expect(out.readings).toEqual([]);
    const dl = only(out.deadLetters);
    expect(dl.errorCode).toBe('ERR_UPLINK_UNDECODED');
    expect(dl.deviceId).toBe('SL-0042');
    expect(dl.message).toContain('Lamp controller (no codec)');
    expect(dl.issues).toEqual([{ path: 'object', message: 'absent' }]);
    expect(Buffer.from(dl.rawBase64, 'base64')).toEqual(Buffer.from(i.payload));
    expect(dl.source).toEqual({ type: 'mqtt', topic: f.topic, clientId: 'chirpstack-bridge' });
    expect(DeadLetter.safeParse(dl).success).toBe(true);
  });

  const f = fixture('chirpstack-up-water-meter');
  const withPayload = (change: (p: Record<string, unknown>) => void): Record<string, unknown> => {
    const copy = structuredClone(f.payload);
    change(copy);
    return copy;
  };
  const malformed: Array<{ name: string; payload: unknown; topic?: string; code: string; path?: string }> = [
    { name: 'truncated JSON', payload: '{"deduplicationId":"3b0c', code: 'ERR_PAYLOAD_JSON' },
    { name: 'a JSON array', payload: [1, 2], code: 'ERR_PAYLOAD_SCHEMA', path: '' },
    {
      name: 'no deviceInfo',
      payload: withPayload((p) => delete p['deviceInfo']),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'deviceInfo',
    },
    {
      name: 'fCnt as a string',
      payload: withPayload((p) => (p['fCnt'] = '1834')),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'fCnt',
    },
    {
      name: 'a DevEUI other than the topic’s',
      payload: withPayload((p) => ((p['deviceInfo'] as Record<string, unknown>)['devEui'] = '70b3d5e75e00470d')),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'deviceInfo.devEui',
    },
    {
      name: 'a DevEUI the registry does not know',
      topic: 'application/0b7b4a3e-4d9c-4a4b-9f41-5c3f0a6d2e11/device/70b3d5e75e0047ff/event/up',
      payload: withPayload((p) => ((p['deviceInfo'] as Record<string, unknown>)['devEui'] = '70b3d5e75e0047ff')),
      code: 'ERR_DEVICE_UNKNOWN',
    },
    {
      name: 'an object that is a string',
      payload: withPayload((p) => (p['object'] = 'volume=123')),
      code: 'ERR_UPLINK_UNDECODED',
      path: 'object',
    },
    {
      name: 'an object with text only',
      payload: withPayload((p) => (p['object'] = { status: 'OK', model: 'DN15' })),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'object',
    },
    {
      name: 'only numbers beyond ±2^53',
      payload: withPayload((p) => (p['object'] = { indexL: 1e300 })),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'object',
    },
    {
      name: 'no index for a water meter',
      payload: withPayload((p) => (p['object'] = { flow_l_h: 4.2, battery_pct: 87 })),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.indexL',
    },
    {
      name: 'two different indexes',
      payload: withPayload((p) => (p['object'] = { volume_m3: 1.5, indexL: 1600 })),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'metrics.indexL',
    },
    {
      name: 'a time out of range',
      payload: withPayload((p) => (p['time'] = '1970-01-01T00:00:00Z')),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'time',
    },
    {
      name: 'a topic without a DevEUI',
      topic: 'application/0b7b4a3e-4d9c-4a4b-9f41-5c3f0a6d2e11/device/meter-12/event/up',
      payload: f.payload,
      code: 'ERR_TOPIC_INVALID',
    },
  ];
  for (const c of malformed) {
    it(`dead-letters the uplink with ${c.code} when it has ${c.name}`, () => {
      const i = input(c.topic ?? f.topic, c.payload);
      const out = decodeUplink(i);
      expect(out.readings).toEqual([]);
      const dl = only(out.deadLetters);
      expect(dl.errorCode).toBe(c.code);
      if (c.path !== undefined) expect(dl.issues.map((x) => x.path)).toContain(c.path);
      expect(Buffer.from(dl.rawBase64, 'base64')).toEqual(Buffer.from(i.payload));
      expect(DeadLetter.safeParse(dl).success).toBe(true);
    });
  }

  it('counts other ChirpStack events as dropped on purpose when they are not uplinks', () => {
    const out = decodeUplink(
      input(
        'application/0b7b4a3e-4d9c-4a4b-9f41-5c3f0a6d2e11/device/70b3d5e75e00470c/event/status',
        '{"margin":7,"batteryLevel":87.5}',
      ),
    );
    expect(out).toEqual({ network: 'chirpstack', readings: [], deadLetters: [], ignored: { 'not-uplink': 1 } });
  });

  it('falls back to the receipt time when the uplink has no time', () => {
    const payload = withPayload((p) => delete p['time']);
    const reading = only(decodeUplink(input(f.topic, payload)).readings);
    expect(reading.ts).toBe('2026-03-01T02:15:05.000Z');
  });
});
