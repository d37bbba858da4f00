import * as common from '@grafana/grafana-foundation-sdk/common';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import * as stat from '@grafana/grafana-foundation-sdk/stat';
import * as timeseries from '@grafana/grafana-foundation-sdk/timeseries';
import { type HEALTH_FIELDS, HEALTH_MEASUREMENT } from '../sinks/influx/schema.ts';
import { INFLUX, tagVariable, target, thresholds, UIDS, vigieDashboard, withPanelIds } from './common.ts';
import { fluxQuery } from './flux.ts';

/** A `pipeline_health` field (integers: counters since the process started, or gauges). */
type HealthField = (typeof HEALTH_FIELDS)[number];

const SELECTED = { component: { variable: 'component' }, instance: { variable: 'instance' } } as const;
const SERIES_NAME = `\${__field.labels.component} \${__field.labels.instance}`;

/** Per-second rate of a counter, per component and instance; a restart (counter back to 0) is not a negative rate. */
function rateQuery(field: HealthField) {
  return fluxQuery({ measurement: HEALTH_MEASUREMENT, fields: [field], where: SELECTED }, [
    'aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)',
    'derivative(unit: 1s, nonNegative: true)',
  ]);
}

/** A gauge, per component and instance: the largest value of each display window. */
function gaugeQuery(field: HealthField) {
  return fluxQuery({ measurement: HEALTH_MEASUREMENT, fields: [field], where: SELECTED }, [
    'aggregateWindow(every: v.windowPeriod, fn: max, createEmpty: false)',
  ]);
}

function healthTimeseries(title: string, description: string, unit: string): timeseries.PanelBuilder {
  return new timeseries.PanelBuilder()
    .title(title)
    .description(description)
    .datasource(INFLUX)
    .displayName(SERIES_NAME)
    .unit(unit)
    .span(12)
    .height(8);
}

/** Messages received per second by each stage (ingest: device messages; others: bus messages). */
export function ingestRateTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Débit entrant',
    'Messages reçus par seconde par chaque composant (dérivée du compteur messages_in).',
    'suffix: msg/s',
  ).withTarget(target(rateQuery('messages_in')));
}

/** Messages produced per second by each stage. */
export function outputRateTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Débit sortant',
    'Messages produits par seconde par chaque composant (dérivée du compteur messages_out).',
    'suffix: msg/s',
  ).withTarget(target(rateQuery('messages_out')));
}

/** Messages waiting on the bus for each consumer. */
export function busLagTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Retard sur le bus',
    'Messages en attente sur le bus pour chaque consommateur (bus_lag_messages). Une courbe qui monte : le composant ne suit plus.',
    'short',
  )
    .withTarget(target(gaugeQuery('bus_lag_messages')))
    .thresholds(thresholds('green', [10_000, 'orange'], [100_000, 'red']))
    .thresholdsStyle(new common.GraphThresholdsStyleConfigBuilder().mode(common.GraphThresholdsStyleMode.Line));
}

/** Dead letters per second, per stage. */
export function deadLettersTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Lettres mortes',
    'Messages mis de côté par seconde (deadletter.v1), avec leur raison : à inspecter puis rejouer.',
    'suffix: msg/s',
  ).withTarget(target(rateQuery('dead_letters')));
}

/** Dead letters over the time range, all stages together. */
export function deadLettersStat(): stat.PanelBuilder {
  const query = fluxQuery({ measurement: HEALTH_MEASUREMENT, fields: ['dead_letters'], where: SELECTED }, [
    'increase()',
    'last()',
    'group()',
    'sum()',
  ]);
  return new stat.PanelBuilder()
    .title('Lettres mortes sur la période')
    .description('Nombre de messages mis en lettres mortes sur la période, tous composants confondus.')
    .datasource(INFLUX)
    .withTarget(target(query))
    .noValue('0')
    .thresholds(thresholds('green', [1, 'orange']))
    .colorMode(common.BigValueColorMode.Background)
    .graphMode(common.BigValueGraphMode.None)
    .span(12)
    .height(8);
}

/** Bytes of points kept on disk by the time-series sink, waiting for InfluxDB. */
export function sinkBufferBytesTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Tampon du sink (octets)',
    'Octets de points gardés sur disque en attendant InfluxDB ; plein, le sink cesse de consommer (contre-pression).',
    'bytes',
  ).withTarget(target(gaugeQuery('buffer_bytes')));
}

/** Points kept on disk by the time-series sink. */
export function sinkBufferPointsTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Tampon du sink (points)',
    'Points gardés sur disque, pas encore écrits dans InfluxDB.',
    'short',
  ).withTarget(target(gaugeQuery('buffer_points')));
}

/** Write retries per second of the time-series sink. */
export function writeRetriesTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Écritures réessayées',
    'Écritures InfluxDB réessayées par seconde (429, 5xx, réseau) : non nul, le serveur peine ou est absent.',
    'suffix: /s',
  ).withTarget(target(rateQuery('write_retries')));
}

/** Points written per second by the time-series sink. */
export function pointsWrittenTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries('Points écrits', 'Points acceptés par InfluxDB par seconde.', 'suffix: points/s').withTarget(
    target(rateQuery('points_written')),
  );
}

/** Resident memory of each process. */
export function memoryTimeseries(): timeseries.PanelBuilder {
  return healthTimeseries(
    'Mémoire',
    'Mémoire résidente de chaque processus (rss_bytes) : elle doit rester bornée.',
    'bytes',
  ).withTarget(target(gaugeQuery('rss_bytes')));
}

/** Pipeline health: ingest rate, bus lag, dead letters, sink buffer and retries, memory. */
export function pipelineHealthDashboard(): dashboard.Dashboard {
  const built = vigieDashboard(
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
    )
    .withPanel(ingestRateTimeseries())
    .withPanel(outputRateTimeseries())
    .withPanel(busLagTimeseries())
    .withPanel(deadLettersTimeseries())
    .withPanel(deadLettersStat())
    .withPanel(sinkBufferBytesTimeseries())
    .withPanel(sinkBufferPointsTimeseries())
    .withPanel(writeRetriesTimeseries())
    .withPanel(pointsWrittenTimeseries())
    .withPanel(memoryTimeseries())
    .build();
  return withPanelIds(built);
}
