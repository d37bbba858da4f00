/**
 * The district of each water meter, from `devices.v1` (compacted, key deviceId; the last record of a key is the
 * device's description). Every instance reads the whole topic from the beginning, in a consumer group of its own
 * (`<groupId>-devices-<random>`), and keeps deviceId → district for water meters placed in a district (≈ 100 bytes
 * each); a meter it does not know is in `unassigned`.
 *
 * Limits: the district is the one known when a meter's rollup is made, so a meter moved to another district counts
 * there from then on; and a meter registered after its readings were rolled up stays `unassigned` for those. At
 * start, readings wait until devices.v1 has been read ({@link DeviceDistricts.ready}: quiet for 500 ms after the
 * last batch, or `devicesWarmupMs` at most), so a restart does not file known meters as unassigned. The per-start
 * consumer groups are left to Kafka's offset retention (7 days by default) to remove.
 */
import { randomUUID } from 'node:crypto';
import type { Bus, Subscription } from '../../core/bus/port.ts';
import { DeviceInfo, TOPICS, UNASSIGNED_DISTRICT } from '../../core/contracts/index.ts';
import { preview } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';

/** Quiet time after the last batch of devices.v1 that ends the start-up wait, ms. */
const QUIET_MS = 500;

/** The deviceId → district map kept from devices.v1. */
export interface DeviceDistricts {
  /** Subscribes to devices.v1 from the beginning. */
  start(): Promise<void>;
  /** Resolves once devices.v1 has been read (quiet for 500 ms), or after `warmupMs`. */
  ready(warmupMs: number): Promise<void>;
  /** The meter's district, or `unassigned`. */
  districtOf(deviceId: string): string;
  /** Meters placed in a district. */
  size(): number;
  close(): Promise<void>;
}

/** Creates the deviceId → district map; `groupId` prefixes its own per-instance consumer group. */
export function createDeviceDistricts(options: {
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly groupId: string;
}): DeviceDistricts {
  const { bus, logger, metrics } = options;
  const districts = new Map<string, string>();
  const invalid = metrics.counter(
    'rollup_device_infos_invalid_total',
    'Records of devices.v1 that are not a device description, ignored (logged).',
  );
  const known = metrics.gauge('rollup_device_districts', 'Water meters with a known district.');
  let subscription: Subscription | undefined;
  let lastBatchMs: number | undefined;

  return {
    async start() {
      await bus.ensureTopic(TOPICS.devices, { compacted: true });
      subscription = await bus.subscribe({
        groupId: `${options.groupId}-devices-${randomUUID().slice(0, 8)}`,
        topics: [TOPICS.devices],
        fromBeginning: true,
        handler: async (messages) => {
          for (const m of messages) {
            let info: DeviceInfo;
            try {
              info = DeviceInfo.parse(JSON.parse(m.value));
            } catch (err) {
              invalid.inc();
              logger.error({ err, key: m.key, value: preview(m.value) }, 'devices.v1 record unreadable; ignored');
              continue;
            }
            if (info.kind === 'water-meter' && info.district && info.district !== UNASSIGNED_DISTRICT) {
              districts.set(info.deviceId, info.district);
            } else {
              districts.delete(info.deviceId);
            }
          }
          known.set(districts.size);
          lastBatchMs = Date.now();
        },
      });
    },

    async ready(warmupMs) {
      const deadline = Date.now() + warmupMs;
      for (;;) {
        const now = Date.now();
        if (now >= deadline) return;
        if (lastBatchMs !== undefined && now - lastBatchMs >= QUIET_MS) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },

    districtOf: (deviceId) => districts.get(deviceId) ?? UNASSIGNED_DISTRICT,
    size: () => districts.size,

    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
