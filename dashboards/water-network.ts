import type * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as geomap from '@grafana/grafana-foundation-sdk/geomap';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { rollupMeasurementOf } from '../sinks/influx/schema.ts';
import {
  ALERT_LOOKBACK,
  bargaugePanel,
  meterLinkOverride,
  openAlertsStat,
  openAlertsTable,
  PER_THOUSAND,
  seriesBy,
  stateGeomap,
  statPanel,
  tagVariable,
  thresholds,
  timeseriesPanel,
  UIDS,
  vigieDashboard,
  withPanels,
} from './common.ts';
import { fluxQuery } from './flux.ts';

const DISTRICT_HOURLY = rollupMeasurementOf('water-meter', 'district', 'hour');
const DISTRICT_DAILY = rollupMeasurementOf('water-meter', 'district', 'day');
const IN_DISTRICTS = { district: { variable: 'district' } } as const;
const BY_DISTRICT = seriesBy('district');

/** Total consumption of the selected districts over the time range, in m³. */
export function consumptionStat(): stat.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['consumptionL'], where: IN_DISTRICTS }, [
    'group()',
    'sum()',
    PER_THOUSAND,
  ]);
  return statPanel({
    title: 'Consommation sur la période',
    description: 'Eau consommée par les quartiers choisis sur la période affichée, somme des agrégats horaires.',
    query,
    unit: 'm3',
    decimals: 1,
    noValue: '0',
    span: 6,
    height: 5,
  });
}

/** Open leak alerts now (last transition of each alert not `resolved`). */
export function openLeaksStat(): stat.PanelBuilder {
  return openAlertsStat({
    title: 'Fuites ouvertes',
    description: `Alertes de fuite dont la dernière transition (sur ${ALERT_LOOKBACK.slice(1)}) n'est pas « resolved ».`,
    where: { type: 'leak' },
    thresholds: thresholds('green', [1, 'orange'], [10, 'red']),
    span: 6,
    height: 5,
  });
}

/** Open alerts of every water-meter type, by type. */
export function openAlertsByTypeStat(): stat.PanelBuilder {
  return openAlertsStat({
    title: 'Alertes ouvertes par type',
    description: 'Toutes les alertes des compteurs d’eau encore ouvertes, par type (fuite, rupture, retour d’eau…).',
    where: { kind: 'water-meter' },
    byType: true,
    thresholds: thresholds('green', [1, 'orange']),
    color: common.BigValueColorMode.Value,
    span: 12,
    height: 5,
  });
}

/** Hourly consumption of each selected district. */
export function consumptionTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['consumptionL'], where: IN_DISTRICTS }, [
    'group(columns: ["district"])',
    'aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false, timeSrc: "_start")',
  ]);
  return timeseriesPanel({
    title: 'Consommation par quartier',
    description: 'Litres consommés par quartier, par fenêtre d’affichage (agrégats horaires additionnés).',
    query,
    displayName: BY_DISTRICT,
    unit: 'litre',
    span: 24,
    height: 8,
  })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(60)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
}

/** Open leaks, newest transition first, each linking to its meter's dashboard. */
export function openLeaksTable(): table.PanelBuilder {
  return openAlertsTable({
    title: 'Fuites ouvertes — détail',
    description: 'Une ligne par fuite ouverte : compteur (lien vers son détail), sévérité, dernière transition.',
    where: { type: 'leak' },
    span: 12,
    height: 10,
  }).withOverride(meterLinkOverride());
}

/** Water meters on a map, coloured by their worst open alert (0 none, 1 open, 2 critical). */
export function meterStateGeomap(): geomap.PanelBuilder {
  return stateGeomap({
    title: 'Compteurs — état',
    description: 'Position de chaque compteur d’eau ; vert : aucune alerte, orange : alerte ouverte, rouge : critique.',
    layer: 'Compteurs',
    kind: 'water-meter',
    devices: IN_DISTRICTS,
    alerts: {},
    levelOf: 'if r.severity == "critical" then 2 else 1',
    levels: [
      { value: 0, text: 'Normal', color: 'green' },
      { value: 1, text: 'Alerte ouverte', color: 'orange' },
      { value: 2, text: 'Alerte critique', color: 'red' },
    ],
    span: 12,
    height: 10,
  });
}

/** Minimum night flow (02:00–05:00 local) of each district, day by day: a rising floor is a leak somewhere. */
export function nightFlowTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_DAILY, fields: ['nightMinFlowLph'], where: IN_DISTRICTS }, [
    'group(columns: ["district"])',
    'sort(columns: ["_time"])',
  ]);
  return timeseriesPanel({
    title: 'Débit minimum de nuit par quartier',
    description:
      'Débit minimal de 02:00 à 05:00 (heure locale), chaque jour, par quartier. Un plancher qui monte signale une fuite.',
    query,
    displayName: BY_DISTRICT,
    unit: 'litreh',
    span: 16,
    height: 8,
  }).showPoints(common.VisibilityMode.Always);
}

/** Last night's minimum flow of each district, largest first. */
export function nightFlowBargauge(): bargauge.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_DAILY, fields: ['nightMinFlowLph'], where: IN_DISTRICTS }, [
    'group(columns: ["district"])',
    'last()',
  ]);
  return bargaugePanel({
    title: 'Débit de nuit — dernier jour',
    description: 'Débit minimum de nuit du dernier jour agrégé, par quartier.',
    query,
    displayName: BY_DISTRICT,
    unit: 'litreh',
    thresholds: thresholds('green', [50, 'orange'], [200, 'red']),
    span: 8,
    height: 8,
  });
}

/** Water network overview: consumption, open leaks, the map of meters, night flow by district. */
export function waterNetworkDashboard(): dashboard.Dashboard {
  const header = vigieDashboard(
    UIDS.waterNetwork,
    'Vigie — Réseau d’eau',
    'Vue d’ensemble du réseau : consommation, fuites ouvertes, carte des compteurs, débit de nuit par quartier.',
  ).withVariable(
    tagVariable({
      name: 'district',
      label: 'Quartier',
      description: 'Quartiers (secteurs de distribution) des agrégats horaires.',
      measurement: DISTRICT_HOURLY,
      tag: 'district',
      multi: true,
    }),
  );
  return withPanels(header, [
    consumptionStat(),
    openLeaksStat(),
    openAlertsByTypeStat(),
    consumptionTimeseries(),
    meterStateGeomap(),
    openLeaksTable(),
    nightFlowTimeseries(),
    nightFlowBargauge(),
  ]);
}
