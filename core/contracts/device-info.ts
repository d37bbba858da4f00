import { z } from 'zod';
import { DeviceId, Kind } from './device.ts';
import { IsoTime } from './time.ts';

/** A district (district metered area, lighting sector): 1–64 of A–Z, a–z, 0–9, ".", "_", "-". */
export const District = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a district is 1–64 characters of A–Z, a–z, 0–9, ".", "_", "-"');
/** A district. */
export type District = z.infer<typeof District>;

/**
 * A circuit: the feeder cabinet (armoire) a streetlight hangs on, or any group of devices switched or served
 * together; same characters as a district.
 */
export const Circuit = District;

/** District of a device the registry places nowhere (rollups still count it, under this name). */
export const UNASSIGNED_DISTRICT = 'unassigned';

/**
 * What the device registry says about a device, on `devices.v1` (key deviceId, compacted: the last record of a key
 * is the device's current description). `active` is false once revoked or removed. `lat`/`lon` are WGS 84 degrees.
 */
export const DeviceInfo = z.strictObject({
  deviceId: DeviceId,
  kind: Kind,
  district: District.optional(),
  /** Streetlights: the feeder cabinet (circuit) the lamp hangs on; parking meters: their tariff zone. */
  circuit: Circuit.optional(),
  lat: z.number().min(-90).max(90).optional(),
  lon: z.number().min(-180).max(180).optional(),
  active: z.boolean(),
  /** When the registry last changed the device (wall clock). */
  updatedAt: IsoTime,
});
/** A device's description. */
export type DeviceInfo = z.output<typeof DeviceInfo>;
