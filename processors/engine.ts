import { z } from 'zod';
import { EventClock } from '../core/clock.ts';
import {
  type AlertTransition,
  type AlertType,
  DeviceEvent,
  KINDS,
  type Kind,
  Reading,
} from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import type { Detector, KindModel, Signal } from './detector.ts';
import { type AlertState, applySignal, initialAlertState, type LifecycleConfig } from './lifecycle.ts';
import { type KeyedSnapshots, parseStateJson, type StateFormat } from './snapshots.ts';

/**
 * The processing core, pure and synchronous, shared by the bus runner (runner.ts) and replay (replay.ts): the same
 * readings in the same per-device order give the same alert transitions live and in replay, by construction.
 * Device events (payments, faults: `events.<kind>.v1`) take the same path, steps 1–2 and 4–5: they wait in the same
 * reorder buffer, are deduplicated by (ts, type, data), skip the model and go to the detectors that have `onEvent`.
 *
 * Per device, in this order:
 * 1. dedupe: a reading whose ts equals a buffered or recently released one is dropped on purpose (`duplicate`);
 * 2. reorder buffer by event time: readings wait until the watermark passes them (newest event time seen across
 *    all devices − `reorderToleranceMs`, 15 min = one reporting interval), so readings arriving out of order within
 *    the tolerance are put back in order. At most {@link REORDER_BUFFER_MAX} wait; beyond, the oldest is released.
 *    A reading older than the last released one is dropped on purpose (`late`);
 * 3. the kind's model derives what the detectors step on (or drops the reading on purpose with its reason);
 * 4. each detector of the kind, in registry order; before a reading, `tick(ts − 1)`: the stream is complete up to
 *    just before it, so conditions born of silence (no-data) open the same whatever the tick cadence;
 * 5. the lifecycle turns signals into transitions.
 *
 * The watermark (core/clock.ts EventClock) also drives `tick()` of every device each time it crosses a multiple of
 * `tickIntervalMs` (15 min): that is what opens no-data for a device that never reports again. Ticks cost one pass
 * over the devices, so they are aligned and sparse; a tick's result (e.g. no-data's `atMs`) does not depend on when
 * it runs, only whether it runs before the end of the stream.
 *
 * The watermark is global: a device whose clock lags far behind the fleet (or a gateway uploading 6 h of reads at
 * once) sees its readings released at once and out-of-order ones dropped as late; a device clock far ahead moves
 * the watermark for everyone. Readings are range-checked (1990–2100) by the schema; nothing else guards this yet.
 *
 * State size per device (JSON, what a checkpoint holds): the reorder buffer (usually 1 reading, at most 16, each
 * ≈ 200–300 bytes), the last {@link RECENT_TS_MAX} released timestamps, the model's state, each detector's state and
 * each alert's lifecycle (≈ 300 bytes while open): about 0.5–1 KiB for a water meter, 5 KiB at worst. Memory grows
 * with the fleet (170,000 meters ≈ 150 MB), not with time.
 */

/** Most readings a device's reorder buffer holds; beyond, the oldest is released early. */
export const REORDER_BUFFER_MAX = 16;
/** Released timestamps remembered per device to tell a duplicate from a late reading. */
export const RECENT_TS_MAX = 4;

/** Config key `reorderToleranceMs` of the processors and the rollups (they order readings alike), ms. */
export const reorderToleranceMsSchema = z.coerce
  .number()
  .int()
  .nonnegative()
  .default(900_000)
  .describe(
    'How late (event time) a reading may arrive and still be put in order, ms (15 min: one reporting interval).',
  );

/** What the engine needs from the processors' configuration (processorsConfigSchema satisfies it). */
export interface EngineConfig {
  /** How far behind the newest event time a reading may arrive and still be put in order, ms (15 min). */
  readonly reorderToleranceMs: number;
  /** Event time between two ticks of every device's detectors, ms (15 min). */
  readonly tickIntervalMs: number;
  /** Lifecycle settings. */
  readonly alertUpdate: LifecycleConfig;
}

/** A detector of any state and derived view, as the registry holds them. */
// biome-ignore lint/suspicious/noExplicitAny: detectors of every kind share one list; each is typed in its file.
export type AnyDetector = Detector<any, any>;
/** A kind model of any state and derived view. */
// biome-ignore lint/suspicious/noExplicitAny: one map holds the models of every kind.
export type AnyKindModel = KindModel<any, any>;

/** Why the engine dropped a reading or event on purpose: `duplicate`, `late`, `kind-changed`, or a model's reason. */
export type DropReason = string;

/** Options of {@link createEngine}. */
export interface EngineOptions {
  readonly config: EngineConfig;
  /** The model of each kind; a kind without one hands detectors `derived: undefined`. */
  readonly models: Partial<Record<Kind, AnyKindModel>>;
  /** Every detector, in registry order; each applies to its `kinds`. */
  readonly detectors: readonly AnyDetector[];
  /** Called for each reading or event dropped on purpose, so the caller can count it. */
  readonly onDrop?: (reason: DropReason, record: Reading | DeviceEvent) => void;
}

/** The engine: push readings, get alert transitions. Synchronous and deterministic. */
export interface Engine extends KeyedSnapshots {
  /** Processes one reading; returns the transitions it (and the watermark it moves) caused. */
  push(reading: Reading): AlertTransition[];
  /** Processes one device event (payment, fault); returns the transitions it (and the watermark it moves) caused. */
  pushEvent(event: DeviceEvent): AlertTransition[];
  /** Moves the watermark to at least `ms` (event time), releasing and ticking as a reading would. */
  advanceWatermark(ms: number): AlertTransition[];
  /** Releases every buffered reading (end of a replay). The watermark and ticks do not move. */
  flush(): AlertTransition[];
  /** The device's state as JSON text (for a checkpoint), or undefined for a device never seen. */
  snapshot(deviceId: string): string | undefined;
  /** Restores a device's state from {@link snapshot}'s JSON (text or parsed). Throws `ERR_PROCESSOR_STATE` if invalid. */
  restore(deviceId: string, json: unknown): void;
  /** Devices whose state changed since the last call (and forgets them): what a checkpoint must save. */
  takeDirty(): string[];
  /**
   * The engine-wide state as JSON text: the newest event time seen (the watermark's source) and the last tick
   * boundary. Saved beside the devices' snapshots, it makes a restored engine continue exactly where the saved one
   * was, so the messages after the checkpoint give the same transitions again.
   */
  snapshotClock(): string;
  /** Restores {@link snapshotClock}'s JSON (text or parsed). Throws `ERR_PROCESSOR_STATE` if invalid. */
  restoreClock(json: unknown): void;
  /** Number of devices with state. */
  devices(): number;
  /** Current watermark, epoch ms (-Infinity before any reading). */
  watermarkMs(): number;
}

/** A reading or a device event waiting in a device's reorder buffer. */
type Buffered =
  | { readonly reading: Reading; readonly tsMs: number }
  | { readonly event: DeviceEvent; readonly tsMs: number };

interface DeviceState {
  readonly kind: Kind;
  buffer: Buffered[];
  /** Last released readings' timestamps, ascending, at most RECENT_TS_MAX. */
  recentTsMs: number[];
  /** Last released events' identities ({@link eventKey}), oldest first, at most RECENT_TS_MAX. */
  recentEvents: string[];
  /** Event time of the newest released reading or event, ms (-Infinity before any): older ones are late. */
  lastReleasedMs: number;
  /** Event time of the last tick, ms (-Infinity before any). */
  lastTickMs: number;
  model: unknown;
  detectors: Record<string, unknown>;
  alerts: Record<string, AlertState>;
}

interface KindPlan {
  readonly model: AnyKindModel;
  readonly detectors: readonly AnyDetector[];
  readonly ticking: readonly AnyDetector[];
  readonly onEvent: readonly AnyDetector[];
}

/** The JSON of one device's state (version 1). */
const SnapshotSchema = z.object({
  v: z.literal(1),
  kind: z.enum(KINDS),
  buffer: z.array(z.union([Reading, DeviceEvent])).max(REORDER_BUFFER_MAX),
  recentTsMs: z.array(z.number()).max(RECENT_TS_MAX),
  recentEvents: z.array(z.string()).max(RECENT_TS_MAX).default([]),
  lastReleasedMs: z.number().nullable().optional(),
  lastTickMs: z.number().nullable(),
  model: z.unknown(),
  detectors: z.record(z.string(), z.unknown()),
  alerts: z.record(
    z.string(),
    z.object({
      episode: z.number().int().nonnegative(),
      open: z
        .object({
          severity: z.enum(['info', 'warning', 'critical']),
          summary: z.string(),
          details: z.record(z.string(), z.unknown()),
          openedAtMs: z.number(),
          lastSentAtMs: z.number(),
        })
        .nullable(),
    }),
  ),
});

/** The JSON of the engine-wide state (version 1). */
const ClockSnapshotSchema = z.object({
  v: z.literal(1),
  newestMs: z.number().nullable(),
  lastTickBoundaryMs: z.number().nullable(),
});
/** How an unreadable device state or engine clock is refused (ERR_PROCESSOR_STATE). */
const PROCESSOR_STATE: StateFormat = { code: 'ERR_PROCESSOR_STATE', expected: 'a version 1 snapshot' };
const PROCESSOR_CLOCK: StateFormat = { code: 'ERR_PROCESSOR_STATE', expected: 'a version 1 clock snapshot' };

/** An event's identity for deduplication: its time, type and a hash of its data (FNV-1a, 32 bits). */
function eventKey(event: DeviceEvent, tsMs: number): string {
  const text = JSON.stringify(event.data);
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return `${tsMs}|${event.type}|${(h >>> 0).toString(16)}`;
}

const entryOf = (json: Reading | DeviceEvent): Buffered =>
  'metrics' in json
    ? { reading: json, tsMs: Date.parse(json.ts) }
    : { event: json as DeviceEvent, tsMs: Date.parse(json.ts) };

const IDENTITY_MODEL = (kind: Kind): AnyKindModel => ({
  kind,
  initialState: () => null,
  derive: (state) => ({ state, derived: undefined }),
});

/** Creates an engine. Throws `ERR_PROCESSOR_CONFIG` if two detectors of one kind share an alert type. */
export function createEngine(options: EngineOptions): Engine {
  const { config } = options;
  const onDrop = options.onDrop ?? (() => {});
  const clock = new EventClock(config.reorderToleranceMs);
  const devices = new Map<string, DeviceState>();
  const dirty = new Set<string>();
  let lastTickBoundaryMs = Number.NEGATIVE_INFINITY;

  const plans = new Map<Kind, KindPlan>();
  for (const kind of KINDS) {
    const detectors = options.detectors.filter((d) => d.kinds === '*' || d.kinds.includes(kind));
    const types = new Set<AlertType>();
    for (const d of detectors) {
      if (types.has(d.type)) {
        throw new AppError(
          'ERR_PROCESSOR_CONFIG',
          `two detectors of kind ${kind} raise alert type: ${d.type} (one each)`,
        );
      }
      types.add(d.type);
    }
    plans.set(kind, {
      model: options.models[kind] ?? IDENTITY_MODEL(kind),
      detectors,
      ticking: detectors.filter((d) => typeof d.tick === 'function'),
      onEvent: detectors.filter((d) => typeof d.onEvent === 'function'),
    });
  }
  const planOf = (kind: Kind) => plans.get(kind) as KindPlan;

  function newDevice(kind: Kind): DeviceState {
    const plan = planOf(kind);
    const detectors: Record<string, unknown> = {};
    for (const d of plan.detectors) detectors[d.type] = d.initialState();
    return {
      kind,
      buffer: [],
      recentTsMs: [],
      recentEvents: [],
      lastReleasedMs: Number.NEGATIVE_INFINITY,
      lastTickMs: Number.NEGATIVE_INFINITY,
      model: plan.model.initialState(),
      detectors,
      alerts: {},
    };
  }

  function signal(id: string, dev: DeviceState, type: AlertType, sig: Signal, out: AlertTransition[]): void {
    const before = dev.alerts[type] ?? initialAlertState();
    const result = applySignal(before, sig, { deviceId: id, kind: dev.kind, type }, config.alertUpdate);
    if (result.state !== before) {
      dev.alerts[type] = result.state;
      dirty.add(id);
    }
    if (result.transition) out.push(result.transition);
  }

  function tick(id: string, dev: DeviceState, atMs: number, out: AlertTransition[]): void {
    if (!(atMs > dev.lastTickMs)) return;
    dev.lastTickMs = atMs;
    for (const d of planOf(dev.kind).ticking) {
      const before = dev.detectors[d.type] ?? d.initialState();
      const result = (d.tick as NonNullable<AnyDetector['tick']>)(before, atMs);
      if (result.state !== before) {
        dev.detectors[d.type] = result.state;
        dirty.add(id);
      }
      if (result.signal) signal(id, dev, d.type, result.signal, out);
    }
  }

  function processEntry(id: string, dev: DeviceState, entry: Buffered, out: AlertTransition[]): void {
    dev.lastReleasedMs = Math.max(dev.lastReleasedMs, entry.tsMs);
    dirty.add(id);
    if ('event' in entry) {
      dev.recentEvents.push(eventKey(entry.event, entry.tsMs));
      if (dev.recentEvents.length > RECENT_TS_MAX) dev.recentEvents.shift();
      tick(id, dev, entry.tsMs - 1, out);
      const input = { event: entry.event, tsMs: entry.tsMs };
      for (const d of planOf(dev.kind).onEvent) {
        const onEvent = d.onEvent as NonNullable<AnyDetector['onEvent']>;
        const result = onEvent(dev.detectors[d.type] ?? d.initialState(), input);
        dev.detectors[d.type] = result.state;
        if (result.signal) signal(id, dev, d.type, result.signal, out);
      }
      return;
    }
    dev.recentTsMs.push(entry.tsMs);
    if (dev.recentTsMs.length > RECENT_TS_MAX) dev.recentTsMs.shift();
    tick(id, dev, entry.tsMs - 1, out);
    const plan = planOf(dev.kind);
    const derived = plan.model.derive(dev.model, entry.reading, entry.tsMs);
    dev.model = derived.state;
    if ('drop' in derived) {
      onDrop(derived.drop, entry.reading);
      return;
    }
    const input = { reading: entry.reading, tsMs: entry.tsMs, derived: derived.derived };
    for (const d of plan.detectors) {
      const result = d.step(dev.detectors[d.type] ?? d.initialState(), input);
      dev.detectors[d.type] = result.state;
      if (result.signal) signal(id, dev, d.type, result.signal, out);
    }
  }

  /** Releases the device's buffered readings with ts ≤ uptoMs, in event-time order. */
  function release(id: string, dev: DeviceState, uptoMs: number, out: AlertTransition[]): void {
    while (dev.buffer.length > 0 && (dev.buffer[0] as Buffered).tsMs <= uptoMs) {
      processEntry(id, dev, dev.buffer.shift() as Buffered, out);
    }
  }

  /** Ticks every device when the watermark has crossed a multiple of tickIntervalMs. */
  function tickAll(out: AlertTransition[]): void {
    const watermark = clock.watermarkMs();
    if (!Number.isFinite(watermark)) return;
    const boundary = Math.floor(watermark / config.tickIntervalMs) * config.tickIntervalMs;
    if (boundary <= lastTickBoundaryMs) return;
    lastTickBoundaryMs = boundary;
    for (const [id, dev] of devices) {
      // What an eager release would have done since the watermark moved past these readings.
      release(id, dev, watermark, out);
      tick(id, dev, boundary, out);
    }
  }

  /** True when the device already released or buffers this reading or event. */
  function isDuplicate(dev: DeviceState, entry: Buffered): boolean {
    if ('reading' in entry) {
      return dev.recentTsMs.includes(entry.tsMs) || dev.buffer.some((b) => 'reading' in b && b.tsMs === entry.tsMs);
    }
    const key = eventKey(entry.event, entry.tsMs);
    return (
      dev.recentEvents.includes(key) ||
      dev.buffer.some((b) => 'event' in b && b.tsMs === entry.tsMs && eventKey(b.event, b.tsMs) === key)
    );
  }

  /** Buffers one reading or event of a device and releases what the watermark lets go. */
  function accept(record: Reading | DeviceEvent, entry: Buffered): AlertTransition[] {
    const out: AlertTransition[] = [];
    const id = record.deviceId;
    let dev = devices.get(id);
    if (!dev) {
      dev = newDevice(record.kind);
      devices.set(id, dev);
    } else if (dev.kind !== record.kind) {
      onDrop('kind-changed', record);
      return out;
    }
    // Catch up first: the watermark may have passed buffered entries since this device last spoke.
    release(id, dev, clock.watermarkMs(), out);
    if (isDuplicate(dev, entry)) {
      onDrop('duplicate', record);
      return out;
    }
    if (entry.tsMs < dev.lastReleasedMs) {
      onDrop('late', record);
      return out;
    }
    let at = dev.buffer.length;
    while (at > 0 && (dev.buffer[at - 1] as Buffered).tsMs > entry.tsMs) at -= 1;
    dev.buffer.splice(at, 0, entry);
    dirty.add(id);
    clock.observe(entry.tsMs);
    release(id, dev, clock.watermarkMs(), out);
    while (dev.buffer.length > REORDER_BUFFER_MAX) processEntry(id, dev, dev.buffer.shift() as Buffered, out);
    tickAll(out);
    return out;
  }

  return {
    push: (reading) => accept(reading, { reading, tsMs: Date.parse(reading.ts) }),
    pushEvent: (event) => accept(event, { event, tsMs: Date.parse(event.ts) }),

    advanceWatermark(ms) {
      const out: AlertTransition[] = [];
      clock.observe(ms + config.reorderToleranceMs);
      tickAll(out);
      return out;
    },

    flush() {
      const out: AlertTransition[] = [];
      for (const [id, dev] of devices) release(id, dev, Number.POSITIVE_INFINITY, out);
      return out;
    },

    snapshot(deviceId) {
      const dev = devices.get(deviceId);
      if (!dev) return undefined;
      return JSON.stringify({
        v: 1,
        kind: dev.kind,
        buffer: dev.buffer.map((b) => ('reading' in b ? b.reading : b.event)),
        recentTsMs: dev.recentTsMs,
        recentEvents: dev.recentEvents,
        lastReleasedMs: Number.isFinite(dev.lastReleasedMs) ? dev.lastReleasedMs : null,
        lastTickMs: Number.isFinite(dev.lastTickMs) ? dev.lastTickMs : null,
        model: dev.model,
        detectors: dev.detectors,
        alerts: dev.alerts,
      });
    },

    restore(deviceId, json) {
      const s = parseStateJson(json, SnapshotSchema, `device state of ${deviceId}`, PROCESSOR_STATE);
      const dev = newDevice(s.kind);
      dev.buffer = s.buffer.map(entryOf);
      dev.recentTsMs = s.recentTsMs;
      dev.recentEvents = s.recentEvents;
      // Snapshots from before events carried no lastReleasedMs: the newest released reading was the last one.
      dev.lastReleasedMs = s.lastReleasedMs ?? s.recentTsMs.at(-1) ?? Number.NEGATIVE_INFINITY;
      dev.lastTickMs = s.lastTickMs ?? Number.NEGATIVE_INFINITY;
      if (s.model !== undefined) dev.model = s.model;
      // A detector added since the snapshot starts from its initial state; one removed is forgotten.
      for (const d of planOf(s.kind).detectors) if (d.type in s.detectors) dev.detectors[d.type] = s.detectors[d.type];
      dev.alerts = s.alerts as Record<string, AlertState>;
      devices.set(deviceId, dev);
      // The watermark is not checkpointed: the restored devices' newest readings bring it back.
      const newestMs = Math.max(dev.buffer.at(-1)?.tsMs ?? Number.NEGATIVE_INFINITY, dev.lastReleasedMs);
      if (Number.isFinite(newestMs)) clock.observe(newestMs);
    },

    takeDirty() {
      const ids = [...dirty];
      dirty.clear();
      return ids;
    },

    snapshotClock() {
      const newestMs = clock.newestMs();
      return JSON.stringify({
        v: 1,
        newestMs: Number.isFinite(newestMs) ? newestMs : null,
        lastTickBoundaryMs: Number.isFinite(lastTickBoundaryMs) ? lastTickBoundaryMs : null,
      });
    },

    restoreClock(json) {
      const c = parseStateJson(json, ClockSnapshotSchema, 'engine clock', PROCESSOR_CLOCK);
      if (c.newestMs !== null) clock.observe(c.newestMs);
      if (c.lastTickBoundaryMs !== null) lastTickBoundaryMs = Math.max(lastTickBoundaryMs, c.lastTickBoundaryMs);
    },

    devices: () => devices.size,
    watermarkMs: () => clock.watermarkMs(),
  };
}
