import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ALERT_MEASUREMENT, measurementOf, rollupMeasurementOf } from '../sinks/influx/schema.ts';
import {
  deviceDashboard,
  lastQuery,
  PERCENT,
  statPanel,
  tablePanel,
  thresholds,
  timeseriesPanel,
  UIDS,
  windowQuery,
  withPanels,
} from './common.ts';
import { fluxQuery } from './flux.ts';

const READINGS = measurementOf('water-meter');
const HOURLY = rollupMeasurementOf('water-meter', 'device', 'hour');
const DAILY = rollupMeasurementOf('water-meter', 'device', 'day');
const THIS_METER = { device_id: `\${meter}` } as const;
/** Size of the stats along the top, and of the time series below them. */
const STAT = { span: 6, height: 4 } as const;
const SERIES = { span: 12, height: 8 } as const;

/** The meter's index (cumulative litres) now. */
export function indexStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Index',
    description: 'Dernier index relevé du compteur (litres cumulés).',
    query: lastQuery(READINGS, 'indexL', THIS_METER),
    unit: 'litre',
    decimals: 0,
    ...STAT,
  });
}

/** The meter's flow now. */
export function flowStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Débit actuel',
    description: 'Dernier débit mesuré ou calculé par le compteur.',
    query: lastQuery(READINGS, 'flowLph', THIS_METER),
    unit: 'litreh',
    ...STAT,
  });
}

/** The meter's battery now, red below 20 %. */
export function batteryStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Batterie',
    description: 'Dernier niveau de batterie transmis ; en dessous de 20 % une alerte low-battery s’ouvre.',
    query: lastQuery(READINGS, 'batteryPct', THIS_METER),
    ...PERCENT,
    thresholds: thresholds('red', [20, 'orange'], [40, 'green']),
    color: common.BigValueColorMode.Value,
    graph: common.BigValueGraphMode.Area,
    ...STAT,
  });
}

/** The meter's last night minimum flow (day rollup). */
export function nightFlowStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Débit minimum de nuit',
    description: 'Débit minimal de 02:00 à 05:00 la dernière nuit agrégée : au-dessus de zéro chaque nuit, une fuite.',
    query: lastQuery(DAILY, 'nightMinFlowLph', THIS_METER),
    unit: 'litreh',
    thresholds: thresholds('green', [1, 'orange'], [10, 'red']),
    color: common.BigValueColorMode.Value,
    ...STAT,
  });
}

/** The meter's index over time. */
export function indexTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Index',
    description: 'Index du compteur (litres cumulés) ; une marche descendante est un retour d’eau ou un remplacement.',
    query: windowQuery(READINGS, 'indexL', THIS_METER, 'last'),
    displayName: 'Index',
    unit: 'litre',
    ...SERIES,
  });
}

/** The meter's flow over time. */
export function flowTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Débit',
    description: 'Débit moyen par fenêtre d’affichage.',
    query: windowQuery(READINGS, 'flowLph', THIS_METER, 'mean'),
    displayName: 'Débit',
    unit: 'litreh',
    ...SERIES,
  }).fillOpacity(20);
}

/** Litres used per period of a consumption rollup, as bars. */
function consumptionBars(measurement: string, title: string, description: string): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement, fields: ['consumptionL'], where: THIS_METER }, [
    'keep(columns: ["_time", "_value"])',
  ]);
  return timeseriesPanel({ title, description, query, displayName: 'Consommation', unit: 'litre', ...SERIES })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70);
}

/** Litres used each hour (hourly rollup). */
export function hourlyConsumptionTimeseries(): timeseries.PanelBuilder {
  return consumptionBars(
    HOURLY,
    'Consommation horaire',
    'Litres consommés chaque heure (agrégat horaire du compteur).',
  );
}

/** Litres used each local day (day rollup). */
export function dailyConsumptionTimeseries(): timeseries.PanelBuilder {
  return consumptionBars(
    DAILY,
    'Consommation journalière',
    'Litres consommés chaque jour local (minuit à minuit, heure de la ville).',
  );
}

/** The meter's battery over time. */
export function batteryTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Batterie',
    description: 'Niveau de batterie transmis par le compteur.',
    query: windowQuery(READINGS, 'batteryPct', THIS_METER, 'last'),
    displayName: 'Batterie',
    ...PERCENT,
    ...SERIES,
  });
}

/** Every alert transition of the meter in the time range. */
export function alertsTable(): table.PanelBuilder {
  const query = fluxQuery({ measurement: ALERT_MEASUREMENT, fields: ['alert_id', 'summary'], where: THIS_METER }, [
    'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
    'group()',
    'keep(columns: ["_time", "type", "state", "severity", "summary"])',
    'sort(columns: ["_time"], desc: true)',
  ]);
  return tablePanel({
    title: 'Alertes du compteur',
    description: 'Toutes les transitions d’alerte (ouverture, mise à jour, résolution) du compteur sur la période.',
    query,
    ...SERIES,
  });
}

/** Meter detail, templated by meter: index, flow, battery, consumption, alerts (and alerts as annotations). */
export function meterDashboard(): dashboard.Dashboard {
  const header = deviceDashboard({
    uid: UIDS.meter,
    title: 'Vigie — Compteur d’eau',
    description: 'Détail d’un compteur : index, débit, batterie, consommation horaire et journalière, ses alertes.',
    measurement: READINGS,
    variable: { name: 'meter', label: 'Compteur', devices: 'Compteurs d’eau', multi: false },
    alerts: { name: 'Alertes du compteur', color: 'red', where: THIS_METER },
  });
  return withPanels(header, [
    indexStat(),
    flowStat(),
    batteryStat(),
    nightFlowStat(),
    indexTimeseries(),
    flowTimeseries(),
    hourlyConsumptionTimeseries(),
    dailyConsumptionTimeseries(),
    batteryTimeseries(),
    alertsTable(),
  ]);
}
