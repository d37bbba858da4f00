import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { EventTime } from './time.ts';

const MIN = Date.UTC(1990, 0, 1);
const MAX = Date.UTC(2100, 0, 1);

/** Formats `ms` as ISO 8601 in the zone `offsetMinutes` east of UTC, as a device in that zone would. */
function isoWithOffset(ms: number, offsetMinutes: number): string {
  const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, 23);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

describe('EventTime', () => {
  test.prop([fc.integer({ min: MIN, max: MAX }), fc.integer({ min: -14 * 60, max: 14 * 60 })])(
    'reads any instant written in any zone back to the same UTC instant',
    (ms, offsetMinutes) => {
      expect(EventTime.parse(isoWithOffset(ms, offsetMinutes))).toBe(new Date(ms).toISOString());
    },
  );

  it('agrees with Date.parse on valid forms and refuses rolled-over fields when given edge cases', () => {
    for (const text of [
      '2026-03-01T02:15Z',
      '2026-03-01T02:15:00Z',
      '2026-03-01T02:15:00.5+0100',
      '2026-12-31T24:00:00Z',
    ]) {
      expect(EventTime.parse(text)).toBe(new Date(Date.parse(text)).toISOString());
    }
    for (const text of [
      '2026-02-30T00:00:00Z',
      '2026-13-01T00:00:00Z',
      '2026-03-01T25:00:00Z',
      '2026-03-01T10:60:00Z',
      '2026-03-01T10:00:00+24:00',
    ]) {
      expect(EventTime.safeParse(text).success, text).toBe(false);
    }
  });
});
