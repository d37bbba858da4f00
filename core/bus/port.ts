/**
 * The bus port (STYLE.md §4): keyed messages on named topics, per-key order, consumer groups, offsets committed
 * only after the handler resolves. Adapters: `memory` (in process, the embedded default) and `kafka` (kafkajs).
 * Both pass test/conformance/bus.ts.
 */

/** A message to produce. `value` is UTF-8 text (JSON for every Vigie topic). */
export interface OutgoingMessage {
  /** Partitioning key: all messages of one key keep their order. */
  readonly key: string;
  readonly value: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A message as a consumer receives it. */
export interface BusMessage extends OutgoingMessage {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** When the bus accepted the message, epoch milliseconds. */
  readonly timestampMs: number;
}

/** What a batch handler may do with the partition it is handling. */
export interface BatchContext {
  readonly topic: string;
  readonly partition: number;
  /** Stops fetching this partition after the current batch (backpressure); the batch still commits if it resolves. */
  pause(): void;
  /** Fetches this partition again. */
  resume(): void;
  /**
   * Moves this partition's position to `offset` (for a consumer that keeps its own offsets with its state, e.g. a
   * snapshot covering messages up to there). The current batch is then neither committed nor continued: the next
   * batch of the partition starts at `offset`.
   */
  seek(offset: number): void;
}

/**
 * Handles one batch of one partition, in offset order. The bus commits the batch's offsets only after the promise
 * resolves; if it rejects, the same batch is delivered again after a backoff (never skipped). Bad data must not be
 * thrown: dead-letter it and resolve (STYLE.md §6.3).
 */
export type BatchHandler = (messages: readonly BusMessage[], ctx: BatchContext) => Promise<void>;

/** Options of a subscription. */
export interface SubscribeOptions {
  /** Consumers with the same group id share the partitions; each group sees every message. */
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly handler: BatchHandler;
  /** A new group starts at the oldest retained message (true) or at the next produced one (false, the default). */
  readonly fromBeginning?: boolean;
  /** Most messages per batch (default 500). */
  readonly maxBatchSize?: number;
}

/** A running subscription. */
export interface Subscription {
  /** Stops fetching a topic (all its partitions, or one). */
  pause(topic: string, partition?: number): void;
  /** Fetches a paused topic or partition again. */
  resume(topic: string, partition?: number): void;
  /** Lets the in-flight batch finish and commit, then leaves the group. */
  close(): Promise<void>;
}

/** The bus. */
export interface Bus {
  /**
   * Creates a topic if it does not exist (idempotent). `compacted` (default: listed in COMPACTED_TOPICS): the topic keeps the last message of each key
   * rather than expiring by age (Kafka `cleanup.policy=compact`; the in-process bus never trims it). An existing
   * topic keeps its settings.
   */
  ensureTopic(topic: string, options?: { partitions?: number; compacted?: boolean }): Promise<void>;
  /**
   * Messages on `topics` that consumer group `groupId` has not committed yet, over all partitions (a group that
   * never committed counts everything retained). For health reports and /metrics; rejects when the bus is down.
   */
  consumerLag(groupId: string, topics: readonly string[]): Promise<number>;
  /**
   * Produces messages. Resolves once the bus holds them durably (for Kafka: acknowledged by all in-sync replicas).
   * May wait while the bus is full (backpressure); rejects with a retryable AppError when the bus is unavailable.
   */
  produce(topic: string, messages: readonly OutgoingMessage[]): Promise<void>;
  subscribe(options: SubscribeOptions): Promise<Subscription>;
  /**
   * Identifies the log that offsets refer to: an offset saved under one id means nothing under another (the
   * in-process bus starts a new log in every process; a Kafka cluster keeps its id).
   */
  logId(): Promise<string>;
  /** Closes every subscription (draining in-flight batches), then the bus. */
  close(): Promise<void>;
}

/** Produces one JSON value. */
export function produceJson(bus: Bus, topic: string, key: string, value: unknown): Promise<void> {
  return bus.produce(topic, [{ key, value: JSON.stringify(value) }]);
}
