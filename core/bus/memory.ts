import { randomUUID } from 'node:crypto';
import { COMPACTED_TOPICS } from '../contracts/topics.ts';
import { AppError } from '../errors.ts';
import { partitionForKey } from './partitioner.ts';
import type {
  BatchContext,
  BatchHandler,
  Bus,
  BusMessage,
  OutgoingMessage,
  SubscribeOptions,
  Subscription,
} from './port.ts';
import { backoffDelayMs, type RetryPolicy } from './retry.ts';

/**
 * The in-process bus: the embedded default of `npm start`. A real implementation of the bus contract, not a mock
 * (STYLE.md §4): topics with partitions, per-key order, consumer groups sharing partitions, offsets committed only
 * after the handler resolves, redelivery when it throws, pause/resume, and backpressure on producers.
 *
 * Limits, stated plainly: messages live in this process's memory and are lost if it dies; durability across
 * crashes is the Kafka adapter's job. Memory is bounded: a producer waits while the slowest group lags more than
 * `maxBacklogPerPartition` behind, and a partition keeps at most `retainPerPartition` (+ 1/16, trimmed in chunks) messages.
 * A topic ensured `compacted` is the exception: it is not compacted here but kept whole (its readers need every
 * key), so it grows with what is produced to it (devices.v1: each device once per start, plus one per change).
 */
export interface MemoryBusOptions {
  /** Partitions of a topic created without an explicit count (default 4). */
  readonly defaultPartitions?: number;
  /** Produced-but-uncommitted messages a partition holds before producers wait (default 10,000). */
  readonly maxBacklogPerPartition?: number;
  /** Messages a partition retains for late subscribers, consumed or not (default 20,000; at least the backlog). */
  readonly retainPerPartition?: number;
  /** How long a producer waits for room before failing with a retryable `ERR_BUS_FULL` (default 30 s). */
  readonly produceTimeoutMs?: number;
  /** Backoff between redeliveries of a batch whose handler threw (default 50 ms doubling to 5 s, never gives up). */
  readonly redelivery?: Omit<RetryPolicy, 'maxAttempts'>;
  /** Called when a handler throws, before the batch is delivered again. */
  readonly onHandlerError?: (err: unknown, ctx: { groupId: string; topic: string; partition: number }) => void;
}

interface Partition {
  /** Offset of log[0]. */
  baseOffset: number;
  log: BusMessage[];
  /** Wakes consumers waiting for new messages. */
  dataWaiters: Array<() => void>;
  /** Wakes producers waiting for room. */
  roomWaiters: Array<() => void>;
}

interface Topic {
  readonly name: string;
  readonly partitions: Partition[];
  /** Never trimmed by retention (a compacted topic: its readers need every key; it grows with what is produced). */
  compacted: boolean;
}

interface Member {
  readonly id: number;
  readonly options: SubscribeOptions;
  readonly paused: Set<string>;
  closed: boolean;
  /** Batches this member is handling now; close() waits for them. */
  readonly inFlight: Set<Promise<void>>;
}

interface Group {
  readonly id: string;
  readonly members: Member[];
  /** Next offset to consume, per `topic/partition`. */
  readonly committed: Map<string, number>;
  /** Owner member per `topic/partition`, recomputed on every join and leave. */
  readonly owners: Map<string, Member>;
  /** One consuming loop per `topic/partition`, started once. */
  readonly loops: Set<string>;
  /** Wakes loops when ownership or pause state changes. */
  readonly wake: Map<string, Array<() => void>>;
}

const pk = (topic: string, partition: number) => `${topic}/${partition}`;

/** Retention trims a partition once at least this many messages may go (1/16 of `retain`, at most 1,024). */
const MAX_TRIM_CHUNK = 1_024;

/** Creates an in-process bus. */
export function createMemoryBus(options: MemoryBusOptions = {}): Bus & {
  /** Messages produced but not yet committed by `groupId` on `topic`, over all partitions. */
  lag(groupId: string, topic: string): number;
} {
  const defaultPartitions = options.defaultPartitions ?? 4;
  const maxBacklog = options.maxBacklogPerPartition ?? 10_000;
  const retain = Math.max(options.retainPerPartition ?? 20_000, maxBacklog);
  const trimChunk = Math.max(1, Math.min(MAX_TRIM_CHUNK, Math.floor(retain / 16)));
  const produceTimeoutMs = options.produceTimeoutMs ?? 30_000;
  const redelivery = { initialDelayMs: 50, maxDelayMs: 5_000, ...options.redelivery, maxAttempts: Infinity };
  const topics = new Map<string, Topic>();
  const groups = new Map<string, Group>();
  let nextMemberId = 1;
  let closed = false;
  /** Produces waiting for room, in call order. */
  let producing: Promise<void> = Promise.resolve();
  let waitingProduces = 0;
  const logId = `memory:${randomUUID()}`;
  const timers = new Set<NodeJS.Timeout>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function getTopic(name: string, partitions = defaultPartitions): Topic {
    let topic = topics.get(name);
    if (!topic) {
      topic = {
        name,
        partitions: Array.from({ length: partitions }, () => ({
          baseOffset: 0,
          log: [],
          dataWaiters: [],
          roomWaiters: [],
        })),
        compacted: false,
      };
      topics.set(name, topic);
    }
    return topic;
  }

  const endOffset = (p: Partition) => p.baseOffset + p.log.length;

  function append(topic: Topic, messages: readonly OutgoingMessage[], targets: number[], indexes: number[]): void {
    const now = Date.now();
    messages.forEach((m, i) => {
      const index = targets[i]!;
      const partition = topic.partitions[index]!;
      partition.log.push({
        topic: topic.name,
        partition: index,
        offset: endOffset(partition),
        timestampMs: now,
        key: m.key,
        value: m.value,
        ...(m.headers ? { headers: { ...m.headers } } : {}),
      });
    });
    for (const index of indexes) {
      const partition = topic.partitions[index]!;
      trimUnconsumed(topic.name, partition, index);
      wakeAll(partition.dataWaiters);
    }
  }

  /** Groups that consume `topic` (have at least one member subscribed to it, or committed offsets on it). */
  function consumingGroups(topic: string): Group[] {
    return [...groups.values()].filter((g) => g.members.some((m) => !m.closed && m.options.topics.includes(topic)));
  }

  /** Messages on a partition that the slowest consuming group has not committed. */
  function backlog(topic: Topic, index: number): number {
    const partition = topic.partitions[index]!;
    let slowest = endOffset(partition);
    for (const group of consumingGroups(topic.name)) {
      slowest = Math.min(slowest, group.committed.get(pk(topic.name, index)) ?? endOffset(partition));
    }
    return endOffset(partition) - slowest;
  }

  function wakeAll(list: Array<() => void>): void {
    for (const fn of list.splice(0)) fn();
  }

  function wakeGroup(group: Group, key?: string): void {
    for (const [k, list] of group.wake) if (key === undefined || k === key) wakeAll(list);
  }

  async function waitForRoom(topic: Topic, index: number, deadlineMs: number): Promise<void> {
    while (backlog(topic, index) >= maxBacklog) {
      if (closed) throw new AppError('ERR_BUS_CLOSED', `bus closed while producing to ${topic.name}`);
      const remaining = deadlineMs - Date.now();
      if (remaining <= 0) {
        throw new AppError(
          'ERR_BUS_FULL',
          `bus full: ${topic.name}[${index}] holds ${backlog(topic, index)} uncommitted messages (at most ${maxBacklog})`,
          { retryable: true },
        );
      }
      const partition = topic.partitions[index]!;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(remaining, 1_000));
        partition.roomWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  function trim(partition: Partition): void {
    const excess = partition.log.length - retain;
    // Trimmed in chunks: removing the head of a large array costs its whole length, so once per `trimChunk` messages.
    if (excess >= trimChunk) {
      partition.log.splice(0, excess);
      partition.baseOffset += excess;
    }
  }

  function rebalance(group: Group): void {
    group.owners.clear();
    const live = group.members.filter((m) => !m.closed);
    const wanted = new Set(live.flatMap((m) => m.options.topics));
    for (const topicName of wanted) {
      const topic = getTopic(topicName);
      const subscribers = live.filter((m) => m.options.topics.includes(topicName));
      topic.partitions.forEach((_, index) => {
        const owner = subscribers[index % subscribers.length]!;
        group.owners.set(pk(topicName, index), owner);
        startLoop(group, owner, topic, index);
      });
    }
    wakeGroup(group);
  }

  function startLoop(group: Group, firstOwner: Member, topic: Topic, index: number): void {
    const key = pk(topic.name, index);
    if (group.loops.has(key)) return;
    group.loops.add(key);
    const partition = topic.partitions[index]!;
    if (!group.committed.has(key)) {
      group.committed.set(key, firstOwner.options.fromBeginning ? partition.baseOffset : endOffset(partition));
    }
    void consumeLoop(group, topic, index).finally(() => group.loops.delete(key));
  }

  async function consumeLoop(group: Group, topic: Topic, index: number): Promise<void> {
    const key = pk(topic.name, index);
    const partition = topic.partitions[index]!;
    let attempt = 0;
    while (!closed) {
      const owner = group.owners.get(key);
      if (!owner || owner.closed) {
        if (!group.members.some((m) => !m.closed)) return;
        await new Promise<void>((resolve) => pushWake(group, key, resolve));
        continue;
      }
      if (owner.paused.has(topic.name) || owner.paused.has(key)) {
        await new Promise<void>((resolve) => pushWake(group, key, resolve));
        continue;
      }
      // Messages trimmed by retention before this group read them are gone, as with Kafka's retention.
      const from = Math.max(group.committed.get(key) ?? partition.baseOffset, partition.baseOffset);
      if (from >= endOffset(partition)) {
        await new Promise<void>((resolve) => {
          partition.dataWaiters.push(resolve);
          pushWake(group, key, resolve);
        });
        continue;
      }
      const max = owner.options.maxBatchSize ?? 500;
      const batch = partition.log.slice(from - partition.baseOffset, from - partition.baseOffset + max);
      let seekTo: number | undefined;
      const ctx: BatchContext = {
        topic: topic.name,
        partition: index,
        pause: () => owner.paused.add(key),
        resume: () => {
          owner.paused.delete(key);
          wakeGroup(group, key);
        },
        seek: (offset) => {
          seekTo = offset;
        },
      };
      const run = runHandler(owner.options.handler, batch, ctx);
      owner.inFlight.add(run.done);
      const ok = await run.result;
      owner.inFlight.delete(run.done);
      if (seekTo !== undefined) {
        attempt = 0;
        if (seekTo < partition.baseOffset) {
          options.onHandlerError?.(
            new AppError(
              'ERR_BUS_SEEK',
              `seek to ${topic.name}[${index}] offset ${seekTo}: retention kept only from ${partition.baseOffset}`,
            ),
            { groupId: group.id, topic: topic.name, partition: index },
          );
        }
        group.committed.set(key, Math.max(seekTo, partition.baseOffset));
      } else if (ok === true) {
        attempt = 0;
        group.committed.set(key, from + batch.length);
        trimUnconsumed(topic.name, partition, index);
        wakeAll(partition.roomWaiters);
      } else {
        attempt += 1;
        options.onHandlerError?.(ok.error, { groupId: group.id, topic: topic.name, partition: index });
        await sleep(backoffDelayMs({ ...redelivery }, attempt));
      }
    }
  }

  function runHandler(
    handler: BatchHandler,
    batch: readonly BusMessage[],
    ctx: BatchContext,
  ): { result: Promise<true | { error: unknown }>; done: Promise<void> } {
    const result = handler(batch, ctx).then(
      () => true as const,
      (error: unknown) => ({ error }),
    );
    return { result, done: result.then(() => undefined) };
  }

  function pushWake(group: Group, key: string, fn: () => void): void {
    let list = group.wake.get(key);
    if (!list) {
      list = [];
      group.wake.set(key, list);
    }
    list.push(fn);
  }

  return {
    async ensureTopic(topic, opts) {
      const created = getTopic(topic, opts?.partitions ?? defaultPartitions);
      if (opts?.compacted ?? COMPACTED_TOPICS.has(topic)) created.compacted = true;
    },

    async produce(topicName, messages: readonly OutgoingMessage[]) {
      if (closed) throw new AppError('ERR_BUS_CLOSED', `bus closed: cannot produce to ${topicName}`);
      const topic = getTopic(topicName);
      const n = topic.partitions.length;
      const targets = messages.map((m) => partitionForKey(m.key, n));
      const indexes = [...new Set(targets)];
      // Appended in call order: at once when nobody waits and every target partition has room; otherwise behind the
      // produces already waiting, so two calls never interleave (per-key order across calls, as with Kafka).
      if (waitingProduces === 0 && indexes.every((i) => backlog(topic, i) < maxBacklog)) {
        append(topic, messages, targets, indexes);
        return;
      }
      waitingProduces += 1;
      const run = producing.then(async () => {
        const deadline = Date.now() + produceTimeoutMs;
        for (const index of indexes) await waitForRoom(topic, index, deadline);
        if (closed) throw new AppError('ERR_BUS_CLOSED', `bus closed: cannot produce to ${topicName}`);
        append(topic, messages, targets, indexes);
      });
      producing = run.catch(() => undefined);
      try {
        await run;
      } finally {
        waitingProduces -= 1;
      }
    },

    async subscribe(subscribeOptions) {
      if (closed) throw new AppError('ERR_BUS_CLOSED', 'bus closed: cannot subscribe');
      let group = groups.get(subscribeOptions.groupId);
      if (!group) {
        group = {
          id: subscribeOptions.groupId,
          members: [],
          committed: new Map(),
          owners: new Map(),
          loops: new Set(),
          wake: new Map(),
        };
        groups.set(group.id, group);
      }
      const member: Member = {
        id: nextMemberId++,
        options: subscribeOptions,
        paused: new Set(),
        closed: false,
        inFlight: new Set(),
      };
      group.members.push(member);
      rebalance(group);
      const g = group;
      const subscription: Subscription = {
        pause(topic, partition) {
          member.paused.add(partition === undefined ? topic : pk(topic, partition));
        },
        resume(topic, partition) {
          member.paused.delete(partition === undefined ? topic : pk(topic, partition));
          wakeGroup(g);
        },
        async close() {
          if (member.closed) return;
          member.closed = true;
          await Promise.all(member.inFlight);
          g.members.splice(g.members.indexOf(member), 1);
          rebalance(g);
          // Producers blocked on this group's lag may go on.
          for (const t of topics.values()) for (const p of t.partitions) wakeAll(p.roomWaiters);
        },
      };
      return subscription;
    },

    async close() {
      const members = [...groups.values()].flatMap((g) => g.members);
      for (const member of members) member.closed = true;
      await Promise.all(members.flatMap((m) => [...m.inFlight]));
      closed = true;
      for (const group of groups.values()) wakeGroup(group);
      for (const topic of topics.values()) {
        for (const p of topic.partitions) {
          wakeAll(p.dataWaiters);
          wakeAll(p.roomWaiters);
        }
      }
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },

    async logId() {
      return logId;
    },

    async consumerLag(groupId, topicNames) {
      let sum = 0;
      for (const topic of topicNames) sum += lagOf(groupId, topic);
      return sum;
    },

    lag: (groupId, topicName) => lagOf(groupId, topicName),
  };

  function lagOf(groupId: string, topicName: string): number {
    const topic = topics.get(topicName);
    const group = groups.get(groupId);
    if (!topic) return 0;
    return topic.partitions.reduce((sum, p, index) => {
      const committed = group?.committed.get(pk(topicName, index)) ?? p.baseOffset;
      return sum + Math.max(0, endOffset(p) - Math.max(committed, p.baseOffset));
    }, 0);
  }

  /** A partition nobody consumes still keeps at most `retain` messages. */
  function trimUnconsumed(topicName: string, partition: Partition, index: number): void {
    if (topics.get(topicName)?.compacted) return;
    const groupsOnTopic = consumingGroups(topicName);
    if (groupsOnTopic.length === 0) {
      trim(partition);
      return;
    }
    // With consumers, only messages every group has committed may go.
    const slowest = Math.min(
      ...groupsOnTopic.map((g) => g.committed.get(pk(topicName, index)) ?? endOffset(partition)),
    );
    const removable = Math.min(slowest - partition.baseOffset, partition.log.length - retain);
    if (removable >= trimChunk) {
      partition.log.splice(0, removable);
      partition.baseOffset += removable;
    }
  }
}
