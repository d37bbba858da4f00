import { z } from 'zod';
import type { Detector } from '../detector.ts';
import * as carParkFull from './car-park-full.ts';
import { type CarParkDerived, modelConfigSchema } from './model.ts';

/**
 * Car parks (CONTRACTS.md §3: `spacesFree` required, `capacity`, `occupancyPct`): the model that checks the count,
 * and the detectors stepping on it. Adding a detector: one file here, one line in {@link CAR_PARK_DETECTORS}
 * (alphabetical) and one key in {@link carParkConfigSchema}. `no-data` and `device-flag` come from
 * processors/common for every kind.
 */

export {
  CAR_PARK_DROP_REASONS,
  type CarParkDerived,
  type CarParkModelConfig,
  type CarParkState,
  carParkModel,
  modelConfigSchema,
} from './model.ts';

/** The car-park detector modules (name, configSchema, create), alphabetical. */
export const CAR_PARK_DETECTORS = [carParkFull] as const;

/** Car-park settings: the model's and each detector's under its name, every key defaulted. */
export const carParkConfigSchema = z.strictObject({
  model: modelConfigSchema.prefault({}).describe('The longest gap between two readings before counts restart.'),
  'car-park-full': carParkFull.configSchema
    .prefault({})
    .describe('car-park-full: (almost) no free space for half an hour (guidance signs, the residents’ map).'),
});
/** Car-park settings. */
export type CarParkConfig = z.output<typeof carParkConfigSchema>;

/** Creates every car-park detector from parsed settings, in {@link CAR_PARK_DETECTORS} order. */
export function createCarParkDetectors(config: CarParkConfig): Detector<unknown, CarParkDerived>[] {
  return [carParkFull.create(config['car-park-full']) as Detector<unknown, CarParkDerived>];
}
