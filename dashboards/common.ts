import * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as geomap from '@grafana/grafana-foundation-sdk/geomap';
import * as piechart from '@grafana/grafana-foundation-sdk/piechart';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { Kind } from '../core/contracts/index.ts';
import { ALERT_MEASUREMENT, DEVICE_MEASUREMENT } from '../sinks/influx/schema.ts';
import {
  type FluxQuery,
  FluxQueryBuilder,
  fluxBuckets,
  fluxQuery,
  fluxScript,
  fluxTagValues,
  type TagMatch,
} from './flux.ts';

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
  sensors: 'vigie-sensors',
  pipeline: 'vigie-pipeline',
  consultations: 'vigie-consultations',
} as const;

/**
 * The city's time zone for hour-of-day panels (VIGIE_TZ's default; a dashboard cannot read the pipeline's
 * environment: a city elsewhere changes it here and regenerates).
 */
export const CITY_TIME_ZONE = 'Europe/Paris';

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

/** Where a dashboard's panels read from: tags of a measurement, e.g. `{ device_id: { variable: 'meter' } }`. */
export type Where = Readonly<Record<string, TagMatch>>;

/** One field of a measurement aggregated per display window (`fn`), then the `then` steps. */
export function windowQuery(
  measurement: string,
  field: string,
  where: Where,
  fn: 'last' | 'mean' | 'max',
  then: readonly string[] = [],
): FluxQuery {
  return fluxQuery({ measurement, fields: [field], where }, [
    `aggregateWindow(every: v.windowPeriod, fn: ${fn}, createEmpty: false)`,
    ...then,
  ]);
}

/** The last value of one field of a measurement, per series (one per device when `where` selects devices). */
export function lastQuery(measurement: string, field: string, where: Where): FluxQuery {
  return fluxQuery({ measurement, fields: [field], where }, ['last()']);
}

/** How much a cumulative counter rose over the time range, all series summed, then the `then` steps. */
export function increaseQuery(
  measurement: string,
  field: string,
  where: Where,
  then: readonly string[] = [],
): FluxQuery {
  return fluxQuery({ measurement, fields: [field], where }, ['increase()', 'last()', 'group()', 'sum()', ...then]);
}

/** Flux step dividing `_value` by 1000 (litres to m³, Wh to kWh). */
export const PER_THOUSAND = 'map(fn: (r) => ({r with _value: r._value / 1000.0}))';

/** Series name from one tag of the series, e.g. `seriesBy('device_id')`: one legend entry per device. */
export function seriesBy(tag: string): string {
  return `\${__field.labels.${tag}}`;
}

/** A percentage from 0 to 100 %, to spread into a panel spec. */
export const PERCENT = { unit: 'percent', min: 0, max: 100 } as const;

/** What a panel shows and where it sits: its query, what it says (plain language), width (of 24) and height. */
export interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly query: FluxQuery;
  readonly span: number;
  readonly height: number;
  /** Series name; see `seriesBy`. */
  readonly displayName?: string;
  readonly unit?: string;
  readonly decimals?: number;
  readonly min?: number;
  readonly max?: number;
  /** Shown when the query returns nothing, e.g. `'0'` for a count. */
  readonly noValue?: string;
  readonly thresholds?: dashboard.ThresholdsConfigBuilder;
}

/** The builder methods every panel kind shares (stat, time series, bar gauge, table, geomap…). */
interface PanelBuilderLike {
  title(title: string): unknown;
  description(description: string): unknown;
  datasource(datasource: common.DataSourceRef): unknown;
  withTarget(target: cog.Builder<cog.Dataquery>): unknown;
  displayName(displayName: string): unknown;
  unit(unit: string): unknown;
  decimals(decimals: number): unknown;
  min(min: number): unknown;
  max(max: number): unknown;
  noValue(noValue: string): unknown;
  thresholds(thresholds: cog.Builder<dashboard.ThresholdsConfig>): unknown;
  span(w: number): unknown;
  height(h: number): unknown;
}

/** Sets what `spec` gives on a new panel builder, on the InfluxDB datasource, and returns the builder. */
export function panel<B extends PanelBuilderLike>(builder: B, spec: PanelSpec): B {
  builder.title(spec.title);
  builder.description(spec.description);
  builder.datasource(INFLUX);
  builder.withTarget(target(spec.query));
  if (spec.displayName !== undefined) builder.displayName(spec.displayName);
  if (spec.unit !== undefined) builder.unit(spec.unit);
  if (spec.decimals !== undefined) builder.decimals(spec.decimals);
  if (spec.min !== undefined) builder.min(spec.min);
  if (spec.max !== undefined) builder.max(spec.max);
  if (spec.noValue !== undefined) builder.noValue(spec.noValue);
  if (spec.thresholds !== undefined) builder.thresholds(spec.thresholds);
  builder.span(spec.span);
  builder.height(spec.height);
  return builder;
}

/** A stat panel: one big value, coloured (`color`, default none) and without a sparkline unless `graph` says so. */
export function statPanel(
  spec: PanelSpec & { color?: common.BigValueColorMode; graph?: common.BigValueGraphMode },
): stat.PanelBuilder {
  return panel(new stat.PanelBuilder(), spec)
    .colorMode(spec.color ?? common.BigValueColorMode.None)
    .graphMode(spec.graph ?? common.BigValueGraphMode.None);
}

/** A time-series panel (lines unless the caller sets another draw style). */
export function timeseriesPanel(spec: PanelSpec): timeseries.PanelBuilder {
  return panel(new timeseries.PanelBuilder(), spec);
}

/** A horizontal gradient bar gauge: one bar per series. */
export function bargaugePanel(spec: PanelSpec): bargauge.PanelBuilder {
  return panel(new bargauge.PanelBuilder(), spec)
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Gradient);
}

/** A table panel. */
export function tablePanel(spec: PanelSpec): table.PanelBuilder {
  return panel(new table.PanelBuilder(), spec);
}

/** A panel spec whose query is built from alert tags (`where`: kind, type…) rather than given. */
type AlertsPanelSpec = Omit<PanelSpec, 'query'> & { readonly where: Where };

/** How many alerts matching `where` are open (0 when none); `byType` shows one value per alert type. */
export function openAlertsStat(
  spec: AlertsPanelSpec & { byType?: boolean; color?: common.BigValueColorMode },
): stat.PanelBuilder {
  return statPanel({
    ...(spec.byType ? { displayName: seriesBy('type') } : {}),
    noValue: '0',
    color: common.BigValueColorMode.Background,
    ...spec,
    query: openAlertsCountQuery(spec.where, spec.byType),
  });
}

/** The open alerts matching `where`, one row each, newest transition first. */
export function openAlertsTable(spec: AlertsPanelSpec): table.PanelBuilder {
  return tablePanel({ ...spec, query: openAlertsQuery(spec.where) });
}

/**
 * A dashboard of one device kind: Vigie's defaults, a variable `variable` listing the devices of `measurement`
 * (`devices` names them in its description), and the alert transitions matching `alerts.where` as annotations.
 */
export function deviceDashboard(spec: {
  uid: string;
  title: string;
  description: string;
  measurement: string;
  variable: { name: string; label: string; devices: string; multi: boolean };
  alerts: { name: string; color: string; where: Where };
}): dashboard.DashboardBuilder {
  return vigieDashboard(spec.uid, spec.title, spec.description)
    .withVariable(
      tagVariable({
        name: spec.variable.name,
        label: spec.variable.label,
        description: `${spec.variable.devices} ayant transmis un relevé ces 30 derniers jours.`,
        measurement: spec.measurement,
        tag: 'device_id',
        multi: spec.variable.multi,
      }),
    )
    .annotation(alertAnnotation(spec.alerts.name, spec.alerts.color, spec.alerts.where));
}

/** Adds `panels` in layout order, builds the dashboard and numbers its panels (`withPanelIds`). */
export function withPanels(
  builder: dashboard.DashboardBuilder,
  panels: ReadonlyArray<cog.Builder<dashboard.Panel>>,
): dashboard.Dashboard {
  for (const built of panels) builder.withPanel(built);
  return withPanelIds(builder.build());
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

/** A bar chart (categories on `xField`, one bar per numeric column, stacked when `stacked`). */
export function barchartPanel(spec: PanelSpec & { xField: string; stacked?: boolean }): barchart.PanelBuilder {
  return panel(new barchart.PanelBuilder(), spec)
    .xField(spec.xField)
    .stacking(spec.stacked ? common.StackingMode.Normal : common.StackingMode.None)
    .showValue(common.VisibilityMode.Auto)
    .fillOpacity(80);
}

/** A donut of the series' totals (each series reduced to its sum), with percentages. */
export function piechartPanel(spec: PanelSpec): piechart.PanelBuilder {
  return panel(new piechart.PanelBuilder(), spec)
    .pieType(piechart.PieChartType.Donut)
    .displayLabels([piechart.PieChartLabels.Percent])
    .reduceOptions(new common.ReduceDataOptionsBuilder().values(false).calcs(['sum']));
}

/** A state timeline: one row per series, its value over time coloured through `mappings`/thresholds. */
export function stateTimelinePanel(spec: PanelSpec): statetimeline.PanelBuilder {
  return panel(new statetimeline.PanelBuilder(), spec)
    .showValue(common.VisibilityMode.Never)
    .mergeValues(true)
    .rowHeight(0.8);
}

/**
 * How many alerts matching `where` opened per display window, one series per `by` tag (e.g. `type`): a storm
 * that knocks out a street at dusk shows as a spike.
 */
export function alertOpeningsQuery(where: Where, by: string): FluxQuery {
  return fluxQuery({ measurement: ALERT_MEASUREMENT, fields: ['alert_id'], where: { ...where, state: 'open' } }, [
    `group(columns: [${JSON.stringify(by)}])`,
    'aggregateWindow(every: v.windowPeriod, fn: count, createEmpty: false)',
  ]);
}

/** One step of a state colour scale: the value a device gets, its label and colour. */
export interface StateLevel {
  readonly value: number;
  readonly text: string;
  readonly color: string;
}

/**
 * Devices of one kind on a map, coloured by their open alerts: last known position (`device` lat/lon, filtered by
 * `devices`) left-joined with each device's open alerts (filtered by `alerts`) mapped to a level by `levelOf` (a
 * Flux expression on an alert row `r`: its tags type, severity…); the highest level wins, 0 without any.
 */
export function stateGeomap(spec: {
  readonly title: string;
  readonly description: string;
  readonly layer: string;
  readonly kind: Kind;
  readonly devices: Where;
  readonly alerts: Where;
  readonly levelOf: string;
  readonly levels: readonly StateLevel[];
  readonly span: number;
  readonly height: number;
}): geomap.PanelBuilder {
  const query = fluxScript({
    imports: ['join'],
    streams: {
      devices: {
        select: {
          measurement: DEVICE_MEASUREMENT,
          fields: ['lat', 'lon'],
          where: { kind: spec.kind, ...spec.devices },
          start: '0',
        },
        pipeline: [
          'last()',
          'pivot(rowKey: ["device_id"], columnKey: ["_field"], valueColumn: "_value")',
          'keep(columns: ["device_id", "district", "lat", "lon"])',
          'group()',
        ],
      },
      alerts: {
        select: {
          measurement: ALERT_MEASUREMENT,
          fields: ['alert_id'],
          where: { kind: spec.kind, ...spec.alerts },
          start: ALERT_LOOKBACK,
        },
        pipeline: [
          ...OPEN_ALERTS_PIPELINE,
          `map(fn: (r) => ({device_id: r.device_id, level: ${spec.levelOf}}))`,
          'group(columns: ["device_id"])',
          'max(column: "level")',
          'group()',
        ],
      },
    },
    result: [
      'join.left(',
      '  left: devices,',
      '  right: alerts,',
      '  on: (l, r) => l.device_id == r.device_id,',
      '  as: (l, r) => ({device_id: l.device_id, district: l.district, lat: l.lat, lon: l.lon, state: if exists r.level then r.level else 0})',
      ')',
    ].join('\n'),
  });
  const [base, ...steps] = spec.levels;
  const layer = new common.MapLayerOptionsBuilder()
    .type('markers')
    .name(spec.layer)
    .location(
      new common.FrameGeometrySourceBuilder()
        .mode(common.FrameGeometrySourceMode.Coords)
        .latitude('lat')
        .longitude('lon'),
    )
    .tooltip(true)
    .config({
      showLegend: true,
      style: {
        color: { field: 'state', fixed: base?.color ?? 'green' },
        size: { fixed: 6 },
        opacity: 0.8,
        symbol: { mode: 'fixed', fixed: 'img/icons/marker/circle.svg' },
      },
    });
  return panel(new geomap.PanelBuilder(), {
    title: spec.title,
    description: spec.description,
    query,
    thresholds: thresholds(base?.color ?? 'green', ...steps.map((l): [number, string] => [l.value, l.color])),
    span: spec.span,
    height: spec.height,
  })
    .view(new geomap.MapViewConfigBuilder().id('fit').zoom(13))
    .basemap(new common.MapLayerOptionsBuilder().type('default').name('Fond de carte'))
    .layers([layer])
    .tooltip(new geomap.TooltipOptionsBuilder().mode(geomap.TooltipMode.Details))
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: Object.fromEntries(
          spec.levels.map((l, index) => [String(l.value), { text: l.text, color: l.color, index }]),
        ),
      },
    ]);
}
