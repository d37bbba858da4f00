import type { Bus, BusMessage, OutgoingMessage } from '../../core/bus/port.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { type DeadLetter, Reading, Rollup, TOPICS } from '../../core/contracts/index.ts';
import { preview } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { RollupsConfig } from './config.ts';
import { createDeviceDistricts } from './device-districts.ts';
import { createDistrictRollups } from './district-rollups.ts';
import { createLocalCalendar } from './local-time.ts';
import { createMeterRollups } from './meter-rollups.ts';
import { createPartitionedRunner, type PartitionTask } from './partitioned.ts';

/**
 * The rollups stage (README.md): water meters' readings → hourly and daily rollups per meter and per district on
 * `rollups.v1`. Two partitioned consumers with snapshots (partitioned.ts):
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
      endBatch() {},
      takeDirty: () => meters.takeDirty(),
      snapshot: (key) => meters.snapshot(key),
      restore: (key, json) => meters.restore(key, json),
      snapshotClock: () => meters.snapshotClock(),
      restoreClock: (json) => meters.restoreClock(json),
      size: () => meters.devices(),
    };
  };

  function deadLetter(
    m: BusMessage,
    code: 'ERR_ROLLUP_JSON' | 'ERR_ROLLUP_SCHEMA',
    message: string,
    issues: DeadLetter['issues'],
  ): OutgoingMessage {
    deadLettered.inc({ code });
    const letter: DeadLetter = {
      rawBase64: Buffer.from(m.value, 'utf8').toString('base64'),
      source: { type: 'bus', topic: m.topic, partition: m.partition, offset: m.offset },
      errorCode: code,
      message,
      issues,
      component: 'rollups',
      stage: 'processing',
      attempts: 1,
      firstFailedAt: new Date(clock.nowMs()).toISOString(),
    };
    return { key: m.key, value: JSON.stringify(letter) };
  }

  const districtTask = (): PartitionTask => {
    const districts = createDistrictRollups({
      config,
      calendar,
      onDrop: (reason) => contributionsDropped.inc({ reason }),
    });
    return {
      apply(m, out) {
        let json: unknown;
        try {
          json = JSON.parse(m.value);
        } catch (err) {
          const why = `meter rollup is not JSON: ${preview(m.value)} (${(err as Error).message})`;
          out.push({ topic: TOPICS.deadLetters, message: deadLetter(m, 'ERR_ROLLUP_JSON', why, []) });
          return;
        }
        const parsed = Rollup.safeParse(json);
        if (!parsed.success) {
          const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
          const first = issues[0];
          const why = `meter rollup does not match the schema: ${first ? `${first.path || '(root)'}: ${first.message}` : preview(m.value)} (a rollups.v1 record)`;
          out.push({ topic: TOPICS.deadLetters, message: deadLetter(m, 'ERR_ROLLUP_SCHEMA', why, issues) });
          return;
        }
        districts.apply(parsed.data);
      },
      endBatch(out) {
        for (const r of districts.drain()) {
          out.push({ topic: TOPICS.rollups, message: { key: r.district, value: JSON.stringify(r) } });
          produced.inc({ scope: 'district', period: r.period });
        }
      },
      takeDirty: () => districts.takeDirty(),
      snapshot: (key) => districts.snapshot(key),
      restore: (key, json) => districts.restore(key, json),
      snapshotClock: () => districts.snapshotClock(),
      restoreClock: (json) => districts.restoreClock(json),
      size: () => districts.size(),
    };
  };

  const meterRunner = createPartitionedRunner({
    bus,
    store,
    metrics,
    logger,
    groupId,
    topics: [TOPICS.readings(KIND)],
    stage: 'meter',
    checkpointIntervalMs: config.checkpointIntervalMs,
    newTask: meterTask,
    clock,
  });
  const districtRunner = createPartitionedRunner({
    bus,
    store,
    metrics,
    logger,
    groupId: districtGroupOf(groupId),
    topics: [ROLLUPS_BY_DISTRICT_TOPIC],
    stage: 'district',
    checkpointIntervalMs: config.checkpointIntervalMs,
    newTask: districtTask,
    clock,
  });

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
