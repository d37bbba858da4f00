import type { Reading } from '../core/contracts/index.ts';
import { localTime } from './local-clock.ts';
import {
  brokenPayload,
  type DeviceSim,
  eventMessage,
  type ReadingMessage,
  readingMessage,
  type SimMessage,
} from './message.ts';
import { rng } from './random.ts';
import { type FaultInstance, isActive } from './scenario.ts';

/**
 * A solar pay-and-display parking meter (DOMAIN.md "Parking and mobility", CONTRACTS.md §3). Telemetry every
 * interval: `batteryPct` (solar: 70–100 %, charging by day), `paperPct` (falls by one ticket per coin or card
 * payment; an agent refills it on a working day once it is at 10 % or less), `coinFillPct` (rises with coins;
 * emptied on the meter's weekly collection day, about 10:00). Events on `.../event`: `payment`
 * `{amountCents, method: coin|card|sms, minutes}` in paid hours only — Monday to Saturday 09:00–12:00 and
 * 13:30–19:00 local time (scenario `timeZone`), busiest late morning and mid-afternoon, none on Sundays — at the
 * scenario's tariff (`tariffCentsPerHour`, 150 = €0.50 per 20 min) for 10–120 min, paid ~40 % coin / 45 % card /
 * 15 % SMS (SMS prints no ticket).
 *
 * Faults raise `{type: 'fault', data: {code}}` when they start and `{type: 'fault-cleared', data: {code}}` when
 * they end (if they do): `coin-jam` (code coin-jam: no coin payments; half the coin payers pay by card),
 * `card-reader` (card-reader: no card payments; half pay with coins), `paper-out` (paper-out: paper at 0 %, tickets
 * no longer printed, refilled at the end), `coin-box-full` (coin-box-full: box at 100 %, coins refused, emptied at
 * the end), `out-of-order` (out-of-order: no payments), `vandalism` (door-open; the coin box is emptied, then after
 * 5–20 min the meter either falls silent or reports out-of-order until the end). `low-battery`, `silent`, `flag`,
 * `malformed` as for every kind. Every slot's draws come from a stream of (seed, device, slot), so faults never
 * change the rest of the run.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 3_600_000;

/** Payment rate shape by local half hour of a paid day (relative; × the meter's popularity × 4 per hour). */
const HALF_HOUR_WEIGHTS: ReadonlyMap<number, number> = new Map([
  [18, 0.6],
  [19, 0.7],
  [20, 0.9],
  [21, 1.0],
  [22, 1.15],
  [23, 1.2],
  [27, 0.9],
  [28, 1.0],
  [29, 1.05],
  [30, 1.1],
  [31, 1.15],
  [32, 1.2],
  [33, 1.2],
  [34, 1.1],
  [35, 1.0],
  [36, 0.8],
  [37, 0.6],
]);

/** Payments per hour at weight 1 for a meter of popularity 1. */
const BASE_PAYMENTS_PER_HOUR = 4;

/** Whether a local weekday (0 = Sunday) and minute of the day are paid hours: Mon–Sat 09:00–12:00, 13:30–19:00. */
export function isPaidTime(weekday: number, minute: number): boolean {
  if (weekday === 0) return false;
  return (minute >= 540 && minute < 720) || (minute >= 810 && minute < 1140);
}

/** Relative payment rate at a local time (0 outside paid hours; Saturdays × 1.2). */
export function paymentWeight(weekday: number, minute: number): number {
  if (!isPaidTime(weekday, minute)) return 0;
  const w = HALF_HOUR_WEIGHTS.get(Math.floor(minute / 30)) ?? 0;
  return weekday === 6 ? w * 1.2 : w;
}

const DURATIONS_MIN: ReadonlyArray<readonly [number, number]> = [
  [10, 8],
  [15, 10],
  [20, 14],
  [30, 18],
  [40, 10],
  [60, 18],
  [90, 10],
  [120, 12],
];

/** What a parking meter needs to run. */
export interface ParkingMeterOptions {
  readonly deviceId: string;
  readonly seed: string;
  readonly timeZone: string;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly faults: readonly FaultInstance[];
  /** Tariff, euro cents per hour. */
  readonly tariffCentsPerHour: number;
}

type Method = 'coin' | 'card' | 'sms';

/** One simulated parking meter; see the file header. */
export class ParkingMeterSim implements DeviceSim {
  /** This meter's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  private readonly popularity: number;
  private readonly batteryBasePct: number;
  private readonly ticketsPerRoll: number;
  private readonly coinCapacityCents: number;
  private readonly collectionWeekday: number;
  private readonly collectionMinute: number;
  private paperPct: number;
  private coinCents: number;
  private lastCollectionDay = -1;
  /** A vandalised meter goes silent or out of order this long after the door is forced, ms. */
  private readonly vandalDelayMs: number;

  constructor(private readonly o: ParkingMeterOptions) {
    const r = rng(o.seed, o.deviceId, 'meter');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    this.popularity = r.uniform(0.5, 1.8);
    this.batteryBasePct = r.uniform(82, 92);
    this.ticketsPerRoll = r.int(600, 1000);
    this.coinCapacityCents = r.int(25_000, 40_000);
    this.collectionWeekday = r.int(1, 5);
    this.collectionMinute = r.int(570, 690);
    this.paperPct = r.uniform(30, 100);
    this.coinCents = r.uniform(0, 0.4) * this.coinCapacityCents;
    this.vandalDelayMs = Math.round(r.uniform(5, 20) * MINUTE_MS);
  }

  /** The device id. */
  get deviceId(): string {
    return this.o.deviceId;
  }

  private active(type: FaultInstance['type'], tsMs: number): FaultInstance | undefined {
    for (const f of this.o.faults) if (f.type === type && isActive(f, tsMs)) return f;
    return undefined;
  }

  /** Silent at `tsMs`: a `silent` fault, or a vandalised meter gone quiet. */
  private silentAt(tsMs: number, vandalDelayMs: number): boolean {
    if (this.active('silent', tsMs)) return true;
    const v = this.active('vandalism', tsMs);
    return v !== undefined && v.type === 'vandalism' && v.mode === 'silent' && tsMs >= v.startMs + vandalDelayMs;
  }

  /** Taking no payments at `tsMs`: out of order, or a vandalised meter. */
  private closedAt(tsMs: number): boolean {
    return this.active('out-of-order', tsMs) !== undefined || this.active('vandalism', tsMs) !== undefined;
  }

  private batteryPct(tsMs: number, minute: number, noise: number): number {
    // Solar: charged by day (peak mid-afternoon), drawn down overnight; always within 70–100 %.
    let pct = this.batteryBasePct + 6 * Math.sin((2 * Math.PI * (minute - 600)) / 1440) + noise;
    const low = this.active('low-battery', tsMs);
    if (low && low.type === 'low-battery') {
      const k = low.rampMinutes > 0 ? Math.min(1, (tsMs - low.startMs) / (low.rampMinutes * MINUTE_MS)) : 1;
      pct = Math.min(pct, pct + (low.batteryPct - pct) * k);
      return Math.max(0, Math.min(100, Math.floor(pct)));
    }
    return Math.max(70, Math.min(100, Math.floor(pct)));
  }

  /** See {@link DeviceSim.messagesIn}. */
  messagesIn(slotMs: number): SimMessage[] {
    const { deviceId, intervalMs, startMs, timeZone } = this.o;
    const r = rng(this.o.seed, deviceId, 'slot', Math.floor(slotMs / intervalMs));
    const vandalDelayMs = this.vandalDelayMs;
    const readingTs = slotMs + this.offsetMs;
    const endMs = slotMs + intervalMs;
    const out: SimMessage[] = [];
    const emit = (tsMs: number, type: string, data: Record<string, unknown>) => {
      if (tsMs >= startMs && !this.silentAt(tsMs, vandalDelayMs)) {
        out.push(eventMessage('parking-meter', deviceId, tsMs, type, data));
      }
    };

    // 1. Fault starts and ends in this slot (state changes first, then the events).
    type Timed = { tsMs: number; apply: () => void };
    const timed: Timed[] = [];
    for (const f of this.o.faults) {
      const code = faultCode(f);
      if (code === undefined) continue;
      if (f.startMs >= slotMs && f.startMs < endMs) {
        timed.push({
          tsMs: f.startMs,
          apply: () => {
            if (f.type === 'paper-out') this.paperPct = 0;
            if (f.type === 'coin-box-full') this.coinCents = this.coinCapacityCents;
            if (f.type === 'vandalism') this.coinCents = 0;
            emit(f.startMs, 'fault', { code });
          },
        });
      }
      if (f.type === 'vandalism' && f.mode === 'out-of-order') {
        const at = f.startMs + Math.round(vandalDelayMs);
        if (at >= slotMs && at < endMs && (f.endMs === null || at < f.endMs)) {
          timed.push({ tsMs: at, apply: () => emit(at, 'fault', { code: 'out-of-order' }) });
        }
      }
      if (f.endMs !== null && f.endMs >= slotMs && f.endMs < endMs) {
        const at = f.endMs;
        timed.push({
          tsMs: at,
          apply: () => {
            if (f.type === 'paper-out') this.paperPct = 100;
            if (f.type === 'coin-box-full') this.coinCents = 0;
            if (f.type === 'vandalism' && f.mode === 'out-of-order' && at > f.startMs + vandalDelayMs) {
              emit(at, 'fault-cleared', { code: 'out-of-order' });
            }
            emit(at, 'fault-cleared', { code });
          },
        });
      }
    }

    // 2. Payments: a Poisson number at the slot's rate, each at a random instant of it.
    const mid = localTime(timeZone, slotMs + intervalMs / 2);
    const rate = paymentWeight(mid.weekday, mid.minute) * this.popularity * BASE_PAYMENTS_PER_HOUR;
    const count = r.poisson((rate * intervalMs) / HOUR_MS);
    for (let i = 0; i < count; i++) {
      const tsMs = slotMs + Math.floor(r.next() * intervalMs);
      const minutes = r.weighted(DURATIONS_MIN);
      let method: Method = r.weighted([
        ['coin', 40],
        ['card', 45],
        ['sms', 15],
      ] as const);
      const uSwitch = r.next();
      timed.push({
        tsMs,
        apply: () => {
          if (tsMs < startMs || this.closedAt(tsMs) || this.silentAt(tsMs, vandalDelayMs)) return;
          const coinsRefused = this.active('coin-jam', tsMs) || this.active('coin-box-full', tsMs);
          if (method === 'coin' && coinsRefused) {
            if (uSwitch < 0.5 && !this.active('card-reader', tsMs)) method = 'card';
            else return;
          } else if (method === 'card' && this.active('card-reader', tsMs)) {
            if (uSwitch < 0.5 && !coinsRefused) method = 'coin';
            else return;
          }
          const amountCents = Math.round((minutes * this.o.tariffCentsPerHour) / 60);
          if (method === 'coin') this.coinCents = Math.min(this.coinCapacityCents, this.coinCents + amountCents);
          if (method !== 'sms' && !this.active('paper-out', tsMs)) {
            this.paperPct = Math.max(0, this.paperPct - 100 / this.ticketsPerRoll);
          }
          emit(tsMs, 'payment', { amountCents, method, minutes });
        },
      });
    }

    // 3. The reading, after what happened before it in the slot; then the rest.
    const batteryNoise = r.normal(0, 0.4, -1, 1);
    const uBroken = r.next();
    const uCut = r.next();
    timed.sort((a, b) => a.tsMs - b.tsMs);
    let i = 0;
    for (; i < timed.length && (timed[i] as Timed).tsMs < readingTs; i++) (timed[i] as Timed).apply();
    if (readingTs >= startMs) {
      this.visits(readingTs);
      const m = this.reading(readingTs, batteryNoise, uBroken, uCut);
      if (m && !this.silentAt(readingTs, vandalDelayMs)) out.push(m);
    }
    for (; i < timed.length; i++) (timed[i] as Timed).apply();
    return out;
  }

  /** Agents' visits: paper refilled on a working day once at 10 % or less; coins collected weekly. */
  private visits(tsMs: number): void {
    const { minute, weekday, day } = localTime(this.o.timeZone, tsMs);
    const workingHours = weekday >= 1 && weekday <= 5 && minute >= 480 && minute < 1020;
    if (workingHours && this.paperPct <= 10 && !this.active('paper-out', tsMs)) this.paperPct = 100;
    if (
      weekday === this.collectionWeekday &&
      minute >= this.collectionMinute &&
      day !== this.lastCollectionDay &&
      !this.active('coin-box-full', tsMs)
    ) {
      this.coinCents = 0;
      this.lastCollectionDay = day;
    }
  }

  private reading(tsMs: number, batteryNoise: number, uBroken: number, uCut: number): ReadingMessage {
    const { minute } = localTime(this.o.timeZone, tsMs);
    const metrics: Record<string, number> = {
      batteryPct: this.batteryPct(tsMs, minute, batteryNoise),
      paperPct: Math.round(this.paperPct * 10) / 10,
      coinFillPct: Math.round((this.coinCents / this.coinCapacityCents) * 1000) / 10,
    };
    const flags: string[] = [];
    for (const f of this.o.faults) if (f.type === 'flag' && isActive(f, tsMs)) flags.push(f.flag);
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'parking-meter',
      ts: new Date(tsMs).toISOString(),
      seq: Math.floor((tsMs - this.offsetMs) / this.o.intervalMs),
      metrics,
      ...(flags.length > 0 ? { flags: [...new Set(flags)] } : {}),
    };
    const broken = this.active('malformed', tsMs);
    if (broken && broken.type === 'malformed' && uBroken < broken.ratio) {
      return readingMessage(reading, { sort: broken.sort, bytes: brokenPayload(broken.sort, reading, uCut) });
    }
    return readingMessage(reading);
  }
}

/** The fault code a parking-meter fault reports in its `fault` event, or undefined (no event). */
export function faultCode(f: FaultInstance): string | undefined {
  switch (f.type) {
    case 'coin-jam':
    case 'card-reader':
    case 'paper-out':
    case 'coin-box-full':
    case 'out-of-order':
      return f.type;
    case 'vandalism':
      return 'door-open';
    default:
      return undefined;
  }
}
