/**
 * The district (and, for streetlights, the circuit) of each device, from `devices.v1` (compacted, key deviceId; the
 * last record of a key is the device's description). Every instance reads the whole topic from the beginning, in a
 * consumer group of its own (`<groupId>-devices-<random>`), and keeps deviceId → place for the devices rolled up
 * (water meters, streetlights, parking meters) placed in a district or on a circuit (≈ 100 bytes each); a device it
 * does not know is in `unassigned` (and on circuit `unassigned`).
 *
 * Limits: the place is the one known when a device's rollup is made, so a device moved counts there from then on;
 * and a device registered after its readings were rolled up stays `unassigned` for those. At
 * start, readings wait until devices.v1 has been read ({@link DeviceDistricts.ready}: quiet for 500 ms after the
 * last batch, or `devicesWarmupMs` at most), so a restart does not file known meters as unassigned. The per-start
 * consumer groups are left to Kafka's offset retention (7 days by default) to remove.
 */
import { randomUUID } from 'node:crypto';
import type { Bus, Subscription } from '../../core/bus/port.ts';
import { DeviceInfo, type Kind, TOPICS, UNASSIGNED_DISTRICT } from '../../core/contracts/index.ts';
import { preview } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { Place } from './ordered-rollups.ts';

/** The kinds whose devices the rollups place in districts (and circuits). */
const PLACED_KINDS: ReadonlySet<Kind> = new Set(['water-meter', 'streetlight', 'parking-meter']);

/** Quiet time after the last batch of devices.v1 that ends the start-up wait, ms. */
const QUIET_MS = 500;

/** The deviceId → place map kept from devices.v1. */
export interface DeviceDistricts {
  /** Subscribes to devices.v1 from the beginning. */
  start(): Promise<void>;
  /** Resolves once devices.v1 has been read (quiet for 500 ms), or after `warmupMs`. */
  ready(warmupMs: number): Promise<void>;
  /** Ends a `ready` wait at once (the stage is closing before it started). */
  stopWaiting(): void;
  /** The device's district, or `unassigned`. */
  districtOf(deviceId: string): string;
  /** The device's district and circuit (`unassigned` when unknown; the circuit only when the registry gives one). */
  placeOf(deviceId: string): Place;
  /** Devices placed in a district or on a circuit. */
  size(): number;
  close(): Promise<void>;
}

/** Creates the deviceId → place map; `groupId` prefixes its own per-instance consumer group. */
export function createDeviceDistricts(options: {
  readonly bus: Bus;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly groupId: string;
}): DeviceDistricts {
  const { bus, logger, metrics } = options;
  const places = new Map<string, Place>();
  const unassigned: Place = { district: UNASSIGNED_DISTRICT };
  const invalid = metrics.counter(
    'rollup_device_infos_invalid_total',
    'Records of devices.v1 that are not a device description, ignored (logged).',
  );
  const known = metrics.gauge('rollup_device_districts', 'Devices rolled up with a known district or circuit.');
  let subscription: Subscription | undefined;
  let lastBatchMs: number | undefined;
  let waitStopped = false;

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
            const district = info.district && info.district !== UNASSIGNED_DISTRICT ? info.district : undefined;
            const circuit = info.kind === 'streetlight' ? info.circuit : undefined;
            if (PLACED_KINDS.has(info.kind) && (district || circuit)) {
              places.set(info.deviceId, {
                district: district ?? UNASSIGNED_DISTRICT,
                ...(circuit ? { circuit } : {}),
              });
            } else {
              places.delete(info.deviceId);
            }
          }
          known.set(places.size);
          lastBatchMs = Date.now();
        },
      });
    },

    async ready(warmupMs) {
      const deadline = Date.now() + warmupMs;
      for (;;) {
        const now = Date.now();
        if (now >= deadline || waitStopped) return;
        if (lastBatchMs !== undefined && now - lastBatchMs >= QUIET_MS) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },

    stopWaiting() {
      waitStopped = true;
    },

    districtOf: (deviceId) => (places.get(deviceId) ?? unassigned).district,
    placeOf: (deviceId) => places.get(deviceId) ?? unassigned,
    size: () => places.size,

    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
