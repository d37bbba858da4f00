import pg from 'pg';
import { AppError } from '../errors.ts';
import type { QueryResult, SqlExecutor, SqlStore } from './store.ts';

const INT8_OID = 20;

/**
 * Row values as PGlite gives them, so the same code reads the same values on both engines: `int8` (count(*),
 * bigint, bigserial) becomes a number when it is a safe integer and a bigint otherwise (pg's default is a string).
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID && format !== 'binary') {
      return (value: string) => {
        const n = Number(value);
        return Number.isSafeInteger(n) ? n : BigInt(value);
      };
    }
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** Opens a pool on PostgreSQL at `url` (`postgres://user:pass@host:port/db`). */
export async function openPostgres(
  url: string,
  options: { maxConnections?: number } = {},
): Promise<SqlStore & { exec(sql: string): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: options.maxConnections ?? 10, types });
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {});
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new AppError('ERR_STORE_CLOSED', 'query on the operational store: closed (open it again)');
  };
  const wrap = (q: pg.Pool | pg.PoolClient): SqlExecutor => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      ensureOpen();
      const res = await q.query(sql, params as unknown[]);
      return { rows: res.rows as R[], rowCount: res.rowCount ?? res.rows.length };
    },
  });
  const base = wrap(pool);
  // Fail at start, with the server's reason, rather than at the first query; and leave no pool behind.
  try {
    await base.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return {
    engine: 'postgres',
    query: base.query,
    async exec(sql: string) {
      ensureOpen();
      await pool.query(sql);
    },
    async transaction(fn) {
      ensureOpen();
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const result = await fn(wrap(client));
        await client.query('COMMIT');
        return result;
      } catch (err) {
        // A connection whose ROLLBACK failed is in an unknown state: destroy it rather than give it back.
        await client.query('ROLLBACK').catch((rollbackErr: Error) => {
          broken = rollbackErr;
        });
        throw err;
      } finally {
        client.release(broken ?? false);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await pool.end();
    },
  };
}
