import { fc, test as fcTest } from '@fast-check/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { Reading } from '../core/contracts/index.ts';
import { type GenerateOptions, generateMessages, generateReadings } from './generate.ts';
import type { ReadingMessage } from './message.ts';
import { Random } from './random.ts';
import { parseScenario } from './scenario.ts';
import { localDayOf, localHourOf } from './water-meter.ts';

/** A water meter's message: always a reading, with the true volume. */
type SimMessage = ReadingMessage & { readonly trueVolumeL: number };
/** The water fleet's messages (readings only, each with its true volume). */
const waterMessages = (o: GenerateOptions) => generateMessages(o) as Generator<SimMessage>;

const DAY_MS = 86_400_000;
const TZ = 'Europe/Paris';

const scenario = (devices: number, seed: string) =>
  parseScenario({ description: 'test fleet', devices, seed, startTs: '2026-03-01T00:00:00Z' });

describe('random', () => {
  it('repeats the same stream when the key is the same', () => {
    const a = new Random('k');
    const b = new Random('k');
    const xs = Array.from({ length: 50 }, () => a.next());
    expect(Array.from({ length: 50 }, () => b.next())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Random('other').next()).not.toBe(xs[0]);
  });

  it('draws poisson counts with the asked mean when sampled many times', () => {
    const r = new Random('poisson');
    const n = 20_000;
    let sum = 0;
    for (let i = 0; i < n; i++) sum += r.poisson(2.5);
    expect(sum / n).toBeGreaterThan(2.4);
    expect(sum / n).toBeLessThan(2.6);
  });
});

describe('water-meter', () => {
  it('gives identical readings when the seed is the same, and different ones when it differs', () => {
    const s = scenario(10, 'det');
    const endMs = Date.parse(s.startTs) + 2 * DAY_MS;
    const a = [...generateReadings({ scenario: s, endMs })];
    const b = [...generateReadings({ scenario: s, endMs })];
    expect(a.length).toBe(10 * 2 * 96);
    expect(b).toEqual(a);
    const c = [...generateReadings({ scenario: s, seed: 'other', endMs })];
    expect(c.map((r) => r.metrics.indexL)).not.toEqual(a.map((r) => r.metrics.indexL));
  });

  it('emits canonical readings in time order with whole-litre indexes when run for a day', () => {
    const s = scenario(20, 'shape');
    const readings = [...generateReadings({ scenario: s, endMs: Date.parse(s.startTs) + DAY_MS })];
    let lastMs = 0;
    for (const r of readings) {
      expect(Reading.safeParse(r).success).toBe(true);
      expect(Number.isInteger(r.metrics.indexL)).toBe(true);
      const ms = Date.parse(r.ts);
      expect(ms).toBeGreaterThanOrEqual(lastMs);
      lastMs = ms;
      expect(r.metrics.batteryPct).toBeGreaterThanOrEqual(0);
      expect(r.metrics.tempC).toBeGreaterThan(0);
      // Interval boundary plus an offset under a minute.
      expect(ms % 900_000).toBeLessThan(60_000);
    }
  });

  fcTest.prop([fc.string({ minLength: 1, maxLength: 12 })], { numRuns: 15 })(
    'never moves the register back more than 1 L when any seed runs without faults',
    (seed) => {
      const s = scenario(3, seed);
      const last = new Map<string, number>();
      for (const m of waterMessages({ scenario: s, endMs: Date.parse(s.startTs) + DAY_MS })) {
        const index = m.reading.metrics.indexL as number;
        expect(Number.isInteger(index)).toBe(true);
        expect(Math.abs(index - Math.floor(m.trueVolumeL))).toBeLessThanOrEqual(1);
        const prev = last.get(m.deviceId);
        if (prev !== undefined) expect(index - prev).toBeGreaterThanOrEqual(-1);
        last.set(m.deviceId, index);
      }
    },
  );

  describe('over 30 days of 100 households', () => {
    const s = scenario(100, 'month');
    const startMs = Date.parse(s.startTs);
    const messages: SimMessage[] = [];
    beforeAll(() => {
      for (const m of waterMessages({ scenario: s, endMs: startMs + 30 * DAY_MS })) messages.push(m);
    }, 60_000);

    it('keeps nights much quieter than the morning peak when summed per local hour', () => {
      const byHourL = new Array<number>(24).fill(0);
      const last = new Map<string, number>();
      for (const m of messages) {
        const prev = last.get(m.deviceId);
        if (prev !== undefined) byHourL[Math.floor(localHourOf(TZ, m.tsMs - 1))]! += m.trueVolumeL - prev;
        last.set(m.deviceId, m.trueVolumeL);
      }
      const perHour = (from: number, to: number) => byHourL.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
      const night = perHour(1, 5);
      const morning = perHour(6, 9);
      expect(morning).toBeGreaterThan(0);
      expect(night).toBeLessThan(0.15 * morning);
      expect(perHour(18, 22)).toBeGreaterThan(3 * night);
    });

    it('gives every household an hour at rest on at least 95 % of days when no fault is injected', () => {
      const byDevice = new Map<string, SimMessage[]>();
      for (const m of messages) {
        const list = byDevice.get(m.deviceId) ?? [];
        list.push(m);
        byDevice.set(m.deviceId, list);
      }
      expect(byDevice.size).toBe(100);
      for (const [deviceId, list] of byDevice) {
        const restDays = new Set<number>();
        const days = new Set<number>();
        for (let i = 0; i < list.length; i++) {
          const day = localDayOf(TZ, list[i]!.tsMs);
          days.add(day);
          // Five readings spanning an hour, the register within ±1 L (its jitter): an hour at rest.
          const window = list.slice(i, i + 5).map((m) => m.reading.metrics.indexL as number);
          if (window.length === 5 && Math.max(...window) - Math.min(...window) <= 1) restDays.add(day);
        }
        const share = restDays.size / days.size;
        expect(share, `${deviceId} rests on ${restDays.size} of ${days.size} days`).toBeGreaterThanOrEqual(0.95);
      }
    });

    it('keeps the reported index within ±1 L of the true floor when no fault is injected', () => {
      let jittered = 0;
      let worst = 0;
      for (const m of messages) {
        const off = (m.reading.metrics.indexL as number) - Math.floor(m.trueVolumeL);
        worst = Math.max(worst, Math.abs(off));
        if (off !== 0) jittered++;
      }
      expect(worst).toBeLessThanOrEqual(1);
      // Jitter happens, but rarely.
      expect(jittered).toBeGreaterThan(0);
      expect(jittered / messages.length).toBeLessThan(0.05);
    });

    it('uses a plausible amount of water per household when averaged over the month', () => {
      const first = new Map<string, number>();
      const last = new Map<string, number>();
      for (const m of messages) {
        if (!first.has(m.deviceId)) first.set(m.deviceId, m.trueVolumeL);
        last.set(m.deviceId, m.trueVolumeL);
      }
      let total = 0;
      for (const [id, v] of last) total += v - (first.get(id) as number);
      const perHouseholdDayL = total / 100 / 30;
      // France: about 150 L per person per day, 2.2 persons per household, fewer on holiday.
      expect(perHouseholdDayL).toBeGreaterThan(150);
      expect(perHouseholdDayL).toBeLessThan(600);
    });
  });
});
