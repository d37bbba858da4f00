import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, preview } from '../errors.ts';
import type { ComponentMigrations, Migration, SqlExecutor, SqlStore } from './store.ts';

/** Lock id for migrations, so several instances starting together apply each migration once. */
const MIGRATION_LOCK_ID = 0x76_69_67_69; // "vigi"

/** Reads `NNN_name.sql` files of a folder as migrations, in name order. */
export function migrationsFromDir(component: string, dir: string): ComponentMigrations {
  const migrations: Migration[] = readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ id: f.replace(/\.sql$/, ''), sql: readFileSync(join(dir, f), 'utf8') }));
  return { component, migrations };
}

/**
 * Applies every migration not yet applied, each in its own transaction, under an advisory lock. A failing migration
 * is rolled back and reported as `ERR_STORE_MIGRATION` naming the component, the migration and the statement; the
 * migrations before it stay applied.
 */
export async function runMigrations(store: SqlStore, components: readonly ComponentMigrations[]): Promise<void> {
  // Under the lock too: two servers running CREATE TABLE IF NOT EXISTS at once can both pass the check and one
  // then fails on pg_type's unique index (a known PostgreSQL race).
  await store.transaction(async (tx) => {
    await lock(tx);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS schema_migrations (
         component text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (component, id))`,
    );
  });
  for (const { component, migrations } of components) {
    for (const migration of migrations) {
      await store.transaction(async (tx) => {
        await lock(tx);
        const done = await tx.query('SELECT 1 FROM schema_migrations WHERE component = $1 AND id = $2', [
          component,
          migration.id,
        ]);
        if (done.rows.length > 0) return;
        for (const statement of splitStatements(migration.sql)) {
          try {
            await tx.query(statement);
          } catch (err) {
            throw new AppError(
              'ERR_STORE_MIGRATION',
              `migration ${component}/${migration.id} failed: ${preview(statement, 120)} (${(err as Error).message}; rolled back, fix the migration and restart)`,
              { cause: err },
            );
          }
        }
        await tx.query('INSERT INTO schema_migrations (component, id) VALUES ($1, $2)', [component, migration.id]);
      });
    }
  }
}

async function lock(tx: SqlExecutor): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
}

/**
 * Splits a migration file on `;` at line ends. Migrations keep one statement per `;`-terminated block; a body with
 * `;` at a line end inside it (a `DO $$ … $$` block, a function) is not supported.
 */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
