import { alertingMigrations } from '../../alerting/index.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore as openEngineStore } from '../../test/helpers/postgres.ts';
import { residentsMigrations } from './index.ts';

/**
 * A store of `engine` with the alerting migrations (the tables the residents' service reads) and the residents'
 * own, closed (and its database dropped) when the test ends.
 */
export function openTestStore(engine: 'pglite' | 'postgres'): Promise<SqlStore> {
  return openEngineStore(engine, [alertingMigrations, residentsMigrations]);
}
