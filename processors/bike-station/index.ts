import { z } from 'zod';
import type { Detector } from '../detector.ts';
import { type BikeStationDerived, modelConfigSchema } from './model.ts';
import * as stationEmpty from './station-empty.ts';
import * as stationFull from './station-full.ts';

/**
 * Bike-share stations (CONTRACTS.md §3: `bikesAvailable`, `docksAvailable` required; `ebikesAvailable`,
 * `capacity`): the model that checks the counts and places each reading in the day, and the detectors stepping on
 * it. Adding a detector: one file here, one line in {@link BIKE_STATION_DETECTORS} (alphabetical) and one key in
 * {@link bikeStationConfigSchema}. `no-data` and `device-flag` come from processors/common for every kind.
 */

export {
  BIKE_STATION_DROP_REASONS,
  type BikeStationDerived,
  type BikeStationModelConfig,
  type BikeStationState,
  bikeStationModel,
  modelConfigSchema,
} from './model.ts';

/** The bike-station detector modules (name, configSchema, create), alphabetical. */
export const BIKE_STATION_DETECTORS = [stationEmpty, stationFull] as const;

/** Bike-station settings: the model's and each detector's under its name, every key defaulted. */
export const bikeStationConfigSchema = z.strictObject({
  model: modelConfigSchema
    .prefault({})
    .describe('The day window (local time, VIGIE_TZ) when empty or full stations count, and the longest gap.'),
  'station-empty': stationEmpty.configSchema
    .prefault({})
    .describe('station-empty: no bike to rent for an hour by day (the rebalancing truck did not come).'),
  'station-full': stationFull.configSchema
    .prefault({})
    .describe('station-full: no dock to return a bike for an hour by day.'),
});
/** Bike-station settings. */
export type BikeStationConfig = z.output<typeof bikeStationConfigSchema>;

/** Creates every bike-station detector from parsed settings, in {@link BIKE_STATION_DETECTORS} order. */
export function createBikeStationDetectors(config: BikeStationConfig): Detector<unknown, BikeStationDerived>[] {
  return [
    stationEmpty.create(config['station-empty']) as Detector<unknown, BikeStationDerived>,
    stationFull.create(config['station-full']) as Detector<unknown, BikeStationDerived>,
  ];
}
