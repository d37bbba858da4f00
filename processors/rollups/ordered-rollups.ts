/**
 * Per-device rollups of one partition of a readings topic, for kinds whose rollups follow each device's readings
 * (water meters' index, streetlights' power): orders each device's readings by event time (the processors engine's
 * rules: duplicates of a recent timestamp dropped, a reorder buffer of at most {@link REORDER_BUFFER_MAX} readings
 * released once the partition's watermark — newest event time less `reorderToleranceMs` — passes them,
 * older-than-released readings dropped as late), then runs the kind's pure step. Synchronous and deterministic: the
 * same readings in the same order give the same rollups. Memory per device: the reorder buffer (usually 0–1
 * entries, at most 16), 4 recent timestamps and the kind's step state.
 */
import { z } from 'zod';
import { EventClock } from '../../core/clock.ts';
import type { Reading, Rollup } from '../../core/contracts/index.ts';
import { HOUR_MS } from '../../core/local-time.ts';
import { RECENT_TS_MAX, REORDER_BUFFER_MAX } from '../engine.ts';
import { type KeyedSnapshots, parseStateJson, type StateFormat } from '../snapshots.ts';

/** How an unreadable rollup state (a device's, a group's, a clock) is refused. */
export const ROLLUP_STATE: StateFormat = { code: 'ERR_ROLLUP_STATE', expected: 'a version 1 rollup snapshot' };

/** Where a device belongs when its rollup is made (devices.v1): its district and, for streetlights, its circuit. */
export interface Place {
  readonly district: string;
  readonly circuit?: string;
}

/** A period a step gave no rollup, and why (e.g. `first`, `gap`, `reset`). */
export interface Skipped {
  readonly period: 'hour' | 'day';
  readonly startMs: number;
  readonly reason: string;
}

/** What the ordered rollups need to know about one kind: the value it keeps per reading, its step, its records. */
export interface OrderedKind<V, S, P> {
  /** The value of a reading the step needs (e.g. `indexL`), or the reason it is dropped on purpose. */
  extract(reading: Reading): V | { readonly drop: string };
  /** Takes the device's next reading in event-time order (strictly after the last); `state` undefined: the first. */
  step(state: S | undefined, tsMs: number, value: V): { state: S; periods: P[]; skipped: Skipped[] };
  /** The rollup record of a final period. */
  toRollup(deviceId: string, place: Place, period: P): Rollup;
  /** Snapshot schemas of a buffered value and of the step state (JSON round trip). */
  readonly valueSchema: z.ZodType<V>;
  readonly stateSchema: z.ZodType<S>;
}

/** Options of {@link createOrderedRollups}. */
export interface OrderedRollupsOptions {
  readonly reorderToleranceMs: number;
  /** Where a device belongs when its rollup is made. */
  readonly placeOf: (deviceId: string) => Place;
  /** A reading dropped on purpose: `duplicate`, `late` or the kind's reason. */
  readonly onDrop?: (reason: string, reading: Reading) => void;
  readonly onSkip?: (deviceId: string, skipped: Skipped) => void;
}

/** Per-device rollups of one partition; its saved states (key: deviceId) are refused with `ERR_ROLLUP_STATE`. */
export interface OrderedRollups extends KeyedSnapshots {
  /** Takes one reading; returns the rollups it (and the watermark it moves) made final, in order per device. */
  push(reading: Reading): Rollup[];
  /** Releases every buffered reading (end of a replay; tests). */
  flush(): Rollup[];
  /** Devices with state. */
  devices(): number;
}

interface Entry<V, S> {
  /** Buffered readings as [tsMs, value], ascending. */
  buffer: Array<[number, V]>;
  /** Last released timestamps, ascending, at most RECENT_TS_MAX. */
  recentTsMs: number[];
  state: S | undefined;
}

const ClockSchema = z.object({ v: z.literal(1), newestMs: z.number().nullable(), sweptHour: z.number().nullable() });

/** Creates the per-device rollups of one partition for one kind. */
export function createOrderedRollups<V, S, P>(
  kind: OrderedKind<V, S, P>,
  options: OrderedRollupsOptions,
): OrderedRollups {
  const onDrop = options.onDrop ?? (() => {});
  const onSkip = options.onSkip ?? (() => {});
  const clock = new EventClock(options.reorderToleranceMs);
  const devices = new Map<string, Entry<V, S>>();
  const dirty = new Set<string>();
  let sweptHour = Number.NEGATIVE_INFINITY;
  const SnapshotSchema = z.object({
    v: z.literal(1),
    buffer: z.array(z.tuple([z.number(), kind.valueSchema])).max(REORDER_BUFFER_MAX),
    recentTsMs: z.array(z.number()).max(RECENT_TS_MAX),
    state: kind.stateSchema.nullable(),
  });

  function processReading(id: string, d: Entry<V, S>, tsMs: number, value: V, out: Rollup[]): void {
    d.recentTsMs.push(tsMs);
    if (d.recentTsMs.length > RECENT_TS_MAX) d.recentTsMs.shift();
    const step = kind.step(d.state, tsMs, value);
    d.state = step.state;
    dirty.add(id);
    for (const s of step.skipped) onSkip(id, s);
    if (step.periods.length > 0) {
      const place = options.placeOf(id);
      for (const p of step.periods) out.push(kind.toRollup(id, place, p));
    }
  }

  function release(id: string, d: Entry<V, S>, uptoMs: number, out: Rollup[]): void {
    while (d.buffer.length > 0 && (d.buffer[0] as [number, V])[0] <= uptoMs) {
      const [tsMs, value] = d.buffer.shift() as [number, V];
      processReading(id, d, tsMs, value, out);
    }
  }

  /** Once per hour of event time, releases every device's readings the watermark has passed (quiet ones too). */
  function sweep(out: Rollup[]): void {
    const watermark = clock.watermarkMs();
    if (!Number.isFinite(watermark)) return;
    const hour = Math.floor(watermark / HOUR_MS);
    if (hour <= sweptHour) return;
    sweptHour = hour;
    for (const [id, d] of devices) release(id, d, watermark, out);
  }

  return {
    push(reading) {
      const out: Rollup[] = [];
      const value = kind.extract(reading);
      if (value !== null && typeof value === 'object' && 'drop' in value) {
        onDrop(value.drop, reading);
        return out;
      }
      const id = reading.deviceId;
      const tsMs = Date.parse(reading.ts);
      let d = devices.get(id);
      if (!d) {
        d = { buffer: [], recentTsMs: [], state: undefined };
        devices.set(id, d);
      }
      release(id, d, clock.watermarkMs(), out);
      if (d.buffer.some((b) => b[0] === tsMs) || d.recentTsMs.includes(tsMs)) {
        onDrop('duplicate', reading);
        return out;
      }
      if (tsMs < (d.recentTsMs.at(-1) ?? Number.NEGATIVE_INFINITY)) {
        onDrop('late', reading);
        return out;
      }
      let at = d.buffer.length;
      while (at > 0 && (d.buffer[at - 1] as [number, V])[0] > tsMs) at -= 1;
      d.buffer.splice(at, 0, [tsMs, value as V]);
      dirty.add(id);
      clock.observe(tsMs);
      release(id, d, clock.watermarkMs(), out);
      while (d.buffer.length > REORDER_BUFFER_MAX) {
        const [t, v] = d.buffer.shift() as [number, V];
        processReading(id, d, t, v, out);
      }
      sweep(out);
      return out;
    },

    flush() {
      const out: Rollup[] = [];
      for (const [id, d] of devices) release(id, d, Number.POSITIVE_INFINITY, out);
      return out;
    },

    takeDirty() {
      const ids = [...dirty];
      dirty.clear();
      return ids;
    },

    snapshot(deviceId) {
      const d = devices.get(deviceId);
      if (!d) return undefined;
      return JSON.stringify({ v: 1, buffer: d.buffer, recentTsMs: d.recentTsMs, state: d.state ?? null });
    },

    restore(deviceId, json) {
      const s = parseStateJson(json, SnapshotSchema, `rollup state of ${deviceId}`, ROLLUP_STATE);
      devices.set(deviceId, {
        buffer: s.buffer as Array<[number, V]>,
        recentTsMs: s.recentTsMs,
        state: (s.state ?? undefined) as S | undefined,
      });
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

    devices: () => devices.size,
  };
}
