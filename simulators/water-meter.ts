import type { Reading } from '../core/contracts/index.ts';
import { telemetryTopic } from '../core/contracts/index.ts';
import { zoneOffsetMs } from '../core/local-time.ts';
import { brokenPayload, type ReadingMessage } from './message.ts';
import { type Random, rng } from './random.ts';
import type { FaultInstance } from './scenario.ts';

/** Message helpers, re-exported here for existing importers (they live in message.ts). */
export { OVERSIZED_PAYLOAD_BYTES, payloadOf, type SimMessage } from './message.ts';

/**
 * A household water-demand model and the meter that measures it (DOMAIN.md "Water meters").
 *
 * Each meter draws, from the seed and its id, a household: 1–5 occupants with habits (wake and bed times,
 * showers, workday absence, night shifts), appliances (dishwasher, washing machine, water softener), garden
 * sprinklers and pools. Each local day is then planned as a list of water uses (start, end, L/h) from a stream
 * seeded by (seed, device, day), so a day never depends on the days before it. The true cumulative volume is the
 * integral of those uses plus injected faults; the register reports whole litres with an occasional ±1 L jitter.
 *
 * The rule leak detectors rely on holds by construction: every household keeps a reserved rest window of
 * {@link REST_WINDOW_MINUTES} each night (starting between 00:00 and 03:15 local, the same time every night) in
 * which no use is planned; a use that would fall in it is moved to just after it. Known limits: the Kamstrup rule
 * ("an hour at rest within the last 24 h") needs the proof of rest to recur within 23 h, so the window lasts 2.5 h;
 * on the night clocks go back (25 h day) a household busy all night may miss it by an hour.
 */

/** Minutes of the nightly window each household keeps free of any use (≥ 2 h 15 min: see the file header). */
export const REST_WINDOW_MINUTES = 150;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

// ---------------------------------------------------------------------------------------------------------------
// Local time (VIGIE_TZ): midnights are computed with Intl and cached, shared by all meters.

const midnights = new Map<string, Map<number, number>>();
const MIDNIGHT_CACHE_MAX = 50_000;

/** Offset of a time zone from UTC (core/local-time.ts), re-exported for the simulators' users. */
export { zoneOffsetMs };

/** UTC epoch ms of local midnight starting local day `day` (days since 1970-01-01 in local dates). */
export function localMidnightMs(timeZone: string, day: number): number {
  let zone = midnights.get(timeZone);
  if (!zone) {
    zone = new Map();
    midnights.set(timeZone, zone);
  }
  const hit = zone.get(day);
  if (hit !== undefined) return hit;
  const guess = day * DAY_MS;
  let utc = guess - zoneOffsetMs(timeZone, guess);
  utc = guess - zoneOffsetMs(timeZone, utc);
  if (zone.size >= MIDNIGHT_CACHE_MAX) zone.clear();
  zone.set(day, utc);
  return utc;
}

/** The local day (days since 1970-01-01 in local dates) that contains `utcMs`. */
export function localDayOf(timeZone: string, utcMs: number): number {
  let d = Math.floor(utcMs / DAY_MS);
  while (localMidnightMs(timeZone, d + 1) <= utcMs) d++;
  while (localMidnightMs(timeZone, d) > utcMs) d--;
  return d;
}

/** Local hour of day (0–23.99) at `utcMs`. */
export function localHourOf(timeZone: string, utcMs: number): number {
  return (utcMs - localMidnightMs(timeZone, localDayOf(timeZone, utcMs))) / HOUR_MS;
}

// ---------------------------------------------------------------------------------------------------------------
// Household profile, drawn once per meter.

type Role = 'worker' | 'student' | 'home' | 'night-shift';

/** One occupant's habits; times are local minutes after midnight. */
export interface Occupant {
  readonly role: Role;
  readonly wakeMin: number;
  readonly weekendExtraMin: number;
  readonly bedMin: number;
  readonly leaveAfterWakeMin: number;
  readonly returnMin: number;
  readonly showerMinutes: number;
  readonly showerRateLph: number;
  readonly showerInMorning: boolean;
  readonly showerChance: number;
  /** Night-shift workers: works the night starting on these weekdays (0 = Sunday). */
  readonly nightShiftDays: readonly boolean[];
}

/** A household: who lives there and what uses water; drawn from the seed and the device id. */
export interface Household {
  readonly occupants: readonly Occupant[];
  readonly dishwasher: { readonly atNight: boolean; readonly startMin: number; readonly dailyChance: number } | null;
  readonly washingMachine: { readonly dailyChance: number; readonly atNight: boolean };
  readonly softener: { readonly startMin: number; readonly everyDays: number; readonly phase: number } | null;
  readonly sprinkler: {
    readonly startMin: number;
    readonly durationMinutes: number;
    readonly rateLph: number;
    readonly everyDays: number;
    readonly phase: number;
  } | null;
  readonly pool: { readonly rateLph: number } | null;
  /** Travel propensity (0.3–2): scales the chance of holidays. */
  readonly travel: number;
  /** Start of the reserved nightly rest window, local minutes. */
  readonly restStartMin: number;
}

function drawOccupant(r: Random, role: Role): Occupant {
  const early = role === 'worker' ? 385 : role === 'student' ? 410 : 450;
  return {
    role,
    wakeMin: Math.round(r.normal(early, 30, 300, 570)),
    weekendExtraMin: Math.round(r.uniform(45, 150)),
    bedMin: Math.round(r.normal(1365, 40, 1290, 1470)),
    leaveAfterWakeMin: Math.round(r.uniform(40, 95)),
    returnMin: Math.round(r.normal(role === 'student' ? 1020 : 1110, 40, 960, 1200)),
    showerMinutes: r.normal(8, 3, 3, 20),
    showerRateLph: r.uniform(420, 720),
    showerInMorning: r.chance(0.7),
    showerChance: r.uniform(0.7, 1),
    nightShiftDays: [0, 1, 2, 3, 4, 5, 6].map((wd) => wd >= 0 && wd <= 4),
  };
}

/** Draws the household of a meter from the seed. */
export function drawHousehold(seed: string, deviceId: string): Household {
  const r = rng(seed, deviceId, 'household');
  const n = r.weighted([
    [1, 30],
    [2, 33],
    [3, 15],
    [4, 14],
    [5, 8],
  ] as const);
  const nightShift = r.chance(0.08);
  const occupants: Occupant[] = [];
  for (let i = 0; i < n; i++) {
    let role: Role;
    if (i === 0 && nightShift) role = 'night-shift';
    else if (i >= 2) role = r.chance(0.85) ? 'student' : 'home';
    else
      role = r.weighted([
        ['worker', 62],
        ['home', 30],
        ['student', 8],
      ] as const);
    occupants.push(drawOccupant(r, role));
  }
  const dishwasher = r.chance(0.6)
    ? {
        atNight: r.chance(0.4),
        startMin: r.int(1320, 1620),
        dailyChance: Math.min(1, 0.35 + 0.15 * n),
      }
    : null;
  const washingMachine = { dailyChance: Math.min(0.9, 0.12 + 0.12 * n), atNight: r.chance(0.1) };
  const softener = r.chance(0.12)
    ? {
        startMin: r.weighted([
          [120, 70],
          [60, 10],
          [180, 20],
        ] as const),
        everyDays: r.int(3, 7),
        phase: r.int(0, 6),
      }
    : null;
  let sprinkler = r.chance(0.15)
    ? {
        startMin: r.weighted([
          [240, 60],
          [270, 10],
          [300, 15],
          [1290, 15],
        ] as const),
        durationMinutes: r.int(30, 60),
        rateLph: r.uniform(600, 900),
        everyDays: r.int(1, 3),
        phase: r.int(0, 2),
      }
    : null;
  const pool = r.chance(0.04) ? { rateLph: r.uniform(170, 230) } : null;
  const travel = r.uniform(0.3, 2);
  const pickRest = (): number | undefined => {
    const blocked: Array<[number, number]> = [];
    if (softener) blocked.push([softener.startMin - 5, softener.startMin + 45]);
    if (sprinkler) blocked.push([sprinkler.startMin - 5, sprinkler.startMin + sprinkler.durationMinutes + 5]);
    const candidates: number[] = [];
    for (let m = 0; m <= 195; m += 5) {
      if (blocked.every(([a, b]) => m + REST_WINDOW_MINUTES <= a || m >= b)) candidates.push(m);
    }
    return candidates.length > 0 ? r.pick(candidates) : undefined;
  };
  let restStartMin = pickRest();
  if (restStartMin === undefined && sprinkler) {
    sprinkler = { ...sprinkler, startMin: 1290 };
    restStartMin = pickRest();
  }
  return {
    occupants,
    dishwasher,
    washingMachine,
    softener,
    sprinkler,
    pool,
    travel,
    restStartMin: restStartMin ?? 30,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// One local day of uses.

interface Use {
  startMin: number;
  durationMin: number;
  rateLph: number;
  /** Uses of one appliance cycle share a group and move together. */
  group?: number;
}

/** True when the household is away (holiday, absence) on local day `day`. */
export function isAway(seed: string, deviceId: string, h: Household, day: number): boolean {
  const block = Math.floor(day / 14);
  for (const b of [block - 1, block]) {
    const r = rng(seed, deviceId, 'away', b);
    const month = new Date(b * 14 * DAY_MS).getUTCMonth() + 1;
    const season = month === 7 || month === 8 ? 3.5 : month === 12 || month === 4 || month === 10 ? 1.6 : 1;
    const p = Math.min(0.9, 0.04 * season * h.travel);
    if (r.chance(p)) {
      const start = b * 14 + r.int(0, 13);
      const length = r.int(2, 14);
      if (day >= start && day < start + length) return true;
    }
  }
  return false;
}

/** Rainy days skip sprinklers; drawn city-wide per day. */
function isRainy(seed: string, day: number): boolean {
  return rng(seed, 'rain', day).chance(0.3);
}

/** The uses of one household on local day `day`, in local minutes (may run past 1440 into the next day). */
export function planDay(seed: string, deviceId: string, h: Household, day: number): Use[] {
  const r = rng(seed, deviceId, 'day', day);
  const uses: Use[] = [];
  const weekday = (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  const yesterday = (weekday + 6) % 7;
  const weekend = weekday === 0 || weekday === 6;
  const month = new Date(day * DAY_MS).getUTCMonth() + 1;
  const summer = month >= 5 && month <= 9;
  let group = 0;
  const use = (startMin: number, litres: number, rateLph: number, g?: number) => {
    if (litres <= 0) return;
    uses.push({ startMin, durationMin: (litres / rateLph) * 60, rateLph, ...(g === undefined ? {} : { group: g }) });
  };
  const toilet = (m: number) => use(m, r.uniform(6, 9), r.uniform(360, 480));
  const tap = (m: number, min = 0.5, max = 3) => use(m, r.uniform(min, max), r.uniform(300, 500));
  const awakeAt = (from: number, to: number, toiletEveryMin = 160, tapEveryMin = 50) => {
    if (to <= from) return;
    for (let i = r.poisson((to - from) / toiletEveryMin); i > 0; i--) toilet(r.uniform(from, to));
    for (let i = r.poisson((to - from) / tapEveryMin); i > 0; i--) tap(r.uniform(from, to));
  };

  // Timers run whether anyone is home or not.
  if (h.sprinkler && summer && (day + h.sprinkler.phase) % h.sprinkler.everyDays === 0 && !isRainy(seed, day)) {
    const s = h.sprinkler;
    uses.push({ startMin: s.startMin + r.uniform(0, 1), durationMin: s.durationMinutes, rateLph: s.rateLph });
  }
  if (h.pool && summer && r.chance(month >= 6 && month <= 8 ? 0.35 : 0.2)) {
    uses.push({ startMin: r.uniform(600, 1020), durationMin: r.uniform(60, 180), rateLph: h.pool.rateLph });
  }
  if (isAway(seed, deviceId, h, day)) return finish(uses, h, r);

  if (h.softener && (day + h.softener.phase) % h.softener.everyDays === 0) {
    const minutes = r.uniform(20, 40);
    uses.push({ startMin: h.softener.startMin, durationMin: minutes, rateLph: (r.uniform(50, 150) / minutes) * 60 });
  }

  let homeNoon = false;
  let homeEvening = false;
  for (const o of h.occupants) {
    if (o.role === 'night-shift') {
      const workedLastNight = o.nightShiftDays[yesterday] === true;
      const worksTonight = o.nightShiftDays[weekday] === true;
      let wake: number;
      if (workedLastNight) {
        const back = r.uniform(360, 400);
        toilet(back + r.uniform(0, 5));
        if (r.chance(o.showerChance))
          use(back + r.uniform(5, 20), (o.showerMinutes * o.showerRateLph) / 60, o.showerRateLph);
        tap(back + r.uniform(10, 40), 1, 2);
        wake = r.uniform(810, 870); // slept ~07:00–14:00
        if (r.chance(0.3)) toilet(r.uniform(600, 780));
      } else {
        wake = r.uniform(560, 640);
        tap(wake + r.uniform(3, 12), 1.5, 4);
      }
      const leave = worksTonight ? r.uniform(1270, 1300) : 1470 + r.uniform(-20, 30);
      toilet(wake + r.uniform(0, 5));
      awakeAt(wake, leave);
      if (!worksTonight) {
        tap(leave - r.uniform(5, 15), 1.5, 3);
        toilet(leave - r.uniform(0, 10));
      }
      homeEvening ||= leave > 1140 && wake < 1140;
      homeNoon ||= wake < 750;
      continue;
    }
    const away = !weekend && (o.role === 'worker' || o.role === 'student') && !r.chance(0.05);
    const wake = o.wakeMin + (weekend ? o.weekendExtraMin : 0) + r.normal(0, 10, -30, 30);
    const bed = o.bedMin + (weekend ? 30 : 0) + r.normal(0, 15, -40, 40);
    toilet(wake + r.uniform(0, 5));
    tap(wake + r.uniform(3, 12), 1.5, 4);
    if (r.chance(0.6)) tap(wake + r.uniform(10, 40), 1, 2);
    const shower = r.chance(o.showerChance);
    if (shower && o.showerInMorning) {
      const minutes = o.showerMinutes * r.uniform(0.8, 1.2);
      use(wake + r.uniform(5, 30), (minutes * o.showerRateLph) / 60, o.showerRateLph);
    }
    if (away) {
      const leave = wake + o.leaveAfterWakeMin;
      const back = o.returnMin + r.normal(0, 20, -60, 60);
      awakeAt(wake + 5, leave);
      toilet(back + r.uniform(0, 15));
      awakeAt(back, bed);
      homeEvening = true;
    } else {
      const outing = r.chance(0.4) ? r.uniform(600, 960) : undefined;
      awakeAt(wake + 5, outing ?? bed);
      if (outing !== undefined) awakeAt(outing + r.uniform(90, 180), bed);
      homeNoon = true;
      homeEvening = true;
    }
    if (shower && !o.showerInMorning) {
      const minutes = o.showerMinutes * r.uniform(0.8, 1.2);
      use(bed - r.uniform(30, 120), (minutes * o.showerRateLph) / 60, o.showerRateLph);
    } else if (r.chance(0.04)) {
      use(bed - r.uniform(60, 150), r.uniform(120, 160), 900);
    }
    tap(bed - r.uniform(5, 15), 1, 2.5);
    toilet(bed - r.uniform(0, 10));
    for (let i = r.poisson(0.25); i > 0; i--) toilet(r.uniform(bed + 30, 1440 + o.wakeMin - 20));
  }

  // Meals and kitchen.
  if (homeNoon) for (let i = r.int(2, 4); i > 0; i--) tap(r.uniform(690, 800), 1, 3);
  if (homeEvening) {
    for (let i = r.int(3, 7); i > 0; i--) tap(r.uniform(1110, 1230), 1, 4);
    if (!h.dishwasher) use(r.uniform(1190, 1290), r.uniform(10, 20), 500);
  }
  if (h.dishwasher && (homeEvening || homeNoon) && r.chance(h.dishwasher.dailyChance)) {
    const start = h.dishwasher.atNight ? h.dishwasher.startMin + r.uniform(0, 5) : r.uniform(1230, 1320);
    const cycle = r.uniform(100, 160);
    const g = ++group;
    for (const [at, litres] of [
      [0, 2.5],
      [0.15, 3.5],
      [0.55, 3],
      [0.8, 3],
    ] as const) {
      use(start + at * cycle, litres * r.uniform(0.85, 1.15), 420, g);
    }
  }
  if (r.chance(h.washingMachine.dailyChance)) {
    const start = h.washingMachine.atNight
      ? r.uniform(1380, 1440)
      : weekend || homeNoon
        ? r.uniform(540, 1200)
        : r.uniform(1110, 1260);
    const cycle = r.uniform(60, 110);
    const g = ++group;
    for (let i = 0; i < 5; i++) use(start + (i / 5) * cycle + r.uniform(0, 4), r.uniform(8, 12), 600, g);
  }
  if (r.chance(0.1)) use(r.uniform(600, 1140), r.uniform(8, 12), 500);
  return finish(uses, h, r);
}

/** Moves any use (or appliance cycle) out of the reserved rest windows, then sorts by start. */
function finish(uses: Use[], h: Household, r: Random): Use[] {
  const windows = [-1440, 0, 1440].map((k) => [h.restStartMin + k, h.restStartMin + k + REST_WINDOW_MINUTES] as const);
  const groups = new Map<number, Use[]>();
  const singles: Use[][] = [];
  for (const u of uses) {
    if (u.group === undefined) singles.push([u]);
    else {
      const g = groups.get(u.group) ?? [];
      g.push(u);
      groups.set(u.group, g);
    }
  }
  for (const set of [...singles, ...groups.values()]) {
    for (let pass = 0; pass < 3; pass++) {
      const from = Math.min(...set.map((u) => u.startMin));
      const to = Math.max(...set.map((u) => u.startMin + u.durationMin));
      const hit = windows.find(([a, b]) => from < b && to > a);
      if (!hit) break;
      const shift = hit[1] + r.uniform(1, 10) - from;
      for (const u of set) u.startMin += shift;
    }
  }
  return uses.sort((a, b) => a.startMin - b.startMin);
}

// ---------------------------------------------------------------------------------------------------------------
// The meter.

/** What a meter needs to run. */
export interface WaterMeterOptions {
  readonly deviceId: string;
  readonly seed: string;
  /** IANA zone of the households' local time. */
  readonly timeZone: string;
  /** Reporting interval, ms. */
  readonly intervalMs: number;
  /** Run start, epoch ms. */
  readonly startMs: number;
  /** Faults of this device (from resolveFaults). */
  readonly faults: readonly FaultInstance[];
  /** Whether readings carry flowLph. */
  readonly flowMetric: 'on' | 'off';
}

const round1 = (x: number) => {
  const v = Math.round(x * 10) / 10;
  return v === 0 ? 0 : v;
};

/** Share of a litre near each boundary where the register may read ±1 L off (−1 just past it, +1 just before). */
const JITTER_ZONE = 0.15;
/** Chance that a reading inside that zone is off by 1 L. */
const JITTER_CHANCE = 0.1;

/**
 * One simulated water meter. Call {@link WaterMeterSim.step} with strictly increasing reading times (each slot
 * boundary + {@link WaterMeterSim.offsetMs}); it integrates the household's uses and the faults since the last call.
 */
export class WaterMeterSim {
  /** This meter's offset after each interval boundary, ms (0–59 999, from the seed). */
  readonly offsetMs: number;
  /** The household behind the meter. */
  readonly household: Household;
  private readonly stream: Random;
  private readonly days = new Map<number, Float64Array>();
  private lastMs: number;
  private volumeL: number;
  private registerL: number;
  private readonly batteryStartPct: number;
  private readonly batteryLossPctPerMs: number;
  private readonly tempOffsetC: number;

  constructor(private readonly o: WaterMeterOptions) {
    const r = rng(o.seed, o.deviceId, 'meter');
    this.offsetMs = r.int(0, 59) * 1000 + r.int(0, 999);
    this.household = drawHousehold(o.seed, o.deviceId);
    this.volumeL = r.uniform(5_000, 900_000);
    this.registerL = this.volumeL;
    this.batteryStartPct = r.uniform(35, 100);
    // A 3.6 V lithium cell lasts 10–15 years.
    this.batteryLossPctPerMs = 100 / (r.uniform(10, 15) * 365.25 * DAY_MS);
    this.tempOffsetC = r.normal(0, 1, -2.5, 2.5);
    this.stream = rng(o.seed, o.deviceId, 'readings');
    const firstSlot = Math.ceil((o.startMs - this.offsetMs) / o.intervalMs) * o.intervalMs;
    this.lastMs = firstSlot + this.offsetMs - o.intervalMs;
  }

  /** The device id. */
  get deviceId(): string {
    return this.o.deviceId;
  }

  /** The uses planned on local day `day`, flattened as [startMs, endMs, rateLph, …] (cached for a few days). */
  private dayUses(day: number): Float64Array {
    const hit = this.days.get(day);
    if (hit) return hit;
    const uses = planDay(this.o.seed, this.o.deviceId, this.household, day);
    const out = new Float64Array(uses.length * 3);
    uses.forEach((u, i) => {
      const start = this.localToMs(day, u.startMin);
      out[i * 3] = start;
      out[i * 3 + 1] = this.localToMs(day, u.startMin + u.durationMin);
      out[i * 3 + 2] = u.rateLph;
    });
    if (this.days.size >= 3) this.days.delete(this.days.keys().next().value as number);
    this.days.set(day, out);
    return out;
  }

  private localToMs(day: number, minute: number): number {
    const d = day + Math.floor(minute / 1440);
    return localMidnightMs(this.o.timeZone, d) + (minute - (d - day) * 1440) * MINUTE_MS;
  }

  private cachedDay = Number.NaN;
  private cachedDayFromMs = 0;
  private cachedDayToMs = 0;

  /** localDayOf, remembering the last day: readings move forward a few minutes at a time. */
  private dayOf(tsMs: number): number {
    if (tsMs >= this.cachedDayFromMs && tsMs < this.cachedDayToMs) return this.cachedDay;
    const d = localDayOf(this.o.timeZone, tsMs);
    this.cachedDay = d;
    this.cachedDayFromMs = localMidnightMs(this.o.timeZone, d);
    this.cachedDayToMs = localMidnightMs(this.o.timeZone, d + 1);
    return d;
  }

  /** Household demand in litres over (fromMs, toMs]. */
  demandL(fromMs: number, toMs: number): number {
    let litres = 0;
    const first = this.dayOf(fromMs) - 1;
    const last = this.dayOf(toMs);
    for (let d = first; d <= last; d++) {
      const uses = this.dayUses(d);
      for (let i = 0; i < uses.length; i += 3) {
        const overlap = Math.min(toMs, uses[i + 1] as number) - Math.max(fromMs, uses[i] as number);
        if (overlap > 0) litres += ((uses[i + 2] as number) * overlap) / HOUR_MS;
      }
    }
    return litres;
  }

  private faultL(fromMs: number, toMs: number): number {
    let litres = 0;
    if (this.o.faults.length === 0) return 0;
    for (const f of this.o.faults) {
      if (f.type !== 'leak' && f.type !== 'burst' && f.type !== 'backflow') continue;
      const end = f.endMs ?? Number.POSITIVE_INFINITY;
      const overlap = Math.min(toMs, end) - Math.max(fromMs, f.startMs);
      if (overlap <= 0) continue;
      const rateLph = f.type === 'backflow' ? (-f.litres * HOUR_MS) / (end - f.startMs) : f.rateLph;
      litres += (rateLph * overlap) / HOUR_MS;
    }
    return litres;
  }

  private active(type: FaultInstance['type'], tsMs: number): FaultInstance | undefined {
    for (const f of this.o.faults) {
      if (f.type === type && tsMs >= f.startMs && (f.endMs === null || tsMs < f.endMs)) return f;
    }
    return undefined;
  }

  private naturalBatteryPct(tsMs: number): number {
    return this.batteryStartPct - (tsMs - this.o.startMs) * this.batteryLossPctPerMs;
  }

  private batteryPct(tsMs: number): number {
    let pct = this.naturalBatteryPct(tsMs);
    const low = this.active('low-battery', tsMs);
    if (low && low.type === 'low-battery') {
      const from = this.naturalBatteryPct(low.startMs);
      const k = low.rampMinutes > 0 ? Math.min(1, (tsMs - low.startMs) / (low.rampMinutes * MINUTE_MS)) : 1;
      pct = Math.min(pct, from + (low.batteryPct - from) * k);
    }
    return Math.max(0, Math.min(100, Math.floor(pct)));
  }

  private tempC(tsMs: number): number {
    // Mains water follows the air with a lag: coldest about end of January (~6 °C), warmest mid-August (~19 °C).
    const dayOfYear = (tsMs / DAY_MS) % 365.25;
    return round1(12.5 - 6.5 * Math.cos((2 * Math.PI * (dayOfYear - 30)) / 365.25) + this.tempOffsetC);
  }

  /**
   * The meter's message at `tsMs` (its next reading time), or undefined when it is silent. Every call draws the
   * same number of random values, so faults never change the rest of the run.
   */
  step(tsMs: number): ReadingMessage | undefined {
    const uJitter = this.stream.next();
    const uBroken = this.stream.next();
    const uCut = this.stream.next();
    const uTemp = this.stream.next();
    const fromMs = this.lastMs;
    const delta = this.demandL(fromMs, tsMs) + this.faultL(fromMs, tsMs);
    this.volumeL += delta;
    const stuck = this.active('stuck', tsMs) !== undefined;
    if (!stuck) this.registerL += delta;
    this.lastMs = tsMs;
    if (this.active('silent', tsMs)) return undefined;

    // An encoder read near a litre boundary may show the next litre early or the last one late: never more than
    // 1 L off, and never 2 L backwards between two readings (a drop needs the float to be just past a litre).
    const frac = this.registerL - Math.floor(this.registerL);
    const jitter = stuck
      ? 0
      : frac >= 1 - JITTER_ZONE && uJitter < JITTER_CHANCE
        ? 1
        : frac < JITTER_ZONE && uJitter < JITTER_CHANCE
          ? -1
          : 0;
    const metrics: Record<string, number> = {
      indexL: Math.max(0, Math.floor(this.registerL) + jitter),
    };
    if (this.o.flowMetric === 'on') metrics.flowLph = stuck ? 0 : round1((delta * HOUR_MS) / (tsMs - fromMs));
    metrics.batteryPct = this.batteryPct(tsMs);
    metrics.tempC = round1(this.tempC(tsMs) + (uTemp - 0.5) * 0.4);
    const flags: string[] = [];
    for (const f of this.o.faults) {
      if (f.type === 'flag' && tsMs >= f.startMs && (f.endMs === null || tsMs < f.endMs)) flags.push(f.flag);
    }
    const reading: Reading = {
      deviceId: this.o.deviceId,
      kind: 'water-meter',
      ts: new Date(tsMs).toISOString(),
      seq: Math.floor((tsMs - this.offsetMs) / this.o.intervalMs),
      metrics,
      ...(flags.length > 0 ? { flags: [...new Set(flags)] } : {}),
    };
    const broken = this.active('malformed', tsMs);
    const malformed =
      broken && broken.type === 'malformed' && uBroken < broken.ratio
        ? { sort: broken.sort, bytes: brokenPayload(broken.sort, reading, uCut) }
        : undefined;
    return {
      deviceId: this.o.deviceId,
      kind: 'water-meter',
      tsMs,
      topic: telemetryTopic('water-meter', this.o.deviceId),
      reading,
      trueVolumeL: this.volumeL,
      ...(malformed ? { malformed } : {}),
    };
  }
}
