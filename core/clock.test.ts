import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AcceleratedClock, EventClock, ManualClock, SYSTEM_CLOCK } from './clock.ts';

const MARCH_1 = Date.UTC(2026, 2, 1);

describe('clock', () => {
  describe('EventClock', () => {
    it('has no watermark when no event was seen', () => {
      const clock = new EventClock(5_000);
      expect(clock.watermarkMs()).toBe(Number.NEGATIVE_INFINITY);
      expect(clock.newestMs()).toBe(Number.NEGATIVE_INFINITY);
    });

    it('sets the watermark to the newest event less the allowed lateness when events arrive in order', () => {
      const clock = new EventClock(5_000);
      expect(clock.observe(MARCH_1)).toBe(true);
      expect(clock.observe(MARCH_1 + 60_000)).toBe(true);
      expect(clock.newestMs()).toBe(MARCH_1 + 60_000);
      expect(clock.watermarkMs()).toBe(MARCH_1 + 55_000);
    });

    it('keeps the watermark when a late or duplicate event arrives', () => {
      const clock = new EventClock(0);
      clock.observe(MARCH_1 + 60_000);
      expect(clock.observe(MARCH_1)).toBe(false);
      expect(clock.observe(MARCH_1 + 60_000)).toBe(false);
      expect(clock.watermarkMs()).toBe(MARCH_1 + 60_000);
    });

    prop.prop([fc.nat({ max: 3_600_000 }), fc.array(fc.integer({ min: 0, max: 2 ** 45 }), { maxLength: 200 })])(
      'never moves the watermark back whatever the order of events',
      (latenessMs, eventsMs) => {
        const clock = new EventClock(latenessMs);
        let previousMs = clock.watermarkMs();
        for (const eventMs of eventsMs) {
          const moved = clock.observe(eventMs);
          const nowMs = clock.watermarkMs();
          expect(nowMs).toBeGreaterThanOrEqual(previousMs);
          expect(moved).toBe(nowMs > previousMs);
          previousMs = nowMs;
        }
        if (eventsMs.length > 0) expect(clock.newestMs()).toBe(Math.max(...eventsMs));
      },
    );
  });

  describe('AcceleratedClock', () => {
    it('starts at its start time and runs speed times faster than its wall clock', () => {
      const wall = new ManualClock(1_000_000);
      const clock = new AcceleratedClock(MARCH_1, 60, wall);
      expect(clock.nowMs()).toBe(MARCH_1);
      wall.advance(1_000);
      expect(clock.nowMs()).toBe(MARCH_1 + 60_000);
      wall.advance(59_000);
      expect(clock.nowMs()).toBe(MARCH_1 + 3_600_000);
    });

    it('converts simulated delays to wall delays when asked', () => {
      const clock = new AcceleratedClock(MARCH_1, 1_440, new ManualClock());
      expect(clock.wallDelayMs(86_400_000)).toBe(60_000);
    });

    it.each([0, -1, Number.NaN])('rejects a speed of %s', (speed) => {
      expect(() => new AcceleratedClock(MARCH_1, speed, new ManualClock())).toThrow(RangeError);
    });

    prop.prop([
      fc.double({ min: 0.01, max: 10_000, noNaN: true }),
      fc.array(fc.nat({ max: 100_000 }), { maxLength: 50 }),
    ])('never goes back when its wall clock moves forward', (speed, stepsMs) => {
      const wall = new ManualClock(0);
      const clock = new AcceleratedClock(MARCH_1, speed, wall);
      let previousMs = clock.nowMs();
      for (const stepMs of stepsMs) {
        wall.advance(stepMs);
        expect(clock.nowMs()).toBeGreaterThanOrEqual(previousMs);
        previousMs = clock.nowMs();
      }
    });
  });

  describe('ManualClock', () => {
    it('moves only when told to', () => {
      const clock = new ManualClock(10);
      expect(clock.nowMs()).toBe(10);
      clock.advance(5);
      expect(clock.nowMs()).toBe(15);
      clock.set(MARCH_1);
      expect(clock.nowMs()).toBe(MARCH_1);
    });
  });

  describe('SYSTEM_CLOCK', () => {
    it('reads the wall clock when asked', () => {
      const beforeMs = Date.now();
      const nowMs = SYSTEM_CLOCK.nowMs();
      expect(nowMs).toBeGreaterThanOrEqual(beforeMs);
      expect(nowMs).toBeLessThanOrEqual(Date.now());
    });
  });
});
