import { collectDefaultMetrics } from 'prom-client';
import { ALERTING_GROUP_ID } from '../alerting/router.ts';
import type { Bus } from '../core/bus/port.ts';
import { TOPICS } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import {
  type HealthComponent,
  type HealthReporter,
  type HealthSample,
  type MetricRef,
  metricsSampler,
  startHealthReporter,
} from '../core/health.ts';
import type { Logger } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import { type MetricsServer, type ObservabilityConfig, startMetricsServer } from '../core/metrics-server.ts';
import { rollupsConsumes } from '../processors/rollups/index.ts';
import { PROCESSORS_GROUP, PROCESSORS_TOPICS } from '../processors/runner.ts';
import { type HealthField, SINK_INFLUX_GROUP, SINK_INFLUX_TOPICS } from '../sinks/influx/index.ts';

/**
 * What each stage reports on health.v1, read from the metrics it already keeps (its Metrics registry): the
 * `pipeline_health` field → the metric(s) summed into it. `rss_bytes` is added by the reporter itself.
 */
export const STAGE_HEALTH_METRICS: Readonly<
  Partial<Record<HealthComponent, Readonly<Partial<Record<HealthField, MetricRef | readonly MetricRef[]>>>>>
> = {
  ingest: {
    messages_in: 'ingest_messages_received_total',
    dead_letters: 'ingest_messages_deadlettered_total',
    connections: 'ingest_connections',
    held_messages: 'ingest_in_flight',
  },
  processors: {
    messages_in: 'processor_readings_total',
    messages_out: 'processor_alert_transitions_total',
    dead_letters: 'processor_messages_dead_lettered_total',
  },
  rollups: {
    messages_in: 'rollup_readings_total',
    messages_out: 'rollup_records_total',
    dead_letters: 'rollup_messages_dead_lettered_total',
  },
  alerting: {
    messages_in: 'alerting_transitions_total',
    messages_out: 'alerting_messages_sent_total',
    dead_letters: 'alerting_transitions_dead_lettered_total',
    deliveries_failed: 'alerting_messages_failed_total',
  },
  'sink-influx': {
    messages_in: 'sink_influx_messages_received_total',
    dead_letters: 'sink_influx_dead_letters_total',
    buffer_bytes: 'sink_influx_buffer_bytes',
    buffer_points: 'sink_influx_buffer_points',
    points_written: 'sink_influx_points_written_total',
    points_rejected: [
      { metric: 'sink_influx_dead_letters_total', labels: { code: 'ERR_SINK_REJECTED' } },
      { metric: 'sink_influx_dead_letters_total', labels: { code: 'ERR_SINK_TOO_LARGE' } },
    ],
    write_retries: 'sink_influx_write_retries_total',
  },
};

/** The consumer groups of each component and the topics they read: its bus lag is theirs. */
export const STAGE_CONSUMES: Readonly<
  Partial<Record<HealthComponent, readonly { readonly groupId: string; readonly topics: readonly string[] }[]>>
> = {
  processors: [{ groupId: PROCESSORS_GROUP, topics: PROCESSORS_TOPICS }],
  rollups: rollupsConsumes(),
  alerting: [{ groupId: ALERTING_GROUP_ID, topics: [TOPICS.alerts] }],
  'sink-influx': [{ groupId: SINK_INFLUX_GROUP, topics: SINK_INFLUX_TOPICS }],
};

/**
 * Starts `component`'s health reports (none when `healthIntervalMs` is 0): the values of its metrics, and the lag of
 * its consumer groups (STAGE_CONSUMES) as `bus_lag_messages`, also kept in the gauge `bus_consumer_lag_messages`.
 */
export function startStageHealth(options: {
  readonly bus: Bus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly config: ObservabilityConfig;
  readonly component: HealthComponent;
}): HealthReporter | undefined {
  const { config, metrics, component, bus } = options;
  if (config.healthIntervalMs === 0) return undefined;
  const fromMetrics = metricsSampler(metrics, STAGE_HEALTH_METRICS[component] ?? {});
  const consumes = STAGE_CONSUMES[component] ?? [];
  const lagGauge = metrics.gauge(
    'bus_consumer_lag_messages',
    'Messages a consumer group has not committed yet, by group (sampled with the health reports)',
    ['group'],
  );
  const busLag = async (): Promise<HealthSample> => {
    if (consumes.length === 0) return {};
    let total = 0;
    for (const { groupId, topics } of consumes) {
      const lag = await bus.consumerLag(groupId, topics);
      lagGauge.set({ group: groupId }, lag);
      total += lag;
    }
    return { bus_lag_messages: total };
  };
  return startHealthReporter({
    bus,
    component,
    intervalMs: config.healthIntervalMs,
    metrics,
    logger: options.logger,
    sample: async (): Promise<HealthSample> => ({ ...(await fromMetrics()), ...(await busLag()) }),
  });
}

/**
 * Serves `metrics` at `http://<metricsHost>:<metricsPort>/metrics` and `/healthz` (with the process's default
 * metrics: CPU, memory, event loop). Off when the port is 0. A port already taken is logged at error
 * (`ERR_METRICS_LISTEN`) and the stage runs on without the endpoint: devices and alerts matter more than scrapes.
 */
export async function serveMetrics(options: {
  readonly config: ObservabilityConfig;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly healthy?: () => boolean;
}): Promise<MetricsServer | undefined> {
  const { config, metrics, logger } = options;
  if (config.metricsPort === 0) return undefined;
  if (!metrics.registry.getSingleMetric('process_resident_memory_bytes')) {
    collectDefaultMetrics({ register: metrics.registry });
  }
  try {
    return await startMetricsServer({
      registry: metrics.registry,
      host: config.metricsHost,
      port: config.metricsPort,
      logger,
      ...(options.healthy ? { healthy: options.healthy } : {}),
    });
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== 'ERR_METRICS_LISTEN') throw err;
    logger.error({ err }, 'no /metrics endpoint: running without it');
    return undefined;
  }
}
