import type * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { ALERT_MEASUREMENT } from '../sinks/influx/schema.ts';
import { type FluxQuery, FluxQueryBuilder, fluxBuckets, fluxQuery, fluxTagValues, type TagMatch } from './flux.ts';

/** Uid of the InfluxDB (Flux) datasource grafana/provisioning/datasources/influxdb.yaml provisions; never change it. */
export const INFLUX_DATASOURCE_UID = 'influxdb';

/** Reference to that datasource, set on every panel, target, variable and annotation. */
export const INFLUX: common.DataSourceRef = { type: 'influxdb', uid: INFLUX_DATASOURCE_UID };

/** Tag shared by every Vigie dashboard (the dashboards link menu lists them by it). */
export const VIGIE_TAG = 'vigie';

/** Uids of the dashboards, stable: links and bookmarks use them. */
export const UIDS = {
  waterNetwork: 'vigie-water-network',
  meter: 'vigie-meter',
  streetlights: 'vigie-streetlights',
  parking: 'vigie-parking',
  pipeline: 'vigie-pipeline',
} as const;

/**
 * How far back the dashboards look for an alert's last transition: an alert whose last transition is older than
 * this is not shown as open (detectors send `update` transitions while an alert lasts, CONTRACTS.md §4).
 */
export const ALERT_LOOKBACK = '-90d';

/** A Flux target on the InfluxDB datasource. */
export function target(query: FluxQuery, refId = 'A'): FluxQueryBuilder {
  return new FluxQueryBuilder(query).refId(refId).datasource(INFLUX);
}

/** A dashboard with Vigie's defaults: uid, tags, last 7 days, 1 min refresh, links to the other dashboards. */
export function vigieDashboard(uid: string, title: string, description: string): dashboard.DashboardBuilder {
  return new dashboard.DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags([VIGIE_TAG])
    .time({ from: 'now-7d', to: 'now' })
    .refresh('1m')
    .timezone('browser')
    .tooltip(dashboard.DashboardCursorSync.Crosshair)
    .readonly()
    .withVariable(bucketVariable())
    .link(
      new dashboard.DashboardLinkBuilder('Tableaux Vigie')
        .type(dashboard.DashboardLinkType.Dashboards)
        .tags([VIGIE_TAG])
        .asDropdown(true)
        .keepTime(true)
        .includeVars(false)
        .targetBlank(false),
    );
}

/** The `bucket` variable: the buckets of the organisation, `telemetry` first (VIGIE_INFLUX_BUCKET's default). */
export function bucketVariable(): dashboard.QueryVariableBuilder {
  return new dashboard.QueryVariableBuilder('bucket')
    .label('Bucket')
    .description('Bucket InfluxDB où le sink Vigie écrit (VIGIE_INFLUX_BUCKET).')
    .datasource(INFLUX)
    .query(fluxBuckets().text)
    .definition(fluxBuckets().text)
    .current({ text: 'telemetry', value: 'telemetry' })
    .refresh(dashboard.VariableRefresh.OnDashboardLoad)
    .sort(dashboard.VariableSort.AlphabeticalAsc);
}

/** A variable listing one tag's values of one measurement; `multi` adds "Tous" (regex `.*`). */
export function tagVariable(spec: {
  name: string;
  label: string;
  description: string;
  measurement: string;
  tag: string;
  multi: boolean;
}): dashboard.QueryVariableBuilder {
  const text = fluxTagValues({ measurement: spec.measurement, tag: spec.tag }).text;
  const variable = new dashboard.QueryVariableBuilder(spec.name)
    .label(spec.label)
    .description(spec.description)
    .datasource(INFLUX)
    .query(text)
    .definition(text)
    .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
    .sort(dashboard.VariableSort.NaturalAsc);
  if (spec.multi) {
    variable.multi(true).includeAll(true).allValue('.*').current({ text: 'All', value: '$__all' });
  }
  return variable;
}

/** Thresholds from a base colour, then `[value, colour]` steps in rising order. */
export function thresholds(base: string, ...steps: Array<[number, string]>): dashboard.ThresholdsConfigBuilder {
  return new dashboard.ThresholdsConfigBuilder()
    .mode(dashboard.ThresholdsMode.Absolute)
    .steps([{ value: null, color: base }, ...steps.map(([value, color]) => ({ value, color }))]);
}

/** A data link on a column holding a device_id: opens the meter detail dashboard on that meter. */
export function meterLinkOverride(column = 'device_id'): {
  matcher: dashboard.MatcherConfig;
  properties: dashboard.DynamicConfigValue[];
} {
  return {
    matcher: { id: 'byName', options: column },
    properties: [
      {
        id: 'links',
        value: [
          {
            title: 'Détail du compteur',
            url: `/d/${UIDS.meter}?var-meter=\${__value.raw}&\${__url_time_range}`,
          },
        ],
      },
    ],
  };
}

/**
 * After a select of the `alert` fields `alert_id` (and `summary`): one row per alert holding its last transition
 * in the lookback, keeping those whose last state is not `resolved` (open or update). Empty tables are kept so a
 * count says 0 rather than "no data".
 */
export const OPEN_ALERTS_PIPELINE: readonly string[] = [
  'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
  'group(columns: ["alert_id"])',
  'sort(columns: ["_time"])',
  'last(column: "alert_id")',
  'group()',
  'filter(fn: (r) => r.state != "resolved", onEmpty: "keep")',
];

/** Open alerts matching `where` (tags of `alert`), newest transition first: time, device, type, severity, summary. */
export function openAlertsQuery(where: Readonly<Record<string, TagMatch>>): FluxQuery {
  return fluxQuery({ measurement: ALERT_MEASUREMENT, fields: ['alert_id', 'summary'], where, start: ALERT_LOOKBACK }, [
    ...OPEN_ALERTS_PIPELINE,
    'keep(columns: ["_time", "device_id", "type", "severity", "state", "summary"])',
    'sort(columns: ["_time"], desc: true)',
  ]);
}

/** How many alerts matching `where` are open now, in one `_value` (per `type` when `byType`). */
export function openAlertsCountQuery(where: Readonly<Record<string, TagMatch>>, byType = false): FluxQuery {
  return fluxQuery({ measurement: ALERT_MEASUREMENT, fields: ['alert_id'], where, start: ALERT_LOOKBACK }, [
    ...OPEN_ALERTS_PIPELINE,
    ...(byType ? ['group(columns: ["type"])'] : []),
    'count(column: "alert_id")',
    'rename(columns: {alert_id: "_value"})',
  ]);
}

/** Alert transitions matching `where` in the time range, as annotations: title `type · state`, text the summary. */
export function alertAnnotation(name: string, color: string, where: Readonly<Record<string, TagMatch>>) {
  const query = fluxQuery({ measurement: ALERT_MEASUREMENT, fields: ['alert_id', 'summary'], where }, [
    'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
    'map(fn: (r) => ({_time: r._time, title: r.type + " · " + r.state, text: r.device_id + " — " + r.summary}))',
    'group()',
  ]);
  return new dashboard.AnnotationQueryBuilder()
    .name(name)
    .datasource(INFLUX)
    .enable(true)
    .iconColor(color)
    .target(target(query, 'Anno'));
}

/** Gives every panel (rows and their panels included) a stable id in layout order, as Grafana expects. */
export function withPanelIds(built: dashboard.Dashboard): dashboard.Dashboard {
  let id = 1;
  for (const panel of built.panels ?? []) {
    panel.id = id++;
    if ('panels' in panel && Array.isArray(panel.panels)) {
      for (const inner of panel.panels) inner.id = id++;
    }
  }
  return built;
}
