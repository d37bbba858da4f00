import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { ALERT_MEASUREMENT, measurementOf, rollupMeasurementOf } from '../sinks/influx/schema.ts';
import {
  alertAnnotation,
  INFLUX,
  tagVariable,
  target,
  thresholds,
  UIDS,
  vigieDashboard,
  withPanelIds,
} from './common.ts';
import { fluxQuery } from './flux.ts';

const READINGS = measurementOf('water-meter');
const HOURLY = rollupMeasurementOf('water-meter', 'device', 'hour');
const DAILY = rollupMeasurementOf('water-meter', 'device', 'day');
const THIS_METER = { device_id: `\${meter}` } as const;

/** One reading metric of the meter, the last value of each display window. */
function readingQuery(field: string, fn: 'last' | 'mean' | 'max') {
  return fluxQuery({ measurement: READINGS, fields: [field], where: THIS_METER }, [
    `aggregateWindow(every: v.windowPeriod, fn: ${fn}, createEmpty: false)`,
  ]);
}

/** The meter's last value of one reading metric. */
function lastReadingQuery(field: string) {
  return fluxQuery({ measurement: READINGS, fields: [field], where: THIS_METER }, ['last()']);
}

/** The meter's index (cumulative litres) now. */
export function indexStat(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title('Index')
    .description('Dernier index relevé du compteur (litres cumulés).')
    .datasource(INFLUX)
    .withTarget(target(lastReadingQuery('indexL')))
    .unit('litre')
    .decimals(0)
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .span(6)
    .height(4);
}

/** The meter's flow now. */
export function flowStat(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title('Débit actuel')
    .description('Dernier débit mesuré ou calculé par le compteur.')
    .datasource(INFLUX)
    .withTarget(target(lastReadingQuery('flowLph')))
    .unit('litreh')
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .span(6)
    .height(4);
}

/** The meter's battery now, red below 20 %. */
export function batteryStat(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title('Batterie')
    .description('Dernier niveau de batterie transmis ; en dessous de 20 % une alerte low-battery s’ouvre.')
    .datasource(INFLUX)
    .withTarget(target(lastReadingQuery('batteryPct')))
    .unit('percent')
    .min(0)
    .max(100)
    .thresholds(thresholds('red', [20, 'orange'], [40, 'green']))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.Area)
    .span(6)
    .height(4);
}

/** The meter's last night minimum flow (day rollup). */
export function nightFlowStat(): stat.PanelBuilder {
  const query = fluxQuery({ measurement: DAILY, fields: ['nightMinFlowLph'], where: THIS_METER }, ['last()']);
  return new stat.PanelBuilder()
    .title('Débit minimum de nuit')
    .description('Débit minimal de 02:00 à 05:00 la dernière nuit agrégée : au-dessus de zéro chaque nuit, une fuite.')
    .datasource(INFLUX)
    .withTarget(target(query))
    .unit('litreh')
    .thresholds(thresholds('green', [1, 'orange'], [10, 'red']))
    .colorMode(common.BigValueColorMode.Value)
    .graphMode(common.BigValueGraphMode.None)
    .span(6)
    .height(4);
}

/** The meter's index over time. */
export function indexTimeseries(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Index')
    .description('Index du compteur (litres cumulés) ; une marche descendante est un retour d’eau ou un remplacement.')
    .datasource(INFLUX)
    .withTarget(target(readingQuery('indexL', 'last')))
    .displayName('Index')
    .unit('litre')
    .span(12)
    .height(8);
}

/** The meter's flow over time. */
export function flowTimeseries(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Débit')
    .description('Débit moyen par fenêtre d’affichage.')
    .datasource(INFLUX)
    .withTarget(target(readingQuery('flowLph', 'mean')))
    .displayName('Débit')
    .unit('litreh')
    .fillOpacity(20)
    .span(12)
    .height(8);
}

/** Litres used each hour (hourly rollup). */
export function hourlyConsumptionTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: HOURLY, fields: ['consumptionL'], where: THIS_METER }, [
    'keep(columns: ["_time", "_value"])',
  ]);
  return new timeseries.PanelBuilder()
    .title('Consommation horaire')
    .description('Litres consommés chaque heure (agrégat horaire du compteur).')
    .datasource(INFLUX)
    .withTarget(target(query))
    .displayName('Consommation')
    .unit('litre')
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .span(12)
    .height(8);
}

/** Litres used each local day (day rollup). */
export function dailyConsumptionTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: DAILY, fields: ['consumptionL'], where: THIS_METER }, [
    'keep(columns: ["_time", "_value"])',
  ]);
  return new timeseries.PanelBuilder()
    .title('Consommation journalière')
    .description('Litres consommés chaque jour local (minuit à minuit, heure de la ville).')
    .datasource(INFLUX)
    .withTarget(target(query))
    .displayName('Consommation')
    .unit('litre')
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .span(12)
    .height(8);
}

/** The meter's battery over time. */
export function batteryTimeseries(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Batterie')
    .description('Niveau de batterie transmis par le compteur.')
    .datasource(INFLUX)
    .withTarget(target(readingQuery('batteryPct', 'last')))
    .displayName('Batterie')
    .unit('percent')
    .min(0)
    .max(100)
    .span(12)
    .height(8);
}

/** Every alert transition of the meter in the time range. */
export function alertsTable(): table.PanelBuilder {
  const query = fluxQuery({ measurement: ALERT_MEASUREMENT, fields: ['alert_id', 'summary'], where: THIS_METER }, [
    'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
    'group()',
    'keep(columns: ["_time", "type", "state", "severity", "summary"])',
    'sort(columns: ["_time"], desc: true)',
  ]);
  return new table.PanelBuilder()
    .title('Alertes du compteur')
    .description('Toutes les transitions d’alerte (ouverture, mise à jour, résolution) du compteur sur la période.')
    .datasource(INFLUX)
    .withTarget(target(query))
    .span(12)
    .height(8);
}

/** Meter detail, templated by meter: index, flow, battery, consumption, alerts (and alerts as annotations). */
export function meterDashboard(): dashboard.Dashboard {
  const built = vigieDashboard(
    UIDS.meter,
    'Vigie — Compteur d’eau',
    'Détail d’un compteur : index, débit, batterie, consommation horaire et journalière, ses alertes.',
  )
    .withVariable(
      tagVariable({
        name: 'meter',
        label: 'Compteur',
        description: 'Compteurs d’eau ayant transmis un relevé ces 30 derniers jours.',
        measurement: READINGS,
        tag: 'device_id',
        multi: false,
      }),
    )
    .annotation(alertAnnotation('Alertes du compteur', 'red', THIS_METER))
    .withPanel(indexStat())
    .withPanel(flowStat())
    .withPanel(batteryStat())
    .withPanel(nightFlowStat())
    .withPanel(indexTimeseries())
    .withPanel(flowTimeseries())
    .withPanel(hourlyConsumptionTimeseries())
    .withPanel(dailyConsumptionTimeseries())
    .withPanel(batteryTimeseries())
    .withPanel(alertsTable())
    .build();
  return withPanelIds(built);
}
