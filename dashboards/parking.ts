import type * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { measurementOf } from '../sinks/influx/schema.ts';
import {
  bargaugePanel,
  deviceDashboard,
  lastQuery,
  openAlertsStat,
  openAlertsTable,
  PERCENT,
  seriesBy,
  thresholds,
  timeseriesPanel,
  UIDS,
  windowQuery,
  withPanels,
} from './common.ts';

const READINGS = measurementOf('parking-meter');
const SELECTED = { device_id: { variable: 'parking' } } as const;
const KIND = { kind: 'parking-meter' } as const;

/** A bar per parking meter showing one consumable's level (%); `fullIsBad` for the coin box. */
function levelBargauge(field: string, title: string, description: string, fullIsBad: boolean): bargauge.PanelBuilder {
  return bargaugePanel({
    title,
    description,
    query: lastQuery(READINGS, field, SELECTED),
    displayName: seriesBy('device_id'),
    ...PERCENT,
    thresholds: fullIsBad
      ? thresholds('green', [70, 'orange'], [90, 'red'])
      : thresholds('red', [20, 'orange'], [40, 'green']),
    span: 8,
    height: 9,
  });
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
  return openAlertsStat({
    title: 'Pannes ouvertes',
    description: 'Horodateurs signalant une panne (événement fault) non résolue.',
    where: { ...KIND, type: 'fault' },
    thresholds: thresholds('green', [1, 'red']),
    span: 6,
    height: 8,
  });
}

/** Battery of the selected parking meters over time. */
export function batteryTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Batterie dans le temps',
    description: 'Niveau de batterie de chaque horodateur choisi.',
    query: windowQuery(READINGS, 'batteryPct', SELECTED, 'last'),
    displayName: seriesBy('device_id'),
    ...PERCENT,
    span: 18,
    height: 8,
  });
}

/** Open alerts of the parking meters (faults, low battery…), newest first. */
export function openAlertsDetailTable(): table.PanelBuilder {
  return openAlertsTable({
    title: 'Alertes ouvertes — détail',
    description: 'Une ligne par alerte ouverte d’un horodateur : type, sévérité, dernière transition, résumé.',
    where: KIND,
    span: 24,
    height: 8,
  });
}

/** Parking meters: battery, paper, coin box, faults. */
export function parkingDashboard(): dashboard.Dashboard {
  const header = deviceDashboard({
    uid: UIDS.parking,
    title: 'Vigie — Horodateurs',
    description: 'Horodateurs : batterie, papier, caisse à pièces, pannes ouvertes.',
    measurement: READINGS,
    variable: { name: 'parking', label: 'Horodateur', devices: 'Horodateurs', multi: true },
    alerts: { name: 'Alertes horodateurs', color: 'purple', where: KIND },
  });
  return withPanels(header, [
    batteryBargauge(),
    paperBargauge(),
    coinFillBargauge(),
    openFaultsStat(),
    batteryTimeseries(),
    openAlertsDetailTable(),
  ]);
}
