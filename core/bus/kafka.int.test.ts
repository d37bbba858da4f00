import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { busConformance } from '../../test/conformance/bus.ts';
import { createKafkaBus } from './kafka.ts';

busConformance(
  'kafka',
  // A namespace per bus: the suite's topic and group names are unique anyway, so this also proves that namespaced
  // names work end to end (topics, groups, seek, pause) while consumers see the plain names.
  () =>
    createKafkaBus({
      brokers: inject('kafkaBrokers'),
      clientId: `conf-${randomUUID().slice(0, 8)}`,
      namespace: `ns-${randomUUID().slice(0, 8)}`,
    }),
  {
    timeoutMs: 60_000,
  },
);

describe('kafka bus', () => {
  it('delivers every message when one produce call carries more than a broker request may hold', async () => {
    const bus = await createKafkaBus({ brokers: inject('kafkaBrokers'), clientId: 'conf-large' });
    try {
      const topic = `conf-large-${randomUUID().slice(0, 8)}`;
      await bus.ensureTopic(topic, { partitions: 1 });
      // 20,000 × ~300 bytes ≈ 6 MB for one partition: six times the broker's 1 MiB record-batch limit.
      const padding = 'x'.repeat(280);
      await bus.produce(
        topic,
        Array.from({ length: 20_000 }, (_, i) => ({ key: 'one-key', value: `${i} ${padding}` })),
      );
      let count = 0;
      let inOrder = true;
      await bus.subscribe({
        groupId: `g-${randomUUID().slice(0, 8)}`,
        topics: [topic],
        fromBeginning: true,
        handler: async (batch) => {
          for (const m of batch) {
            if (Number(m.value.split(' ')[0]) !== count) inOrder = false;
            count += 1;
          }
        },
      });
      await expect.poll(() => count, { timeout: 60_000 }).toBe(20_000);
      expect(inOrder).toBe(true);
    } finally {
      await bus.close();
    }
  });

  it('keeps two namespaces apart when they use the same topic and group names', async () => {
    const brokers = inject('kafkaBrokers');
    const [a, b] = await Promise.all(
      ['a', 'b'].map((n) =>
        createKafkaBus({ brokers, clientId: `ns-${n}`, namespace: `ns-${n}-${randomUUID().slice(0, 8)}` }),
      ),
    );
    try {
      const seen: Record<string, string[]> = { a: [], b: [] };
      for (const [name, bus] of [
        ['a', a],
        ['b', b],
      ] as const) {
        await bus!.ensureTopic('readings.shared.v1', { partitions: 1 });
        await bus!.produce('readings.shared.v1', [{ key: 'k', value: `from-${name}` }]);
        await bus!.subscribe({
          groupId: 'same-group',
          topics: ['readings.shared.v1'],
          fromBeginning: true,
          handler: async (batch) => {
            for (const m of batch) seen[name]!.push(`${m.topic} ${m.value}`);
          },
        });
      }
      await expect
        .poll(() => seen, { timeout: 30_000 })
        .toEqual({
          a: ['readings.shared.v1 from-a'],
          b: ['readings.shared.v1 from-b'],
        });
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });

  it('rejects produce with a retryable ERR_BUS_UNAVAILABLE when no broker answers', async () => {
    // Port 1 on loopback: nothing listens there, so every connection is refused at once.
    const bus = await createKafkaBus({ brokers: ['127.0.0.1:1'], clientId: 'conf-down', retries: 2 });
    try {
      await expect(bus.produce('conf-down', [{ key: 'k', value: 'v' }])).rejects.toMatchObject({
        code: 'ERR_BUS_UNAVAILABLE',
        retryable: true,
      });
    } finally {
      await bus.close();
    }
  });
});
