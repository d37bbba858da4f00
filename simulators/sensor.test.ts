import { describe, expect, it } from 'vitest';
import { generateReadings } from './generate.ts';
import { localTime } from './local-clock.ts';
import { groundTruth, parseScenario, type ScenarioInput } from './scenario.ts';
import type { SensorProfile } from './sensor-profiles.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const START = '2026-03-02T00:00:00Z'; // a Monday
const START_MS = Date.parse(START);
const TZ = 'Europe/Paris';

const sensors = (profile: SensorProfile, extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'sensors under test',
  kind: 'sensor',
  devices: 4,
  seed: 'sn',
  startTs: START,
  profiles: [profile],
  ...extra,
});

/** (tsMs, value) of one device's metric over `days`. */
function series(input: ScenarioInput, deviceId: string, metric: string, days: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const r of generateReadings({ scenario: parseScenario(input), endMs: START_MS + days * DAY_MS })) {
    if (r.deviceId === deviceId) out.push([Date.parse(r.ts), r.metrics[metric] as number]);
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
/** Mean of the values whose local time satisfies `pick(minute, weekday)`. */
const meanWhen = (s: Array<[number, number]>, pick: (minute: number, weekday: number) => boolean) =>
  mean(s.filter(([t]) => pick(localTime(TZ, t).minute, localTime(TZ, t).weekday)).map(([, v]) => v));

describe('sensor', () => {
  it('follows each profile’s daily and weekly pattern when no fault is injected', () => {
    const no2 = series(sensors('air-quality'), 'SN-000001', 'no2Ugm3', 14);
    const rush = meanWhen(no2, (m, wd) => wd >= 1 && wd <= 5 && m >= 450 && m < 510);
    const night = meanWhen(no2, (m, wd) => wd >= 1 && wd <= 5 && m >= 180 && m < 240);
    expect(rush).toBeGreaterThan(night + 10);
    expect(meanWhen(no2, (_m, wd) => wd === 0)).toBeLessThan(meanWhen(no2, (_m, wd) => wd === 3) - 2);

    const noise = series(sensors('noise'), 'SN-000002', 'noiseDb', 7);
    expect(meanWhen(noise, (m) => m >= 720 && m < 900)).toBeGreaterThan(
      meanWhen(noise, (m) => m >= 120 && m < 240) + 12,
    );

    const wifi = series(sensors('wifi'), 'SN-000003', 'clients', 7);
    expect(wifi.every(([, v]) => Number.isInteger(v) && v >= 0)).toBe(true);
    expect(meanWhen(wifi, (m) => m >= 90 && m < 330)).toBe(0);
    expect(meanWhen(wifi, (m) => m >= 720 && m < 840)).toBeGreaterThan(10);

    const river = series(sensors('river-level'), 'SN-000004', 'levelCm', 7);
    const values = river.map(([, v]) => v);
    expect(Math.max(...values) - Math.min(...values)).toBeLessThan(15);
    expect(series(sensors('river-level'), 'SN-000004', 'levelCm', 7)).toEqual(river); // seeded
  });

  it('injects spike, drift, level shift, seasonality change and flat line at their times on the metric', () => {
    const at = 'P3DT2H';
    const atMs = START_MS + 3 * DAY_MS + 2 * HOUR_MS;
    const input = sensors('noise', {
      devices: 6,
      faults: [
        { type: 'spike', deviceIds: ['SN-000001'], start: at, sizeSd: 20, readings: 3, spacingMinutes: 60 },
        { type: 'drift', deviceIds: ['SN-000002'], start: at, sdPerDay: 10, direction: 'up', duration: 'P1D' },
        { type: 'level-shift', deviceIds: ['SN-000003'], start: at, sizeSd: 10, direction: 'down' },
        { type: 'seasonality-change', deviceIds: ['SN-000004'], start: at, change: 'phase', shiftHours: 12 },
        { type: 'flat-line', deviceIds: ['SN-000005'], start: at, duration: 'PT12H' },
      ],
    });
    const clean = sensors('noise', { devices: 6 });
    const diff = (id: string) => {
      const a = series(input, id, 'noiseDb', 5);
      const b = series(clean, id, 'noiseDb', 5);
      return a.map(([t, v], i) => [t, v - (b[i] as [number, number])[1]] as [number, number]);
    };
    const sd = 1.2;
    const spikes = diff('SN-000001').filter(([, d]) => Math.abs(d) > 1e-9);
    expect(spikes).toHaveLength(3);
    expect(spikes[0]![0] - atMs).toBeLessThan(15 * 60_000);
    expect(spikes.every(([, d]) => Math.abs(d - 20 * sd) < 0.11)).toBe(true);

    const drift = diff('SN-000002');
    const driftAt = (hours: number) => drift.find(([t]) => t >= atMs + hours * HOUR_MS)![1];
    expect(drift.filter(([t]) => t < atMs).every(([, d]) => d === 0)).toBe(true);
    expect(driftAt(12)).toBeCloseTo(5 * sd, 0);
    expect(drift.filter(([t]) => t >= atMs + DAY_MS).every(([, d]) => d === 0)).toBe(true);

    expect(
      diff('SN-000003')
        .filter(([t]) => t >= atMs)
        .every(([, d]) => Math.abs(d + 10 * sd) < 0.11),
    ).toBe(true);
    // Phase shifted 12 h: at 14:00 local the meter reads night levels.
    const shifted = series(input, 'SN-000004', 'noiseDb', 7).filter(([t]) => t >= atMs + DAY_MS);
    expect(meanWhen(shifted, (m) => m >= 780 && m < 900)).toBeLessThan(meanWhen(shifted, (m) => m >= 60 && m < 180));
    const flat = series(input, 'SN-000005', 'noiseDb', 5).filter(([t]) => t >= atMs && t < atMs + 12 * HOUR_MS);
    expect(new Set(flat.map(([, v]) => v)).size).toBe(1);

    const truth = groundTruth(parseScenario(input));
    expect(truth.map((d) => [d.deviceId, d.faults[0]?.type, 'metric' in d.faults[0]! && d.faults[0].metric])).toEqual([
      ['SN-000001', 'spike', 'noiseDb'],
      ['SN-000002', 'drift', 'noiseDb'],
      ['SN-000003', 'level-shift', 'noiseDb'],
      ['SN-000004', 'seasonality-change', 'noiseDb'],
      ['SN-000005', 'flat-line', 'noiseDb'],
    ]);
    expect(truth[0]?.faults[0]).toMatchObject({ startTs: new Date(atMs).toISOString(), readings: 3 });
  });

  it('targets only sensors reporting the metric when a count fault names one', () => {
    const scenario = parseScenario({
      description: 'mixed fleet',
      kind: 'sensor',
      devices: 16,
      seed: 'mix',
      faults: [{ type: 'level-shift', count: 3, metric: 'clients', start: 'P9D' }],
    });
    const truth = groundTruth(scenario);
    expect(truth).toHaveLength(3);
    for (const d of truth) {
      const r = generateReadings({ scenario, endMs: Date.parse(scenario.startTs) + HOUR_MS });
      const mine = [...r].find((x) => x.deviceId === d.deviceId);
      expect(Object.keys(mine!.metrics)).toEqual(['clients']);
    }
  });
});
