import { z } from 'zod';
import type { Detector } from '../detector.ts';
import * as fault from './fault.ts';

/**
 * Parking meters (CONTRACTS.md §3: `batteryPct`, `paperPct`, `coinFillPct`; events `payment`, `fault`,
 * `fault-cleared`): the detectors stepping on their events. Adding a detector: one file here, one line in
 * {@link PARKING_METER_DETECTORS} (alphabetical) and one key in {@link parkingMeterConfigSchema}. `no-data` and
 * `low-battery` come from processors/common for every kind.
 */

export {
  type ActiveCode,
  Capability,
  DEFAULT_FAULT_CODES,
  type FaultCode,
  type FaultConfig,
  type FaultState,
  faultCodeSchema,
} from './fault.ts';

/** The parking-meter detector modules (name, configSchema, create), alphabetical. */
export const PARKING_METER_DETECTORS = [fault] as const;

/** Parking-meter settings: each detector's under its name, every key defaulted. */
export const parkingMeterConfigSchema = z.strictObject({
  fault: fault.configSchema
    .prefault({})
    .describe('fault: active fault codes reported by the meter (coin jam, card reader, out of order, ...).'),
});
/** Parking-meter settings. */
export type ParkingMeterConfig = z.output<typeof parkingMeterConfigSchema>;

/** Creates every parking-meter detector from parsed settings, in {@link PARKING_METER_DETECTORS} order. */
export function createParkingMeterDetectors(config: ParkingMeterConfig): Detector<unknown>[] {
  return [fault.create(config.fault) as Detector<unknown>];
}
