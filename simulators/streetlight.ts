import type { Reading } from '../core/contracts/index.ts';
import { localTime, solarDayOf, sunAltitudeDeg, sunTimesOf } from './local-clock.ts';
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
 * A streetlight (DOMAIN.md "Streetlights", CONTRACTS.md §3): an LED luminaire with a controller node on a feeder
 * cabinet (circuit), reporting every interval `powerW`, `dimPct`, `energyWh` (cumulative) and `lux` (ambient).
 *
 * Switching: the cabinet's photocell / astronomical clock switches its circuit on at sunset (sun at −0.833°,
 * SunCalc at the scenario's `lat`/`lon`) plus a per-circuit offset in [−4, +7] min and off at sunrise plus one in
 * [−7, +4] min, each night ± up to 2 min (weather). The detectors (processors/streetlight) expect the lamp on from
 * 15 min after sunset to 15 min before sunrise and off once the sun is 5° up, so a normal lamp is always inside.
 * Level: the city's five steps in local time (scenario `timeZone`): 100 % from switch-on, 70 % from 22:00, 50 % from
 * 23:30, 30 % from 01:00, 70 % from 05:00 until switch-off (copied as data from the detectors' default profile).
 * Draw: `ratedW` × level × (1 + the lamp's bias, ±1 %) × (1 ± ~1 % noise per reading); off, the node's standby
 * (0.3–1.5 W, below the detectors' 2 W). `energyWh` integrates the true draw minute by minute.
 *
 * Faults: `lamp-failure` 0 W (dimPct still commanded); `cycling` while commanded on, the reading catches the lamp
 * lit or dark in turn (85 % alternation; true mean draw half the level's); `day-burner` lit at 100 % whenever it
 * should be off (photocell stuck dark), normal at night; `driver-drift` the draw grows to `sharePct` off the level's
 * draw over `rampHours`; `silent`, `flag`, `malformed` as for every kind.
 */

const MINUTE_MS = 60_000;

/** Mulhouse's dimming profile: [local minute the step starts, level %], sorted (the processors' default, as data). */
export const STREETLIGHT_DIMMING_PROFILE: ReadonlyArray<readonly [minute: number, pct: number]> = [
  [60, 30],
  [300, 70],
  [720, 100],
  [1320, 70],
  [1410, 50],
];

/** The profile's level at a local minute of the day (the step with the latest start at or before it, wrapping). */
export function dimLevelAt(minute: number): number {
  let pct = (STREETLIGHT_DIMMING_PROFILE[STREETLIGHT_DIMMING_PROFILE.length - 1] as readonly [number, number])[1];
  for (const [from, level] of STREETLIGHT_DIMMING_PROFILE) {
    if (from <= minute) pct = level;
    else break;
  }
  return pct;
}

/** What a lamp needs to run. */
export interface StreetlightOptions {
  readonly deviceId: string;
  readonly seed: string;
  readonly timeZone: string;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly faults: readonly FaultInstance[];
  /** City coordinates, degrees. */
  readonly lat: number;
  readonly lon: number;
  /** Rated power at 100 %, W. */
  readonly ratedW: number;
  /** Feeder cabinet: lamps of one circuit switch together. */
  readonly circuit: string;
}

/** What the lamp does at an instant (noise-free). */
interface LampState {
  /** Level the controller commands, % (0 when it should be off). */
  readonly commandedPct: number;
  /** True draw, W. */
  readonly powerW: number;
  /** Cycling: the lamp is switching on and off; `powerW` is then the mean draw. */
  readonly cycling: boolean;
  /** Draw when lit (for a cycling lamp's sample). */
  readonly litW: number;
}

/** One simulated streetlight; see the file header. */
export class StreetlightSim implements DeviceSim {
  /** This lamp's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  private readonly stream: Random;
  private readonly biasShare: number;
  private readonly standbyW: number;
  private readonly circuitOnMin: number;
  private readonly circuitOffMin: number;
  private energyWh: number;
  private lastMs: number | null = null;
  private switchDay = Number.NaN;
  private switchOffMs = 0;
  private switchOnMs = 0;
  private cloudHour = Number.NaN;
  private cloud = 1;

  constructor(private readonly o: StreetlightOptions) {
    const r = rng(o.seed, o.deviceId, 'lamp');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    this.biasShare = r.normal(0, 0.005, -0.01, 0.01);
    this.standbyW = r.uniform(0.3, 1.5);
    this.energyWh = r.uniform(0, 400_000);
    const c = rng(o.seed, 'circuit', o.circuit);
    this.circuitOnMin = c.uniform(-4, 7);
    this.circuitOffMin = c.uniform(-7, 4);
    this.stream = rng(o.seed, o.deviceId, 'readings');
  }

  /** The device id. */
  get deviceId(): string {
    return this.o.deviceId;
  }

  /** Whether the cabinet has the lamp switched on at `tsMs` (photocell / astronomical clock). */
  switchedOn(tsMs: number): boolean {
    const day = solarDayOf(tsMs, this.o.lon);
    if (day !== this.switchDay) {
      const { sunriseMs, sunsetMs } = sunTimesOf(day, this.o.lat, this.o.lon);
      const w = rng(this.o.seed, 'circuit', this.o.circuit, 'day', day);
      this.switchOffMs = sunriseMs + (this.circuitOffMin + w.normal(0, 0.8, -2, 2)) * MINUTE_MS;
      this.switchOnMs = sunsetMs + (this.circuitOnMin + w.normal(0, 0.8, -2, 2)) * MINUTE_MS;
      this.switchDay = day;
    }
    return tsMs < this.switchOffMs || tsMs >= this.switchOnMs;
  }

  /** The lamp at `tsMs`; `localMinute` (its local minute of the day) when the caller knows it. */
  private state(tsMs: number, localMinute?: number): LampState {
    const on = this.switchedOn(tsMs);
    const rated = this.o.ratedW * (1 + this.biasShare);
    let commandedPct = on ? dimLevelAt(localMinute ?? localTime(this.o.timeZone, tsMs).minute) : 0;
    if (this.o.faults.length === 0) {
      if (commandedPct === 0) return { commandedPct, powerW: this.standbyW, cycling: false, litW: 0 };
      const litW = (rated * commandedPct) / 100;
      return { commandedPct, powerW: litW, cycling: false, litW };
    }
    let factor = 1;
    let failed = false;
    let cycling = false;
    for (const f of this.o.faults) {
      if (!isActive(f, tsMs)) continue;
      if (f.type === 'day-burner' && !on) commandedPct = 100;
      else if (f.type === 'lamp-failure') failed = true;
      else if (f.type === 'cycling') cycling = true;
      else if (f.type === 'driver-drift') {
        const ramp = f.rampHours > 0 ? Math.min(1, (tsMs - f.startMs) / (f.rampHours * 3_600_000)) : 1;
        factor *= 1 + (f.sharePct / 100) * ramp;
      }
    }
    if (commandedPct === 0) return { commandedPct, powerW: failed ? 0 : this.standbyW, cycling: false, litW: 0 };
    if (failed) return { commandedPct, powerW: 0, cycling: false, litW: 0 };
    const litW = (rated * commandedPct * factor) / 100;
    return { commandedPct, powerW: cycling ? litW / 2 : litW, cycling: cycling, litW };
  }

  /** True energy drawn over (fromMs, toMs], Wh: the draw sampled at each minute's middle. */
  private energyBetweenWh(fromMs: number, toMs: number): number {
    const steps = Math.max(1, Math.ceil((toMs - fromMs) / MINUTE_MS));
    const stepMs = (toMs - fromMs) / steps;
    // Local minutes advance with the clock inside one interval (a DST change inside it is off by an hour for
    // at most one interval's integration).
    const firstMinute = localTime(this.o.timeZone, fromMs).minute;
    let wh = 0;
    for (let i = 0; i < steps; i++) {
      const minute = (firstMinute + ((i + 0.5) * stepMs) / MINUTE_MS) % 1440;
      wh += (this.state(fromMs + (i + 0.5) * stepMs, minute).powerW * stepMs) / 3_600_000;
    }
    return wh;
  }

  /** See {@link DeviceSim.messagesIn}. */
  messagesIn(slotMs: number): SimMessage[] {
    return oneReadingPerSlot(this, slotMs, this.o.startMs);
  }

  /**
   * The lamp's reading at `tsMs` (its next reading time), or undefined when silent. Every call draws the same
   * number of random values, so faults never change the rest of the run.
   */
  step(tsMs: number): ReadingMessage | undefined {
    const noise = this.stream.normal(0, 0.008, -0.025, 0.025);
    const uStandby = this.stream.next();
    const uFlip = this.stream.next();
    const uBroken = this.stream.next();
    const uCut = this.stream.next();
    const uLux = this.stream.next();
    if (this.lastMs !== null) this.energyWh += this.energyBetweenWh(this.lastMs, tsMs);
    this.lastMs = tsMs;
    if (this.o.faults.some((f) => f.type === 'silent' && isActive(f, tsMs))) return undefined;

    const seq = Math.floor((tsMs - this.offsetMs) / this.o.intervalMs);
    const s = this.state(tsMs);
    let powerW: number;
    if (s.cycling) {
      // A lamp cycling every few minutes, sampled every interval: lit and dark in turn, now and then twice alike.
      const lit = (seq % 2 === 0) !== uFlip < 0.15;
      powerW = lit ? s.litW * (1 + noise) : this.standbyW * (0.8 + 0.4 * uStandby);
    } else if (s.commandedPct > 0 && s.powerW > 0) {
      powerW = s.powerW * (1 + noise);
    } else {
      powerW = s.powerW * (0.9 + 0.2 * uStandby);
    }
    const alt = sunAltitudeDeg(tsMs, this.o.lat, this.o.lon);
    const hour = Math.floor(tsMs / 3_600_000);
    if (hour !== this.cloudHour) {
      this.cloudHour = hour;
      this.cloud = 0.2 + 0.8 * rng(this.o.seed, 'cloud', hour).next();
    }
    const cloud = this.cloud;
    const ambient = alt > 0 ? 400 + 110_000 * Math.sin((alt * Math.PI) / 180) : alt > -8 ? 400 * 10 ** (alt / 2) : 0;
    const metrics: Record<string, number> = {
      powerW: round1(powerW),
      dimPct: s.commandedPct,
      energyWh: round1(this.energyWh),
      lux: Math.round(ambient * cloud * (0.95 + 0.1 * uLux)),
    };
    const flags: string[] = [];
    for (const f of this.o.faults) if (f.type === 'flag' && isActive(f, tsMs)) flags.push(f.flag);
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'streetlight',
      ts: new Date(tsMs).toISOString(),
      seq,
      metrics,
      ...(flags.length > 0 ? { flags: [...new Set(flags)] } : {}),
    };
    const broken = this.o.faults.find((f) => f.type === 'malformed' && isActive(f, tsMs));
    if (broken && broken.type === 'malformed' && uBroken < broken.ratio) {
      return readingMessage(reading, { sort: broken.sort, bytes: brokenPayload(broken.sort, reading, uCut) });
    }
    return readingMessage(reading);
  }
}

function round1(x: number): number {
  const v = Math.round(x * 10) / 10;
  return v === 0 ? 0 : v;
}
