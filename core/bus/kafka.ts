import {
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  logLevel,
  Partitioners,
  type Producer,
} from 'kafkajs';
import { COMPACTED_TOPICS } from '../contracts/topics.ts';
import { AppError } from '../errors.ts';
import { type Logger, silentLogger } from '../logging.ts';
import type { BatchContext, Bus, BusMessage, OutgoingMessage, SubscribeOptions, Subscription } from './port.ts';
import { backoffDelayMs, type RetryPolicy, withRetry } from './retry.ts';

/**
 * The Kafka bus (STYLE.md §4) on kafkajs: the same contract as the in-process bus, made durable by a real broker.
 * Producing: one idempotent producer, acks from all in-sync replicas, messages collected for `lingerMs` (or until
 * `maxBatchMessages`) and sent as one `sendBatch`; each `produce` resolves when its batch was acknowledged.
 * Consuming: one kafkajs consumer per subscription, `eachBatch` without auto-resolve; a batch's offsets are resolved
 * and committed only after the handler resolved; a handler that throws gets the same messages again after a backoff
 * (never skipped), until it resolves, the partition is taken away by a rebalance, or the subscription closes.
 */
export interface KafkaBusOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  /** Client id the broker logs and quotas see. */
  readonly clientId: string;
  /** Where kafkajs's own log lines go (default: nowhere). */
  readonly logger?: Logger;
  /**
   * Prefix of every topic and consumer group this bus uses on the cluster (`<namespace>.<topic>`), so several
   * deployments (a city's test and production, or parallel test runs) share one cluster apart. Consumers see the
   * names without it. Default: none.
   */
  readonly namespace?: string;
  /** Partitions of a topic created without an explicit count (default 4). */
  readonly defaultPartitions?: number;
  /** How long produced messages wait for companions before the batch is sent, in milliseconds (default 5). */
  readonly lingerMs?: number;
  /** Messages that trigger a send at once, without waiting for the linger (default 500). */
  readonly maxBatchMessages?: number;
  /** Most bytes of messages in one produce request (default 512 KiB, under the broker's 1 MiB record batches). */
  readonly maxRequestBytes?: number;
  /** Retries of a failed request (broker down, leader moving) before produce rejects (default 10, about 15 s). */
  readonly retries?: number;
  /** How long a subscription waits to join its group before failing with `ERR_BUS_UNAVAILABLE` (default 60 s). */
  readonly joinTimeoutMs?: number;
  /** Backoff between redeliveries of a batch whose handler threw (default 50 ms doubling to 5 s, never gives up). */
  readonly redelivery?: Omit<RetryPolicy, 'maxAttempts'>;
  /** Called when a handler throws, before the batch is delivered again. */
  readonly onHandlerError?: (err: unknown, ctx: { groupId: string; topic: string; partition: number }) => void;
}

interface Pending {
  readonly topic: string;
  readonly messages: readonly OutgoingMessage[];
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** Bytes a record adds to its key and value in a record batch (lengths, offsets, timestamp; an upper bound). */
const RECORD_OVERHEAD_BYTES = 32;

/** Attempts at creating a topic (each one already retries inside kafkajs). */
const ENSURE_TOPIC_RETRY: RetryPolicy = { initialDelayMs: 200, maxDelayMs: 2_000, maxAttempts: 4 };

const DEFAULT_REDELIVERY: Omit<RetryPolicy, 'maxAttempts'> = { initialDelayMs: 50, maxDelayMs: 5_000 };

/** Creates a bus on a Kafka cluster. Nothing connects until the first call that needs the broker. */
export async function createKafkaBus(options: KafkaBusOptions): Promise<Bus> {
  const logger = options.logger ?? silentLogger();
  const defaultPartitions = options.defaultPartitions ?? 4;
  const lingerMs = options.lingerMs ?? 5;
  const maxBatchMessages = options.maxBatchMessages ?? 500;
  const maxRequestBytes = options.maxRequestBytes ?? 512 * 1024;
  const retries = options.retries ?? 10;
  const joinTimeoutMs = options.joinTimeoutMs ?? 60_000;
  const redelivery = { ...(options.redelivery ?? DEFAULT_REDELIVERY), maxAttempts: Number.POSITIVE_INFINITY };
  const ns = options.namespace ? `${options.namespace}.` : '';
  /** The topic's name on the cluster. */
  const onCluster = (topic: string) => `${ns}${topic}`;

  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    connectionTimeout: 3_000,
    retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries },
    logLevel: logLevel.INFO,
    logCreator: () => (entry) => {
      const { message, ...rest } = entry.log;
      const fields = { kafkajs: entry.namespace, ...rest };
      // kafkajs logs recoverable conditions (coordinator loading, rebalances) as errors: warnings at most here.
      if (entry.level <= logLevel.WARN) logger.warn(fields, `kafka: ${message}`);
      else logger.debug(fields, `kafka: ${message}`);
    },
  });

  let closed = false;
  const subscriptions = new Set<KafkaSubscription>();
  const ensured = new Set<string>();

  // --- admin --------------------------------------------------------------------------------------------------
  let adminReady: Promise<Admin> | undefined;
  function admin(): Promise<Admin> {
    if (!adminReady) {
      const a = kafka.admin();
      adminReady = a.connect().then(
        () => a,
        (err) => {
          adminReady = undefined;
          throw unavailable('connecting the admin client', err);
        },
      );
    }
    return adminReady;
  }

  // --- producer -----------------------------------------------------------------------------------------------
  let producerReady: Promise<Producer> | undefined;
  function producer(): Promise<Producer> {
    if (!producerReady) {
      const p = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries },
      });
      producerReady = p.connect().then(
        () => p,
        (err) => {
          producerReady = undefined;
          throw unavailable('connecting the producer', err);
        },
      );
    }
    return producerReady;
  }

  /** Forgets the producer after a failed send (see `flush`); the next send connects a new one. */
  function dropProducer(): void {
    const old = producerReady;
    producerReady = undefined;
    void old?.then((p) => p.disconnect()).catch(() => {});
  }

  let queue: Pending[] = [];
  let queuedMessages = 0;
  let lingerTimer: NodeJS.Timeout | undefined;
  /** The batch being sent; the next one waits for it (one request in flight keeps per-key order). */
  let sending: Promise<void> | undefined;

  function scheduleFlush(): void {
    if (sending) return; // the running send flushes again when it is done
    if (queuedMessages >= maxBatchMessages) {
      if (lingerTimer) clearTimeout(lingerTimer);
      lingerTimer = undefined;
      sending = flush();
    } else if (!lingerTimer) {
      lingerTimer = setTimeout(() => {
        lingerTimer = undefined;
        if (!sending) sending = flush();
      }, lingerMs);
    }
  }

  async function flush(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue;
      queue = [];
      queuedMessages = 0;
      const topics = new Set<string>();
      try {
        const p = await producer();
        // Requests stay under maxRequestBytes: the broker refuses a partition's record batch larger than its
        // message.max.bytes (1 MiB by default), and one produce() may carry tens of thousands of messages.
        let parts = new Map<string, Array<{ key: string; value: string; headers?: IHeaders }>>();
        let bytes = 0;
        const send = async () => {
          if (parts.size === 0) return;
          const topicMessages = [...parts].map(([topic, messages]) => ({ topic: onCluster(topic), messages }));
          parts = new Map();
          bytes = 0;
          await p.sendBatch({ acks: -1, topicMessages });
        };
        for (const entry of batch) {
          topics.add(entry.topic);
          for (const m of entry.messages) {
            const size = Buffer.byteLength(m.key) + Buffer.byteLength(m.value) + RECORD_OVERHEAD_BYTES;
            if (bytes > 0 && bytes + size > maxRequestBytes) await send();
            let list = parts.get(entry.topic);
            if (!list) {
              list = [];
              parts.set(entry.topic, list);
            }
            list.push(
              m.headers ? { key: m.key, value: m.value, headers: { ...m.headers } } : { key: m.key, value: m.value },
            );
            bytes += size;
          }
        }
        await send();
        for (const entry of batch) entry.resolve();
      } catch (err) {
        // Parts already sent stay sent: the callers retry, and at-least-once allows the repeats.
        const error = err instanceof AppError ? err : produceError([...topics], err);
        // A failed send leaves the idempotent producer's sequence numbers unknown: kafkajs rolls them back even when
        // the broker did write the batch, so the next batch is refused for ever (OUT_OF_ORDER_SEQUENCE_NUMBER, seen
        // after a broker restart: test/e2e/kafka-outage.int.test.ts) or, with the same message count, taken for a
        // duplicate and silently dropped. A new producer (new producer id, sequences from 0) starts clean; the
        // rejected messages are their callers' to send again (at least once).
        dropProducer();
        for (const entry of batch) entry.reject(error);
      }
      // Messages that arrived meanwhile go out at once: they already waited for this send.
    }
    sending = undefined;
  }

  // --- consumers ----------------------------------------------------------------------------------------------
  interface KafkaSubscription extends Subscription {
    readonly consumer: Consumer;
  }

  async function subscribe(sub: SubscribeOptions): Promise<Subscription> {
    if (closed) throw new AppError('ERR_BUS_CLOSED', 'bus closed: cannot subscribe');
    const maxBatchSize = sub.maxBatchSize ?? 500;
    const consumer = kafka.consumer({
      groupId: onCluster(sub.groupId),
      sessionTimeout: 10_000,
      rebalanceTimeout: 20_000,
      heartbeatInterval: 1_000,
      maxWaitTimeInMs: 250,
      retry: { initialRetryTime: 100, maxRetryTime: 2_000, retries },
    });
    let closing = false;
    /** Sleeps for a redelivery backoff, cut short when the subscription closes. */
    const wakers = new Set<() => void>();
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          wakers.delete(done);
          resolve();
        };
        const t = setTimeout(done, ms);
        wakers.add(done);
      });

    async function eachBatch(payload: EachBatchPayload): Promise<void> {
      const { batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning, isStale } = payload;
      let sought = false;
      const topic = batch.topic.slice(ns.length);
      const ctx: BatchContext = {
        topic,
        partition: batch.partition,
        pause: () => consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]),
        resume: () => consumer.resume([{ topic: batch.topic, partitions: [batch.partition] }]),
        seek: (offset) => {
          sought = true;
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: String(offset) });
        },
      };
      const all = batch.messages.map((m) => toBusMessage(topic, batch.partition, m));
      for (let start = 0; start < all.length; start += maxBatchSize) {
        const chunk = all.slice(start, start + maxBatchSize);
        for (let attempt = 1; ; attempt++) {
          try {
            await sub.handler(chunk, ctx);
            break;
          } catch (err) {
            if (sought) return; // the handler moved the partition: the seek wins over a redelivery
            options.onHandlerError?.(err, { groupId: sub.groupId, topic, partition: batch.partition });
            logger.warn(
              { err, groupId: sub.groupId, topic, partition: batch.partition, attempt },
              'bus handler failed: the batch will be delivered again',
            );
            // Leaving the batch unresolved: its offsets stay uncommitted, and whoever consumes the partition next
            // (this member after a restart, or another after a rebalance) starts again at its first message.
            if (closing || !isRunning() || isStale()) throw err;
            await pause(backoffDelayMs(redelivery, attempt));
            if (closing || !isRunning() || isStale()) throw err;
            await heartbeat();
          }
        }
        // After a seek, kafkajs fetches from the new position (and commits it); this batch is left as it is.
        if (sought) return;
        resolveOffset(chunk.at(-1)!.offset.toString());
        await commitOffsetsIfNecessary();
        await heartbeat();
      }
    }

    let joined!: () => void;
    let failed!: (err: unknown) => void;
    const joinedOnce = new Promise<void>((resolve, reject) => {
      joined = resolve;
      failed = reject;
    });
    const offJoin = consumer.on(consumer.events.GROUP_JOIN, () => joined());
    const offCrash = consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) failed(unavailable(`consumer group ${sub.groupId}`, e.payload.error));
    });

    try {
      await consumer.connect();
      await consumer.subscribe({ topics: sub.topics.map(onCluster), fromBeginning: sub.fromBeginning ?? false });
      await consumer.run({
        eachBatchAutoResolve: false,
        autoCommit: true,
        autoCommitThreshold: 1,
        partitionsConsumedConcurrently: Math.max(1, defaultPartitions),
        eachBatch,
      });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        joinedOnce,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new AppError(
                  'ERR_BUS_UNAVAILABLE',
                  `consumer group ${sub.groupId}: not joined after ${joinTimeoutMs} ms (brokers ${options.brokers.join(',')})`,
                  { retryable: true },
                ),
              ),
            joinTimeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    } catch (err) {
      offJoin();
      offCrash();
      await consumer.disconnect().catch(() => {});
      throw err instanceof AppError ? err : unavailable(`subscribing group ${sub.groupId}`, err);
    }
    offJoin();

    let closePromise: Promise<void> | undefined;
    const subscription: KafkaSubscription = {
      consumer,
      pause(name, partition) {
        const topic = onCluster(name);
        consumer.pause([partition === undefined ? { topic } : { topic, partitions: [partition] }]);
      },
      resume(name, partition) {
        const topic = onCluster(name);
        consumer.resume([partition === undefined ? { topic } : { topic, partitions: [partition] }]);
      },
      close() {
        closePromise ??= (async () => {
          closing = true;
          for (const wake of [...wakers]) wake();
          // disconnect() stops the run loop, which waits for the batch in flight (and its commit), then leaves the
          // group so the partitions move to the other members at once.
          await consumer.disconnect();
          offCrash();
          subscriptions.delete(subscription);
        })();
        return closePromise;
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  // --- the bus ------------------------------------------------------------------------------------------------
  return {
    async ensureTopic(topic, topicOptions) {
      if (closed) throw new AppError('ERR_BUS_CLOSED', `bus closed: cannot create topic ${topic}`);
      if (ensured.has(topic)) return;
      // A broker under load may not have the new topic's leaders yet (UNKNOWN_TOPIC_OR_PARTITION while kafkajs
      // waits for them): creating it again is harmless, so a few attempts before giving up.
      await withRetry(async () => {
        const a = await admin();
        try {
          await a.createTopics({
            topics: [
              {
                topic: onCluster(topic),
                numPartitions: topicOptions?.partitions ?? defaultPartitions,
                replicationFactor: -1,
                ...((topicOptions?.compacted ?? COMPACTED_TOPICS.has(topic))
                  ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }
                  : {}),
              },
            ],
            waitForLeaders: true,
            timeout: 10_000,
          });
        } catch (err) {
          // Two creators racing: the loser hears TOPIC_ALREADY_EXISTS, which is what it wanted.
          if (!isAlreadyExists(err)) throw unavailable(`creating topic ${topic}`, err);
        }
      }, ENSURE_TOPIC_RETRY).catch((err: unknown) => {
        // The last attempt's ERR_BUS_UNAVAILABLE says more than "gave up".
        throw err instanceof AppError && err.code === 'ERR_RETRY_EXHAUSTED' ? err.cause : err;
      });
      ensured.add(topic);
    },

    produce(topic, messages) {
      if (closed) return Promise.reject(new AppError('ERR_BUS_CLOSED', `bus closed: cannot produce to ${topic}`));
      if (messages.length === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        queue.push({ topic, messages, resolve, reject });
        queuedMessages += messages.length;
        scheduleFlush();
      });
    },

    subscribe,

    async consumerLag(groupId, topics) {
      const a = await admin();
      try {
        let lag = 0;
        const committed = await a.fetchOffsets({ groupId: onCluster(groupId), topics: topics.map(onCluster) });
        for (const { topic, partitions } of committed) {
          const ends = new Map((await a.fetchTopicOffsets(topic)).map((o) => [o.partition, o]));
          for (const { partition, offset } of partitions) {
            const end = ends.get(partition);
            if (!end) continue;
            const high = Number(end.high);
            const low = Number(end.low);
            lag += Math.max(0, high - Math.max(Number(offset), low));
          }
        }
        return lag;
      } catch (err) {
        throw unavailable(`reading the lag of group ${groupId}`, err);
      }
    },

    async logId() {
      const a = await admin();
      try {
        const { clusterId } = await a.describeCluster();
        // Offsets are per topic: the namespace is part of what they refer to.
        return `kafka:${clusterId}${ns ? `/${options.namespace}` : ''}`;
      } catch (err) {
        throw unavailable('describing the cluster', err);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([...subscriptions].map((s) => s.close()));
      // Messages already accepted by produce() are still sent: their callers wait for the acknowledgement.
      if (lingerTimer) {
        clearTimeout(lingerTimer);
        lingerTimer = undefined;
        if (!sending && queue.length > 0) sending = flush();
      }
      await sending;
      await Promise.all([
        producerReady?.then((p) => p.disconnect()).catch(() => {}),
        adminReady?.then((a) => a.disconnect()).catch(() => {}),
      ]);
    },
  };
}

function toBusMessage(topic: string, partition: number, m: KafkaMessage): BusMessage {
  const headers = decodeHeaders(m.headers);
  return {
    topic,
    partition,
    offset: Number(m.offset),
    timestampMs: Number(m.timestamp),
    key: m.key?.toString('utf8') ?? '',
    value: m.value?.toString('utf8') ?? '',
    ...(headers ? { headers } : {}),
  };
}

function decodeHeaders(headers: IHeaders | undefined): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  let any = false;
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.at(-1) : raw;
    if (value === undefined) continue;
    out[name] = value.toString();
    any = true;
  }
  return any ? out : undefined;
}

function isAlreadyExists(err: unknown): boolean {
  const e = err as { type?: string; errors?: Array<{ type?: string }> } | undefined;
  return e?.type === 'TOPIC_ALREADY_EXISTS' || (e?.errors?.every((x) => x.type === 'TOPIC_ALREADY_EXISTS') ?? false);
}

/** A retryable `ERR_BUS_UNAVAILABLE`: the broker could not be reached or did not answer in time. */
function unavailable(what: string, cause: unknown): AppError {
  return new AppError(
    'ERR_BUS_UNAVAILABLE',
    `${what}: ${(cause as Error)?.message ?? String(cause)} (a reachable Kafka broker)`,
    {
      cause,
      retryable: true,
    },
  );
}

/**
 * The error a failed send becomes: `ERR_BUS_UNAVAILABLE` (retryable) when kafkajs gave up retrying or the broker
 * was unreachable; `ERR_BUS_REJECTED` (not retryable) when the broker refused the messages themselves.
 */
function produceError(topics: readonly string[], err: unknown): AppError {
  const e = err as { name?: string; retriable?: boolean; type?: string; message?: string };
  const refused = e?.name === 'KafkaJSProtocolError' && e.retriable === false;
  if (refused) {
    return new AppError('ERR_BUS_REJECTED', `producing to ${topics.join(',')}: ${e.message} (${e.type})`, {
      cause: err,
    });
  }
  return unavailable(`producing to ${topics.join(',')}`, err);
}
