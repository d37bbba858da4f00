import pg from 'pg';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { storeConformance } from '../../test/conformance/store.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';
import { openStore } from './open.ts';

// Each test gets a database of its own on the server global-setup started (STYLE.md §8 isolation).
storeConformance(
  'postgres',
  async () => {
    const db = await createTestDatabase(inject('databaseUrl'));
    return {
      open: (components = []) => openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, components),
      drop: () => db.drop(),
    };
  },
  { reopenable: true, concurrentOpens: true },
);

describe('postgres store', () => {
  async function connectionsTo(serverUrl: string, database: string): Promise<number> {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [
        database,
      ]);
      return rows[0].n as number;
    } finally {
      await client.end();
    }
  }

  it('leaves no connection open on the server when the store is closed', async () => {
    const serverUrl = inject('databaseUrl');
    const db = await createTestDatabase(serverUrl);
    onTestFinished(() => db.drop());
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, []);
    await Promise.all([store.query('SELECT pg_sleep(0.05)'), store.query('SELECT pg_sleep(0.05)')]);
    expect(await connectionsTo(serverUrl, db.name)).toBeGreaterThanOrEqual(1);
    await store.close();
    await expect.poll(() => connectionsTo(serverUrl, db.name), { timeout: 10_000 }).toBe(0);
  });

  it('rejects with ERR_STORE_UNREACHABLE and hides the password when the server cannot be reached', async () => {
    const url = new URL(inject('databaseUrl'));
    url.password = 's3cret-pw';
    url.pathname = '/no_such_database';
    const error = await openStore({ databaseUrl: url.toString(), pgliteDir: 'memory://' }, []).then(
      () => undefined,
      (err: unknown) => err as Error & { code: string },
    );
    expect(error?.code).toBe('ERR_STORE_UNREACHABLE');
    expect(error?.message).toContain('no_such_database');
    expect(error?.message).not.toContain('s3cret-pw');
  });
});
