import { statusCallbackUrlOf } from '../alerting/http.ts';
import { alertingMigrations, createAlerting, createChannels } from '../alerting/index.ts';
import { ALERTING_GROUP_ID } from '../alerting/router.ts';
import type { Bus } from '../core/bus/port.ts';
import type { Clock } from '../core/clock.ts';
import { KINDS, TOPICS } from '../core/contracts/index.ts';
import type { Logger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createDeviceRegistry, createIngest, ingestMigrations, startDeviceDirectory } from '../ingest/index.ts';
import {
  createRollups,
  districtGroupOf,
  ROLLUPS_BY_DISTRICT_TOPIC,
  ROLLUPS_GROUP,
} from '../processors/rollups/index.ts';
import { createProcessor, PROCESSORS_GROUP, processorsMigrations } from '../processors/runner.ts';
import { consoleMigrations } from '../services/console/index.ts';
import { consultationsMigrations } from '../services/consultations/index.ts';
import { deadLetterMigrations } from '../services/dead-letters/index.ts';
import { httpMigrations, publicUrlOf } from '../services/http/index.ts';
import { mobilityMigrations } from '../services/mobility/index.ts';
import { parkingMigrations } from '../services/parking/index.ts';
import { reportsMigrations } from '../services/reports/index.ts';
import { residentsMigrations } from '../services/residents/index.ts';
import { vaultMigrations } from '../services/vault/index.ts';
import { createInfluxSink, type InfluxSink } from '../sinks/influx/index.ts';
import { type OpenedBus, openBus } from './bus.ts';
import type { RootConfig } from './config.ts';
import { startStageHealth } from './observability.ts';

/** The migrations of every stage, applied at start by whoever opens the store. */
export const ALL_MIGRATIONS = [
  ingestMigrations,
  processorsMigrations,
  alertingMigrations,
  httpMigrations,
  reportsMigrations,
  residentsMigrations,
  consoleMigrations,
  mobilityMigrations,
  parkingMigrations,
  consultationsMigrations,
  vaultMigrations,
  deadLetterMigrations,
];

/** A running pipeline: what `vigie start`, the end-to-end tests and the benchmark drive. */
export interface Pipeline {
  readonly bus: Bus;
  /** Which bus: `memory` (in process, the default) or `kafka` (when `VIGIE_KAFKA_BROKERS` is set). */
  readonly busKind: OpenedBus['kind'];
  /** The bus for people: `in-process` or `Kafka at host:port`. */
  readonly busDescription: string;
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
  /** Appended to the Kafka client id (default `start`). */
  readonly stage?: string;
}

/**
 * Starts every stage in one process: ingest → processors → alerting, on the in-process bus, or on Kafka when
 * `config.kafka.brokers` is set.
 */
export async function startPipeline(options: PipelineOptions): Promise<Pipeline> {
  const { config, logger } = options;
  const metrics = new Metrics();
  const store =
    options.store ??
    (await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS));
  let opened: OpenedBus;
  try {
    opened = await openBus(config, logger, options.stage ?? 'start');
  } catch (err) {
    if (!options.store) await store.close();
    throw err;
  }
  const { bus, lag } = opened;

  const channels = createChannels(config.alerting, logger.child({ stage: 'alerting' }), {
    statusCallbackUrl: statusCallbackUrlOf(config.http),
  });
  const alerting = createAlerting({
    bus,
    store,
    metrics,
    logger: logger.child({ stage: 'alerting' }),
    config: config.alerting,
    channels,
    publicUrl: publicUrlOf(config.http),
  });
  await alerting.start();
  // The time-series sink, when InfluxDB is configured: a consumer of readings and alerts beside the others.
  let sink: InfluxSink | undefined;
  if (config.influx.url) {
    sink = createInfluxSink({
      bus,
      config: config.influx,
      dataDir: config.dataDir,
      metrics,
      logger: logger.child({ stage: 'sink' }),
      onFatal: (err) => logger.error({ err }, 'time-series sink stopped: fix its credentials and restart'),
    });
    await sink.start();
  }
  const processor = createProcessor({
    bus,
    store,
    metrics,
    logger: logger.child({ stage: 'processors' }),
    config: config.processors,
  });
  await processor.start();
  // Hourly and daily rollups; started in the background: they first read devices.v1 (which ingest fills) for at most
  // rollups.devicesWarmupMs before consuming readings.
  const rollups = createRollups({
    bus,
    store,
    metrics,
    logger: logger.child({ stage: 'rollups' }),
    config: config.rollups,
  });
  let rollupsRunning = false;
  const rollupsStarted = rollups.start().then(
    () => {
      rollupsRunning = true;
    },
    (err: unknown) => logger.error({ err }, 'rollups could not start'),
  );
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
  // devices.v1: every device's kind, district and position, for the rollups and the time-series sink.
  const directory = await startDeviceDirectory({
    registry,
    bus,
    metrics,
    logger: logger.child({ stage: 'ingest', component: 'device-directory' }),
  });
  // Each stage's health on health.v1 (the sink, when configured, writes them to pipeline_health).
  const observe = { bus, metrics, config: config.observability } as const;
  const health = [
    startStageHealth({ ...observe, component: 'ingest', logger: logger.child({ stage: 'ingest' }) }),
    startStageHealth({ ...observe, component: 'processors', logger: logger.child({ stage: 'processors' }) }),
    startStageHealth({ ...observe, component: 'rollups', logger: logger.child({ stage: 'rollups' }) }),
    startStageHealth({ ...observe, component: 'alerting', logger: logger.child({ stage: 'alerting' }) }),
    sink
      ? startStageHealth({ ...observe, component: 'sink-influx', logger: logger.child({ stage: 'sink' }) })
      : undefined,
  ];

  let closing: Promise<void> | undefined;
  return {
    bus,
    busKind: opened.kind,
    busDescription: opened.description,
    store,
    metrics,
    registry,
    mqttPort: port,
    close() {
      closing ??= (async () => {
        for (const reporter of health) await reporter?.close();
        await ingest.close();
        await directory.close();
        // On the in-process bus, readings already acknowledged to devices live only in this process: drain them
        // before stopping. On Kafka they wait safely in the topics for the next start.
        if (lag) await drain(lag, PROCESSORS_GROUP, KINDS.map(TOPICS.readings));
        await processor.close();
        if (rollupsRunning) {
          if (lag) await drain(lag, ROLLUPS_GROUP, [TOPICS.readings('water-meter')]);
          if (lag) await drain(lag, districtGroupOf(ROLLUPS_GROUP), [ROLLUPS_BY_DISTRICT_TOPIC]);
        }
        // Still in its warm-up (a stop right after a start): closing ends it, with nothing consumed to drain.
        await rollups.close();
        await rollupsStarted;
        if (lag) await drain(lag, ALERTING_GROUP_ID, [TOPICS.alerts]);
        await alerting.close();
        await channels.close();
        await sink?.close();
        await bus.close();
        if (!options.store) await store.close();
      })();
      return closing;
    },
  };
}

/** Waits (at most `timeoutMs`) until `groupId` has committed everything on `topics`. */
async function drain(
  lag: NonNullable<OpenedBus['lag']>,
  groupId: string,
  topics: readonly string[],
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && topics.some((t) => lag(groupId, t) > 0)) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
