import { describe, expect, it } from 'vitest';
import { ago, dayName, euros, monthName, timeLabel, volume } from './format.ts';

describe('web format', () => {
  const paris = 'Europe/Paris';

  it('labels hours in the city’s time zone, the date at its midnight', () => {
    // 13:00 UTC is 14 h in Paris in November (UTC+1), 15 h in July (UTC+2).
    expect(timeLabel(Date.parse('2026-11-26T13:00:00Z'), 3600, paris)).toBe('14 h');
    expect(timeLabel(Date.parse('2026-07-01T13:00:00Z'), 3600, paris)).toBe('15 h');
    expect(timeLabel(Date.parse('2026-11-25T23:00:00Z'), 3600, paris)).toBe('26 nov.');
  });

  it('labels days and months when the ticks are a day or a month apart', () => {
    expect(timeLabel(Date.parse('2026-11-25T23:00:00Z'), 86_400, paris)).toBe('26 nov.');
    expect(timeLabel(Date.parse('2026-10-31T23:00:00Z'), 31 * 86_400, paris)).toBe('nov. 2026');
  });

  it('writes volumes in litres, then cubic metres, and ages in French', () => {
    expect(volume(1355)).toBe('1\u202f355 L');
    expect(volume(25_400)).toBe('25,4 m³');
    expect(ago('2026-11-26T12:00:00Z', Date.parse('2026-11-26T12:05:30Z'))).toBe('il y a 5 min');
    expect(ago('2026-11-26T12:00:00Z', Date.parse('2026-11-28T12:00:00Z'))).toBe('il y a 2 j');
  });

  it('writes amounts in euros and months in words, in French', () => {
    expect(euros(1240)).toBe('12,40\u00a0€');
    expect(euros(5)).toBe('0,05\u00a0€');
    expect(monthName('2026-10')).toBe('octobre 2026');
    expect(monthName('2027-01')).toBe('janvier 2027');
    expect(dayName('2026-10-05')).toBe('5 oct.');
  });
});
