import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, MAX_SWITCHES, name, type PowerAnomalyState } from './power-anomaly.ts';
import { at, brief, lightReading, MIN_MS, off, on, runDetector, stepsFrom } from './test-helpers.ts';

const detector = create(configSchema.parse({}));
const cest = (iso: string) => at(iso, 2);
/** Readings 15 min apart from `fromMs`, one per power (W), with an optional dimPct on each. */
const every15 = (fromMs: number, powersW: readonly number[], dimPct?: number): Reading[] =>
  powersW.map((w, i) => lightReading(fromMs + i * 15 * MIN_MS, w, dimPct));
const signalsOf = (readings: Reading[]) => runDetector(detector, readings).signals;

describe('power-anomaly', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('power-anomaly');
    expect(configSchema.parse({})).toEqual({
      tolerancePowerShare: 0.25,
      minOnPowerShare: 0.1,
      cycleMinSwitches: 4,
      cycleWindowMinutes: 120,
      confirmReadings: 2,
      confirmMinutes: 15,
      clearReadings: 2,
      severity: 'warning',
    });
    expect(detector.type).toBe('power-anomaly');
    expect(detector.kinds).toEqual(['streetlight']);
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ tolerancePowerShare: 0 }, 'tolerancePowerShare'],
      [{ cycleMinSwitches: 1 }, 'cycleMinSwitches'],
      [{ cycleMinSwitches: MAX_SWITCHES + 1 }, 'cycleMinSwitches'],
      [{ cycleWindowMinutes: 0 }, 'cycleWindowMinutes'],
      [{ tolerancePct: 25 }, 'tolerancePct'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues), key).toContain(key);
    }
  });

  it('raises nothing for a lamp dimmed to 30 % drawing 30 %, and opens for one commanded 30 % drawing 100 %', () => {
    // 01:00–05:00 local: the profile's 30 % step, 18 W of 60 W.
    expect(signalsOf(every15(cest('2026-06-22T01:30'), [18, 18, 18]))).toEqual([]);
    expect(signalsOf(every15(cest('2026-06-22T01:30'), [18, 18, 18], 30))).toEqual([]);
    const found = signalsOf(every15(cest('2026-06-22T01:30'), [60, 60, 60]));
    expect(brief(found)).toEqual([on(cest('2026-06-22T01:45'))]);
    const signal = found[0]?.signal;
    expect(signal?.active && signal.summary).toBe('Lamp drawing 60 W for 30 % (expected about 18 W, +233 %)');
    expect(signal?.active && signal.details).toEqual({
      cause: 'off-rated',
      powerW: 60,
      expectedPowerW: 18,
      deviationPct: 233,
      commandedPct: 30,
      commandSource: 'profile',
      switchesInWindow: 0,
      cycleWindowMinutes: 120,
      localTime: '01:45',
      sinceTs: '2026-06-21T23:30:00.000Z',
    });
    // The same with the command in the reading (dimPct 30).
    expect(brief(signalsOf(every15(cest('2026-06-22T01:30'), [60, 60], 30)))).toEqual([on(cest('2026-06-22T01:45'))]);
  });

  // Hand-computed: from 22:00 the profile says 70 % = 42 W; ±25 % is 31.5–52.5 W.
  const table: Array<{ name: string; readings: Reading[]; expected: string[] }> = [
    {
      name: 'drawing 52 and 32 W for 42 W (within 25 %)',
      readings: every15(cest('2026-06-21T22:15'), [52, 32, 52, 32]),
      expected: [],
    },
    {
      name: 'drawing 53 W for 42 W (+26 %), then back to 42 W',
      readings: every15(cest('2026-06-21T22:15'), [53, 53, 53, 42, 42]),
      expected: [on(cest('2026-06-21T22:30')), off(cest('2026-06-21T23:15'))],
    },
    {
      name: 'a driver drifting low: 31 W for 42 W (−26 %)',
      readings: every15(cest('2026-06-21T22:15'), [31, 31]),
      expected: [on(cest('2026-06-21T22:30'))],
    },
    { name: 'one reading off-rated', readings: every15(cest('2026-06-21T22:15'), [60, 42, 60, 42]), expected: [] },
    {
      name: 'a lamp out all night (lamp-out, not this)',
      readings: every15(cest('2026-06-21T22:15'), [0, 0, 0, 0, 0, 0]),
      expected: [],
    },
    {
      name: 'one outage and back (2 switches)',
      readings: every15(cest('2026-06-21T22:15'), [42, 0, 0, 42, 42, 42]),
      expected: [],
    },
    {
      // Lit again at 23:45 (the last switch): steady for a whole window (2 h) at 01:45, confirmed at 02:00.
      name: 'cycling at 50 % (30 W): 4 switches by 23:15, confirmed at 23:30; steady from 23:45, resolved at 02:00',
      readings: every15(cest('2026-06-21T22:15'), [30, 0, 30, 0, 30, 0, 30, ...Array(10).fill(30)], 50),
      expected: [on(cest('2026-06-21T23:30')), off(cest('2026-06-22T02:00'))],
    },
    {
      name: 'lit at full power in the day (day-burner, not this)',
      readings: every15(cest('2026-06-21T13:00'), [60, 60, 60]),
      expected: [],
    },
    {
      // 29 March 2026, clocks forward at 02:00 CET: the 05:00 step (70 %) comes at 03:00 UTC, an hour earlier in UTC.
      name: 'following the profile on the night the clocks go forward',
      readings: [
        ...every15(Date.parse('2026-03-29T02:15:00Z'), [18, 18, 18]), // 04:15–04:45 CEST: 30 %
        ...every15(Date.parse('2026-03-29T03:00:00Z'), [42, 42, 42]), // 05:00–05:30 CEST: 70 %
      ],
      expected: [],
    },
    {
      name: 'following the profile the night before (CET): the 70 % step comes at 04:00 UTC',
      readings: [
        ...every15(Date.parse('2026-03-28T03:15:00Z'), [18, 18, 18]),
        ...every15(Date.parse('2026-03-28T04:00:00Z'), [42, 42, 42]),
      ],
      expected: [],
    },
    {
      name: 'switching to 70 % an hour early the night before (a controller left on summer time)',
      readings: every15(Date.parse('2026-03-28T03:00:00Z'), [42, 42, 42, 42, 42, 42]),
      expected: [on(Date.parse('2026-03-28T03:15:00Z')), off(Date.parse('2026-03-28T04:15:00Z'))],
    },
  ];

  it.each(table)('signals as expected when $name', ({ readings, expected }) => {
    expect(brief(signalsOf(readings))).toEqual(expected);
  });

  it('names the cause cycling with the switch count when the lamp cycles', () => {
    const found = signalsOf(every15(cest('2026-06-21T22:15'), [30, 0, 30, 0, 30, 0], 50));
    const signal = found[0]?.signal;
    expect(signal?.active && signal.summary).toBe('Lamp cycling: switched on and off 4 times in 120 min');
    expect(signal?.active && signal.details).toMatchObject({ cause: 'cycling', switchesInWindow: 4 });
  });

  test.prop([
    fc.array(fc.tuple(fc.integer({ min: 1, max: 240 }), fc.double({ min: 0, max: 80, noNaN: true })), {
      maxLength: 300,
    }),
    fc.integer({ min: 2, max: 8 }),
  ])(
    'keeps at most cycleMinSwitches switch times and alternates open/resolved when readings are arbitrary',
    (steps, n) => {
      const d = create(configSchema.parse({ cycleMinSwitches: n }));
      const rs = stepsFrom(cest('2026-06-21T20:00'), steps);
      let active = false;
      const { signals, state } = runDetector(d, rs, {
        onStep: (s: PowerAnomalyState) => expect(s.switchesMs.length).toBeLessThanOrEqual(n),
      });
      for (const { signal } of signals) {
        expect(signal.active).toBe(!active);
        active = signal.active;
      }
      expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    },
  );
});
