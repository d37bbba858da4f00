import { busDeadLetter, type MessageContract, parseBusMessage } from '../../core/bus/dead-letter.ts';
import type { Bus, BusMessage } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { DeviceEvent, type Kind, Reading, Rollup, TOPICS } from '../../core/contracts/index.ts';
import { createLocalCalendar } from '../../core/local-time.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createPartitionedRunner, type PartitionTask, type PendingMessage } from '../partitioned.ts';
import { snapshotsOf } from '../snapshots.ts';
import type { RollupsConfig } from './config.ts';
import { createDeviceDistricts } from './device-districts.ts';
import { createGroupRollups, type GroupScope } from './group-rollups.ts';
import { streetlightKind, UNASSIGNED_CIRCUIT } from './lamp-rollups.ts';
import { waterMeterKind } from './meter-rollups.ts';
import { createOrderedRollups, type OrderedRollups } from './ordered-rollups.ts';
import { createParkingRollups } from './parking.ts';

/**
 * The rollups stage (README.md): readings and payments → hourly and daily rollups per device, circuit and district
 * on `rollups.v1`. Three partitioned consumers with snapshots (../partitioned.ts, the processors' mechanism):
 * 1. devices: {@link ROLLUPS_DEVICE_TOPICS} (group `rollups`) → per-device rollups on `rollups.v1` (key deviceId),
 *    the same records on {@link ROLLUPS_BY_DISTRICT_TOPIC} (key district) and, for streetlights, on
 *    {@link ROLLUPS_BY_CIRCUIT_TOPIC} (key circuit), all before the inputs' offsets commit;
 * 2. districts: {@link ROLLUPS_BY_DISTRICT_TOPIC} (group `rollups-district`) → district rollups on `rollups.v1`
 *    (key district), re-emitted (replacing) as devices add to them;
 * 3. circuits: {@link ROLLUPS_BY_CIRCUIT_TOPIC} (group `rollups-circuit`) → circuit rollups (key circuit), likewise.
 */

/** Consumer group of the device rollups (the districts' is `<group>-district`, the circuits' `<group>-circuit`). */
export const ROLLUPS_GROUP = 'rollups';
/** Internal topic: each device's final rollups keyed by district, so one partition holds all of a district. */
export const ROLLUPS_BY_DISTRICT_TOPIC = 'rollups-by-district.v1';
/** Internal topic: each streetlight's final rollups keyed by circuit, so one partition holds all of a circuit. */
export const ROLLUPS_BY_CIRCUIT_TOPIC = 'rollups-by-circuit.v1';
/** What the device rollups consume: water meters' and streetlights' readings, parking meters' events. */
export const ROLLUPS_DEVICE_TOPICS: readonly string[] = [
  TOPICS.readings('water-meter'),
  TOPICS.readings('streetlight'),
  TOPICS.events('parking-meter'),
];
/** How a device rollup's dead letters name it and its contract. */
const DEVICE_ROLLUP_CONTRACT: MessageContract = {
  what: 'device rollup',
  contract: 'a rollups.v1 record',
  jsonCode: 'ERR_ROLLUP_JSON',
  schemaCode: 'ERR_ROLLUP_SCHEMA',
};

/** Options of {@link createRollups}. */
export interface RollupsOptions {
  readonly bus: Bus;
  /** The operational store with the processors' migrations (their snapshot tables). */
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly config: RollupsConfig;
  /** Consumer group of the devices (default {@link ROLLUPS_GROUP}); the groups' are `<groupId>-district|circuit`. */
  readonly groupId?: string;
  /** Wall clock for checkpoint cadence and dead-letter times only; rollups run on event time. Default: system. */
  readonly clock?: Clock;
}

/** A running rollups stage. */
export interface Rollups {
  /** Reads devices.v1 (at most `devicesWarmupMs`), then consumes readings, events and device rollups. */
  start(): Promise<void>;
  /** Drains and checkpoints the devices, then the districts and circuits, then stops reading devices.v1. */
  close(): Promise<void>;
}

/** The district consumer group of a devices' group. */
export function districtGroupOf(groupId: string): string {
  return `${groupId}-district`;
}

/** The circuit consumer group of a devices' group. */
export function circuitGroupOf(groupId: string): string {
  return `${groupId}-circuit`;
}

/** Every consumer group of the stage and the topics it reads (bus lag, health). */
export function rollupsConsumes(groupId = ROLLUPS_GROUP): { groupId: string; topics: readonly string[] }[] {
  return [
    { groupId, topics: ROLLUPS_DEVICE_TOPICS },
    { groupId: districtGroupOf(groupId), topics: [ROLLUPS_BY_DISTRICT_TOPIC] },
    { groupId: circuitGroupOf(groupId), topics: [ROLLUPS_BY_CIRCUIT_TOPIC] },
  ];
}

/** Creates the rollups stage. */
export function createRollups(options: RollupsOptions): Rollups {
  const { bus, store, metrics, logger, config } = options;
  const groupId = options.groupId ?? ROLLUPS_GROUP;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const calendar = createLocalCalendar(config.timeZone);
  const readingsTotal = metrics.counter(
    'rollup_readings_total',
    'Readings (water meters, streetlights) and events (parking meters) the rollups consumed, per kind.',
    ['kind'],
  );
  const readingsDropped = metrics.counter(
    'rollup_readings_dropped_total',
    'Readings and events the rollups left out on purpose, per kind: duplicate, late, no-index, no-power, ' +
      'not-payment, invalid (dead-lettered by processors).',
    ['kind', 'reason'],
  );
  const periodsSkipped = metrics.counter(
    'rollup_periods_skipped_total',
    'Device hours and days that got no rollup: first (before the first reading), gap, reset.',
    ['kind', 'period', 'reason'],
  );
  const paymentsCut = metrics.counter(
    'rollup_payments_cut_total',
    'Parking payments whose paid time was cut at paymentMaxMinutes (their revenue is kept).',
  );
  const produced = metrics.counter('rollup_records_total', 'Rollups produced to rollups.v1 (again after a replay).', [
    'kind',
    'scope',
    'period',
  ]);
  const contributionsDropped = metrics.counter(
    'rollup_contributions_dropped_total',
    'Device rollups not added to their district or circuit: duplicate (re-sent), late (period expired), invalid.',
    ['scope', 'reason'],
  );
  const deadLettered = metrics.counter(
    'rollup_messages_dead_lettered_total',
    'Messages of the internal rollup topics sent to the dead-letter topic, per error code.',
    ['code'],
  );

  const devices = createDeviceDistricts({ bus, logger, metrics, groupId });

  /** Sends a device's final rollup out: rollups.v1, its district's topic and (streetlights) its circuit's. */
  const emit = (r: Rollup, out: PendingMessage[]) => {
    const value = JSON.stringify(r);
    out.push({ topic: TOPICS.rollups, message: { key: r.deviceId as string, value } });
    out.push({ topic: ROLLUPS_BY_DISTRICT_TOPIC, message: { key: r.district, value } });
    if (r.kind === 'streetlight') {
      out.push({ topic: ROLLUPS_BY_CIRCUIT_TOPIC, message: { key: r.circuit ?? UNASSIGNED_CIRCUIT, value } });
    }
    produced.inc({ kind: r.kind, scope: 'device', period: r.period });
  };

  /** A partition of water meters' or streetlights' readings. */
  const readingsTask = (kind: Kind, rollups: OrderedRollups): PartitionTask => ({
    ...snapshotsOf(rollups),
    apply(m, out) {
      let reading: Reading;
      try {
        reading = Reading.parse(JSON.parse(m.value));
      } catch {
        // processors/runner.ts dead-letters the same message (ERR_READING_*): counting it here is enough.
        readingsDropped.inc({ kind, reason: 'invalid' });
        return;
      }
      if (reading.kind !== kind) {
        readingsDropped.inc({ kind, reason: 'invalid' });
        return;
      }
      readingsTotal.inc({ kind });
      for (const r of rollups.push(reading)) emit(r, out);
    },
    size: () => rollups.devices(),
  });

  /** A partition of parking meters' events. */
  const parkingTask = (): PartitionTask => {
    const kind = 'parking-meter';
    const parking = createParkingRollups({
      config,
      calendar,
      placeOf: devices.placeOf,
      onDrop: (reason) => readingsDropped.inc({ kind, reason }),
      onCut: () => paymentsCut.inc(),
    });
    return {
      ...snapshotsOf(parking),
      apply(m, out) {
        let event: DeviceEvent;
        try {
          event = DeviceEvent.parse(JSON.parse(m.value));
        } catch {
          // The processors consume the same topic and dead-letter it (ERR_EVENT_*): counting it here is enough.
          readingsDropped.inc({ kind, reason: 'invalid' });
          return;
        }
        if (event.kind !== kind) {
          readingsDropped.inc({ kind, reason: 'invalid' });
          return;
        }
        readingsTotal.inc({ kind });
        for (const r of parking.push(event)) emit(r, out);
      },
      size: () => parking.devices(),
    };
  };

  const deviceTask = (topic: string): PartitionTask => {
    const drop = (kind: Kind) => (reason: string) => readingsDropped.inc({ kind, reason });
    const skip = (kind: Kind) => (_id: string, s: { period: string; reason: string }) =>
      periodsSkipped.inc({ kind, period: s.period, reason: s.reason });
    const common = { reorderToleranceMs: config.reorderToleranceMs, placeOf: devices.placeOf };
    if (topic === TOPICS.readings('water-meter')) {
      const kind = 'water-meter';
      const rollups = createOrderedRollups(waterMeterKind(config, calendar), {
        ...common,
        onDrop: drop(kind),
        onSkip: skip(kind),
      });
      return readingsTask(kind, rollups);
    }
    if (topic === TOPICS.readings('streetlight')) {
      const kind = 'streetlight';
      const rollups = createOrderedRollups(streetlightKind(config, calendar), {
        ...common,
        onDrop: drop(kind),
        onSkip: skip(kind),
      });
      return readingsTask(kind, rollups);
    }
    return parkingTask();
  };

  const groupTask = (scope: GroupScope): PartitionTask => {
    const groups = createGroupRollups({
      scope,
      config,
      calendar,
      onDrop: (reason) => contributionsDropped.inc({ scope, reason }),
    });
    return {
      ...snapshotsOf(groups),
      apply(m: BusMessage, out) {
        const parsed = parseBusMessage(m, Rollup, DEVICE_ROLLUP_CONTRACT);
        if (parsed.ok) {
          groups.apply(parsed.data);
          return;
        }
        deadLettered.inc({ code: parsed.errorCode });
        const message = busDeadLetter(m, parsed, { component: 'rollups', nowMs: clock.nowMs(), key: m.key });
        out.push({ topic: TOPICS.deadLetters, message });
      },
      endBatch(out) {
        for (const r of groups.drain()) {
          const key = scope === 'circuit' ? (r.circuit as string) : r.district;
          out.push({ topic: TOPICS.rollups, message: { key, value: JSON.stringify(r) } });
          produced.inc({ kind: r.kind, scope, period: r.period });
        }
      },
      size: () => groups.size(),
    };
  };

  const runner = (
    stage: 'device' | GroupScope,
    group: string,
    topics: readonly string[],
    newTask: (topic: string) => PartitionTask,
  ) =>
    createPartitionedRunner({
      bus,
      store,
      metrics,
      logger,
      groupId: group,
      topics,
      name: 'rollup',
      outputs: 'rollups',
      keysGauge: { name: 'rollup_state_keys', help: 'Keys (devices, districts, circuits) with rollup state here.' },
      labels: { stage },
      checkpointIntervalMs: config.checkpointIntervalMs,
      newTask,
      clock,
    });
  const deviceRunner = runner('device', groupId, ROLLUPS_DEVICE_TOPICS, deviceTask);
  const districtRunner = runner('district', districtGroupOf(groupId), [ROLLUPS_BY_DISTRICT_TOPIC], () =>
    groupTask('district'),
  );
  const circuitRunner = runner('circuit', circuitGroupOf(groupId), [ROLLUPS_BY_CIRCUIT_TOPIC], () =>
    groupTask('circuit'),
  );

  let starting: Promise<void> | undefined;
  let closing = false;
  return {
    start() {
      starting ??= (async () => {
        const topics = [...ROLLUPS_DEVICE_TOPICS, TOPICS.rollups, ROLLUPS_BY_DISTRICT_TOPIC, ROLLUPS_BY_CIRCUIT_TOPIC];
        for (const topic of [...topics, TOPICS.deadLetters]) await bus.ensureTopic(topic);
        await devices.start();
        await devices.ready(config.devicesWarmupMs);
        // Closed during the warm-up: nothing was consumed yet, so nothing is started.
        if (closing) return;
        await districtRunner.start();
        await circuitRunner.start();
        await deviceRunner.start();
      })();
      return starting;
    },

    async close() {
      // A stop right after a start does not wait out the warm-up (devicesWarmupMs) first.
      closing = true;
      devices.stopWaiting();
      await starting?.catch(() => undefined);
      await deviceRunner.close();
      await districtRunner.close();
      await circuitRunner.close();
      await devices.close();
    },
  };
}
