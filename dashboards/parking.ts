import type * as barchart from '@grafana/grafana-foundation-sdk/barchart';
import type * as bargauge from '@grafana/grafana-foundation-sdk/bargauge';
import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as geomap from '@grafana/grafana-foundation-sdk/geomap';
import type * as piechart from '@grafana/grafana-foundation-sdk/piechart';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as table from '@grafana/grafana-foundation-sdk/table';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { measurementOf, rollupMeasurementOf } from '../sinks/influx/schema.ts';
import {
  barchartPanel,
  bargaugePanel,
  CITY_TIME_ZONE,
  deviceDashboard,
  lastQuery,
  openAlertsStat,
  openAlertsTable,
  PERCENT,
  piechartPanel,
  seriesBy,
  stateGeomap,
  statPanel,
  tablePanel,
  tagVariable,
  thresholds,
  timeseriesPanel,
  UIDS,
  windowQuery,
  withPanels,
} from './common.ts';
import { fluxQuery, fluxScript } from './flux.ts';

const READINGS = measurementOf('parking-meter');
const DISTRICT_HOURLY = rollupMeasurementOf('parking-meter', 'district', 'hour');
const DISTRICT_DAILY = rollupMeasurementOf('parking-meter', 'district', 'day');
const SELECTED = { device_id: { variable: 'parking' } } as const;
const IN_DISTRICTS = { district: { variable: 'district' } } as const;
const KIND = { kind: 'parking-meter' } as const;
/** Flux step turning cents into euros. */
const TO_EUROS = 'map(fn: (r) => ({r with _value: float(v: r._value) / 100.0}))';
/** Below this (%), paper or battery needs a visit; above `COIN_BOX_FULL_PCT` the coin box must be emptied. */
const LOW_PCT = 20;
const COIN_BOX_FULL_PCT = 90;

/** Revenue of the selected districts over the time range, in euros. */
export function revenueStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Recettes sur la période',
    description:
      'Recettes des horodateurs des quartiers choisis sur la période (agrégats horaires, tous moyens de paiement).',
    query: fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['revenueCents'], where: IN_DISTRICTS }, [
      'group()',
      'sum()',
      TO_EUROS,
    ]),
    unit: 'currencyEUR',
    decimals: 0,
    noValue: '0',
    span: 6,
    height: 5,
  });
}

/** Payments of the selected districts over the time range. */
export function paymentsStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Paiements',
    description: 'Nombre de paiements (pièces, carte, SMS) dans les quartiers choisis sur la période.',
    query: fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['payments'], where: IN_DISTRICTS }, ['group()', 'sum()']),
    unit: 'short',
    decimals: 0,
    noValue: '0',
    span: 6,
    height: 5,
  });
}

/** Open fault alerts of the parking meters. */
export function openFaultsStat(): stat.PanelBuilder {
  return openAlertsStat({
    title: 'Pannes ouvertes',
    description: 'Horodateurs signalant une panne (événement fault) non résolue.',
    where: { ...KIND, type: 'fault' },
    thresholds: thresholds('green', [1, 'red']),
    span: 6,
    height: 5,
  });
}

/** Average paid occupancy of the selected districts over the time range (paid vehicles at once). */
export function paidOccupancyStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Occupation payée moyenne',
    description:
      'Nombre moyen de véhicules payés en même temps dans les quartiers choisis (minutes payées / minutes de la période).',
    query: fluxQuery({ measurement: DISTRICT_HOURLY, fields: ['paidOccupancy'], where: IN_DISTRICTS }, [
      'group(columns: ["_time"])',
      'sum()',
      'group()',
      'mean()',
    ]),
    unit: 'short',
    decimals: 1,
    noValue: '0',
    span: 6,
    height: 5,
  });
}

/** Revenue per local day, one bar per district, stacked. */
export function revenueByDistrictTimeseries(): timeseries.PanelBuilder {
  const query = fluxQuery({ measurement: DISTRICT_DAILY, fields: ['revenueCents'], where: IN_DISTRICTS }, [
    'group(columns: ["district"])',
    'sort(columns: ["_time"])',
    TO_EUROS,
  ]);
  return timeseriesPanel({
    title: 'Recettes par jour et par quartier',
    description: 'Recettes de chaque jour (minuit à minuit, heure locale), par quartier.',
    query,
    displayName: seriesBy('district'),
    unit: 'currencyEUR',
    span: 16,
    height: 8,
  })
    .drawStyle(common.GraphDrawStyle.Bars)
    .fillOpacity(70)
    .stacking(new common.StackingConfigBuilder().mode(common.StackingMode.Normal));
}

/** Share of each payment method in the revenue over the time range. */
export function paymentMethodPiechart(): piechart.PanelBuilder {
  const query = fluxQuery(
    {
      measurement: DISTRICT_HOURLY,
      fields: ['revenueCoinCents', 'revenueCardCents', 'revenueSmsCents'],
      where: IN_DISTRICTS,
    },
    ['group(columns: ["_field"])', 'sum()', TO_EUROS],
  );
  const named = (field: string, name: string, color: string) => ({
    matcher: { id: 'byName', options: field },
    properties: [
      { id: 'displayName', value: name },
      { id: 'color', value: { mode: 'fixed', fixedColor: color } },
    ],
  });
  return piechartPanel({
    title: 'Recettes par moyen de paiement',
    description: 'Part des pièces, de la carte et du SMS dans les recettes de la période (quartiers choisis).',
    query,
    unit: 'currencyEUR',
    span: 8,
    height: 8,
  })
    .withOverride(named('revenueCoinCents', 'Pièces', 'yellow'))
    .withOverride(named('revenueCardCents', 'Carte', 'blue'))
    .withOverride(named('revenueSmsCents', 'SMS', 'purple'));
}

/** Paid occupancy by local hour of day, averaged over the days of the time range. */
export function paidOccupancyByHourBarchart(): barchart.PanelBuilder {
  const query = fluxScript({
    imports: ['date', 'timezone'],
    streams: {
      occupancy: {
        select: { measurement: DISTRICT_HOURLY, fields: ['paidOccupancy'], where: IN_DISTRICTS },
        pipeline: [
          // The selected districts together, hour by hour, then the mean of each hour of the day.
          'group(columns: ["_time"])',
          'sum()',
          'group()',
          `map(fn: (r) => ({r with h: date.hour(t: r._time, location: timezone.location(name: ${JSON.stringify(CITY_TIME_ZONE)}))}))`,
          'group(columns: ["h"])',
          'mean()',
          'group()',
          'sort(columns: ["h"])',
          'map(fn: (r) => ({hour: (if r.h < 10 then "0" else "") + string(v: r.h) + "h", occupancy: r._value}))',
        ],
      },
    },
    result: 'occupancy',
  });
  return barchartPanel({
    title: 'Occupation payée par heure de la journée',
    description: `Nombre moyen de véhicules payés à chaque heure de la journée (heure locale, ${CITY_TIME_ZONE}), sur les jours de la période.`,
    query,
    xField: 'hour',
    unit: 'short',
    decimals: 1,
    span: 12,
    height: 8,
  });
}

/** Parking meters on a map: red with an open fault, orange with another open alert. */
export function meterStateGeomap(): geomap.PanelBuilder {
  return stateGeomap({
    title: 'Horodateurs — état',
    description:
      'Position de chaque horodateur ; vert : normal, orange : alerte ouverte (batterie, silence), rouge : panne.',
    layer: 'Horodateurs',
    kind: 'parking-meter',
    devices: IN_DISTRICTS,
    alerts: {},
    levelOf: 'if r.type == "fault" then 2 else 1',
    levels: [
      { value: 0, text: 'Normal', color: 'green' },
      { value: 1, text: 'Alerte ouverte', color: 'orange' },
      { value: 2, text: 'En panne', color: 'red' },
    ],
    span: 12,
    height: 10,
  });
}

/** Open faults with what the meter reported (the summary names the fault codes), newest first. */
export function openFaultsTable(): table.PanelBuilder {
  return openAlertsTable({
    title: 'Pannes ouvertes — codes',
    description:
      'Une ligne par panne ouverte : horodateur, sévérité, dernière transition, et le résumé qui nomme les codes de panne et ce qui fonctionne encore.',
    where: { ...KIND, type: 'fault' },
    span: 12,
    height: 10,
  });
}

/** Meters needing a visit: low paper or battery, or a nearly full coin box (last values). */
export function consumablesTable(): table.PanelBuilder {
  const query = fluxQuery(
    { measurement: READINGS, fields: ['paperPct', 'batteryPct', 'coinFillPct'], where: SELECTED },
    [
      'last()',
      'pivot(rowKey: ["device_id"], columnKey: ["_field"], valueColumn: "_value")',
      'group()',
      `filter(fn: (r) => (exists r.paperPct and r.paperPct < ${LOW_PCT}.0) or (exists r.batteryPct and r.batteryPct < ${LOW_PCT}.0) or (exists r.coinFillPct and r.coinFillPct > ${COIN_BOX_FULL_PCT}.0))`,
      'keep(columns: ["device_id", "paperPct", "batteryPct", "coinFillPct"])',
      'sort(columns: ["device_id"])',
    ],
  );
  const level = (column: string, t: dashboard.ThresholdsConfigBuilder) => ({
    matcher: { id: 'byName', options: column },
    properties: [
      { id: 'unit', value: PERCENT.unit },
      { id: 'thresholds', value: t.build() },
      { id: 'custom.cellOptions', value: { type: 'color-background' } },
    ],
  });
  return tablePanel({
    title: 'Horodateurs à visiter',
    description: `Horodateurs choisis dont le papier ou la batterie est sous ${LOW_PCT} %, ou la caisse à pièces au-delà de ${COIN_BOX_FULL_PCT} % (dernières valeurs).`,
    query,
    span: 12,
    height: 10,
  })
    .withOverride(level('paperPct', thresholds('red', [LOW_PCT, 'orange'], [40, 'green'])))
    .withOverride(level('batteryPct', thresholds('red', [LOW_PCT, 'orange'], [40, 'green'])))
    .withOverride(level('coinFillPct', thresholds('green', [70, 'orange'], [COIN_BOX_FULL_PCT, 'red'])));
}

/** A bar per parking meter showing one consumable's level (%); `fullIsBad` for the coin box. */
function levelBargauge(field: string, title: string, description: string, fullIsBad: boolean): bargauge.PanelBuilder {
  return bargaugePanel({
    title,
    description,
    query: lastQuery(READINGS, field, SELECTED),
    displayName: seriesBy('device_id'),
    ...PERCENT,
    thresholds: fullIsBad
      ? thresholds('green', [70, 'orange'], [COIN_BOX_FULL_PCT, 'red'])
      : thresholds('red', [LOW_PCT, 'orange'], [40, 'green']),
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

/** Battery of the selected parking meters over time. */
export function batteryTimeseries(): timeseries.PanelBuilder {
  return timeseriesPanel({
    title: 'Batterie dans le temps',
    description: 'Niveau de batterie de chaque horodateur choisi.',
    query: windowQuery(READINGS, 'batteryPct', SELECTED, 'last'),
    displayName: seriesBy('device_id'),
    ...PERCENT,
    span: 24,
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

/**
 * Parking meters: revenue (per day and district, by payment method), paid occupancy by hour of day, faults with
 * their codes, meters to visit (paper, battery, coin box), the map, levels per meter.
 */
export function parkingDashboard(): dashboard.Dashboard {
  const header = deviceDashboard({
    uid: UIDS.parking,
    title: 'Vigie — Horodateurs',
    description:
      'Horodateurs : recettes par jour, quartier et moyen de paiement, occupation payée par heure, pannes, consommables, carte.',
    measurement: READINGS,
    variable: { name: 'parking', label: 'Horodateur', devices: 'Horodateurs', multi: true },
    alerts: { name: 'Alertes horodateurs', color: 'purple', where: KIND },
  }).withVariable(
    tagVariable({
      name: 'district',
      label: 'Quartier',
      description: 'Quartiers des agrégats horaires de stationnement.',
      measurement: DISTRICT_HOURLY,
      tag: 'district',
      multi: true,
    }),
  );
  return withPanels(header, [
    revenueStat(),
    paymentsStat(),
    paidOccupancyStat(),
    openFaultsStat(),
    revenueByDistrictTimeseries(),
    paymentMethodPiechart(),
    paidOccupancyByHourBarchart(),
    meterStateGeomap(),
    openFaultsTable(),
    consumablesTable(),
    batteryBargauge(),
    paperBargauge(),
    coinFillBargauge(),
    batteryTimeseries(),
    openAlertsDetailTable(),
  ]);
}
