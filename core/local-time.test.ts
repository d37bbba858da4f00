import { describe, expect, it } from 'vitest';
import { createLocalCalendar, HOUR_MS } from './local-time.ts';

const paris = createLocalCalendar('Europe/Paris');
const at = (iso: string) => Date.parse(iso);

describe('local calendar', () => {
  it('starts a winter day in Paris at 23:00 UTC the day before and lasts 24 h', () => {
    const start = paris.dayStartMs(at('2026-03-01T10:00:00Z'));
    expect(new Date(start).toISOString()).toBe('2026-02-28T23:00:00.000Z');
    expect(paris.nextDayMs(start) - start).toBe(24 * HOUR_MS);
  });

  it('makes the spring DST day 23 h and the autumn one 25 h in Paris', () => {
    const spring = paris.dayStartMs(at('2026-03-29T12:00:00Z'));
    expect(new Date(spring).toISOString()).toBe('2026-03-28T23:00:00.000Z');
    expect(paris.nextDayMs(spring) - spring).toBe(23 * HOUR_MS);
    const autumn = paris.dayStartMs(at('2026-10-25T12:00:00Z'));
    expect(new Date(autumn).toISOString()).toBe('2026-10-24T22:00:00.000Z');
    expect(paris.nextDayMs(autumn) - autumn).toBe(25 * HOUR_MS);
  });

  it('gives the local hour across the DST changes when the clocks move', () => {
    expect(paris.localHour(at('2026-03-29T00:30:00Z'))).toBe(1);
    expect(paris.localHour(at('2026-03-29T01:00:00Z'))).toBe(3);
    expect(paris.localHour(at('2026-10-25T00:00:00Z'))).toBe(2);
    expect(paris.localHour(at('2026-10-25T01:00:00Z'))).toBe(2);
    expect(paris.localHour(at('2026-10-25T02:00:00Z'))).toBe(3);
  });

  it('starts hours on the UTC hour in Paris when the offset is whole hours', () => {
    expect(paris.hourStartMs(at('2026-03-29T01:59:59Z'))).toBe(at('2026-03-29T01:00:00Z'));
    expect(paris.nextHourMs(at('2026-10-25T00:00:00Z'))).toBe(at('2026-10-25T01:00:00Z'));
  });

  it('starts hours at half past in UTC when the zone is UTC+05:30', () => {
    const kolkata = createLocalCalendar('Asia/Kolkata');
    expect(kolkata.hourStartMs(at('2026-03-01T10:45:00Z'))).toBe(at('2026-03-01T10:30:00Z'));
    expect(kolkata.dayStartMs(at('2026-03-01T10:45:00Z'))).toBe(at('2026-02-28T18:30:00Z'));
  });

  it('throws when the zone is unknown', () => {
    expect(() => createLocalCalendar('Mars/Olympus')).toThrow(RangeError);
  });
});
