import type { Bus } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { Reading, Rollup, TOPICS } from '../../core/contracts/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { busDeadLetter, type MessageContract, parseBusMessage } from '../dead-letter.ts';
import { createPartitionedRunner, type PartitionTask } from '../partitioned.ts';
import { snapshotsOf } from '../snapshots.ts';
import type { RollupsConfig } from './config.ts';
import { createDeviceDistricts } from './device-districts.ts';
import { createDistrictRollups } from './district-rollups.ts';
import { createLocalCalendar } from './local-time.ts';
import { createMeterRollups } from './meter-rollups.ts';

/**
 * The rollups stage (README.md): water meters' readings → hourly and daily rollups per meter and per district on
 * `rollups.v1`. Two partitioned consumers with snapshots (../partitioned.ts, the processors' mechanism):
 * 1. meters: `readings.water-meter.v1` (group `rollups`) → per-meter rollups on `rollups.v1` (key deviceId) and the
 *    same records on {@link ROLLUPS_BY_DISTRICT_TOPIC} (key district), both before the readings' offsets commit;
 * 2. districts: {@link ROLLUPS_BY_DISTRICT_TOPIC} (group `rollups-district`) → district rollups on `rollups.v1`
 *    (key district), re-emitted (replacing) as meters add to them.
 */

/** Consumer group of the meters' rollups (the districts' is `<group>-district`). */
export const ROLLUPS_GROUP = 'rollups';
/** Internal topic: each meter's final rollups keyed by district, so one partition holds all of a district. */
export const ROLLUPS_BY_DISTRICT_TOPIC = 'rollups-by-district.v1';
/** The kind rolled up (the only one with rollup values in the time-series schema). */
const KIND = 'water-meter';
/** How a meter rollup's dead letters name it and its contract. */
const METER_ROLLUP_CONTRACT: MessageContract = {
  what: 'meter rollup',
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
  /** Consumer group of the meters (default {@link ROLLUPS_GROUP}); the districts' is `<groupId>-district`. */
  readonly groupId?: string;
  /** Wall clock for checkpoint cadence and dead-letter times only; rollups run on event time. Default: system. */
  readonly clock?: Clock;
}

/** A running rollups stage. */
export interface Rollups {
  /** Reads devices.v1 (at most `devicesWarmupMs`), then consumes readings and meter rollups. */
  start(): Promise<void>;
  /** Drains and checkpoints the meters, then the districts, then stops reading devices.v1. */
  close(): Promise<void>;
}

/** The district consumer group of a meters' group. */
export function districtGroupOf(groupId: string): string {
  return `${groupId}-district`;
}

/** Creates the rollups stage. */
export function createRollups(options: RollupsOptions): Rollups {
  const { bus, store, metrics, logger, config } = options;
  const groupId = options.groupId ?? ROLLUPS_GROUP;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const calendar = createLocalCalendar(config.timeZone);
  const readingsTotal = metrics.counter('rollup_readings_total', 'Water-meter readings the rollups consumed.');
  const readingsDropped = metrics.counter(
    'rollup_readings_dropped_total',
    'Readings the rollups left out on purpose: duplicate, late, no-index, invalid (dead-lettered by processors).',
    ['reason'],
  );
  const periodsSkipped = metrics.counter(
    'rollup_periods_skipped_total',
    'Meter hours and days that got no rollup: first (before the first reading), gap, reset.',
    ['period', 'reason'],
  );
  const produced = metrics.counter('rollup_records_total', 'Rollups produced to rollups.v1 (again after a replay).', [
    'scope',
    'period',
  ]);
  const contributionsDropped = metrics.counter(
    'rollup_contributions_dropped_total',
    'Meter rollups not added to their district: duplicate (re-sent), late (period expired), invalid.',
    ['reason'],
  );
  const deadLettered = metrics.counter(
    'rollup_messages_dead_lettered_total',
    'Messages of the internal rollup topic sent to the dead-letter topic, per error code.',
    ['code'],
  );

  const devices = createDeviceDistricts({ bus, logger, metrics, groupId });

  const meterTask = (): PartitionTask => {
    const meters = createMeterRollups({
      config,
      calendar,
      districtOf: devices.districtOf,
      onDrop: (reason) => readingsDropped.inc({ reason }),
      onSkip: (_id, s) => periodsSkipped.inc({ period: s.period, reason: s.reason }),
    });
    return {
      ...snapshotsOf(meters),
      apply(m, out) {
        let reading: Reading;
        try {
          reading = Reading.parse(JSON.parse(m.value));
        } catch {
          // processors/runner.ts dead-letters the same message (ERR_READING_*): counting it here is enough.
          readingsDropped.inc({ reason: 'invalid' });
          return;
        }
        if (reading.kind !== KIND) {
          readingsDropped.inc({ reason: 'invalid' });
          return;
        }
        readingsTotal.inc();
        for (const r of meters.push(reading)) {
          const value = JSON.stringify(r);
          out.push({ topic: TOPICS.rollups, message: { key: r.deviceId as string, value } });
          out.push({ topic: ROLLUPS_BY_DISTRICT_TOPIC, message: { key: r.district, value } });
          produced.inc({ scope: 'device', period: r.period });
        }
      },
      size: () => meters.devices(),
    };
  };

  const districtTask = (): PartitionTask => {
    const districts = createDistrictRollups({
      config,
      calendar,
      onDrop: (reason) => contributionsDropped.inc({ reason }),
    });
    return {
      ...snapshotsOf(districts),
      apply(m, out) {
        const parsed = parseBusMessage(m, Rollup, METER_ROLLUP_CONTRACT);
        if (parsed.ok) {
          districts.apply(parsed.data);
          return;
        }
        deadLettered.inc({ code: parsed.errorCode });
        const message = busDeadLetter(m, parsed, { component: 'rollups', nowMs: clock.nowMs(), key: m.key });
        out.push({ topic: TOPICS.deadLetters, message });
      },
      endBatch(out) {
        for (const r of districts.drain()) {
          out.push({ topic: TOPICS.rollups, message: { key: r.district, value: JSON.stringify(r) } });
          produced.inc({ scope: 'district', period: r.period });
        }
      },
      size: () => districts.size(),
    };
  };

  const runner = (stage: 'meter' | 'district', group: string, topic: string, newTask: () => PartitionTask) =>
    createPartitionedRunner({
      bus,
      store,
      metrics,
      logger,
      groupId: group,
      topics: [topic],
      name: 'rollup',
      outputs: 'rollups',
      keysGauge: { name: 'rollup_state_keys', help: 'Keys (meters, districts) with rollup state here.' },
      labels: { stage },
      checkpointIntervalMs: config.checkpointIntervalMs,
      newTask,
      clock,
    });
  const meterRunner = runner('meter', groupId, TOPICS.readings(KIND), meterTask);
  const districtRunner = runner('district', districtGroupOf(groupId), ROLLUPS_BY_DISTRICT_TOPIC, districtTask);

  return {
    async start() {
      for (const topic of [TOPICS.readings(KIND), TOPICS.rollups, ROLLUPS_BY_DISTRICT_TOPIC, TOPICS.deadLetters]) {
        await bus.ensureTopic(topic);
      }
      await devices.start();
      await devices.ready(config.devicesWarmupMs);
      await districtRunner.start();
      await meterRunner.start();
    },

    async close() {
      await meterRunner.close();
      await districtRunner.close();
      await devices.close();
    },
  };
}
