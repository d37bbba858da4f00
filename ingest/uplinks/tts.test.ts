import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DeadLetter, Reading } from '../../core/contracts/index.ts';
import type { DeviceRef, ResolvedDevice, UplinkInput } from './common.ts';
import { decodeUplink } from './index.ts';
import { parseTtsTopic } from './tts.ts';

const RECEIVED_AT_MS = Date.UTC(2026, 2, 1, 2, 15, 2);

interface Fixture {
  readonly description: string;
  readonly topic: string;
  readonly payload: Record<string, unknown>;
}

function fixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as Fixture;
}

/** The registry as the caller supplies it: The Things Stack device id → Vigie device. */
const DEVICES: Record<string, ResolvedDevice> = {
  'wm-000124': { deviceId: 'WM-000124', kind: 'water-meter' },
  'pm-0007': { deviceId: 'PM-0007', kind: 'parking-meter' },
};

function input(topic: string, payload: unknown): UplinkInput & { refs: DeviceRef[] } {
  const refs: DeviceRef[] = [];
  return {
    topic,
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload), 'utf8'),
    receivedAtMs: RECEIVED_AT_MS,
    maxPayloadBytes: 16_384,
    resolve: (ref) => {
      refs.push(ref);
      return ref.deviceId === undefined ? null : (DEVICES[ref.deviceId] ?? null);
    },
    refs,
  };
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  return items[0]!;
}

describe('tts', () => {
  it('splits multi-tenant and single-tenant topics when parsing', () => {
    expect(parseTtsTopic('v3/app1@tenant1/devices/dev1/up')).toEqual({
      applicationId: 'app1',
      tenantId: 'tenant1',
      deviceId: 'dev1',
      message: 'up',
    });
    expect(parseTtsTopic('v3/app1/devices/dev1/down/queued')).toEqual({
      applicationId: 'app1',
      tenantId: null,
      deviceId: 'dev1',
      message: 'down/queued',
    });
    expect(parseTtsTopic('v3/app1/devices/up')).toBeNull();
  });

  it('maps a water meter uplink to a canonical reading when the formatter reports litres and flags', () => {
    const f = fixture('tts-up-water-meter');
    const i = input(f.topic, f.payload);
    const out = decodeUplink(i);
    expect(out.network).toBe('tts');
    expect(out.deadLetters).toEqual([]);
    expect(i.refs).toEqual([
      { network: 'tts', deviceId: 'wm-000124', applicationId: 'mulhouse-water', devEui: '70b3d57ed005b89a' },
    ]);
    const reading = only(out.readings);
    expect(reading).toEqual({
      deviceId: 'WM-000124',
      kind: 'water-meter',
      ts: '2026-03-01T02:15:01.207Z',
      seq: 9021,
      metrics: {
        indexL: 654321,
        flowLph: 0,
        batteryPct: 64,
        tempC: 9.5,
        alarms_leak: 0,
        alarms_backflow: 0,
        alarms_tamper: 1,
        rssiDbm: -68,
        snrDb: 9.2,
      },
      receivedAt: '2026-03-01T02:15:02.000Z',
    });
    expect(Reading.safeParse(reading).success).toBe(true);
  });

  it('dead-letters the uplink with ERR_UPLINK_UNDECODED when no payload formatter is set', () => {
    const f = fixture('tts-up-no-formatter');
    const i = input(f.topic, f.payload);
    const out = decodeUplink(i);
    expect(out.readings).toEqual([]);
    const dl = only(out.deadLetters);
    expect(dl.errorCode).toBe('ERR_UPLINK_UNDECODED');
    expect(dl.deviceId).toBe('PM-0007');
    expect(dl.message).toContain('payload formatter');
    expect(dl.issues).toEqual([{ path: 'uplink_message.decoded_payload', message: 'absent' }]);
    expect(Buffer.from(dl.rawBase64, 'base64')).toEqual(Buffer.from(i.payload));
  });

  const f = fixture('tts-up-water-meter');
  const withPayload = (change: (p: Record<string, unknown>) => void): Record<string, unknown> => {
    const copy = structuredClone(f.payload);
    change(copy);
    return copy;
  };
  const up = (p: Record<string, unknown>): Record<string, unknown> => p['uplink_message'] as Record<string, unknown>;
  const malformed: Array<{ name: string; payload: unknown; topic?: string; code: string; path?: string }> = [
    { name: 'bytes that are not JSON', payload: 'up!', code: 'ERR_PAYLOAD_JSON' },
    {
      name: 'no uplink_message',
      payload: withPayload((p) => delete p['uplink_message']),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'uplink_message',
    },
    {
      name: 'no end_device_ids',
      payload: withPayload((p) => delete p['end_device_ids']),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'end_device_ids',
    },
    {
      name: 'a device id other than the topic’s',
      topic: 'v3/mulhouse-water@mulhouse/devices/wm-000999/up',
      payload: f.payload,
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'end_device_ids.device_id',
    },
    {
      name: 'a device the registry does not know',
      topic: 'v3/mulhouse-water@mulhouse/devices/wm-000999/up',
      payload: withPayload((p) => ((p['end_device_ids'] as Record<string, unknown>)['device_id'] = 'wm-000999')),
      code: 'ERR_DEVICE_UNKNOWN',
    },
    {
      name: 'a decoded payload that is an array',
      payload: withPayload((p) => (up(p)['decoded_payload'] = [1, 2, 3])),
      code: 'ERR_UPLINK_UNDECODED',
      path: 'uplink_message.decoded_payload',
    },
    {
      name: 'values with units in strings',
      payload: withPayload((p) => (up(p)['decoded_payload'] = { Bat: '3.384 V', TempC: '0.00 °C' })),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'uplink_message.decoded_payload',
    },
    {
      name: 'an unreadable received_at',
      payload: withPayload((p) => (up(p)['received_at'] = 'yesterday')),
      code: 'ERR_PAYLOAD_SCHEMA',
      path: 'uplink_message.received_at',
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

  it('counts join and downlink messages as dropped on purpose when they are not uplinks', () => {
    for (const message of ['join', 'down/queued', 'service/data']) {
      const out = decodeUplink(input(`v3/mulhouse-water@mulhouse/devices/wm-000124/${message}`, '{}'));
      expect(out).toEqual({ network: 'tts', readings: [], deadLetters: [], ignored: { 'not-uplink': 1 } });
    }
  });

  it('reads frame 0 when f_cnt is omitted as The Things Stack omits zero values', () => {
    const payload = withPayload((p) => delete up(p)['f_cnt']);
    expect(only(decodeUplink(input(f.topic, payload)).readings).seq).toBe(0);
  });
});
