import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DeviceId, EventTime } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { rng } from './random.ts';

/**
 * Scenario files: a fleet, its seed and the faults injected into it. A scenario is data (JSON) and doubles as
 * ground truth: {@link groundTruth} expands it into the faults each device really has, with their times.
 */

/** Folder of the scenarios shipped with Vigie (normal, leak, burst, stuck, malformed, demo). */
export const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), 'scenarios');

/** Names of the shipped scenarios. */
export const BUILTIN_SCENARIOS = ['normal', 'leak', 'burst', 'stuck', 'malformed', 'demo'] as const;

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
  note: z.string().max(500).optional().describe('Free text for readers of the file.'),
};
const end = Offset.optional().describe('Offset from the run start at which the fault ends; absent = never.');

/** One injected fault. `start`/`end` are offsets from the run start; the target is deviceIds, count or share. */
export const FaultSpec = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('leak'),
    ...target,
    end,
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
  z.strictObject({ type: z.literal('stuck'), ...target, end }),
  z.strictObject({ type: z.literal('silent'), ...target, end }),
  z.strictObject({
    type: z.literal('low-battery'),
    ...target,
    end,
    batteryPct: z.number().min(0).max(100).default(8).describe('Battery level the meter falls to, %.'),
    rampMinutes: z.number().nonnegative().default(0).describe('Minutes to fall to it (0 = at once).'),
  }),
  z.strictObject({
    type: z.literal('flag'),
    ...target,
    end,
    flag: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,32}$/)
      .default('tamper')
      .describe('Flag the meter raises (tamper, magnetic, ...).'),
  }),
  z.strictObject({
    type: z.literal('malformed'),
    ...target,
    end,
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
export type MalformedSort = Extract<FaultSpec, { type: 'malformed' }>['sort'];

/** A scenario file (simulators/scenarios/*.json). */
export const Scenario = z
  .strictObject({
    $schema: z.string().optional().describe('Ignored; lets editors find a JSON schema.'),
    description: z.string().min(1).max(2000).describe('The device situation, in plain words.'),
    kind: z.literal('water-meter').default('water-meter').describe('Device kind simulated.'),
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
      .describe("Households' local time zone."),
    speed: z.number().positive().default(1).describe('Suggested clock speed for `vigie simulate` (1 = real time).'),
    durationHours: z.number().positive().optional().describe('Suggested run length; absent = until stopped.'),
    flowMetric: z.enum(['on', 'off']).default('on').describe('Whether meters report flowLph.'),
    faults: z.array(FaultSpec).default([]).describe('Injected faults.'),
  })
  .superRefine((s, ctx) => {
    s.faults.forEach((f, i) => {
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
        const n = deviceIndex(id);
        if (n === undefined || n >= s.devices) {
          ctx.addIssue({
            code: 'custom',
            path: ['faults', i, 'deviceIds'],
            message: `faults[${i}].deviceIds: ${id} (one of WM-000001…${deviceIdFor(s.devices - 1)})`,
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

/** Reads and parses a scenario file, or a shipped one by name (`demo`, `leak`, …). */
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

/** The id of the `index`-th meter (0-based): `WM-000001`, `WM-000002`, … */
export function deviceIdFor(index: number): string {
  return `WM-${String(index + 1).padStart(6, '0')}`;
}

/** The 0-based index of a simulated meter id, or undefined when it is not one. */
export function deviceIndex(deviceId: string): number | undefined {
  const m = /^WM-(\d{6,})$/.exec(deviceId);
  if (!m) return undefined;
  const n = Number(m[1]) - 1;
  return n >= 0 ? n : undefined;
}

/** A fault as applied to one device, with absolute times (epoch ms) and per-device values drawn. */
export type FaultInstance = { readonly deviceId: string; readonly startMs: number; readonly endMs: number | null } & (
  | { readonly type: 'leak'; readonly rateLph: number }
  | { readonly type: 'burst'; readonly rateLph: number }
  | { readonly type: 'backflow'; readonly litres: number }
  | { readonly type: 'stuck' }
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

const round1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Assigns the scenario's faults to devices: explicit ids first, then `count`/`share` faults take the next meters
 * of a seeded shuffle (so two faults land on different meters while the fleet lasts). Returns faults per device.
 */
export function resolveFaults(scenario: Scenario, options: RunOptions = {}): Map<string, FaultInstance[]> {
  const { devices, seed, startMs } = effectiveRun(scenario, options);
  const explicit = new Set<number>();
  for (const f of scenario.faults) {
    for (const id of f.deviceIds ?? []) {
      const n = deviceIndex(id);
      if (n === undefined || n >= devices) {
        throw new AppError(
          'ERR_SCENARIO_INVALID',
          `fault target: ${id} (not in a fleet of ${devices} meters, WM-000001…${deviceIdFor(devices - 1)})`,
        );
      }
      explicit.add(n);
    }
  }
  const all = Array.from({ length: devices }, (_, i) => i);
  const free = rng(seed, 'faults').shuffle(all.filter((i) => !explicit.has(i)));
  const pool = free.length > 0 ? free : rng(seed, 'faults').shuffle(all);
  let cursor = 0;
  const out = new Map<string, FaultInstance[]>();
  const absolute = (offsetMs: number | undefined): number | null =>
    offsetMs === undefined ? null : startMs + offsetMs;
  scenario.faults.forEach((f, fi) => {
    let targets: number[];
    if (f.deviceIds) targets = f.deviceIds.map((id) => deviceIndex(id) as number);
    else {
      const n = Math.min(devices, f.count ?? Math.max(1, Math.round((f.share ?? 0) * devices)));
      targets = Array.from({ length: n }, () => pool[cursor++ % pool.length] as number);
    }
    for (const index of targets) {
      const deviceId = deviceIdFor(index);
      const r = rng(seed, 'fault', fi, deviceId);
      const s = startMs + f.start;
      const draw = (x: { min: number; max: number }) => round1(r.uniform(x.min, x.max));
      let inst: FaultInstance;
      switch (f.type) {
        case 'leak':
          inst = { type: f.type, deviceId, startMs: s, endMs: absolute(f.end), rateLph: draw(f.rateLph) };
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
          inst = { type: f.type, deviceId, startMs: s, endMs: absolute(f.end) };
          break;
        case 'low-battery':
          inst = {
            type: f.type,
            deviceId,
            startMs: s,
            endMs: absolute(f.end),
            batteryPct: f.batteryPct,
            rampMinutes: f.rampMinutes,
          };
          break;
        case 'flag':
          inst = { type: f.type, deviceId, startMs: s, endMs: absolute(f.end), flag: f.flag };
          break;
        case 'malformed':
          inst = { type: f.type, deviceId, startMs: s, endMs: absolute(f.end), sort: f.sort, ratio: f.ratio };
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

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One fault of one device in ground truth: times as ISO strings, `endTs` null when it never ends. */
export type GroundTruthFault = DistributiveOmit<FaultInstance, 'deviceId' | 'startMs' | 'endMs'> & {
  readonly startTs: string;
  readonly endTs: string | null;
};

/** Ground truth for one device. */
export interface DeviceGroundTruth {
  readonly deviceId: string;
  readonly faults: readonly GroundTruthFault[];
}

/** The faults each device really has in a run of `scenario`, devices in id order (only devices with faults). */
export function groundTruth(scenario: Scenario, options: RunOptions = {}): DeviceGroundTruth[] {
  const byDevice = resolveFaults(scenario, options);
  return [...byDevice.keys()].sort().map((deviceId) => ({
    deviceId,
    faults: (byDevice.get(deviceId) ?? []).map(({ deviceId: _d, startMs, endMs, ...rest }) => ({
      ...rest,
      startTs: new Date(startMs).toISOString(),
      endTs: endMs === null ? null : new Date(endMs).toISOString(),
    })),
  }));
}
