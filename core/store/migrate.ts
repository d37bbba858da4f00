import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ComponentMigrations, Migration, SqlStore } from './store.ts';

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

/** Applies every migration not yet applied, each in its own transaction, under an advisory lock. */
export async function runMigrations(store: SqlStore, components: readonly ComponentMigrations[]): Promise<void> {
  await store.query(
    `CREATE TABLE IF NOT EXISTS schema_migrations (
       component text NOT NULL, id text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
       PRIMARY KEY (component, id))`,
  );
  for (const { component, migrations } of components) {
    for (const migration of migrations) {
      await store.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_ID]);
        const done = await tx.query('SELECT 1 FROM schema_migrations WHERE component = $1 AND id = $2', [
          component,
          migration.id,
        ]);
        if (done.rows.length > 0) return;
        for (const statement of splitStatements(migration.sql)) await tx.query(statement);
        await tx.query('INSERT INTO schema_migrations (component, id) VALUES ($1, $2)', [component, migration.id]);
      });
    }
  }
}

/** Splits a migration file on `;` at line ends. Migrations keep one statement per `;`-terminated block. */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*$/m)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
}
