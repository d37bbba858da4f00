import type { SqlExecutor } from './store.ts';

/**
 * "Upsert these rows" for read models: `INSERT … ON CONFLICT (…) DO UPDATE` in chunks of at most
 * {@link UPSERT_CHUNK_ROWS} rows (and at most 65,535 parameters, PostgreSQL's limit per statement). One statement
 * cannot update the same row twice ("ON CONFLICT DO UPDATE command cannot affect row a second time"), so within the
 * rows given only the last one of each conflict key is kept: the later record wins, as it would one by one.
 *
 * Identifiers (table, columns) come from code, never from input: they are checked against `[a-z_][a-z0-9_]*` (a bug
 * throws) and quoted. Values are parameters; `casts` give their SQL type where PostgreSQL cannot infer it from a
 * text parameter (`timestamptz`, `date`, `jsonb`, `double precision`…). A json/jsonb value is passed as a string
 * (`JSON.stringify`), as SqlExecutor asks.
 */

/** Most rows in one upsert statement. */
export const UPSERT_CHUNK_ROWS = 500;

/** PostgreSQL's limit of parameters in one statement (the wire protocol counts them in 16 bits). */
const MAX_PARAMS = 65_535;

/** Where and how rows are upserted. */
export interface UpsertTarget {
  /** The table. */
  readonly table: string;
  /** Columns taken from each row (by property name), in this order. */
  readonly columns: readonly string[];
  /** The conflict target: a primary key or unique index, as columns (each also in `columns`). */
  readonly conflict: readonly string[];
  /** Columns set from the new row on conflict (default: every column and expression not in `conflict`; [] = DO NOTHING). */
  readonly update?: readonly string[];
  /** SQL type of a column's parameter, e.g. `{ start: 'timestamptz', values: 'jsonb' }`. */
  readonly casts?: Readonly<Record<string, string>>;
  /** Columns set by an SQL expression instead of a parameter, e.g. `{ version: "nextval('x_seq')" }` (from code only). */
  readonly expressions?: Readonly<Record<string, string>>;
  /** Update only when one of these columns would change (`IS DISTINCT FROM`): a redelivered row changes nothing. */
  readonly changed?: readonly string[];
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const SQL_TYPE = /^[a-z][a-z0-9 _]*(\[\])?$/;

function ident(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`upsertRows: identifier ${JSON.stringify(name)} (a-z, 0-9, _)`);
  return `"${name}"`;
}

/** The conflict key of a row, to keep the last row of each key: an instant (a Date, a timestamptz string) by its ms. */
function keyOf(
  row: Readonly<Record<string, unknown>>,
  conflict: readonly string[],
  casts: Readonly<Record<string, string>>,
): string {
  return JSON.stringify(
    conflict.map((c) => {
      const value = row[c];
      if (value instanceof Date) return value.getTime();
      if (typeof value === 'string' && casts[c] === 'timestamptz') return Date.parse(value);
      return value ?? null;
    }),
  );
}

/**
 * Upserts `rows` (objects keyed by column name) into `target.table`: within `rows` the last of each conflict key wins.
 * Returns the rows inserted or updated. Throws what the store throws (the caller's batch is then redelivered).
 */
export async function upsertRows(
  db: SqlExecutor,
  target: UpsertTarget,
  rows: readonly Readonly<Record<string, unknown>>[],
): Promise<number> {
  if (rows.length === 0) return 0;
  const { columns, conflict } = target;
  const expressions = Object.entries(target.expressions ?? {});
  if (columns.length === 0) throw new Error('upsertRows: no columns');
  for (const c of conflict) {
    if (!columns.includes(c)) throw new Error(`upsertRows: conflict column ${c} is not in columns`);
  }
  const casts = target.casts ?? {};
  for (const [column, type] of Object.entries(casts)) {
    if (!SQL_TYPE.test(type)) throw new Error(`upsertRows: cast of ${column}: ${JSON.stringify(type)}`);
  }
  const all = [...columns, ...expressions.map(([c]) => c)];
  const update = target.update ?? all.filter((c) => !conflict.includes(c));
  const head = `INSERT INTO ${ident(target.table)} (${all.map(ident).join(', ')}) VALUES `;
  let tail: string;
  if (update.length === 0) {
    tail = ` ON CONFLICT (${conflict.map(ident).join(', ')}) DO NOTHING`;
  } else {
    const table = ident(target.table);
    const changed = target.changed ?? [];
    const where =
      changed.length > 0
        ? ` WHERE (${changed.map((c) => `${table}.${ident(c)}`).join(', ')}) IS DISTINCT FROM (${changed
            .map((c) => `EXCLUDED.${ident(c)}`)
            .join(', ')})`
        : '';
    tail =
      ` ON CONFLICT (${conflict.map(ident).join(', ')}) DO UPDATE SET ` +
      update.map((c) => `${ident(c)} = EXCLUDED.${ident(c)}`).join(', ') +
      where;
  }

  // One statement cannot update a row twice: keep each key's last row (Map keeps the first position, last value).
  const latest = new Map<string, Readonly<Record<string, unknown>>>();
  for (const row of rows) latest.set(keyOf(row, conflict, casts), row);
  const unique = [...latest.values()];
  const chunkRows = Math.min(UPSERT_CHUNK_ROWS, Math.floor(MAX_PARAMS / columns.length));
  let changedRows = 0;
  for (let i = 0; i < unique.length; i += chunkRows) {
    const chunk = unique.slice(i, i + chunkRows);
    const params: unknown[] = [];
    const tuples = chunk.map((row) => {
      const cells = columns.map((c) => {
        params.push(row[c] ?? null);
        const type = casts[c];
        return type ? `$${params.length}::${type}` : `$${params.length}`;
      });
      for (const [, sql] of expressions) cells.push(sql);
      return `(${cells.join(', ')})`;
    });
    const res = await db.query(`${head}${tuples.join(', ')}${tail}`, params);
    changedRows += res.rowCount;
  }
  return changedRows;
}
