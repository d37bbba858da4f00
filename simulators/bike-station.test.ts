import { describe, expect, it } from 'vitest';
import { type BikeStationSim, fillTarget } from './bike-station.ts';
import { generateReadings, planFleet } from './generate.ts';
import { localTime } from './local-clock.ts';
import { deviceIdFor, groundTruth, loadScenario, parseScenario, type ScenarioInput } from './scenario.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const START = '2026-03-02T00:00:00Z'; // a Monday
const START_MS = Date.parse(START);
const TZ = 'Europe/Paris';

const stations = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'bike stations under test',
  kind: 'bike-station',
  devices: 30,
  seed: 'bs',
  startTs: START,
  ...extra,
});

describe('bike-station simulator', () => {
  it('names stations BS-… and reports the four metrics as whole counts that add up to the docks', () => {
    expect(deviceIdFor(0, 'bike-station')).toBe('BS-000001');
    const readings = [...generateReadings({ scenario: parseScenario(stations()), endMs: START_MS + 2 * DAY_MS })];
    expect(readings).toHaveLength(30 * 2 * 96);
    for (const r of readings) {
      const m = r.metrics as Record<string, number>;
      expect(Object.keys(m).sort()).toEqual(['bikesAvailable', 'capacity', 'docksAvailable', 'ebikesAvailable']);
      expect(Object.values(m).every((v) => Number.isInteger(v) && v >= 0)).toBe(true);
      expect(m.ebikesAvailable).toBeLessThanOrEqual(m.bikesAvailable as number);
      // One dock may be out of service: bikes + free docks is the capacity or one less.
      expect(
        (m.capacity as number) - (m.bikesAvailable as number) - (m.docksAvailable as number),
      ).toBeGreaterThanOrEqual(0);
      expect((m.capacity as number) - (m.bikesAvailable as number) - (m.docksAvailable as number)).toBeLessThanOrEqual(
        1,
      );
      expect(m.capacity).toBeGreaterThanOrEqual(12);
      expect(m.capacity).toBeLessThanOrEqual(30);
    }
  });

  it('empties residential stations and fills centre ones on weekday mornings, the other way in the evening', () => {
    expect(fillTarget('residential', 1, 6 * 60)).toBeGreaterThan(fillTarget('residential', 1, 10 * 60) + 0.4);
    expect(fillTarget('centre', 1, 10 * 60)).toBeGreaterThan(fillTarget('centre', 1, 6 * 60) + 0.4);
    // Weekends swing less.
    expect(fillTarget('residential', 0, 6 * 60) - fillTarget('residential', 0, 14 * 60)).toBeLessThan(0.3);

    const scenario = parseScenario(stations());
    const roles = new Map(planFleet(scenario).devices.map((d) => [d.deviceId, (d as BikeStationSim).role]));
    expect(new Set(roles.values())).toEqual(new Set(['centre', 'residential']));
    const fill = new Map<string, number[]>();
    for (const r of generateReadings({ scenario, endMs: START_MS + 5 * DAY_MS })) {
      const { minute } = localTime(TZ, Date.parse(r.ts));
      const slot = minute >= 330 && minute < 390 ? 'early' : minute >= 600 && minute < 900 ? 'day' : undefined;
      if (!slot) continue;
      const key = `${roles.get(r.deviceId)}-${slot}`;
      const share = (r.metrics.bikesAvailable as number) / (r.metrics.capacity as number);
      fill.set(key, [...(fill.get(key) ?? []), share]);
    }
    const mean = (k: string) => (fill.get(k) ?? []).reduce((s, x) => s + x, 0) / (fill.get(k) ?? [1]).length;
    expect(mean('residential-early')).toBeGreaterThan(mean('residential-day') + 0.25);
    expect(mean('centre-day')).toBeGreaterThan(mean('centre-early') + 0.25);
  });

  it('never leaves a healthy station at 0 bikes or 0 docks for 45 min by day (the truck comes)', () => {
    const scenario = parseScenario(stations({ devices: 40 }));
    const run = new Map<string, number>();
    let longest = 0;
    for (const r of generateReadings({ scenario, endMs: START_MS + 7 * DAY_MS })) {
      const { minute } = localTime(TZ, Date.parse(r.ts));
      const atLimit = r.metrics.bikesAvailable === 0 || r.metrics.docksAvailable === 0;
      const n = atLimit && minute >= 360 && minute < 1320 ? (run.get(r.deviceId) ?? 0) + 1 : 0;
      run.set(r.deviceId, n);
      longest = Math.max(longest, n);
    }
    expect(longest).toBeGreaterThan(0); // it does happen…
    expect(longest).toBeLessThanOrEqual(2); // …for 15 min at most (two readings)
  });

  it('holds an empty or full station until the fault ends, then leaves it half full', () => {
    const scenario = parseScenario(
      stations({
        devices: 4,
        faults: [
          { type: 'station-empty', deviceIds: ['BS-000001'], start: 'PT8H', duration: 'PT6H' },
          { type: 'station-full', deviceIds: ['BS-000002'], start: 'PT8H', duration: 'PT6H' },
        ],
      }),
    );
    const of = (id: string) =>
      [...generateReadings({ scenario, endMs: START_MS + DAY_MS })].filter((r) => r.deviceId === id);
    const during = (id: string) =>
      of(id).filter((r) => Date.parse(r.ts) >= START_MS + 8 * HOUR_MS && Date.parse(r.ts) < START_MS + 14 * HOUR_MS);
    expect(during('BS-000001').every((r) => r.metrics.bikesAvailable === 0)).toBe(true);
    expect(during('BS-000002').every((r) => r.metrics.docksAvailable === 0)).toBe(true);
    expect(during('BS-000001')).toHaveLength(24);
    const after = of('BS-000001').find((r) => Date.parse(r.ts) >= START_MS + 14 * HOUR_MS);
    const cap = after?.metrics.capacity as number;
    expect(Math.abs((after?.metrics.bikesAvailable as number) - cap / 2)).toBeLessThanOrEqual(2);
    expect(groundTruth(scenario).map((d) => [d.deviceId, d.faults[0]?.type])).toEqual([
      ['BS-000001', 'station-empty'],
      ['BS-000002', 'station-full'],
    ]);
  });

  it('refuses faults of other kinds and low-battery (stations are mains-powered), and ships its scenarios', () => {
    expect(() => parseScenario(stations({ faults: [{ type: 'low-battery', count: 1 }] }))).toThrow(
      /bike stations are mains-powered/,
    );
    expect(() => parseScenario(stations({ faults: [{ type: 'saturated', count: 1 }] }))).toThrow(
      /saturated is not a bike-station fault \(one of station-empty, station-full/,
    );
    for (const name of ['bike-station-normal', 'bike-station-30d', 'demo-bike-station'] as const) {
      expect(loadScenario(name).kind).toBe('bike-station');
    }
    const demo = loadScenario('demo-bike-station');
    expect(demo.devices).toBeLessThanOrEqual(20);
    expect(demo.intervalMinutes).toBe(15);
  });

  it('gives the same readings for the same seed', () => {
    const a = [...generateReadings({ scenario: parseScenario(stations({ devices: 3 })), endMs: START_MS + DAY_MS })];
    const b = [...generateReadings({ scenario: parseScenario(stations({ devices: 3 })), endMs: START_MS + DAY_MS })];
    expect(a).toEqual(b);
  });
});
