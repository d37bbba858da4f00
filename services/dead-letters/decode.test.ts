import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { BusMessage } from '../../core/bus/port.ts';
import type { DeadLetter } from '../../core/contracts/index.ts';
import { decodeBase64, decodeRecord, INVALID_CODE, recordKeyOf } from './decode.ts';
import { notReplayableReason, replayKeyOf } from './replay.ts';
import { PREVIEW_CHARS, textPreview } from './store.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');

function record(value: string, at: Partial<BusMessage> = {}): BusMessage {
  return { topic: 'deadletter.v1', partition: 1, offset: 7, timestampMs: T0, key: 'wm-1', value, ...at };
}

function letter(raw: string, overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    rawBase64: Buffer.from(raw, 'utf8').toString('base64'),
    source: { type: 'bus', topic: 'readings.water-meter.v1', partition: 0, offset: 41 },
    deviceId: 'wm-1',
    errorCode: 'ERR_READING_SCHEMA',
    message: 'reading does not match the schema: ts: Required (CONTRACTS.md §4)',
    issues: [{ path: 'ts', message: 'Required' }],
    component: 'processors',
    stage: 'processing',
    attempts: 1,
    firstFailedAt: '2026-03-10T07:59:00.000Z',
    ...overrides,
  };
}

describe('dead-letters decode', () => {
  it('keeps every field and the original bytes when the record is a dead letter', () => {
    const raw = '{"deviceId":"wm-1","metrics":{"volumeLitres":12}}';
    const row = decodeRecord(record(JSON.stringify(letter(raw))));
    expect(row).toMatchObject({
      recordPartition: 1,
      recordOffset: 7,
      recordBusKey: 'wm-1',
      source: { type: 'bus', topic: 'readings.water-meter.v1', partition: 0, offset: 41 },
      deviceId: 'wm-1',
      errorCode: 'ERR_READING_SCHEMA',
      issues: [{ path: 'ts', message: 'Required' }],
      component: 'processors',
      stage: 'processing',
      attempts: 1,
      firstFailedAt: '2026-03-10T07:59:00.000Z',
    });
    expect(row.raw.toString('utf8')).toBe(raw);
  });

  it('stores the record itself as ERR_DEADLETTER_INVALID when it is not JSON', () => {
    const row = decodeRecord(record('not json {'));
    expect(row.errorCode).toBe(INVALID_CODE);
    expect(row.raw.toString('utf8')).toBe('not json {');
    expect(row.source).toEqual({ type: 'bus', topic: 'deadletter.v1', partition: 1, offset: 7 });
    expect(row.component).toBe('dead-letters');
    expect(row.message).toMatch(/^deadletter\.v1 record at partition 1, offset 7 is not a dead letter: not JSON/);
    expect(row.firstFailedAt).toBe(new Date(T0).toISOString());
  });

  it('stores the record as ERR_DEADLETTER_INVALID with the schema issues when a field is missing', () => {
    const { errorCode: _, ...noCode } = letter('x');
    const value = JSON.stringify(noCode);
    const row = decodeRecord(record(value));
    expect(row.errorCode).toBe(INVALID_CODE);
    expect(row.issues.map((i) => i.path)).toEqual(['errorCode']);
    expect(row.raw.toString('utf8')).toBe(value);
  });

  it('stores the record as ERR_DEADLETTER_INVALID when rawBase64 is not base64', () => {
    const row = decodeRecord(record(JSON.stringify({ ...letter('x'), rawBase64: 'not base64!' })));
    expect(row.errorCode).toBe(INVALID_CODE);
    expect(row.issues).toEqual([{ path: 'rawBase64', message: 'not base64' }]);
  });

  it('decodes base64 padded or not, and refuses what Node would silently skip', () => {
    expect(decodeBase64('aGk=')?.toString()).toBe('hi');
    expect(decodeBase64('aGk')?.toString()).toBe('hi');
    expect(decodeBase64('')?.length).toBe(0);
    expect(decodeBase64('aGk=aGk=')).toBeUndefined();
    expect(decodeBase64('a')).toBeUndefined();
    expect(decodeBase64('aG-k')).toBeUndefined();
  });

  it('keys a record by its partition, offset and value', () => {
    const a = recordKeyOf({ partition: 0, offset: 5, value: 'v' });
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(recordKeyOf({ partition: 0, offset: 5, value: 'v' })).toBe(a);
    expect(recordKeyOf({ partition: 1, offset: 5, value: 'v' })).not.toBe(a);
    expect(recordKeyOf({ partition: 0, offset: 6, value: 'v' })).not.toBe(a);
    expect(recordKeyOf({ partition: 0, offset: 5, value: 'w' })).not.toBe(a);
  });

  test.prop([fc.string({ unit: 'binary', maxLength: 400 }), fc.nat(), fc.nat()], { numRuns: 500 })(
    'gives a row holding the record or its bytes, and never throws, when the value is any text',
    (value, partition, offset) => {
      const row = decodeRecord(record(value, { partition, offset }));
      expect(row.recordKey).toBe(recordKeyOf({ partition, offset, value }));
      if (row.errorCode === INVALID_CODE) expect(row.raw.equals(Buffer.from(value, 'utf8'))).toBe(true);
    },
  );
});

describe('dead-letters replay key', () => {
  const raw = (value: unknown) => Buffer.from(JSON.stringify(value), 'utf8');

  it.each([
    ['readings.water-meter.v1', { deviceId: 'wm-9' }, 'wm-9'],
    ['events.parking-meter.v1', { deviceId: 'pm-2' }, 'pm-2'],
    ['devices.v1', { deviceId: 'sl-4' }, 'sl-4'],
    ['alerts.v1', { deviceId: 'wm-9', type: 'leak' }, 'wm-9:leak'],
    ['inbound-sms.v1', { from: '+33611223344' }, '+33611223344'],
    ['notifications.v1', { to: 'a@example.org' }, 'a@example.org'],
    ['parking-sessions.v1', { phone: '+33611223344' }, '+33611223344'],
    ['mobility-usage.v1', { accountId: 'acc-1' }, 'acc-1'],
  ])('reads the key of %s from the bytes when they carry it', (topic, value, key) => {
    expect(replayKeyOf(topic, { raw: raw(value), recordBusKey: 'other', deviceId: null })).toBe(key);
  });

  it('takes the dead letter’s own key when the bytes do not give one, unless it is the source topic', () => {
    const notJson = Buffer.from('garbage', 'utf8');
    expect(replayKeyOf('alerts.v1', { raw: notJson, recordBusKey: 'wm-1:leak', deviceId: 'wm-1' })).toBe('wm-1:leak');
    expect(replayKeyOf('rollups.v1', { raw: raw({ district: 'd1' }), recordBusKey: 'd1', deviceId: null })).toBe('d1');
    expect(replayKeyOf('alerts.v1', { raw: notJson, recordBusKey: 'alerts.v1', deviceId: 'wm-1' })).toBe('wm-1');
    expect(replayKeyOf('alerts.v1', { raw: notJson, recordBusKey: 'alerts.v1', deviceId: null })).toBe('');
  });

  it('says how to resend when the source is not the bus, and refuses deadletter.v1 itself', () => {
    const reason = (source: DeadLetter['source']) => notReplayableReason({ id: 3, source });
    expect(reason({ type: 'bus', topic: 'readings.water-meter.v1', partition: 0, offset: 1 })).toBeUndefined();
    expect(reason({ type: 'mqtt', topic: 'vigie/v1/water-meter/wm-1/telemetry' })).toMatch(/device resends/);
    expect(reason({ type: 'mqtt', topic: 'application/1/device/x/event/up' })).toMatch(/network server/);
    expect(reason({ type: 'http', route: '/api/uplinks' })).toMatch(/sends the request again/);
    expect(reason({ type: 'file', path: 'devices.csv', line: 4 })).toMatch(/import the file again/);
    expect(reason({ type: 'bus', topic: 'deadletter.v1', partition: 0, offset: 1 })).toMatch(/not a dead letter/);
  });
});

describe('dead-letters preview', () => {
  it('replaces invalid UTF-8 and stops at the character limit without cutting a surrogate pair', () => {
    expect(textPreview(Uint8Array.from([0x68, 0xff, 0x69]))).toBe('h\uFFFDi');
    const emoji = '🚰'.repeat(PREVIEW_CHARS + 10);
    const preview = textPreview(Buffer.from(emoji, 'utf8'));
    expect(Array.from(preview)).toHaveLength(PREVIEW_CHARS);
    expect(preview).toBe('🚰'.repeat(PREVIEW_CHARS));
    expect(textPreview(Buffer.from('é'.repeat(600), 'utf8'))).toBe('é'.repeat(PREVIEW_CHARS));
  });
});
