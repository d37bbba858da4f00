import { describe, expect, it, onTestFinished } from 'vitest';
import { z } from 'zod';
import { silentLogger } from '../logging.ts';
import { Metrics } from '../metrics.ts';
import { createMemoryBus } from './memory.ts';
import type { BusMessage } from './port.ts';
import { createReadModel, parseRecord, type ReadModelRecord } from './read-model.ts';

const POLL = { timeout: 10_000, interval: 10 };
const METRIC = 'test_read_model_records_total';

/** `ok:<n>` is stored as n, `skip` ignored, anything else invalid. */
function decode(m: BusMessage): ReadModelRecord<number> {
  if (m.value.startsWith('ok:')) return { outcome: 'stored', item: Number(m.value.slice(3)) };
  if (m.value === 'skip') return { outcome: 'ignored' };
  return { outcome: 'invalid', reason: 'neither ok nor skip' };
}

function setup(store: (items: number[]) => Promise<void>, fromBeginning?: boolean) {
  const bus = createMemoryBus({ defaultPartitions: 1, redelivery: { initialDelayMs: 1, maxDelayMs: 5 } });
  onTestFinished(() => bus.close());
  const metrics = new Metrics();
  const model = createReadModel({
    bus,
    topic: 'things.v1',
    groupId: 'things',
    ...(fromBeginning === undefined ? {} : { fromBeginning }),
    decode,
    store,
    counter: metrics.counter(METRIC, 'Things read, by outcome', ['outcome']),
    logger: silentLogger(),
    what: 'things: invalid thing',
  });
  onTestFinished(() => model.close());
  const count = (outcome?: string) => metrics.value(METRIC, outcome ? { outcome } : {});
  return { bus, model, count };
}

const values = (...vs: string[]) => vs.map((value) => ({ key: 'k', value }));

describe('read model', () => {
  it('stores what it decodes and counts stored, ignored and invalid records when they were on the topic before it started', async () => {
    const stored: number[] = [];
    const { bus, model, count } = setup(async (items) => {
      stored.push(...items);
    });
    await bus.ensureTopic('things.v1');
    await bus.produce('things.v1', values('ok:1', 'skip', '{bad', 'ok:2', 'ok:3', 'nope'));
    await model.start();
    await model.start(); // a second start does nothing
    await expect.poll(() => count(), POLL).toBe(6);
    expect(stored).toEqual([1, 2, 3]);
    expect(await count('stored')).toBe(3);
    expect(await count('ignored')).toBe(1);
    expect(await count('invalid')).toBe(2);
  });

  it('never calls store for a batch with nothing to store, but still counts it', async () => {
    const batches: number[][] = [];
    const { bus, model, count } = setup(async (items) => {
      batches.push(items);
    });
    await model.start();
    await bus.produce('things.v1', values('skip', 'bad'));
    await expect.poll(() => count(), POLL).toBe(2);
    expect(batches).toEqual([]);
  });

  it('redelivers the batch and counts it once when the store fails', async () => {
    const attempts: number[][] = [];
    const { bus, model, count } = setup(async (items) => {
      attempts.push(items);
      if (attempts.length < 3) throw new Error('store down');
    });
    await bus.ensureTopic('things.v1');
    await bus.produce('things.v1', values('ok:7', 'skip', 'bad'));
    await model.start();
    await expect.poll(() => attempts.length, POLL).toBe(3);
    await expect.poll(() => count(), POLL).toBe(3);
    expect(attempts).toEqual([[7], [7], [7]]);
    expect(await count('stored')).toBe(1);
    expect(await count('ignored')).toBe(1);
    expect(await count('invalid')).toBe(1);
  });

  it('reads only what is produced after it starts when fromBeginning is false', async () => {
    const stored: number[] = [];
    const { bus, model, count } = setup(async (items) => {
      stored.push(...items);
    }, false);
    await bus.ensureTopic('things.v1');
    await bus.produce('things.v1', values('ok:1'));
    await model.start();
    await bus.produce('things.v1', values('ok:2'));
    await expect.poll(() => count(), POLL).toBe(1);
    expect(stored).toEqual([2]);
  });

  it('stops reading once closed', async () => {
    const stored: number[] = [];
    const { bus, model, count } = setup(async (items) => {
      stored.push(...items);
    });
    await model.start();
    await bus.produce('things.v1', values('ok:1'));
    await expect.poll(() => count(), POLL).toBe(1);
    await model.close();
    await model.close(); // a second close does nothing
    await bus.produce('things.v1', values('ok:2'));
    expect(await bus.consumerLag('things', ['things.v1'])).toBe(1);
    expect(stored).toEqual([1]);
  });
});

describe('parseRecord', () => {
  const Thing = z.strictObject({ id: z.string(), n: z.number() });

  it('returns the parsed value when the record is valid JSON of the schema', () => {
    expect(parseRecord('{"id":"a","n":1}', Thing, 'Thing')).toEqual({ outcome: 'parsed', data: { id: 'a', n: 1 } });
  });

  it('says why when the record is not JSON or not of the schema', () => {
    expect(parseRecord('{nope', Thing, 'Thing')).toEqual({ outcome: 'invalid', reason: 'not JSON' });
    expect(parseRecord('{"n":"x"}', Thing, 'Thing')).toEqual({ outcome: 'invalid', reason: 'not a Thing (id, n)' });
    expect(parseRecord('3', Thing, 'Thing')).toEqual({ outcome: 'invalid', reason: 'not a Thing ((root))' });
  });
});
