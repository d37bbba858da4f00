export { type RollupsConfig, rollupsConfigSchema } from './config.ts';
export { createLocalCalendar, type LocalCalendar } from './local-time.ts';
export { type MeterConfig, type MeterPeriod, type MeterRollupState, stepMeter } from './meter.ts';
export {
  createRollups,
  districtGroupOf,
  ROLLUPS_BY_DISTRICT_TOPIC,
  ROLLUPS_GROUP,
  type Rollups,
  type RollupsOptions,
} from './stage.ts';
