import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { localDate, localDayStartMs, monthBounds, previousMonth, schedulePeriod } from './periods.ts';

const TZ = 'Europe/Paris';

describe('schedule periods', () => {
  it('names the local date when a digest runs at 00:30 on the night clocks go back (last Sunday of October)', () => {
    // 2026-10-25 00:30 CEST (UTC+2) is 2026-10-24T22:30Z: still the 24th in UTC, already the 25th in Paris.
    expect(schedulePeriod('digest', Date.parse('2026-10-24T22:30:00Z'), TZ)).toBe('2026-10-25');
    // 02:30 happens twice that night (CEST then CET): both are the 25th.
    expect(schedulePeriod('digest', Date.parse('2026-10-25T00:30:00Z'), TZ)).toBe('2026-10-25');
    expect(schedulePeriod('digest', Date.parse('2026-10-25T01:30:00Z'), TZ)).toBe('2026-10-25');
    expect(schedulePeriod('digest', Date.parse('2026-10-25T22:59:59Z'), TZ)).toBe('2026-10-25');
    expect(schedulePeriod('digest', Date.parse('2026-10-25T23:00:00Z'), TZ)).toBe('2026-10-26');
  });

  it('names the month before the local month when a summary runs just after local midnight of the 1st', () => {
    expect(schedulePeriod('monthly-summary', Date.parse('2026-10-31T23:30:00Z'), TZ)).toBe('2026-10');
    expect(schedulePeriod('monthly-summary', Date.parse('2026-10-31T22:30:00Z'), TZ)).toBe('2026-09');
    expect(schedulePeriod('monthly-summary', Date.parse('2027-01-01T08:00:00Z'), TZ)).toBe('2026-12');
  });

  it('bounds a local month at local midnights when it holds a 25-hour day', () => {
    const b = monthBounds('2026-10', TZ);
    expect(new Date(b.startMs).toISOString()).toBe('2026-09-30T22:00:00.000Z');
    expect(new Date(b.endMs).toISOString()).toBe('2026-10-31T23:00:00.000Z');
    expect(b).toMatchObject({ firstDay: '2026-10-01', nextFirstDay: '2026-11-01', days: 31 });
    expect(monthBounds('2028-02', TZ).days).toBe(29);
    expect(previousMonth('2026-01')).toBe('2025-12');
  });

  test.prop([fc.integer({ min: Date.parse('2020-01-01'), max: Date.parse('2035-12-31') })])(
    'starts the local date of any instant at or before it and within 25 hours when the zone has DST',
    (ms) => {
      const date = localDate(ms, TZ);
      const start = localDayStartMs(date, TZ);
      expect(start).toBeLessThanOrEqual(ms);
      expect(ms - start).toBeLessThan(25 * 3_600_000);
      expect(localDate(start, TZ)).toBe(date);
      expect(localDate(start - 1, TZ)).not.toBe(date);
    },
  );
});
