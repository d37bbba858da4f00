import { describe, expect, it } from 'vitest';
import { busConformance } from '../../test/conformance/bus.ts';
import { createMemoryBus } from './memory.ts';

busConformance('memory', async () => createMemoryBus({ defaultPartitions: 4 }));

describe('memory bus', () => {
  it('makes a producer wait when the slowest group lags by the backlog limit', async () => {
    const bus = createMemoryBus({ defaultPartitions: 1, maxBacklogPerPartition: 10, produceTimeoutMs: 60_000 });
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    await bus.subscribe({ groupId: 'slow', topics: ['t'], handler: () => gate, maxBatchSize: 5 });
    await bus.produce(
      't',
      Array.from({ length: 10 }, (_, i) => ({ key: 'k', value: String(i) })),
    );
    let produced = false;
    const pending = bus.produce('t', [{ key: 'k', value: 'more' }]).then(() => {
      produced = true;
    });
    await new Promise((r) => setImmediate(r));
    expect(produced).toBe(false);
    expect(bus.lag('slow', 't')).toBe(10);
    release();
    await pending;
    expect(produced).toBe(true);
    await bus.close();
  });

  it('fails a waiting producer with a retryable ERR_BUS_FULL when the timeout passes', async () => {
    const bus = createMemoryBus({ defaultPartitions: 1, maxBacklogPerPartition: 1, produceTimeoutMs: 50 });
    await bus.subscribe({ groupId: 'stuck', topics: ['t'], handler: () => new Promise(() => {}) });
    await bus.produce('t', [{ key: 'k', value: '1' }]);
    await expect(bus.produce('t', [{ key: 'k', value: '2' }])).rejects.toMatchObject({
      code: 'ERR_BUS_FULL',
      retryable: true,
    });
  });

  it('keeps at most retainPerPartition messages when nobody consumes a topic', async () => {
    const bus = createMemoryBus({ defaultPartitions: 1, maxBacklogPerPartition: 5, retainPerPartition: 5 });
    await bus.produce(
      'unread',
      Array.from({ length: 12 }, (_, i) => ({ key: 'k', value: String(i) })),
    );
    const seen: string[] = [];
    await bus.subscribe({
      groupId: 'late',
      topics: ['unread'],
      fromBeginning: true,
      handler: async (batch) => {
        seen.push(...batch.map((m) => m.value));
      },
    });
    await expect.poll(() => seen).toEqual(['7', '8', '9', '10', '11']);
    await bus.close();
  });
});
