import type { Bus, Subscription } from '../core/bus/port.ts';
import { DeviceInfo, TOPICS, UNASSIGNED_DISTRICT } from '../core/contracts/index.ts';
import { preview } from '../core/errors.ts';
import { type Logger, rateLimited } from '../core/logging.ts';
import type { Metrics } from '../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../core/store/store.ts';

/**
 * Where each device is, for the alerting stage: `devices.v1` (compacted; the last record of a key is the device's
 * description) kept in `alerting_devices`, in one consumer group shared by every alerting instance
 * (`alerting-devices`: the table is shared too). The district groups operator messages and is what silences and
 * maintenance windows match. A record older than the one stored (its `updatedAt`) changes nothing, so a redelivery
 * cannot move a device back. A device never described is in `unassigned`.
 */

/** The consumer group of the alerting stage's copy of devices.v1. */
export const DEVICE_PLACES_GROUP_ID = 'alerting-devices';

/** The running copy of devices.v1. */
export interface DevicePlaces {
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Keeps `alerting_devices` up to date from devices.v1. */
export function createDevicePlaces(deps: {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
}): DevicePlaces {
  const { bus, store, logger, metrics } = deps;
  const invalid = metrics.counter(
    'alerting_device_infos_invalid_total',
    'Records of devices.v1 that are not a device description: ignored and logged',
  );
  const logInvalid = rateLimited(10_000);
  let subscription: Subscription | undefined;
  return {
    async start() {
      await bus.ensureTopic(TOPICS.devices, { compacted: true });
      subscription = await bus.subscribe({
        groupId: DEVICE_PLACES_GROUP_ID,
        topics: [TOPICS.devices],
        fromBeginning: true,
        handler: async (messages) => {
          for (const m of messages) {
            const parsed = DeviceInfo.safeParse(safeJson(m.value));
            if (!parsed.success) {
              invalid.inc();
              logInvalid(() =>
                logger.error({ key: m.key, value: preview(m.value) }, 'devices.v1 record unreadable; ignored'),
              );
              continue;
            }
            const d = parsed.data;
            await store.query(
              `INSERT INTO alerting_devices (device_id, kind, district, active, updated_at)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (device_id) DO UPDATE
                 SET kind = EXCLUDED.kind, district = EXCLUDED.district, active = EXCLUDED.active,
                     updated_at = EXCLUDED.updated_at
                 WHERE alerting_devices.updated_at <= EXCLUDED.updated_at`,
              [d.deviceId, d.kind, d.district ?? null, d.active, d.updatedAt],
            );
          }
        },
      });
    },
    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}

/** The district of a device, or `unassigned`. */
export async function districtOf(db: SqlExecutor, deviceId: string): Promise<string> {
  const res = await db.query<{ district: string | null }>(
    'SELECT district FROM alerting_devices WHERE device_id = $1',
    [deviceId],
  );
  return res.rows[0]?.district ?? UNASSIGNED_DISTRICT;
}

function safeJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}
