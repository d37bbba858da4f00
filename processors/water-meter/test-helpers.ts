import type { Reading } from '../../core/contracts/index.ts';
import type { Detector } from '../detector.ts';
import { type DetectorRun, runThroughModel, type TimedSignal } from '../test-helpers.ts';

export type { DetectorRun, TimedSignal } from '../test-helpers.ts';

import { type MeterDerived, type MeterState, modelConfigSchema, waterMeterModel } from './model.ts';

/**
 * Test helpers for the water-meter detectors: drive model + detector in event-time order, and build meter series
 * of realistic households from a seeded PRNG (DOMAIN.md "Water meters": night appliances, softeners at 02:00,
 * sprinklers on night timers, pool top-ups, shift workers, absences). Test code only.
 */

/** One minute, hour and day in ms. */
export const MIN_MS = 60_000;
/** One hour in ms. */
export const HOUR_MS = 3_600_000;
/** One day in ms. */
export const DAY_MS = 86_400_000;
/** Monday 2 March 2026 00:00 — UTC stands for local time in these tests. */
export const T0_MS = Date.UTC(2026, 2, 2);

/** mulberry32: a tiny seeded PRNG giving floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A canonical water-meter reading; `indexL` undefined leaves the metric out. */
export function meterReading(tsMs: number, indexL: number | undefined, deviceId = 'WM-000001'): Reading {
  return {
    deviceId,
    kind: 'water-meter',
    ts: new Date(tsMs).toISOString(),
    metrics: indexL === undefined ? { batteryPct: 80 } : { indexL },
  };
}

/** Readings every `intervalMinutes` from `startMs`, one per index value given. */
export function readingsAt(startMs: number, intervalMinutes: number, indexes: readonly number[]): Reading[] {
  return indexes.map((indexL, i) => meterReading(startMs + i * intervalMinutes * MIN_MS, indexL));
}

/** Feeds readings, in order, through the water-meter model then the detector (the engine's job, minus I/O). */
export function runDetector<S>(
  detector: Detector<S, MeterDerived>,
  readings: readonly Reading[],
  options: {
    model?: Record<string, unknown>;
    onStep?: (state: S, meter: MeterState, derived: MeterDerived) => void;
  } = {},
): DetectorRun<S> {
  const model = waterMeterModel(modelConfigSchema.parse(options.model ?? {}));
  return runThroughModel(model, detector, readings, options.onStep);
}

/** One alert episode as the lifecycle would see it: opened by the first active signal, closed by an inactive one. */
export interface Episode {
  readonly openAtMs: number;
  readonly closeAtMs: number | null;
  /** Details of the opening signal. */
  readonly details: Readonly<Record<string, unknown>>;
  readonly summary: string;
}

/** Groups signals into episodes (active → … → inactive). */
export function episodes(signals: readonly TimedSignal[]): Episode[] {
  const out: Episode[] = [];
  let open: { openAtMs: number; details: Readonly<Record<string, unknown>>; summary: string } | null = null;
  for (const { signal } of signals) {
    if (signal.active && !open) open = { openAtMs: signal.atMs, details: signal.details, summary: signal.summary };
    else if (!signal.active && open) {
      out.push({ ...open, closeAtMs: signal.atMs });
      open = null;
    }
  }
  if (open) out.push({ ...open, closeAtMs: null });
  return out;
}

/** Water drawn at a constant flow: `lph` litres per hour for `minutes` from `startMs` (whole minutes). */
export interface FlowEvent {
  readonly startMs: number;
  readonly minutes: number;
  readonly lph: number;
}

/** How a meter series is built from flow events. */
export interface SeriesOptions {
  readonly startMs: number;
  readonly endMs: number;
  readonly intervalMinutes?: number;
  readonly startIndexL?: number;
  readonly events: readonly FlowEvent[];
  /** ±1 L register jitter: with `probability`, a reading is `floor(true + e)`, e uniform in ±0.45 L. */
  readonly jitter?: { readonly probability: number; readonly rng: () => number };
  readonly deviceId?: string;
}

/**
 * Builds the readings a whole-litre register reports every `intervalMinutes` (15) for the given flow events.
 * Volumes are summed per minute in integer L/h·min, so whole-L/h flows give exact litres (no float drift).
 */
export function meterSeries(o: SeriesOptions): Reading[] {
  const minutes = Math.ceil((o.endMs - o.startMs) / MIN_MS);
  const perMinute = new Float64Array(minutes);
  for (const e of o.events) {
    const from = Math.max(0, Math.round((e.startMs - o.startMs) / MIN_MS));
    const to = Math.min(minutes, Math.round((e.startMs - o.startMs) / MIN_MS) + Math.round(e.minutes));
    for (let m = from; m < to; m++) perMinute[m]! += e.lph;
  }
  const interval = o.intervalMinutes ?? 15;
  const startIndexL = o.startIndexL ?? 123_456;
  const out: Reading[] = [];
  let lphMinutes = 0;
  for (let m = 0; m <= minutes; m++) {
    if (m % interval === 0) {
      const trueL = startIndexL + lphMinutes / 60;
      const jitter = o.jitter && o.jitter.rng() < o.jitter.probability ? (o.jitter.rng() - 0.5) * 0.9 : 0;
      out.push(meterReading(o.startMs + m * MIN_MS, Math.floor(trueL + jitter), o.deviceId));
    }
    if (m < minutes) lphMinutes += perMinute[m]!;
  }
  return out;
}

/** Household traits, each from DOMAIN.md's list of what confounds simple leak rules. */
export interface HouseholdTraits {
  readonly people: number;
  /** 'day': office hours away on weekdays; 'home': at home all day; 'night-shift' (22–06); 'evening-shift' (14–22). */
  readonly schedule: 'day' | 'home' | 'night-shift' | 'evening-shift';
  /** Dishwasher at 01:00–03:00 and washing machine on the off-peak tariff at 23:30. */
  readonly nightAppliances: boolean;
  /** Water softener regenerating at 02:00 every 2–4 days. */
  readonly softener: boolean;
  /** Garden sprinklers on night timers (04:00–05:00) and some evenings. */
  readonly sprinklers: boolean;
  /** Pool top-ups: a hose for 1–3 h or an auto-fill valve trickling for 3–5 h, in the afternoon. */
  readonly pool: boolean;
  /** Days away (holidays, weekends away), timers still running. */
  readonly absences: boolean;
  /** Someone gets up at night (00:30–05:00) now and then: a flush and a glass of water. */
  readonly nightToilets: boolean;
}

/** Traits of household `seed`: every trait shows up in many of any 50 consecutive seeds. */
export function householdTraits(seed: number): HouseholdTraits {
  const rng = mulberry32(seed * 7919 + 1);
  const schedules = ['day', 'home', 'night-shift', 'day', 'evening-shift'] as const;
  return {
    people: 1 + Math.floor(rng() * 5),
    schedule: schedules[seed % schedules.length]!,
    nightAppliances: seed % 2 === 0,
    softener: seed % 3 === 0,
    sprinklers: seed % 4 < 2,
    pool: seed % 7 === 0 || seed % 7 === 3,
    absences: seed % 6 === 1 || seed % 6 === 4,
    nightToilets: true,
  };
}

/**
 * The flow events of a normal household over `days` days from `startMs` (a Monday 00:00): showers, baths, toilets,
 * taps, cooking, dishwasher, washing machine, plus its traits. Deterministic for a seed.
 */
export function householdEvents(
  seed: number,
  days: number,
  startMs = T0_MS,
  traits: HouseholdTraits = householdTraits(seed),
): FlowEvent[] {
  const rng = mulberry32(seed);
  const between = (a: number, b: number) => a + rng() * (b - a);
  const chance = (p: number) => rng() < p;
  const events: FlowEvent[] = [];
  const at = (day: number, minuteOfDay: number, minutes: number, lph: number) => {
    events.push({ startMs: startMs + day * DAY_MS + Math.round(minuteOfDay) * MIN_MS, minutes, lph: Math.round(lph) });
  };
  const away = new Set<number>();
  if (traits.absences) {
    // Two trips of 2–5 days, apart, so none reaches no-consumption's 7 days.
    for (const from of [2, 16]) {
      const first = from + Math.floor(between(0, 8));
      const length = Math.floor(between(2, 6));
      for (let d = first; d < first + length; d++) away.add(d);
    }
  }
  for (let day = 0; day < days; day++) {
    const weekday = day % 7 < 5;
    // Timers run whether anyone is home or not.
    if (traits.softener && day % (2 + (seed % 3)) === 0) at(day, 120 + between(0, 10), 50, 120);
    if (traits.sprinklers && chance(0.7)) {
      at(day, 240, 30, 900);
      at(day, 270, 25, 700);
      if (chance(0.3)) at(day, 1290, 30, 800);
    }
    if (away.has(day)) continue;
    // Home periods [from, to) in minutes of the day (may run past midnight).
    const periods: Array<[number, number]> = [];
    let morning: number;
    if (traits.schedule === 'night-shift') {
      periods.push([390, 450], [between(840, 900), 1290]);
      morning = 395;
    } else if (traits.schedule === 'evening-shift') {
      periods.push([between(540, 600), 780], [1350, 1500]);
      morning = 600;
    } else {
      const wake = between(360, 450);
      const bed = between(1320, 1410);
      if (traits.schedule === 'day' && weekday)
        periods.push([wake, wake + between(45, 90)], [between(1020, 1110), bed]);
      else periods.push([wake, bed]);
      morning = wake + 5;
    }
    const homeTime = () => {
      const total = periods.reduce((s, [a, b]) => s + (b - a), 0);
      let x = rng() * total;
      for (const [a, b] of periods) {
        if (x < b - a) return a + x;
        x -= b - a;
      }
      return periods[0]![0];
    };
    for (let p = 0; p < traits.people; p++) {
      if (chance(0.8)) at(day, morning + between(0, 50), Math.round(between(5, 10)), between(420, 600));
      if (chance(0.1)) at(day, homeTime(), Math.round(between(10, 14)), between(700, 900));
      const flushes = Math.floor(between(3, 7));
      for (let k = 0; k < flushes; k++) at(day, homeTime(), 2, 180);
      const taps = Math.floor(between(3, 8));
      for (let k = 0; k < taps; k++) at(day, homeTime(), 1, between(120, 400));
      if (traits.nightToilets && traits.schedule !== 'night-shift' && chance(0.15)) at(day, between(30, 300), 2, 180);
    }
    const evening = periods[periods.length - 1]!;
    for (let k = 0; k < 4; k++) at(day, between(evening[0], evening[1]), 2, between(200, 400));
    if (traits.nightAppliances && chance(0.8)) {
      for (const m of [60, 85, 115, 150, 170]) at(day, m, 2, 120);
    } else if (chance(0.5)) {
      const s = between(evening[0], evening[1] - 60);
      for (const m of [0, 25, 55, 80]) at(day, s + m, 2, 120);
    }
    if (chance(0.4)) {
      const s = traits.nightAppliances && chance(0.5) ? 1410 : homeTime();
      for (const m of [0, 10, 40, 60, 75]) at(day, s + m, 3, 300);
    }
    if (traits.pool && chance(0.3)) {
      if (chance(0.5)) at(day, between(780, 900), Math.round(between(60, 180)), between(600, 900));
      else at(day, between(720, 840), Math.round(between(180, 300)), between(30, 60));
    }
  }
  return events;
}

/** A one-line description of a household, for test names and failure messages. */
export function describeHousehold(seed: number, traits: Partial<HouseholdTraits> = {}): string {
  const t = { ...householdTraits(seed), ...traits };
  const extras = (['nightAppliances', 'softener', 'sprinklers', 'pool', 'absences'] as const).filter((k) => t[k]);
  return `household ${seed} (${t.people} people, ${t.schedule}${extras.length ? `, ${extras.join(', ')}` : ''})`;
}

/** Options of {@link householdSeries}. */
export interface HouseholdSeriesOptions {
  /** Extra flow events (a leak, a burst) on top of the household's. */
  readonly extra?: readonly FlowEvent[];
  /** Traits instead of {@link householdTraits}(seed). */
  readonly traits?: Partial<HouseholdTraits>;
  /** Share of readings with ±1 L jitter (0.3); 0 for a clean register. */
  readonly jitterProbability?: number;
}

/** Readings of household `seed` over `days` days from {@link T0_MS}, every 15 min, with ±1 L jitter by default. */
export function householdSeries(seed: number, days: number, options: HouseholdSeriesOptions = {}): Reading[] {
  const traits = { ...householdTraits(seed), ...options.traits };
  return meterSeries({
    startMs: T0_MS,
    endMs: T0_MS + days * DAY_MS,
    events: [...householdEvents(seed, days, T0_MS, traits), ...(options.extra ?? [])],
    jitter: { probability: options.jitterProbability ?? 0.3, rng: mulberry32(seed + 1_000_003) },
    deviceId: `WM-${String(seed).padStart(6, '0')}`,
  });
}

/** Traits of a plain household: office workers, quiet nights, no garden, pool or softener. */
export const PLAIN_TRAITS: Partial<HouseholdTraits> = {
  schedule: 'day',
  nightToilets: false,
  nightAppliances: false,
  softener: false,
  sprinklers: false,
  pool: false,
  absences: false,
};

/** `lph` L/h from `fromHours` to `toHours` after {@link T0_MS}. */
export function flowBetween(fromHours: number, toHours: number, lph: number): FlowEvent {
  return { startMs: T0_MS + fromHours * HOUR_MS, minutes: Math.round((toHours - fromHours) * 60), lph };
}

/** A clean register (no jitter) from index 1000, read every `intervalMinutes` (15) for `hours` from {@link T0_MS}. */
export function cleanSeries(events: readonly FlowEvent[], hours: number, intervalMinutes = 15): Reading[] {
  return meterSeries({ startMs: T0_MS, endMs: T0_MS + hours * HOUR_MS, intervalMinutes, startIndexL: 1000, events });
}

/** Replaces the index of the readings at or after `fromHours` (a counter reset, a new meter). */
export function shiftIndexFrom(readings: readonly Reading[], fromHours: number, map: (indexL: number) => number) {
  return readings.map((r) => {
    const t = Date.parse(r.ts);
    return t >= T0_MS + fromHours * HOUR_MS ? meterReading(t, map(r.metrics.indexL ?? 0), r.deviceId) : r;
  });
}
