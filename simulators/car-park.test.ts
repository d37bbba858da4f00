import { describe, expect, it } from 'vitest';
import { type CarParkSim, occupancyTarget } from './car-park.ts';
import { generateReadings, planFleet } from './generate.ts';
import { localTime } from './local-clock.ts';
import { deviceIdFor, loadScenario, parseScenario, type ScenarioInput } from './scenario.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const START = '2026-03-02T00:00:00Z'; // a Monday
const START_MS = Date.parse(START);
const TZ = 'Europe/Paris';

const parks = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'car parks under test',
  kind: 'car-park',
  devices: 12,
  seed: 'cp',
  startTs: START,
  ...extra,
});

describe('car-park simulator', () => {
  it('names car parks CP-… and reports spaces free, capacity and occupancy that agree', () => {
    expect(deviceIdFor(0, 'car-park')).toBe('CP-000001');
    for (const r of generateReadings({ scenario: parseScenario(parks()), endMs: START_MS + 2 * DAY_MS })) {
      const { spacesFree, capacity, occupancyPct } = r.metrics as Record<string, number>;
      expect(Number.isInteger(spacesFree)).toBe(true);
      expect(capacity).toBeGreaterThanOrEqual(150);
      expect(capacity).toBeLessThanOrEqual(800);
      expect(occupancyPct).toBeCloseTo(
        (((capacity as number) - (spacesFree as number)) / (capacity as number)) * 100,
        0,
      );
    }
  });

  it('fills 9–18 on weekdays and on Saturday afternoons, stays low at night and on Sundays, never full', () => {
    // Monday 2 March … Sunday 8 March.
    expect(occupancyTarget(1, 12 * 60, 0.1, 0.9, 0.92)).toBeCloseTo(0.9, 5);
    expect(occupancyTarget(1, 3 * 60, 0.1, 0.9, 0.92)).toBeCloseTo(0.1, 5);
    expect(occupancyTarget(6, 16 * 60, 0.1, 0.9, 0.92)).toBeCloseTo(0.92, 5);
    expect(occupancyTarget(6, 10 * 60, 0.1, 0.9, 0.92)).toBeLessThan(0.5);
    const scenario = parseScenario(parks());
    const sims = new Map(planFleet(scenario).devices.map((d) => [d.deviceId, d as CarParkSim]));
    const by = new Map<string, number[]>();
    let minFree = Number.POSITIVE_INFINITY;
    for (const r of generateReadings({ scenario, endMs: START_MS + 7 * DAY_MS })) {
      const { minute, weekday } = localTime(TZ, Date.parse(r.ts));
      const h = minute / 60;
      const sim = sims.get(r.deviceId) as CarParkSim;
      // Occupancy relative to the car park's own weekday peak.
      const rel = (r.metrics.occupancyPct as number) / 100 / sim.peak;
      const key =
        weekday >= 1 && weekday <= 5
          ? h >= 10 && h < 17
            ? 'weekday'
            : h >= 1 && h < 5
              ? 'night'
              : undefined
          : weekday === 6 && h >= 15 && h < 17
            ? 'saturday'
            : weekday === 0 && h >= 12 && h < 16
              ? 'sunday'
              : undefined;
      if (key) by.set(key, [...(by.get(key) ?? []), rel]);
      minFree = Math.min(minFree, r.metrics.spacesFree as number);
    }
    const mean = (k: string) => (by.get(k) ?? []).reduce((s, x) => s + x, 0) / (by.get(k) ?? [1]).length;
    expect(mean('weekday')).toBeGreaterThan(0.9);
    expect(mean('saturday')).toBeGreaterThan(0.75);
    expect(mean('night')).toBeLessThan(0.4);
    expect(mean('sunday')).toBeLessThan(0.5);
    expect(minFree).toBeGreaterThan(2); // the car-park-full detector's threshold
  });

  it('is full (0 or 1 space) while saturated and back to its pattern afterwards, and ships its scenarios', () => {
    const scenario = parseScenario(
      parks({
        devices: 2,
        faults: [{ type: 'saturated', deviceIds: ['CP-000002'], start: 'PT10H', duration: 'PT4H' }],
      }),
    );
    const readings = [...generateReadings({ scenario, endMs: START_MS + DAY_MS })].filter(
      (r) => r.deviceId === 'CP-000002',
    );
    const inFault = (r: (typeof readings)[number]) =>
      Date.parse(r.ts) >= START_MS + 10 * HOUR_MS && Date.parse(r.ts) < START_MS + 14 * HOUR_MS;
    expect(readings.filter(inFault)).toHaveLength(16);
    expect(readings.filter(inFault).every((r) => (r.metrics.spacesFree as number) <= 1)).toBe(true);
    expect(readings.filter((r) => !inFault(r)).every((r) => (r.metrics.spacesFree as number) > 2)).toBe(true);
    expect(() => parseScenario(parks({ faults: [{ type: 'station-empty', count: 1 }] }))).toThrow(
      /station-empty is not a car-park fault/,
    );
    expect(loadScenario('car-park-30d').faults.map((f) => f.type)).toEqual(['saturated', 'silent']);
    expect(loadScenario('demo-car-park').devices).toBeLessThanOrEqual(8);
  });
});
