import { fc, it as propIt } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DeadLetter, Reading } from '../../core/contracts/index.ts';
import type { ResolvedDevice, UplinkInput, UplinkResult } from './common.ts';
import { decodeUplink, isUplinkTopic, uplinkNetworkOf } from './index.ts';

const RECEIVED_AT_MS = Date.UTC(2026, 2, 1, 2, 15, 0);
const CHIRPSTACK_TOPIC = 'application/0b7b4a3e-4d9c-4a4b-9f41-5c3f0a6d2e11/device/70b3d5e75e00470c/event/up';
const TTS_TOPIC = 'v3/mulhouse-water@mulhouse/devices/wm-000124/up';
const SENML_TOPIC = 'vigie/v1/water-meter/WM-000123/senml';

/** Every reference resolves, so that random payloads get past the registry and exercise the decoders. */
const anyDevice = (kind: string) => (): ResolvedDevice => ({ deviceId: 'WM-000123', kind });

function input(topic: string, payload: Uint8Array, kind = 'water-meter'): UplinkInput {
  return { topic, payload, receivedAtMs: RECEIVED_AT_MS, maxPayloadBytes: 4096, resolve: anyDevice(kind) };
}

/** Nothing lost silently: each message gives readings, dead letters or a counted drop, all valid, bytes kept. */
function expectAccounted(out: UplinkResult, payload: Uint8Array): void {
  const dropped = Object.values(out.ignored).reduce((a, b) => a + (b ?? 0), 0);
  expect(out.readings.length + out.deadLetters.length + dropped).toBeGreaterThan(0);
  for (const r of out.readings) expect(Reading.safeParse(r).success).toBe(true);
  for (const d of out.deadLetters) {
    expect(DeadLetter.safeParse(d).success).toBe(true);
    expect(Buffer.from(d.rawBase64, 'base64')).toEqual(Buffer.from(payload));
  }
}

describe('uplinks', () => {
  it('names the network from the topic shape when dispatching', () => {
    expect(uplinkNetworkOf(CHIRPSTACK_TOPIC)).toBe('chirpstack');
    expect(uplinkNetworkOf(TTS_TOPIC)).toBe('tts');
    expect(uplinkNetworkOf('v3/app/devices/dev/up')).toBe('tts');
    expect(uplinkNetworkOf(SENML_TOPIC)).toBe('senml');
    expect(isUplinkTopic('vigie/v1/water-meter/WM-000123/telemetry')).toBe(false);
    expect(isUplinkTopic('application/x/device/y/event')).toBe(false);
  });

  it('dead-letters the message with ERR_TOPIC_INVALID when the topic is no uplink topic', () => {
    const payload = Buffer.from('{"ts":1}');
    const out = decodeUplink(input('vigie/v1/water-meter/WM-000123/telemetry', payload));
    expect(out.network).toBeNull();
    expect(out.deadLetters.map((d) => d.errorCode)).toEqual(['ERR_TOPIC_INVALID']);
    expectAccounted(out, payload);
  });

  it('dead-letters the message with ERR_PAYLOAD_TOO_LARGE when it exceeds maxPayloadBytes', () => {
    for (const topic of [CHIRPSTACK_TOPIC, TTS_TOPIC, SENML_TOPIC]) {
      const payload = Buffer.from(`[${'1,'.repeat(3000)}1]`);
      const out = decodeUplink(input(topic, payload));
      expect(out.deadLetters.map((d) => d.errorCode)).toEqual(['ERR_PAYLOAD_TOO_LARGE']);
    }
  });

  it('dead-letters the message with ERR_PAYLOAD_ENCODING when the bytes are not UTF-8', () => {
    const payload = Uint8Array.from([0x5b, 0xff, 0xfe, 0x5d]);
    for (const topic of [CHIRPSTACK_TOPIC, TTS_TOPIC, SENML_TOPIC]) {
      expect(decodeUplink(input(topic, payload)).deadLetters.map((d) => d.errorCode)).toEqual(['ERR_PAYLOAD_ENCODING']);
    }
  });

  it('dead-letters the message with ERR_KIND_UNKNOWN when the registry answers a kind Vigie does not know', () => {
    const payload = Buffer.from(JSON.stringify([{ n: 'indexL', v: 1 }]));
    const out = decodeUplink({ ...input(SENML_TOPIC, payload), resolve: () => ({ deviceId: 'X-1', kind: 'boiler' }) });
    expect(out.deadLetters.map((d) => d.errorCode)).toEqual(['ERR_KIND_UNKNOWN']);
  });

  const topics = fc.oneof(
    fc.constantFrom(
      CHIRPSTACK_TOPIC,
      TTS_TOPIC,
      SENML_TOPIC,
      'application/a/device/b/event/join',
      'v3/a/devices/b/join',
    ),
    fc.string({ maxLength: 80 }),
    fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })).map(([a, b]) => `v3/${a}/devices/${b}/up`),
    fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 })).map(([k, d]) => `vigie/v1/${k}/${d}/senml`),
  );

  propIt.prop([fc.uint8Array({ maxLength: 600 }), topics], { numRuns: 300 })(
    'never throws and accounts for every message when bytes and topics are arbitrary',
    (bytes, topic) => {
      expectAccounted(decodeUplink(input(topic, bytes)), bytes);
    },
  );

  const senmlRecord = fc.dictionary(
    fc.constantFrom('bn', 'bt', 'bu', 'bv', 'bs', 'bver', 'n', 'u', 'v', 'vs', 'vb', 'vd', 's', 't', 'ut', 'x_', 'y'),
    fc.oneof(
      fc.double(),
      fc.integer({ min: -1000, max: 2 ** 31 }),
      fc.boolean(),
      fc.constantFrom('temp', 'WM-000123/', 'urn:dev:ow:1:', 'm3', 'Cel', '%EL', 'm3/s', '', 'a b'),
      fc.constant(null),
    ),
    { maxKeys: 6 },
  );
  const decodedObject = fc.dictionary(
    fc.constantFrom('indexL', 'volume_m3', 'battery', 'BatV', 'temperature', 'flow', 'x'),
    fc.oneof(fc.double(), fc.integer(), fc.boolean(), fc.string({ maxLength: 6 }), fc.constant(null)),
    { maxKeys: 5 },
  );
  const payloads = fc.oneof(
    fc.array(senmlRecord, { maxLength: 8 }).map((pack) => ({ topic: SENML_TOPIC, json: pack })),
    fc
      .record({
        time: fc.oneof(fc.constant('2026-03-01T02:15:00Z'), fc.string({ maxLength: 10 })),
        deviceInfo: fc.record({
          applicationId: fc.constant('0b7b4a3e-4d9c-4a4b-9f41-5c3f0a6d2e11'),
          devEui: fc.constant('70b3d5e75e00470c'),
        }),
        fCnt: fc.oneof(fc.nat(), fc.double()),
        object: fc.oneof(decodedObject, fc.constant(undefined)),
        rxInfo: fc.array(fc.record({ rssi: fc.double(), snr: fc.integer() }), { maxLength: 3 }),
      })
      .map((json) => ({ topic: CHIRPSTACK_TOPIC, json })),
    fc
      .record({
        end_device_ids: fc.record({
          device_id: fc.constant('wm-000124'),
          application_ids: fc.record({ application_id: fc.constant('mulhouse-water') }),
          dev_eui: fc.string({ maxLength: 16 }),
        }),
        uplink_message: fc.record({
          f_cnt: fc.oneof(fc.nat(), fc.constant(-1)),
          decoded_payload: fc.oneof(decodedObject, fc.jsonValue()),
          received_at: fc.oneof(fc.constant('2026-03-01T02:15:00.123456789Z'), fc.string({ maxLength: 8 })),
        }),
      })
      .map((json) => ({ topic: TTS_TOPIC, json })),
  );

  propIt.prop([payloads, fc.constantFrom('water-meter', 'sensor', 'streetlight', 'parking-meter')], { numRuns: 300 })(
    'gives valid readings or dead letters with a reason when messages are almost right',
    ({ topic, json }, kind) => {
      const bytes = Buffer.from(JSON.stringify(json) ?? 'null', 'utf8');
      const out = decodeUplink(input(topic, bytes, kind));
      expectAccounted(out, bytes);
      for (const d of out.deadLetters) expect(d.message.length).toBeGreaterThan(10);
    },
  );
});
