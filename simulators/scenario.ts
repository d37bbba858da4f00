import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DeviceId, EventTime, KINDS, type Kind, MetricName } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import type { MalformedSort } from './message.ts';
import { rng } from './random.ts';
import { SENSOR_METRICS, SENSOR_PROFILES, type SensorProfile, sensorProfileFor } from './sensor-profiles.ts';

/**
 * Scenario files: a fleet, its seed and the faults injected into it. A scenario is data (JSON) and doubles as
 * ground truth: {@link groundTruth} expands it into the faults each device really has, with their times.
 */

/** Folder of the scenarios shipped with Vigie (normal, leak, burst, stuck, malformed, demo). */
export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

/** Names of the shipped scenarios. */
export const BUILTIN_SCENARIOS = [
  'normal',
  'leak',
  'burst',
  'stuck',
  'malformed',
  'demo',
  'streetlight-normal',
  'streetlight-30d',
  'demo-streetlight',
  'parking-normal',
  'parking-30d',
  'demo-parking',
  'sensor-normal',
  'sensor-30d',
  'demo-sensor',
  'bike-station-normal',
  'bike-station-30d',
  'demo-bike-station',
  'car-share-normal',
  'demo-car-share',
  'car-park-normal',
  'car-park-30d',
  'demo-car-park',
] as const;

/** The scenario `vigie simulate --kind K` runs when no `--scenario` is given: the kind's normal fleet. */
export const DEFAULT_SCENARIO_BY_KIND: Readonly<Record<Kind, (typeof BUILTIN_SCENARIOS)[number]>> = {
  'water-meter': 'normal',
  streetlight: 'streetlight-normal',
  'parking-meter': 'parking-normal',
  sensor: 'sensor-normal',
  'bike-station': 'bike-station-normal',
  'car-share': 'car-share-normal',
  'car-park': 'car-park-normal',
};

/**
 * Device id prefixes per kind: `WM-000001`, `SL-000001`, `PM-000001`, `SN-000001`, bike stations `BS-000001`,
 * shared cars `CS-000001`, car parks `CP-000001`.
 */
export const DEVICE_ID_PREFIX: Readonly<Record<Kind, string>> = {
  'water-meter': 'WM',
  streetlight: 'SL',
  'parking-meter': 'PM',
  sensor: 'SN',
  'bike-station': 'BS',
  'car-share': 'CS',
  'car-park': 'CP',
};

const ISO_DURATION =
  /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/;

/** Parses an ISO 8601 duration (`PT2H`, `P1D`, `P1DT30M`, `P2W`; no years or months) to milliseconds, or undefined. */
export function parseIsoDurationMs(text: string): number | undefined {
  const m = ISO_DURATION.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [w, d, h, min, s] = m.slice(1).map((x) => (x === undefined ? 0 : Number(x))) as number[];
  return ((((w ?? 0) * 7 + (d ?? 0)) * 24 + (h ?? 0)) * 60 + (min ?? 0)) * 60_000 + (s ?? 0) * 1000;
}

/** An offset from the run start: an ISO 8601 duration (`PT2H`, `P1D`) or a number of minutes. Parses to ms. */
export const Offset = z.union([z.number().nonnegative(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return Math.round(v * 60_000);
  const ms = parseIsoDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(v)} is not an offset (an ISO 8601 duration such as "PT2H", "P1D", "P1DT30M", or minutes)`,
    });
    return z.NEVER;
  }
  return ms;
});

/** A value or a range `{ min, max }` drawn per device from the seed. */
const range = (schema: z.ZodNumber) =>
  z
    .union([schema, z.strictObject({ min: schema, max: schema })])
    .transform((v) => (typeof v === 'number' ? { min: v, max: v } : v))
    .refine((r) => r.min <= r.max, 'min must not exceed max');

const target = {
  deviceIds: z.array(DeviceId).min(1).optional().describe('Explicit devices, e.g. ["WM-000001"].'),
  count: z.number().int().positive().optional().describe('Or: this many devices, picked by the seed.'),
  share: z.number().gt(0).max(1).optional().describe('Or: this share of the fleet (0–1], picked by the seed.'),
  start: Offset.default(0).describe('Offset from the run start: ISO 8601 duration ("PT2H", "P1D") or minutes.'),
  spread: Offset.optional().describe(
    "Each device's start is drawn (whole minutes, from the seed) in [start, start + spread]; absent = all at start.",
  ),
  note: z.string().max(500).optional().describe('Free text for readers of the file.'),
};
const ending = {
  end: Offset.optional().describe('Offset from the run start at which the fault ends; absent = never.'),
  duration: Offset.optional().describe("Or: how long it lasts from each device's own start (ISO 8601 or minutes)."),
};
const metric = MetricName.optional().describe(
  "Sensor metric the fault acts on (default: the device's first); with count/share, only devices reporting it.",
);
const direction = z.enum(['up', 'down', 'either']).describe('Sign of the change; `either` draws it per device.');

/** One injected fault. `start`/`end` are offsets from the run start; the target is deviceIds, count or share. */
export const FaultSpec = z.discriminatedUnion('type', [
  // Water meters.
  z.strictObject({
    type: z.literal('leak'),
    ...target,
    ...ending,
    rateLph: range(z.number().gt(0).max(1000)).describe('Continuous flow added, L/h (typically 1–20).'),
  }),
  z.strictObject({
    type: z.literal('burst'),
    ...target,
    rateLph: range(z.number().gt(0).max(50_000))
      .default({ min: 3000, max: 3000 })
      .describe('Flow added during the burst, L/h.'),
    durationMinutes: z.number().positive().default(60).describe('How long the burst lasts, minutes.'),
  }),
  z.strictObject({
    type: z.literal('backflow'),
    ...target,
    litres: range(z.number().gt(0).max(10_000))
      .default({ min: 30, max: 30 })
      .describe('Litres flowing back (the register counts down).'),
    durationMinutes: z.number().positive().default(15).describe('Over how many minutes, evenly.'),
  }),
  z.strictObject({ type: z.literal('stuck'), ...target, ...ending }),
  // Streetlights.
  z.strictObject({ type: z.literal('lamp-failure'), ...target, ...ending }),
  z.strictObject({ type: z.literal('cycling'), ...target, ...ending }),
  z.strictObject({ type: z.literal('day-burner'), ...target, ...ending }),
  z.strictObject({
    type: z.literal('driver-drift'),
    ...target,
    ...ending,
    sharePct: range(z.number().min(-95).max(300))
      .default({ min: 30, max: 45 })
      .describe('Share the draw ends up off the rated draw, % (+ = more power), reached after rampHours.'),
    rampHours: z.number().nonnegative().max(240).default(12).describe('Hours the drift takes to reach sharePct.'),
  }),
  // Parking meters.
  z.strictObject({ type: z.literal('coin-jam'), ...target, ...ending }),
  z.strictObject({ type: z.literal('card-reader'), ...target, ...ending }),
  z.strictObject({ type: z.literal('paper-out'), ...target, ...ending }),
  z.strictObject({ type: z.literal('coin-box-full'), ...target, ...ending }),
  z.strictObject({ type: z.literal('out-of-order'), ...target, ...ending }),
  z.strictObject({
    type: z.literal('vandalism'),
    ...target,
    ...ending,
    mode: z
      .enum(['silent', 'out-of-order', 'either'])
      .default('either')
      .describe('After the door is forced: the meter falls silent, or reports out-of-order; `either` per device.'),
  }),
  // Sensors.
  z.strictObject({
    type: z.literal('spike'),
    ...target,
    metric,
    sizeSd: range(z.number().gt(0).max(1000))
      .default({ min: 12, max: 20 })
      .describe("How far out each spike reading is, in the profile's noise standard deviations."),
    direction: direction.default('up'),
    readings: z.number().int().min(1).max(50).default(3).describe('How many readings are spikes.'),
    spacingMinutes: z.number().positive().max(1440).default(120).describe('Minutes between two spikes.'),
  }),
  z.strictObject({
    type: z.literal('drift'),
    ...target,
    ...ending,
    metric,
    sdPerDay: range(z.number().gt(0).max(1000))
      .default({ min: 6, max: 10 })
      .describe("Slope of the added linear trend, the profile's noise standard deviations per day."),
    direction: direction.default('either'),
  }),
  z.strictObject({
    type: z.literal('level-shift'),
    ...target,
    ...ending,
    metric,
    sizeSd: range(z.number().gt(0).max(1000))
      .default({ min: 6, max: 10 })
      .describe("Size of the step, the profile's noise standard deviations."),
    direction: direction.default('either'),
  }),
  z.strictObject({
    type: z.literal('seasonality-change'),
    ...target,
    ...ending,
    metric,
    change: z
      .enum(['phase', 'amplitude', 'either'])
      .default('either')
      .describe('The daily pattern is shifted in time (phase) or its amplitude scaled; `either` per device.'),
    shiftHours: z.number().min(-12).max(12).default(6).describe('Phase change: hours the daily pattern moves.'),
    amplitudeFactor: z.number().min(0).max(20).default(3).describe('Amplitude change: factor on the daily swing.'),
  }),
  z.strictObject({ type: z.literal('flat-line'), ...target, ...ending, metric }),
  // Bike stations: the rebalancing truck does not come (the station stays empty, or full, until the end).
  z.strictObject({ type: z.literal('station-empty'), ...target, ...ending }),
  z.strictObject({ type: z.literal('station-full'), ...target, ...ending }),
  // Car parks: an event or a market day fills the car park (0 or 1 space free) until the end.
  z.strictObject({ type: z.literal('saturated'), ...target, ...ending }),
  // Every kind.
  z.strictObject({ type: z.literal('silent'), ...target, ...ending }),
  z.strictObject({
    type: z.literal('low-battery'),
    ...target,
    ...ending,
    batteryPct: z.number().min(0).max(100).default(8).describe('Battery level the device falls to, %.'),
    rampMinutes: z.number().nonnegative().default(0).describe('Minutes to fall to it (0 = at once).'),
  }),
  z.strictObject({
    type: z.literal('flag'),
    ...target,
    ...ending,
    flag: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/)
      .default('tamper')
      .describe('Flag the device raises (tamper, magnetic, ...).'),
  }),
  z.strictObject({
    type: z.literal('malformed'),
    ...target,
    ...ending,
    sort: z
      .enum(['truncated-json', 'wrong-types', 'huge-numbers', 'oversized'])
      .describe('What is broken in the payload.'),
    ratio: z.number().gt(0).max(1).default(1).describe('Share of the readings sent broken, picked by the seed.'),
  }),
]);
/** One injected fault, parsed. */
export type FaultSpec = z.output<typeof FaultSpec>;
/** Fault types. */
export type FaultType = FaultSpec['type'];
/** Sorts of malformed payloads. */
export type { MalformedSort };

const COMMON_FAULTS = ['silent', 'flag', 'malformed'] as const satisfies readonly FaultType[];

/** The fault types each kind accepts (low-battery only for battery-powered kinds). */
export const FAULTS_BY_KIND: Readonly<Record<Kind, readonly FaultType[]>> = {
  'water-meter': ['leak', 'burst', 'backflow', 'stuck', 'low-battery', ...COMMON_FAULTS],
  streetlight: ['lamp-failure', 'cycling', 'day-burner', 'driver-drift', ...COMMON_FAULTS],
  'parking-meter': [
    'coin-jam',
    'card-reader',
    'paper-out',
    'vandalism',
    'coin-box-full',
    'out-of-order',
    'low-battery',
    ...COMMON_FAULTS,
  ],
  sensor: ['spike', 'drift', 'level-shift', 'seasonality-change', 'flat-line', ...COMMON_FAULTS],
  'bike-station': ['station-empty', 'station-full', ...COMMON_FAULTS],
  'car-share': [...COMMON_FAULTS],
  'car-park': ['saturated', ...COMMON_FAULTS],
};

/** Why a kind has no low-battery fault: what powers it (the message of a refused low-battery fault). */
const MAINS_POWERED: Readonly<Partial<Record<Kind, string>>> = {
  streetlight: 'streetlights are mains-powered and report no battery',
  sensor: 'sensors are mains-powered and report no battery',
  'bike-station': 'bike stations are mains-powered and report no battery',
  'car-share': "shared cars' telematics run on the car's battery and report none",
  'car-park': "car parks' counters are mains-powered and report no battery",
};

/** A scenario file (simulators/scenarios/*.json). */
export const Scenario = z
  .strictObject({
    $schema: z.string().optional().describe('Ignored; lets editors find a JSON schema.'),
    description: z.string().min(1).max(2000).describe('The device situation, in plain words.'),
    kind: z.enum(KINDS).default('water-meter').describe('Device kind simulated (one per scenario).'),
    devices: z.number().int().positive().max(1_000_000).default(10).describe('Fleet size.'),
    seed: z
      .union([z.string().min(1), z.number().int()])
      .default('vigie')
      .describe('Seed of every random draw: same seed, same run.'),
    startTs: EventTime.default('2026-03-01T00:00:00Z').describe('Simulated start of the run (ISO 8601).'),
    intervalMinutes: z.number().min(1).max(1440).default(15).describe('Reporting interval, minutes.'),
    timeZone: z
      .string()
      .default('Europe/Paris')
      .refine(isTimeZone, 'an IANA time zone, e.g. Europe/Paris')
      .describe("The city's local time zone (households' days, dimming profile, paid hours, rush hours)."),
    speed: z.number().positive().default(1).describe('Suggested clock speed for `vigie simulate` (1 = real time).'),
    durationHours: z.number().positive().optional().describe('Suggested run length; absent = until stopped.'),
    flowMetric: z.enum(['on', 'off']).default('on').describe('Water meters: whether they report flowLph.'),
    lat: z.number().min(-66).max(66).default(47.75).describe('Streetlights: latitude of the city, ° N (Mulhouse).'),
    lon: z.number().min(-180).max(180).default(7.34).describe('Streetlights: longitude of the city, ° E (Mulhouse).'),
    ratedW: z
      .number()
      .gt(2)
      .max(2000)
      .default(60)
      .describe('Streetlights: rated power of every lamp at 100 %, W (one per fleet, as the detectors assume).'),
    tariffCentsPerHour: z
      .number()
      .int()
      .positive()
      .max(10_000)
      .default(150)
      .describe('Parking meters: tariff, euro cents per hour (150 = €0.50 per 20 min).'),
    profiles: z
      .array(z.enum(SENSOR_PROFILES))
      .min(1)
      .default([...SENSOR_PROFILES])
      .describe('Sensors: the profiles of the fleet, shared out evenly (river-level, air-quality, noise, wifi).'),
    riverRain: z
      .enum(['off', 'on'])
      .default('off')
      .describe('Sensors: whether rain events raise river gauges (the anomaly detector reports them; off = none).'),
    faults: z.array(FaultSpec).default([]).describe('Injected faults.'),
  })
  .superRefine((s, ctx) => {
    const allowed = FAULTS_BY_KIND[s.kind];
    const sensorMetrics = new Set(s.profiles.flatMap((p) => SENSOR_METRICS[p]));
    s.faults.forEach((f, i) => {
      if (!allowed.includes(f.type)) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'type'],
          message:
            f.type === 'low-battery'
              ? `faults[${i}]: low-battery is not a ${s.kind} fault (${MAINS_POWERED[s.kind] ?? 'no battery'}; low-battery is for water-meter and parking-meter)`
              : `faults[${i}]: ${f.type} is not a ${s.kind} fault (one of ${allowed.join(', ')})`,
        });
      }
      const given = [f.deviceIds, f.count, f.share].filter((x) => x !== undefined).length;
      if (given !== 1) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i],
          message: `faults[${i}] (${f.type}) needs exactly one of deviceIds, count, share (got ${given})`,
        });
      }
      if (f.count !== undefined && f.count > s.devices) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'count'],
          message: `faults[${i}].count: ${f.count} (at most devices = ${s.devices})`,
        });
      }
      for (const id of f.deviceIds ?? []) {
        const n = deviceIndex(id, s.kind);
        if (n === undefined || n >= s.devices) {
          ctx.addIssue({
            code: 'custom',
            path: ['faults', i, 'deviceIds'],
            message: `faults[${i}].deviceIds: ${id} (one of ${deviceIdFor(0, s.kind)}…${deviceIdFor(s.devices - 1, s.kind)})`,
          });
        }
      }
      if ('end' in f && f.end !== undefined && f.end <= f.start) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'end'],
          message: `faults[${i}].end must come after faults[${i}].start`,
        });
      }
      if ('end' in f && f.end !== undefined && 'duration' in f && f.duration !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'duration'],
          message: `faults[${i}]: end and duration both given (one of them, or neither for a fault that never ends)`,
        });
      }
      if ('duration' in f && f.duration === 0) {
        ctx.addIssue({ code: 'custom', path: ['faults', i, 'duration'], message: `faults[${i}].duration must be > 0` });
      }
      if ('end' in f && f.end !== undefined && f.spread !== undefined && f.end <= f.start + f.spread) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'end'],
          message: `faults[${i}].end must come after faults[${i}].start + spread (or use duration)`,
        });
      }
      if ('metric' in f && f.metric !== undefined && !sensorMetrics.has(f.metric)) {
        ctx.addIssue({
          code: 'custom',
          path: ['faults', i, 'metric'],
          message: `faults[${i}].metric: ${f.metric} (one of ${[...sensorMetrics].join(', ')}, from profiles ${s.profiles.join(', ')})`,
        });
      }
    });
  });
/** A parsed scenario (offsets in ms, ranges as `{min, max}`). */
export type Scenario = z.output<typeof Scenario>;
/** A scenario as written in a file. */
export type ScenarioInput = z.input<typeof Scenario>;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** Parses a scenario; throws `ERR_SCENARIO_INVALID` listing every issue. */
export function parseScenario(input: unknown, source = 'scenario'): Scenario {
  const parsed = Scenario.safeParse(input);
  if (!parsed.success) {
    throw new AppError('ERR_SCENARIO_INVALID', `${source}: invalid scenario\n${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

/** Reads and parses a scenario file, or a shipped one by name (`demo`, `leak`, `streetlight-30d`, …). */
export function loadScenario(pathOrName: string): Scenario {
  const path = (BUILTIN_SCENARIOS as readonly string[]).includes(pathOrName)
    ? join(SCENARIO_DIR, `${pathOrName}.json`)
    : pathOrName;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new AppError(
      'ERR_SCENARIO_READ',
      `scenario file: ${path} (${(err as Error).message}; a readable JSON file or one of ${BUILTIN_SCENARIOS.join(', ')})`,
      { cause: err },
    );
  }
  return parseScenario(json, path);
}

/** The id of the `index`-th device (0-based) of a kind: `WM-000001`, `SL-000002`, … (default kind water-meter). */
export function deviceIdFor(index: number, kind: Kind = 'water-meter'): string {
  return `${DEVICE_ID_PREFIX[kind]}-${String(index + 1).padStart(6, '0')}`;
}

/** The 0-based index of a simulated device id of `kind` (default water-meter), or undefined when it is not one. */
export function deviceIndex(deviceId: string, kind: Kind = 'water-meter'): number | undefined {
  const prefix = DEVICE_ID_PREFIX[kind];
  if (!deviceId.startsWith(`${prefix}-`)) return undefined;
  const m = /^(\d{6,})$/.exec(deviceId.slice(prefix.length + 1));
  if (!m) return undefined;
  const n = Number(m[1]) - 1;
  return n >= 0 ? n : undefined;
}

type Window = { readonly deviceId: string; readonly startMs: number; readonly endMs: number | null };

/** A fault as applied to one device, with absolute times (epoch ms) and per-device values drawn. */
export type FaultInstance = Window &
  (
    | { readonly type: 'leak'; readonly rateLph: number }
    | { readonly type: 'burst'; readonly rateLph: number }
    | { readonly type: 'backflow'; readonly litres: number }
    | { readonly type: 'stuck' }
    | { readonly type: 'lamp-failure' }
    | { readonly type: 'cycling' }
    | { readonly type: 'day-burner' }
    | { readonly type: 'driver-drift'; readonly sharePct: number; readonly rampHours: number }
    | { readonly type: 'coin-jam' }
    | { readonly type: 'card-reader' }
    | { readonly type: 'paper-out' }
    | { readonly type: 'coin-box-full' }
    | { readonly type: 'out-of-order' }
    | { readonly type: 'vandalism'; readonly mode: 'silent' | 'out-of-order' }
    | {
        readonly type: 'spike';
        readonly metric: string;
        readonly sizeSd: number;
        readonly readings: number;
        readonly spacingMinutes: number;
      }
    | { readonly type: 'drift'; readonly metric: string; readonly sdPerDay: number }
    | { readonly type: 'level-shift'; readonly metric: string; readonly sizeSd: number }
    | {
        readonly type: 'seasonality-change';
        readonly metric: string;
        readonly change: 'phase' | 'amplitude';
        readonly shiftHours: number;
        readonly amplitudeFactor: number;
      }
    | { readonly type: 'flat-line'; readonly metric: string }
    | { readonly type: 'station-empty' }
    | { readonly type: 'station-full' }
    | { readonly type: 'saturated' }
    | { readonly type: 'silent' }
    | { readonly type: 'low-battery'; readonly batteryPct: number; readonly rampMinutes: number }
    | { readonly type: 'flag'; readonly flag: string }
    | { readonly type: 'malformed'; readonly sort: MalformedSort; readonly ratio: number }
  );

/** Overrides applied on top of a scenario (command-line flags). */
export interface RunOptions {
  /** Fleet size (default: the scenario's). */
  readonly devices?: number;
  /** Seed (default: the scenario's). */
  readonly seed?: string | number;
  /** Run start, epoch ms (default: the scenario's startTs). Fault offsets count from it. */
  readonly startMs?: number;
}

/** The scenario's effective fleet size, seed and start once overrides are applied. */
export function effectiveRun(
  scenario: Scenario,
  options: RunOptions = {},
): { devices: number; seed: string; startMs: number } {
  return {
    devices: options.devices ?? scenario.devices,
    seed: String(options.seed ?? scenario.seed),
    startMs: options.startMs ?? Date.parse(scenario.startTs),
  };
}

/** The metrics of the `index`-th device of a scenario's fleet (sensors: its profile's; others: none named). */
export function sensorMetricsOf(scenario: Scenario, seed: string, index: number): readonly string[] {
  return SENSOR_METRICS[sensorProfileFor(seed, index, scenario.profiles)];
}

/** The profile of the `index`-th sensor of a scenario's fleet. */
export function sensorProfileOf(scenario: Scenario, seed: string, index: number): SensorProfile {
  return sensorProfileFor(seed, index, scenario.profiles);
}

const round1 = (x: number) => Math.round(x * 10) / 10;
const MINUTE_MS = 60_000;

/**
 * Assigns the scenario's faults to devices: explicit ids first, then `count`/`share` faults take the next devices
 * of a seeded shuffle (so two faults land on different devices while the fleet lasts; beyond, the shuffle wraps and
 * devices get a second fault — keep their times apart). A sensor fault naming a `metric` takes only devices that
 * report it. Returns faults per device.
 */
export function resolveFaults(scenario: Scenario, options: RunOptions = {}): Map<string, FaultInstance[]> {
  const { devices, seed, startMs } = effectiveRun(scenario, options);
  const kind = scenario.kind;
  const explicit = new Set<number>();
  for (const f of scenario.faults) {
    for (const id of f.deviceIds ?? []) {
      const n = deviceIndex(id, kind);
      if (n === undefined || n >= devices) {
        throw new AppError(
          'ERR_SCENARIO_INVALID',
          `fault target: ${id} (not in a fleet of ${devices} ${kind} devices, ${deviceIdFor(0, kind)}…${deviceIdFor(devices - 1, kind)})`,
        );
      }
      explicit.add(n);
    }
  }
  const all = Array.from({ length: devices }, (_, i) => i);
  const free = rng(seed, 'faults').shuffle(all.filter((i) => !explicit.has(i)));
  const pool = free.length > 0 ? free : rng(seed, 'faults').shuffle(all);
  let cursor = 0;
  /** Devices taken by metric-filtered faults: the plain cursor skips them while it can. */
  const takenByFiltered = new Set<number>();
  const takenAny = new Set<number>();
  const out = new Map<string, FaultInstance[]>();
  const metricsOf = (index: number) => (kind === 'sensor' ? sensorMetricsOf(scenario, seed, index) : []);
  scenario.faults.forEach((f, fi) => {
    const wanted = 'metric' in f ? f.metric : undefined;
    let targets: number[];
    if (f.deviceIds) {
      targets = f.deviceIds.map((id) => deviceIndex(id, kind) as number);
      if (wanted !== undefined) {
        for (const index of targets) {
          if (!metricsOf(index).includes(wanted)) {
            throw new AppError(
              'ERR_SCENARIO_INVALID',
              `faults[${fi}].metric: ${wanted} (${deviceIdFor(index, kind)} reports ${metricsOf(index).join(', ')})`,
            );
          }
        }
      }
    } else if (wanted === undefined) {
      const n = Math.min(devices, f.count ?? Math.max(1, Math.round((f.share ?? 0) * devices)));
      targets = [];
      for (let k = 0; k < n; k++) {
        for (let skip = 0; skip < pool.length && takenByFiltered.has(pool[cursor % pool.length] as number); skip++) {
          cursor++;
        }
        targets.push(pool[cursor++ % pool.length] as number);
      }
    } else {
      const eligible = pool.filter((i) => metricsOf(i).includes(wanted));
      const n = Math.min(eligible.length, f.count ?? Math.max(1, Math.round((f.share ?? 0) * eligible.length)));
      if (n === 0) {
        throw new AppError(
          'ERR_SCENARIO_INVALID',
          `faults[${fi}].metric: ${wanted} (no device of the fleet reports it)`,
        );
      }
      const fresh = eligible.filter((i) => !takenAny.has(i));
      targets = [...fresh, ...eligible.filter((i) => takenAny.has(i))].slice(0, n);
      for (const i of targets) takenByFiltered.add(i);
    }
    for (const index of targets) {
      takenAny.add(index);
      const deviceId = deviceIdFor(index, kind);
      const r = rng(seed, 'fault', fi, deviceId);
      const spread =
        f.spread === undefined
          ? 0
          : Math.round(rng(seed, 'fault', fi, deviceId, 'start').uniform(0, f.spread) / MINUTE_MS) * MINUTE_MS;
      const s = startMs + f.start + spread;
      const endOf = (fault: { end?: number | undefined; duration?: number | undefined }): number | null =>
        fault.end !== undefined ? startMs + fault.end : fault.duration !== undefined ? s + fault.duration : null;
      const draw = (x: { min: number; max: number }) => round1(r.uniform(x.min, x.max));
      const sign = (d: 'up' | 'down' | 'either') => (d === 'up' ? 1 : d === 'down' ? -1 : r.chance(0.5) ? 1 : -1);
      const metricOf = (m: string | undefined) => m ?? (metricsOf(index)[0] as string);
      const span = { deviceId, startMs: s, endMs: endOf(f as { end?: number; duration?: number }) };
      let inst: FaultInstance;
      switch (f.type) {
        case 'leak':
          inst = { type: f.type, ...span, rateLph: draw(f.rateLph) };
          break;
        case 'burst':
          inst = {
            type: f.type,
            deviceId,
            startMs: s,
            endMs: s + f.durationMinutes * 60_000,
            rateLph: draw(f.rateLph),
          };
          break;
        case 'backflow':
          inst = { type: f.type, deviceId, startMs: s, endMs: s + f.durationMinutes * 60_000, litres: draw(f.litres) };
          break;
        case 'stuck':
        case 'silent':
        case 'lamp-failure':
        case 'cycling':
        case 'day-burner':
        case 'coin-jam':
        case 'card-reader':
        case 'paper-out':
        case 'coin-box-full':
        case 'out-of-order':
        case 'station-empty':
        case 'station-full':
        case 'saturated':
          inst = { type: f.type, ...span };
          break;
        case 'driver-drift':
          inst = {
            type: f.type,
            ...span,
            sharePct: draw(f.sharePct),
            rampHours: f.rampHours,
          };
          break;
        case 'vandalism':
          inst = {
            type: f.type,
            ...span,
            mode: f.mode === 'either' ? (r.chance(0.5) ? 'silent' : 'out-of-order') : f.mode,
          };
          break;
        case 'spike':
          inst = {
            type: f.type,
            deviceId,
            startMs: s,
            endMs: s + (f.readings - 1) * f.spacingMinutes * MINUTE_MS + scenario.intervalMinutes * MINUTE_MS,
            metric: metricOf(f.metric),
            sizeSd: sign(f.direction) * draw(f.sizeSd),
            readings: f.readings,
            spacingMinutes: f.spacingMinutes,
          };
          break;
        case 'drift':
          inst = {
            type: f.type,
            ...span,
            metric: metricOf(f.metric),
            sdPerDay: sign(f.direction) * draw(f.sdPerDay),
          };
          break;
        case 'level-shift':
          inst = {
            type: f.type,
            ...span,
            metric: metricOf(f.metric),
            sizeSd: sign(f.direction) * draw(f.sizeSd),
          };
          break;
        case 'seasonality-change':
          inst = {
            type: f.type,
            ...span,
            metric: metricOf(f.metric),
            change: f.change === 'either' ? (r.chance(0.5) ? 'phase' : 'amplitude') : f.change,
            shiftHours: f.shiftHours,
            amplitudeFactor: f.amplitudeFactor,
          };
          break;
        case 'flat-line':
          inst = { type: f.type, ...span, metric: metricOf(f.metric) };
          break;
        case 'low-battery':
          inst = {
            type: f.type,
            ...span,
            batteryPct: f.batteryPct,
            rampMinutes: f.rampMinutes,
          };
          break;
        case 'flag':
          inst = { type: f.type, ...span, flag: f.flag };
          break;
        case 'malformed':
          inst = { type: f.type, ...span, sort: f.sort, ratio: f.ratio };
          break;
      }
      const list = out.get(deviceId) ?? [];
      list.push(inst);
      out.set(deviceId, list);
    }
  });
  for (const list of out.values()) list.sort((a, b) => a.startMs - b.startMs);
  return out;
}

/** True while `f` is on at `tsMs` (start included, end excluded). */
export function isActive(f: FaultInstance, tsMs: number): boolean {
  return tsMs >= f.startMs && (f.endMs === null || tsMs < f.endMs);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One fault of one device in ground truth: times as ISO strings, `endTs` null when it never ends. */
export type GroundTruthFault = DistributiveOmit<FaultInstance, 'deviceId' | 'startMs' | 'endMs'> & {
  readonly startTs: string;
  readonly endTs: string | null;
};

/** Ground truth for one device. */
export interface DeviceGroundTruth {
  readonly deviceId: string;
  readonly kind: Kind;
  readonly faults: readonly GroundTruthFault[];
}

/** The faults each device really has in a run of `scenario`, devices in id order (only devices with faults). */
export function groundTruth(scenario: Scenario, options: RunOptions = {}): DeviceGroundTruth[] {
  const byDevice = resolveFaults(scenario, options);
  return [...byDevice.keys()].sort().map((deviceId) => ({
    deviceId,
    kind: scenario.kind,
    faults: (byDevice.get(deviceId) ?? []).map(({ deviceId: _d, startMs, endMs, ...rest }) => ({
      ...rest,
      startTs: new Date(startMs).toISOString(),
      endTs: endMs === null ? null : new Date(endMs).toISOString(),
    })),
  }));
}
