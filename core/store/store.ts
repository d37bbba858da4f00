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

/** Runs SQL statements. */
export interface SqlExecutor {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

/** The store: a statement runner, transactions, and close. */
export interface SqlStore extends SqlExecutor {
  /** `postgres` or `pglite`, for logs. */
  readonly engine: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
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
