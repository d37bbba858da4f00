import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SCHEMA } from './schema.ts';
import { README_PATH, readmeTable, schemaTable, tableCells, withSchemaTable } from './schema-doc.ts';

describe('sink-influx schema-doc', () => {
  it('keeps the README schema table equal to SCHEMA when either changes (regenerate: npx tsx sinks/influx/schema-doc.ts)', () => {
    // Compared cell by cell: a markdown formatter may pad the columns differently.
    const readme = readFileSync(README_PATH, 'utf8');
    expect(tableCells(readmeTable(readme))).toEqual(tableCells(schemaTable()));
    expect(tableCells(readmeTable(withSchemaTable(readme)))).toEqual(tableCells(schemaTable()));
  });

  it('lists every measurement with its tags and every field with its type when rendering the table', () => {
    const rows = tableCells(schemaTable());
    for (const [name, m] of Object.entries(SCHEMA)) {
      const row = rows.find((cells) => cells[0] === `\`${name}\``)?.join(' | ');
      expect(row, name).toBeDefined();
      for (const tag of m.tags) expect(row).toContain(`\`${tag}\``);
      for (const [field, type] of Object.entries(m.fields)) expect(row).toContain(`\`${field}\` ${type}`);
    }
  });
});
