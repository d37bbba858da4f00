import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import type * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';

/**
 * The PostgreSQL query type the SDK lacks (like flux.ts for Flux), for the dashboards that read the operational
 * store rather than the time series: only the consultations' dashboard views (services/consultations migrations
 * 002–003), through the datasource uid `vigie-postgres`, whose login may read those views and nothing else.
 * Unlike Flux, these queries run in the tests: dashboards/consultations.int.test.ts executes every one against
 * PostgreSQL, as that login, with Grafana's variables and macros substituted.
 */

/** The uid of the provisioned PostgreSQL datasource (grafana/provisioning/datasources/postgres.yaml). */
export const SQL_DATASOURCE_UID = 'vigie-postgres';
/** The PostgreSQL datasource reference. */
export const POSTGRES: common.DataSourceRef = { type: 'grafana-postgresql-datasource', uid: SQL_DATASOURCE_UID };

/** A SQL target: `table` rows, or a `time_series` whose `time` column is the x axis. */
export interface SqlQuery {
  readonly rawSql: string;
  readonly format: 'table' | 'time_series';
}

interface SqlDataquery extends cog.Dataquery {
  rawSql: string;
  format: 'table' | 'time_series';
  rawQuery: true;
  editorMode: 'code';
  refId?: string;
  hide?: boolean;
  datasource?: common.DataSourceRef;
}

/** Builder of a SQL target, on the PostgreSQL datasource. */
export class SqlQueryBuilder implements cog.Builder<cog.Dataquery> {
  private readonly internal: SqlDataquery;

  constructor(query: SqlQuery, refId = 'A') {
    this.internal = {
      rawSql: query.rawSql,
      format: query.format,
      rawQuery: true,
      editorMode: 'code',
      refId,
      datasource: POSTGRES,
      _implementsDataqueryVariant() {},
    };
  }

  build(): SqlDataquery {
    return this.internal;
  }
}

/** What a SQL panel shows. */
export interface SqlPanelSpec {
  readonly title: string;
  readonly description: string;
  readonly query: SqlQuery;
  readonly span: number;
  readonly height: number;
  readonly unit?: string;
  readonly noValue?: string;
}

/** The builder methods a SQL panel needs (every panel kind has them). */
interface SqlPanelBuilder {
  title(title: string): unknown;
  description(description: string): unknown;
  datasource(datasource: common.DataSourceRef): unknown;
  withTarget(target: cog.Builder<cog.Dataquery>): unknown;
  unit(unit: string): unknown;
  noValue(noValue: string): unknown;
  span(w: number): unknown;
  height(h: number): unknown;
}

/** Sets what `spec` gives on a new panel builder, on the PostgreSQL datasource, and returns the builder. */
export function sqlPanel<B extends SqlPanelBuilder>(builder: B, spec: SqlPanelSpec): B {
  builder.title(spec.title);
  builder.description(spec.description);
  builder.datasource(POSTGRES);
  builder.withTarget(new SqlQueryBuilder(spec.query));
  if (spec.unit !== undefined) builder.unit(spec.unit);
  if (spec.noValue !== undefined) builder.noValue(spec.noValue);
  builder.span(spec.span);
  builder.height(spec.height);
  return builder;
}

/** A variable whose values come from a SQL query's `__value` and `__text` columns. */
export function sqlVariable(spec: {
  name: string;
  label: string;
  description: string;
  rawSql: string;
}): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder(spec.name)
    .label(spec.label)
    .description(spec.description)
    .datasource(POSTGRES)
    .query(spec.rawSql)
    .definition(spec.rawSql)
    .refresh(dashboard.VariableRefresh.OnDashboardLoad);
}
