import { fieldTypeOf, SCHEMA } from '../sinks/influx/schema.ts';
import { INFLUX_DATASOURCE_UID } from './common.ts';
import { readsOfFlux } from './flux.ts';
import { SQL_DATASOURCE_UID } from './sql.ts';

/** One query text of a dashboard (Flux, or SQL on `vigie-postgres`) and where it sits (a target, a variable…). */
export interface DashboardQuery {
  readonly where: string;
  readonly datasourceUid: string | undefined;
  readonly text: string;
}

/** The query text of a target: `rawSql` for SQL, `query` for Flux. */
function textOf(t: JsonObject): string {
  if (typeof t.rawSql === 'string') return t.rawSql;
  return typeof t.query === 'string' ? t.query : '';
}

interface JsonObject {
  readonly [key: string]: unknown;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function uidOf(ref: unknown): string | undefined {
  return isObject(ref) && typeof ref.uid === 'string' ? ref.uid : undefined;
}

function panelsOf(dashboard: JsonObject): JsonObject[] {
  const out: JsonObject[] = [];
  for (const panel of Array.isArray(dashboard.panels) ? dashboard.panels : []) {
    if (!isObject(panel)) continue;
    out.push(panel);
    if (Array.isArray(panel.panels)) out.push(...panel.panels.filter(isObject));
  }
  return out;
}

/** Every query of a dashboard JSON (as Grafana stores it): panels' targets, query variables, annotations. */
export function queriesOf(dashboard: unknown): DashboardQuery[] {
  if (!isObject(dashboard)) return [];
  const name = `dashboard "${String(dashboard.uid)}"`;
  const out: DashboardQuery[] = [];
  for (const panel of panelsOf(dashboard)) {
    if (panel.type === 'row') continue;
    for (const t of Array.isArray(panel.targets) ? panel.targets.filter(isObject) : []) {
      out.push({
        where: `${name}, panel "${String(panel.title)}" (${String(t.refId)})`,
        datasourceUid: uidOf(t.datasource),
        text: textOf(t),
      });
    }
  }
  const templating =
    isObject(dashboard.templating) && Array.isArray(dashboard.templating.list) ? dashboard.templating.list : [];
  for (const v of templating.filter(isObject)) {
    if (v.type !== 'query') continue;
    out.push({
      where: `${name}, variable "${String(v.name)}"`,
      datasourceUid: uidOf(v.datasource),
      text: typeof v.query === 'string' ? v.query : '',
    });
  }
  const annotations =
    isObject(dashboard.annotations) && Array.isArray(dashboard.annotations.list) ? dashboard.annotations.list : [];
  for (const a of annotations.filter(isObject)) {
    if (a.builtIn === 1) continue;
    const t = isObject(a.target) ? a.target : {};
    out.push({
      where: `${name}, annotation "${String(a.name)}"`,
      datasourceUid: uidOf(a.datasource),
      text: typeof t.query === 'string' ? t.query : '',
    });
  }
  return out;
}

/**
 * Checks one dashboard JSON against the sink's schema (sinks/influx/schema.ts) and the provisioned datasources:
 * every panel and query is on datasource `influxdb` — or, for the SQL dashboards, `vigie-postgres` with SQL text
 * (those queries are executed by their own tests) —, every Flux select reads a measurement the sink writes, fields
 * `fieldTypeOf` knows for it and tags it has. Returns one message per problem, naming dashboard, panel,
 * measurement, field or tag; empty when all is well.
 */
export function checkDashboard(dashboard: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(dashboard)) return ['not a dashboard object'];
  const known = new Set([INFLUX_DATASOURCE_UID, SQL_DATASOURCE_UID]);
  for (const panel of panelsOf(dashboard)) {
    if (panel.type === 'row') continue;
    const uid = uidOf(panel.datasource);
    if (uid === undefined || !known.has(uid)) {
      problems.push(
        `dashboard "${String(dashboard.uid)}", panel "${String(panel.title)}": datasource uid ${uid} (expected ${INFLUX_DATASOURCE_UID} or ${SQL_DATASOURCE_UID})`,
      );
    }
    if (!Array.isArray(panel.targets) || panel.targets.length === 0) {
      problems.push(`dashboard "${String(dashboard.uid)}", panel "${String(panel.title)}": no query`);
    }
  }
  for (const q of queriesOf(dashboard)) {
    if (q.datasourceUid === SQL_DATASOURCE_UID) {
      if (q.text === '') problems.push(`${q.where}: no SQL query`);
      continue;
    }
    if (q.datasourceUid !== INFLUX_DATASOURCE_UID) {
      problems.push(`${q.where}: datasource uid ${q.datasourceUid} (expected ${INFLUX_DATASOURCE_UID})`);
    }
    if (q.text === '') {
      problems.push(`${q.where}: no Flux query`);
      continue;
    }
    const { reads, problems: shape } = readsOfFlux(q.text);
    for (const p of shape) problems.push(`${q.where}: ${p}`);
    for (const read of reads) {
      const measurement = SCHEMA[read.measurement];
      if (!measurement) {
        problems.push(`${q.where}: measurement "${read.measurement}" is not written by the sink`);
        continue;
      }
      for (const field of read.fields) {
        if (fieldTypeOf(read.measurement, field) === undefined) {
          const known = Object.keys(measurement.fields).join(', ');
          problems.push(`${q.where}: measurement "${read.measurement}" has no field "${field}" (known: ${known})`);
        }
      }
      for (const tag of read.tags) {
        if (!measurement.tags.includes(tag)) {
          problems.push(
            `${q.where}: measurement "${read.measurement}" has no tag "${tag}" (tags: ${measurement.tags.join(', ')})`,
          );
        }
      }
    }
  }
  return problems;
}
