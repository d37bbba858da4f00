/**
 * The operational store (ARCHITECTURE.md): PostgreSQL semantics everywhere. PGlite (Postgres in WebAssembly,
 * in `data/`) by default, PostgreSQL through `pg` when `DATABASE_URL` is set; the same SQL and migrations run on
 * both. Use `$1, $2, …` placeholders and standard PostgreSQL.
 */

/** Result of one statement. */
export interface QueryResult<R> {
  readonly rows: R[];
  /** Rows inserted, updated or deleted (or returned, for SELECT). */
  readonly rowCount: number;
}

/**
 * Runs SQL statements. Values come back alike on both engines: int8 as a number (a bigint beyond 2^53), numeric
 * as a string, timestamptz as a Date, json/jsonb parsed. Pass a json/jsonb parameter as `JSON.stringify(value)`:
 * pg sends a JS array as a PostgreSQL array literal, which jsonb rejects.
 */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** The store: a statement runner, transactions, and close. */
export interface SqlStore extends SqlExecutor {
  /** `postgres` or `pglite`, for logs. */
  readonly engine: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  /** Releases every connection; a second call does nothing; queries afterwards reject with `ERR_STORE_CLOSED`. */
  close(): Promise<void>;
}

/** One migration of one component: applied once, in `id` order, recorded in `schema_migrations`. */
export interface Migration {
  /** Sortable id, e.g. `001_devices`. */
  readonly id: string;
  readonly sql: string;
}

/** The migrations of one component (ingest, processors, alerting, a service). */
export interface ComponentMigrations {
  readonly component: string;
  readonly migrations: readonly Migration[];
}
