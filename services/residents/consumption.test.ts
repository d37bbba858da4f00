import { describe, expect, it } from 'vitest';
import {
  dateMinusDays,
  daysBetween,
  decodeRollup,
  localDateOf,
  localMidnightMs,
  monthMinus,
  monthsBetween,
  nextDate,
} from './consumption.ts';

const TZ = 'Europe/Paris';

describe('residents consumption decoding', () => {
  it('keeps water-meter device hours and days and ignores other kinds and scopes', () => {
    const base = {
      kind: 'water-meter',
      scope: 'device',
      deviceId: 'WM-1',
      district: 'north',
      values: { consumptionL: 4 },
    };
    expect(decodeRollup(JSON.stringify({ ...base, period: 'hour', start: '2026-10-25T01:00:00.000Z' }))).toEqual({
      outcome: 'stored',
      row: { deviceId: 'WM-1', period: 'hour', startMs: Date.parse('2026-10-25T01:00:00.000Z'), consumptionL: 4 },
    });
    expect(decodeRollup(JSON.stringify({ ...base, period: 'day', start: '2026-10-24T22:00:00.000Z' })).outcome).toBe(
      'stored',
    );
    const district = {
      ...base,
      scope: 'district',
      deviceId: undefined,
      devices: 3,
      period: 'day',
      start: '2026-10-24T22:00:00.000Z',
    };
    expect(decodeRollup(JSON.stringify(district))).toEqual({ outcome: 'ignored' });
    const lamp = {
      ...base,
      kind: 'streetlight',
      deviceId: 'SL-1',
      circuit: 'C-1',
      period: 'day',
      start: '2026-10-24T22:00:00.000Z',
    };
    expect(decodeRollup(JSON.stringify(lamp))).toEqual({ outcome: 'ignored' });
  });

  it('says why a record is invalid when it is not JSON, not a rollup or has no consumption', () => {
    expect(decodeRollup('{nope')).toEqual({ outcome: 'invalid', reason: 'not JSON' });
    expect(decodeRollup('{"kind":"water-meter"}')).toMatchObject({ outcome: 'invalid' });
    const noValue = {
      kind: 'water-meter',
      scope: 'device',
      deviceId: 'WM-1',
      district: 'n',
      period: 'day',
      start: '2026-10-24T22:00:00.000Z',
      values: { nightMinFlowLph: 1 },
    };
    expect(decodeRollup(JSON.stringify(noValue))).toEqual({
      outcome: 'invalid',
      reason: 'consumptionL missing or negative',
    });
    const negative = { ...noValue, values: { consumptionL: -1 } };
    expect(decodeRollup(JSON.stringify(negative)).outcome).toBe('invalid');
  });
});

describe('residents local dates', () => {
  it('finds local midnights across both DST changes when the day lasts 23 or 25 hours', () => {
    expect(new Date(localMidnightMs('2026-03-29', TZ)).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(new Date(localMidnightMs('2026-03-30', TZ)).toISOString()).toBe('2026-03-29T22:00:00.000Z');
    expect(new Date(localMidnightMs('2026-10-25', TZ)).toISOString()).toBe('2026-10-24T22:00:00.000Z');
    expect(new Date(localMidnightMs('2026-10-26', TZ)).toISOString()).toBe('2026-10-25T23:00:00.000Z');
    expect(localDateOf(Date.parse('2026-10-31T23:00:00.000Z'), TZ)).toBe('2026-11-01');
  });

  it('steps dates and months and counts ranges when crossing month and year ends', () => {
    expect(nextDate('2026-12-31')).toBe('2027-01-01');
    expect(dateMinusDays('2026-03-01', 1)).toBe('2026-02-28');
    expect(monthMinus('2026-01', 1)).toBe('2025-12');
    expect(monthMinus('2026-12', -1)).toBe('2027-01');
    expect(daysBetween('2026-01-01', '2026-12-31')).toBe(365);
    expect(monthsBetween('2025-11', '2026-02')).toBe(4);
    expect(daysBetween('2026-01-02', '2026-01-01')).toBe(0);
  });
});
