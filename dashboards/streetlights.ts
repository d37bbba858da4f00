import type * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import type * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as geomap from '@grafana/grafana-foundation-sdk/geomap';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import type { AlertType } from '../core/contracts/index.ts';
import { ALERT_MEASUREMENT, DEVICE_MEASUREMENT, measurementOf, rollupMeasurementOf } from '../sinks/influx/schema.ts';
import {
  ALERT_LOOKBACK,
  alertOpeningsQuery,
  barchartPanel,
  bargaugePanel,
  deviceDashboard,
  OPEN_ALERTS_PIPELINE,
  openAlertsStat,
  openAlertsTable,
  PER_THOUSAND,
  PERCENT,
  seriesBy,
  stateGeomap,
  statPanel,
  tagVariable,
  thresholds,
  timeseriesPanel,
  UIDS,
  windowQuery,
  withPanels,
} from './common.ts';
import { fluxQuery, fluxScript } from './flux.ts';

const READINGS = measurementOf('streetlight');
const DISTRICT_HOURLY = rollupMeasurementOf('streetlight', 'district', 'hour');
const DISTRICT_DAILY = rollupMeasurementOf('streetlight', 'district', 'day');
const CIRCUIT_HOURLY = rollupMeasurementOf('streetlight', 'circuit', 'hour');
const CIRCUIT_DAILY = rollupMeasurementOf('streetlight', 'circuit', 'day');
const SELECTED = { device_id: { variable: 'streetlight' } } as const;
const THIS_LAMP = { device_id: `\${lamp}` } as const;
const IN_DISTRICTS = { district: { variable: 'district' } } as const;
const IN_CIRCUITS = { circuit: { variable: 'circuit' }, ...IN_DISTRICTS } as const;
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

/** Energy of the selected districts over the time range (sum of the hourly district rollups), in kWh. */
export function energyStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Énergie consommée',
    description:
      'Énergie consommée sur la période par l’éclairage des quartiers choisis (agrégats horaires additionnés).',
    query: fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['energyWh'], where: IN_DISTRICTS }, [
      'group()',
      'sum()',
      PER_THOUSAND,
    ]),
    unit: 'kwatth',
    decimals: 1,
    noValue: '0',
    span: 6,
    height: 5,
  });
}

/** Lit time of the selected districts' lamps over the time range (sum of the hourly district rollups), in hours. */
export function litHoursStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Heures d’allumage',
    description:
      'Heures d’allumage cumulées des lampes des quartiers choisis sur la période (toutes lampes additionnées).',
    query: fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['litHours'], where: IN_DISTRICTS }, ['group()', 'sum()']),
    unit: 'h',
    decimals: 0,
    noValue: '0',
    span: 6,
    height: 5,
  });
}

/**
 * Streetlights on a map, coloured by their most serious open alert: lamp-out (red: a dark street) over
 * power-anomaly (orange) over day-burner (yellow: energy wasted).
 */
export function lampStateGeomap(): geomap.PanelBuilder {
  return stateGeomap({
    title: 'Lampadaires — état',
    description:
      'Position de chaque lampadaire ; vert : normal, jaune : allumé le jour, orange : puissance anormale, rouge : éteint la nuit.',
    layer: 'Lampadaires',
    kind: 'streetlight',
    devices: IN_DISTRICTS,
    alerts: { type: STREETLIGHT_ALERTS },
    levelOf: 'if r.type == "lamp-out" then 3 else if r.type == "power-anomaly" then 2 else 1',
    levels: [
      { value: 0, text: 'Normal', color: 'green' },
      { value: 1, text: 'Allumé le jour', color: 'yellow' },
      { value: 2, text: 'Puissance anormale', color: 'orange' },
      { value: 3, text: 'Éteint la nuit', color: 'red' },
    ],
    span: 12,
    height: 12,
  });
}

/**
 * Open alerts by district and type: each open alert's device placed in its district through `device` (the alert
 * carries no district), counted per (district, type), one bar per district stacked by type.
 */
export function openAlertsByDistrictBarchart(): barchart.PanelBuilder {
  const query = fluxScript({
    imports: ['join'],
    streams: {
      alerts: {
        select: {
          measurement: ALERT_MEASUREMENT,
          fields: ['alert_id'],
          where: { ...KIND, type: STREETLIGHT_ALERTS },
          start: ALERT_LOOKBACK,
        },
        pipeline: [...OPEN_ALERTS_PIPELINE, 'keep(columns: ["device_id", "type"])'],
      },
      places: {
        select: { measurement: DEVICE_MEASUREMENT, fields: ['lat'], where: KIND, start: '0' },
        pipeline: [
          'last()',
          // The latest description of each device: a lamp moved to another district counts once, where it is now.
          'group(columns: ["device_id"])',
          'sort(columns: ["_time"])',
          'last()',
          'group()',
          'keep(columns: ["device_id", "district"])',
        ],
      },
    },
    result: [
      'join.left(',
      '  left: alerts,',
      '  right: places,',
      '  on: (l, r) => l.device_id == r.device_id,',
      '  as: (l, r) => ({type: l.type, district: if exists r.district then r.district else "unassigned", n: 1})',
      ')',
      '  |> group(columns: ["district", "type"])',
      '  |> sum(column: "n")',
      '  |> group()',
      '  |> pivot(rowKey: ["district"], columnKey: ["type"], valueColumn: "n")',
      '  |> sort(columns: ["district"])',
    ].join('\n'),
  });
  return barchartPanel({
    title: 'Alertes ouvertes par quartier et type',
    description:
      'Alertes encore ouvertes, par quartier (celui du lampadaire dans le registre) et par type : où envoyer une équipe.',
    query,
    xField: 'district',
    stacked: true,
    noValue: '0',
    span: 12,
    height: 12,
  });
}

/** Hourly energy of each selected district, stacked. */
export function energyByDistrictTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['energyWh'], where: IN_DISTRICTS }, [
    'group(columns: ["district"])',
    'aggregateWindow(every: v.windowPeriod, fn: sum, createEmpty: false, timeSrc: "_start")',
    PER_THOUSAND,
  ]);
  return timeseriesPanel({
    title: 'Énergie par quartier',
    description:
      'kWh consommés par l’éclairage de chaque quartier, par fenêtre d’affichage (agrégats horaires additionnés).',
    query,
    displayName: seriesBy('district'),
    unit: 'kwatth',
    span: 12,
    height: 8,
  })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(60)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
}

/** Daily energy of each selected circuit (feeder cabinet). */
export function energyByCircuitTimeseries(): timeseries.PanelBuilder {
  // A circuit spanning two districts has one rollup per district: summed per day first.
  const query = fluxQuery({ measurement: CIRCUIT_DAILY, fields: ['energyWh'], where: IN_CIRCUITS }, [
    'group(columns: ["circuit", "_time"])',
    'sum()',
    'group(columns: ["circuit"])',
    'sort(columns: ["_time"])',
    PER_THOUSAND,
  ]);
  return timeseriesPanel({
    title: 'Énergie par circuit et par jour',
    description:
      'kWh consommés chaque jour (minuit à minuit, heure locale) par les lampes de chaque armoire (circuit) choisie.',
    query,
    displayName: seriesBy('circuit'),
    unit: 'kwatth',
    span: 12,
    height: 8,
  })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(60);
}

/** Energy of each selected circuit over the time range, largest first. */
export function energyByCircuitBargauge(): bargauge.PanelBuilder {
  const query = fluxQuery({ measurement: CIRCUIT_HOURLY, fields: ['energyWh'], where: IN_CIRCUITS }, [
    'group(columns: ["circuit"])',
    'sum()',
    'group()',
    'sort(columns: ["_value"], desc: true)',
    PER_THOUSAND,
  ]);
  return bargaugePanel({
    title: 'Énergie par circuit — période',
    description:
      'kWh consommés sur la période par armoire (circuit) : une armoire qui dépasse ses voisines mérite une visite.',
    query,
    displayName: seriesBy('circuit'),
    unit: 'kwatth',
    thresholds: thresholds('blue'),
    span: 12,
    height: 8,
  });
}

/** Lit hours per lamp of each selected circuit, day by day (lit hours of the circuit / its lamps). */
export function litHoursByCircuitTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: CIRCUIT_DAILY, fields: ['litHours', 'devices'], where: IN_CIRCUITS }, [
    'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
    'filter(fn: (r) => exists r.litHours and exists r.devices)',
    // A circuit spanning two districts has one rollup per district: lit hours and lamps summed per day first.
    'group(columns: ["circuit", "_time"])',
    'reduce(identity: {lit: 0.0, lamps: 0}, fn: (r, accumulator) => ({lit: accumulator.lit + r.litHours, lamps: accumulator.lamps + r.devices}))',
    'filter(fn: (r) => r.lamps > 0)',
    'map(fn: (r) => ({_time: r._time, circuit: r.circuit, _value: r.lit / float(v: r.lamps)}))',
    'group(columns: ["circuit"])',
    'sort(columns: ["_time"])',
  ]);
  return timeseriesPanel({
    title: 'Heures d’allumage par lampe, par circuit',
    description:
      'Heures allumées par lampe et par jour, par armoire : suit la durée de la nuit ; un écart signale une horloge ou une cellule déréglée.',
    query,
    displayName: seriesBy('circuit'),
    unit: 'h',
    min: 0,
    max: 24,
    span: 12,
    height: 8,
  }).showPoints(common.VisibilityMode.Always);
}

/** Daily energy of each selected district, for comparing days. */
export function energyByDistrictDailyBargauge(): bargauge.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_DAILY, fields: ['energyWh'], where: IN_DISTRICTS }, [
    'group(columns: ["district"])',
    'last()',
    PER_THOUSAND,
  ]);
  return bargaugePanel({
    title: 'Énergie — dernier jour, par quartier',
    description:
      'kWh consommés par l’éclairage de chaque quartier le dernier jour agrégé (minuit à minuit, heure locale).',
    query,
    displayName: seriesBy('district'),
    unit: 'kwatth',
    thresholds: thresholds('blue'),
    span: 12,
    height: 8,
  });
}

/** Power of the chosen lamp against its dimming level (right axis). */
export function powerVsDimTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: READINGS, fields: ['powerW', 'dimPct'], where: THIS_LAMP }, [
    'aggregateWindow(every: v.windowPeriod, fn: mean, createEmpty: false)',
    'keep(columns: ["_time", "_value", "_field"])',
  ]);
  return timeseriesPanel({
    title: 'Puissance et gradation du lampadaire',
    description:
      'Puissance mesurée (W, axe gauche) et gradation commandée (%, axe droit) du lampadaire choisi : la puissance suit la gradation ; de la puissance à 0 % ou rien à 100 % signale une panne.',
    query,
    unit: 'watt',
    span: 24,
    height: 8,
  }).overrideByName('dimPct', [
    { id: 'displayName', value: 'Gradation' },
    { id: 'unit', value: PERCENT.unit },
    { id: 'min', value: PERCENT.min },
    { id: 'max', value: PERCENT.max },
    { id: 'custom.axisPlacement', value: 'right' },
    { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
  ]);
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

/** Alerts opened per display window, by type: a storm cutting a street at dusk shows as a spike of lamp-outs. */
export function alertOpeningsTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Alertes ouvertes dans le temps',
    description:
      'Nombre d’alertes ouvertes par fenêtre d’affichage, par type. Un orage qui coupe une rue au crépuscule fait un pic de lamp-out.',
    query: alertOpeningsQuery({ ...KIND, type: STREETLIGHT_ALERTS }, 'type'),
    displayName: seriesBy('type'),
    unit: 'short',
    decimals: 0,
    span: 24,
    height: 8,
  })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
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

/**
 * Streetlights: open alerts, energy and lit hours by district and circuit (rollups), the map of lamps by state,
 * alerts by district and over time, one lamp's power against its dimming, the selected lamps' power and dimming.
 */
export function streetlightsDashboard(): dashboard.Dashboard {
  const header = deviceDashboard({
    uid: UIDS.streetlights,
    title: 'Vigie — Éclairage public',
    description:
      'Lampadaires : alertes ouvertes (carte, quartiers, dans le temps), énergie et heures d’allumage par quartier et par armoire, puissance et gradation.',
    measurement: READINGS,
    variable: { name: 'streetlight', label: 'Lampadaires', devices: 'Lampadaires', multi: true },
    alerts: { name: 'Alertes éclairage', color: 'orange', where: KIND },
  })
    .withVariable(
      tagVariable({
        name: 'district',
        label: 'Quartier',
        description: 'Quartiers (secteurs d’éclairage) des agrégats horaires.',
        measurement: DISTRICT_HOURLY,
        tag: 'district',
        multi: true,
      }),
    )
    .withVariable(
      tagVariable({
        name: 'circuit',
        label: 'Armoire',
        description: 'Armoires d’éclairage (circuits) des agrégats horaires.',
        measurement: CIRCUIT_HOURLY,
        tag: 'circuit',
        multi: true,
      }),
    )
    .withVariable(
      tagVariable({
        name: 'lamp',
        label: 'Lampadaire (détail)',
        description:
          'Le lampadaire dont le panneau « Puissance et gradation » montre la puissance face à la gradation.',
        measurement: READINGS,
        tag: 'device_id',
        multi: false,
      }),
    );
  return withPanels(header, [
    openAlertsByTypeStat(),
    energyStat(),
    litHoursStat(),
    lampStateGeomap(),
    openAlertsByDistrictBarchart(),
    alertOpeningsTimeseries(),
    energyByDistrictTimeseries(),
    energyByDistrictDailyBargauge(),
    energyByCircuitTimeseries(),
    energyByCircuitBargauge(),
    litHoursByCircuitTimeseries(),
    powerVsDimTimeseries(),
    powerTimeseries(),
    dimTimeseries(),
    openAlertsDetailTable(),
  ]);
}
