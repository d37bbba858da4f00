import { createHash } from 'node:crypto';
import type { Kind, Reading } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { demoLocation } from './districts.ts';
import { deviceIdFor, effectiveRun, type RunOptions, resolveFaults, type Scenario } from './scenario.ts';
import { type SimMessage, WaterMeterSim } from './water-meter.ts';

/**
 * The pure fleet generator: every meter of a scenario, stepped slot by slot in time order. It is what `runFleet`
 * publishes over MQTT, so tests, replay fixtures and the benchmark see exactly the readings a live run sends.
 */

/** Options of {@link generateMessages} and {@link generateReadings}. */
export interface GenerateOptions extends RunOptions {
  readonly scenario: Scenario;
  /** End of the run (exclusive), epoch ms; absent = never ends (iterate lazily). */
  readonly endMs?: number;
}

/** A fleet ready to step: its meters sorted by their offset in the interval. */
export interface FleetPlan {
  readonly meters: readonly WaterMeterSim[];
  readonly intervalMs: number;
  readonly startMs: number;
  readonly seed: string;
}

/** Builds the meters of a scenario (faults assigned, households drawn). */
export function planFleet(scenario: Scenario, options: RunOptions = {}): FleetPlan {
  const { devices, seed, startMs } = effectiveRun(scenario, options);
  const faults = resolveFaults(scenario, options);
  const intervalMs = scenario.intervalMinutes * 60_000;
  const meters = Array.from({ length: devices }, (_, i) => {
    const deviceId = deviceIdFor(i);
    return new WaterMeterSim({
      deviceId,
      seed,
      timeZone: scenario.timeZone,
      intervalMs,
      startMs,
      faults: faults.get(deviceId) ?? [],
      flowMetric: scenario.flowMetric,
    });
  });
  meters.sort((a, b) => a.offsetMs - b.offsetMs || (a.deviceId < b.deviceId ? -1 : 1));
  return { meters, intervalMs, startMs, seed };
}

/**
 * Every message of the fleet from the run start up to `endMs`, in time order (reading times are the interval
 * boundaries plus each meter's offset, which is below a minute, so slot-major order is time order).
 * Silent meters yield nothing; malformed messages carry their broken bytes.
 */
export function* generateMessages(options: GenerateOptions): Generator<SimMessage, void, undefined> {
  const plan = planFleet(options.scenario, options);
  yield* stepFleet(plan, options.endMs);
}

/** Steps a planned fleet from its start; see {@link generateMessages}. */
export function* stepFleet(plan: FleetPlan, endMs = Number.POSITIVE_INFINITY): Generator<SimMessage, void, undefined> {
  if (plan.meters.length === 0) return;
  for (let slot = Math.floor(plan.startMs / plan.intervalMs) * plan.intervalMs; ; slot += plan.intervalMs) {
    for (const meter of plan.meters) {
      const ts = slot + meter.offsetMs;
      if (ts < plan.startMs) continue;
      if (ts >= endMs) return;
      const message = meter.step(ts);
      if (message) yield message;
    }
  }
}

/**
 * Canonical readings (core/contracts Reading) of the fleet in time order, from `startMs` (default the scenario's
 * startTs) to `endMs` (exclusive). Malformed messages are left out: they are not readings (see generateMessages).
 */
export function* generateReadings(options: GenerateOptions): Generator<Reading, void, undefined> {
  for (const m of generateMessages(options)) if (!m.malformed) yield m.reading;
}

/** One device's identity in the registry. */
export interface DeviceCredential {
  readonly deviceId: string;
  readonly kind: Kind;
  /** MQTT password; derived from the seed, so the CLI can provision the registry before the fleet connects. */
  readonly secret: string;
  /** The gateway this meter publishes through (only with `gatewaySize` > 1). */
  readonly gatewayId?: string;
  /** Its Mulhouse quartier and position (WGS 84), drawn from the seed (simulators/districts.ts). */
  readonly district?: string;
  readonly lat?: number;
  readonly lon?: number;
}

/** Id of the gateway of a 0-based meter index: meters 1…size behind `GW-000001`, the next size behind `GW-000002`… */
export function gatewayIdFor(index: number, gatewaySize: number): string {
  return `GW-${String(Math.floor(index / gatewaySize) + 1).padStart(6, '0')}`;
}

/**
 * Credentials of a simulated fleet: `WM-000001`… with a secret derived (SHA-256) from the seed and the id, and a
 * district and position in Mulhouse drawn from them ({@link demoLocation}). With
 * `gatewaySize` > 1 (meters per gateway; default 1 = no gateways), the gateways `GW-000001`… come first (they are
 * registered devices too, of the fleet's kind) and each meter names its gateway.
 */
export function fleetCredentials(options: {
  seed: string | number;
  devices: number;
  gatewaySize?: number;
}): DeviceCredential[] {
  const gatewaySize = options.gatewaySize ?? 1;
  if (!Number.isInteger(gatewaySize) || gatewaySize < 1) {
    throw new AppError('ERR_CONFIG_INVALID', `gatewaySize: ${gatewaySize} (an integer ≥ 1, meters per connection)`);
  }
  const credential = (deviceId: string) => ({
    deviceId,
    kind: 'water-meter' as const,
    secret: createHash('sha256').update(`vigie-sim|${options.seed}|${deviceId}`).digest('base64url').slice(0, 32),
    ...demoLocation(options.seed, deviceId),
  });
  const meters = Array.from({ length: options.devices }, (_, i) => credential(deviceIdFor(i)));
  if (gatewaySize === 1) return meters;
  const gateways = Array.from({ length: Math.ceil(options.devices / gatewaySize) }, (_, g) =>
    credential(gatewayIdFor(g * gatewaySize, gatewaySize)),
  );
  return [...gateways, ...meters.map((m, i) => ({ ...m, gatewayId: gatewayIdFor(i, gatewaySize) }))];
}
