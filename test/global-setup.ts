// Importing 'vitest' puts the module in this file's resolution, which the augmentation below needs (TS2664 otherwise).
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';

/**
 * Starts the real servers the integration tests need and hands their addresses to the tests through
 * `provide`/`inject` (STYLE.md §8). Each helper reuses a server given by the environment when there is one.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<void>> = [];
  const { startPostgres } = await import('./helpers/postgres.ts');
  const { startKafka } = await import('./helpers/kafka.ts');
  const { startVictoriaMetrics } = await import('./helpers/victoria-metrics.ts');
  // Started side by side (Kafka's JVM takes seconds); if one fails, the others are stopped before the error surfaces.
  const [pg, kafka, influx] = await Promise.allSettled([startPostgres(), startKafka(), startVictoriaMetrics()]);
  for (const started of [pg, kafka, influx]) if (started.status === 'fulfilled') stops.push(started.value.stop);
  const failed = [pg, kafka, influx].find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed || pg.status === 'rejected' || kafka.status === 'rejected' || influx.status === 'rejected') {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    throw failed?.reason;
  }
  project.provide('databaseUrl', pg.value.url);
  project.provide('kafkaBrokers', kafka.value.brokers);
  project.provide('influxUrl', influx.value.url);
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server's URL; tests create their own database or schema in it. */
    databaseUrl: string;
    /** A Kafka broker's bootstrap addresses (`host:port`); tests create their own uniquely named topics. */
    kafkaBrokers: string[];
    /** A server speaking the InfluxDB v2 write API (VictoriaMetrics); tests use their own measurements or tags. */
    influxUrl: string;
  }
}
