import { rng } from './random.ts';

/**
 * The sensor profiles a `sensor` fleet is made of (data only, so scenario validation can name their metrics without
 * loading the models in sensor.ts). A device's profile is picked from the scenario's `profiles` by its index, in a
 * rotation that starts where the seed says: the fleet gets an even mix whatever its size.
 */

/** Sensor profiles: river level, air quality (NO₂), noise level, Wi-Fi hotspot. */
export const SENSOR_PROFILES = ['river-level', 'air-quality', 'noise', 'wifi'] as const;
/** A sensor profile. */
export type SensorProfile = (typeof SENSOR_PROFILES)[number];

/** The metrics each profile reports, the first being the default target of a sensor fault. */
export const SENSOR_METRICS: Readonly<Record<SensorProfile, readonly string[]>> = {
  'river-level': ['levelCm'],
  'air-quality': ['no2Ugm3'],
  noise: ['noiseDb'],
  wifi: ['clients'],
};

/** The profile of the sensor with 0-based `index` in a fleet of `profiles` (non-empty) for `seed`. */
export function sensorProfileFor(
  seed: string | number,
  index: number,
  profiles: readonly SensorProfile[],
): SensorProfile {
  const rotation = rng(seed, 'sensor-profiles').int(0, profiles.length - 1);
  return profiles[(index + rotation) % profiles.length] as SensorProfile;
}
