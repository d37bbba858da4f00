import { fc, it as propIt } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { DeadLetter, Reading } from '../core/contracts/index.ts';
import {
  type DecodeInput,
  decodeBatchMessage,
  decodeDeviceMessage,
  MAX_BATCH_ITEMS,
  refusedBatchItem,
} from './decode.ts';

const RECEIVED_AT_MS = Date.UTC(2026, 2, 1, 2, 15, 30);
const GATEWAY = { deviceId: 'GW-1', kind: 'water-meter' };
const BATCH = 'vigie/v1/water-meter/GW-1/batch';

function input(payload: string | Uint8Array, overrides: Partial<DecodeInput> = {}): DecodeInput {
  return {
    topic: BATCH,
    payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
    device: GATEWAY,
    clientId: 'gw-client',
    receivedAtMs: RECEIVED_AT_MS,
    maxPayloadBytes: 16_384,
    ...overrides,
  };
}

const item = (deviceId: string, indexL: number, extra: Record<string, unknown> = {}) => ({
  deviceId,
  ts: '2026-03-01T02:15:00Z',
  metrics: { indexL },
  ...extra,
});

describe('decodeBatchMessage', () => {
  it('gives one reading per item, in order, each for its own device, when every item is valid', () => {
    const out = decodeBatchMessage(
      input(JSON.stringify([item('WM-1', 10, { seq: 7 }), item('WM-2', 20), item('GW-1', 1)])),
    );
    expect(out.deadLetter).toBeUndefined();
    expect(out.items!.map((i) => i.deviceId)).toEqual(['WM-1', 'WM-2', 'GW-1']);
    const first = out.items![0]!.decoded.reading!;
    expect(first).toEqual({
      deviceId: 'WM-1',
      kind: 'water-meter',
      ts: '2026-03-01T02:15:00.000Z',
      seq: 7,
      metrics: { indexL: 10 },
      receivedAt: '2026-03-01T02:15:30.000Z',
    });
    for (const it of out.items!) expect(Reading.safeParse(it.decoded.reading).success).toBe(true);
  });

  it('gives the same reading as a telemetry message of that device when the item has the same payload', () => {
    const payload = { ts: 1_772_331_300_000, seq: 3, metrics: { indexL: 5, flowLph: 1.5 }, flags: ['tamper'] };
    const single = decodeDeviceMessage({
      ...input(JSON.stringify(payload)),
      topic: 'vigie/v1/water-meter/WM-9/telemetry',
      device: { deviceId: 'WM-9', kind: 'water-meter' },
    });
    const batch = decodeBatchMessage(input(JSON.stringify([{ deviceId: 'WM-9', ...payload }])));
    expect(batch.items![0]!.decoded.reading).toEqual(single.reading);
  });

  it('dead-letters a bad item alone, with its JSON, its index and its device, when the others are valid', () => {
    const bad = { deviceId: 'WM-2', ts: '2026-03-01T02:15:00Z', metrics: { flowLph: 3 } };
    const out = decodeBatchMessage(input(JSON.stringify([item('WM-1', 10), bad, { ts: 1 }, 'text', item('WM-3', 30)])));
    const [ok1, missing, noId, notObject, ok2] = out.items!;
    expect(ok1!.decoded.reading?.deviceId).toBe('WM-1');
    expect(ok2!.decoded.reading?.deviceId).toBe('WM-3');
    const letter = missing!.decoded.deadLetter!;
    expect(DeadLetter.safeParse(letter).success).toBe(true);
    expect(letter).toMatchObject({ deviceId: 'WM-2', errorCode: 'ERR_PAYLOAD_SCHEMA' });
    expect(letter.issues.map((i) => i.path)).toEqual(['[1].metrics.indexL']);
    expect(JSON.parse(Buffer.from(letter.rawBase64, 'base64').toString('utf8'))).toEqual(bad);
    expect(letter.message).toMatch(/^batch item 1: /);
    // An item without a device id is the sender's.
    expect(noId!.decoded.deadLetter).toMatchObject({ deviceId: 'GW-1', errorCode: 'ERR_PAYLOAD_SCHEMA' });
    expect(noId!.decoded.deadLetter!.issues[0]!.path).toBe('[2].deviceId');
    expect(notObject!.decoded.deadLetter!.issues[0]!.path).toBe('[3].deviceId');
    expect(Buffer.from(notObject!.decoded.deadLetter!.rawBase64, 'base64').toString()).toBe('"text"');
  });

  it('dead-letters the whole message with its bytes when it is not a batch', () => {
    const cases: [string | Uint8Array, string][] = [
      ['{"ts":1}', 'ERR_PAYLOAD_SCHEMA'],
      ['[]', 'ERR_PAYLOAD_SCHEMA'],
      [JSON.stringify(Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => item(`WM-${i}`, i))), 'ERR_PAYLOAD_SCHEMA'],
      ['[{"deviceId":"WM-1"', 'ERR_PAYLOAD_JSON'],
      [new Uint8Array([0x5b, 0xff, 0x5d]), 'ERR_PAYLOAD_ENCODING'],
    ];
    for (const [payload, code] of cases) {
      const out = decodeBatchMessage(input(payload));
      expect(out.items).toBeUndefined();
      expect(out.deadLetter).toMatchObject({ errorCode: code, deviceId: 'GW-1', source: { topic: BATCH } });
      const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
      expect(Buffer.from(out.deadLetter!.rawBase64, 'base64').equals(bytes)).toBe(true);
    }
    expect(decodeBatchMessage(input('[]', { topic: 'vigie/v1/lamp/GW-1/batch' })).deadLetter?.errorCode).toBe(
      'ERR_KIND_UNKNOWN',
    );
    expect(decodeBatchMessage(input('[]', { topic: 'vigie/v1/water-meter/GW-2/batch' })).deadLetter?.errorCode).toBe(
      'ERR_TOPIC_INVALID',
    );
  });

  it('words a refused item with its index and keeps its JSON when the caller refuses it', () => {
    const out = decodeBatchMessage(input(JSON.stringify([item('WM-1', 1), item('WM-X', 2)])));
    const letter = refusedBatchItem(input('[]'), out.items![1]!, 1, 'ERR_DEVICE_FOREIGN', 'WM-X is not behind GW-1');
    expect(letter).toMatchObject({
      deviceId: 'WM-X',
      errorCode: 'ERR_DEVICE_FOREIGN',
      message: 'batch item 1: WM-X is not behind GW-1',
    });
    expect(letter.issues).toEqual([{ path: '[1].deviceId', message: 'WM-X is not behind GW-1' }]);
    expect(JSON.parse(Buffer.from(letter.rawBase64, 'base64').toString())).toEqual(item('WM-X', 2));
  });

  propIt.prop([fc.array(fc.jsonValue(), { maxLength: 20 })])(
    'never throws, and accounts for every item when the items are arbitrary JSON',
    (values) => {
      const out = decodeBatchMessage(input(JSON.stringify(values)));
      if (out.deadLetter) {
        expect(values.length === 0 || values.length > MAX_BATCH_ITEMS).toBe(true);
        return;
      }
      expect(out.items).toHaveLength(values.length);
      for (const it of out.items!) {
        const outcomes = [it.decoded.reading, it.decoded.deadLetter].filter((x) => x !== undefined);
        expect(outcomes).toHaveLength(1);
        if (it.decoded.reading) expect(Reading.safeParse(it.decoded.reading).success).toBe(true);
        else expect(DeadLetter.safeParse(it.decoded.deadLetter).success).toBe(true);
      }
    },
  );
});
