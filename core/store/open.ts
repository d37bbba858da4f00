import { mkdirSync } from 'node:fs';
import { AppError } from '../errors.ts';
import { runMigrations } from './migrate.ts';
import { openPglite } from './pglite.ts';
import { openPostgres } from './postgres.ts';
import type { ComponentMigrations, SqlStore } from './store.ts';

/** Where the operational store lives. */
export interface StoreConfig {
  /** PostgreSQL URL (`DATABASE_URL`); when absent, PGlite in `pgliteDir`. */
  readonly databaseUrl?: string | undefined;
  /** PGlite data directory, or `memory://` for a store that lives only in this process. */
  readonly pgliteDir: string;
}

/** Opens the operational store and applies the given components' migrations. */
export async function openStore(config: StoreConfig, components: readonly ComponentMigrations[]): Promise<SqlStore> {
  let store: SqlStore & { exec(sql: string): Promise<void> };
  if (config.databaseUrl) {
    try {
      store = await openPostgres(config.databaseUrl);
    } catch (err) {
      const where = config.databaseUrl.replace(/\/\/[^@/]*@/, '//[redacted]@');
      throw new AppError(
        'ERR_STORE_UNREACHABLE',
        `cannot connect to PostgreSQL: ${where} (${(err as Error).message})`,
        {
          cause: err,
          retryable: true,
        },
      );
    }
  } else {
    if (!config.pgliteDir.startsWith('memory://')) mkdirSync(config.pgliteDir, { recursive: true });
    store = await openPglite(config.pgliteDir);
  }
  try {
    await runMigrations(store, components);
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
