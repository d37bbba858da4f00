import { PGlite, type Transaction } from '@electric-sql/pglite';
import { AppError } from '../errors.ts';
import type { QueryResult, SqlExecutor, SqlStore } from './store.ts';

/**
 * A fresh cluster's data directory, dumped once per process: a `memory://` store loads it instead of running initdb
 * again, about four times faster (PGlite's `loadDataDir`). Holds about 40 MB once the first memory store opens.
 */
let pristineCluster: Promise<Blob> | undefined;

function pristine(): Promise<Blob> {
  pristineCluster ??= (async () => {
    const template = await PGlite.create('memory://');
    try {
      return await template.dumpDataDir('none');
    } finally {
      await template.close();
    }
  })().catch((err: unknown) => {
    pristineCluster = undefined;
    throw err;
  });
  return pristineCluster;
}

/** Opens PGlite in `dataDir` (created if missing), or in memory when `dataDir` is `memory://`. */
export async function openPglite(dataDir: string): Promise<SqlStore & { exec(sql: string): Promise<void> }> {
  const db = dataDir.startsWith('memory://')
    ? await PGlite.create(dataDir, { loadDataDir: await pristine() })
    : await PGlite.create(dataDir);
  let closed = false;
  const ensureOpen = () => {
    if (closed) throw new AppError('ERR_STORE_CLOSED', 'query on the operational store: closed (open it again)');
  };
  const wrap = (q: PGlite | Transaction): SqlExecutor => ({
    async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
      ensureOpen();
      const res = await q.query<R>(sql, params as unknown[]);
      return { rows: res.rows, rowCount: Math.max(res.affectedRows ?? 0, res.rows.length) };
    },
  });
  const base = wrap(db);
  return {
    engine: 'pglite',
    query: base.query,
    async exec(sql: string) {
      ensureOpen();
      await db.exec(sql);
    },
    async transaction(fn) {
      ensureOpen();
      return db.transaction((tx) => fn(wrap(tx)));
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.close();
    },
  };
}
