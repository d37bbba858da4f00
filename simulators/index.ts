/** The simulators' public API: scenarios, the pure generator, the MQTT fleet and seeded randomness. */
export { DEMO_DISTRICTS, demoLocation } from './districts.ts';
export { type Fleet, type FleetOptions, type FleetStats, runFleet } from './fleet.ts';
export {
  type DeviceCredential,
  type FleetPlan,
  fleetCredentials,
  type GenerateOptions,
  gatewayIdFor,
  generateMessages,
  generateReadings,
  planFleet,
  stepFleet,
} from './generate.ts';
export { hash32, Random, rng } from './random.ts';
export {
  BUILTIN_SCENARIOS,
  type DeviceGroundTruth,
  deviceIdFor,
  deviceIndex,
  type FaultInstance,
  FaultSpec,
  type FaultType,
  type GroundTruthFault,
  groundTruth,
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
export {
  drawHousehold,
  type Household,
  localDayOf,
  localHourOf,
  localMidnightMs,
  OVERSIZED_PAYLOAD_BYTES,
  payloadOf,
  REST_WINDOW_MINUTES,
  type SimMessage,
  WaterMeterSim,
  zoneOffsetMs,
} from './water-meter.ts';
