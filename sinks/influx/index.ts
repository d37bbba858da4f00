/** The time-series sink (InfluxDB v2 write API): what `vigie start` and a `vigie sink` command wire in. */
export { type InfluxSinkConfig, influxSinkConfigSchema } from './config.ts';
export {
  ALERT_MEASUREMENT,
  DEVICE_MEASUREMENT,
  fieldTypeOf,
  HEALTH_FIELDS,
  HEALTH_MEASUREMENT,
  type HealthField,
  measurementOf,
  rollupMeasurementOf,
  SCHEMA,
} from './schema.ts';
export {
  createInfluxSink,
  type InfluxSink,
  type InfluxSinkOptions,
  type InfluxSinkStats,
  SINK_INFLUX_GROUP,
  SINK_INFLUX_TOPICS,
} from './sink.ts';
