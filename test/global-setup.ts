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
  // Started side by side (Kafka's JVM takes seconds); if one fails, the other is stopped before the error surfaces.
  const [pg, kafka] = await Promise.allSettled([startPostgres(), startKafka()]);
  if (pg.status === 'fulfilled') stops.push(pg.value.stop);
  if (kafka.status === 'fulfilled') stops.push(kafka.value.stop);
  if (pg.status === 'rejected' || kafka.status === 'rejected') {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    throw pg.status === 'rejected' ? pg.reason : (kafka as PromiseRejectedResult).reason;
  }
  project.provide('databaseUrl', pg.value.url);
  project.provide('kafkaBrokers', kafka.value.brokers);
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
  }
}
