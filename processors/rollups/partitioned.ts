/**
 * A consumer whose state lives per partition and is snapshotted with the offset it covers — the mechanism of
 * processors/runner.ts ("State"), for any task: one task per partition, a batch's outputs produced before its
 * offsets commit, snapshots every `checkpointIntervalMs` (and on close) under the partition's epoch (fencing), a
 * seek back to the snapshot's offset when the bus delivers from further on, messages below it skipped.
 *
 * It writes the processors' tables (migration processors/migrations/002): `processor_partitions` and
 * `processor_device_state` under its own `group_id`, so no migration of its own; a state key is any text (a device
 * id, `m:<deviceId>`, `d:<district>`) and a key whose state is gone is deleted.
 */
import type { BatchHandler, Bus, BusMessage, OutgoingMessage, Subscription } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';

/** A message a task wants produced, on a topic. */
export interface PendingMessage {
  readonly topic: string;
  readonly message: OutgoingMessage;
}

/** The state of one partition: applies messages, says what changed, snapshots and restores by key. */
export interface PartitionTask {
  /** Applies one message (never throws on bad data: dead-letter or count it); pushes what it causes to `out`. */
  apply(message: BusMessage, out: PendingMessage[]): void;
  /** After each batch: what the batch's messages caused together (coalesced outputs). */
  endBatch(out: PendingMessage[]): void;
  /** Keys whose state changed since the last call (and forgets them). */
  takeDirty(): string[];
  /** A key's state as JSON text; undefined when it has none (its row is deleted). */
  snapshot(key: string): string | undefined;
  /** Restores a key's state; throws when unreadable (the key then starts afresh). */
  restore(key: string, json: unknown): void;
  /** The partition-wide state as JSON text. */
  snapshotClock(): string;
  /** Restores {@link snapshotClock}'s JSON; throws when unreadable. */
  restoreClock(json: unknown): void;
  /** Keys with state (a gauge). */
  size(): number;
}

/** Options of {@link createPartitionedRunner}. */
export interface PartitionedRunnerOptions {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Label `stage` of the runner's metrics. */
  readonly stage: string;
  /** Least wall-clock time between two checkpoints, ms. */
  readonly checkpointIntervalMs: number;
  readonly newTask: (topic: string, partition: number) => PartitionTask;
  /** Wall clock for checkpoint cadence only. Default: system. */
  readonly clock?: Clock;
}

/** A running partitioned consumer. */
export interface PartitionedRunner {
  /** Subscribes (from the beginning for a new group). */
  start(): Promise<void>;
  /** Stops fetching, lets in-flight batches finish, checkpoints every partition and leaves the group. */
  close(): Promise<void>;
}

const MAX_PRODUCE_BATCH = 5_000;
const MAX_UPSERT_ROWS = 2_000;

interface Task {
  readonly topic: string;
  readonly partition: number;
  readonly state: PartitionTask;
  readonly epoch: number;
  nextOffset: number | undefined;
  savedOffset: number | undefined;
  sought: boolean;
  pending: PendingMessage[];
  readonly unsaved: Set<string>;
  idleCheckpoints: number;
}

/** Creates a partitioned consumer with snapshots (see the file's header). */
export function createPartitionedRunner(options: PartitionedRunnerOptions): PartitionedRunner {
  const { bus, store, metrics, logger, groupId, topics, stage } = options;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const labels = { stage };
  const keysGauge = metrics.gauge('rollup_state_keys', 'Keys (meters, districts) with rollup state here.', ['stage']);
  const partitionsGauge = metrics.gauge('rollup_partitions', 'Partitions this instance holds rollup state for.', [
    'stage',
  ]);
  const checkpointFailures = metrics.counter(
    'rollup_checkpoint_failures_total',
    'Checkpoints of a rollup partition that failed (retried at the next one).',
    ['stage'],
  );
  const fenced = metrics.counter(
    'rollup_partitions_lost_total',
    'Rollup partitions dropped because another instance loaded them since.',
    ['stage'],
  );
  const skipped = metrics.counter(
    'rollup_messages_skipped_total',
    'Messages delivered again below a snapshot’s offset (already applied), skipped.',
    ['stage'],
  );
  const seeks = metrics.counter(
    'rollup_seeks_total',
    'Times a partition was sent back to its snapshot’s offset to re-process what followed it.',
    ['stage'],
  );
  const gaps = metrics.counter(
    'rollup_offset_gaps_total',
    'Messages missing between a snapshot and what the bus could deliver (removed by retention).',
    ['stage'],
  );
  const invalidState = metrics.counter(
    'rollup_state_invalid_total',
    'Saved rollup states unreadable at load (ERR_ROLLUP_STATE): the key started afresh.',
    ['stage'],
  );

  const tasks = new Map<string, Task>();
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

  async function load(topic: string, partition: number): Promise<Task> {
    const task = await store.transaction(async (tx) => {
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
      for (const s of states.rows) {
        try {
          state.restore(s.device_id, s.state);
        } catch (err) {
          invalidState.inc(labels);
          logger.error({ err, key: s.device_id, topic, partition }, 'saved rollup state unreadable; it starts afresh');
        }
      }
      if (row.clock !== null) {
        try {
          state.restoreClock(row.clock);
        } catch (err) {
          invalidState.inc(labels);
          logger.error({ err, topic, partition }, 'saved rollup clock unreadable; it starts afresh');
        }
      }
      // As in processors/runner.ts: an offset of another log means nothing here; a partition loaded before but
      // never saved is processed again from the oldest retained message.
      const epoch = Number(row.epoch);
      const offset =
        row.log_id === logId && row.next_offset !== null
          ? Number(row.next_offset)
          : row.log_id === null && epoch > 1
            ? 0
            : undefined;
      const t: Task = {
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
      return t;
    });
    logger.info(
      { topic, partition, epoch: task.epoch, nextOffset: task.nextOffset ?? null, keys: task.state.size() },
      'rollup partition taken: snapshot loaded',
    );
    return task;
  }

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
    if (applied > 0) task.state.endBatch(task.pending);
    task.idleCheckpoints = 0;
  }

  const handler: BatchHandler = async (messages, ctx) => {
    const first = messages[0];
    if (!first) return;
    const key = keyOf(ctx.topic, ctx.partition);
    await withLock(key, async () => {
      let task = tasks.get(key);
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
            'rollup partition behind its committed offset: re-processing from the snapshot',
          );
          ctx.seek(task.nextOffset);
          return;
        }
        gaps.inc(labels, first.offset - task.nextOffset);
        logger.error(
          { topic: ctx.topic, partition: ctx.partition, from: task.nextOffset, delivered: first.offset },
          'messages between the rollup snapshot and the oldest retained one are gone: never rolled up',
        );
        task.nextOffset = first.offset;
      }
      await sendPending(task);
      apply(task, messages);
      updateGauges();
      await sendPending(task);
    });
    if (clock.nowMs() - lastCheckpointMs >= options.checkpointIntervalMs) void checkpoint();
  };

  async function save(task: Task): Promise<boolean> {
    const key = keyOf(task.topic, task.partition);
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
        'checkpoint of rollup state failed; retried at the next one',
      );
      return true;
    }
  }

  function drop(task: Task, why: string): void {
    const key = keyOf(task.topic, task.partition);
    if (tasks.get(key) !== task) return;
    tasks.delete(key);
    fenced.inc(labels);
    updateGauges();
    logger.info(
      { topic: task.topic, partition: task.partition, epoch: task.epoch },
      `rollup partition dropped: ${why}`,
    );
  }

  function checkpoint(): Promise<void> {
    checkpointing ??= (async () => {
      lastCheckpointMs = clock.nowMs();
      for (const task of [...tasks.values()]) {
        if (!(await save(task))) drop(task, 'another instance loaded it since');
        else task.idleCheckpoints += 1;
      }
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
          logger.warn({ err }, 'could not check rollup partition ownership; checked again at the next checkpoint');
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
      for (const topic of topics) sub.pause(topic);
      await Promise.all([...locks.values()]);
      await checkpoint();
      await sub.close();
      await Promise.all([...locks.values()]);
      for (const task of tasks.values()) {
        await withLock(keyOf(task.topic, task.partition), () => sendPending(task)).catch((err: unknown) => {
          logger.error(
            { err, topic: task.topic, partition: task.partition, pending: task.pending.length },
            'rollups not sent at close; the partition is re-processed from its snapshot',
          );
        });
      }
      await checkpoint();
    },
  };
}
