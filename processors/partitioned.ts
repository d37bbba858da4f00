import type { BatchHandler, Bus, BusMessage, OutgoingMessage, Subscription } from '../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../core/clock.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import type { KeyedSnapshots } from './snapshots.ts';

/**
 * A consumer whose state lives per partition and is snapshotted with the offset it covers: the mechanism the
 * processors (runner.ts: one engine per partition) and the rollups (rollups/stage.ts: meters, districts) run on.
 *
 * Tasks: one per partition. A key's messages all land in one partition, so a partition's outputs are a function of
 * that partition's log alone — whichever instance processes it, after whatever crash or rebalance.
 *
 * Delivery: a batch's outputs ({@link PartitionTask.apply}, then {@link PartitionTask.endBatch}) are produced before
 * its handler resolves, so the bus commits its offsets only once they are durable (STYLE.md §0.2). If a produce fails
 * the handler throws and the batch comes again; the messages already applied are skipped by offset and the pending
 * outputs are sent first.
 *
 * State: every `checkpointIntervalMs` (and on close) each task writes, in one transaction, its changed keys' states
 * (a key whose state is gone is deleted), its partition-wide state ("clock") and the next offset to process, in the
 * processors' tables (processors/migrations/002: `processor_partitions`, `processor_device_state`, under the
 * consumer's `group_id`). A snapshot is taken between two batches of its partition, so every output it implies is
 * already on the bus. When an instance gets a partition, it loads the snapshot and bumps the partition's epoch; if
 * the bus delivers from further on (the bus committed offsets after the snapshot), it seeks back to the snapshot's
 * offset and re-processes from there: the same messages from the same state give the same outputs, which their
 * consumers dedupe or replace. Messages below the snapshot's offset (delivered again after a crash between snapshot
 * and commit) are skipped. A checkpoint is written only under the epoch its task loaded: an instance that lost the
 * partition (rebalance, long pause) finds its epoch outdated, drops the task and never overwrites the new owner's
 * snapshot. An unreadable saved state (a key's or the clock) is logged and counted, and starts afresh.
 * Cost: up to one checkpoint interval of messages re-processed after a crash; one upsert of changed keys per
 * interval (not per message); a partition's keys loaded when it moves.
 */

/** A message a task wants produced, on a topic. */
export interface PendingMessage {
  readonly topic: string;
  readonly message: OutgoingMessage;
}

/** The state of one partition: applies messages, says what changed, snapshots and restores by key. */
export interface PartitionTask extends KeyedSnapshots {
  /** Applies one message (never throws on bad data: dead-letter or count it); pushes what it causes to `out`. */
  apply(message: BusMessage, out: PendingMessage[]): void;
  /** After a batch that applied messages: what they caused together (coalesced outputs). */
  endBatch?(out: PendingMessage[]): void;
  /** Keys with state (a gauge). */
  size(): number;
}

/** Options of {@link createPartitionedRunner}. */
export interface PartitionedRunnerOptions {
  readonly bus: Bus;
  /** The operational store with the processors' migrations (the snapshot tables). */
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Consumer group; its snapshots are kept apart from other groups'. */
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Prefix of the metrics (`<name>_partitions`, `<name>_seeks_total`, …) and word in the logs: `processor`. */
  readonly name: string;
  /** What the tasks produce, as the logs call it (`alert transitions`). */
  readonly outputs: string;
  /** The gauge of keys with state in this instance (e.g. `processor_devices`). */
  readonly keysGauge: { readonly name: string; readonly help: string };
  /** Labels on every metric of the runner (e.g. `{ stage: 'meter' }`); none by default. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Least wall-clock time between two checkpoints, ms. */
  readonly checkpointIntervalMs: number;
  /** A partition's empty state; its snapshot is restored into it. */
  readonly newTask: (topic: string, partition: number) => PartitionTask;
  /** Wall clock for checkpoint cadence only. Default: system. */
  readonly clock?: Clock;
}

/** A running partitioned consumer. */
export interface PartitionedRunner {
  /** Subscribes (from the beginning for a new group); partitions load their snapshots as they are assigned. */
  start(): Promise<void>;
  /** Stops fetching, lets the in-flight batches finish, checkpoints every partition, and leaves the group. */
  close(): Promise<void>;
}

/** Most messages in one produce call. */
const MAX_PRODUCE_BATCH = 5_000;
/** Most key states in one upsert (or delete) statement. */
const MAX_UPSERT_ROWS = 2_000;

/** One partition's state and progress. */
interface Task {
  readonly topic: string;
  readonly partition: number;
  readonly state: PartitionTask;
  /** The partition's epoch this task loaded; its checkpoints are written only under it. */
  readonly epoch: number;
  /** Next offset to process; undefined until the first message when there is no usable snapshot. */
  nextOffset: number | undefined;
  /** The offset the last written (or loaded) snapshot covers. */
  savedOffset: number | undefined;
  /** Set once the task asked the bus to go back to its snapshot's offset. */
  sought: boolean;
  /** Outputs of applied messages not yet durable on the bus, in order. */
  pending: PendingMessage[];
  /** Keys whose last checkpoint failed: saved with the next one. */
  readonly unsaved: Set<string>;
  /** Checkpoints since this task last applied a message (an idle task is checked for ownership). */
  idleCheckpoints: number;
}

/** Creates a partitioned consumer with snapshots (see the file's header). */
export function createPartitionedRunner(options: PartitionedRunnerOptions): PartitionedRunner {
  const { bus, store, metrics, logger, groupId, topics, name, outputs } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const labels = options.labels ?? {};
  const labelNames = Object.keys(labels);
  const counter = (suffix: string, help: string) => metrics.counter(`${name}_${suffix}`, help, labelNames);
  const keysGauge = metrics.gauge(options.keysGauge.name, options.keysGauge.help, labelNames);
  const partitionsGauge = metrics.gauge(
    `${name}_partitions`,
    `Partitions this instance holds ${name} state for.`,
    labelNames,
  );
  const checkpointFailures = counter(
    'checkpoint_failures_total',
    'Checkpoints of a partition that failed (retried at the next one).',
  );
  const fenced = counter(
    'partitions_lost_total',
    'Partitions dropped because another instance loaded them since (rebalance, long pause).',
  );
  const skipped = counter(
    'messages_skipped_total',
    'Messages delivered again below a snapshot’s offset (already applied), skipped.',
  );
  const seeks = counter(
    'seeks_total',
    'Times a partition was sent back to its snapshot’s offset to re-process what followed it.',
  );
  const gaps = counter(
    'offset_gaps_total',
    'Messages missing between a snapshot and what the bus could deliver (removed by retention).',
  );
  const invalidState = counter(
    'state_invalid_total',
    'Saved states (a key’s or a partition’s clock) unreadable at load: each started afresh.',
  );

  const tasks = new Map<string, Task>();
  /** One promise chain per partition: batches and snapshots of a partition never interleave. */
  const locks = new Map<string, Promise<unknown>>();
  let subscription: Subscription | undefined;
  let logId: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let checkpointing: Promise<void> | undefined;
  let lastCheckpointMs = clock.nowMs();

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
    let keys = 0;
    for (const t of tasks.values()) keys += t.state.size();
    keysGauge.set(labels, keys);
    partitionsGauge.set(labels, tasks.size);
  }

  /** Takes a partition: bumps its epoch and loads its snapshot (keys, clock, offset). */
  async function load(topic: string, partition: number): Promise<Task> {
    const { task, invalid } = await store.transaction(async (tx) => {
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
      const state = options.newTask(topic, partition);
      let invalid = 0;
      for (const s of states.rows) {
        try {
          state.restore(s.device_id, s.state);
        } catch (err) {
          invalid += 1;
          invalidState.inc(labels);
          logger.error({ err, key: s.device_id, topic, partition }, `saved ${name} state unreadable; it starts afresh`);
        }
      }
      if (row.clock !== null) {
        try {
          state.restoreClock(row.clock);
        } catch (err) {
          invalid += 1;
          invalidState.inc(labels);
          logger.error({ err, topic, partition }, `saved ${name} clock unreadable; it starts afresh`);
        }
      }
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
        state,
        epoch,
        nextOffset: offset,
        savedOffset: offset,
        sought: false,
        pending: [],
        unsaved: new Set(),
        idleCheckpoints: 0,
      };
      return { task, invalid };
    });
    logger.info(
      { topic, partition, epoch: task.epoch, nextOffset: task.nextOffset ?? null, keys: task.state.size(), invalid },
      `${name} partition taken: snapshot loaded`,
    );
    return task;
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
    let applied = 0;
    for (const m of messages) {
      if (task.nextOffset !== undefined && m.offset < task.nextOffset) {
        skipped.inc(labels);
        continue;
      }
      task.nextOffset = m.offset + 1;
      task.state.apply(m, task.pending);
      applied += 1;
    }
    if (applied > 0) task.state.endBatch?.(task.pending);
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
          seeks.inc(labels);
          logger.info(
            { topic: ctx.topic, partition: ctx.partition, from: task.nextOffset, delivered: first.offset },
            `${name} partition behind its committed offset: re-processing from the snapshot`,
          );
          ctx.seek(task.nextOffset);
          return;
        }
        // Sought already and still beyond: the messages in between are gone (retention). Said loudly, then on.
        gaps.inc(labels, first.offset - task.nextOffset);
        logger.error(
          { topic: ctx.topic, partition: ctx.partition, from: task.nextOffset, delivered: first.offset },
          `messages between the ${name} snapshot and the oldest retained one are gone: they were never processed`,
        );
        task.nextOffset = first.offset;
      }
      await sendPending(task); // what a failed attempt left (its messages are skipped below)
      apply(task, messages);
      updateGauges();
      await sendPending(task);
    });
    if (clock.nowMs() - lastCheckpointMs >= options.checkpointIntervalMs) void checkpoint();
  };

  /** Writes one task's snapshot under its epoch; false when another instance has taken the partition. */
  async function save(task: Task): Promise<boolean> {
    const key = keyOf(task.topic, task.partition);
    // Taken between two batches of the partition, with nothing pending: every output it implies is durable.
    const snap = await withLock(key, async () => {
      if (tasks.get(key) !== task || task.pending.length > 0) return undefined;
      const ids = [...new Set([...task.unsaved, ...task.state.takeDirty()])];
      if (ids.length === 0 && task.nextOffset === task.savedOffset) return undefined;
      const rows: string[] = [];
      const gone: string[] = [];
      for (const id of ids) {
        const state = task.state.snapshot(id);
        if (state === undefined) gone.push(id);
        else rows.push(`{"id":${JSON.stringify(id)},"state":${state}}`);
      }
      return { ids, rows, gone, nextOffset: task.nextOffset, clock: task.state.snapshotClock() };
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
        for (let i = 0; i < snap.gone.length; i += MAX_UPSERT_ROWS) {
          await tx.query(
            `DELETE FROM processor_device_state
             WHERE group_id = $1 AND topic = $2 AND partition = $3 AND device_id = ANY($4::text[])`,
            [groupId, task.topic, task.partition, snap.gone.slice(i, i + MAX_UPSERT_ROWS)],
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
      checkpointFailures.inc(labels);
      logger.error(
        { err, topic: task.topic, partition: task.partition, keys: snap.ids.length },
        `checkpoint of ${name} state failed; retried at the next one`,
      );
      return true;
    }
  }

  /** Forgets a task another instance took; its next batch here (if any) loads the new snapshot. */
  function drop(task: Task, why: string): void {
    const key = keyOf(task.topic, task.partition);
    if (tasks.get(key) !== task) return;
    tasks.delete(key);
    fenced.inc(labels);
    updateGauges();
    logger.info(
      { topic: task.topic, partition: task.partition, epoch: task.epoch },
      `${name} partition dropped: ${why}`,
    );
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
          logger.warn({ err }, `could not check ${name} partition ownership; checked again at the next checkpoint`);
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
      logId = await bus.logId();
      subscription = await bus.subscribe({ groupId, topics, handler, fromBeginning: true });
      timer = setInterval(() => void checkpoint(), options.checkpointIntervalMs);
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
            `${outputs} not sent at close; the partition is re-processed from its snapshot`,
          );
        });
      }
      await checkpoint();
    },
  };
}
