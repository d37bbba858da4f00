import * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { measurementOf } from '../sinks/influx/schema.ts';
import {
  alertAnnotation,
  INFLUX,
  openAlertsCountQuery,
  openAlertsQuery,
  tagVariable,
  target,
  thresholds,
  UIDS,
  vigieDashboard,
  withPanelIds,
} from './common.ts';
import { fluxQuery } from './flux.ts';

const READINGS = measurementOf('parking-meter');
const SELECTED = { device_id: { variable: 'parking' } } as const;

/** The last value of one metric for each selected parking meter. */
function lastPerMeterQuery(field: string) {
  return fluxQuery({ measurement: READINGS, fields: [field], where: SELECTED }, ['last()']);
}

/** A bar per parking meter showing one consumable's level (%); `fullIsBad` for the coin box. */
function levelBargauge(field: string, title: string, description: string, fullIsBad: boolean): bargauge.PanelBuilder {
  return new bargauge.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(INFLUX)
    .withTarget(target(lastPerMeterQuery(field)))
    .displayName(`\${__field.labels.device_id}`)
    .unit('percent')
    .min(0)
    .max(100)
    .thresholds(
      fullIsBad ? thresholds('green', [70, 'orange'], [90, 'red']) : thresholds('red', [20, 'orange'], [40, 'green']),
    )
    .orientation(common.VizOrientation.Horizontal)
    .displayMode(common.BarGaugeDisplayMode.Gradient)
    .span(8)
    .height(9);
}

/** Battery of each selected parking meter. */
export function batteryBargauge(): bargauge.PanelBuilder {
  return levelBargauge('batteryPct', 'Batterie', 'Dernier niveau de batterie de chaque horodateur.', false);
}

/** Ticket paper left in each selected parking meter. */
export function paperBargauge(): bargauge.PanelBuilder {
  return levelBargauge('paperPct', 'Papier', 'Papier à tickets restant dans chaque horodateur.', false);
}

/** How full the coin box of each selected parking meter is. */
export function coinFillBargauge(): bargauge.PanelBuilder {
  return levelBargauge('coinFillPct', 'Caisse à pièces', 'Remplissage de la caisse : à vider au-delà de 90 %.', true);
}

/** Open fault alerts of the parking meters. */
export function openFaultsStat(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title('Pannes ouvertes')
    .description('Horodateurs signalant une panne (événement fault) non résolue.')
    .datasource(INFLUX)
    .withTarget(target(openAlertsCountQuery({ kind: 'parking-meter', type: 'fault' })))
    .noValue('0')
    .thresholds(thresholds('green', [1, 'red']))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .span(6)
    .height(8);
}

/** Battery of the selected parking meters over time. */
export function batteryTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: READINGS, fields: ['batteryPct'], where: SELECTED }, [
    'aggregateWindow(every: v.windowPeriod, fn: last, createEmpty: false)',
  ]);
  return new timeseries.PanelBuilder()
    .title('Batterie dans le temps')
    .description('Niveau de batterie de chaque horodateur choisi.')
    .datasource(INFLUX)
    .withTarget(target(query))
    .displayName(`\${__field.labels.device_id}`)
    .unit('percent')
    .min(0)
    .max(100)
    .span(18)
    .height(8);
}

/** Open alerts of the parking meters (faults, low battery…), newest first. */
export function openAlertsTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Alertes ouvertes — détail')
    .description('Une ligne par alerte ouverte d’un horodateur : type, sévérité, dernière transition, résumé.')
    .datasource(INFLUX)
    .withTarget(target(openAlertsQuery({ kind: 'parking-meter' })))
    .span(24)
    .height(8);
}

/** Parking meters: battery, paper, coin box, faults. */
export function parkingDashboard(): dashboard.Dashboard {
  const built = vigieDashboard(
    UIDS.parking,
    'Vigie — Horodateurs',
    'Horodateurs : batterie, papier, caisse à pièces, pannes ouvertes.',
  )
    .withVariable(
      tagVariable({
        name: 'parking',
        label: 'Horodateur',
        description: 'Horodateurs ayant transmis un relevé ces 30 derniers jours.',
        measurement: READINGS,
        tag: 'device_id',
        multi: true,
      }),
    )
    .annotation(alertAnnotation('Alertes horodateurs', 'purple', { kind: 'parking-meter' }))
    .withPanel(batteryBargauge())
    .withPanel(paperBargauge())
    .withPanel(coinFillBargauge())
    .withPanel(openFaultsStat())
    .withPanel(batteryTimeseries())
    .withPanel(openAlertsTable())
    .build();
  return withPanelIds(built);
}
