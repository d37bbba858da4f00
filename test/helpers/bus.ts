/**
 * A bus for an integration test that runs on both adapters (STYLE.md §8): the in-process bus, or the shared Kafka
 * broker (`inject('kafkaBrokers')`) under a namespace of the test's own, so topics and consumer groups never meet
 * another test's. Closed when the test ends.
 */
import { randomUUID } from 'node:crypto';
import { inject, onTestFinished } from 'vitest';
import { createKafkaBus } from '../../core/bus/kafka.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';

/** The bus adapters an integration test runs on. */
export type TestBusKind = 'memory' | 'kafka';

/** The usual pairs for `describe.each`: the memory bus with PGlite, Kafka with PostgreSQL. */
export const BUS_AND_ENGINE = [
  ['memory', 'pglite'],
  ['kafka', 'postgres'],
] as const;

/** Opens a bus of `kind` with `partitions` per topic (default 2); on Kafka, namespaced `<name>-<random>`. */
export async function openTestBus(kind: TestBusKind, name: string, partitions = 2): Promise<Bus> {
  const bus =
    kind === 'memory'
      ? createMemoryBus({ defaultPartitions: partitions })
      : await createKafkaBus({
          brokers: inject('kafkaBrokers'),
          clientId: `${name}-test`,
          namespace: `${name}-${randomUUID().slice(0, 8)}`,
          defaultPartitions: partitions,
        });
  onTestFinished(() => bus.close());
  return bus;
}
