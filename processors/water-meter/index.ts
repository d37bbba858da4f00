import { z } from 'zod';
import type { Detector } from '../detector.ts';
import * as backflow from './backflow.ts';
import * as burst from './burst.ts';
import * as leak from './leak.ts';
import { type MeterDerived, modelConfigSchema } from './model.ts';
import * as noConsumption from './no-consumption.ts';

/**
 * Water meters: the model that derives flow from the cumulative index, and the detectors stepping on it
 * (DOMAIN.md "Water meters"). Adding a detector: one file here, one line in {@link WATER_METER_DETECTORS}
 * (alphabetical) and one key in {@link waterMeterConfigSchema}.
 */

export {
  METER_DROP_REASONS,
  type MeterDerived,
  type MeterState,
  type ModelConfig,
  modelConfigSchema,
  trailingFlow,
  type WindowPoint,
  waterMeterModel,
} from './model.ts';

/** The water-meter detector modules (name, configSchema, create), alphabetical. */
export const WATER_METER_DETECTORS = [backflow, burst, leak, noConsumption] as const;

/** Water-meter settings: the model's and each detector's under its name, every key defaulted. */
export const waterMeterConfigSchema = z.strictObject({
  model: modelConfigSchema.prefault({}).describe('How flow is derived from the cumulative index.'),
  backflow: backflow.configSchema.prefault({}).describe('backflow: the register running backwards.'),
  burst: burst.configSchema.prefault({}).describe('burst: sustained flow above Q3.'),
  leak: leak.configSchema.prefault({}).describe('leak: water never at rest for an hour in 24 h.'),
  'no-consumption': noConsumption.configSchema.prefault({}).describe('no-consumption: an index unchanged for days.'),
});
/** Water-meter settings. */
export type WaterMeterConfig = z.output<typeof waterMeterConfigSchema>;

/** Creates every water-meter detector from parsed settings, in {@link WATER_METER_DETECTORS} order. */
export function createWaterMeterDetectors(config: WaterMeterConfig): Detector<unknown, MeterDerived>[] {
  return [
    backflow.create(config.backflow),
    burst.create(config.burst),
    leak.create(config.leak),
    noConsumption.create(config['no-consumption']),
  ];
}
