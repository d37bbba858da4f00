import type { Reading } from '../core/contracts/index.ts';
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
 * A shared car of a station-based car-share (Mulhouse's mobility account, DOMAIN.md "Parking and mobility"): the car
 * is taken from its station and brought back to it, so it stands where the registry places it and reports no
 * position (a free-floating fleet would add `lat`/`lon` metrics; the read model would take them over the registry's).
 * Every interval its telematics box reports `available` (1: at its station and bookable now, 0: out on a trip or an
 * electric car too low to book) and its energy: `chargePct` for an electric car (about 40 % of the fleet), `fuelPct`
 * otherwise. Not `batteryPct`: in Vigie that is the device's own battery (the low-battery detector), and a car to
 * charge is not a device to replace.
 *
 * Trips start at random while the car is available, at a rate by local time: weekdays a morning (08:00–09:30) and an
 * evening (17:00–19:00) peak over a low day, weekends a leisure plateau 10:00–18:00, none at night (00:00–06:00).
 * They last 1–8 hours (most 1–3) and use 3–8 % of the charge (2–6 % of the fuel) an hour. Back at the station an
 * electric car charges at about 14 % an hour and is not bookable below 20 %; a petrol car under 25 % is refuelled
 * by its driver (the fuel card) to 95–100 %. Faults: `silent`, `flag`, `malformed` as for every kind. One stream of
 * draws per car, a fixed number per reading.
 */

const HOUR_MS = 3_600_000;
/** An electric car cannot be booked below this charge, %. */
const MIN_BOOKABLE_CHARGE_PCT = 20;
/** Charging rate at the station, % an hour (7 kW on a 50 kWh battery). */
const CHARGE_PCT_PER_HOUR = 14;

/** Trip starts an hour for a car of popularity 1, at a local weekday (0 = Sunday) and minute of the day. */
export function tripRatePerHour(weekday: number, minute: number): number {
  const h = minute / 60;
  if (h < 6) return 0;
  if (weekday === 0 || weekday === 6) return h >= 10 && h < 18 ? 0.15 : h >= 7 && h < 21 ? 0.04 : 0.01;
  if ((h >= 8 && h < 9.5) || (h >= 17 && h < 19)) return 0.2;
  return h < 21 ? 0.05 : 0.01;
}

const TRIP_HOURS: ReadonlyArray<readonly [number, number]> = [
  [1, 25],
  [2, 25],
  [3, 20],
  [4, 13],
  [6, 10],
  [8, 7],
];

/** What a shared car needs to run. */
export interface CarShareOptions {
  readonly deviceId: string;
  readonly seed: string;
  readonly timeZone: string;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly faults: readonly FaultInstance[];
}

/** One simulated shared car; see the file header. */
export class CarShareSim implements DeviceSim {
  /** This car's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  /** An electric car (reports `chargePct`) or not (`fuelPct`). */
  readonly electric: boolean;
  private readonly popularity: number;
  private readonly stream: Random;
  private energyPct: number;
  /** End of the current trip, epoch ms (null: at its station). */
  private tripEndMs: number | null = null;
  /** Energy used an hour on the current trip, %. */
  private usePctPerHour = 0;
  private lastTsMs: number | null = null;

  constructor(private readonly o: CarShareOptions) {
    const r = rng(o.seed, o.deviceId, 'car-share');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    this.electric = r.chance(0.4);
    this.popularity = r.uniform(0.6, 1.5);
    this.energyPct = r.uniform(50, 100);
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

  /** The car's reading at `tsMs`, or undefined when silent. */
  step(tsMs: number): ReadingMessage | undefined {
    const uStart = this.stream.next();
    const uHours = this.stream.next();
    const uUse = this.stream.next();
    const uRefuel = this.stream.next();
    const uBroken = this.stream.next();
    const uCut = this.stream.next();
    const dtMs = this.lastTsMs === null ? this.o.intervalMs : tsMs - this.lastTsMs;
    this.lastTsMs = tsMs;
    const dtHours = dtMs / HOUR_MS;

    if (this.tripEndMs !== null) {
      const drivenHours = (Math.min(tsMs, this.tripEndMs) - (tsMs - dtMs)) / HOUR_MS;
      this.energyPct = Math.max(3, this.energyPct - this.usePctPerHour * Math.max(0, drivenHours));
      if (tsMs >= this.tripEndMs) {
        this.tripEndMs = null;
        if (!this.electric && this.energyPct < 25) this.energyPct = 95 + 5 * uRefuel;
      }
    } else if (this.electric) {
      this.energyPct = Math.min(100, this.energyPct + CHARGE_PCT_PER_HOUR * dtHours);
    }
    const bookable = this.tripEndMs === null && (!this.electric || this.energyPct >= MIN_BOOKABLE_CHARGE_PCT);
    if (bookable) {
      const { minute, weekday } = localTime(this.o.timeZone, tsMs);
      const p = 1 - Math.exp(-tripRatePerHour(weekday, minute) * this.popularity * dtHours);
      if (uStart < p) {
        const hours = pickHours(uHours);
        this.tripEndMs = tsMs + hours * HOUR_MS;
        this.usePctPerHour = this.electric ? 3 + 5 * uUse : 2 + 4 * uUse;
      }
    }
    const available = this.tripEndMs === null && (!this.electric || this.energyPct >= MIN_BOOKABLE_CHARGE_PCT) ? 1 : 0;

    if (this.o.faults.some((f) => f.type === 'silent' && isActive(f, tsMs))) return undefined;
    const flags: string[] = [];
    for (const f of this.o.faults) if (f.type === 'flag' && isActive(f, tsMs)) flags.push(f.flag);
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'car-share',
      ts: new Date(tsMs).toISOString(),
      seq: Math.floor((tsMs - this.offsetMs) / this.o.intervalMs),
      metrics: { available, [this.electric ? 'chargePct' : 'fuelPct']: Math.round(this.energyPct) },
      ...(flags.length > 0 ? { flags: [...new Set(flags)] } : {}),
    };
    const broken = this.o.faults.find((f) => f.type === 'malformed' && isActive(f, tsMs));
    if (broken && broken.type === 'malformed' && uBroken < broken.ratio) {
      return readingMessage(reading, { sort: broken.sort, bytes: brokenPayload(broken.sort, reading, uCut) });
    }
    return readingMessage(reading);
  }
}

/** A trip's length, hours, from a uniform draw in [0, 1). */
function pickHours(u: number): number {
  const total = TRIP_HOURS.reduce((s, [, w]) => s + w, 0);
  let x = u * total;
  for (const [hours, w] of TRIP_HOURS) {
    x -= w;
    if (x < 0) return hours;
  }
  return 1;
}
