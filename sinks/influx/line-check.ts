import { type FieldType, fieldTypeOf, SCHEMA } from './schema.ts';

/**
 * A line-protocol reader for the tests: parses one line the sink wrote and checks it against the time-series schema
 * (schema.ts), so every line a test produces is proved to be one the dashboards can rely on. Syntax from
 * https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/ (escapes as line-protocol.ts writes them).
 */

/** One field as written: its line-protocol type and its value. */
export interface ParsedField {
  readonly type: FieldType;
  readonly value: number | string | boolean;
}

/** One parsed line. */
export interface ParsedLine {
  readonly measurement: string;
  readonly tags: Readonly<Record<string, string>>;
  readonly fields: Readonly<Record<string, ParsedField>>;
  readonly timestampMs: number;
}

const UNESCAPE: Record<string, string> = { n: '\n', r: '\r', t: '\t' };

/** Reads characters up to an unescaped stop character; returns the unescaped text and where it stopped. */
function readToken(line: string, from: number, stops: string): [string, number] {
  let out = '';
  let i = from;
  while (i < line.length && !stops.includes(line[i]!)) {
    if (line[i] === '\\' && i + 1 < line.length && /[, =\\nrt"]/.test(line[i + 1]!)) {
      const c = line[i + 1]!;
      out += UNESCAPE[c] ?? c;
      i += 2;
      continue;
    }
    out += line[i];
    i += 1;
  }
  return [out, i];
}

function fieldOf(raw: string, line: string): ParsedField {
  if (/^-?\d+i$/.test(raw)) return { type: 'integer', value: Number(raw.slice(0, -1)) };
  if (/^(t|T|true|True|TRUE)$/.test(raw)) return { type: 'boolean', value: true };
  if (/^(f|F|false|False|FALSE)$/.test(raw)) return { type: 'boolean', value: false };
  if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw)) return { type: 'float', value: Number(raw) };
  throw new Error(`not a field value: ${raw} (in ${line})`);
}

/** Parses one line (with or without its newline); throws on anything that is not line protocol. */
export function parseLine(input: string): ParsedLine {
  const line = input.endsWith('\n') ? input.slice(0, -1) : input;
  if (/[\n\r]/.test(line)) throw new Error(`raw newline inside a line: ${JSON.stringify(line)}`);
  const [measurement, afterName] = readToken(line, 0, ', ');
  if (measurement === '') throw new Error(`no measurement: ${line}`);
  let i = afterName;
  const tags: Record<string, string> = {};
  while (line[i] === ',') {
    const [key, eq] = readToken(line, i + 1, ',= ');
    if (line[eq] !== '=') throw new Error(`tag without value: ${line}`);
    const [value, end] = readToken(line, eq + 1, ', ');
    if (key === '' || value === '') throw new Error(`empty tag key or value: ${line}`);
    tags[key] = value;
    i = end;
  }
  if (line[i] !== ' ') throw new Error(`no field set: ${line}`);
  const fields: Record<string, ParsedField> = {};
  do {
    const [key, eq] = readToken(line, i + 1, ',= ');
    if (line[eq] !== '=' || key === '') throw new Error(`field without value: ${line}`);
    let end: number;
    if (line[eq + 1] === '"') {
      let value = '';
      end = eq + 2;
      while (end < line.length && line[end] !== '"') {
        if (line[end] === '\\' && (line[end + 1] === '"' || line[end + 1] === '\\')) end += 1;
        value += line[end];
        end += 1;
      }
      if (line[end] !== '"') throw new Error(`unterminated string field: ${line}`);
      end += 1;
      fields[key] = { type: 'string', value };
    } else {
      const [raw, stop] = readToken(line, eq + 1, ', ');
      fields[key] = fieldOf(raw, line);
      end = stop;
    }
    i = end;
  } while (line[i] === ',');
  if (line[i] !== ' ') throw new Error(`no timestamp: ${line}`);
  const ts = line.slice(i + 1);
  if (!/^-?\d+$/.test(ts)) throw new Error(`timestamp is not an integer: ${ts} (in ${line})`);
  return { measurement, tags, fields, timestampMs: Number(ts) };
}

/**
 * What is wrong with `line` against the schema (empty when nothing): an unknown measurement, a tag the measurement
 * does not have (or one of its tags missing), a field it does not have or of another type.
 */
export function schemaProblems(line: string): string[] {
  let parsed: ParsedLine;
  try {
    parsed = parseLine(line);
  } catch (err) {
    return [(err as Error).message];
  }
  const schema = SCHEMA[parsed.measurement];
  if (!schema) return [`unknown measurement ${parsed.measurement}`];
  const problems: string[] = [];
  const want = [...schema.tags].sort();
  const have = Object.keys(parsed.tags).sort();
  if (want.join(',') !== have.join(',')) {
    problems.push(`${parsed.measurement}: tags ${have.join(',')} (schema: ${want.join(',')})`);
  }
  for (const [name, field] of Object.entries(parsed.fields)) {
    const type = fieldTypeOf(parsed.measurement, name);
    if (type !== field.type) problems.push(`${parsed.measurement}.${name}: ${field.type} (schema: ${type ?? 'none'})`);
  }
  if (Object.keys(parsed.fields).length === 0) problems.push(`${parsed.measurement}: no field`);
  return problems;
}
