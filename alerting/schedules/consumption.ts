import type { Bus } from '../../core/bus/port.ts';
import { createReadModel, parseRecord, type ReadModel } from '../../core/bus/read-model.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { Rollup, TOPICS } from '../../core/contracts/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { upsertRows } from '../../core/store/upsert.ts';
import { localDate } from './periods.ts';

/**
 * A read model of each water meter's daily consumption, for the residents' monthly summary: consumes `rollups.v1`
 * (group `alerting-consumption`, from the beginning), keeps the water-meter device day rollups and upserts them into
 * `alerting_consumption_daily` (device, local date of `start` in `VIGIE_TZ`): a later record for the same day
 * replaces the earlier one (the rollups stage sends a day again when late readings change it).
 *
 * Every record is accounted for (`alerting_consumption_rollups_total{outcome}`): `stored`; `ignored` on purpose
 * (another kind, scope or period: not this read model's); `invalid` (not JSON, not a Rollup, no usable
 * `consumptionL`), logged at error (rate-limited) and dropped — the rollups stage can recompute it from the
 * readings, so it is not dead-lettered. Store failures throw: the bus redelivers the batch.
 */

/** The read model's consumer group. */
export const CONSUMPTION_GROUP_ID = 'alerting-consumption';

/** One stored day of one meter. */
export interface ConsumptionDay {
  readonly deviceId: string;
  /** Local date of the day (`YYYY-MM-DD`, VIGIE_TZ). */
  readonly day: string;
  readonly consumptionL: number;
  /** Smallest night flow (02:00–05:00 local), L/h; null when the rollup has none. */
  readonly nightMinFlowLph: number | null;
}

/** What the read model needs. */
export interface ConsumptionReadModelDeps {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** The city's time zone (VIGIE_TZ), for the local date of each day rollup. */
  readonly timeZone: string;
  readonly clock?: Clock;
  /** Consumer group (default `alerting-consumption`). */
  readonly groupId?: string;
}

/** The running read model: `start` subscribes to `rollups.v1`, `close` lets the batch in flight commit. */
export type ConsumptionReadModel = ReadModel;

/** What a decoded record is for this read model. */
export type ConsumptionRecord =
  | { readonly outcome: 'stored'; readonly day: ConsumptionDay }
  | { readonly outcome: 'ignored' }
  | { readonly outcome: 'invalid'; readonly reason: string };

/** Decodes one `rollups.v1` value into a meter's day, or says why it is not one (pure). */
export function decodeConsumption(value: string, timeZone: string): ConsumptionRecord {
  const parsed = parseRecord(value, Rollup, 'Rollup');
  if (parsed.outcome === 'invalid') return parsed;
  const r = parsed.data;
  if (r.kind !== 'water-meter' || r.scope !== 'device' || r.period !== 'day') return { outcome: 'ignored' };
  if (r.deviceId === undefined) return { outcome: 'invalid', reason: 'device rollup without deviceId' };
  const consumptionL = r.values.consumptionL;
  if (consumptionL === undefined || !Number.isFinite(consumptionL) || consumptionL < 0) {
    return { outcome: 'invalid', reason: 'consumptionL missing or negative' };
  }
  const night = r.values.nightMinFlowLph;
  return {
    outcome: 'stored',
    day: {
      deviceId: r.deviceId,
      day: localDate(Date.parse(r.start), timeZone),
      consumptionL,
      nightMinFlowLph: night !== undefined && Number.isFinite(night) ? night : null,
    },
  };
}

/** Upserts days (a later one replaces the stored one); within `days`, the last of a (device, day) wins. */
export async function upsertConsumptionDays(
  db: SqlExecutor,
  days: readonly ConsumptionDay[],
  nowMs: number,
): Promise<void> {
  const updatedAt = new Date(nowMs).toISOString();
  await upsertRows(
    db,
    {
      table: 'alerting_consumption_daily',
      columns: ['device_id', 'day', 'consumption_l', 'night_min_flow_lph', 'updated_at'],
      conflict: ['device_id', 'day'],
      casts: {
        day: 'date',
        consumption_l: 'double precision',
        night_min_flow_lph: 'double precision',
        updated_at: 'timestamptz',
      },
    },
    days.map((d) => ({
      device_id: d.deviceId,
      day: d.day,
      consumption_l: d.consumptionL,
      night_min_flow_lph: d.nightMinFlowLph,
      updated_at: updatedAt,
    })),
  );
}

/** Creates the daily consumption read model (not started). */
export function createConsumptionReadModel(deps: ConsumptionReadModelDeps): ConsumptionReadModel {
  const clock = deps.clock ?? SYSTEM_CLOCK;
  return createReadModel<ConsumptionDay>({
    bus: deps.bus,
    topic: TOPICS.rollups,
    groupId: deps.groupId ?? CONSUMPTION_GROUP_ID,
    fromBeginning: true,
    decode: (m) => {
      const record = decodeConsumption(m.value, deps.timeZone);
      return record.outcome === 'stored' ? { outcome: 'stored', item: record.day } : record;
    },
    store: (days) => upsertConsumptionDays(deps.store, days, clock.nowMs()),
    counter: deps.metrics.counter(
      'alerting_consumption_rollups_total',
      'Rollups read by the daily consumption read model, by outcome (stored, ignored: not a meter day, invalid)',
      ['outcome'],
    ),
    logger: deps.logger,
    what: 'consumption: invalid rollup',
  });
}
