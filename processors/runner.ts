import { fileURLToPath } from 'node:url';
import type { Bus, BusMessage, OutgoingMessage, Subscription } from '../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import {
  type AlertTransition,
  type DeadLetter,
  DeviceId,
  KINDS,
  type Kind,
  Reading,
  TOPICS,
} from '../core/contracts/index.ts';
import { preview } from '../core/errors.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import { migrationsFromDir } from '../core/store/migrate.ts';
import type { ComponentMigrations, SqlStore } from '../core/store/store.ts';
import { createEngine, type Engine } from './engine.ts';
import { buildDetectors, buildModels, type ProcessorsConfig } from './registry.ts';

/**
 * The processors stage on the bus: consumes `readings.<kind>.v1` (group `processors`), runs the engine
 * (engine.ts, the same core replay uses), produces alert transitions to `alerts.v1` (key `deviceId:type`) and bad
 * messages to `deadletter.v1`.
 *
 * Delivery: a batch's transitions (and dead letters) are produced before its handler resolves, so its offsets are
 * committed only once they are durable (STYLE.md §0.2). Transitions go through an outbox kept in order: if a produce
 * fails the handler throws, the batch comes again, its readings are dropped as duplicates and the outbox is sent
 * first — at least once, never lost.
 *
 * State: the engine's per-device state is checkpointed to `processor_state` (changed devices only, one batched
 * upsert) at most every `checkpointIntervalMs` and on close, and loaded on start. A checkpoint is written only once
 * every transition its state implies is on the bus. Known limit, stated plainly: with the in-process bus, a crash
 * loses the readings accepted since the last checkpoint (their offsets are committed, the bus lives in memory);
 * Kafka (a later issue) covers that gap by re-reading from the committed offsets. The checkpoint is what keeps a
 * restart from re-opening an alert already open; alerting dedupes on alertId + state anyway, and episodes restart
 * from the checkpoint, so a transition sent again carries the same alertId.
 * One instance per consumer group for now: state is per device, not per partition, so a rebalance across several
 * instances would need the partition's states handed over (not done yet).
 */

/** The processors' migrations (`processor_state`), for `openStore`. */
export const processorsMigrations: ComponentMigrations = migrationsFromDir(
  'processors',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);

/** Consumer group of the processors. */
export const PROCESSORS_GROUP = 'processors';

/** Most alert transitions in one produce call. */
const MAX_PRODUCE_BATCH = 5_000;
/** Most device states in one upsert statement. */
const MAX_UPSERT_ROWS = 2_000;

/** Options of {@link createProcessor}. */
export interface ProcessorOptions {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly config: ProcessorsConfig;
  /** Wall clock for checkpoint cadence and dead-letter times only; detection runs on event time. Default: system. */
  readonly clock?: Clock;
}

/** A running processors stage. */
export interface Processor {
  /** Loads the checkpointed state, then subscribes. */
  start(): Promise<void>;
  /** Lets the in-flight batch finish, sends what is pending, checkpoints, and leaves the group. */
  close(): Promise<void>;
}

/** Creates the processors stage. */
export function createProcessor(options: ProcessorOptions): Processor {
  const { bus, store, metrics, logger, config } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;

  const readingsTotal = metrics.counter('processor_readings_total', 'Valid readings consumed, per kind.', ['kind']);
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
    'Alert transitions produced, per type and state.',
    ['type', 'state'],
  );
  const devicesGauge = metrics.gauge('processor_devices', 'Devices with state in the processors.');
  const checkpointFailures = metrics.counter(
    'processor_checkpoint_failures_total',
    'Checkpoints of device state that failed (retried at the next one).',
  );

  const engine: Engine = createEngine({
    config,
    models: buildModels(config),
    detectors: buildDetectors(config),
    onDrop: (reason) => {
      dropped.inc({ intentional: 'true', reason });
      logger.debug({ reason }, 'reading dropped on purpose');
    },
  });

  // Outbox of transitions emitted by the engine and not yet durable on the bus, in emission order.
  let outbox: OutgoingMessage[] = [];
  let enqueued = 0;
  let produced = 0;
  let sending: Promise<void> = Promise.resolve();
  let subscription: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastCheckpointMs = clock.nowMs();
  let checkpointing: Promise<void> | undefined;
  const unsaved = new Set<string>();

  function enqueue(transitions: readonly AlertTransition[]): void {
    for (const t of transitions) {
      outbox.push({ key: `${t.deviceId}:${t.type}`, value: JSON.stringify(t) });
      transitionsTotal.inc({ type: t.type, state: t.state });
    }
    enqueued += transitions.length;
  }

  /** Sends the outbox, serialised so transitions keep their order per key even across partitions' handlers. */
  function send(): Promise<void> {
    const run = sending.then(async () => {
      while (outbox.length > 0) {
        const batch = outbox.slice(0, MAX_PRODUCE_BATCH);
        await bus.produce(TOPICS.alerts, batch);
        outbox = outbox.slice(batch.length);
        produced += batch.length;
      }
    });
    sending = run.catch(() => undefined);
    return run;
  }

  function deadLetter(
    m: BusMessage,
    errorCode: string,
    message: string,
    issues: DeadLetter['issues'],
  ): OutgoingMessage {
    deadLettered.inc({ code: errorCode });
    const deviceId = DeviceId.safeParse(m.key);
    const letter: DeadLetter = {
      rawBase64: Buffer.from(m.value, 'utf8').toString('base64'),
      source: { type: 'bus', topic: m.topic, partition: m.partition, offset: m.offset },
      ...(deviceId.success ? { deviceId: deviceId.data } : {}),
      errorCode,
      message,
      issues,
      component: 'processors',
      stage: 'processing',
      attempts: 1,
      firstFailedAt: new Date(clock.nowMs()).toISOString(),
    };
    return { key: deviceId.success ? deviceId.data : m.topic, value: JSON.stringify(letter) };
  }

  /** Parses one message; returns a reading or a dead letter. Never throws on bad data (STYLE.md §6.3). */
  function parse(m: BusMessage): Reading | OutgoingMessage {
    let json: unknown;
    try {
      json = JSON.parse(m.value);
    } catch (err) {
      return deadLetter(
        m,
        'ERR_READING_JSON',
        `reading is not JSON: ${preview(m.value)} (${(err as Error).message})`,
        [],
      );
    }
    const result = Reading.safeParse(json);
    if (!result.success) {
      const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const first = issues[0];
      return deadLetter(
        m,
        'ERR_READING_SCHEMA',
        `reading does not match the schema: ${first ? `${first.path || '(root)'}: ${first.message}` : preview(m.value)} (a canonical reading, CONTRACTS.md §4)`,
        issues,
      );
    }
    const topicKind = KINDS.find((k) => TOPICS.readings(k) === m.topic);
    if (topicKind && result.data.kind !== topicKind) {
      return deadLetter(
        m,
        'ERR_READING_SCHEMA',
        `reading kind does not match its topic: ${result.data.kind} (${topicKind} on ${m.topic})`,
        [{ path: 'kind', message: `expected ${topicKind}` }],
      );
    }
    return result.data;
  }

  async function handle(messages: readonly BusMessage[]): Promise<void> {
    const letters: OutgoingMessage[] = [];
    for (const m of messages) {
      const parsed = parse(m);
      if ('value' in parsed) {
        letters.push(parsed);
        continue;
      }
      readingsTotal.inc({ kind: parsed.kind });
      enqueue(engine.push(parsed));
    }
    devicesGauge.set(engine.devices());
    if (letters.length > 0) await bus.produce(TOPICS.deadLetters, letters);
    await send();
    if (clock.nowMs() - lastCheckpointMs >= config.checkpointIntervalMs) await checkpoint();
  }

  /** Saves changed devices' state once every transition emitted so far is durable. Never throws. */
  function checkpoint(): Promise<void> {
    checkpointing ??= (async () => {
      const ids = [...new Set([...unsaved, ...engine.takeDirty()])];
      try {
        if (ids.length === 0) return;
        // Snapshots are taken now, synchronously; the transitions they imply are those enqueued so far.
        const rows = ids.flatMap((id) => {
          const state = engine.snapshot(id);
          return state === undefined ? [] : [`{"id":${JSON.stringify(id)},"state":${state}}`];
        });
        const upTo = enqueued;
        while (produced < upTo) await send();
        await store.transaction(async (tx) => {
          for (let i = 0; i < rows.length; i += MAX_UPSERT_ROWS) {
            await tx.query(
              `INSERT INTO processor_state (device_id, state, updated_at)
               SELECT e->>'id', e->'state', now() FROM jsonb_array_elements($1::jsonb) AS e
               ON CONFLICT (device_id) DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
              [`[${rows.slice(i, i + MAX_UPSERT_ROWS).join(',')}]`],
            );
          }
        });
        unsaved.clear();
      } catch (err) {
        for (const id of ids) unsaved.add(id);
        checkpointFailures.inc();
        logger.error({ err, devices: ids.length }, 'checkpoint of processor state failed; retried at the next one');
      } finally {
        lastCheckpointMs = clock.nowMs();
      }
    })().finally(() => {
      checkpointing = undefined;
    });
    return checkpointing;
  }

  async function load(): Promise<void> {
    const { rows } = await store.query<{ device_id: string; state: unknown }>(
      'SELECT device_id, state FROM processor_state',
    );
    let invalid = 0;
    for (const row of rows) {
      try {
        engine.restore(row.device_id, row.state);
      } catch (err) {
        invalid += 1;
        logger.error({ err, deviceId: row.device_id }, 'checkpointed state unreadable; the device starts afresh');
      }
    }
    devicesGauge.set(engine.devices());
    logger.debug({ devices: rows.length - invalid, invalid }, 'processor state loaded');
  }

  return {
    async start() {
      await load();
      const topics = KINDS.map((kind: Kind) => TOPICS.readings(kind));
      for (const topic of [...topics, TOPICS.alerts, TOPICS.deadLetters]) await bus.ensureTopic(topic);
      subscription = await bus.subscribe({ groupId: PROCESSORS_GROUP, topics, handler: handle, fromBeginning: true });
      timer = setInterval(() => void checkpoint(), config.checkpointIntervalMs);
      timer.unref();
    },

    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await subscription?.close();
      subscription = undefined;
      await checkpointing;
      await send().catch((err: unknown) => {
        logger.error({ err, pending: outbox.length }, 'alert transitions not sent at close; the checkpoint is skipped');
      });
      if (outbox.length === 0) await checkpoint();
    },
  };
}
