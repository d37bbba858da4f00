import { fc, test } from '@fast-check/vitest';
import SunCalc from 'suncalc';
import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import {
  DEFAULT_DIMMING_PROFILE,
  dimLevelPct,
  localMinuteOfDay,
  modelConfigSchema,
  type StreetlightDerived,
  streetlightModel,
} from './model.ts';
import { at, lightReading, MIN_MS } from './test-helpers.ts';

const LAT = 47.75;
const LON = 7.34;
const model = streetlightModel(modelConfigSchema.parse({}));

/** Derives one reading from a fresh state (throws if dropped). */
function derive(reading: Reading, raw?: Record<string, unknown>): StreetlightDerived {
  const m = raw ? streetlightModel(modelConfigSchema.parse(raw)) : model;
  const out = m.derive(m.initialState(), reading, Date.parse(reading.ts));
  if ('drop' in out) throw new Error(out.drop);
  return out.derived;
}
const phaseAt = (tsMs: number) => derive(lightReading(tsMs, 0)).phase;

describe('streetlight model', () => {
  it('applies its defaults when the config is empty', () => {
    const c = modelConfigSchema.parse({});
    expect(c).toEqual({
      latitude: 47.75,
      longitude: 7.34,
      timeZone: 'Europe/Paris',
      sunsetAltitudeDeg: -0.833,
      onAfterSunsetMinutes: 15,
      offBeforeSunriseMinutes: 15,
      dayMinSunAltitudeDeg: 5,
      dimmingProfile: DEFAULT_DIMMING_PROFILE,
      ratedPowerW: 60,
      standbyPowerW: 2,
      maxGapMinutes: 180,
    });
    expect(model.kind).toBe('streetlight');
  });

  it('names the key when a config value is invalid', () => {
    for (const [raw, key] of [
      [{ latitude: 80 }, 'latitude'],
      [{ timeZone: 'Mars/Olympus' }, 'timeZone'],
      [{ dimmingProfile: [{ from: '24:00', pct: 50 }] }, 'from'],
      [{ dimmingProfile: [{ from: '22:00', pct: 150 }] }, 'pct'],
      [{ dimmingProfile: [] }, 'dimmingProfile'],
      [{ ratedPowerW: 0 }, 'ratedPowerW'],
      [{ ratedPowerWatts: 60 }, 'ratedPowerWatts'],
    ] as const) {
      const result = modelConfigSchema.safeParse(raw);
      expect(result.success, key).toBe(false);
      expect(JSON.stringify(result.error?.issues), key).toContain(key);
    }
    const twice = modelConfigSchema.safeParse({
      dimmingProfile: [
        { from: '22:00', pct: 50 },
        { from: '22:00', pct: 30 },
      ],
    });
    expect(twice.error?.issues[0]?.message).toMatch(/dimmingProfile has two steps from 22:00/);
    const standby = modelConfigSchema.safeParse({ ratedPowerW: 10, standbyPowerW: 10 });
    expect(standby.error?.issues[0]?.message).toMatch(/standbyPowerW .*ratedPowerW/);
  });

  it('expects the lamp on at 23:00 and off at 13:00 when it is 21 June in Mulhouse', () => {
    // SunCalc: sunset 21:34 CEST, sunrise 05:33 CEST; sun −11.0° at 23:00, +64.8° at 13:00.
    const night = derive(lightReading(at('2026-06-21T23:00', 2), 0));
    expect(night).toMatchObject({
      phase: 'night',
      localTime: '23:00',
      commandedPct: 70, // the 22:00 step
      commandSource: 'profile',
      expectedOn: true,
      expectedPowerW: 42,
      powerW: 0,
      intervalMs: null,
      gap: false,
    });
    expect(night.sunAltitudeDeg).toBeCloseTo(-11.0, 1);
    const day = derive(lightReading(at('2026-06-21T13:00', 2), 60));
    expect(day).toMatchObject({ phase: 'day', commandedPct: 0, expectedOn: false, expectedPowerW: 2 });
    expect(day.sunAltitudeDeg).toBeCloseTo(64.8, 1);
  });

  // Edges from SunCalc's own sunset/sunrise for the day: on from sunset + 15 min to sunrise − 15 min.
  it.each([
    ['winter', '2026-12-21T12:00:00Z'],
    ['summer', '2026-06-21T12:00:00Z'],
    ['equinox', '2026-03-20T12:00:00Z'],
  ])('switches phase 15 min after sunset and before sunrise when it is %s', (_season, noon) => {
    const { sunset, sunrise, solarNoon } = SunCalc.getTimes(new Date(noon), LAT, LON);
    const s = sunset.getTime();
    const r = sunrise.getTime();
    expect(phaseAt(s - 2 * MIN_MS)).toBe('twilight');
    // getTimes and getPosition agree within about a minute (getTimes is an approximation): ±3 min around the edge.
    expect(phaseAt(s + 12 * MIN_MS)).toBe('twilight');
    expect(phaseAt(s + 18 * MIN_MS)).toBe('night');
    expect(phaseAt(r - 18 * MIN_MS)).toBe('night');
    expect(phaseAt(r - 12 * MIN_MS)).toBe('twilight');
    expect(phaseAt(r + 5 * MIN_MS)).toBe('twilight');
    // 5° is reached 30–45 min after sunrise at 47.75 N (the sun climbs 7–10°/h at the horizon).
    expect(phaseAt(r + 25 * MIN_MS)).toBe('twilight');
    expect(phaseAt(r + 50 * MIN_MS)).toBe('day');
    expect(phaseAt(s - 50 * MIN_MS)).toBe('day');
    expect(phaseAt(solarNoon.getTime())).toBe('day');
  });

  it('follows a longer switch delay when onAfterSunsetMinutes is 40', () => {
    const { sunset } = SunCalc.getTimes(new Date('2026-12-21T12:00:00Z'), LAT, LON);
    const d = (ms: number) => derive(lightReading(ms, 0), { onAfterSunsetMinutes: 40 }).phase;
    expect(d(sunset.getTime() + 37 * MIN_MS)).toBe('twilight');
    expect(d(sunset.getTime() + 43 * MIN_MS)).toBe('night');
  });

  it.each([
    ['18:00', 100],
    ['21:59', 100],
    ['22:00', 70],
    ['23:29', 70],
    ['23:30', 50],
    ['00:00', 50],
    ['00:59', 50],
    ['01:00', 30],
    ['04:59', 30],
    ['05:00', 70],
    ['07:00', 70],
  ])('commands the profile level when it is %s local time', (hhmm, pct) => {
    const [h, m] = hhmm.split(':').map(Number) as [number, number];
    expect(dimLevelPct(DEFAULT_DIMMING_PROFILE, h * 60 + m)).toBe(pct);
  });

  it('follows local time when the clocks go forward (29 March 2026) and back (25 October 2026)', () => {
    // 29 March: 02:00 CET → 03:00 CEST; sunrise 07:17 CEST. 03:15 UTC is 05:15 CEST (70 %), 04:15 CET the day before (30 %).
    const spring = derive(lightReading(Date.parse('2026-03-29T03:15:00Z'), 40));
    expect(spring).toMatchObject({ localTime: '05:15', commandedPct: 70, phase: 'night', expectedPowerW: 42 });
    const before = derive(lightReading(Date.parse('2026-03-28T03:15:00Z'), 40));
    expect(before).toMatchObject({ localTime: '04:15', commandedPct: 30, phase: 'night', expectedPowerW: 18 });
    // 25 October: 03:00 CEST → 02:00 CET; the hour 02:00–03:00 happens twice, both at 30 %.
    expect(derive(lightReading(Date.parse('2026-10-25T00:30:00Z'), 18))).toMatchObject({
      localTime: '02:30',
      commandedPct: 30,
    });
    expect(derive(lightReading(Date.parse('2026-10-25T01:30:00Z'), 18))).toMatchObject({
      localTime: '02:30',
      commandedPct: 30,
    });
    expect(derive(lightReading(Date.parse('2026-10-25T03:30:00Z'), 18))).toMatchObject({
      localTime: '04:30',
      commandedPct: 30,
    });
    expect(derive(lightReading(Date.parse('2026-10-25T04:00:00Z'), 42))).toMatchObject({
      localTime: '05:00',
      commandedPct: 70,
    });
    expect(localMinuteOfDay(Date.parse('2026-10-24T23:30:00Z'), 'Europe/Paris')).toBe(90);
  });

  it("uses the reading's dimPct over the profile when the reading carries one", () => {
    const night = at('2026-06-21T23:00', 2);
    expect(derive(lightReading(night, 30, 50))).toMatchObject({
      commandedPct: 50,
      commandSource: 'reading',
      expectedOn: true,
      expectedPowerW: 30,
    });
    // Commanded off at night (a street switched off 23:30–05:30 by its controller): not expected on.
    expect(derive(lightReading(night, 0, 0))).toMatchObject({ commandedPct: 0, expectedOn: false, expectedPowerW: 2 });
    expect(derive(lightReading(night, 60, 130))).toMatchObject({ commandedPct: 100, expectedPowerW: 60 });
    // A day reading with dimPct: the command is the reading's, the lamp is still not expected on in daylight.
    expect(derive(lightReading(at('2026-06-21T13:00', 2), 60, 100))).toMatchObject({
      commandedPct: 100,
      expectedOn: false,
    });
  });

  it('scales the expected draw with the rated power when ratedPowerW is set', () => {
    expect(derive(lightReading(at('2026-12-21T19:00', 1), 0), { ratedPowerW: 120 })).toMatchObject({
      commandedPct: 100,
      expectedPowerW: 120,
    });
  });

  it('drops on purpose when powerW is missing or invalid, or readings go back in time', () => {
    const t = at('2026-06-21T23:00', 2);
    const m = model;
    const noPower: Reading = { deviceId: 'SL-1', kind: 'streetlight', ts: new Date(t).toISOString(), metrics: {} };
    expect(m.derive(m.initialState(), noPower, t)).toEqual({ state: { lastTsMs: null }, drop: 'missing-powerW' });
    expect(m.derive(m.initialState(), lightReading(t, -1), t)).toMatchObject({ drop: 'invalid-powerW' });
    const first = m.derive(m.initialState(), lightReading(t, 40), t);
    expect(first.state).toEqual({ lastTsMs: t });
    expect(m.derive(first.state, lightReading(t, 40), t)).toMatchObject({ drop: 'duplicate-ts' });
    expect(m.derive(first.state, lightReading(t - MIN_MS, 40), t - MIN_MS)).toMatchObject({ drop: 'out-of-order' });
    const later = m.derive(first.state, lightReading(t + 181 * MIN_MS, 40), t + 181 * MIN_MS);
    expect(later).toMatchObject({ derived: { intervalMs: 181 * MIN_MS, gap: true } });
  });

  test.prop([
    fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }),
    fc.double({ min: 0, max: 500, noNaN: true }),
  ])(
    'never expects a lamp on in daylight nor derives a negative draw when time and power are arbitrary',
    (tsMs, powerW) => {
      const d = derive(lightReading(tsMs, powerW));
      expect(d.expectedOn && d.phase !== 'night').toBe(false);
      expect(d.expectedPowerW).toBeGreaterThanOrEqual(0);
      expect(d.expectedPowerW).toBeLessThanOrEqual(60);
      expect(d.phase === 'day').toBe(d.sunAltitudeDeg >= 5);
    },
  );
});
