import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Bus, BusMessage, Subscription } from '../../core/bus/port.ts';

/** Options of the bus conformance suite. */
export interface BusConformanceOptions {
  /** Partitions to create test topics with (default 4). */
  readonly partitions?: number;
  /** How long to wait for a delivery, in milliseconds (default 20 s; a real broker rebalances slowly). */
  readonly timeoutMs?: number;
}

/**
 * The bus contract (STYLE.md §4), run by every adapter: `memory` in core/bus/memory.test.ts, `kafka` against a real
 * broker. `make` returns a fresh bus; the suite closes it.
 */
export function busConformance(name: string, make: () => Promise<Bus>, options: BusConformanceOptions = {}): void {
  const partitions = options.partitions ?? 4;
  const timeout = options.timeoutMs ?? 20_000;

  describe(`bus conformance: ${name}`, () => {
    const buses: Bus[] = [];
    afterEach(async () => {
      await Promise.all(buses.splice(0).map((b) => b.close()));
    });

    async function open(): Promise<Bus> {
      const bus = await make();
      buses.push(bus);
      return bus;
    }

    const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

    /** Subscribes and records every delivered message (after the handler resolved, i.e. as committed). */
    async function collect(
      bus: Bus,
      topic: string,
      groupId: string,
      handler?: (batch: readonly BusMessage[]) => Promise<void>,
    ): Promise<{ received: BusMessage[]; sub: Subscription }> {
      const received: BusMessage[] = [];
      const sub = await bus.subscribe({
        groupId,
        topics: [topic],
        fromBeginning: true,
        handler: async (batch) => {
          await handler?.(batch);
          received.push(...batch);
        },
      });
      return { received, sub };
    }

    it('delivers key, value and headers intact when a message is produced', async () => {
      const bus = await open();
      const topic = unique('conf-intact');
      await bus.ensureTopic(topic, { partitions });
      await bus.produce(topic, [{ key: 'dev-1', value: '{"a":"é ✓"}', headers: { source: 'test' } }]);
      const { received } = await collect(bus, topic, unique('g'));
      await expect.poll(() => received.length, { timeout }).toBe(1);
      expect(received[0]).toMatchObject({ topic, key: 'dev-1', value: '{"a":"é ✓"}', headers: { source: 'test' } });
      expect(received[0]!.partition).toBeGreaterThanOrEqual(0);
      expect(received[0]!.partition).toBeLessThan(partitions);
    });

    it('keeps the order of each key when many keys are interleaved', async () => {
      const bus = await open();
      const topic = unique('conf-order');
      await bus.ensureTopic(topic, { partitions });
      const keys = Array.from({ length: 20 }, (_, i) => `dev-${i}`);
      const messages = Array.from({ length: 1_000 }, (_, i) => ({ key: keys[i % keys.length]!, value: String(i) }));
      for (let i = 0; i < messages.length; i += 100) await bus.produce(topic, messages.slice(i, i + 100));
      const { received } = await collect(bus, topic, unique('g'));
      await expect.poll(() => received.length, { timeout }).toBe(1_000);
      for (const key of keys) {
        const values = received.filter((m) => m.key === key).map((m) => Number(m.value));
        expect(values).toEqual([...values].sort((a, b) => a - b));
        expect(values).toHaveLength(50);
      }
      const partitionsOfKey = new Map<string, Set<number>>();
      for (const m of received) partitionsOfKey.set(m.key, (partitionsOfKey.get(m.key) ?? new Set()).add(m.partition));
      for (const set of partitionsOfKey.values()) expect(set.size).toBe(1);
    });

    it('gives every message to each group when two groups subscribe', async () => {
      const bus = await open();
      const topic = unique('conf-groups');
      await bus.ensureTopic(topic, { partitions });
      await bus.produce(
        topic,
        Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: String(i) })),
      );
      const a = await collect(bus, topic, unique('ga'));
      const b = await collect(bus, topic, unique('gb'));
      await expect.poll(() => a.received.length, { timeout }).toBe(50);
      await expect.poll(() => b.received.length, { timeout }).toBe(50);
    });

    it('shares partitions between members of one group and hands them over when one leaves', async () => {
      const bus = await open();
      const topic = unique('conf-share');
      const groupId = unique('g');
      await bus.ensureTopic(topic, { partitions });
      const one = await collect(bus, topic, groupId);
      const two = await collect(bus, topic, groupId);
      const total = () => one.received.length + two.received.length;
      // 1. Both members are in the group: each message goes to exactly one of them.
      await bus.produce(
        topic,
        Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: String(i) })),
      );
      await expect.poll(total, { timeout }).toBe(200);
      const values = [...one.received, ...two.received].map((m) => m.value);
      expect(new Set(values).size).toBe(200);
      // 2. One leaves: the other receives everything produced next.
      await one.sub.close();
      const before = two.received.length;
      await bus.produce(
        topic,
        Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `late-${i}` })),
      );
      await expect.poll(() => two.received.length - before, { timeout }).toBe(100);
    });

    it('delivers the same batch again when the handler throws, skipping nothing', async () => {
      const bus = await open();
      const topic = unique('conf-redeliver');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.produce(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ key: 'same', value: String(i) })),
      );
      let failures = 0;
      const { received } = await collect(bus, topic, unique('g'), async () => {
        if (failures < 2) {
          failures += 1;
          throw new Error('transient');
        }
      });
      await expect.poll(() => received.length, { timeout }).toBe(10);
      expect(failures).toBe(2);
      expect(received.map((m) => m.value)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    });

    it('starts the next batch at the offset a handler seeks to, without committing the current one', async () => {
      const bus = await open();
      const topic = unique('conf-seek');
      const groupId = unique('g');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.produce(
        topic,
        Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })),
      );
      const delivered: number[][] = [];
      let sought = false;
      const sub = await bus.subscribe({
        groupId,
        topics: [topic],
        fromBeginning: true,
        handler: async (batch, ctx) => {
          delivered.push(batch.map((m) => m.offset));
          // Once: as if a snapshot covered messages up to offset 3, whatever the bus delivered first.
          if (!sought && batch.some((m) => m.offset > 3)) {
            sought = true;
            ctx.seek(3);
          }
        },
      });
      await expect.poll(() => delivered.flat().at(-1), { timeout }).toBe(9);
      expect(sought).toBe(true);
      // After the seek, delivery starts at 3 and goes on in order to the end.
      const afterSeek = delivered.slice(1).flat();
      expect(afterSeek).toEqual([3, 4, 5, 6, 7, 8, 9]);
      await sub.close();
      // What was committed is the end of the log, not the batch the seek abandoned: a restart sees nothing again.
      await bus.produce(topic, [{ key: 'k', value: 'after' }]);
      const again = await collect(bus, topic, groupId);
      await expect.poll(() => again.received.map((m) => m.value), { timeout }).toEqual(['after']);
    });

    it('names its log with the same id every time it is asked', async () => {
      const bus = await open();
      const id = await bus.logId();
      expect(id).toMatch(/^[a-z]+:.+/);
      expect(await bus.logId()).toBe(id);
    });

    it('resumes after the last committed message when a group member restarts', async () => {
      const bus = await open();
      const topic = unique('conf-commit');
      const groupId = unique('g');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.produce(
        topic,
        Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: `a${i}` })),
      );
      const first = await collect(bus, topic, groupId);
      await expect.poll(() => first.received.length, { timeout }).toBe(5);
      await first.sub.close();
      await bus.produce(
        topic,
        Array.from({ length: 5 }, (_, i) => ({ key: 'k', value: `b${i}` })),
      );
      const second = await collect(bus, topic, groupId);
      await expect.poll(() => second.received.length, { timeout }).toBe(5);
      expect(second.received.map((m) => m.value)).toEqual(['b0', 'b1', 'b2', 'b3', 'b4']);
    });

    it('counts what a group has not committed yet as its lag, down to 0 once it has consumed everything', async () => {
      const bus = await open();
      const topic = unique('conf-lag');
      const other = unique('conf-lag-other');
      const groupId = unique('g');
      await bus.ensureTopic(topic, { partitions });
      await bus.ensureTopic(other, { partitions: 1 });
      await bus.produce(
        topic,
        Array.from({ length: 7 }, (_, i) => ({ key: `k${i}`, value: `${i}` })),
      );
      await bus.produce(other, [{ key: 'k', value: 'x' }]);
      // A group that never committed has everything ahead of it.
      expect(await bus.consumerLag(groupId, [topic, other])).toBe(8);
      const { received, sub } = await collect(bus, topic, groupId);
      await expect.poll(() => received.length, { timeout }).toBe(7);
      await sub.close();
      expect(await bus.consumerLag(groupId, [topic])).toBe(0);
      await bus.produce(topic, [{ key: 'k0', value: 'late' }]);
      expect(await bus.consumerLag(groupId, [topic, other])).toBe(2);
    });

    it('lets an in-flight batch finish and commit when the subscription closes', async () => {
      const bus = await open();
      const topic = unique('conf-drain');
      const groupId = unique('g');
      await bus.ensureTopic(topic, { partitions: 1 });
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      let started = false;
      const first = await collect(bus, topic, groupId, async () => {
        started = true;
        await gate;
      });
      await bus.produce(topic, [{ key: 'k', value: 'x' }]);
      await expect.poll(() => started, { timeout }).toBe(true);
      const closing = first.sub.close();
      release();
      await closing;
      expect(first.received.map((m) => m.value)).toEqual(['x']);
      const second = await collect(bus, topic, groupId);
      await bus.produce(topic, [{ key: 'k', value: 'y' }]);
      await expect.poll(() => second.received.length, { timeout }).toBe(1);
      expect(second.received[0]!.value).toBe('y');
    });

    it('holds a paused topic until it is resumed', async () => {
      const bus = await open();
      const topic = unique('conf-pause');
      await bus.ensureTopic(topic, { partitions });
      const { received, sub } = await collect(bus, topic, unique('g'));
      sub.pause(topic);
      await bus.produce(topic, [{ key: 'k', value: 'held' }]);
      // A delivery would have arrived well within this time; the control group shows it does.
      const control = await collect(bus, topic, unique('control'));
      await expect.poll(() => control.received.length, { timeout }).toBe(1);
      expect(received).toHaveLength(0);
      sub.resume(topic);
      await expect.poll(() => received.length, { timeout }).toBe(1);
    });

    it('starts a new group at the next message when fromBeginning is false', async () => {
      const bus = await open();
      const topic = unique('conf-latest');
      await bus.ensureTopic(topic, { partitions: 1 });
      await bus.produce(topic, [{ key: 'k', value: 'old' }]);
      const received: string[] = [];
      await bus.subscribe({
        groupId: unique('g'),
        topics: [topic],
        fromBeginning: false,
        handler: async (batch) => {
          received.push(...batch.map((m) => m.value));
        },
      });
      await waitUntilSubscribed(bus, topic);
      await bus.produce(topic, [{ key: 'k', value: 'new' }]);
      await expect.poll(() => received, { timeout }).toEqual(['new']);
    });

    it('treats ensureTopic as idempotent', async () => {
      const bus = await open();
      const topic = unique('conf-ensure');
      await bus.ensureTopic(topic, { partitions });
      await bus.ensureTopic(topic, { partitions });
      await bus.produce(topic, [{ key: 'k', value: 'v' }]);
      const { received } = await collect(bus, topic, unique('g'));
      await expect.poll(() => received.length, { timeout }).toBe(1);
    });

    it('refuses to produce once closed', async () => {
      const bus = await make();
      await bus.close();
      await expect(bus.produce('conf-closed', [{ key: 'k', value: 'v' }])).rejects.toMatchObject({
        code: 'ERR_BUS_CLOSED',
      });
    });
  });
}

/**
 * A group that starts "at the next message" only counts as subscribed once it holds its partitions; probing with a
 * marker group that reads from the beginning tells us the topic's consumers are up.
 */
async function waitUntilSubscribed(bus: Bus, topic: string): Promise<void> {
  const seen: string[] = [];
  const probe = await bus.subscribe({
    groupId: `probe-${randomUUID().slice(0, 8)}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (batch) => {
      seen.push(...batch.map((m) => m.value));
    },
  });
  await expect.poll(() => seen.length > 0, { timeout: 20_000 }).toBe(true);
  await probe.close();
}
