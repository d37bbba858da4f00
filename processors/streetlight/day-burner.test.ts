import SunCalc from 'suncalc';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { configSchema, create, name } from './day-burner.ts';
import { at, brief, lightReading, MIN_MS, off, on, runDetector } from './test-helpers.ts';

const detector = create(configSchema.parse({}));
const cest = (iso: string) => at(iso, 2);
const cet = (iso: string) => at(iso, 1);
const every15 = (fromMs: number, count: number, powerW: number): Reading[] =>
  Array.from({ length: count }, (_, i) => lightReading(fromMs + i * 15 * MIN_MS, powerW));

describe('day-burner', () => {
  it('applies its defaults when the config is empty', () => {
    expect(name).toBe('day-burner');
    expect(configSchema.parse({})).toEqual({
      minBurnPowerShare: 0.05,
      confirmReadings: 2,
      confirmMinutes: 15,
      clearReadings: 2,
      severity: 'warning',
    });
    expect(detector.type).toBe('day-burner');
    expect(detector.kinds).toEqual(['streetlight']);
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ minBurnPowerShare: 2 }, 'minBurnPowerShare'],
      [{ confirmMinutes: -1 }, 'confirmMinutes'],
      [{ burnW: 5 }, 'burnW'],
    ] as const) {
      const result = configSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues), key).toContain(key);
    }
  });

  it('opens when a lamp draws full power at 13:00 on 21 June', () => {
    // The issue's example: sun 64.8° up at 13:00 CEST; 60 W > 2 W standby + 5 % × 60 W = 5 W.
    const found = runDetector(detector, every15(cest('2026-06-21T12:45'), 2, 60)).signals;
    expect(brief(found)).toEqual([on(cest('2026-06-21T13:00'))]);
    const signal = found[0]?.signal;
    expect(signal?.active && signal.summary).toBe(
      'Lamp lit in daylight: drawing 60 W (100 % of rated) at 13:00, sun 65° up',
    );
    expect(signal?.active && signal.details).toEqual({
      powerW: 60,
      ratedPowerW: 60,
      thresholdPowerW: 5,
      sunAltitudeDeg: 64.8,
      localTime: '13:00',
      sinceTs: '2026-06-21T10:45:00.000Z',
    });
    const eager = create(configSchema.parse({ confirmReadings: 1, confirmMinutes: 0 }));
    expect(brief(runDetector(eager, [lightReading(cest('2026-06-21T13:00'), 60)]).signals)).toEqual([
      on(cest('2026-06-21T13:00')),
    ]);
    // The lamp-out example's reading (0 W at 13:00) is no day-burner either.
    expect(runDetector(eager, [lightReading(cest('2026-06-21T13:00'), 0)]).signals).toEqual([]);
  });

  const sun = (noon: string) => SunCalc.getTimes(new Date(noon), 47.75, 7.34);
  const summer = sun('2026-06-21T12:00:00Z');
  const winter = sun('2026-12-21T12:00:00Z');
  const table: Array<{ name: string; readings: Reading[]; expected: string[] }> = [
    {
      name: 'lit 25 and 10 min before sunset in summer (a photocell switching early)',
      readings: [
        lightReading(summer.sunset.getTime() - 25 * MIN_MS, 60),
        lightReading(summer.sunset.getTime() - 10 * MIN_MS, 60),
      ],
      expected: [],
    },
    {
      name: 'still lit 10 and 25 min after sunrise in winter (a photocell switching late)',
      readings: [
        lightReading(winter.sunrise.getTime() + 10 * MIN_MS, 60),
        lightReading(winter.sunrise.getTime() + 25 * MIN_MS, 60),
      ],
      expected: [],
    },
    {
      name: 'lit all day on 21 December: opens at 10:15, resolves after two dark readings at 12:15',
      readings: [...every15(cet('2026-12-21T10:00'), 8, 60), ...every15(cet('2026-12-21T12:00'), 2, 0)],
      expected: [on(cet('2026-12-21T10:15')), off(cet('2026-12-21T12:15'))],
    },
    {
      name: 'dimmed to 10 % (6 W) in daylight still burns; 5 W (the threshold) does not',
      readings: [...every15(cest('2026-06-21T10:00'), 2, 5), ...every15(cest('2026-06-21T11:00'), 2, 6)],
      expected: [on(cest('2026-06-21T11:15'))],
    },
    {
      name: 'standby 1.8 W all day',
      readings: every15(cest('2026-06-21T08:00'), 40, 1.8),
      expected: [],
    },
    {
      name: 'burning all day: stays open overnight, resolves the next day once off',
      readings: [
        ...every15(cest('2026-06-21T14:00'), 2, 60),
        ...every15(cest('2026-06-21T23:00'), 2, 42),
        ...every15(cest('2026-06-22T10:00'), 3, 0),
      ],
      expected: [on(cest('2026-06-21T14:15')), off(cest('2026-06-22T10:15'))],
    },
    {
      name: 'one burning reading, then night',
      readings: [lightReading(cest('2026-06-21T14:00'), 60), ...every15(cest('2026-06-21T23:00'), 2, 42)],
      expected: [],
    },
  ];

  it.each(table)('signals as expected when $name', ({ readings, expected }) => {
    expect(brief(runDetector(detector, readings).signals)).toEqual(expected);
  });
});
