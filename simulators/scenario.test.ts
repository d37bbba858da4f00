import { describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PAYLOAD_BYTES, DevicePayload } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { fleetCredentials, generateMessages, generateReadings } from './generate.ts';
import type { ReadingMessage } from './message.ts';
import {
  BUILTIN_SCENARIOS,
  groundTruth,
  loadScenario,
  parseIsoDurationMs,
  parseScenario,
  type ScenarioInput,
} from './scenario.ts';
import { payloadOf } from './water-meter.ts';

/** A water meter's message: always a reading, with the true volume. */
type SimMessage = ReadingMessage & { readonly trueVolumeL: number };

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const START = '2026-03-01T00:00:00Z';
const START_MS = Date.parse(START);

const base = (extra: Partial<ScenarioInput> = {}): ScenarioInput => ({
  description: 'scenario under test',
  devices: 5,
  seed: 'scn',
  startTs: START,
  ...extra,
});

/** The messages of one device over `hours` from the start. */
function messagesOf(input: ScenarioInput, deviceId: string, hours: number): SimMessage[] {
  const scenario = parseScenario(input);
  return ([...generateMessages({ scenario, endMs: START_MS + hours * HOUR_MS })] as SimMessage[]).filter(
    (m) => m.deviceId === deviceId,
  );
}

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

describe('scenario', () => {
  it('applies defaults when only a description is given', () => {
    const s = parseScenario({ description: 'minimal' });
    expect(s).toMatchObject({ kind: 'water-meter', devices: 10, intervalMinutes: 15, timeZone: 'Europe/Paris' });
    expect(s.faults).toEqual([]);
  });

  it('parses ISO 8601 durations and minutes when given as offsets', () => {
    expect(parseIsoDurationMs('PT2H')).toBe(2 * HOUR_MS);
    expect(parseIsoDurationMs('P1D')).toBe(DAY_MS);
    expect(parseIsoDurationMs('P1DT2H30M')).toBe(DAY_MS + 2.5 * HOUR_MS);
    expect(parseIsoDurationMs('PT90S')).toBe(90_000);
    expect(parseIsoDurationMs('P')).toBeUndefined();
    expect(parseIsoDurationMs('PT')).toBeUndefined();
    expect(parseIsoDurationMs('2H')).toBeUndefined();
    const s = parseScenario(base({ faults: [{ type: 'silent', count: 1, start: 90, end: 'PT3H' }] }));
    expect(s.faults[0]).toMatchObject({ start: 90 * 60_000, end: 3 * HOUR_MS });
  });

  it('names the key and what is allowed when a scenario is invalid', () => {
    expect(errorOf({ devices: 3 })).toMatch(/description/);
    expect(errorOf(base({ devicez: 3 } as never))).toMatch(/devicez/);
    expect(errorOf(base({ faults: [{ type: 'leak', count: 1, rateLph: 3, start: '2H' }] }))).toMatch(
      /"2H" is not an offset \(an ISO 8601 duration/,
    );
    expect(errorOf(base({ faults: [{ type: 'leak', rateLph: 3 }] }))).toMatch(
      /faults\[0\] \(leak\) needs exactly one of deviceIds, count, share/,
    );
    expect(errorOf(base({ faults: [{ type: 'stuck', count: 9 }] }))).toMatch(
      /faults\[0\]\.count: 9 \(at most devices = 5\)/,
    );
    expect(errorOf(base({ faults: [{ type: 'silent', deviceIds: ['WM-000006'] }] }))).toMatch(/WM-000006/);
    expect(errorOf(base({ faults: [{ type: 'silent', count: 1, start: 'PT2H', end: 'PT1H' }] }))).toMatch(
      /end must come after/,
    );
    expect(errorOf(base({ faults: [{ type: 'leak', count: 1, rateLph: { min: 5, max: 2 } }] }))).toMatch(
      /min must not exceed max/,
    );
    expect(errorOf(base({ faults: [{ type: 'burst', count: 1, end: 'PT1H' } as never] }))).toMatch(/end/);
    expect(errorOf(base({ timeZone: 'Mars/Olympus' }))).toMatch(/IANA time zone/);
  });

  it('loads every shipped scenario with a description when read by name', () => {
    for (const name of BUILTIN_SCENARIOS) {
      const s = loadScenario(name);
      expect(s.description.length, name).toBeGreaterThan(20);
    }
    const demo = loadScenario('demo');
    expect(demo.devices).toBe(300);
    const truth = groundTruth(demo);
    const leaking = truth.filter((d) => d.faults.some((f) => f.type === 'leak'));
    expect(leaking.length).toBe(15);
    for (const d of leaking) {
      const leak = d.faults.find((f) => f.type === 'leak');
      expect(leak?.startTs).toBe(new Date(START_MS).toISOString());
      if (leak?.type === 'leak') expect(leak.rateLph).toBeGreaterThanOrEqual(2);
    }
    expect(truth.flatMap((d) => d.faults).filter((f) => f.type === 'burst')).toHaveLength(2);
    expect(truth.flatMap((d) => d.faults).filter((f) => f.type === 'silent')).toHaveLength(2);
  });

  it('refuses an unreadable file with a reason when the path is wrong', () => {
    expect(() => loadScenario('/nonexistent/x.json')).toThrow(/ERR_SCENARIO_READ|scenario file/);
  });

  it('puts count-targeted faults on distinct meters, the same ones for the same seed', () => {
    const input = base({
      devices: 50,
      faults: [
        { type: 'leak', count: 5, rateLph: { min: 2, max: 15 } },
        { type: 'silent', count: 5 },
        { type: 'stuck', deviceIds: ['WM-000001'] },
      ],
    });
    const truth = groundTruth(parseScenario(input));
    expect(truth).toEqual(groundTruth(parseScenario(input)));
    expect(truth).toHaveLength(11);
    expect(truth.every((d) => d.faults.length === 1)).toBe(true);
    expect(truth.find((d) => d.deviceId === 'WM-000001')?.faults[0]?.type).toBe('stuck');
    const other = groundTruth(parseScenario({ ...input, seed: 'another' }));
    expect(other.map((d) => d.deviceId)).not.toEqual(truth.map((d) => d.deviceId));
  });

  it('adds about 72 L a day when a 3 L/h leak is injected', () => {
    const normal = messagesOf(base(), 'WM-000002', 48);
    const leaking = messagesOf(
      base({ faults: [{ type: 'leak', deviceIds: ['WM-000002'], rateLph: 3, start: 'P1D' }] }),
      'WM-000002',
      48,
    );
    expect(leaking.length).toBe(normal.length);
    const at = (list: SimMessage[], ms: number) => list.findLast((m) => m.tsMs <= ms)!;
    const extra = (ms: number) => at(leaking, ms).trueVolumeL - at(normal, ms).trueVolumeL;
    expect(extra(START_MS + DAY_MS - 1)).toBe(0);
    expect(extra(START_MS + 2 * DAY_MS)).toBeGreaterThan(71);
    expect(extra(START_MS + 2 * DAY_MS)).toBeLessThan(73);
    const reported = (list: SimMessage[]) =>
      (list.at(-1)!.reading.metrics.indexL as number) - (list[0]!.reading.metrics.indexL as number);
    expect(Math.abs(reported(leaking) - reported(normal) - 72)).toBeLessThanOrEqual(3);
  });

  it('adds rate × duration when a burst is injected and counts down when a backflow is', () => {
    const withFaults = base({
      faults: [
        { type: 'burst', deviceIds: ['WM-000003'], rateLph: 3000, durationMinutes: 60, start: 'PT6H' },
        { type: 'backflow', deviceIds: ['WM-000004'], litres: 40, durationMinutes: 15, start: 'PT3H' },
      ],
    });
    const burst = messagesOf(withFaults, 'WM-000003', 12).at(-1)!.trueVolumeL;
    const burstRef = messagesOf(base(), 'WM-000003', 12).at(-1)!.trueVolumeL;
    expect(burst - burstRef).toBeCloseTo(3000, 6);
    const back = messagesOf(withFaults, 'WM-000004', 12);
    const backRef = messagesOf(base(), 'WM-000004', 12);
    expect(back.at(-1)!.trueVolumeL - backRef.at(-1)!.trueVolumeL).toBeCloseTo(-40, 6);
    const during = back.find((m) => m.tsMs > START_MS + 3.25 * HOUR_MS)!;
    expect(during.reading.metrics.flowLph).toBeLessThan(0);
  });

  it('stops publishing when a meter is silent, and resumes when the fault ends', () => {
    const list = messagesOf(
      base({ faults: [{ type: 'silent', deviceIds: ['WM-000001'], start: 'PT2H', end: 'PT4H' }] }),
      'WM-000001',
      6,
    );
    expect(list.some((m) => m.tsMs < START_MS + 2 * HOUR_MS)).toBe(true);
    expect(list.some((m) => m.tsMs >= START_MS + 2 * HOUR_MS && m.tsMs < START_MS + 4 * HOUR_MS)).toBe(false);
    expect(list.some((m) => m.tsMs >= START_MS + 4 * HOUR_MS)).toBe(true);
    expect(list).toHaveLength(6 * 4 - 8);
  });

  it('freezes the register when it is stuck while the true volume keeps growing', () => {
    const list = messagesOf(
      base({ faults: [{ type: 'stuck', deviceIds: ['WM-000005'], start: 'PT1H', end: 'P1D' }] }),
      'WM-000005',
      36,
    );
    const stuck = list.filter((m) => m.tsMs >= START_MS + HOUR_MS && m.tsMs < START_MS + DAY_MS);
    const indexes = new Set(stuck.map((m) => m.reading.metrics.indexL));
    expect(indexes.size).toBe(1);
    expect(stuck.every((m) => m.reading.metrics.flowLph === 0)).toBe(true);
    expect(stuck.at(-1)!.trueVolumeL).toBeGreaterThan(stuck[0]!.trueVolumeL + 20);
    // Once free, the register counts again from where it stuck (the water it missed is lost to it).
    const after = list.filter((m) => m.tsMs >= START_MS + DAY_MS);
    const frozen = [...indexes][0] as number;
    expect(after[0]!.reading.metrics.indexL).toBeGreaterThanOrEqual(frozen - 1);
    expect(after[0]!.reading.metrics.indexL).toBeLessThan(frozen + 50);
  });

  it('drops the battery to the given level and raises the flag when those faults are injected', () => {
    const input = base({
      faults: [
        { type: 'low-battery', deviceIds: ['WM-000001'], batteryPct: 8, start: 'PT2H' },
        { type: 'flag', deviceIds: ['WM-000002'], flag: 'tamper', start: 'PT1H', end: 'PT2H' },
      ],
    });
    const battery = messagesOf(input, 'WM-000001', 4);
    expect(
      battery.filter((m) => m.tsMs >= START_MS + 2 * HOUR_MS).every((m) => m.reading.metrics.batteryPct === 8),
    ).toBe(true);
    expect(battery[0]!.reading.metrics.batteryPct).toBeGreaterThan(8);
    const flagged = messagesOf(input, 'WM-000002', 4).filter((m) => m.reading.flags?.includes('tamper'));
    expect(flagged).toHaveLength(4);
  });

  it('publishes broken bytes of each sort when a malformed fault is on, and leaves them out of readings', () => {
    const sorts = ['truncated-json', 'wrong-types', 'huge-numbers', 'oversized'] as const;
    const input = base({
      faults: sorts.map((sort, i) => ({ type: 'malformed' as const, deviceIds: [`WM-00000${i + 1}`], sort })),
    });
    const scenario = parseScenario(input);
    const endMs = START_MS + 2 * HOUR_MS;
    const messages = [...generateMessages({ scenario, endMs })] as SimMessage[];
    for (const [i, sort] of sorts.entries()) {
      const broken = messages.filter((m) => m.deviceId === `WM-00000${i + 1}`);
      expect(broken.length).toBe(8);
      for (const m of broken) {
        expect(m.malformed?.sort).toBe(sort);
        const bytes = payloadOf(m);
        let json: unknown;
        try {
          json = JSON.parse(bytes.toString('utf8'));
        } catch {
          json = undefined;
        }
        if (sort === 'truncated-json') expect(json).toBeUndefined();
        else if (sort === 'oversized') expect(bytes.length).toBeGreaterThan(DEFAULT_MAX_PAYLOAD_BYTES);
        else expect(DevicePayload.safeParse(json).success).toBe(false);
      }
    }
    const good = messages.filter((m) => m.deviceId === 'WM-000005');
    expect(DevicePayload.safeParse(JSON.parse(payloadOf(good[0]!).toString())).success).toBe(true);
    expect([...generateReadings({ scenario, endMs })]).toHaveLength(8);
  });

  it('derives stable, distinct secrets when fleet credentials are asked twice', () => {
    const a = fleetCredentials({ seed: 's', devices: 3 });
    expect(a).toEqual(fleetCredentials({ seed: 's', devices: 3 }));
    expect(a.map((c) => c.deviceId)).toEqual(['WM-000001', 'WM-000002', 'WM-000003']);
    expect(new Set(a.map((c) => c.secret)).size).toBe(3);
    expect(a[0]?.secret).not.toBe(fleetCredentials({ seed: 't', devices: 1 })[0]?.secret);
    expect(a[0]?.kind).toBe('water-meter');
  });
});
