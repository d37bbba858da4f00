import { describe, expect, it } from 'vitest';
import { fleetCredentials, generateMessages, generateReadings } from './generate.ts';
import type { ReadingMessage } from './message.ts';
import { parseScenario, type ScenarioInput } from './scenario.ts';

const HOUR_MS = 3_600_000;
const START = '2026-06-21T00:00:00Z';
const START_MS = Date.parse(START);

const lamps = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'lamps under test',
  kind: 'streetlight',
  devices: 6,
  seed: 'sl',
  startTs: START,
  ...extra,
});

function readingsOf(input: ScenarioInput, deviceId: string, hours: number): ReadingMessage[] {
  const scenario = parseScenario(input);
  return [...generateMessages({ scenario, endMs: START_MS + hours * HOUR_MS })].filter(
    (m): m is ReadingMessage => m.deviceId === deviceId && m.reading !== undefined,
  );
}

/** The reading of the slot starting at `utc` (ISO). */
const at = (list: ReadingMessage[], utc: string) => {
  const ms = Date.parse(utc);
  const m = list.find((r) => r.tsMs >= ms && r.tsMs < ms + 60_000);
  if (!m) throw new Error(`no reading at ${utc}`);
  return m.reading.metrics;
};

describe('streetlight', () => {
  it('is on at night with the five-step dimming and off at noon when run on 21 June at 47.75 N', () => {
    // Mulhouse, 21 June 2026: sunset ≈ 21:37 and sunrise ≈ 05:33 local (CEST = UTC+2).
    for (const id of ['SL-000001', 'SL-000004']) {
      const list = readingsOf(lamps(), id, 24);
      expect(list).toHaveLength(96);
      expect(at(list, '2026-06-21T00:15:00Z').dimPct).toBe(30); // 02:15 local
      expect(at(list, '2026-06-21T03:15:00Z').dimPct).toBe(70); // 05:15 local, the morning step
      expect(at(list, '2026-06-21T19:45:00Z').dimPct).toBe(100); // 21:45 local, just switched on
      expect(at(list, '2026-06-21T20:15:00Z').dimPct).toBe(70); // 22:15 local
      expect(at(list, '2026-06-21T21:45:00Z').dimPct).toBe(50); // 23:45 local
      expect(at(list, '2026-06-21T23:15:00Z').dimPct).toBe(30); // 01:15 local
      for (const utc of ['2026-06-21T00:15:00Z', '2026-06-21T03:15:00Z', '2026-06-21T20:15:00Z']) {
        const m = at(list, utc);
        expect(m.powerW).toBeGreaterThan(0.97 * 0.6 * (m.dimPct as number));
        expect(m.powerW).toBeLessThan(1.03 * 0.6 * (m.dimPct as number));
      }
      const noon = at(list, '2026-06-21T10:00:00Z');
      expect(noon.dimPct).toBe(0);
      expect(noon.powerW).toBeLessThan(2);
      expect(noon.lux).toBeGreaterThan(10_000);
    }
  });

  it('switches within minutes of sunset and sunrise, never inside the detectors’ 15-minute margins', () => {
    const scenario = parseScenario(lamps({ devices: 40, startTs: '2026-01-10T00:00:00Z' }));
    const sunset = Date.parse('2026-01-10T16:00:00Z'); // ≈ 17:00 local
    for (const r of generateReadings({ scenario, endMs: Date.parse(scenario.startTs) + 2 * 86_400_000 })) {
      const ms = Date.parse(r.ts);
      const on = (r.metrics.dimPct as number) > 0;
      // SunCalc: sunset 10 Jan 2026 at 47.75 N 7.34 E ≈ 16:05 UTC, sunrise ≈ 07:12 UTC.
      if (ms > sunset + 20 * 60_000 && ms < sunset + 6 * HOUR_MS) expect(on).toBe(true);
      if (ms > sunset - 5 * HOUR_MS && ms < sunset - 20 * 60_000) expect(on).toBe(false);
    }
  });

  it('accumulates energyWh as the integral of the draw when a night passes', () => {
    const list = readingsOf(lamps(), 'SL-000002', 24);
    const first = list[0]!.reading.metrics.energyWh as number;
    const last = list.at(-1)!.reading.metrics.energyWh as number;
    const sampled = list.slice(1).reduce((s, m) => s + (m.reading.metrics.powerW as number) * 0.25, 0);
    expect(last - first).toBeGreaterThan(0.9 * sampled);
    expect(last - first).toBeLessThan(1.1 * sampled);
    for (let i = 1; i < list.length; i++) {
      expect(list[i]!.reading.metrics.energyWh).toBeGreaterThanOrEqual(list[i - 1]!.reading.metrics.energyWh as number);
    }
  });

  it('injects each lamp fault at its time when lamp-failure, day-burner, cycling and driver-drift are on', () => {
    const input = lamps({
      faults: [
        { type: 'lamp-failure', deviceIds: ['SL-000001'], start: 'PT12H' },
        { type: 'day-burner', deviceIds: ['SL-000002'], start: 'PT12H' },
        { type: 'cycling', deviceIds: ['SL-000003'], start: 'PT12H' },
        { type: 'driver-drift', deviceIds: ['SL-000004'], start: 'PT12H', sharePct: 40, rampHours: 2 },
      ],
    });
    const failed = readingsOf(input, 'SL-000001', 48);
    expect(at(failed, '2026-06-21T00:15:00Z').powerW).toBeGreaterThan(10); // before: lit
    expect(at(failed, '2026-06-22T00:15:00Z')).toMatchObject({ powerW: 0, dimPct: 30 });

    const burner = readingsOf(input, 'SL-000002', 48);
    expect(at(burner, '2026-06-21T10:00:00Z').powerW).toBeLessThan(2); // before: dark by day
    expect(at(burner, '2026-06-22T10:00:00Z')).toMatchObject({ dimPct: 100 });
    expect(at(burner, '2026-06-22T10:00:00Z').powerW).toBeGreaterThan(55);

    const cycling = readingsOf(input, 'SL-000003', 48).filter(
      (m) => m.tsMs >= Date.parse('2026-06-21T20:00:00Z') && m.tsMs < Date.parse('2026-06-22T03:00:00Z'),
    );
    const lit = cycling.map((m) => (m.reading.metrics.powerW as number) > 5);
    let switches = 0;
    for (let i = 1; i < lit.length; i++) if (lit[i] !== lit[i - 1]) switches++;
    expect(switches).toBeGreaterThan(lit.length / 2);

    const drift = readingsOf(input, 'SL-000004', 48);
    const night = at(drift, '2026-06-22T00:15:00Z');
    expect((night.powerW as number) / (0.6 * (night.dimPct as number))).toBeGreaterThan(1.35);
    expect((night.powerW as number) / (0.6 * (night.dimPct as number))).toBeLessThan(1.45);
  });

  it('puts lamps on circuits of one district, 20 to 40 lamps each, when credentials are listed', () => {
    const creds = fleetCredentials({ seed: 'c', devices: 400, kind: 'streetlight' });
    const byCircuit = new Map<string, Set<string>>();
    const sizes = new Map<string, number>();
    for (const c of creds) {
      expect(c.deviceId).toMatch(/^SL-\d{6}$/);
      expect(c.circuit).toBe(`C-${c.district}-${c.circuit?.slice(-2)}`);
      byCircuit.set(c.circuit!, (byCircuit.get(c.circuit!) ?? new Set()).add(c.district!));
      sizes.set(c.circuit!, (sizes.get(c.circuit!) ?? 0) + 1);
    }
    expect([...byCircuit.values()].every((d) => d.size === 1)).toBe(true);
    for (const n of sizes.values()) {
      expect(n).toBeGreaterThanOrEqual(20);
      expect(n).toBeLessThanOrEqual(40);
    }
  });
});
