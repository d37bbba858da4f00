import { createHash } from 'node:crypto';
import type { DeviceEvent, Kind, Reading } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { BikeStationSim } from './bike-station.ts';
import { CarParkSim } from './car-park.ts';
import { CarShareSim } from './car-share.ts';
import { demoLocation, demoParkingZone, streetlightCircuits } from './districts.ts';
import { type DeviceSim, oneReadingPerSlot, type SimMessage } from './message.ts';
import { ParkingMeterSim } from './parking-meter.ts';
import {
  deviceIdFor,
  effectiveRun,
  type RunOptions,
  resolveFaults,
  type Scenario,
  sensorProfileOf,
} from './scenario.ts';
import { SensorSim } from './sensor.ts';
import { StreetlightSim } from './streetlight.ts';
import { WaterMeterSim } from './water-meter.ts';

/**
 * The pure fleet generator: every device of a scenario (its kind's model), stepped slot by slot in time order. It
 * is what `runFleet` publishes over MQTT, so tests, replay fixtures and the benchmark see exactly the messages a
 * live run sends. Each slot of `intervalMinutes` collects every device's messages with event times in it (readings
 * at the boundary plus the device's offset, events anywhere in it) and yields them sorted by time: the stream is
 * in time order across the fleet.
 */

/** Options of {@link generateMessages}, {@link generateReadings}, {@link generateEvents} and {@link generateRecords}. */
export interface GenerateOptions extends RunOptions {
  readonly scenario: Scenario;
  /** End of the run (exclusive), epoch ms; absent = never ends (iterate lazily). */
  readonly endMs?: number;
}

/** A fleet ready to step: its devices sorted by their offset in the interval. */
export interface FleetPlan {
  readonly kind: Kind;
  readonly devices: readonly DeviceSim[];
  /** The same devices (kept under the name water-meter callers know). */
  readonly meters: readonly DeviceSim[];
  readonly intervalMs: number;
  readonly startMs: number;
  readonly seed: string;
}

/** Adapts a water meter (stepped at its reading times) to {@link DeviceSim}. */
function waterDevice(meter: WaterMeterSim, startMs: number): DeviceSim {
  return {
    deviceId: meter.deviceId,
    offsetMs: meter.offsetMs,
    messagesIn: (slotMs) => oneReadingPerSlot(meter, slotMs, startMs),
  };
}

/** Builds the devices of a scenario (faults assigned, households, lamps, meters or sensors drawn). */
export function planFleet(scenario: Scenario, options: RunOptions = {}): FleetPlan {
  const { devices: count, seed, startMs } = effectiveRun(scenario, options);
  const faults = resolveFaults(scenario, options);
  const intervalMs = scenario.intervalMinutes * 60_000;
  const kind = scenario.kind;
  const ids = Array.from({ length: count }, (_, i) => deviceIdFor(i, kind));
  const circuits = kind === 'streetlight' ? streetlightCircuits(seed, ids) : [];
  const common = (deviceId: string) => ({
    deviceId,
    seed,
    timeZone: scenario.timeZone,
    intervalMs,
    startMs,
    faults: faults.get(deviceId) ?? [],
  });
  const devices: DeviceSim[] = ids.map((deviceId, i): DeviceSim => {
    switch (kind) {
      case 'water-meter':
        return waterDevice(new WaterMeterSim({ ...common(deviceId), flowMetric: scenario.flowMetric }), startMs);
      case 'streetlight':
        return new StreetlightSim({
          ...common(deviceId),
          lat: scenario.lat,
          lon: scenario.lon,
          ratedW: scenario.ratedW,
          circuit: circuits[i] as string,
        });
      case 'parking-meter':
        return new ParkingMeterSim({ ...common(deviceId), tariffCentsPerHour: scenario.tariffCentsPerHour });
      case 'sensor':
        return new SensorSim({
          ...common(deviceId),
          profile: sensorProfileOf(scenario, seed, i),
          riverRain: scenario.riverRain,
        });
      case 'bike-station':
        return new BikeStationSim(common(deviceId));
      case 'car-share':
        return new CarShareSim(common(deviceId));
      case 'car-park':
        return new CarParkSim(common(deviceId));
      default:
        throw new AppError('ERR_SCENARIO_INVALID', `kind: ${String(kind)} (no simulator for it)`);
    }
  });
  devices.sort((a, b) => a.offsetMs - b.offsetMs || (a.deviceId < b.deviceId ? -1 : 1));
  return { kind, devices, meters: devices, intervalMs, startMs, seed };
}

/**
 * Every message of the fleet from the run start up to `endMs`, in time order: readings (malformed ones with their
 * broken bytes) and events. Silent devices yield nothing.
 */
export function* generateMessages(options: GenerateOptions): Generator<SimMessage, void, undefined> {
  const plan = planFleet(options.scenario, options);
  yield* stepFleet(plan, options.endMs);
}

/** Steps a planned fleet from its start; see {@link generateMessages}. */
export function* stepFleet(plan: FleetPlan, endMs = Number.POSITIVE_INFINITY): Generator<SimMessage, void, undefined> {
  if (plan.devices.length === 0) return;
  for (let slot = Math.floor(plan.startMs / plan.intervalMs) * plan.intervalMs; slot < endMs; slot += plan.intervalMs) {
    const batch: SimMessage[] = [];
    for (const device of plan.devices) {
      for (const m of device.messagesIn(slot)) if (m.tsMs >= plan.startMs && m.tsMs < endMs) batch.push(m);
    }
    // Stable: devices are in offset order, so readings of one instant keep it.
    if (batch.length > 1) batch.sort((a, b) => a.tsMs - b.tsMs);
    yield* batch;
  }
}

/**
 * Canonical readings (core/contracts Reading) of the fleet in time order, from `startMs` (default the scenario's
 * startTs) to `endMs` (exclusive). Malformed messages and events are left out (see generateMessages).
 */
export function* generateReadings(options: GenerateOptions): Generator<Reading, void, undefined> {
  for (const m of generateMessages(options)) if (m.reading && !m.malformed) yield m.reading;
}

/** Device events (core/contracts DeviceEvent: payments, faults) of the fleet in time order. */
export function* generateEvents(options: GenerateOptions): Generator<DeviceEvent, void, undefined> {
  for (const m of generateMessages(options)) if (m.event) yield m.event;
}

/** One record of a replay file: a reading or a device event. */
export type SimRecord = { readonly reading: Reading } | { readonly event: DeviceEvent };

/**
 * Readings and events together in time order, for replay files (`vigie replay` reads both, one JSON object per
 * line: write `record.reading` or `record.event`). Malformed messages are left out.
 */
export function* generateRecords(options: GenerateOptions): Generator<SimRecord, void, undefined> {
  for (const m of generateMessages(options)) {
    if (m.event) yield { event: m.event };
    else if (!m.malformed) yield { reading: m.reading };
  }
}

/** One device's identity in the registry. */
export interface DeviceCredential {
  readonly deviceId: string;
  readonly kind: Kind;
  /** MQTT password; derived from the seed, so the CLI can provision the registry before the fleet connects. */
  readonly secret: string;
  /** The gateway this device publishes through (only with `gatewaySize` > 1). */
  readonly gatewayId?: string;
  /** Its Mulhouse quartier and position (WGS 84), drawn from the seed (simulators/districts.ts). */
  readonly district?: string;
  readonly lat?: number;
  readonly lon?: number;
  /**
   * Streetlights: the feeder cabinet, `C-<district>-<n>` (20–40 lamps, all in its district); parking meters: their
   * tariff zone (the district's, {@link demoParkingZone}), which the parking service reads as the meter's zone.
   */
  readonly circuit?: string;
}

/** Id of the gateway of a 0-based meter index: meters 1…size behind `GW-000001`, the next size behind `GW-000002`… */
export function gatewayIdFor(index: number, gatewaySize: number): string {
  return `GW-${String(Math.floor(index / gatewaySize) + 1).padStart(6, '0')}`;
}

/**
 * Credentials of a simulated fleet of `kind` (default water-meter): `WM-000001`… (`SL-`, `PM-`, `SN-`, `BS-`, `CS-`,
 * `CP-` for the other kinds) with a secret derived (SHA-256) from the seed and the id, a district and position in Mulhouse drawn from
 * them ({@link demoLocation}), for streetlights their circuit ({@link streetlightCircuits}) and for parking meters
 * their tariff zone as circuit. With `gatewaySize`
 * > 1 (devices per gateway; default 1 = no gateways), the gateways `GW-000001`… come first (they are registered
 * devices too, of the fleet's kind) and each device names its gateway.
 */
export function fleetCredentials(options: {
  seed: string | number;
  devices: number;
  gatewaySize?: number;
  kind?: Kind;
}): DeviceCredential[] {
  const gatewaySize = options.gatewaySize ?? 1;
  const kind = options.kind ?? 'water-meter';
  if (!Number.isInteger(gatewaySize) || gatewaySize < 1) {
    throw new AppError('ERR_CONFIG_INVALID', `gatewaySize: ${gatewaySize} (an integer ≥ 1, devices per connection)`);
  }
  const credential = (deviceId: string): DeviceCredential => ({
    deviceId,
    kind,
    secret: createHash('sha256').update(`vigie-sim|${options.seed}|${deviceId}`).digest('base64url').slice(0, 32),
    ...demoLocation(options.seed, deviceId),
  });
  const ids = Array.from({ length: options.devices }, (_, i) => deviceIdFor(i, kind));
  const circuits =
    kind === 'streetlight'
      ? streetlightCircuits(options.seed, ids)
      : kind === 'parking-meter'
        ? ids.map((id) => demoParkingZone(demoLocation(options.seed, id).district))
        : undefined;
  const devices = ids.map((id, i) =>
    circuits ? { ...credential(id), circuit: circuits[i] as string } : credential(id),
  );
  if (gatewaySize === 1) return devices;
  const gateways = Array.from({ length: Math.ceil(options.devices / gatewaySize) }, (_, g) =>
    credential(gatewayIdFor(g * gatewaySize, gatewaySize)),
  );
  return [...gateways, ...devices.map((m, i) => ({ ...m, gatewayId: gatewayIdFor(i, gatewaySize) }))];
}
