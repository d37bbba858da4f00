import { fc, test } from '@fast-check/vitest';
import { Partitioners } from 'kafkajs';
import { describe, expect } from 'vitest';
import { partitionForKey } from './partitioner.ts';

describe('partitioner', () => {
  const kafkajs = Partitioners.DefaultPartitioner();
  const metadata = (n: number) => Array.from({ length: n }, (_, partitionId) => ({ partitionId, leader: 1 }));

  test.prop([fc.string({ unit: 'grapheme', maxLength: 40 }), fc.integer({ min: 1, max: 64 })], { numRuns: 2_000 })(
    'chooses the partition kafkajs chooses when the key is any text',
    (key, partitions) => {
      const expected = kafkajs({
        topic: 't',
        partitionMetadata: metadata(partitions) as never,
        message: { key, value: null },
      });
      expect(partitionForKey(key, partitions)).toBe(expected);
    },
  );

  test('keeps device ids where Kafka puts them when the keys are meter ids', () => {
    const metas = metadata(8) as never;
    for (let i = 0; i < 5_000; i++) {
      const key = `WM-${String(i).padStart(6, '0')}`;
      expect(partitionForKey(key, 8)).toBe(
        kafkajs({ topic: 't', partitionMetadata: metas, message: { key, value: null } }),
      );
    }
  });
});
