import { describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import type { Bus, BusMessage } from '../core/bus/port.ts';
import { AppError } from '../core/errors.ts';
import { createBusBatcher } from './bus-batcher.ts';

/** A real memory bus behind a boundary the test can hold shut or make fail, recording each produce call. */
function gatedBus() {
  const inner = createMemoryBus();
  onTestFinished(() => inner.close());
  const calls: Array<{ topic: string; keys: string[] }> = [];
  const state = { open: true, failing: false, atBus: 0, maxAtBus: 0 };
  let waiters: Array<() => void> = [];
  const bus: Bus = {
    ensureTopic: (topic, options) => inner.ensureTopic(topic, options),
    subscribe: (options) => inner.subscribe(options),
    logId: () => inner.logId(),
    consumerLag: (groupId, topics) => inner.consumerLag(groupId, topics),
    close: () => inner.close(),
    async produce(topic, messages) {
      calls.push({ topic, keys: messages.map((m) => m.key) });
      state.atBus += messages.length;
      state.maxAtBus = Math.max(state.maxAtBus, state.atBus);
      try {
        while (!state.open) await new Promise<void>((resolve) => waiters.push(resolve));
        if (state.failing) throw new AppError('ERR_BUS_UNAVAILABLE', 'bus unavailable: test gate', { retryable: true });
        await inner.produce(topic, messages);
      } finally {
        state.atBus -= messages.length;
      }
    },
  };
  const release = () => {
    state.open = true;
    for (const w of waiters.splice(0)) w();
    waiters = [];
  };
  return { bus, inner, calls, state, release };
}

async function collect(bus: ReturnType<typeof createMemoryBus>, topic: string): Promise<BusMessage[]> {
  const got: BusMessage[] = [];
  await bus.ensureTopic(topic);
  await bus.subscribe({
    groupId: `g-${topic}`,
    topics: [topic],
    fromBeginning: true,
    handler: async (batch) => {
      got.push(...batch);
    },
  });
  return got;
}

describe('bus-batcher', () => {
  it('produces the messages of one turn in one call per topic, in order, when they arrive together', async () => {
    const { bus, inner, calls } = gatedBus();
    const got = await collect(inner, 'readings');
    const batcher = createBusBatcher({ bus, maxInFlight: 100 });
    const outcomes: Array<Error | null> = [];
    for (let i = 0; i < 10; i++) batcher.send('readings', { key: 'WM-1', value: String(i) }, (e) => outcomes.push(e));
    batcher.send('dead-letters', { key: 'WM-1', value: 'x' }, (e) => outcomes.push(e));
    await expect.poll(() => outcomes.length, { timeout: 2_000 }).toBe(11);
    expect(outcomes.every((e) => e === null)).toBe(true);
    expect(calls.map((c) => [c.topic, c.keys.length])).toEqual([
      ['readings', 10],
      ['dead-letters', 1],
    ]);
    await expect.poll(() => got.length, { timeout: 2_000 }).toBe(10);
    expect(got.map((m) => m.value)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
  });

  it('tells each message only after the bus accepted its batch when the bus is slow', async () => {
    const { bus, state, release } = gatedBus();
    state.open = false;
    const batcher = createBusBatcher({ bus, maxInFlight: 100 });
    const outcomes: Array<Error | null> = [];
    batcher.send('readings', { key: 'WM-1', value: '1' }, (e) => outcomes.push(e));
    await expect.poll(() => state.atBus, { timeout: 2_000 }).toBe(1);
    expect(outcomes).toEqual([]);
    release();
    await expect.poll(() => outcomes, { timeout: 2_000 }).toEqual([null]);
  });

  it('keeps at most maxInFlight messages at the bus and one batch per topic when the bus is slow', async () => {
    const { bus, inner, calls, state, release } = gatedBus();
    const got = await collect(inner, 'readings');
    state.open = false;
    const batcher = createBusBatcher({ bus, maxInFlight: 3, maxBatchMessages: 2 });
    const outcomes: Array<Error | null> = [];
    for (let i = 0; i < 20; i++) {
      batcher.send('readings', { key: `WM-${i % 2}`, value: String(i) }, (e) => outcomes.push(e));
    }
    batcher.send('events', { key: 'WM-0', value: 'e' }, (e) => outcomes.push(e));
    // One batch of readings (2: the batch size) and the event: 3 at the bus, the cap; the rest waits here.
    await expect.poll(() => state.atBus, { timeout: 2_000 }).toBe(3);
    expect(calls.map((c) => [c.topic, c.keys.length])).toEqual([
      ['readings', 2],
      ['events', 1],
    ]);
    release();
    await expect.poll(() => outcomes.length, { timeout: 2_000 }).toBe(21);
    expect(state.maxAtBus).toBe(3);
    await expect.poll(() => got.length, { timeout: 2_000 }).toBe(20);
    // Per key, the order they were sent in.
    for (const key of ['WM-0', 'WM-1']) {
      const values = got.filter((m) => m.key === key).map((m) => Number(m.value));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('fails every message of a batch when the bus refuses it', async () => {
    const { bus, state } = gatedBus();
    state.failing = true;
    const batcher = createBusBatcher({ bus, maxInFlight: 100 });
    const outcomes: Array<Error | null> = [];
    for (let i = 0; i < 5; i++) batcher.send('readings', { key: 'WM-1', value: String(i) }, (e) => outcomes.push(e));
    await expect.poll(() => outcomes.length, { timeout: 2_000 }).toBe(5);
    expect(outcomes.every((e) => e instanceof AppError && e.code === 'ERR_BUS_UNAVAILABLE')).toBe(true);
  });

  it('fails queued and later messages and lets batches at the bus complete when aborted', async () => {
    const { bus, state, release } = gatedBus();
    state.open = false;
    const batcher = createBusBatcher({ bus, maxInFlight: 1 });
    const outcomes: string[] = [];
    const record = (e: Error | null) => outcomes.push(e ? (e as AppError).code : 'ok');
    batcher.send('readings', { key: 'WM-1', value: '1' }, record);
    await expect.poll(() => state.atBus, { timeout: 2_000 }).toBe(1);
    batcher.send('readings', { key: 'WM-1', value: '2' }, record);
    batcher.abort(new AppError('ERR_INGEST_CLOSING', 'ingest closing'));
    batcher.send('readings', { key: 'WM-1', value: '3' }, record);
    await expect.poll(() => outcomes.length, { timeout: 2_000 }).toBe(2);
    expect(outcomes).toEqual(['ERR_INGEST_CLOSING', 'ERR_INGEST_CLOSING']);
    release();
    await batcher.idle();
    expect(outcomes).toEqual(['ERR_INGEST_CLOSING', 'ERR_INGEST_CLOSING', 'ok']);
  });
});
