import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import {
  AlertTransition,
  DeadLetter,
  DevicePayload,
  EventTime,
  MAX_METRICS,
  Reading,
  statusTopic,
  TOPICS,
  telemetryTopic,
} from './index.ts';

/** The issue paths of a failed parse, joined with dots, e.g. `metrics.flowLph`. */
function issuePaths(schema: z.ZodType, input: unknown): string[] {
  const result = schema.safeParse(input);
  expect(result.success, 'the input should be rejected').toBe(false);
  return (result.error?.issues ?? []).map((i) => i.path.map(String).join('.'));
}

// The examples of CONTRACTS.md §3 and §4, verbatim.
const PAYLOAD_EXAMPLE = {
  ts: '2026-03-01T02:15:00Z',
  seq: 1234,
  metrics: { indexL: 123456, batteryPct: 87 },
  flags: ['tamper'],
};
const READING_EXAMPLE = {
  deviceId: 'WM-000123',
  kind: 'water-meter',
  ts: '2026-03-01T02:15:00Z',
  metrics: { indexL: 123456 },
};
const TRANSITION_EXAMPLE = {
  alertId: 'WM-000123:leak:1',
  type: 'leak',
  deviceId: 'WM-000123',
  kind: 'water-meter',
  state: 'open',
  ts: '2026-03-02T02:00:00Z',
  severity: 'warning',
  summary: 'Continuous flow for 24 h, about 4 L/h',
  details: { estimatedLph: 4.2 },
};
const DEAD_LETTER_EXAMPLE = {
  rawBase64: Buffer.from('{"ts":').toString('base64'),
  source: { type: 'mqtt', topic: 'vigie/v1/water-meter/WM-000123/telemetry', clientId: 'WM-000123' },
  deviceId: 'WM-000123',
  errorCode: 'ERR_PAYLOAD_JSON',
  message: 'payload is not JSON: {"ts": (a JSON object)',
  component: 'ingest',
  stage: 'receiving',
  firstFailedAt: '2026-03-01T02:15:00.000Z',
};

describe('contracts', () => {
  describe('examples', () => {
    it('parses the device payload of CONTRACTS.md §3 when given verbatim', () => {
      expect(DevicePayload.parse(PAYLOAD_EXAMPLE)).toEqual({ ...PAYLOAD_EXAMPLE, ts: '2026-03-01T02:15:00.000Z' });
    });

    it('parses the replay reading of CONTRACTS.md §4 when given verbatim', () => {
      expect(Reading.parse(READING_EXAMPLE)).toEqual({ ...READING_EXAMPLE, ts: '2026-03-01T02:15:00.000Z' });
    });

    it('parses the alert transition of CONTRACTS.md §4 when given verbatim', () => {
      expect(AlertTransition.parse(TRANSITION_EXAMPLE)).toEqual(TRANSITION_EXAMPLE);
    });

    it('parses a dead letter and fills its defaults when issues and attempts are absent', () => {
      expect(DeadLetter.parse(DEAD_LETTER_EXAMPLE)).toEqual({ ...DEAD_LETTER_EXAMPLE, issues: [], attempts: 1 });
    });

    it('accepts a payload with only ts and metrics when seq and flags are absent', () => {
      expect(DevicePayload.parse({ ts: 1772331300000, metrics: {} })).toEqual({
        ts: '2026-03-01T02:15:00.000Z',
        metrics: {},
      });
    });
  });

  describe('event time', () => {
    it.each([
      ['ISO in UTC', '2026-03-01T02:15:00Z'],
      ['ISO with milliseconds', '2026-03-01T02:15:00.000Z'],
      ['ISO with an offset', '2026-03-01T03:15:00+01:00'],
      ['ISO with a compact offset', '2026-03-01T03:15:00+0100'],
      ['ISO without seconds', '2026-03-01T02:15Z'],
      ['ISO with nanoseconds', '2026-03-01T02:15:00.000999999Z'],
      ['epoch milliseconds', 1772331300000],
    ])('normalises to ISO UTC with milliseconds when given %s', (_name, ts) => {
      expect(EventTime.parse(ts)).toBe('2026-03-01T02:15:00.000Z');
    });

    it.each([
      ['epoch seconds', 1772331300],
      ['a fractional epoch', 1772331300000.5],
      ['a numeric string', '1772331300000'],
      ['no time zone', '2026-03-01T02:15:00'],
      ['a date only', '2026-03-01'],
      ['February 30th', '2026-02-30T00:00:00Z'],
      ['month 13', '2026-13-01T00:00:00Z'],
      ['minute 60', '2026-03-01T02:60:00Z'],
      ['a date before 1990', '1970-01-01T00:00:00Z'],
      ['a date after 2100', '2200-01-01T00:00:00Z'],
      ['a boolean', true],
      ['null', null],
    ])('rejects %s', (_name, ts) => {
      expect(issuePaths(DevicePayload, { ts, metrics: {} })).toContain('ts');
    });
  });

  describe('bad input', () => {
    it('rejects each bad metric at its own path when values are huge, NaN, infinite or not numbers', () => {
      const metrics = {
        indexL: 2 ** 60,
        flowLph: Number.NaN,
        tempC: Number.POSITIVE_INFINITY,
        batteryPct: '87',
        ok: 1,
      };
      expect(issuePaths(DevicePayload, { ts: 1772331300000, metrics }).sort()).toEqual([
        'metrics.batteryPct',
        'metrics.flowLph',
        'metrics.indexL',
        'metrics.tempC',
      ]);
    });

    it('rejects metric names that cannot become fields when they hold spaces or start with a digit', () => {
      const paths = issuePaths(DevicePayload, { ts: 1772331300000, metrics: { 'flow lph': 1, '1st': 2 } });
      expect(paths).toEqual(['metrics.flow lph', 'metrics.1st']);
    });

    it('rejects a payload when it has more metrics than the limit', () => {
      const metrics = Object.fromEntries(Array.from({ length: MAX_METRICS + 1 }, (_, i) => [`m${i}`, i]));
      expect(issuePaths(DevicePayload, { ts: 1772331300000, metrics })).toEqual(['metrics']);
      const atLimit = Object.fromEntries(Array.from({ length: MAX_METRICS }, (_, i) => [`m${i}`, i]));
      expect(DevicePayload.safeParse({ ts: 1772331300000, metrics: atLimit }).success).toBe(true);
    });

    it('rejects a bad flag at its index when flags hold free text', () => {
      expect(issuePaths(DevicePayload, { ts: 1772331300000, metrics: {}, flags: ['tamper', 'a b'] })).toEqual([
        'flags.1',
      ]);
    });

    it.each([
      ['empty', ''],
      ['a slash (MQTT level)', 'WM/1'],
      ['an MQTT wildcard', 'WM+1'],
      ['a leading dot', '.hidden'],
      ['65 characters', `W${'1'.repeat(64)}`],
      ['non-ASCII', 'WM-é'],
    ])('rejects a device id when it is %s', (_name, deviceId) => {
      expect(issuePaths(Reading, { ...READING_EXAMPLE, deviceId })).toEqual(['deviceId']);
    });

    it('rejects unknown kinds, alert types and states at their paths', () => {
      expect(issuePaths(Reading, { ...READING_EXAMPLE, kind: 'toaster' })).toEqual(['kind']);
      expect(issuePaths(AlertTransition, { ...TRANSITION_EXAMPLE, type: 'fire', state: 'closed' }).sort()).toEqual([
        'state',
        'type',
      ]);
    });

    it('rejects a transition whose ts has an offset when only normalised UTC is allowed', () => {
      expect(issuePaths(AlertTransition, { ...TRANSITION_EXAMPLE, ts: '2026-03-02T03:00:00+01:00' })).toEqual(['ts']);
    });

    it('rejects a dead letter when its error code is not ERR_<AREA>_<WHAT> or its source is unknown', () => {
      expect(issuePaths(DeadLetter, { ...DEAD_LETTER_EXAMPLE, errorCode: 'bad json' })).toEqual(['errorCode']);
      expect(issuePaths(DeadLetter, { ...DEAD_LETTER_EXAMPLE, source: { type: 'fax' } })).toEqual(['source.type']);
    });
  });

  describe('properties', () => {
    const schemas = { DevicePayload, Reading, AlertTransition, DeadLetter, EventTime } as const;

    prop.prop([fc.jsonValue()], { numRuns: 300 })('never throws from safeParse when given any JSON', (value) => {
      for (const schema of Object.values(schemas)) {
        const result = schema.safeParse(value);
        expect(typeof result.success).toBe('boolean');
      }
    });

    prop.prop([fc.record({ ts: fc.anything(), metrics: fc.dictionary(fc.string(), fc.anything()) })], {
      numRuns: 300,
    })('never throws from safeParse when given payload-shaped garbage', (value) => {
      expect(() => DevicePayload.safeParse(value)).not.toThrow();
    });

    prop.prop([fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2100, 0, 1) })])(
      'normalises epoch milliseconds and their ISO form to the same instant when in range',
      (ms) => {
        const iso = new Date(ms).toISOString();
        expect(EventTime.parse(ms)).toBe(iso);
        expect(EventTime.parse(iso)).toBe(iso);
        expect(Date.parse(EventTime.parse(iso.replace('Z', '+00:00')))).toBe(ms);
      },
    );
  });

  describe('topics', () => {
    it('names versioned bus topics and MQTT topics when given a kind and device', () => {
      expect(TOPICS.readings('water-meter')).toBe('readings.water-meter.v1');
      expect(TOPICS.alerts).toBe('alerts.v1');
      expect(TOPICS.deadLetters).toBe('deadletter.v1');
      expect(telemetryTopic('streetlight', 'SL-1')).toBe('vigie/v1/streetlight/SL-1/telemetry');
      expect(statusTopic('streetlight', 'SL-1')).toBe('vigie/v1/streetlight/SL-1/status');
    });
  });
});
