/**
 * The operational store's conformance suite (STYLE.md §8): PGlite and PostgreSQL run the same checks, so code
 * written against `SqlStore` behaves the same on both. An engine's test file calls `storeConformance` with a factory
 * giving each test a fresh, empty database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { runMigrations } from '../../core/store/migrate.ts';
import type { ComponentMigrations, SqlStore } from '../../core/store/store.ts';

/** A fresh, empty database for one test. */
export interface StoreTestDatabase {
  /** Opens a store on this database through `openStore`, applying `components`' migrations. */
  open(components?: readonly ComponentMigrations[]): Promise<SqlStore>;
  /** Removes the database. */
  drop(): Promise<void>;
}

/** What an engine supports beyond the common checks. */
export interface StoreCapabilities {
  /** A second `open` after `close` sees what the first wrote (PostgreSQL, PGlite on a directory; not `memory://`). */
  readonly reopenable: boolean;
  /** Several stores may be open at once on one database (PostgreSQL; a PGlite database belongs to one instance). */
  readonly concurrentOpens: boolean;
}

const seeded = (component: string): ComponentMigrations => ({
  component,
  migrations: [
    {
      id: '001_devices',
      sql: `-- devices known to the city
CREATE TABLE devices (id text PRIMARY KEY, kind text NOT NULL);
INSERT INTO devices (id, kind) VALUES ('WM-000001', 'water-meter');`,
    },
    { id: '002_index', sql: 'CREATE INDEX devices_kind ON devices (kind);' },
  ],
});

/** Gives each test fresh databases, dropped after it; the stores opened through them are closed first. */
function freshDatabases(createDatabase: () => Promise<StoreTestDatabase>): () => Promise<StoreTestDatabase> {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return async () => {
    const db = await createDatabase();
    cleanups.push(() => db.drop());
    return {
      ...db,
      async open(components = []) {
        const store = await db.open(components);
        cleanups.push(() => store.close());
        return store;
      },
    };
  };
}

async function count(store: SqlStore, sql: string, params: readonly unknown[] = []): Promise<number> {
  const { rows } = await store.query<{ n: number }>(`SELECT count(*) AS n FROM ${sql}`, params);
  return rows[0]?.n ?? Number.NaN;
}

/** Registers the store conformance suite for one engine. */
export function storeConformance(
  name: string,
  createDatabase: () => Promise<StoreTestDatabase>,
  capabilities: StoreCapabilities,
): void {
  describe(`store conformance: ${name}`, () => {
    const database = freshDatabases(createDatabase);

    describe('migrations', () => {
      it('applies each migration once and records it when the store opens', async () => {
        const store = await (await database()).open([seeded('ingest')]);
        expect(await count(store, 'devices')).toBe(1);
        const { rows } = await store.query<{ component: string; id: string; applied_at: Date }>(
          'SELECT component, id, applied_at FROM schema_migrations ORDER BY id',
        );
        expect(rows.map((r) => `${r.component}/${r.id}`)).toEqual(['ingest/001_devices', 'ingest/002_index']);
        expect(rows[0]?.applied_at).toBeInstanceOf(Date);
      });

      it('applies nothing twice when migrations run again on the same database', async () => {
        const store = await (await database()).open([seeded('ingest')]);
        await runMigrations(store, [seeded('ingest')]);
        await Promise.all([runMigrations(store, [seeded('ingest')]), runMigrations(store, [seeded('ingest')])]);
        expect(await count(store, 'devices')).toBe(1);
        expect(await count(store, 'schema_migrations')).toBe(2);
      });

      it('keeps components apart when two use the same migration ids', async () => {
        const store = await (await database()).open([
          seeded('ingest'),
          { component: 'alerting', migrations: [{ id: '001_devices', sql: 'CREATE TABLE alert_state (x int);' }] },
        ]);
        expect(await count(store, 'schema_migrations WHERE id = $1', ['001_devices'])).toBe(2);
        expect(await count(store, 'alert_state')).toBe(0);
      });

      it('rolls back a failing migration and names it when a statement fails', async () => {
        const store = await (await database()).open([]);
        const broken: ComponentMigrations = {
          component: 'alerting',
          migrations: [
            { id: '001_ok', sql: 'CREATE TABLE ok (x int);' },
            { id: '002_bad', sql: 'CREATE TABLE half (x int);\nINSERT INTO missing_table VALUES (1);' },
          ],
        };
        const error = await runMigrations(store, [broken]).then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error).toBeInstanceOf(AppError);
        expect((error as AppError).code).toBe('ERR_STORE_MIGRATION');
        expect((error as AppError).message).toContain('alerting/002_bad');
        expect((error as AppError).message).toContain('missing_table');
        // 001 stays applied; 002's first statement is rolled back with it.
        expect(await count(store, 'schema_migrations')).toBe(1);
        expect(await count(store, 'ok')).toBe(0);
        expect((await store.query("SELECT to_regclass('half') AS t")).rows[0]).toEqual({ t: null });
        // Once fixed, the next run applies it.
        const fixed = {
          ...broken,
          migrations: [broken.migrations[0]!, { id: '002_bad', sql: 'CREATE TABLE half (x int);' }],
        };
        await runMigrations(store, [fixed]);
        expect(await count(store, 'half')).toBe(0);
        expect(await count(store, 'schema_migrations')).toBe(2);
      });

      it('closes the store and rejects when a migration fails during open', async () => {
        const db = await database();
        const bad = { component: 'x', migrations: [{ id: '001_bad', sql: 'SELECT * FROM nowhere;' }] };
        await expect(db.open([bad])).rejects.toMatchObject({ code: 'ERR_STORE_MIGRATION' });
      });

      it('splits a migration into statements and ignores comment lines when it holds several', async () => {
        const store = await (await database()).open([
          {
            component: 'c',
            migrations: [
              {
                id: '001_multi',
                sql: "-- first\nCREATE TABLE a (x int);\n\n-- second; with a semicolon\nCREATE TABLE b (\n  y text DEFAULT ';'\n);\nINSERT INTO b DEFAULT VALUES;\n",
              },
            ],
          },
        ]);
        expect((await store.query('SELECT y FROM b')).rows).toEqual([{ y: ';' }]);
      });
    });

    describe('transactions', () => {
      it('commits and returns the value when the function resolves', async () => {
        const store = await (await database()).open([seeded('c')]);
        const result = await store.transaction(async (tx) => {
          await tx.query('INSERT INTO devices VALUES ($1, $2)', ['SL-1', 'streetlight']);
          await tx.query('INSERT INTO devices VALUES ($1, $2)', ['SL-2', 'streetlight']);
          return 'done';
        });
        expect(result).toBe('done');
        expect(await count(store, 'devices WHERE kind = $1', ['streetlight'])).toBe(2);
      });

      it('rolls back and rethrows the same error when the function throws', async () => {
        const store = await (await database()).open([seeded('c')]);
        const thrown = new Error('handler failed');
        await expect(
          store.transaction(async (tx) => {
            await tx.query("INSERT INTO devices VALUES ('SL-1', 'streetlight')");
            throw thrown;
          }),
        ).rejects.toBe(thrown);
        expect(await count(store, 'devices')).toBe(1);
      });

      it('rolls back with the SQLSTATE and stays usable when a statement fails', async () => {
        const store = await (await database()).open([seeded('c')]);
        await expect(
          store.transaction(async (tx) => {
            await tx.query("INSERT INTO devices VALUES ('SL-1', 'streetlight')");
            await tx.query("INSERT INTO devices VALUES ('WM-000001', 'water-meter')");
          }),
        ).rejects.toMatchObject({ code: '23505' });
        expect(await count(store, 'devices')).toBe(1);
        await store.transaction((tx) => tx.query("INSERT INTO devices VALUES ('SL-1', 'streetlight')"));
        expect(await count(store, 'devices')).toBe(2);
      });

      it('runs transactions one after another without losing a write when they run concurrently', async () => {
        const store = await (await database()).open([
          {
            component: 'c',
            migrations: [{ id: '001', sql: 'CREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (0);' }],
          },
        ]);
        await Promise.all(
          Array.from({ length: 10 }, () =>
            store.transaction(async (tx) => {
              const { rows } = await tx.query<{ n: number }>('SELECT n FROM counter FOR UPDATE');
              await tx.query('UPDATE counter SET n = $1', [(rows[0]?.n ?? 0) + 1]);
            }),
          ),
        );
        expect((await store.query('SELECT n FROM counter')).rows).toEqual([{ n: 10 }]);
      });
    });

    describe('values', () => {
      it('round-trips jsonb when given an object or a JSON string', async () => {
        const store = await (await database()).open([
          { component: 'c', migrations: [{ id: '001', sql: 'CREATE TABLE docs (id int PRIMARY KEY, body jsonb);' }] },
        ]);
        const body = { estimatedLph: 4.2, flags: ['tamper', 'é€😀'], nested: { deep: [1, null, true] }, quote: "it's" };
        await store.query('INSERT INTO docs VALUES (1, $1)', [body]);
        await store.query('INSERT INTO docs VALUES (2, $1)', [JSON.stringify([1, 'two', { three: 3 }])]);
        await store.query('INSERT INTO docs VALUES (3, $1)', [null]);
        const { rows } = await store.query('SELECT id, body FROM docs ORDER BY id');
        expect(rows).toEqual([
          { id: 1, body },
          { id: 2, body: [1, 'two', { three: 3 }] },
          { id: 3, body: null },
        ]);
        const { rows: queried } = await store.query("SELECT body->>'quote' AS q FROM docs WHERE body @> $1", [
          JSON.stringify({ nested: { deep: [true] } }),
        ]);
        expect(queried).toEqual([{ q: "it's" }]);
      });

      it('round-trips timestamptz to the millisecond whatever the offset of the input', async () => {
        const store = await (await database()).open([
          { component: 'c', migrations: [{ id: '001', sql: 'CREATE TABLE t (id int PRIMARY KEY, at timestamptz);' }] },
        ]);
        const at = new Date('2026-03-01T02:15:00.123Z');
        await store.query('INSERT INTO t VALUES (1, $1)', [at]);
        await store.query('INSERT INTO t VALUES (2, $1)', ['2026-03-01T03:15:00.123+01:00']);
        await store.query('INSERT INTO t VALUES (3, $1)', [at.toISOString()]);
        const { rows } = await store.query<{ at: Date }>('SELECT at FROM t ORDER BY id');
        for (const row of rows) {
          expect(row.at).toBeInstanceOf(Date);
          expect(row.at.toISOString()).toBe('2026-03-01T02:15:00.123Z');
        }
        const { rows: late } = await store.query('SELECT id FROM t WHERE at >= $1', [new Date(at.getTime() + 1)]);
        expect(late).toEqual([]);
      });

      it('gives numbers for int8 and count(*), and strings for numeric, when they are read', async () => {
        const store = await (await database()).open([]);
        const { rows } = await store.query(
          'SELECT count(*) AS n, 42::int8 AS small, 9007199254740993::int8 AS big, 1.50::numeric AS exact, 2.5::float8 AS approx, true AS yes',
        );
        expect(rows).toEqual([{ n: 1, small: 42, big: 9007199254740993n, exact: '1.50', approx: 2.5, yes: true }]);
      });
    });

    describe('statements', () => {
      it('reports rows affected when rows are inserted, updated, skipped or deleted', async () => {
        const store = await (await database()).open([seeded('c')]);
        const insert = 'INSERT INTO devices VALUES ($1, $2) ON CONFLICT DO NOTHING';
        expect((await store.query(insert, ['SL-1', 'streetlight'])).rowCount).toBe(1);
        const duplicate = await store.query(insert, ['SL-1', 'streetlight']);
        expect(duplicate.rowCount).toBe(0);
        expect(duplicate.rows).toEqual([]);
        expect((await store.query("UPDATE devices SET kind = 'sensor'")).rowCount).toBe(2);
        expect((await store.query("DELETE FROM devices WHERE id = 'nope'")).rowCount).toBe(0);
        const returned = await store.query('INSERT INTO devices VALUES ($1, $2) RETURNING id', ['SL-2', 'streetlight']);
        expect(returned).toEqual({ rows: [{ id: 'SL-2' }], rowCount: 1 });
        const selected = await store.query('SELECT id FROM devices ORDER BY id');
        expect(selected.rowCount).toBe(3);
      });

      it('binds $1… parameters as values when they hold quotes, nulls or repeat', async () => {
        const store = await (await database()).open([seeded('c')]);
        const hostile = "x'); DROP TABLE devices; --";
        await store.query('INSERT INTO devices VALUES ($1, $2)', [hostile, 'sensor']);
        const { rows } = await store.query(
          'SELECT id, $2::text IS NULL AS missing, $3::int + $3::int AS twice FROM devices WHERE id = $1',
          [hostile, null, 21],
        );
        expect(rows).toEqual([{ id: hostile, missing: true, twice: 42 }]);
        expect(await count(store, 'devices')).toBe(2);
      });

      it('rejects with the SQLSTATE when a statement is invalid', async () => {
        const store = await (await database()).open([]);
        await expect(store.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
        await expect(store.query('SELECT $1::int', ['not a number'])).rejects.toMatchObject({ code: '22P02' });
      });
    });

    describe('close', () => {
      it('rejects queries with ERR_STORE_CLOSED and does nothing on a second call when closed', async () => {
        const store = await (await database()).open([]);
        await store.close();
        await store.close();
        await expect(store.query('SELECT 1')).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
        await expect(store.transaction(async () => 1)).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
      });
    });

    // Registered only where the engine can do it: memory:// has nothing to reopen, PGlite nothing to share.
    if (capabilities.reopenable) storeReopenConformance(name, createDatabase);
    if (capabilities.concurrentOpens) {
      describe('concurrent opens', () => {
        it('applies each migration once when several stores open at the same time', async () => {
          const db = await database();
          const alerting: ComponentMigrations = {
            component: 'alerting',
            migrations: [
              { id: '001_log', sql: 'CREATE TABLE alert_log (id text PRIMARY KEY);' },
              { id: '002_seed', sql: "INSERT INTO alert_log VALUES ('first');" },
            ],
          };
          const stores = await Promise.all(Array.from({ length: 6 }, () => db.open([seeded('ingest'), alerting])));
          for (const store of stores) expect(await count(store, 'schema_migrations')).toBe(4);
          expect(await count(stores[0]!, 'devices')).toBe(1);
          expect(await count(stores[0]!, 'alert_log')).toBe(1);
        });
      });
    }
  });
}

/**
 * The part of the suite for engines whose database outlives the store (PostgreSQL, PGlite on a directory):
 * `storeConformance` runs it when `reopenable`; call it alone to check just that.
 */
export function storeReopenConformance(name: string, createDatabase: () => Promise<StoreTestDatabase>): void {
  describe(`store conformance: ${name}: reopening`, () => {
    const database = freshDatabases(createDatabase);

    it('keeps data and applies only new migrations when the store is opened again', async () => {
      const db = await database();
      const first = await db.open([seeded('ingest')]);
      await first.query("INSERT INTO devices VALUES ('SL-1', 'streetlight')");
      await first.close();
      const later: ComponentMigrations = {
        component: 'ingest',
        migrations: [
          ...seeded('ingest').migrations,
          { id: '003_site', sql: "ALTER TABLE devices ADD COLUMN site text NOT NULL DEFAULT 'unknown';" },
        ],
      };
      const second = await db.open([later]);
      expect(await count(second, 'devices')).toBe(2);
      expect((await second.query("SELECT site FROM devices WHERE id = 'SL-1'")).rows).toEqual([{ site: 'unknown' }]);
      expect(await count(second, 'schema_migrations')).toBe(3);
    });
  });
}
