/**
 * Where the simulated fleet stands: Mulhouse (47.75 N, 7.34 E), spread over six of its quartiers, so the rollups
 * by district and the map have something to show. Drawn from the seed and the device id: the same fleet always
 * stands in the same places, and one device's place does not depend on how many others there are.
 * Centres are approximate (OpenStreetMap, read by eye); each device lands within about 400 m of its quartier's.
 */
import { rng } from './random.ts';

/** Mulhouse quartiers used as districts (core/contracts District ids), with their approximate centres. */
export const DEMO_DISTRICTS: readonly { readonly id: string; readonly lat: number; readonly lon: number }[] = [
  { id: 'centre', lat: 47.7475, lon: 7.339 },
  { id: 'rebberg', lat: 47.7365, lon: 7.3315 },
  { id: 'dornach', lat: 47.7485, lon: 7.3065 },
  { id: 'bourtzwiller', lat: 47.772, lon: 7.3235 },
  { id: 'coteaux', lat: 47.739, lon: 7.3085 },
  { id: 'drouot', lat: 47.756, lon: 7.357 },
];

/** Half the side of the square a device is drawn in around its quartier's centre, in degrees (≈ 400 m / 300 m). */
const SPREAD_LAT_DEG = 0.0036;
const SPREAD_LON_DEG = 0.004;

/** A simulated device's district and position (WGS 84 degrees, 5 decimals: about a metre). */
export function demoLocation(seed: string | number, deviceId: string): { district: string; lat: number; lon: number } {
  const random = rng(seed, 'location', deviceId);
  const district = random.pick(DEMO_DISTRICTS);
  const round = (deg: number) => Math.round(deg * 1e5) / 1e5;
  return {
    district: district.id,
    lat: round(district.lat + random.uniform(-SPREAD_LAT_DEG, SPREAD_LAT_DEG)),
    lon: round(district.lon + random.uniform(-SPREAD_LON_DEG, SPREAD_LON_DEG)),
  };
}
