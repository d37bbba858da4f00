import { hostname } from 'node:os';
import type { Bus } from './bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from './clock.ts';
import { type HEALTH_COMPONENTS, HealthReport, TOPICS } from './contracts/index.ts';
import { type Logger, rateLimited } from './logging.ts';
import type { Metrics } from './metrics.ts';

/**
 * Every stage's health on the bus (`health.v1`, key `component:instance`): a {@link HealthReport} every `intervalMs`
 * with the counters and gauges the stage samples (read from its Metrics registry) plus `rss_bytes`. The time-series
 * sink writes them to `pipeline_health`, so operators see every stage on one dashboard, and a stage that stops
 * reporting shows as a gap. A report that cannot be produced (bus down or full) is counted
 * (`health_reports_failed_total`) and logged at most once a minute, never thrown: health must not take a stage down.
 */

/** A component that reports its health. */
export type HealthComponent = (typeof HEALTH_COMPONENTS)[number];

/** Values of one report: snake_case names with units, non-negative (rounded to integers when reported). */
export type HealthSample = Readonly<Record<string, number>>;

/** Default interval between reports, ms (10 s). */
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000;

/** Options of {@link startHealthReporter}. */
export interface HealthReporterOptions {
  readonly bus: Bus;
  readonly component: HealthComponent;
  /** Tag of this process (default: the host name; each container has its own). */
  readonly instance?: string;
  /** Interval between reports, ms (default 10 s); 0: no timer, {@link HealthReporter.report} only. */
  readonly intervalMs?: number;
  /** The stage's values now (counters since start, gauges now); may be async (Metrics.value is). */
  readonly sample: () => HealthSample | Promise<HealthSample>;
  readonly logger: Logger;
  /** Where `health_reports_failed_total{component}` is counted (default: not counted in a registry). */
  readonly metrics?: Metrics;
  /** Wall clock of the reports' `ts` (default: system). */
  readonly clock?: Clock;
}

/** A running reporter. */
export interface HealthReporter {
  /** Samples and produces one report now; resolves false when it failed (counted, logged). Never rejects. */
  report(): Promise<boolean>;
  /** Reports produced and failed since start. */
  stats(): { readonly produced: number; readonly failed: number };
  /** Stops the timer and waits for a report in flight. */
  close(): Promise<void>;
}

/** Starts reporting `component`'s health every `intervalMs` (the first report after one interval). */
export function startHealthReporter(options: HealthReporterOptions): HealthReporter {
  const { bus, component, logger } = options;
  const instance = (options.instance ?? hostname()).slice(0, 128) || 'unknown';
  const intervalMs = options.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const key = `${component}:${instance}`;
  const failedTotal = options.metrics?.counter(
    'health_reports_failed_total',
    'Health reports not produced (bus unavailable, sample failed), per component.',
    ['component'],
  );
  const logFailure = rateLimited(60_000);
  let produced = 0;
  let failed = 0;
  let topicReady: Promise<void> | undefined;
  let inFlight: Promise<boolean> | undefined;
  let closed = false;

  async function once(): Promise<boolean> {
    try {
      const values: Record<string, number> = {};
      for (const [name, value] of Object.entries(await options.sample())) {
        if (Number.isFinite(value)) values[name] = Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.round(value)));
      }
      values.rss_bytes = process.memoryUsage.rss();
      // Parsed like any message that crosses the bus: a bad name is a bug of the caller, counted like a failure.
      const report = HealthReport.parse({ component, instance, ts: new Date(clock.nowMs()).toISOString(), values });
      topicReady ??= bus.ensureTopic(TOPICS.health).catch((err: unknown) => {
        topicReady = undefined;
        throw err;
      });
      await topicReady;
      await bus.produce(TOPICS.health, [{ key, value: JSON.stringify(report) }]);
      produced += 1;
      return true;
    } catch (err) {
      failed += 1;
      failedTotal?.inc({ component });
      logFailure(() =>
        logger.error({ err, component, instance, failed }, 'health report not produced; the next one is tried'),
      );
      return false;
    }
  }

  function report(): Promise<boolean> {
    // One report at a time: a slow bus skips ticks rather than piling reports up.
    inFlight ??= once().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  }

  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (!closed && !inFlight) void report();
        }, intervalMs)
      : undefined;
  timer?.unref();

  return {
    report,
    stats: () => ({ produced, failed }),
    async close() {
      closed = true;
      if (timer) clearInterval(timer);
      await inFlight;
    },
  };
}

/** A metric of the registry: its name, and the labels to match (the sum over every other label). */
export type MetricRef = string | { readonly metric: string; readonly labels: Readonly<Record<string, string>> };

/**
 * A `sample` function reading a stage's Metrics registry: each health value is the sum of the metrics it names
 * (counters since start, gauges now). A metric the stage never created reads 0.
 */
export function metricsSampler(
  metrics: Metrics,
  map: Readonly<Record<string, MetricRef | readonly MetricRef[]>>,
): () => Promise<HealthSample> {
  return async () => {
    const out: Record<string, number> = {};
    for (const [name, refs] of Object.entries(map)) {
      let sum = 0;
      for (const ref of Array.isArray(refs) ? refs : [refs]) {
        sum += typeof ref === 'string' ? await metrics.value(ref) : await metrics.value(ref.metric, ref.labels);
      }
      out[name] = sum;
    }
    return out;
  };
}
