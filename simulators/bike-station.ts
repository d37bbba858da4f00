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
 * A docked bike-share station (Mulhouse's VéloCité, DOMAIN.md "Parking and mobility"; GBFS station_status as the
 * model of its telemetry). Every interval: `bikesAvailable` (every rentable bike, e-bikes included),
 * `docksAvailable` (free working docks), `ebikesAvailable` (the e-bikes among the bikes) and `capacity` (docks).
 *
 * The station's role comes from its quartier (simulators/districts.ts, the same place as in the registry): a
 * `centre` station fills on weekday mornings (07:30–09:30) as riders come in to work and shop, and empties in the
 * evening (17:00–19:30); every other quartier is `residential`: it empties in the morning (07:00–09:00) and fills
 * back in the evening (16:30–19:00). Weekends are flatter, with a leisure swing from late morning to evening. The
 * fill level follows that target with a lag (about 45 min) plus a churn of a bike or so per interval (less at
 * night). Targets stay within 12–88 % of the docks, so a station rarely hits 0 bikes or 0 docks; when it does by day
 * (06:00–22:00 local), the operator's rebalancing truck brings it back to half full once it has been at 0 for 30 min
 * (the processors' station-empty/station-full detectors wait 60 min: rebalancing in time raises no alert).
 * Each station has 12–30 docks, 0–1 of them out of service, and 15–40 % e-bikes.
 *
 * Faults: `station-empty` (the truck does not come, or the bikes were taken away: 0 bikes until the end) and
 * `station-full` (0 docks until the end); at the end the truck comes and leaves the station half full. `silent`,
 * `flag`, `malformed` as for every kind; stations are mains-powered (no battery metric). One stream of draws per
 * station, a fixed number per reading, so faults never change the draws of the rest of the run.
 */

const MINUTE_MS = 60_000;
/** How fast the fill level follows its target (e-folding time). */
const LAG_MS = 45 * MINUTE_MS;
/** The truck comes once a station has shown 0 bikes or 0 docks for this long, by day. */
const REBALANCE_AFTER_MS = 30 * MINUTE_MS;
/** Rebalancing hours (local minutes of the day): 06:00–22:00. */
const DAY_START_MIN = 360;
const DAY_END_MIN = 1320;

/** The role of a station, from its quartier. */
export type StationRole = 'centre' | 'residential';

/** A smooth step from 0 (before hour `a`) to 1 (after hour `b`), cosine-shaped. */
function smooth(h: number, a: number, b: number): number {
  if (h <= a) return 0;
  if (h >= b) return 1;
  return (1 - Math.cos((Math.PI * (h - a)) / (b - a))) / 2;
}

/**
 * The share of a station's docks holding a bike that the day's flows lead to, at a local weekday (0 = Sunday) and
 * minute of the day, before the station's own amplitude; see the file header.
 */
export function fillTarget(role: StationRole, weekday: number, minute: number): number {
  const h = minute / 60;
  const weekend = weekday === 0 || weekday === 6;
  if (role === 'residential') {
    return weekend
      ? 0.65 - 0.25 * smooth(h, 10, 12) + 0.25 * smooth(h, 17, 19.5)
      : 0.7 - 0.5 * smooth(h, 7, 9) + 0.5 * smooth(h, 16.5, 19);
  }
  return weekend
    ? 0.35 + 0.3 * smooth(h, 10.5, 13) - 0.3 * smooth(h, 18, 20.5)
    : 0.3 + 0.5 * smooth(h, 7.5, 9.5) - 0.5 * smooth(h, 17, 19.5);
}

/** What a bike station needs to run. */
export interface BikeStationOptions {
  readonly deviceId: string;
  readonly seed: string;
  readonly timeZone: string;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly faults: readonly FaultInstance[];
}

/** One simulated bike-share station; see the file header. */
export class BikeStationSim implements DeviceSim {
  /** This station's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  /** Its role, from its quartier. */
  readonly role: StationRole;
  /** Docks. */
  readonly capacity: number;
  private readonly disabledDocks: number;
  private readonly ebikeShare: number;
  /** How far its day swings from the mean (× the target's swing). */
  private readonly amplitude: number;
  private readonly stream: Random;
  /** Bikes docked (a float: flows are averages), before rounding. */
  private level: number;
  private lastTsMs: number | null = null;
  /** Since when the station has shown 0 bikes or 0 docks (null: it has not). */
  private atLimitSinceMs: number | null = null;
  private wasFaulted = false;

  constructor(private readonly o: BikeStationOptions) {
    const r = rng(o.seed, o.deviceId, 'bike-station');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    this.role = demoLocation(o.seed, o.deviceId).district === 'centre' ? 'centre' : 'residential';
    this.capacity = r.int(12, 30);
    this.disabledDocks = r.chance(0.3) ? 1 : 0;
    this.ebikeShare = r.uniform(0.15, 0.4);
    this.amplitude = r.uniform(0.8, 1.1);
    this.stream = rng(o.seed, o.deviceId, 'readings');
    this.level = this.target(o.startMs) * this.usable;
  }

  /** The device id. */
  get deviceId(): string {
    return this.o.deviceId;
  }

  /** Docks that work: a bike can be docked there. */
  private get usable(): number {
    return this.capacity - this.disabledDocks;
  }

  /** The share of usable docks holding a bike the flows lead to at `tsMs` (12–88 %). */
  target(tsMs: number): number {
    const { minute, weekday } = localTime(this.o.timeZone, tsMs);
    const t = 0.5 + (fillTarget(this.role, weekday, minute) - 0.5) * this.amplitude;
    return Math.min(0.88, Math.max(0.12, t));
  }

  private active(type: FaultInstance['type'], tsMs: number): boolean {
    return this.o.faults.some((f) => f.type === type && isActive(f, tsMs));
  }

  /** See {@link DeviceSim.messagesIn}. */
  messagesIn(slotMs: number): SimMessage[] {
    return oneReadingPerSlot(this, slotMs, this.o.startMs);
  }

  /** The station's reading at `tsMs`, or undefined when silent. */
  step(tsMs: number): ReadingMessage | undefined {
    const churn = this.stream.normal(0, 1, -3, 3);
    const uEbikes = this.stream.next();
    const uBroken = this.stream.next();
    const uCut = this.stream.next();
    const usable = this.usable;
    const { minute } = localTime(this.o.timeZone, tsMs);
    const day = minute >= DAY_START_MIN && minute < DAY_END_MIN;

    // Flows: towards the target with a lag, plus churn (a bike or so per interval by day, a third of it at night).
    const dtMs = this.lastTsMs === null ? this.o.intervalMs : tsMs - this.lastTsMs;
    this.lastTsMs = tsMs;
    const k = 1 - Math.exp(-dtMs / LAG_MS);
    const churnSd = (day ? 1 : 0.35) * Math.sqrt(dtMs / (15 * MINUTE_MS));
    this.level += (this.target(tsMs) * usable - this.level) * k + churn * churnSd;
    this.level = Math.min(usable, Math.max(0, this.level));

    const empty = this.active('station-empty', tsMs);
    const full = this.active('station-full', tsMs);
    if (empty || full) {
      this.level = empty ? 0 : usable;
      this.wasFaulted = true;
      this.atLimitSinceMs = null;
    } else if (this.wasFaulted) {
      // The fault is over: the truck came and left the station half full.
      this.level = usable / 2;
      this.wasFaulted = false;
    } else {
      const bikes = Math.round(this.level);
      if (bikes === 0 || bikes === usable) {
        this.atLimitSinceMs ??= tsMs;
        if (day && tsMs - this.atLimitSinceMs >= REBALANCE_AFTER_MS) {
          this.level = usable / 2;
          this.atLimitSinceMs = null;
        }
      } else {
        this.atLimitSinceMs = null;
      }
    }

    if (this.active('silent', tsMs)) return undefined;
    const bikes = Math.round(this.level);
    const ebikes = Math.min(bikes, Math.round(bikes * this.ebikeShare + (uEbikes - 0.5)));
    const flags: string[] = [];
    for (const f of this.o.faults) if (f.type === 'flag' && isActive(f, tsMs)) flags.push(f.flag);
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'bike-station',
      ts: new Date(tsMs).toISOString(),
      seq: Math.floor((tsMs - this.offsetMs) / this.o.intervalMs),
      metrics: {
        bikesAvailable: bikes,
        docksAvailable: usable - bikes,
        ebikesAvailable: Math.max(0, ebikes),
        capacity: this.capacity,
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
