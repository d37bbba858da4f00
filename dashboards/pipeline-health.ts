import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import type * as stat from '@grafana/grafana-foundation-sdk/stat';
import type * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { type HEALTH_FIELDS, HEALTH_MEASUREMENT } from '../sinks/influx/schema.ts';
import {
  increaseQuery,
  statPanel,
  tagVariable,
  thresholds,
  timeseriesPanel,
  UIDS,
  vigieDashboard,
  windowQuery,
  withPanels,
} from './common.ts';

/** A `pipeline_health` field (integers: counters since the process started, or gauges). */
type HealthField = (typeof HEALTH_FIELDS)[number];

const SELECTED = { component: { variable: 'component' }, instance: { variable: 'instance' } } as const;
const SERIES_NAME = `\${__field.labels.component} \${__field.labels.instance}`;
const PER_SECOND = 'suffix: msg/s';

/** How a `pipeline_health` field is plotted: the per-second rate of a counter, or a gauge's largest value. */
type Plot = { rate: HealthField } | { gauge: HealthField };

/**
 * One series per component and instance: a counter as its per-second rate (a restart, counter back to 0, is not a
 * negative rate), a gauge as the largest value of each display window.
 */
function healthTimeseries(title: string, description: string, unit: string, plot: Plot): timeseries.PanelBuilder {
  const query =
    'rate' in plot
      ? windowQuery(HEALTH_MEASUREMENT, plot.rate, SELECTED, 'max', ['derivative(unit: 1s, nonNegative: true)'])
      : windowQuery(HEALTH_MEASUREMENT, plot.gauge, SELECTED, 'max');
  return timeseriesPanel({ title, description, query, displayName: SERIES_NAME, unit, span: 12, height: 8 });
}

/** Messages received per second by each stage (ingest: device messages; others: bus messages). */
export function ingestRateTimeseries(): timeseries.PanelBuilder {
  const description = 'Messages reçus par seconde par chaque composant (dérivée du compteur messages_in).';
  return healthTimeseries('Débit entrant', description, PER_SECOND, { rate: 'messages_in' });
}

/** Messages produced per second by each stage. */
export function outputRateTimeseries(): timeseries.PanelBuilder {
  const description = 'Messages produits par seconde par chaque composant (dérivée du compteur messages_out).';
  return healthTimeseries('Débit sortant', description, PER_SECOND, { rate: 'messages_out' });
}

/** Messages waiting on the bus for each consumer. */
export function busLagTimeseries(): timeseries.PanelBuilder {
  const description =
    'Messages en attente sur le bus pour chaque consommateur (bus_lag_messages). Une courbe qui monte : le composant ne suit plus.';
  return healthTimeseries('Retard sur le bus', description, 'short', { gauge: 'bus_lag_messages' })
    .thresholds(thresholds('green', [10_000, 'orange'], [100_000, 'red']))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Line));
}

/** Dead letters per second, per stage. */
export function deadLettersTimeseries(): timeseries.PanelBuilder {
  const description = 'Messages mis de côté par seconde (deadletter.v1), avec leur raison : à inspecter puis rejouer.';
  return healthTimeseries('Lettres mortes', description, PER_SECOND, { rate: 'dead_letters' });
}

/** Dead letters over the time range, all stages together. */
export function deadLettersStat(): stat.PanelBuilder {
  return statPanel({
    title: 'Lettres mortes sur la période',
    description: 'Nombre de messages mis en lettres mortes sur la période, tous composants confondus.',
    query: increaseQuery(HEALTH_MEASUREMENT, 'dead_letters', SELECTED),
    noValue: '0',
    thresholds: thresholds('green', [1, 'orange']),
    color: common.BigValueColorMode.Background,
    span: 12,
    height: 8,
  });
}

/** Bytes of points kept on disk by the time-series sink, waiting for InfluxDB. */
export function sinkBufferBytesTimeseries(): timeseries.PanelBuilder {
  const description =
    'Octets de points gardés sur disque en attendant InfluxDB ; plein, le sink cesse de consommer (contre-pression).';
  return healthTimeseries('Tampon du sink (octets)', description, 'bytes', { gauge: 'buffer_bytes' });
}

/** Points kept on disk by the time-series sink. */
export function sinkBufferPointsTimeseries(): timeseries.PanelBuilder {
  const description = 'Points gardés sur disque, pas encore écrits dans InfluxDB.';
  return healthTimeseries('Tampon du sink (points)', description, 'short', { gauge: 'buffer_points' });
}

/** Write retries per second of the time-series sink. */
export function writeRetriesTimeseries(): timeseries.PanelBuilder {
  const description =
    'Écritures InfluxDB réessayées par seconde (429, 5xx, réseau) : non nul, le serveur peine ou est absent.';
  return healthTimeseries('Écritures réessayées', description, 'suffix: /s', { rate: 'write_retries' });
}

/** Points written per second by the time-series sink. */
export function pointsWrittenTimeseries(): timeseries.PanelBuilder {
  const description = 'Points acceptés par InfluxDB par seconde.';
  return healthTimeseries('Points écrits', description, 'suffix: points/s', { rate: 'points_written' });
}

/** Resident memory of each process. */
export function memoryTimeseries(): timeseries.PanelBuilder {
  const description = 'Mémoire résidente de chaque processus (rss_bytes) : elle doit rester bornée.';
  return healthTimeseries('Mémoire', description, 'bytes', { gauge: 'rss_bytes' });
}

/** Pipeline health: ingest rate, bus lag, dead letters, sink buffer and retries, memory. */
export function pipelineHealthDashboard(): dashboard.Dashboard {
  const header = vigieDashboard(
    UIDS.pipeline,
    'Vigie — Santé du pipeline',
    'Débits, retard sur le bus, lettres mortes, tampon et réessais du sink, mémoire, par composant et instance.',
  )
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .withVariable(
      tagVariable({
        name: 'component',
        label: 'Composant',
        description: 'Composants du pipeline (ingest, processors, alerting, sink-influx…).',
        measurement: HEALTH_MEASUREMENT,
        tag: 'component',
        multi: true,
      }),
    )
    .withVariable(
      tagVariable({
        name: 'instance',
        label: 'Instance',
        description: 'Instances (nom d’hôte) des composants.',
        measurement: HEALTH_MEASUREMENT,
        tag: 'instance',
        multi: true,
      }),
    );
  return withPanels(header, [
    ingestRateTimeseries(),
    outputRateTimeseries(),
    busLagTimeseries(),
    deadLettersTimeseries(),
    deadLettersStat(),
    sinkBufferBytesTimeseries(),
    sinkBufferPointsTimeseries(),
    writeRetriesTimeseries(),
    pointsWrittenTimeseries(),
    memoryTimeseries(),
  ]);
}
