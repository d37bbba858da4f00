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
import type { SensorProfile } from './sensor-profiles.ts';

/**
 * Generic city sensors (CONTRACTS.md §3 "any numeric metrics"), one profile per device (sensor-profiles.ts). Normal
 * behaviour is shaped so the anomaly detector (processors/sensor: fast level + hour-of-day profile + day-of-week
 * *offsets*, homoscedastic scale per hour) stays quiet on it: weekly effects are whole-day offsets, daily shapes
 * smooth, noise normal.
 *
 * - `river-level` `levelCm`: a base level (60–220 cm), a slow seasonal swing, a small daily cycle (upstream
 *   regulation), ultrasonic noise σ 1 cm. With scenario `riverRain: "on"`, city-wide rain events (about one a week)
 *   raise every gauge 2–12 cm over 8–16 h, ebbing over a day or two. They are off by default: the detector reports
 *   any rise above ~1.5 σ within a day (measured: 7–200 alerts for 20 gauges over 3 weeks), as a flood watch should.
 * - `air-quality` `no2Ugm3`: background 12–25 µg/m³ plus rush-hour peaks at about 08:00 and 18:30 local time;
 *   3–6 µg/m³ lower on Sundays (half that on Saturdays); noise σ 3 µg/m³.
 * - `noise` `noiseDb` (LAeq over the interval): 40–46 dB at night, 60–68 dB by day (two smooth harmonics), 2.5 dB
 *   quieter on Sundays, 1.2 dB on Saturdays; noise σ 1.2 dB.
 * - `wifi` `clients` (a transit hotspot's connected clients, integers): none from 00:30 to 06:30, a lunchtime and an
 *   evening peak (20–40 at the top), counting noise √λ. Every day of the week alike: a weekend × 1.15 alone gives
 *   the detector ~170 false alerts on 20 hotspots in 3 weeks (its weekday offsets are additive; a zero night cannot
 *   carry them). Even so a zero night gives it a rare false alert (≈ 1 per 100 hotspot-days measured).
 *
 * Faults act on one metric (`metric`, default the device's first), in units of its profile's noise σ: `spike`
 * (`readings` readings `spacingMinutes` apart, each `sizeSd` out), `drift` (a linear trend of `sdPerDay` from the
 * start), `level-shift` (a step of `sizeSd`), `seasonality-change` (the daily pattern `shiftHours` later, or its
 * swing × `amplitudeFactor`), `flat-line` (the value at the start, repeated); all end at `end` if given. `silent`,
 * `flag` and `malformed` as for every kind. Sensors are mains-powered: no battery metric.
 * Draws per reading are fixed in number, so faults never change the rest of the run.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** What a sensor needs to run. */
export interface SensorOptions {
  readonly deviceId: string;
  readonly seed: string;
  readonly timeZone: string;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly faults: readonly FaultInstance[];
  readonly profile: SensorProfile;
  /** River gauges: whether city-wide rain events raise them (off by default: see the file header). */
  readonly riverRain: 'on' | 'off';
}

/** A clean value split into its level and its daily/weekly part (which a seasonality change acts on). */
interface Parts {
  readonly level: number;
  readonly seasonal: number;
}

/** One rain event seen by every river gauge of the city. */
interface RainEvent {
  readonly startMs: number;
  readonly riseMs: number;
  readonly decayMs: number;
  /** Relative size (0.4–1), × the gauge's response. */
  readonly size: number;
}

const gauss = (x: number, mu: number, sd: number) => Math.exp(-0.5 * ((x - mu) / sd) ** 2);

/** One simulated sensor; see the file header. */
export class SensorSim implements DeviceSim {
  /** This sensor's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  /** The metric(s) it reports; the first is the default target of faults. */
  readonly metric: string;
  /** Standard deviation of its noise, in its metric's unit: the unit of fault sizes. */
  readonly noiseSd: number;
  private readonly stream: Random;
  private readonly p: Record<string, number>;
  private readonly rain = new Map<number, RainEvent[]>();
  private flatValue: number | undefined;
  private readonly rainScale: number;

  constructor(private readonly o: SensorOptions) {
    const r = rng(o.seed, o.deviceId, 'sensor');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    this.stream = rng(o.seed, o.deviceId, 'readings');
    this.rainScale = o.riverRain === 'on' ? 3 : 0;
    switch (o.profile) {
      case 'river-level':
        this.metric = 'levelCm';
        this.noiseSd = 1;
        this.p = {
          base: r.uniform(60, 220),
          seasonalCm: r.uniform(5, 15),
          dailyCm: r.uniform(1.5, 3),
          dailyPhaseMin: r.uniform(0, 1440),
          rainCm: r.uniform(2, 4),
        };
        break;
      case 'air-quality':
        this.metric = 'no2Ugm3';
        this.noiseSd = 3;
        this.p = {
          base: r.uniform(12, 25),
          morning: r.uniform(15, 35),
          evening: r.uniform(12, 30),
          weekendDrop: r.uniform(3, 6),
        };
        break;
      case 'noise':
        this.metric = 'noiseDb';
        this.noiseSd = 1.2;
        this.p = { night: r.uniform(40, 46), day: r.uniform(60, 68) };
        break;
      case 'wifi':
        this.metric = 'clients';
        this.p = { peak: r.uniform(20, 40) };
        this.noiseSd = Math.sqrt((this.p.peak as number) / 2);
        break;
    }
  }

  /** The device id. */
  get deviceId(): string {
    return this.o.deviceId;
  }

  private rainEvents(week: number): RainEvent[] {
    let list = this.rain.get(week);
    if (!list) {
      const r = rng(this.o.seed, 'rain', week);
      list = Array.from({ length: r.poisson(1) }, () => ({
        startMs: (week * 7 + r.uniform(0, 7)) * DAY_MS,
        riseMs: r.uniform(8, 16) * HOUR_MS,
        decayMs: r.uniform(20, 40) * HOUR_MS,
        size: r.uniform(0.4, 1),
      }));
      if (this.rain.size > 8) this.rain.clear();
      this.rain.set(week, list);
    }
    return list;
  }

  private rainLevel(tsMs: number): number {
    const week = Math.floor(tsMs / (7 * DAY_MS));
    let sum = 0;
    for (const w of [week - 2, week - 1, week]) {
      for (const e of this.rainEvents(w)) {
        const dt = tsMs - e.startMs;
        if (dt <= 0) continue;
        sum +=
          e.size *
          (dt < e.riseMs ? (1 - Math.cos((Math.PI * dt) / e.riseMs)) / 2 : Math.exp(-(dt - e.riseMs) / e.decayMs));
      }
    }
    return sum;
  }

  /** The clean value at `tsMs` (no noise, no fault), as level + daily/weekly part. */
  parts(tsMs: number): Parts {
    const { minute, weekday } = localTime(this.o.timeZone, tsMs);
    const p = this.p as Record<string, number>;
    switch (this.o.profile) {
      case 'river-level': {
        const season = Math.cos((2 * Math.PI * (tsMs / DAY_MS - 60)) / 365.25);
        const level =
          (p.base as number) +
          (p.seasonalCm as number) * season +
          (p.rainCm as number) * this.rainLevel(tsMs) * this.rainScale;
        return {
          level,
          seasonal: (p.dailyCm as number) * Math.sin((2 * Math.PI * (minute - (p.dailyPhaseMin as number))) / 1440),
        };
      }
      case 'air-quality': {
        // Weekends: the whole day lower (fewer commuters), the same shape — an offset, as the detector models it.
        const week = weekday === 0 ? -(p.weekendDrop as number) : weekday === 6 ? -(p.weekendDrop as number) / 2 : 0;
        const peaks =
          (p.morning as number) * gauss(minute, 480, 110) + (p.evening as number) * gauss(minute, 1110, 130);
        return { level: (p.base as number) + week, seasonal: peaks };
      }
      case 'noise': {
        const week = weekday === 0 ? -2.5 : weekday === 6 ? -1.2 : 0;
        // Night to day and back, as two smooth harmonics (quiet 01:00–05:00, loud 08:00–20:00).
        const x = (2 * Math.PI * (minute - 300)) / 1440;
        const shape = 0.5 - 0.5 * Math.cos(x) + 0.15 * Math.sin(2 * x);
        return { level: (p.night as number) + week, seasonal: ((p.day as number) - (p.night as number)) * shape };
      }
      case 'wifi': {
        const x = (2 * Math.PI * (minute - 420)) / 1440;
        const shape = minute < 60 || minute >= 390 ? Math.max(0, Math.sin(x) + 0.25 * Math.sin(2 * x)) : 0;
        return { level: 0, seasonal: (p.peak as number) * shape };
      }
    }
  }

  /** See {@link DeviceSim.messagesIn}. */
  messagesIn(slotMs: number): SimMessage[] {
    return oneReadingPerSlot(this, slotMs, this.o.startMs);
  }

  /** The sensor's reading at `tsMs`, or undefined when silent. */
  step(tsMs: number): ReadingMessage | undefined {
    const z = this.stream.normal(0, 1, -4, 4);
    const uBroken = this.stream.next();
    const uCut = this.stream.next();
    if (this.o.faults.some((f) => f.type === 'silent' && isActive(f, tsMs))) return undefined;
    const sd = this.noiseSd;
    let parts = this.parts(tsMs);
    let extra = 0;
    let flat = false;
    for (const f of this.o.faults) {
      if (!isActive(f, tsMs) || !('metric' in f) || f.metric !== this.metric) continue;
      switch (f.type) {
        case 'spike': {
          const k = Math.floor((tsMs - f.startMs) / (f.spacingMinutes * 60_000));
          const into = tsMs - f.startMs - k * f.spacingMinutes * 60_000;
          if (k < f.readings && into < this.o.intervalMs) extra += f.sizeSd * sd;
          break;
        }
        case 'drift':
          extra += (f.sdPerDay * sd * (tsMs - f.startMs)) / DAY_MS;
          break;
        case 'level-shift':
          extra += f.sizeSd * sd;
          break;
        case 'seasonality-change':
          if (f.change === 'phase')
            parts = { level: parts.level, seasonal: this.parts(tsMs - f.shiftHours * HOUR_MS).seasonal };
          else parts = { level: parts.level, seasonal: parts.seasonal * f.amplitudeFactor };
          break;
        case 'flat-line':
          flat = true;
          break;
      }
    }
    let value: number;
    if (this.o.profile === 'wifi') {
      const lambda = Math.max(0, parts.seasonal + parts.level);
      value = Math.max(0, Math.round(lambda + Math.sqrt(lambda) * z + extra));
    } else {
      const v = parts.level + parts.seasonal + sd * z + extra;
      value = Math.round((this.o.profile === 'river-level' ? v : Math.max(0, v)) * 10) / 10;
    }
    if (flat) {
      this.flatValue ??= value;
      value = this.flatValue;
    } else {
      this.flatValue = undefined;
    }
    const flags: string[] = [];
    for (const f of this.o.faults) if (f.type === 'flag' && isActive(f, tsMs)) flags.push(f.flag);
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'sensor',
      ts: new Date(tsMs).toISOString(),
      seq: Math.floor((tsMs - this.offsetMs) / this.o.intervalMs),
      metrics: { [this.metric]: value },
      ...(flags.length > 0 ? { flags: [...new Set(flags)] } : {}),
    };
    const broken = this.o.faults.find((f) => f.type === 'malformed' && isActive(f, tsMs));
    if (broken && broken.type === 'malformed' && uBroken < broken.ratio) {
      return readingMessage(reading, { sort: broken.sort, bytes: brokenPayload(broken.sort, reading, uCut) });
    }
    return readingMessage(reading);
  }
}
