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
  const pg = await startPostgres();
  stops.push(pg.stop);
  project.provide('databaseUrl', pg.url);
  return async () => {
    for (const stop of stops.reverse()) await stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** A PostgreSQL server's URL; tests create their own database or schema in it. */
    databaseUrl: string;
  }
}
