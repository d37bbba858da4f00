import { describe, expect, it } from 'vitest';
import { AppError } from '../core/errors.ts';
import { generateRecords } from './generate.ts';
import {
  DEFAULT_SCENARIO_BY_KIND,
  deviceIdFor,
  deviceIndex,
  FAULTS_BY_KIND,
  groundTruth,
  loadScenario,
  parseScenario,
} from './scenario.ts';

function errorOf(input: unknown): string {
  try {
    parseScenario(input);
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('ERR_SCENARIO_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected the scenario to be refused');
}

describe('scenario kinds', () => {
  it('names devices by kind and keeps the water-meter signatures when no kind is given', () => {
    expect(deviceIdFor(0)).toBe('WM-000001');
    expect(deviceIdFor(41, 'streetlight')).toBe('SL-000042');
    expect(deviceIdFor(0, 'parking-meter')).toBe('PM-000001');
    expect(deviceIdFor(9, 'sensor')).toBe('SN-000010');
    expect(deviceIndex('WM-000003')).toBe(2);
    expect(deviceIndex('SL-000003')).toBeUndefined();
    expect(deviceIndex('SL-000003', 'streetlight')).toBe(2);
  });

  it('refuses a fault of another kind, and low-battery on mains-powered kinds, with a clear message', () => {
    const base = { description: 'x', devices: 5 };
    expect(errorOf({ ...base, kind: 'streetlight', faults: [{ type: 'low-battery', count: 1 }] })).toMatch(
      /low-battery is not a streetlight fault \(streetlights are mains-powered and report no battery/,
    );
    expect(errorOf({ ...base, kind: 'sensor', faults: [{ type: 'low-battery', count: 1 }] })).toMatch(
      /sensors are mains-powered/,
    );
    expect(errorOf({ ...base, kind: 'parking-meter', faults: [{ type: 'leak', count: 1, rateLph: 3 }] })).toMatch(
      /faults\[0\]: leak is not a parking-meter fault \(one of coin-jam, card-reader/,
    );
    expect(errorOf({ ...base, kind: 'water-meter', faults: [{ type: 'cycling', count: 1 }] })).toMatch(
      /cycling is not a water-meter fault/,
    );
    expect(errorOf({ ...base, kind: 'streetlight', faults: [{ type: 'silent', deviceIds: ['WM-000001'] }] })).toMatch(
      /WM-000001 \(one of SL-000001…SL-000005\)/,
    );
    expect(errorOf({ ...base, kind: 'sensor', faults: [{ type: 'spike', count: 1, metric: 'powerW' }] })).toMatch(
      /faults\[0\]\.metric: powerW \(one of levelCm, no2Ugm3, noiseDb, clients/,
    );
    expect(
      errorOf({ ...base, kind: 'sensor', faults: [{ type: 'drift', count: 1, end: 'P2D', duration: 'P1D' }] }),
    ).toMatch(/end and duration both given/);
    expect(errorOf({ ...base, kind: 'toaster' })).toMatch(/kind/);
    expect(parseScenario({ ...base, kind: 'parking-meter', faults: [{ type: 'low-battery', count: 1 }] }).kind).toBe(
      'parking-meter',
    );
  });

  it('lists every injected fault with its times in ground truth when a scenario of each kind is expanded', () => {
    for (const name of ['streetlight-30d', 'parking-30d', 'sensor-30d'] as const) {
      const scenario = loadScenario(name);
      const truth = groundTruth(scenario);
      const perType = new Map<string, number>();
      for (const d of truth) {
        expect(d.kind).toBe(scenario.kind);
        // Never two faults at once on one device.
        const sorted = [...d.faults].sort((a, b) => Date.parse(a.startTs) - Date.parse(b.startTs));
        for (let i = 1; i < sorted.length; i++) {
          expect(Date.parse(sorted[i]!.startTs), `${name} ${d.deviceId}`).toBeGreaterThanOrEqual(
            Date.parse(sorted[i - 1]!.endTs ?? '9999-01-01T00:00:00Z'),
          );
        }
        for (const f of d.faults) {
          perType.set(f.type, (perType.get(f.type) ?? 0) + 1);
          expect(FAULTS_BY_KIND[scenario.kind]).toContain(f.type);
          if (scenario.kind === 'sensor' && f.type !== 'silent') expect(f).toHaveProperty('metric');
          if (scenario.kind === 'sensor')
            expect(Date.parse(f.startTs)).toBeGreaterThanOrEqual(Date.parse('2026-03-10'));
        }
      }
      for (const [type, n] of perType) expect(n, `${name} ${type}`).toBeGreaterThanOrEqual(20);
    }
  });

  it('gives a normal default scenario per kind with no fault', () => {
    for (const [kind, name] of Object.entries(DEFAULT_SCENARIO_BY_KIND)) {
      const s = loadScenario(name);
      expect(s.kind).toBe(kind);
      expect(s.faults).toEqual([]);
    }
  });

  it('yields readings and events in time order when records of a parking fleet are generated', () => {
    const scenario = loadScenario('demo-parking');
    const startMs = Date.parse(scenario.startTs);
    const records = [...generateRecords({ scenario, endMs: startMs + 12 * 3_600_000 })];
    const ts = records.map((r) => Date.parse('reading' in r ? r.reading.ts : r.event.ts));
    for (let i = 1; i < ts.length; i++) expect(ts[i]).toBeGreaterThanOrEqual(ts[i - 1] as number);
    const events = records.flatMap((r) => ('event' in r ? [r.event] : []));
    expect(events.some((e) => e.type === 'payment')).toBe(true);
    expect(events.filter((e) => e.type === 'fault').map((e) => e.data.code)).toEqual(
      expect.arrayContaining(['coin-jam', 'card-reader', 'paper-out', 'door-open', 'coin-box-full', 'out-of-order']),
    );
  });
});
