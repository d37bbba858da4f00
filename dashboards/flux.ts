import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';

/**
 * The Flux query type the SDK lacks (grafana-foundation-sdk examples/typescript/custom-query), and the only way
 * dashboards/ writes Flux: every `from()` is a *select* built by `fluxQuery`/`fluxScript`, whose first lines filter
 * one measurement, its fields and its tags in a fixed shape. `readsOfFlux` reads that shape back from the text, so
 * the tests check what Grafana will actually run (the committed JSON) against the sink's schema. Flux is checked
 * only structurally here: no InfluxDB runs on this machine kind to execute it.
 */

/** What one select reads: a measurement, its fields (at least one) and the tags it filters on. */
export interface FluxRead {
  readonly measurement: string;
  readonly fields: readonly string[];
  readonly tags: readonly string[];
}

/** A Flux script with what it reads, as recorded when it was built. */
export interface FluxQuery {
  readonly text: string;
  readonly reads: readonly FluxRead[];
}

/**
 * How a tag is matched: a string is an equality (`r.tag == "value"`, Grafana variables like `${meter}` allowed),
 * a list is any of its values, `{ variable }` matches a multi-value Grafana variable through its regex form.
 */
export type TagMatch = string | readonly string[] | { readonly variable: string };

/** One select: `from(bucket) |> range |> filter(measurement) |> filter(fields) |> filter(tag)…`. */
export interface SelectSpec {
  readonly measurement: string;
  /** Fields read; at least one (a select without a field filter could read anything). */
  readonly fields: readonly string[];
  readonly where?: Readonly<Record<string, TagMatch>>;
  /** Flux start of the range, e.g. `-90d` or `0`; default: the dashboard's time range. */
  readonly start?: string;
}

/** A named stream of a script: a select and the Flux pipeline that follows it (each step without `|>`). */
export interface FluxStream {
  readonly select: SelectSpec;
  readonly pipeline?: readonly string[];
}

/** The bucket every query reads: the dashboards' `bucket` variable. */
export const BUCKET_EXPRESSION = `"\${bucket}"`;

const INDENT = '  ';

function stringLiteral(value: string): string {
  // A Flux string literal: JSON's escapes for `"` and `\` are Flux's too. `${…}` stays: Grafana replaces it first.
  return JSON.stringify(value);
}

function tagPredicate(tag: string, match: TagMatch): string {
  if (typeof match === 'string') return `r.${tag} == ${stringLiteral(match)}`;
  if ('variable' in match) return `r.${tag} =~ /^\${${match.variable}:regex}$/`;
  const values = match as readonly string[];
  if (values.length === 0) throw new Error(`fluxQuery: tag ${tag} matches an empty list`);
  return values.map((v) => `r.${tag} == ${stringLiteral(v)}`).join(' or ');
}

function selectLines(spec: SelectSpec): string[] {
  if (spec.fields.length === 0) throw new Error(`fluxQuery: a select on ${spec.measurement} names no field`);
  const range =
    spec.start === undefined ? 'range(start: v.timeRangeStart, stop: v.timeRangeStop)' : `range(start: ${spec.start})`;
  const lines = [
    `from(bucket: ${BUCKET_EXPRESSION})`,
    `${INDENT}|> ${range}`,
    `${INDENT}|> filter(fn: (r) => r._measurement == ${stringLiteral(spec.measurement)})`,
    `${INDENT}|> filter(fn: (r) => ${spec.fields.map((f) => `r._field == ${stringLiteral(f)}`).join(' or ')})`,
  ];
  for (const [tag, match] of Object.entries(spec.where ?? {})) {
    lines.push(`${INDENT}|> filter(fn: (r) => ${tagPredicate(tag, match)})`);
  }
  return lines;
}

function readOf(spec: SelectSpec): FluxRead {
  return { measurement: spec.measurement, fields: [...spec.fields], tags: Object.keys(spec.where ?? {}) };
}

function streamLines(stream: FluxStream): string[] {
  return [...selectLines(stream.select), ...(stream.pipeline ?? []).map((step) => `${INDENT}|> ${step}`)];
}

/** One select followed by a pipeline: the usual panel query. */
export function fluxQuery(select: SelectSpec, pipeline: readonly string[] = []): FluxQuery {
  return { text: streamLines({ select, pipeline }).join('\n'), reads: [readOf(select)] };
}

/**
 * Several named streams (`name = <select> |> …`) then a result expression using them, e.g. a `join.left`.
 * `imports` go first (`join`, `influxdata/influxdb/schema`).
 */
export function fluxScript(spec: {
  readonly imports?: readonly string[];
  readonly streams: Readonly<Record<string, FluxStream>>;
  readonly result: string;
}): FluxQuery {
  const parts: string[] = [];
  if (spec.imports && spec.imports.length > 0)
    parts.push(spec.imports.map((i) => `import ${stringLiteral(i)}`).join('\n'));
  const reads: FluxRead[] = [];
  for (const [name, stream] of Object.entries(spec.streams)) {
    const [first, ...rest] = streamLines(stream);
    parts.push([`${name} = ${first}`, ...rest].join('\n'));
    reads.push(readOf(stream.select));
  }
  parts.push(spec.result);
  return { text: parts.join('\n\n'), reads };
}

/** The values of one tag of one measurement (a templating variable), seen since `start` (default `-30d`). */
export function fluxTagValues(spec: { measurement: string; tag: string; start?: string }): FluxQuery {
  const text =
    'import "influxdata/influxdb/schema"\n\n' +
    `schema.tagValues(bucket: ${BUCKET_EXPRESSION}, tag: ${stringLiteral(spec.tag)}, ` +
    `predicate: (r) => r._measurement == ${stringLiteral(spec.measurement)}, start: ${spec.start ?? '-30d'})`;
  return { text, reads: [{ measurement: spec.measurement, fields: [], tags: [spec.tag] }] };
}

/**
 * The field names of one measurement seen since `start` (default `-30d`), among the series matching `where` (a
 * templating variable: e.g. the metrics one sensor sends).
 */
export function fluxFieldKeys(spec: {
  measurement: string;
  where?: Readonly<Record<string, TagMatch>>;
  start?: string;
}): FluxQuery {
  const predicate = [
    `r._measurement == ${stringLiteral(spec.measurement)}`,
    ...Object.entries(spec.where ?? {}).map(([tag, match]) => `(${tagPredicate(tag, match)})`),
  ].join(' and ');
  const text =
    'import "influxdata/influxdb/schema"\n\n' +
    `schema.fieldKeys(bucket: ${BUCKET_EXPRESSION}, predicate: (r) => ${predicate}, start: ${spec.start ?? '-30d'})`;
  return { text, reads: [{ measurement: spec.measurement, fields: [], tags: Object.keys(spec.where ?? {}) }] };
}

/** The buckets a user can pick (system buckets `_monitoring`, `_tasks` left out): reads no measurement. */
export function fluxBuckets(): FluxQuery {
  return {
    text: 'buckets()\n  |> filter(fn: (r) => r.name !~ /^_/)\n  |> rename(columns: {name: "_value"})\n  |> keep(columns: ["_value"])',
    reads: [],
  };
}

const FROM = /^(?:\w+ = )?from\(bucket: /;
const PREFIX_STEP = /^\s*\|> (range|filter)\(/;
const MEASUREMENT = /r\._measurement == "((?:[^"\\]|\\.)*)"/g;
const FIELD = /r\._field == "((?:[^"\\]|\\.)*)"/g;
const TAG = /\br\.([A-Za-z][A-Za-z0-9_]*)\s*(?:==|!=|=~|!~)/g;

function all(re: RegExp, text: string): string[] {
  return [...text.matchAll(re)].map((m) => JSON.parse(`"${m[1]}"`) as string);
}

/**
 * Reads back what a Flux text reads: one entry per select (and per `schema.tagValues`/`schema.fieldKeys` call), plus
 * problems — a
 * select with no or several measurement filters or no field filter, or `r._measurement`/`r._field` used outside a
 * select's filters (a query not built by this module).
 */
export function readsOfFlux(text: string): { reads: FluxRead[]; problems: string[] } {
  const reads: FluxRead[] = [];
  const problems: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    if (line.includes('schema.tagValues(')) {
      const measurements = all(MEASUREMENT, line);
      const tag = /tag: "([^"]+)"/.exec(line)?.[1];
      if (measurements.length !== 1 || !tag)
        problems.push(`schema.tagValues needs one tag and one measurement: ${line}`);
      else reads.push({ measurement: measurements[0] ?? '', fields: [], tags: [tag] });
      continue;
    }
    if (line.includes('schema.fieldKeys(')) {
      const measurements = all(MEASUREMENT, line);
      const tags = [...line.replace(MEASUREMENT, '').matchAll(TAG)].map((m) => m[1] ?? '');
      if (measurements.length !== 1) problems.push(`schema.fieldKeys needs one measurement: ${line}`);
      else reads.push({ measurement: measurements[0] ?? '', fields: [], tags: [...new Set(tags)] });
      continue;
    }
    if (!FROM.test(line)) {
      if (/r\._(measurement|field)\b/.test(line))
        problems.push(`filters _measurement/_field outside a select: ${line.trim()}`);
      continue;
    }
    // The select's prefix: range and filter steps right after from().
    const prefix: string[] = [];
    while (i + 1 < lines.length && PREFIX_STEP.test(lines[i + 1] ?? '')) prefix.push(lines[++i] ?? '');
    const measurements = prefix.flatMap((l) => all(MEASUREMENT, l));
    const fields = prefix.flatMap((l) => all(FIELD, l));
    const tags = prefix
      .filter((l) => !/r\._(measurement|field)\b/.test(l))
      .flatMap((l) => [...l.matchAll(TAG)].map((m) => m[1] ?? ''));
    if (measurements.length !== 1) {
      problems.push(`a select must filter exactly one measurement (found ${measurements.length}): ${line.trim()}`);
      continue;
    }
    if (fields.length === 0) problems.push(`a select on ${measurements[0]} names no field`);
    reads.push({ measurement: measurements[0] ?? '', fields, tags: [...new Set(tags)] });
  }
  return { reads, problems };
}

/** The InfluxDB query model Grafana stores for a Flux target: refId, the Flux text, the datasource, hide. */
export interface FluxDataquery extends cog.Dataquery {
  refId?: string;
  hide?: boolean;
  datasource?: common.DataSourceRef;
  query: string;
}

/** Builder of a Flux target for any panel, variable-free: `new FluxQueryBuilder(fluxQuery(…)).refId('A')`. */
export class FluxQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: FluxDataquery;
  /** What the query reads, as recorded by fluxQuery/fluxScript. */
  readonly reads: readonly FluxRead[];

  constructor(query: FluxQuery) {
    this.internal = { query: query.text, _implementsDataqueryVariant() {} };
    this.reads = query.reads;
  }

  build(): FluxDataquery {
    return this.internal;
  }

  refId(refId: string): this {
    this.internal.refId = refId;
    return this;
  }

  hide(hide: boolean): this {
    this.internal.hide = hide;
    return this;
  }

  datasource(datasource: common.DataSourceRef): this {
    this.internal.datasource = datasource;
    return this;
  }
}
