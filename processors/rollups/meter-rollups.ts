/**
 * The per-meter rollups of one partition of `readings.water-meter.v1`: orders each meter's readings by event time
 * (the processors engine's rules: duplicates of a recent timestamp dropped, a reorder buffer of at most
 * {@link REORDER_BUFFER_MAX} readings released once the partition's watermark — newest event time less
 * `reorderToleranceMs` — passes them, older-than-released readings dropped as late), then runs {@link stepMeter}.
 * Synchronous and deterministic: the same readings in the same order give the same rollups.
 *
 * Memory per meter: the reorder buffer (usually 0–1 pairs, at most 16), 4 recent timestamps and the step state:
 * ≈ 0.75 KiB with the map entry and the device id (measured on 100,000 meters; 170,000 ≈ 130 MB); a snapshot row
 * is ≈ 330 bytes of JSON.
 */
import { z } from 'zod';
import { EventClock } from '../../core/clock.ts';
import type { Reading, Rollup } from '../../core/contracts/index.ts';
import { RECENT_TS_MAX, REORDER_BUFFER_MAX } from '../engine.ts';
import { type KeyedSnapshots, parseStateJson, type StateFormat } from '../snapshots.ts';
import { HOUR_MS, type LocalCalendar } from './local-time.ts';
import { type MeterConfig, type MeterPeriod, type MeterRollupState, type SkippedPeriod, stepMeter } from './meter.ts';

/** Why a reading was dropped on purpose: `duplicate`, `late` or `no-index` (no numeric `indexL`). */
export type MeterDropReason = 'duplicate' | 'late' | 'no-index';

/** Options of {@link createMeterRollups}. */
export interface MeterRollupsOptions {
  readonly config: MeterConfig & { readonly reorderToleranceMs: number };
  readonly calendar: LocalCalendar;
  /** The district of a meter when its rollup is made (devices.v1; unknown → `unassigned`). */
  readonly districtOf: (deviceId: string) => string;
  readonly onDrop?: (reason: MeterDropReason, reading: Reading) => void;
  readonly onSkip?: (deviceId: string, skipped: SkippedPeriod) => void;
}

/** Per-meter rollups of one partition; its saved states (key: deviceId) are refused with `ERR_ROLLUP_STATE`. */
export interface MeterRollups extends KeyedSnapshots {
  /** Takes one reading; returns the rollups it (and the watermark it moves) made final, in order per meter. */
  push(reading: Reading): Rollup[];
  /** Releases every buffered reading (end of a replay; tests). */
  flush(): Rollup[];
  /** Meters with state. */
  devices(): number;
}

interface MeterEntry {
  /** Buffered readings as [tsMs, indexL], ascending. */
  buffer: Array<[number, number]>;
  /** Last released timestamps, ascending, at most RECENT_TS_MAX. */
  recentTsMs: number[];
  state: MeterRollupState | undefined;
}

const SkipReasonSchema = z.enum(['first', 'gap', 'reset']).nullable();
const StateSchema = z.object({
  lastTsMs: z.number(),
  lastIndexL: z.number(),
  hourStartMs: z.number(),
  hourStartMl: z.number().nullable(),
  hourSkip: SkipReasonSchema,
  dayStartMs: z.number(),
  dayEndMs: z.number(),
  dayMl: z.number(),
  daySkip: SkipReasonSchema,
  nightMinMl: z.number().nullable(),
});
const SnapshotSchema = z.object({
  v: z.literal(1),
  buffer: z.array(z.tuple([z.number(), z.number()])).max(REORDER_BUFFER_MAX),
  recentTsMs: z.array(z.number()).max(RECENT_TS_MAX),
  state: StateSchema.nullable(),
});
/** How an unreadable rollup state (a meter's, a district's, a clock) is refused. */
export const ROLLUP_STATE: StateFormat = { code: 'ERR_ROLLUP_STATE', expected: 'a version 1 rollup snapshot' };

const ClockSchema = z.object({ v: z.literal(1), newestMs: z.number().nullable(), sweptHour: z.number().nullable() });

/** Builds the rollup record of a meter's final period. */
export function meterRollup(deviceId: string, district: string, p: MeterPeriod): Rollup {
  const values: Record<string, number> = { consumptionL: p.consumptionMl / 1000 };
  if (p.period === 'day' && p.nightMinMl !== undefined) values.nightMinFlowLph = p.nightMinMl / 1000;
  return {
    kind: 'water-meter',
    scope: 'device',
    deviceId,
    district,
    period: p.period,
    start: new Date(p.startMs).toISOString(),
    values,
  };
}

/** Creates the per-meter rollups of one partition. */
export function createMeterRollups(options: MeterRollupsOptions): MeterRollups {
  const { config, calendar, districtOf } = options;
  const onDrop = options.onDrop ?? (() => {});
  const onSkip = options.onSkip ?? (() => {});
  const clock = new EventClock(config.reorderToleranceMs);
  const meters = new Map<string, MeterEntry>();
  const dirty = new Set<string>();
  let sweptHour = Number.NEGATIVE_INFINITY;

  function processReading(id: string, m: MeterEntry, tsMs: number, indexL: number, out: Rollup[]): void {
    m.recentTsMs.push(tsMs);
    if (m.recentTsMs.length > RECENT_TS_MAX) m.recentTsMs.shift();
    const step = stepMeter(m.state, tsMs, indexL, calendar, config);
    m.state = step.state;
    dirty.add(id);
    for (const s of step.skipped) onSkip(id, s);
    if (step.periods.length > 0) {
      const district = districtOf(id);
      for (const p of step.periods) out.push(meterRollup(id, district, p));
    }
  }

  function release(id: string, m: MeterEntry, uptoMs: number, out: Rollup[]): void {
    while (m.buffer.length > 0 && (m.buffer[0] as [number, number])[0] <= uptoMs) {
      const [tsMs, indexL] = m.buffer.shift() as [number, number];
      processReading(id, m, tsMs, indexL, out);
    }
  }

  /** Once per hour of event time, releases every meter's readings the watermark has passed (quiet meters too). */
  function sweep(out: Rollup[]): void {
    const watermark = clock.watermarkMs();
    if (!Number.isFinite(watermark)) return;
    const hour = Math.floor(watermark / HOUR_MS);
    if (hour <= sweptHour) return;
    sweptHour = hour;
    for (const [id, m] of meters) release(id, m, watermark, out);
  }

  return {
    push(reading) {
      const out: Rollup[] = [];
      const indexL = reading.metrics.indexL;
      if (typeof indexL !== 'number') {
        onDrop('no-index', reading);
        return out;
      }
      const id = reading.deviceId;
      const tsMs = Date.parse(reading.ts);
      let m = meters.get(id);
      if (!m) {
        m = { buffer: [], recentTsMs: [], state: undefined };
        meters.set(id, m);
      }
      release(id, m, clock.watermarkMs(), out);
      if (m.buffer.some((b) => b[0] === tsMs) || m.recentTsMs.includes(tsMs)) {
        onDrop('duplicate', reading);
        return out;
      }
      if (tsMs < (m.recentTsMs.at(-1) ?? Number.NEGATIVE_INFINITY)) {
        onDrop('late', reading);
        return out;
      }
      let at = m.buffer.length;
      while (at > 0 && (m.buffer[at - 1] as [number, number])[0] > tsMs) at -= 1;
      m.buffer.splice(at, 0, [tsMs, indexL]);
      dirty.add(id);
      clock.observe(tsMs);
      release(id, m, clock.watermarkMs(), out);
      while (m.buffer.length > REORDER_BUFFER_MAX) {
        const [t, i] = m.buffer.shift() as [number, number];
        processReading(id, m, t, i, out);
      }
      sweep(out);
      return out;
    },

    flush() {
      const out: Rollup[] = [];
      for (const [id, m] of meters) release(id, m, Number.POSITIVE_INFINITY, out);
      return out;
    },

    takeDirty() {
      const ids = [...dirty];
      dirty.clear();
      return ids;
    },

    snapshot(deviceId) {
      const m = meters.get(deviceId);
      if (!m) return undefined;
      return JSON.stringify({ v: 1, buffer: m.buffer, recentTsMs: m.recentTsMs, state: m.state ?? null });
    },

    restore(deviceId, json) {
      const s = parseStateJson(json, SnapshotSchema, `rollup state of ${deviceId}`, ROLLUP_STATE);
      meters.set(deviceId, { buffer: s.buffer, recentTsMs: s.recentTsMs, state: s.state ?? undefined });
    },

    snapshotClock() {
      const newestMs = clock.newestMs();
      return JSON.stringify({
        v: 1,
        newestMs: Number.isFinite(newestMs) ? newestMs : null,
        sweptHour: Number.isFinite(sweptHour) ? sweptHour : null,
      });
    },

    restoreClock(json) {
      const c = parseStateJson(json, ClockSchema, 'rollup clock', ROLLUP_STATE);
      if (c.newestMs !== null) clock.observe(c.newestMs);
      if (c.sweptHour !== null) sweptHour = Math.max(sweptHour, c.sweptHour);
    },

    devices: () => meters.size,
  };
}
