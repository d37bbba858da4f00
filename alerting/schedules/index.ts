/** The alerting schedules (issue 6): daily operator digest, monthly resident summary, daily consumption read model. */
export { type SchedulesConfig, schedulesConfigSchema } from './config.ts';
export { CONSUMPTION_GROUP_ID, type ConsumptionReadModel, createConsumptionReadModel } from './consumption.ts';
export {
  CLAIM_TIMEOUT_MS,
  createSchedules,
  type RunOutcome,
  type ScheduleName,
  type Schedules,
  type SchedulesDeps,
  type SchedulesOptions,
} from './scheduler.ts';
