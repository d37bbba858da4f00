import type { Reading } from '../core/contracts/index.ts';
import { demoLocation } from './districts.ts';
import { localTime } from './local-clock.ts';
import {
  brokenPayload,
  type DeviceSim,
  oneReadingPerSlot,
  type ReadingMessage,
  readingMessage,
  type SimMessage,
} from './message.ts';
import { type Random, rng } from './random.ts';
import { type FaultInstance, isActive } from './scenario.ts';

/**
 * A counted car park (multi-storey or surface, barrier counters at its entries and exits: DOMAIN.md "Parking and
 * mobility", the car parks of the mobility account). Every interval: `spacesFree`, `capacity` and `occupancyPct`.
 *
 * Occupancy by local time: at night the subscribers' share (8–25 %); on weekdays it rises 07:30–09:30 to the car
 * park's peak and stays there through the working day, falling 17:30–19:30 (so full 9–18); on Saturdays a
 * shoppers' morning (a third of the rise, 09:00–11:00) then the afternoon peak (13:00–15:00 to 18:00–20:00);
 * Sundays stay low with a small midday bump. Car parks in the `centre` quartier peak at 80–92 % (Saturdays up to 2
 * points more), the others at 45–75 %; a slow drift (σ ≈ 1.2 % per interval, pulled back) makes the days differ.
 * Occupancy never passes 95 % in normal running, so the car-park-full detector (processors/car-park: 2 spaces or
 * fewer) stays quiet on it. Each car park has 150–800 spaces.
 *
 * Faults: `saturated` (a market day, an event: 0 or 1 space free until the end), and `silent`, `flag`, `malformed`
 * as for every kind; counters are mains-powered (no battery metric). One stream of draws per car park, a fixed
 * number per reading.
 */

/** Most occupancy in normal running (share of the spaces). */
const MAX_NORMAL_OCCUPANCY = 0.95;

/** A smooth step from 0 (before hour `a`) to 1 (after hour `b`), cosine-shaped. */
function smooth(h: number, a: number, b: number): number {
  if (h <= a) return 0;
  if (h >= b) return 1;
  return (1 - Math.cos((Math.PI * (h - a)) / (b - a))) / 2;
}

/**
 * Occupancy (share of the spaces) of a car park with night level `base`, weekday peak `peak` and Saturday peak
 * `saturdayPeak`, at a local weekday (0 = Sunday) and minute of the day; see the file header.
 */
export function occupancyTarget(
  weekday: number,
  minute: number,
  base: number,
  peak: number,
  saturdayPeak: number,
): number {
  const h = minute / 60;
  if (weekday === 0) return base + 0.1 * (smooth(h, 10, 12) - smooth(h, 17, 19));
  if (weekday === 6) {
    return base + (saturdayPeak - base) * (0.35 * smooth(h, 9, 11) + 0.65 * smooth(h, 13, 15) - smooth(h, 18, 20));
  }
  return base + (peak - base) * (smooth(h, 7.5, 9.5) - smooth(h, 17.5, 19.5));
}

/** What a car park needs to run. */
export interface CarParkOptions {
  readonly deviceId: string;
  readonly seed: string;
  readonly timeZone: string;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly faults: readonly FaultInstance[];
}

/** One simulated car park; see the file header. */
export class CarParkSim implements DeviceSim {
  /** This car park's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  /** Spaces. */
  readonly capacity: number;
  /** Night occupancy (subscribers), weekday and Saturday peaks: shares of the spaces. */
  readonly base: number;
  readonly peak: number;
  readonly saturdayPeak: number;
  private readonly stream: Random;
  /** The slow drift off the target, share of the spaces. */
  private drift = 0;

  constructor(private readonly o: CarParkOptions) {
    const r = rng(o.seed, o.deviceId, 'car-park');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    const centre = demoLocation(o.seed, o.deviceId).district === 'centre';
    this.capacity = r.int(150, 800);
    this.base = r.uniform(0.08, 0.25);
    this.peak = centre ? r.uniform(0.8, 0.92) : r.uniform(0.45, 0.75);
    this.saturdayPeak = centre ? Math.min(0.93, this.peak + r.uniform(0, 0.02)) : this.peak * r.uniform(0.8, 1);
    this.stream = rng(o.seed, o.deviceId, 'readings');
  }

  /** The device id. */
  get deviceId(): string {
    return this.o.deviceId;
  }

  /** See {@link DeviceSim.messagesIn}. */
  messagesIn(slotMs: number): SimMessage[] {
    return oneReadingPerSlot(this, slotMs, this.o.startMs);
  }

  /** The car park's reading at `tsMs`, or undefined when silent. */
  step(tsMs: number): ReadingMessage | undefined {
    const z = this.stream.normal(0, 1, -3, 3);
    const uFull = this.stream.next();
    const uBroken = this.stream.next();
    const uCut = this.stream.next();
    this.drift = 0.7 * this.drift + 0.012 * z;
    const { minute, weekday } = localTime(this.o.timeZone, tsMs);
    const target = occupancyTarget(weekday, minute, this.base, this.peak, this.saturdayPeak);
    const occupancy = Math.min(MAX_NORMAL_OCCUPANCY, Math.max(0.02, target + this.drift));
    const saturated = this.o.faults.some((f) => f.type === 'saturated' && isActive(f, tsMs));
    const occupied = saturated ? this.capacity - (uFull < 0.5 ? 0 : 1) : Math.round(occupancy * this.capacity);

    if (this.o.faults.some((f) => f.type === 'silent' && isActive(f, tsMs))) return undefined;
    const flags: string[] = [];
    for (const f of this.o.faults) if (f.type === 'flag' && isActive(f, tsMs)) flags.push(f.flag);
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'car-park',
      ts: new Date(tsMs).toISOString(),
      seq: Math.floor((tsMs - this.offsetMs) / this.o.intervalMs),
      metrics: {
        spacesFree: this.capacity - occupied,
        capacity: this.capacity,
        occupancyPct: Math.round((occupied / this.capacity) * 1000) / 10,
      },
      ...(flags.length > 0 ? { flags: [...new Set(flags)] } : {}),
    };
    const broken = this.o.faults.find((f) => f.type === 'malformed' && isActive(f, tsMs));
    if (broken && broken.type === 'malformed' && uBroken < broken.ratio) {
      return readingMessage(reading, { sort: broken.sort, bytes: brokenPayload(broken.sort, reading, uCut) });
    }
    return readingMessage(reading);
  }
}
