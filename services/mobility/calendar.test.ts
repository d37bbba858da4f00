import { describe, expect, it } from 'vitest';
import { localDate, localMonth, localTime } from './calendar.ts';

const TZ = 'Europe/Paris';

describe('billing calendar', () => {
  it('bounds a local month at local midnights when it holds the 25-hour day', () => {
    const oct = localMonth('2026-10', TZ);
    expect(new Date(oct.startMs).toISOString()).toBe('2026-09-30T22:00:00.000Z'); // 00:00 CEST
    expect(new Date(oct.endMs).toISOString()).toBe('2026-10-31T23:00:00.000Z'); // 00:00 CET
    expect(oct.lastDate).toBe('2026-10-31');
    expect(localMonth('2026-12', TZ).endMs).toBe(Date.parse('2026-12-31T23:00:00Z')); // into the next year
    expect(localMonth('2028-02', TZ).lastDate).toBe('2028-02-29');
  });

  it('names the same local date and time twice when clocks go back', () => {
    expect(localDate(Date.parse('2026-10-25T00:30:00Z'), TZ)).toBe('2026-10-25');
    expect(localDate(Date.parse('2026-10-25T01:30:00Z'), TZ)).toBe('2026-10-25');
    expect(localTime(Date.parse('2026-10-25T00:30:00Z'), TZ)).toBe('02:30');
    expect(localTime(Date.parse('2026-10-25T01:30:00Z'), TZ)).toBe('02:30');
  });

  it('refuses a month when it is not YYYY-MM', () => {
    for (const bad of ['2026-1', '2026-00', '2026-13', '26-11', '2026-11-01']) {
      expect(() => localMonth(bad, TZ)).toThrow(expect.objectContaining({ code: 'ERR_MOBILITY_MONTH_INVALID' }));
    }
  });
});
