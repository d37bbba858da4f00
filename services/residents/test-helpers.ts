import { inject, onTestFinished } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';
import { residentsMigrations } from './index.ts';

/**
 * A store of `engine` with the alerting migrations (the tables the residents' service reads) and the residents'
 * own, closed (and its database dropped) when the test ends.
 */
export async function openTestStore(engine: 'pglite' | 'postgres'): Promise<SqlStore> {
  const migrations = [alertingMigrations, residentsMigrations];
  if (engine === 'pglite') {
    const store = await openStore({ pgliteDir: 'memory://' }, migrations);
    onTestFinished(() => store.close());
    return store;
  }
  const db = await createTestDatabase(inject('databaseUrl'));
  const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, migrations);
  onTestFinished(async () => {
    await store.close();
    await db.drop();
  });
  return store;
}
