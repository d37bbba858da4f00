import type * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import * as common from '@grafana/grafana-foundation-sdk/common';
import * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as statetimeline from '@grafana/grafana-foundation-sdk/statetimeline';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ALERT_MEASUREMENT, measurementOf } from '../sinks/influx/schema.ts';
import {
  alertAnnotation,
  barchartPanel,
  INFLUX,
  openAlertsStat,
  openAlertsTable,
  stateTimelinePanel,
  tagVariable,
  thresholds,
  timeseriesPanel,
  UIDS,
  vigieDashboard,
  windowQuery,
  withPanels,
} from './common.ts';
import { fluxFieldKeys, fluxQuery } from './flux.ts';

const READINGS = measurementOf('sensor');
const THIS_SENSOR = { device_id: `\${sensor}` } as const;
const KIND = { kind: 'sensor' } as const;
const ANOMALIES = { ...KIND, type: 'anomaly' } as const;

/** Open anomaly and no-data alerts of every sensor, by type. */
export function openAlertsByTypeStat(): stat.PanelBuilder {
  return openAlertsStat({
    title: 'Alertes ouvertes (tous capteurs)',
    description:
      'Alertes des capteurs encore ouvertes, par type : anomalie (valeur hors de son habitude ou figée), silence (no-data).',
    where: KIND,
    byType: true,
    thresholds: thresholds('green', [1, 'orange']),
    span: 16,
    height: 5,
  });
}

/** Open anomaly alerts of the chosen sensor. */
export function openAnomaliesStat(): stat.PanelBuilder {
  return openAlertsStat({
    title: 'Anomalies ouvertes — ce capteur',
    description: 'Anomalies encore ouvertes du capteur choisi (toutes ses mesures).',
    where: { ...ANOMALIES, ...THIS_SENSOR },
    thresholds: thresholds('green', [1, 'red']),
    span: 8,
    height: 5,
  });
}

/** The chosen metric of the chosen sensor over time, its anomalies as annotations. */
export function metricTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: `\${metric} — \${sensor}`,
    description:
      'La mesure choisie du capteur choisi, moyenne par fenêtre d’affichage ; les transitions de ses anomalies sont annotées (ouverture, mise à jour, fin).',
    query: windowQuery(READINGS, `\${metric}`, THIS_SENSOR, 'mean'),
    displayName: `\${metric}`,
    span: 24,
    height: 9,
  });
}

/**
 * The chosen sensor's anomaly state over time: 0 normal, 1 open (warning), 2 open (critical), from its alert
 * transitions (each holds until the next one).
 */
export function anomalyStateTimeline(): statetimeline.PanelBuilder {
  const query = fluxQuery(
    { measurement: ALERT_MEASUREMENT, fields: ['alert_id'], where: { ...ANOMALIES, ...THIS_SENSOR } },
    [
      'group()',
      'sort(columns: ["_time"])',
      'map(fn: (r) => ({_time: r._time, anomalie: if r.state == "resolved" then 0 else if r.severity == "critical" then 2 else 1}))',
    ],
  );
  return stateTimelinePanel({
    title: 'État d’anomalie — ce capteur',
    description:
      'Chaque transition d’anomalie du capteur choisi fixe son état jusqu’à la suivante : normal, anomalie, anomalie critique.',
    query,
    thresholds: thresholds('green', [1, 'orange'], [2, 'red']),
    span: 24,
    height: 4,
  })
    .colorScheme(new dashboard.FieldColorBuilder().mode(dashboard.FieldColorModeId.Thresholds))
    .mappings([
      {
        type: dashboard.MappingType.ValueToText,
        options: {
          '0': { text: 'Normal', color: 'green', index: 0 },
          '1': { text: 'Anomalie', color: 'orange', index: 1 },
          '2': { text: 'Anomalie critique', color: 'red', index: 2 },
        },
      },
    ]);
}

/** Anomalies opened in the time range, per sensor, split by severity (the score: critical at or above its cut). */
export function anomaliesByDeviceBarchart(): barchart.PanelBuilder {
  const query = fluxQuery(
    { measurement: ALERT_MEASUREMENT, fields: ['alert_id'], where: { ...ANOMALIES, state: 'open' } },
    [
      'map(fn: (r) => ({device_id: r.device_id, severity: r.severity, n: 1}))',
      'group(columns: ["device_id", "severity"])',
      'sum(column: "n")',
      'group()',
      'pivot(rowKey: ["device_id"], columnKey: ["severity"], valueColumn: "n")',
      'sort(columns: ["device_id"])',
    ],
  );
  return barchartPanel({
    title: 'Anomalies par capteur et gravité',
    description:
      'Anomalies ouvertes sur la période, par capteur : « critical » quand le score de l’épisode atteint le seuil critique du détecteur, « warning » en dessous.',
    query,
    xField: 'device_id',
    stacked: true,
    span: 12,
    height: 9,
  })
    .orientation(common.VizOrientation.Horizontal)
    .overrideByName('critical', [{ id: 'color', value: { mode: 'fixed', fixedColor: 'red' } }])
    .overrideByName('warning', [{ id: 'color', value: { mode: 'fixed', fixedColor: 'orange' } }]);
}

/** Open anomalies of every sensor, newest first: the summary gives the metric, the value and how far off it is. */
export function openAnomaliesTable(): table.PanelBuilder {
  return openAlertsTable({
    title: 'Anomalies ouvertes — détail',
    description:
      'Une ligne par anomalie ouverte : capteur, gravité, dernière transition ; le résumé nomme la mesure, sa valeur et son écart à l’habitude (en échelles).',
    where: ANOMALIES,
    span: 12,
    height: 9,
  });
}

/** Sensors: a device and metric selector, the metric with its anomalies, anomalies by device and severity. */
export function sensorsDashboard(): dashboard.Dashboard {
  const metrics = fluxFieldKeys({ measurement: READINGS, where: THIS_SENSOR });
  const header = vigieDashboard(
    UIDS.sensors,
    'Vigie — Capteurs',
    'Capteurs : une mesure d’un capteur dans le temps avec ses anomalies, état d’anomalie, anomalies par capteur et gravité.',
  )
    .withVariable(
      tagVariable({
        name: 'sensor',
        label: 'Capteur',
        description: 'Capteurs ayant transmis un relevé ces 30 derniers jours.',
        measurement: READINGS,
        tag: 'device_id',
        multi: false,
      }),
    )
    .withVariable(
      new dashboard.QueryVariableBuilder('metric')
        .label('Mesure')
        .description('Les mesures que le capteur choisi a transmises ces 30 derniers jours.')
        .datasource(INFLUX)
        .query(metrics.text)
        .definition(metrics.text)
        .refresh(dashboard.VariableRefresh.OnTimeRangeChanged)
        .sort(dashboard.VariableSort.NaturalAsc),
    )
    .annotation(alertAnnotation('Anomalies du capteur', 'red', { ...ANOMALIES, ...THIS_SENSOR }));
  return withPanels(header, [
    openAlertsByTypeStat(),
    openAnomaliesStat(),
    metricTimeseries(),
    anomalyStateTimeline(),
    anomaliesByDeviceBarchart(),
    openAnomaliesTable(),
  ]);
}
