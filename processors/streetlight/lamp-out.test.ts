import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, type LampOutState, name } from './lamp-out.ts';
import { at, brief, lightReading, MIN_MS, off, on, runDetector, stepsFrom } from './test-helpers.ts';

const detector = create(configSchema.parse({}));
/** Summer (CEST, +2 h) and winter (CET, +1 h) local times in Mulhouse. */
const cest = (iso: string) => at(iso, 2);
const cet = (iso: string) => at(iso, 1);
/** Readings at the given local times, each with its power (W) and optional dimPct. */
const readings = (steps: ReadonlyArray<[number, number, number?]>): Reading[] =>
  steps.map(([ms, w, dim]) => lightReading(ms, w, dim));

describe('lamp-out', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('lamp-out');
    expect(configSchema.parse({})).toEqual({
      minOnPowerShare: 0.1,
      cyclingSwitches: 2,
      cycleWindowMinutes: 120,
      confirmReadings: 2,
      confirmMinutes: 15,
      clearReadings: 2,
      severity: 'warning',
    });
    expect(detector.type).toBe('lamp-out');
    expect(detector.kinds).toEqual(['streetlight']);
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ minOnPowerShare: 0 }, 'minOnPowerShare'],
      [{ confirmReadings: 0 }, 'confirmReadings'],
      [{ clearReadings: 1.5 }, 'clearReadings'],
      [{ severity: 'loud' }, 'severity'],
      [{ minOnPowerPct: 10 }, 'minOnPowerPct'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues), key).toContain(key);
    }
  });

  // The issue's example (issue 5, acceptance): 47.75 N, 21 June; sunset 21:34 CEST, sunrise 05:33 CEST.
  it('opens when a lamp draws 0 W at 23:00 on 21 June, and not when the same reading is at 13:00', () => {
    // With the defaults, the reading 15 min before confirms it: opens at 23:00.
    const night = runDetector(
      detector,
      readings([
        [cest('2026-06-21T22:45'), 0],
        [cest('2026-06-21T23:00'), 0],
      ]),
    );
    expect(brief(night.signals)).toEqual([on(cest('2026-06-21T23:00'))]);
    const signal = night.signals[0]?.signal;
    expect(signal?.active && signal.summary).toBe(
      'Lamp out: drawing 0 W at 23:00 while commanded 70 % (expected about 42 W)',
    );
    expect(signal?.active && signal.details).toEqual({
      powerW: 0,
      expectedPowerW: 42,
      commandedPct: 70,
      commandSource: 'profile',
      sunAltitudeDeg: -11,
      localTime: '23:00',
      sinceTs: '2026-06-21T20:45:00.000Z',
    });
    // Without hysteresis, the single 23:00 reading opens it; the 13:00 one does not.
    const eager = create(configSchema.parse({ confirmReadings: 1, confirmMinutes: 0 }));
    expect(brief(runDetector(eager, readings([[cest('2026-06-21T23:00'), 0]])).signals)).toEqual([
      on(cest('2026-06-21T23:00')),
    ]);
    expect(runDetector(eager, readings([[cest('2026-06-21T13:00'), 0]])).signals).toEqual([]);
    expect(
      runDetector(
        detector,
        readings([
          [cest('2026-06-21T12:45'), 0],
          [cest('2026-06-21T13:00'), 0],
        ]),
      ).signals,
    ).toEqual([]);
  });

  const every15 = (fromMs: number, count: number, powerW: number, dim?: number): Array<[number, number, number?]> =>
    Array.from({ length: count }, (_, i) => [fromMs + i * 15 * MIN_MS, powerW, dim]);

  // Hand-computed: 70 % × 60 W = 42 W from 22:00, 50 % = 30 W from 23:30, 30 % = 18 W from 01:00; out below 10 % of
  // that or at most 2 W.
  const table: Array<{ name: string; steps: Array<[number, number, number?]>; expected: string[] }> = [
    {
      name: 'one reading at 0 W between lit ones (a glitch)',
      steps: [
        [cest('2026-06-21T22:45'), 0],
        [cest('2026-06-21T23:00'), 42],
        [cest('2026-06-21T23:15'), 0],
      ],
      expected: [],
    },
    {
      name: 'out 23:00–01:00, lit at 18 W from 01:15: resolves on the second lit reading',
      steps: [...every15(cest('2026-06-21T23:00'), 9, 0), ...every15(cest('2026-06-22T01:15'), 3, 18)],
      expected: [on(cest('2026-06-21T23:15')), off(cest('2026-06-22T01:30'))],
    },
    {
      name: 'out from dusk on 21 June: 21:45 is twilight (sunset + 11 min), opens at 22:15',
      steps: every15(cest('2026-06-21T21:30'), 4, 0),
      expected: [on(cest('2026-06-21T22:15'))],
    },
    {
      name: 'out from dusk on 21 December (sunset 16:42 CET): 16:45 is twilight, opens at 17:15',
      steps: every15(cet('2026-12-21T16:30'), 4, 0),
      expected: [on(cet('2026-12-21T17:15'))],
    },
    {
      name: 'out at dawn on 21 December (sunrise 08:17 CET): 08:05 is twilight, the count restarts',
      steps: [
        [cet('2026-12-21T07:50'), 0],
        [cet('2026-12-21T08:05'), 0],
      ],
      expected: [],
    },
    {
      name: 'out overnight: stays open through the day, resolves when it draws the next night',
      steps: [
        ...every15(cest('2026-06-21T23:00'), 2, 0),
        ...every15(cest('2026-06-22T13:00'), 4, 0),
        ...every15(cest('2026-06-22T22:30'), 2, 42),
      ],
      expected: [on(cest('2026-06-21T23:15')), off(cest('2026-06-22T22:45'))],
    },
    {
      // Switches: 22:15 (out), 22:30 (lit), 22:45 (out): a cycling lamp (power-anomaly's). Its out readings are not
      // judged while 2 switches lie in the last 2 h; at 00:30 only 22:45's is left: out at 00:30 and 00:45, opens.
      name: 'cycling 22:00–23:00, then out for good: opens only once the switching has left the window',
      steps: [
        ...[42, 0, 42, 0, 0].map((w, i): [number, number] => [cest('2026-06-21T22:00') + i * 15 * MIN_MS, w]),
        ...every15(cest('2026-06-21T23:15'), 8, 0),
      ],
      expected: [on(cest('2026-06-22T00:45'))],
    },
    {
      name: 'lit, then out for good at 23:00: one switch, opens at 23:15 as usual',
      steps: [...every15(cest('2026-06-21T22:00'), 4, 42), ...every15(cest('2026-06-21T23:00'), 2, 0)],
      expected: [on(cest('2026-06-21T23:15'))],
    },
    {
      name: 'commanded off by its controller (dimPct 0) at night',
      steps: every15(cest('2026-06-22T00:00'), 4, 0, 0),
      expected: [],
    },
    {
      name: 'standby draw only (1.5 W) at night',
      steps: every15(cest('2026-06-21T23:00'), 2, 1.5),
      expected: [on(cest('2026-06-21T23:15'))],
    },
    {
      name: '4 W at 70 % (under 10 % of 42 W) is out; 5 W is lit (a power anomaly, not lamp-out)',
      steps: [...every15(cest('2026-06-21T22:15'), 2, 5), ...every15(cest('2026-06-21T22:45'), 2, 4)],
      expected: [on(cest('2026-06-21T23:00'))],
    },
    {
      name: 'a 3 h 30 gap between two out readings restarts the count',
      steps: [
        [cest('2026-06-21T22:00'), 0],
        [cest('2026-06-22T01:30'), 0],
        [cest('2026-06-22T01:45'), 0],
      ],
      expected: [on(cest('2026-06-22T01:45'))],
    },
    {
      name: 'out on the night the clocks go back (25 October, 02:00–03:00 twice)',
      steps: Array.from({ length: 6 }, (_, i): [number, number] => [
        Date.parse('2026-10-25T00:15:00Z') + i * 15 * MIN_MS,
        0,
      ]),
      expected: [on(Date.parse('2026-10-25T00:30:00Z'))],
    },
  ];

  it.each(table)('signals as expected when $name', ({ steps, expected }) => {
    expect(brief(runDetector(detector, readings(steps)).signals)).toEqual(expected);
  });

  it('waits for confirmMinutes when readings come every minute', () => {
    const steps = Array.from({ length: 20 }, (_, i): [number, number] => [cest('2026-06-21T23:00') + i * MIN_MS, 0]);
    expect(brief(runDetector(detector, readings(steps)).signals)).toEqual([on(cest('2026-06-21T23:15'))]);
  });

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 1, max: 240 }), fc.double({ min: 0, max: 80, noNaN: true })), {
      maxLength: 200,
    }),
  ])('alternates open and resolved and keeps its state small when readings are arbitrary', (steps) => {
    const rs = stepsFrom(cest('2026-06-21T12:00'), steps);
    let active = false;
    const { signals, state } = runDetector(detector, rs, {
      onStep: (s: LampOutState) => {
        expect(Object.keys(s)).toHaveLength(6);
        expect(s.switchesMs?.length).toBeLessThanOrEqual(2);
      },
    });
    for (const { signal } of signals) {
      expect(signal.active).toBe(!active);
      active = signal.active;
    }
    expect(state.active).toBe(active);
    expect(JSON.parse(JSON.stringify(state))).toEqual(state);
  });
});
