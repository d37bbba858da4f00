import { fileURLToPath } from 'node:url';
import { busDeadLetter, type MessageContract, parseBusMessage, type Refusal } from '../core/bus/dead-letter.ts';
import type { Bus, BusMessage } from '../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import {
  type AlertTransition,
  DeviceEvent,
  DeviceId,
  KINDS,
  type Kind,
  Reading,
  TOPICS,
} from '../core/contracts/index.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import { migrationsFromDir } from '../core/store/migrate.ts';
import type { ComponentMigrations, SqlStore } from '../core/store/store.ts';
import { createEngine } from './engine.ts';
import { createPartitionedRunner, type PartitionTask, type PendingMessage } from './partitioned.ts';
import { buildDetectors, buildModels, type ProcessorsConfig } from './registry.ts';
import { snapshotsOf } from './snapshots.ts';

/**
 * The processors stage on the bus: consumes `readings.<kind>.v1` and `events.<kind>.v1` (group `processors`), runs
 * the engine (engine.ts, the same core replay uses), produces alert transitions to `alerts.v1` (key `deviceId:type`)
 * and bad messages to `deadletter.v1`. A partition of an events topic has its own engine: event detectors
 * (`onEvent`, e.g. parking-meter `fault`) step on events only, so their alerts are the same as in replay, where a
 * device's readings and events share one engine.
 *
 * One engine per partition (a "task"): a device's readings all land in one partition (keyed by deviceId), so a
 * partition's transitions are a function of that partition's log alone — whichever instance processes it, after
 * whatever crash or rebalance. The watermark is therefore per partition (like Kafka Streams' stream time per task).
 *
 * Delivery and state live in partitioned.ts (shared with the rollups): a batch's transitions and dead letters are
 * produced before its offsets commit (STYLE.md §0.2); every `checkpointIntervalMs` (and on close) each task
 * snapshots its changed devices' states, its engine clock and the next offset (tables of migrations/002), under
 * the partition's epoch (fencing); an instance that gets a partition loads its snapshot and, if the bus delivers
 * from further on, seeks back to the snapshot's offset; messages below it are skipped. Re-processing gives the
 * same readings from the same state, so the same transitions with the same alertIds, which alerting dedupes
 * (alertId + state): nothing is lost, nothing opens twice, no SMS goes twice.
 * Cost: up to one checkpoint interval of readings re-processed after a crash; one upsert of changed devices per
 * interval (not per reading); a partition's devices loaded when it moves (≈ 1 KiB each).
 */

/** The processors' migrations (`processor_state`), for `openStore`. */
export const processorsMigrations: ComponentMigrations = migrationsFromDir(
  'processors',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/** Consumer group of the processors. */
export const PROCESSORS_GROUP = 'processors';

/** The topics the processors consume: every kind's readings and events. */
export const PROCESSORS_TOPICS: readonly string[] = KINDS.flatMap((kind) => [
  TOPICS.readings(kind),
  TOPICS.events(kind),
]);

/** How a reading's dead letters name it and its contract. */
const READING_CONTRACT: MessageContract = {
  what: 'reading',
  contract: 'a canonical reading, CONTRACTS.md §4',
  jsonCode: 'ERR_READING_JSON',
  schemaCode: 'ERR_READING_SCHEMA',
};

/** How an event's dead letters name it and its contract. */
const EVENT_CONTRACT: MessageContract = {
  what: 'device event',
  contract: 'a device event, core/contracts/event.ts',
  jsonCode: 'ERR_EVENT_JSON',
  schemaCode: 'ERR_EVENT_SCHEMA',
};

/** Options of {@link createProcessor}. */
export interface ProcessorOptions {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly config: ProcessorsConfig;
  /** Consumer group (default {@link PROCESSORS_GROUP}); its snapshots are kept apart from other groups'. */
  readonly groupId?: string;
  /** Wall clock for checkpoint cadence and dead-letter times only; detection runs on event time. Default: system. */
  readonly clock?: Clock;
}

/** A running processors stage. */
export interface Processor {
  /** Subscribes; partitions load their snapshots as they are assigned. */
  start(): Promise<void>;
  /** Stops fetching, lets the in-flight batches finish, checkpoints every partition, and leaves the group. */
  close(): Promise<void>;
}

/** Creates the processors stage. */
export function createProcessor(options: ProcessorOptions): Processor {
  const { bus, store, metrics, logger, config } = options;
  const groupId = options.groupId ?? PROCESSORS_GROUP;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const models = buildModels(config);
  const detectors = buildDetectors(config);

  const readingsTotal = metrics.counter('processor_readings_total', 'Valid readings consumed, per kind.', ['kind']);
  const eventsTotal = metrics.counter('processor_device_events_total', 'Valid device events consumed, per kind.', [
    'kind',
  ]);
  const dropped = metrics.counter(
    'processor_events_dropped_total',
    'Readings dropped (intentional: duplicate, late, kind-changed, model reasons).',
    ['intentional', 'reason'],
  );
  const deadLettered = metrics.counter(
    'processor_messages_dead_lettered_total',
    'Messages sent to the dead-letter topic, per error code.',
    ['code'],
  );
  const transitionsTotal = metrics.counter(
    'processor_alert_transitions_total',
    'Alert transitions produced, per type and state (again after a re-processing).',
    ['type', 'state'],
  );
  const topicKinds = new Map<string, { kind: Kind; what: 'reading' | 'event' }>();
  for (const kind of KINDS) {
    topicKinds.set(TOPICS.readings(kind), { kind, what: 'reading' });
    topicKinds.set(TOPICS.events(kind), { kind, what: 'event' });
  }
  const topics = PROCESSORS_TOPICS;

  function deadLetter(m: BusMessage, refusal: Refusal): PendingMessage {
    deadLettered.inc({ code: refusal.errorCode });
    const deviceId = DeviceId.safeParse(m.key);
    const message = busDeadLetter(m, refusal, {
      component: 'processors',
      nowMs: clock.nowMs(),
      key: deviceId.success ? deviceId.data : m.topic,
      ...(deviceId.success ? { deviceId: deviceId.data } : {}),
    });
    return { topic: TOPICS.deadLetters, message };
  }

  /** Parses one message; returns a reading or an event, or its dead letter. Never throws on bad data (STYLE.md §6.3). */
  function parse(m: BusMessage): { reading: Reading } | { event: DeviceEvent } | PendingMessage {
    const topic = topicKinds.get(m.topic);
    const isEvent = topic?.what === 'event';
    const contract = isEvent ? EVENT_CONTRACT : READING_CONTRACT;
    const parsed = isEvent ? parseBusMessage(m, DeviceEvent, contract) : parseBusMessage(m, Reading, contract);
    if (!parsed.ok) return deadLetter(m, parsed);
    if (topic && parsed.data.kind !== topic.kind) {
      return deadLetter(m, {
        errorCode: contract.schemaCode,
        message: `${contract.what} kind does not match its topic: ${parsed.data.kind} (${topic.kind} on ${m.topic})`,
        issues: [{ path: 'kind', message: `expected ${topic.kind}` }],
      });
    }
    return isEvent ? { event: parsed.data as DeviceEvent } : { reading: parsed.data as Reading };
  }

  /** A partition's task: its engine, fed the partition's readings in offset order. */
  function newTask(): PartitionTask {
    const engine = createEngine({
      config,
      models,
      detectors,
      onDrop: (reason) => {
        dropped.inc({ intentional: 'true', reason });
        logger.debug({ reason }, 'reading dropped on purpose');
      },
    });
    return {
      ...snapshotsOf(engine),
      size: () => engine.devices(),
      apply(m, out) {
        const parsed = parse(m);
        if ('message' in parsed) {
          out.push(parsed);
          return;
        }
        let transitions: AlertTransition[];
        if ('event' in parsed) {
          eventsTotal.inc({ kind: parsed.event.kind });
          transitions = engine.pushEvent(parsed.event);
        } else {
          readingsTotal.inc({ kind: parsed.reading.kind });
          transitions = engine.push(parsed.reading);
        }
        for (const t of transitions) {
          out.push({ topic: TOPICS.alerts, message: { key: `${t.deviceId}:${t.type}`, value: JSON.stringify(t) } });
          transitionsTotal.inc({ type: t.type, state: t.state });
        }
      },
    };
  }

  const runner = createPartitionedRunner({
    bus,
    store,
    metrics,
    logger,
    groupId,
    topics,
    name: 'processor',
    outputs: 'alert transitions',
    keysGauge: { name: 'processor_devices', help: 'Devices with state in this instance.' },
    checkpointIntervalMs: config.checkpointIntervalMs,
    newTask,
    clock,
  });

  return {
    async start() {
      for (const topic of [...topics, TOPICS.alerts, TOPICS.deadLetters]) await bus.ensureTopic(topic);
      await runner.start();
    },
    close: () => runner.close(),
  };
}
