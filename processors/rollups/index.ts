export { type RollupsConfig, rollupsConfigSchema } from './config.ts';
export { GROUP_KINDS, type GroupScope } from './group-rollups.ts';
export { type LampConfig, type LampPeriod, type LampRollupState, stepLamp } from './lamp.ts';
export { UNASSIGNED_CIRCUIT } from './lamp-rollups.ts';
export { type MeterConfig, type MeterPeriod, type MeterRollupState, stepMeter } from './meter.ts';
export { createParkingRollups, type ParkingRollups, parkingValues } from './parking.ts';
export {
  circuitGroupOf,
  createRollups,
  districtGroupOf,
  ROLLUPS_BY_CIRCUIT_TOPIC,
  ROLLUPS_BY_DISTRICT_TOPIC,
  ROLLUPS_DEVICE_TOPICS,
  ROLLUPS_GROUP,
  type Rollups,
  type RollupsOptions,
  rollupsConsumes,
} from './stage.ts';
