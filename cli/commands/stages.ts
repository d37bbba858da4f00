import { statusCallbackUrlOf } from '../../alerting/http.ts';
import { createAlerting, createChannels } from '../../alerting/index.ts';
import { ALERTING_GROUP_ID } from '../../alerting/router.ts';
import { KINDS, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import type { HealthComponent } from '../../core/health.ts';
import type { Logger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createDeviceRegistry, createIngest, startDeviceDirectory } from '../../ingest/index.ts';
import { createRollups, districtGroupOf, ROLLUPS_GROUP } from '../../processors/rollups/index.ts';
import { createProcessor, PROCESSORS_GROUP } from '../../processors/runner.ts';
import { publicUrlOf } from '../../services/http/index.ts';
import { createInfluxSink, SINK_INFLUX_GROUP, SINK_INFLUX_TOPICS } from '../../sinks/influx/index.ts';
import { type OpenedBus, openBus } from '../bus.ts';
import type { Command } from '../command.ts';
import { serveMetrics, startStageHealth } from '../observability.ts';
import { ALL_MIGRATIONS } from '../pipeline.ts';
import { openRuntime, untilSignal } from '../runtime.ts';

/** What a stage gets to run with. */
interface StageDeps {
  readonly config: ReturnType<typeof openRuntime>['config'];
  readonly logger: Logger;
  readonly bus: OpenedBus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
}

/** A started stage: where it listens (logged once) and how it drains. */
interface RunningStage {
  readonly listening: Record<string, unknown>;
  /** Lets in-flight work finish (the bus and the store are closed after it). */
  close(): Promise<void>;
  /** The exit status once stopped (default 0): a stage that stopped on a fatal error says so. */
  exitCode?(): number;
}

const ENVIRONMENT = `Environment:
  VIGIE_KAFKA_BROKERS     Kafka brokers, host:port,… (required)
  VIGIE_KAFKA_NAMESPACE   topics and groups become <namespace>.<name>, to share a cluster (default none)
  DATABASE_URL            the PostgreSQL every stage shares (without it: PGlite in VIGIE_DATA_DIR, one process's)
  VIGIE_METRICS_PORT      /metrics (Prometheus) and /healthz on this port (default 9464; 0: off)
See docs/config.md for the rest. JSON logs go to stdout; SIGTERM or SIGINT drains in-flight work and exits 0.`;

/**
 * One stage of the distributed deployment on the Kafka bus (CONTRACTS.md §2): opens the store, the bus and the
 * stage, logs where it listens, and on SIGTERM/SIGINT drains (stage, bus, store, in data-flow order) and exits 0.
 */
function kafkaStage(spec: {
  name: string;
  summary: string;
  help: string;
  /** Whose health the stage reports on health.v1 (one reporter each). */
  components: readonly HealthComponent[];
  start(deps: StageDeps): Promise<RunningStage>;
}): Command {
  return {
    name: spec.name,
    summary: spec.summary,
    help: `vigie ${spec.name}

${spec.help}

${ENVIRONMENT}`,
    options: {},
    async run() {
      // Listening from the start: a signal during start-up stops the stage once it is up, never half-way.
      const stopped = untilSignal();
      const { config, logger: root } = openRuntime({ logToStdout: true });
      if (!config.kafka.brokers) {
        process.stderr.write(
          `vigie ${spec.name}: needs the Kafka bus: set VIGIE_KAFKA_BROKERS (host:port,…), or run every stage in one process with vigie start\n`,
        );
        return 2;
      }
      const logger = root.child({ stage: spec.name });
      try {
        const store = await openStore({ databaseUrl: config.databaseUrl, pgliteDir: config.pgliteDir }, ALL_MIGRATIONS);
        let bus: OpenedBus;
        try {
          bus = await openBus(config, logger, spec.name);
        } catch (err) {
          await store.close();
          throw err;
        }
        const metrics = new Metrics();
        const stage = await spec.start({ config, logger, bus, store, metrics }).catch(async (err) => {
          await bus.bus.close().catch(() => {});
          await store.close();
          throw err;
        });
        // Health on health.v1 and /metrics + /healthz (VIGIE_METRICS_PORT), for as long as the stage runs.
        const health = spec.components.map((component) =>
          startStageHealth({ bus: bus.bus, metrics, logger, config: config.observability, component }),
        );
        let draining = false;
        const served = await serveMetrics({ config: config.observability, metrics, logger, healthy: () => !draining });
        logger.info(
          {
            ...stage.listening,
            ...(served ? { metrics: `${served.url}/metrics` } : {}),
            bus: bus.description,
            pid: process.pid,
          },
          `vigie ${spec.name}: running`,
        );
        const signal = await stopped;
        logger.info({ signal }, `vigie ${spec.name}: draining`);
        draining = true;
        await stage.close();
        for (const reporter of health) await reporter?.close();
        await served?.close();
        await bus.bus.close();
        await store.close();
        logger.info(`vigie ${spec.name}: stopped`);
        return stage.exitCode?.() ?? 0;
      } catch (err) {
        if (!(err instanceof AppError) || !err.retryable) throw err;
        // The broker or the database is unreachable: one line naming it, not a stack trace.
        logger.error({ err }, `vigie ${spec.name}: could not start`);
        process.stderr.write(`vigie ${spec.name}: ${err.message}\n`);
        return 1;
      } finally {
        logger.flush();
      }
    },
  };
}

/** `vigie ingest`: the MQTT ingest stage alone, producing readings to Kafka. */
export const ingest = kafkaStage({
  name: 'ingest',
  components: ['ingest'],
  summary: 'the MQTT ingest stage alone, on the Kafka bus',
  help: `Runs the MQTT server (VIGIE_MQTT_HOST:VIGIE_MQTT_PORT, 0.0.0.0:1883 by default): authenticates devices
against the registry, validates their messages and produces readings to readings.<kind>.v1; a QoS 1 PUBACK is sent
only once Kafka acknowledged the reading. Run several behind a TCP load balancer if one is not enough.`,
  async start({ config, logger, bus, store, metrics }) {
    const registry = createDeviceRegistry(store);
    const stage = createIngest({
      config: config.ingest,
      bus: bus.bus,
      registry,
      metrics,
      logger,
    });
    const { port, tlsPort, wsPort } = await stage.listen();
    // devices.v1 (compacted): every device's kind, district and position, kept up to date from the change log.
    const directory = await startDeviceDirectory({
      registry,
      bus: bus.bus,
      metrics,
      logger: logger.child({ component: 'device-directory' }),
    }).catch(async (err) => {
      await stage.close();
      throw err;
    });
    return {
      listening: {
        mqttHost: config.ingest.mqttHost,
        mqttPort: port,
        ...(tlsPort === null ? {} : { mqttsPort: tlsPort }),
        ...(wsPort === null ? {} : { wsPort, wsPath: config.ingest.wsPath }),
        ...(config.ingest.lorawanMqttUrl ? { lorawanBridge: true } : {}),
      },
      async close() {
        await stage.close();
        await directory.close();
      },
    };
  },
});

/** `vigie process`: the processors alone; several instances share the partitions of one consumer group. */
export const processStage = kafkaStage({
  name: 'process',
  components: ['processors', 'rollups'],
  summary: 'the processors alone, on the Kafka bus (several share the partitions)',
  help: `Consumes readings.<kind>.v1 and events.<kind>.v1 in the consumer group "processors", runs every detector
and produces alert transitions to alerts.v1. Several instances (sharing DATABASE_URL) split the partitions between
them (VIGIE_KAFKA_PARTITIONS, 8 by default, is the most that can work at once); when one stops, the others take its
partitions over. It also rolls up per hour and per local day onto rollups.v1 (group "rollups"): water consumption
per meter and district, streetlight energy per lamp, circuit and district, parking revenue and paid occupancy per
meter and district (groups "rollups-district" and "rollups-circuit"; districts and circuits from devices.v1).`,
  async start({ config, logger, bus, store, metrics }) {
    const stage = createProcessor({ bus: bus.bus, store, metrics, logger, config: config.processors });
    await stage.start();
    const rollups = createRollups({ bus: bus.bus, store, metrics, logger, config: config.rollups });
    await rollups.start();
    return {
      listening: {
        topics: KINDS.map(TOPICS.readings),
        groupId: PROCESSORS_GROUP,
        rollupGroups: [ROLLUPS_GROUP, districtGroupOf(ROLLUPS_GROUP)],
      },
      async close() {
        await stage.close();
        await rollups.close();
      },
    };
  },
});

/** `vigie alert`: the alerting stage alone. */
export const alert = kafkaStage({
  name: 'alert',
  components: ['alerting'],
  summary: 'the alerting stage alone, on the Kafka bus',
  help: `Consumes alerts.v1 in the consumer group "alerting" and sends SMS and emails to subscribed residents and
operators (Twilio and SMTP when configured, otherwise the outbox in VIGIE_DATA_DIR/outbox).`,
  async start({ config, logger, bus, store, metrics }) {
    const channels = createChannels(config.alerting, logger, {
      statusCallbackUrl: statusCallbackUrlOf(config.http),
    });
    const stage = createAlerting({
      bus: bus.bus,
      store,
      metrics,
      logger,
      config: config.alerting,
      channels,
      publicUrl: publicUrlOf(config.http),
    });
    await stage.start();
    return {
      listening: { topics: [TOPICS.alerts], groupId: ALERTING_GROUP_ID, outboxDir: config.alerting.outboxDir },
      async close() {
        await stage.close();
        await channels.close();
      },
    };
  },
});

/** `vigie sink`: the time-series sink alone. */
export const sinkStage = kafkaStage({
  name: 'sink',
  components: ['sink-influx'],
  summary: 'the time-series sink alone (InfluxDB v2 write API), on the Kafka bus',
  help: `Consumes readings.<kind>.v1, alerts.v1, rollups.v1, devices.v1 and health.v1 in the consumer group
"sink-influx" and writes them to VIGIE_INFLUX_URL (InfluxDB 2.x/3.x/1.8+ through the v2 write API, or VictoriaMetrics), keeping points on disk while
the server is away (VIGIE_INFLUX_BUFFER_DIR, bounded: beyond, it stops consuming). Stops with exit 1 when the server
refuses its credentials (401/403); the buffered points stay on disk for the next start.`,
  async start({ config, logger, bus, metrics }) {
    if (!config.influx.url) {
      throw new AppError('ERR_CONFIG_INVALID', 'vigie sink needs VIGIE_INFLUX_URL (an InfluxDB v2 write API URL)');
    }
    let fatal = false;
    const stage = createInfluxSink({
      bus: bus.bus,
      config: config.influx,
      dataDir: config.dataDir,
      metrics,
      logger,
      onFatal: () => {
        fatal = true;
        process.kill(process.pid, 'SIGTERM');
      },
    });
    await stage.start();
    return {
      listening: {
        topics: SINK_INFLUX_TOPICS,
        groupId: SINK_INFLUX_GROUP,
        url: config.influx.url,
      },
      close: () => stage.close(),
      exitCode: () => (fatal ? 1 : 0),
    };
  },
});
