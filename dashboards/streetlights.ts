import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { AlertType } from '../core/contracts/index.ts';
import { measurementOf } from '../sinks/influx/schema.ts';
import {
  deviceDashboard,
  increaseQuery,
  openAlertsStat,
  openAlertsTable,
  PER_THOUSAND,
  PERCENT,
  seriesBy,
  statPanel,
  thresholds,
  timeseriesPanel,
  UIDS,
  windowQuery,
  withPanels,
} from './common.ts';

const READINGS = measurementOf('streetlight');
const SELECTED = { device_id: { variable: 'streetlight' } } as const;
const KIND = { kind: 'streetlight' } as const;
const STREETLIGHT_ALERTS: readonly AlertType[] = ['lamp-out', 'day-burner', 'power-anomaly'];

/** Open lamp-out, day-burner and power-anomaly alerts, by type. */
export function openAlertsByTypeStat(): stat.PanelBuilder {
  return openAlertsStat({
    title: 'Alertes ouvertes',
    description:
      'Lampes éteintes la nuit (lamp-out), allumées le jour (day-burner), puissance anormale, encore ouvertes.',
    where: { ...KIND, type: STREETLIGHT_ALERTS },
    byType: true,
    thresholds: thresholds('green', [1, 'orange']),
    span: 12,
    height: 5,
  });
}

/** Energy used by the selected streetlights over the time range (increase of the cumulative counter), in kWh. */
export function energyStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Énergie consommée',
    description: 'Énergie consommée sur la période par les lampadaires choisis (hausse du compteur cumulé energyWh).',
    query: increaseQuery(READINGS, 'energyWh', SELECTED, [PER_THOUSAND]),
    unit: 'kwatth',
    decimals: 1,
    noValue: '0',
    span: 12,
    height: 5,
  });
}

/** Electrical power of each selected lamp. */
export function powerTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Puissance',
    description: 'Puissance électrique moyenne par lampadaire et par fenêtre d’affichage.',
    query: windowQuery(READINGS, 'powerW', SELECTED, 'mean'),
    displayName: seriesBy('device_id'),
    unit: 'watt',
    span: 12,
    height: 8,
  });
}

/** Dimming level of each selected lamp. */
export function dimTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Gradation',
    description: 'Niveau de gradation commandé (0 % éteint, 100 % pleine puissance).',
    query: windowQuery(READINGS, 'dimPct', SELECTED, 'last'),
    displayName: seriesBy('device_id'),
    ...PERCENT,
    span: 12,
    height: 8,
  });
}

/** Open streetlight alerts, newest first. */
export function openAlertsDetailTable(): table.PanelBuilder {
  return openAlertsTable({
    title: 'Alertes ouvertes — détail',
    description: 'Une ligne par alerte ouverte d’un lampadaire : type, sévérité, dernière transition, résumé.',
    where: KIND,
    span: 24,
    height: 8,
  });
}

/** Streetlights: power, dimming, energy, lamp-out / day-burner / power-anomaly alerts. */
export function streetlightsDashboard(): dashboard.Dashboard {
  const header = deviceDashboard({
    uid: UIDS.streetlights,
    title: 'Vigie — Éclairage public',
    description:
      'Lampadaires : puissance, gradation, énergie ; lampes éteintes la nuit, allumées le jour, puissance anormale.',
    measurement: READINGS,
    variable: { name: 'streetlight', label: 'Lampadaire', devices: 'Lampadaires', multi: true },
    alerts: { name: 'Alertes éclairage', color: 'orange', where: KIND },
  });
  return withPanels(header, [
    openAlertsByTypeStat(),
    energyStat(),
    powerTimeseries(),
    dimTimeseries(),
    openAlertsDetailTable(),
  ]);
}
