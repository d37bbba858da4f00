import { describe, expect, it } from 'vitest';
import { decodeKeysetCursor, encodeKeysetCursor } from './keyset-cursor.ts';

describe('keyset cursors', () => {
  it('gives back the exact time and id it was made of, string or number ids', () => {
    const time = '2026-11-27 05:26:06.123456+00';
    expect(decodeKeysetCursor(encodeKeysetCursor(time, 'WM-1:leak:3'), 'string', 'ERR_X_CURSOR_INVALID')).toEqual([
      time,
      'WM-1:leak:3',
    ]);
    expect(decodeKeysetCursor(encodeKeysetCursor(time, 42), 'number', 'ERR_X_CURSOR_INVALID')).toEqual([time, 42]);
  });

  it('refuses a forged, truncated or foreign cursor with the caller’s code', () => {
    const good = encodeKeysetCursor('2026-11-27 05:26:06+00', 7);
    for (const bad of [
      good.slice(0, -3),
      'not base64 at all!',
      encodeKeysetCursor('yesterday', 7),
      encodeKeysetCursor('2026-11-27 05:26:06+00', 'seven'),
      Buffer.from('{"a":1}').toString('base64url'),
    ]) {
      expect(() => decodeKeysetCursor(bad, 'number', 'ERR_X_CURSOR_INVALID'), bad).toThrow(
        expect.objectContaining({ code: 'ERR_X_CURSOR_INVALID' }),
      );
    }
    // A string id where a number is expected, and the other way round.
    expect(() => decodeKeysetCursor(good, 'string', 'ERR_Y_CURSOR_INVALID')).toThrow(/nextCursor/);
  });
});
