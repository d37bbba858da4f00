import pg from 'pg';
import type { QueryResult, SqlExecutor, SqlStore } from './store.ts';

/** Opens a pool on PostgreSQL at `url` (`postgres://user:pass@host:port/db`). */
export async function openPostgres(
  url: string,
  options: { maxConnections?: number } = {},
): Promise<SqlStore & { exec(sql: string): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10 });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  const wrap = (q: pg.Pool | pg.PoolClient): SqlExecutor => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      const res = await q.query(sql, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
  });
  const base = wrap(pool);
  // Fail at start, with the server's reason, rather than at the first query.
  await base.query('SELECT 1');
  return {
    engine: 'postgres',
    query: base.query,
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}
