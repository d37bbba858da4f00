import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import { busConformance } from '../../test/conformance/bus.ts';
import { createKafkaBus } from './kafka.ts';

busConformance(
  'kafka',
  () => createKafkaBus({ brokers: inject('kafkaBrokers'), clientId: `conf-${randomUUID().slice(0, 8)}` }),
  {
    timeoutMs: 60_000,
  },
);

describe('kafka bus', () => {
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
