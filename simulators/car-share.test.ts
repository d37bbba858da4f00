import { describe, expect, it } from 'vitest';
import { type CarShareSim, tripRatePerHour } from './car-share.ts';
import { generateReadings, planFleet } from './generate.ts';
import { localTime } from './local-clock.ts';
import { deviceIdFor, loadScenario, parseScenario, type ScenarioInput } from './scenario.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const START = '2026-03-02T00:00:00Z'; // a Monday
const START_MS = Date.parse(START);
const TZ = 'Europe/Paris';

const cars = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'shared cars under test',
  kind: 'car-share',
  devices: 30,
  seed: 'cs',
  startTs: START,
  ...extra,
});

describe('car-share simulator', () => {
  it('names cars CS-… and reports available 0/1 with chargePct (electric) or fuelPct, no position', () => {
    expect(deviceIdFor(0, 'car-share')).toBe('CS-000001');
    const scenario = parseScenario(cars());
    const electric = new Map(planFleet(scenario).devices.map((d) => [d.deviceId, (d as CarShareSim).electric]));
    expect(new Set(electric.values())).toEqual(new Set([true, false]));
    for (const r of generateReadings({ scenario, endMs: START_MS + 3 * DAY_MS })) {
      const energy = electric.get(r.deviceId) ? 'chargePct' : 'fuelPct';
      expect(Object.keys(r.metrics).sort()).toEqual(['available', energy].sort());
      expect([0, 1]).toContain(r.metrics.available);
      expect(r.metrics[energy]).toBeGreaterThanOrEqual(0);
      expect(r.metrics[energy]).toBeLessThanOrEqual(100);
      // An electric car too low to book is never shown available.
      if (energy === 'chargePct' && (r.metrics.chargePct as number) < 20) expect(r.metrics.available).toBe(0);
    }
  });

  it('takes cars out at the weekday peaks and on weekend afternoons, and leaves them all home at night', () => {
    expect(tripRatePerHour(1, 3 * 60)).toBe(0);
    expect(tripRatePerHour(1, 8.5 * 60)).toBeGreaterThan(3 * tripRatePerHour(1, 11 * 60));
    expect(tripRatePerHour(6, 14 * 60)).toBeGreaterThan(tripRatePerHour(6, 20 * 60));
    const out = new Map<string, number[]>();
    for (const r of generateReadings({ scenario: parseScenario(cars()), endMs: START_MS + 14 * DAY_MS })) {
      const { minute, weekday } = localTime(TZ, Date.parse(r.ts));
      const h = Math.floor(minute / 60);
      const key = h === 5 ? 'dawn' : weekday >= 1 && weekday <= 5 && (h === 9 || h === 18) ? 'peak' : undefined;
      if (key) out.set(key, [...(out.get(key) ?? []), 1 - (r.metrics.available as number)]);
    }
    const share = (k: string) => (out.get(k) ?? []).reduce((s, x) => s + x, 0) / (out.get(k) ?? [1]).length;
    expect(share('peak')).toBeGreaterThan(share('dawn') + 0.1);
    expect(share('dawn')).toBeLessThan(0.1);
  });

  it('goes silent and raises its flag during its faults, and ships its scenarios', () => {
    const scenario = parseScenario(
      cars({
        devices: 3,
        faults: [
          { type: 'silent', deviceIds: ['CS-000001'], start: 'PT2H', duration: 'PT2H' },
          { type: 'flag', deviceIds: ['CS-000002'], start: 'PT2H', duration: 'PT1H' },
        ],
      }),
    );
    const readings = [...generateReadings({ scenario, endMs: START_MS + 6 * HOUR_MS })];
    const silentOnes = readings.filter((r) => r.deviceId === 'CS-000001');
    expect(silentOnes).toHaveLength(24 - 8);
    const flagged = readings.filter((r) => r.flags?.includes('tamper'));
    expect(flagged.map((r) => r.deviceId)).toEqual(Array(4).fill('CS-000002'));
    expect(() => parseScenario(cars({ faults: [{ type: 'low-battery', count: 1 }] }))).toThrow(
      /shared cars' telematics/,
    );
    expect(loadScenario('car-share-normal').faults).toEqual([]);
    expect(loadScenario('demo-car-share').devices).toBeLessThanOrEqual(15);
  });
});
