import { alertingMigrations, createAlerting, createChannels } from '../alerting/index.ts';
import { createMemoryBus } from '../core/bus/memory.ts';
import type { Bus } from '../core/bus/port.ts';
import type { Clock } from '../core/clock.ts';
import { KINDS, TOPICS } from '../core/contracts/index.ts';
import type { Logger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createDeviceRegistry, createIngest, ingestMigrations } from '../ingest/index.ts';
import { createProcessor, processorsMigrations } from '../processors/runner.ts';
import type { RootConfig } from './config.ts';

/** The migrations of every stage, applied at start by whoever opens the store. */
export const ALL_MIGRATIONS = [ingestMigrations, processorsMigrations, alertingMigrations];

/** A running pipeline: what `vigie start`, the end-to-end tests and the benchmark drive. */
export interface Pipeline {
  readonly bus: Bus & { lag(groupId: string, topic: string): number };
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly registry: ReturnType<typeof createDeviceRegistry>;
  /** The MQTT port actually bound (useful with port 0). */
  readonly mqttPort: number;
  /** Stops taking readings, drains every stage in data-flow order, then closes the store. */
  close(): Promise<void>;
}

/** Options of {@link startPipeline}. */
export interface PipelineOptions {
  readonly config: RootConfig & { readonly pgliteDir: string };
  readonly logger: Logger;
  readonly clock?: Clock;
  /** The operational store, when the caller already opened one. */
  readonly store?: SqlStore;
}

/** Starts every stage in one process on the in-process bus: ingest → processors → alerting. */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, logger } = options;
  const metrics = new Metrics();
  const store =
    options.store ??
    (await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS));
  const bus = createMemoryBus({
    onHandlerError: (err, where) =>
      logger.error({ err, ...where }, 'bus handler failed; batch will be delivered again'),
  });
  for (const kind of KINDS) await bus.ensureTopic(TOPICS.readings(kind));
  await bus.ensureTopic(TOPICS.alerts);
  await bus.ensureTopic(TOPICS.deadLetters);

  const alerting = createAlerting({
    bus,
    store,
    metrics,
    logger: logger.child({ stage: 'alerting' }),
    config: config.alerting,
    channels: createChannels(config.alerting, logger.child({ stage: 'alerting' })),
  });
  await alerting.start();
  const processor = createProcessor({
    bus,
    store,
    metrics,
    logger: logger.child({ stage: 'processors' }),
    config: config.processors,
  });
  await processor.start();
  const registry = createDeviceRegistry(store);
  const ingest = createIngest({
    config: config.ingest,
    bus,
    registry,
    metrics,
    logger: logger.child({ stage: 'ingest' }),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const { port } = await ingest.listen();

  let closing: Promise<void> | undefined;
  return {
    bus,
    store,
    metrics,
    registry,
    mqttPort: port,
    close() {
      closing ??= (async () => {
        // Readings already acknowledged to devices live only in this process: drain them before stopping.
        await ingest.close();
        await drain(bus, 'processors', KINDS.map(TOPICS.readings));
        await processor.close();
        await drain(bus, 'alerting', [TOPICS.alerts]);
        await alerting.close();
        await bus.close();
        if (!options.store) await store.close();
      })();
      return closing;
    },
  };
}

/** Waits (at most `timeoutMs`) until `groupId` has committed everything on `topics`. */
async function drain(
  bus: Pipeline['bus'],
  groupId: string,
  topics: readonly string[],
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && topics.some((t) => bus.lag(groupId, t) > 0)) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
