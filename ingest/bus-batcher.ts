/**
 * Micro-batching of ingest's produces. Device messages received in one turn of the event loop (every socket read
 * of that turn) are produced with one `bus.produce` call per bus topic instead of one call per message, and each
 * message's callback runs once the batch holding it is accepted (durable): the QoS 1 acknowledgement still follows
 * the bus. One call instead of hundreds saves a promise chain, a partition wait and a retention trim per message.
 *
 * - Order: messages of one topic are produced in the order they were sent, and a topic's next batch goes to the bus
 *   only once the previous one was accepted: the order never depends on how a bus orders concurrent calls (the
 *   memory bus may interleave two concurrent calls that span several partitions).
 * - Bounded: at most `maxInFlight` messages are handed to the bus at once over all topics; the others wait here,
 *   in order, until a batch completes (the caller bounds how many wait: ingest's `maxHeldMessages`).
 * - Failure: when the bus refuses a batch, every message of it gets the error (none was acknowledged).
 */
import type { Bus, OutgoingMessage } from '../core/bus/port.ts';

/** Told once per message: null when the bus accepted it, the error otherwise. */
export type ProducedCallback = (err: Error | null) => void;

/** What {@link createBusBatcher} needs. */
export interface BusBatcherOptions {
  readonly bus: Bus;
  /** Most messages handed to the bus and not yet accepted, over all topics. */
  readonly maxInFlight: number;
  /**
   * A topic's batch goes at once when it holds this many messages (default 16), not at the end of the turn: a turn
   * that reads hundreds of sockets would otherwise hold the first message (and its PUBACK) for all of them.
   */
  readonly maxBatchMessages?: number;
}

/** Produces messages in per-topic batches; see the file header. */
export interface BusBatcher {
  /** Queues `message` for `topic`; `onDone` is called once, never synchronously. */
  send(topic: string, message: OutgoingMessage, onDone: ProducedCallback): void;
  /** Fails every queued message (and every later one) with `err`; batches already at the bus complete. */
  abort(err: Error): void;
  /** Resolves once no batch is at the bus. */
  idle(): Promise<void>;
}

interface Lane {
  readonly topic: string;
  messages: OutgoingMessage[];
  callbacks: ProducedCallback[];
  /** A batch of this topic is at the bus. */
  busy: boolean;
}

/** Creates a {@link BusBatcher}. */
export function createBusBatcher(options: BusBatcherOptions): BusBatcher {
  const { bus, maxInFlight } = options;
  const maxBatch = options.maxBatchMessages ?? 16;
  const lanes = new Map<string, Lane>();
  /** Lanes with queued messages, in the order they got their first one (fair when slots are short). */
  const ready: Lane[] = [];
  let inFlight = 0;
  let scheduled = false;
  let aborted: Error | null = null;
  const batches = new Set<Promise<void>>();

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      flush();
    });
  };

  function flush(): void {
    for (let i = 0; i < ready.length && inFlight < maxInFlight; ) {
      const lane = ready[i]!;
      if (lane.busy) {
        i++;
        continue;
      }
      const n = Math.min(lane.messages.length, maxInFlight - inFlight);
      let messages = lane.messages;
      let callbacks = lane.callbacks;
      if (n === messages.length) {
        lane.messages = [];
        lane.callbacks = [];
        ready.splice(i, 1);
      } else {
        messages = messages.slice(0, n);
        callbacks = callbacks.slice(0, n);
        lane.messages = lane.messages.slice(n);
        lane.callbacks = lane.callbacks.slice(n);
        i++;
      }
      inFlight += n;
      lane.busy = true;
      let produced: Promise<void>;
      try {
        produced = bus.produce(lane.topic, messages);
      } catch (err) {
        produced = Promise.reject(err);
      }
      const batch = produced.then(
        () => complete(lane, n, callbacks, null),
        (err: unknown) => complete(lane, n, callbacks, err instanceof Error ? err : new Error(String(err))),
      );
      batches.add(batch);
      void batch.finally(() => batches.delete(batch));
    }
  }

  function complete(lane: Lane, n: number, callbacks: readonly ProducedCallback[], err: Error | null): void {
    inFlight -= n;
    lane.busy = false;
    for (const cb of callbacks) {
      try {
        cb(err);
      } catch (thrown) {
        // A callback's own failure must not skip the others' acknowledgements; it still surfaces.
        queueMicrotask(() => {
          throw thrown;
        });
      }
    }
    // Slots are free again and the topic may go on: what queued meanwhile goes now.
    if (ready.length > 0 && !aborted) flush();
  }

  return {
    send(topic, message, onDone) {
      if (aborted) {
        const err = aborted;
        queueMicrotask(() => onDone(err));
        return;
      }
      let lane = lanes.get(topic);
      if (!lane) {
        lane = { topic, messages: [], callbacks: [], busy: false };
        lanes.set(topic, lane);
      }
      if (lane.messages.length === 0) ready.push(lane);
      lane.messages.push(message);
      lane.callbacks.push(onDone);
      if (lane.messages.length >= maxBatch) flush();
      else schedule();
    },
    abort(err) {
      aborted = err;
      for (const lane of ready.splice(0)) {
        const callbacks = lane.callbacks;
        lane.messages = [];
        lane.callbacks = [];
        for (const cb of callbacks) queueMicrotask(() => cb(err));
      }
    },
    async idle() {
      while (batches.size > 0) await Promise.allSettled([...batches]);
    },
  };
}
