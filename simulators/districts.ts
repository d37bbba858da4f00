/**
 * Where the simulated fleet stands: Mulhouse (47.75 N, 7.34 E), spread over six of its quartiers, so the rollups
 * by district and the map have something to show. Drawn from the seed and the device id: the same fleet always
 * stands in the same places, and one device's place does not depend on how many others there are.
 * Centres are approximate (OpenStreetMap, read by eye); each device lands within about 400 m of its quartier's.
 */
import { rng } from './random.ts';

/**
 * Mulhouse quartiers used as districts (core/contracts District ids), with their approximate centres and the
 * parking tariff zone of their meters — a zone of services/parking's example table (rouge: hypercentre, orange:
 * around it, vert: outskirts), which the parking service's tests check.
 */
export const DEMO_DISTRICTS: readonly {
  readonly id: string;
  readonly lat: number;
  readonly lon: number;
  readonly parkingZone: string;
}[] = [
  { id: 'centre', lat: 47.7475, lon: 7.339, parkingZone: 'rouge' },
  { id: 'rebberg', lat: 47.7365, lon: 7.3315, parkingZone: 'orange' },
  { id: 'dornach', lat: 47.7485, lon: 7.3065, parkingZone: 'vert' },
  { id: 'bourtzwiller', lat: 47.772, lon: 7.3235, parkingZone: 'vert' },
  { id: 'coteaux', lat: 47.739, lon: 7.3085, parkingZone: 'vert' },
  { id: 'drouot', lat: 47.756, lon: 7.357, parkingZone: 'orange' },
];

/** The parking tariff zone of a demo district (undefined for a district not in {@link DEMO_DISTRICTS}). */
export function demoParkingZone(district: string): string | undefined {
  return DEMO_DISTRICTS.find((d) => d.id === district)?.parkingZone;
}

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

/** Most lamps on one feeder cabinet (circuit): a district's lamps are shared out in circuits of 20–40. */
const MAX_LAMPS_PER_CIRCUIT = 40;

/**
 * The circuit (feeder cabinet) of each lamp of a fleet, by 0-based index: `C-<district>-<n>` (n from 01), the
 * lamps of one circuit all in one district (their {@link demoLocation}), each district's lamps split evenly, in id
 * order, into ceil(count / 40) circuits (20–40 lamps each once a district has 40 or more).
 */
export function streetlightCircuits(seed: string | number, deviceIds: readonly string[]): string[] {
  const byDistrict = new Map<string, number[]>();
  deviceIds.forEach((id, i) => {
    const d = demoLocation(seed, id).district;
    const list = byDistrict.get(d);
    if (list) list.push(i);
    else byDistrict.set(d, [i]);
  });
  const out = new Array<string>(deviceIds.length);
  for (const [district, lamps] of byDistrict) {
    const circuits = Math.max(1, Math.ceil(lamps.length / MAX_LAMPS_PER_CIRCUIT));
    lamps.forEach((index, rank) => {
      const n = Math.floor((rank * circuits) / lamps.length) + 1;
      out[index] = `C-${district}-${String(n).padStart(2, '0')}`;
    });
  }
  return out;
}
