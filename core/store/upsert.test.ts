import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from './open.ts';
import type { SqlStore } from './store.ts';
import { UPSERT_CHUNK_ROWS, type UpsertTarget, upsertRows } from './upsert.ts';

/** One PGlite for the file (it takes a second to open); each test uses tables of its own. */
let store: SqlStore;
let tables = 0;

beforeAll(async () => {
  store = await openStore({ pgliteDir: 'memory://' }, []);
});
afterAll(async () => {
  await store?.close();
});

/** A fresh table `(k text, at timestamptz, v double precision, doc jsonb, version bigint)` keyed by (k, at). */
async function table(): Promise<string> {
  const name = `upsert_t${++tables}`;
  await store.query(`CREATE SEQUENCE ${name}_seq`);
  await store.query(
    `CREATE TABLE ${name} (k text NOT NULL, at timestamptz NOT NULL, v double precision, doc jsonb,
       version bigint NOT NULL DEFAULT 0, PRIMARY KEY (k, at))`,
  );
  return name;
}

const target = (name: string, more: Partial<UpsertTarget> = {}): UpsertTarget => ({
  table: name,
  columns: ['k', 'at', 'v', 'doc'],
  conflict: ['k', 'at'],
  casts: { at: 'timestamptz', v: 'double precision', doc: 'jsonb' },
  ...more,
});

async function rowsOf(name: string) {
  const res = await store.query<{ k: string; at: Date; v: number | null; doc: unknown; version: number }>(
    `SELECT k, at, v, doc, version FROM ${name} ORDER BY k, at`,
  );
  return res.rows.map((r) => ({ k: r.k, at: r.at.toISOString(), v: r.v, doc: r.doc, version: r.version }));
}

const AT = '2026-03-10T08:00:00.000Z';

describe('upsertRows', () => {
  it('inserts, then replaces a stored row with a later one, when keys meet across calls', async () => {
    const name = await table();
    expect(await upsertRows(store, target(name), [{ k: 'a', at: AT, v: 1, doc: JSON.stringify({ x: 1 }) }])).toBe(1);
    await upsertRows(store, target(name), [
      { k: 'a', at: AT, v: 2, doc: JSON.stringify({ x: 2 }) },
      { k: 'b', at: AT, v: 3 },
    ]);
    expect(await rowsOf(name)).toEqual([
      { k: 'a', at: AT, v: 2, doc: { x: 2 }, version: 0 },
      { k: 'b', at: AT, v: 3, doc: null, version: 0 },
    ]);
  });

  it('keeps the last row of each key when a batch holds the same key twice (one statement cannot update a row twice)', async () => {
    const name = await table();
    await upsertRows(store, target(name), [
      { k: 'a', at: AT, v: 1 },
      { k: 'a', at: new Date(AT), v: 2 },
      { k: 'b', at: AT, v: 5 },
      { k: 'a', at: AT, v: 3 },
    ]);
    expect((await rowsOf(name)).map((r) => [r.k, r.v])).toEqual([
      ['a', 3],
      ['b', 5],
    ]);
  });

  it('writes every row when a batch spans several chunks of 500', async () => {
    const name = await table();
    const rows = Array.from({ length: UPSERT_CHUNK_ROWS * 2 + 201 }, (_, i) => ({
      k: `d${i % 700}`,
      at: new Date(Date.parse(AT) + Math.floor(i / 700) * 3_600_000).toISOString(),
      v: i,
    }));
    expect(await upsertRows(store, target(name), rows)).toBe(rows.length);
    const stored = await rowsOf(name);
    expect(stored).toHaveLength(rows.length);
    expect(stored.reduce((s, r) => s + (r.v ?? 0), 0)).toBe(rows.reduce((s, r) => s + r.v, 0));
  });

  it('updates only the columns named in update, and nothing when update is empty', async () => {
    const name = await table();
    await upsertRows(store, target(name), [{ k: 'a', at: AT, v: 1, doc: '"first"' }]);
    await upsertRows(store, target(name, { update: ['doc'] }), [{ k: 'a', at: AT, v: 9, doc: '"second"' }]);
    await upsertRows(store, target(name, { update: [] }), [{ k: 'a', at: AT, v: 10, doc: '"third"' }]);
    expect(await rowsOf(name)).toEqual([{ k: 'a', at: AT, v: 1, doc: 'second', version: 0 }]);
  });

  it('sets expression columns and leaves a row alone when none of the changed columns would change', async () => {
    const name = await table();
    const t = target(name, { expressions: { version: `nextval('${name}_seq')` }, changed: ['v', 'doc'] });
    expect(await upsertRows(store, t, [{ k: 'a', at: AT, v: 1 }])).toBe(1);
    const [first] = await rowsOf(name);
    // 1. The same row again (a redelivery): no update, the version stays.
    expect(await upsertRows(store, t, [{ k: 'a', at: AT, v: 1 }])).toBe(0);
    expect((await rowsOf(name))[0]?.version).toBe(first?.version);
    // 2. A change: a new version.
    expect(await upsertRows(store, t, [{ k: 'a', at: AT, v: 2 }])).toBe(1);
    expect((await rowsOf(name))[0]?.version).toBeGreaterThan(first?.version ?? 0);
  });

  it('refuses identifiers and casts that are not plain SQL names (a bug in the caller)', async () => {
    await expect(upsertRows(store, { table: 'x; DROP', columns: ['k'], conflict: ['k'] }, [{ k: 1 }])).rejects.toThrow(
      /identifier/,
    );
    await expect(upsertRows(store, { table: 't', columns: ['k'], conflict: ['j'] }, [{ k: 1 }])).rejects.toThrow(
      /conflict column/,
    );
    await expect(
      upsertRows(store, { table: 't', columns: ['k'], conflict: ['k'], casts: { k: 'int); --' } }, [{ k: 1 }]),
    ).rejects.toThrow(/cast/);
    expect(await upsertRows(store, { table: 'never_touched', columns: ['k'], conflict: ['k'] }, [])).toBe(0);
  });

  test.prop(
    [
      fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd'), fc.integer({ min: 0, max: 3 }), fc.integer()), {
        maxLength: 40,
      }),
      fc.integer({ min: 1, max: 5 }),
    ],
    { numRuns: 40 },
  )('ends with the last value of each key whatever the batches, as row-by-row upserts would', async (ops, batches) => {
    const name = await table();
    const rows = ops.map(([k, hour, v]) => ({ k, at: new Date(Date.parse(AT) + hour * 3_600_000).toISOString(), v }));
    const size = Math.ceil(rows.length / batches) || 1;
    for (let i = 0; i < rows.length; i += size) await upsertRows(store, target(name), rows.slice(i, i + size));
    const expected = new Map<string, number>();
    for (const r of rows) expected.set(`${r.k} ${r.at}`, r.v);
    const stored = await rowsOf(name);
    expect(new Map(stored.map((r) => [`${r.k} ${r.at}`, r.v]))).toEqual(expected);
  });
});
