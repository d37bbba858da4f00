import { fileURLToPath } from 'node:url';
import type { BatchHandler, Bus, BusMessage, OutgoingMessage, Subscription } from '../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import { type DeadLetter, DeviceId, KINDS, type Kind, Reading, TOPICS } from '../core/contracts/index.ts';
import { preview } from '../core/errors.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import { migrationsFromDir } from '../core/store/migrate.ts';
import type { ComponentMigrations, SqlStore } from '../core/store/store.ts';
import { createEngine, type Engine } from './engine.ts';
import { buildDetectors, buildModels, type ProcessorsConfig } from './registry.ts';

/**
 * The processors stage on the bus: consumes `readings.<kind>.v1` (group `processors`), runs the engine (engine.ts,
 * the same core replay uses), produces alert transitions to `alerts.v1` (key `deviceId:type`) and bad messages to
 * `deadletter.v1`.
 *
 * One engine per partition (a "task"): a device's readings all land in one partition (keyed by deviceId), so a
 * partition's transitions are a function of that partition's log alone — whichever instance processes it, after
 * whatever crash or rebalance. The watermark is therefore per partition (like Kafka Streams' stream time per task).
 *
 * Delivery: a batch's transitions and dead letters are produced before its handler resolves, so the bus commits its
 * offsets only once they are durable (STYLE.md §0.2). If a produce fails the handler throws and the batch comes
 * again; the messages already applied are skipped by offset and the pending transitions are sent first.
 *
 * State: snapshots with the offset they cover. Every `checkpointIntervalMs` (and on close) each task writes, in one
 * transaction, its changed devices' states, its engine clock and the next offset to process (tables of
 * migrations/002). A snapshot is taken between two batches of its partition, so every transition it implies is
 * already on the bus. When an instance gets a partition, it loads the snapshot and bumps the partition's epoch; if
 * the bus delivers from further on (the bus committed offsets after the snapshot), it seeks back to the snapshot's
 * offset and re-processes from there: the same readings from the same state give the same transitions with the same
 * alertIds, which alerting dedupes (alertId + state), so nothing is lost, nothing opens twice, no SMS goes twice.
 * Messages below the snapshot's offset (delivered again after a crash between snapshot and commit) are skipped.
 * A checkpoint is written only under the epoch its task loaded: an instance that lost the partition (rebalance,
 * long pause) finds its epoch outdated, drops the task and never overwrites the new owner's snapshot.
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

/** Most messages in one produce call. */
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

/** One partition's engine and progress. */
interface Task {
  readonly topic: string;
  readonly partition: number;
  readonly engine: Engine;
  /** The partition's epoch this task loaded; its checkpoints are written only under it. */
  readonly epoch: number;
  /** Next offset to process; undefined until the first message when there is no usable snapshot. */
  nextOffset: number | undefined;
  /** The offset the last written (or loaded) snapshot covers. */
  savedOffset: number | undefined;
  /** Set once the task asked the bus to go back to its snapshot's offset. */
  sought: boolean;
  /** Transitions and dead letters produced by applied messages and not yet durable on the bus, in order. */
  pending: Array<{ readonly topic: string; readonly message: OutgoingMessage }>;
  /** Devices whose last checkpoint failed: saved with the next one. */
  readonly unsaved: Set<string>;
  /** Checkpoints since this task last applied a message (an idle task is checked for ownership). */
  idleCheckpoints: number;
}

/** Creates the processors stage. */
export function createProcessor(options: ProcessorOptions): Processor {
  const { bus, store, metrics, logger, config } = options;
  const groupId = options.groupId ?? PROCESSORS_GROUP;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const models = buildModels(config);
  const detectors = buildDetectors(config);

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
    'Alert transitions produced, per type and state (again after a re-processing).',
    ['type', 'state'],
  );
  const devicesGauge = metrics.gauge('processor_devices', 'Devices with state in this instance.');
  const partitionsGauge = metrics.gauge('processor_partitions', 'Partitions this instance holds state for.');
  const checkpointFailures = metrics.counter(
    'processor_checkpoint_failures_total',
    'Checkpoints of a partition that failed (retried at the next one).',
  );
  const fenced = metrics.counter(
    'processor_partitions_lost_total',
    'Partitions dropped because another instance loaded them since (rebalance, long pause).',
  );
  const skipped = metrics.counter(
    'processor_messages_skipped_total',
    'Messages delivered again below a snapshot’s offset (already applied), skipped.',
  );
  const reprocessed = metrics.counter(
    'processor_seeks_total',
    'Times a partition was sent back to its snapshot’s offset to re-process what followed it.',
  );
  const gaps = metrics.counter(
    'processor_offset_gaps_total',
    'Messages missing between a snapshot and what the bus could deliver (removed by retention).',
  );

  const tasks = new Map<string, Task>();
  /** One promise chain per partition: batches and snapshots of a partition never interleave. */
  const locks = new Map<string, Promise<unknown>>();
  let subscription: Subscription | undefined;
  let logId: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let checkpointing: Promise<void> | undefined;
  let lastCheckpointMs = clock.nowMs();
  const topics = KINDS.map((kind: Kind) => TOPICS.readings(kind));

  const keyOf = (topic: string, partition: number) => `${topic}/${partition}`;

  function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const run = (locks.get(key) ?? Promise.resolve()).then(fn);
    const tail = run.catch(() => undefined);
    locks.set(key, tail);
    void tail.then(() => {
      if (locks.get(key) === tail) locks.delete(key);
    });
    return run;
  }

  function updateGauges(): void {
    let devices = 0;
    for (const t of tasks.values()) devices += t.engine.devices();
    devicesGauge.set(devices);
    partitionsGauge.set(tasks.size);
  }

  function newEngine(): Engine {
    return createEngine({
      config,
      models,
      detectors,
      onDrop: (reason) => {
        dropped.inc({ intentional: 'true', reason });
        logger.debug({ reason }, 'reading dropped on purpose');
      },
    });
  }

  /** Takes a partition: bumps its epoch and loads its snapshot (devices, clock, offset). */
  async function load(topic: string, partition: number): Promise<Task> {
    const { task, devices, invalid } = await store.transaction(async (tx) => {
      const { rows } = await tx.query<{
        epoch: string;
        log_id: string | null;
        next_offset: string | null;
        clock: unknown;
      }>(
        `INSERT INTO processor_partitions (group_id, topic, partition, epoch) VALUES ($1, $2, $3, 1)
         ON CONFLICT (group_id, topic, partition) DO UPDATE
           SET epoch = processor_partitions.epoch + 1, updated_at = now()
         RETURNING epoch, log_id, next_offset, clock`,
        [groupId, topic, partition],
      );
      const row = rows[0]!;
      const states = await tx.query<{ device_id: string; state: unknown }>(
        'SELECT device_id, state FROM processor_device_state WHERE group_id = $1 AND topic = $2 AND partition = $3',
        [groupId, topic, partition],
      );
      const engine = newEngine();
      let invalid = 0;
      for (const s of states.rows) {
        try {
          engine.restore(s.device_id, s.state);
        } catch (err) {
          invalid += 1;
          logger.error({ err, deviceId: s.device_id }, 'checkpointed state unreadable; the device starts afresh');
        }
      }
      if (row.clock !== null) engine.restoreClock(row.clock);
      // An offset saved on another log (the in-process bus of an earlier process) says nothing about this one. A
      // partition loaded before (epoch > 1) but never saved was processed by an instance that died first: all of
      // it again, from the oldest retained message. A partition nobody ever loaded starts where the bus delivers.
      const epoch = Number(row.epoch);
      const offset =
        row.log_id === logId && row.next_offset !== null
          ? Number(row.next_offset)
          : row.log_id === null && epoch > 1
            ? 0
            : undefined;
      const task: Task = {
        topic,
        partition,
        engine,
        epoch,
        nextOffset: offset,
        savedOffset: offset,
        sought: false,
        pending: [],
        unsaved: new Set(),
        idleCheckpoints: 0,
      };
      return { task, devices: states.rows.length, invalid };
    });
    logger.info(
      { topic, partition, epoch: task.epoch, nextOffset: task.nextOffset ?? null, devices: devices - invalid, invalid },
      'partition taken: snapshot loaded',
    );
    return task;
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

  /** Produces what the task's applied messages caused, in order; removes each part once durable. */
  async function sendPending(task: Task): Promise<void> {
    while (task.pending.length > 0) {
      const chunk = task.pending.slice(0, MAX_PRODUCE_BATCH);
      const byTopic = new Map<string, OutgoingMessage[]>();
      for (const { topic, message } of chunk) {
        const list = byTopic.get(topic);
        if (list) list.push(message);
        else byTopic.set(topic, [message]);
      }
      await Promise.all([...byTopic].map(([topic, messages]) => bus.produce(topic, messages)));
      task.pending.splice(0, chunk.length);
    }
  }

  function apply(task: Task, messages: readonly BusMessage[]): void {
    for (const m of messages) {
      if (task.nextOffset !== undefined && m.offset < task.nextOffset) {
        skipped.inc();
        continue;
      }
      task.nextOffset = m.offset + 1;
      const parsed = parse(m);
      if ('value' in parsed) {
        task.pending.push({ topic: TOPICS.deadLetters, message: parsed });
        continue;
      }
      readingsTotal.inc({ kind: parsed.kind });
      for (const t of task.engine.push(parsed)) {
        task.pending.push({
          topic: TOPICS.alerts,
          message: { key: `${t.deviceId}:${t.type}`, value: JSON.stringify(t) },
        });
        transitionsTotal.inc({ type: t.type, state: t.state });
      }
    }
    task.idleCheckpoints = 0;
  }

  const handler: BatchHandler = async (messages, ctx) => {
    const first = messages[0];
    if (!first) return;
    const key = keyOf(ctx.topic, ctx.partition);
    await withLock(key, async () => {
      let task = tasks.get(key);
      // A partition this instance does not hold, or one another instance moved on meanwhile: take its snapshot.
      if (!task || (task.nextOffset !== undefined && first.offset > task.nextOffset)) {
        task = await load(ctx.topic, ctx.partition);
        tasks.set(key, task);
        updateGauges();
      }
      if (task.nextOffset !== undefined && first.offset > task.nextOffset) {
        if (!task.sought) {
          task.sought = true;
          reprocessed.inc();
          logger.info(
            { topic: ctx.topic, partition: ctx.partition, from: task.nextOffset, delivered: first.offset },
            'partition behind its committed offset: re-processing from the snapshot',
          );
          ctx.seek(task.nextOffset);
          return;
        }
        // Sought already and still beyond: the messages in between are gone (retention). Said loudly, then on.
        gaps.inc(first.offset - task.nextOffset);
        logger.error(
          { topic: ctx.topic, partition: ctx.partition, from: task.nextOffset, delivered: first.offset },
          'messages between the snapshot and the oldest retained one are gone: their readings were never processed',
        );
        task.nextOffset = first.offset;
      }
      await sendPending(task); // what a failed attempt left (its messages are skipped below)
      apply(task, messages);
      updateGauges();
      await sendPending(task);
    });
    if (clock.nowMs() - lastCheckpointMs >= config.checkpointIntervalMs) void checkpoint();
  };

  /** Writes one task's snapshot under its epoch; false when another instance has taken the partition. */
  async function save(task: Task): Promise<boolean> {
    const key = keyOf(task.topic, task.partition);
    // Taken between two batches of the partition, with nothing pending: every transition it implies is durable.
    const snap = await withLock(key, async () => {
      if (tasks.get(key) !== task || task.pending.length > 0) return undefined;
      const ids = [...new Set([...task.unsaved, ...task.engine.takeDirty()])];
      if (ids.length === 0 && task.nextOffset === task.savedOffset) return undefined;
      const rows = ids.flatMap((id) => {
        const state = task.engine.snapshot(id);
        return state === undefined ? [] : [`{"id":${JSON.stringify(id)},"state":${state}}`];
      });
      return { ids, rows, nextOffset: task.nextOffset, clock: task.engine.snapshotClock() };
    });
    if (!snap) return true;
    try {
      const owned = await store.transaction(async (tx) => {
        const fence = await tx.query(
          `UPDATE processor_partitions SET log_id = $5, next_offset = $6, clock = $7::jsonb, updated_at = now()
           WHERE group_id = $1 AND topic = $2 AND partition = $3 AND epoch = $4`,
          [groupId, task.topic, task.partition, task.epoch, logId, snap.nextOffset ?? null, snap.clock],
        );
        if (fence.rowCount === 0) return false;
        for (let i = 0; i < snap.rows.length; i += MAX_UPSERT_ROWS) {
          await tx.query(
            `INSERT INTO processor_device_state (group_id, topic, partition, device_id, state, updated_at)
             SELECT $1, $2, $3, e->>'id', e->'state', now() FROM jsonb_array_elements($4::jsonb) AS e
             ON CONFLICT (group_id, topic, partition, device_id)
               DO UPDATE SET state = EXCLUDED.state, updated_at = EXCLUDED.updated_at`,
            [groupId, task.topic, task.partition, `[${snap.rows.slice(i, i + MAX_UPSERT_ROWS).join(',')}]`],
          );
        }
        return true;
      });
      if (!owned) return false;
      task.unsaved.clear();
      task.savedOffset = snap.nextOffset;
      return true;
    } catch (err) {
      for (const id of snap.ids) task.unsaved.add(id);
      checkpointFailures.inc();
      logger.error(
        { err, topic: task.topic, partition: task.partition, devices: snap.ids.length },
        'checkpoint of processor state failed; retried at the next one',
      );
      return true;
    }
  }

  /** Forgets a task another instance took; its next batch here (if any) loads the new snapshot. */
  function drop(task: Task, why: string): void {
    const key = keyOf(task.topic, task.partition);
    if (tasks.get(key) !== task) return;
    tasks.delete(key);
    fenced.inc();
    updateGauges();
    logger.info({ topic: task.topic, partition: task.partition, epoch: task.epoch }, `partition dropped: ${why}`);
  }

  /** Checkpoints every task; drops those another instance has taken. Never throws. */
  function checkpoint(): Promise<void> {
    checkpointing ??= (async () => {
      lastCheckpointMs = clock.nowMs();
      for (const task of [...tasks.values()]) {
        if (!(await save(task))) drop(task, 'another instance loaded it since');
        else task.idleCheckpoints += 1;
      }
      // A task with nothing to save for a while may belong to another instance by now: ask the store.
      const idle = [...tasks.values()].filter((t) => t.idleCheckpoints >= 3);
      if (idle.length > 0) {
        try {
          const { rows } = await store.query<{ topic: string; partition: number; epoch: string }>(
            'SELECT topic, partition, epoch FROM processor_partitions WHERE group_id = $1',
            [groupId],
          );
          const epochs = new Map(rows.map((r) => [keyOf(r.topic, r.partition), Number(r.epoch)]));
          for (const t of idle) {
            if (epochs.get(keyOf(t.topic, t.partition)) !== t.epoch) drop(t, 'another instance loaded it since');
            else t.idleCheckpoints = 0;
          }
        } catch (err) {
          logger.warn({ err }, 'could not check partition ownership; checked again at the next checkpoint');
        }
      }
      lastCheckpointMs = clock.nowMs();
    })().finally(() => {
      checkpointing = undefined;
    });
    return checkpointing;
  }

  return {
    async start() {
      for (const topic of [...topics, TOPICS.alerts, TOPICS.deadLetters]) await bus.ensureTopic(topic);
      logId = await bus.logId();
      subscription = await bus.subscribe({ groupId, topics, handler, fromBeginning: true });
      timer = setInterval(() => void checkpoint(), config.checkpointIntervalMs);
      timer.unref();
    },

    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      const sub = subscription;
      subscription = undefined;
      if (!sub) return;
      // Hand over cleanly: stop fetching, let the batches in flight finish, checkpoint, then leave the group, so
      // the next owner of each partition starts from an up-to-date snapshot. A batch delivered after the pause
      // is saved by the last checkpoint, or (if the partition moved on meanwhile) re-processed by its new owner.
      for (const topic of topics) sub.pause(topic);
      await Promise.all([...locks.values()]);
      await checkpoint();
      await sub.close();
      await Promise.all([...locks.values()]);
      for (const task of tasks.values()) {
        await withLock(keyOf(task.topic, task.partition), () => sendPending(task)).catch((err: unknown) => {
          logger.error(
            { err, topic: task.topic, partition: task.partition, pending: task.pending.length },
            'alert transitions not sent at close; the partition is re-processed from its snapshot',
          );
        });
      }
      await checkpoint();
    },
  };
}
