/** The simulators' public API: scenarios, the pure generator, the MQTT fleet, the models and seeded randomness. */
export { BikeStationSim, fillTarget, type StationRole } from './bike-station.ts';
export { CarParkSim, occupancyTarget } from './car-park.ts';
export { CarShareSim, tripRatePerHour } from './car-share.ts';
export { DEMO_DISTRICTS, demoLocation, streetlightCircuits } from './districts.ts';
export { type Fleet, type FleetOptions, type FleetStats, runFleet } from './fleet.ts';
export {
  type DeviceCredential,
  type FleetPlan,
  fleetCredentials,
  type GenerateOptions,
  gatewayIdFor,
  generateEvents,
  generateMessages,
  generateReadings,
  generateRecords,
  planFleet,
  type SimRecord,
  stepFleet,
} from './generate.ts';
export {
  type DeviceSim,
  type EventMessage,
  OVERSIZED_PAYLOAD_BYTES,
  payloadOf,
  type ReadingMessage,
  type SimMessage,
} from './message.ts';
export { isPaidTime, ParkingMeterSim, paymentWeight } from './parking-meter.ts';
export { hash32, Random, rng } from './random.ts';
export {
  BUILTIN_SCENARIOS,
  DEFAULT_SCENARIO_BY_KIND,
  DEVICE_ID_PREFIX,
  type DeviceGroundTruth,
  deviceIdFor,
  deviceIndex,
  FAULTS_BY_KIND,
  type FaultInstance,
  FaultSpec,
  type FaultType,
  type GroundTruthFault,
  groundTruth,
  isActive,
  loadScenario,
  type MalformedSort,
  Offset,
  parseIsoDurationMs,
  parseScenario,
  type RunOptions,
  resolveFaults,
  SCENARIO_DIR,
  Scenario,
  type ScenarioInput,
} from './scenario.ts';
export { SensorSim } from './sensor.ts';
export { SENSOR_METRICS, SENSOR_PROFILES, type SensorProfile } from './sensor-profiles.ts';
export { dimLevelAt, STREETLIGHT_DIMMING_PROFILE, StreetlightSim } from './streetlight.ts';
export {
  drawHousehold,
  type Household,
  localDayOf,
  localHourOf,
  localMidnightMs,
  REST_WINDOW_MINUTES,
  WaterMeterSim,
  zoneOffsetMs,
} from './water-meter.ts';
