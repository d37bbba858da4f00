import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as table from '@grafana/grafana-foundation-sdk/table';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { AlertType } from '../core/contracts/index.ts';
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

const READINGS = measurementOf('streetlight');
const SELECTED = { device_id: { variable: 'streetlight' } } as const;
const STREETLIGHT_ALERTS: readonly AlertType[] = ['lamp-out', 'day-burner', 'power-anomaly'];

/** One metric of the selected streetlights, per lamp, aggregated per display window. */
function perLampQuery(field: string, fn: 'mean' | 'last') {
  return fluxQuery({ measurement: READINGS, fields: [field], where: SELECTED }, [
    `aggregateWindow(every: v.windowPeriod, fn: ${fn}, createEmpty: false)`,
  ]);
}

/** Open lamp-out, day-burner and power-anomaly alerts, by type. */
export function openAlertsStat(): stat.PanelBuilder {
  return new stat.PanelBuilder()
    .title('Alertes ouvertes')
    .description(
      'Lampes éteintes la nuit (lamp-out), allumées le jour (day-burner), puissance anormale, encore ouvertes.',
    )
    .datasource(INFLUX)
    .withTarget(target(openAlertsCountQuery({ kind: 'streetlight', type: STREETLIGHT_ALERTS }, true)))
    .displayName(`\${__field.labels.type}`)
    .noValue('0')
    .thresholds(thresholds('green', [1, 'orange']))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .span(12)
    .height(5);
}

/** Energy used by the selected streetlights over the time range (increase of the cumulative counter), in kWh. */
export function energyStat(): stat.PanelBuilder {
  const query = fluxQuery({ measurement: READINGS, fields: ['energyWh'], where: SELECTED }, [
    'increase()',
    'last()',
    'group()',
    'sum()',
    'map(fn: (r) => ({r with _value: r._value / 1000.0}))',
  ]);
  return new stat.PanelBuilder()
    .title('Énergie consommée')
    .description('Énergie consommée sur la période par les lampadaires choisis (hausse du compteur cumulé energyWh).')
    .datasource(INFLUX)
    .withTarget(target(query))
    .unit('kwatth')
    .decimals(1)
    .noValue('0')
    .colorMode(common.BigValueColorMode.None)
    .graphMode(common.BigValueGraphMode.None)
    .span(12)
    .height(5);
}

/** Electrical power of each selected lamp. */
export function powerTimeseries(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Puissance')
    .description('Puissance électrique moyenne par lampadaire et par fenêtre d’affichage.')
    .datasource(INFLUX)
    .withTarget(target(perLampQuery('powerW', 'mean')))
    .displayName(`\${__field.labels.device_id}`)
    .unit('watt')
    .span(12)
    .height(8);
}

/** Dimming level of each selected lamp. */
export function dimTimeseries(): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title('Gradation')
    .description('Niveau de gradation commandé (0 % éteint, 100 % pleine puissance).')
    .datasource(INFLUX)
    .withTarget(target(perLampQuery('dimPct', 'last')))
    .displayName(`\${__field.labels.device_id}`)
    .unit('percent')
    .min(0)
    .max(100)
    .span(12)
    .height(8);
}

/** Open streetlight alerts, newest first. */
export function openAlertsTable(): table.PanelBuilder {
  return new table.PanelBuilder()
    .title('Alertes ouvertes — détail')
    .description('Une ligne par alerte ouverte d’un lampadaire : type, sévérité, dernière transition, résumé.')
    .datasource(INFLUX)
    .withTarget(target(openAlertsQuery({ kind: 'streetlight' })))
    .span(24)
    .height(8);
}

/** Streetlights: power, dimming, energy, lamp-out / day-burner / power-anomaly alerts. */
export function streetlightsDashboard(): dashboard.Dashboard {
  const built = vigieDashboard(
    UIDS.streetlights,
    'Vigie — Éclairage public',
    'Lampadaires : puissance, gradation, énergie ; lampes éteintes la nuit, allumées le jour, puissance anormale.',
  )
    .withVariable(
      tagVariable({
        name: 'streetlight',
        label: 'Lampadaire',
        description: 'Lampadaires ayant transmis un relevé ces 30 derniers jours.',
        measurement: READINGS,
        tag: 'device_id',
        multi: true,
      }),
    )
    .annotation(alertAnnotation('Alertes éclairage', 'orange', { kind: 'streetlight' }))
    .withPanel(openAlertsStat())
    .withPanel(energyStat())
    .withPanel(powerTimeseries())
    .withPanel(dimTimeseries())
    .withPanel(openAlertsTable())
    .build();
  return withPanelIds(built);
}
