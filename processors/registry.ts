import { z } from 'zod';
import type { Kind } from '../core/contracts/index.ts';
import { bikeStationConfigSchema, bikeStationModel } from './bike-station/index.ts';
import * as stationEmpty from './bike-station/station-empty.ts';
import * as stationFull from './bike-station/station-full.ts';
import * as carParkFull from './car-park/car-park-full.ts';
import { carParkConfigSchema, carParkModel } from './car-park/index.ts';
import * as deviceFlag from './common/device-flag.ts';
import * as lowBattery from './common/low-battery.ts';
import * as noData from './common/no-data.ts';
import { type AnyDetector, type AnyKindModel, reorderToleranceMsSchema } from './engine.ts';
import { lifecycleConfigSchema } from './lifecycle.ts';
import * as fault from './parking-meter/fault.ts';
import { parkingMeterConfigSchema } from './parking-meter/index.ts';
import * as anomaly from './sensor/anomaly.ts';
import * as dayBurner from './streetlight/day-burner.ts';
import { streetlightConfigSchema, streetlightModel } from './streetlight/index.ts';
import * as lampOut from './streetlight/lamp-out.ts';
import * as powerAnomaly from './streetlight/power-anomaly.ts';
import * as backflow from './water-meter/backflow.ts';
import * as burst from './water-meter/burst.ts';
import { waterMeterConfigSchema, waterMeterModel } from './water-meter/index.ts';
import * as leak from './water-meter/leak.ts';
import * as noConsumption from './water-meter/no-consumption.ts';

/**
 * The one list of detectors and kind models (STYLE.md §2 "Registration"), and the processors' configuration.
 * Adding a detector: one line in {@link DETECTORS}, alphabetical by name, and its config key below (a kind's
 * detectors sit under the kind's key, e.g. `waterMeter.leak`; generic ones in common/ at the top level).
 */

/** The processors' configuration: engine timing, alert updates, and every detector's thresholds, all defaulted. */
export const processorsConfigSchema = z.strictObject({
  reorderToleranceMs: reorderToleranceMsSchema,
  tickIntervalMs: z.coerce
    .number()
    .int()
    .positive()
    .default(900_000)
    .describe('Event time between two passes of watermark ticks over every device (no-data), ms (15 min).'),
  checkpointIntervalMs: z.coerce
    .number()
    .int()
    .positive()
    .default(5_000)
    .describe('Least wall-clock time between two checkpoints of changed device state to the store, ms (5 s).'),
  alertUpdate: lifecycleConfigSchema.prefault({}).describe('When an open alert gets an update transition.'),
  waterMeter: waterMeterConfigSchema
    .prefault({})
    .describe('Water meters: flow model and the leak, burst, backflow, no-consumption detectors.'),
  parkingMeter: parkingMeterConfigSchema
    .prefault({})
    .describe('Parking meters: the fault detector (active fault codes from fault, fault-cleared and payment events).'),
  sensor: z
    .strictObject({ anomaly: anomaly.configSchema.prefault({}).describe('anomaly detector (sensor kind).') })
    .prefault({})
    .describe('Sensors: the streaming anomaly detector per (device, metric).'),
  streetlight: streetlightConfigSchema
    .prefault({})
    .describe(
      'Streetlights: expected-state model (sun, dimming profile) and the lamp-out, day-burner, power-anomaly detectors.',
    ),
  bikeStation: bikeStationConfigSchema
    .prefault({})
    .describe('Bike-share stations: the day window and the station-empty, station-full detectors.'),
  carPark: carParkConfigSchema.prefault({}).describe('Car parks: the car-park-full detector.'),
  deviceFlag: deviceFlag.configSchema.prefault({}).describe('device-flag detector (every kind).'),
  lowBattery: lowBattery.configSchema.prefault({}).describe('low-battery detector (every kind).'),
  noData: noData.configSchema.prefault({}).describe('no-data detector (every kind).'),
});
/** The processors' configuration, parsed. */
export type ProcessorsConfig = z.output<typeof processorsConfigSchema>;

/** One registered detector: its module and where its settings live in {@link ProcessorsConfig}. */
interface Registered {
  readonly name: string;
  readonly build: (config: ProcessorsConfig) => AnyDetector;
}

/** Every detector, alphabetical by name. */
export const DETECTORS: readonly Registered[] = [
  { name: anomaly.name, build: (c) => anomaly.create(c.sensor.anomaly) },
  { name: backflow.name, build: (c) => backflow.create(c.waterMeter.backflow) },
  { name: burst.name, build: (c) => burst.create(c.waterMeter.burst) },
  { name: carParkFull.name, build: (c) => carParkFull.create(c.carPark['car-park-full']) },
  { name: dayBurner.name, build: (c) => dayBurner.create(c.streetlight['day-burner']) },
  { name: deviceFlag.name, build: (c) => deviceFlag.create(c.deviceFlag) },
  { name: fault.name, build: (c) => fault.create(c.parkingMeter.fault) },
  { name: lampOut.name, build: (c) => lampOut.create(c.streetlight['lamp-out']) },
  { name: leak.name, build: (c) => leak.create(c.waterMeter.leak) },
  { name: lowBattery.name, build: (c) => lowBattery.create(c.lowBattery) },
  { name: noConsumption.name, build: (c) => noConsumption.create(c.waterMeter['no-consumption']) },
  { name: noData.name, build: (c) => noData.create(c.noData) },
  { name: powerAnomaly.name, build: (c) => powerAnomaly.create(c.streetlight['power-anomaly']) },
  { name: stationEmpty.name, build: (c) => stationEmpty.create(c.bikeStation['station-empty']) },
  { name: stationFull.name, build: (c) => stationFull.create(c.bikeStation['station-full']) },
];

/** Builds every detector from the configuration, in registry order. */
export function buildDetectors(config: ProcessorsConfig): AnyDetector[] {
  return DETECTORS.map((d) => d.build(config));
}

/** Builds the model of each kind that has one. */
export function buildModels(config: ProcessorsConfig): Partial<Record<Kind, AnyKindModel>> {
  return {
    'water-meter': waterMeterModel(config.waterMeter.model),
    streetlight: streetlightModel(config.streetlight.model),
    'bike-station': bikeStationModel(config.bikeStation.model),
    'car-park': carParkModel(config.carPark.model),
  };
}
