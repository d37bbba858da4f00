import type { Bus } from '../../core/bus/port.ts';
import { createReadModel, parseRecord, type ReadModel } from '../../core/bus/read-model.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { Rollup, TOPICS } from '../../core/contracts/index.ts';
import { createLocalCalendar, zoneOffsetMs } from '../../core/local-time.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { upsertRows } from '../../core/store/upsert.ts';

/**
 * The residents' read model of water meters' consumption: consumes `rollups.v1` (group `residents-consumption`, from
 * the beginning), keeps water-meter device rollups of periods `hour` and `day`, and upserts them into
 * `residents_consumption (device_id, period, start)`: a later record of the same period replaces the earlier one
 * (the rollups stage sends a period again when late readings change it).
 *
 * Every record is accounted for (`residents_consumption_rollups_total{outcome}`): `stored`; `ignored` on purpose
 * (another kind or scope: not this read model's); `invalid` (not JSON, not a Rollup, no usable `consumptionL`),
 * logged at error (rate-limited) and dropped — the rollups stage recomputes it from the readings, so it is not
 * dead-lettered (alerting's daily read model does the same). Store failures throw: the bus redelivers the batch.
 *
 * Queries: a day is its day rollup when there is one, else the sum of its hour rollups so far (`partial`: today,
 * or a day whose day rollup has not come yet); a month is the sum of its local days in the city's time zone.
 */

/** The read model's consumer group. */
export const RESIDENTS_CONSUMPTION_GROUP_ID = 'residents-consumption';

/** One stored period of one meter. */
export interface ConsumptionRow {
  readonly deviceId: string;
  readonly period: 'hour' | 'day';
  /** The period's first instant, epoch ms. */
  readonly startMs: number;
  readonly consumptionL: number;
}

/** What a decoded record is for this read model. */
export type ConsumptionRecord =
  | { readonly outcome: 'stored'; readonly row: ConsumptionRow }
  | { readonly outcome: 'ignored' }
  | { readonly outcome: 'invalid'; readonly reason: string };

/** Decodes one `rollups.v1` value into a meter's hour or day, or says why it is not one (pure). */
export function decodeRollup(value: string): ConsumptionRecord {
  const parsed = parseRecord(value, Rollup, 'Rollup');
  if (parsed.outcome === 'invalid') return parsed;
  const r = parsed.data;
  if (r.kind !== 'water-meter' || r.scope !== 'device') return { outcome: 'ignored' };
  if (r.deviceId === undefined) return { outcome: 'invalid', reason: 'device rollup without deviceId' };
  const consumptionL = r.values.consumptionL;
  if (consumptionL === undefined || !Number.isFinite(consumptionL) || consumptionL < 0) {
    return { outcome: 'invalid', reason: 'consumptionL missing or negative' };
  }
  return {
    outcome: 'stored',
    row: { deviceId: r.deviceId, period: r.period, startMs: Date.parse(r.start), consumptionL },
  };
}

/** Upserts rows (a later one replaces the stored one); within `rows`, the last of a (device, period, start) wins. */
export async function upsertConsumption(
  db: SqlExecutor,
  rows: readonly ConsumptionRow[],
  nowMs: number,
): Promise<void> {
  const updatedAt = new Date(nowMs).toISOString();
  await upsertRows(
    db,
    {
      table: 'residents_consumption',
      columns: ['device_id', 'period', 'start', 'consumption_l', 'updated_at'],
      conflict: ['device_id', 'period', 'start'],
      casts: { start: 'timestamptz', consumption_l: 'double precision', updated_at: 'timestamptz' },
    },
    rows.map((r) => ({
      device_id: r.deviceId,
      period: r.period,
      start: new Date(r.startMs).toISOString(),
      consumption_l: r.consumptionL,
      updated_at: updatedAt,
    })),
  );
}

/** What the read model needs. */
export interface ResidentsConsumptionDeps {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock?: Clock | undefined;
  /** Consumer group (default `residents-consumption`). */
  readonly groupId?: string | undefined;
}

/** The running read model: `start` subscribes to `rollups.v1`, `close` lets the batch in flight commit. */
export type ResidentsConsumptionReadModel = ReadModel;

/** Creates the consumption read model (not started). */
export function createConsumptionReadModel(deps: ResidentsConsumptionDeps): ResidentsConsumptionReadModel {
  const clock = deps.clock ?? SYSTEM_CLOCK;
  return createReadModel<ConsumptionRow>({
    bus: deps.bus,
    topic: TOPICS.rollups,
    groupId: deps.groupId ?? RESIDENTS_CONSUMPTION_GROUP_ID,
    fromBeginning: true,
    decode: (m) => {
      const record = decodeRollup(m.value);
      return record.outcome === 'stored' ? { outcome: 'stored', item: record.row } : record;
    },
    store: (rows) => upsertConsumption(deps.store, rows, clock.nowMs()),
    counter: deps.metrics.counter(
      'residents_consumption_rollups_total',
      "Rollups read by the residents' consumption read model, by outcome (stored, ignored: not a meter's, invalid)",
      ['outcome'],
    ),
    logger: deps.logger,
    what: 'residents consumption: invalid rollup',
  });
}

/** One local day of a meter. */
export interface DayConsumption {
  /** Local date, `YYYY-MM-DD` (VIGIE_TZ). */
  readonly date: string;
  readonly consumptionL: number;
  /** True when no day rollup has come yet: the sum of the day's hour rollups so far. */
  readonly partial: boolean;
}

/** One local month of a meter. */
export interface MonthConsumption {
  /** Local month, `YYYY-MM` (VIGIE_TZ). */
  readonly month: string;
  readonly consumptionL: number;
  /** Days of the month with data. */
  readonly days: number;
  /** True when one of those days is partial. */
  readonly partial: boolean;
}

/** The local date after `date` (`YYYY-MM-DD`). */
export function nextDate(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The local date `days` days before `date` (`YYYY-MM-DD`). */
export function dateMinusDays(date: string, days: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d - days)).toISOString().slice(0, 10);
}

/** The month `months` months before `month` (`YYYY-MM`). */
export function monthMinus(month: string, months: number): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m - 1 - months, 1)).toISOString().slice(0, 7);
}

/** Days from `from` to `to` (`YYYY-MM-DD`), both counted. */
export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1;
}

/** Months from `from` to `to` (`YYYY-MM`), both counted. */
export function monthsBetween(from: string, to: string): number {
  const [fy, fm] = from.split('-').map(Number) as [number, number];
  const [ty, tm] = to.split('-').map(Number) as [number, number];
  return (ty - fy) * 12 + (tm - fm) + 1;
}

/** The local date (`YYYY-MM-DD`) of the instant `ms` in `timeZone`. */
export function localDateOf(ms: number, timeZone: string): string {
  return new Date(ms + zoneOffsetMs(timeZone, ms)).toISOString().slice(0, 10);
}

/** The first instant (epoch ms) of the local date `date` (`YYYY-MM-DD`) in `timeZone`: its local midnight. */
export function localMidnightMs(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  // Local noon of that date is inside it in every zone (offsets stay within ±14 h); its day starts at local midnight.
  const noonUtc = Date.UTC(y, m - 1, d, 12);
  return createLocalCalendar(timeZone).dayStartMs(noonUtc - zoneOffsetMs(timeZone, noonUtc));
}

/**
 * The SQL of a meter's local days between two instants: each local date (`AT TIME ZONE`, PostgreSQL's tz database,
 * the same IANA zones as the rollups' Intl) with its day rollup, else the sum of its hours.
 */
const DAYS_SQL = `
  WITH d AS (
    SELECT to_char(start AT TIME ZONE $4, 'YYYY-MM-DD') AS date, period, consumption_l
    FROM residents_consumption WHERE device_id = $1 AND start >= $2 AND start < $3
  )
  SELECT date,
    COALESCE(max(consumption_l) FILTER (WHERE period = 'day'),
             sum(consumption_l) FILTER (WHERE period = 'hour')) AS consumption_l,
    bool_and(period = 'hour') AS partial
  FROM d GROUP BY date`;

interface DayRow {
  date: string;
  consumption_l: number;
  partial: boolean;
}

/** A meter's local days from `from` to `to` (`YYYY-MM-DD`, both included) that have data, oldest first. */
export async function dailyConsumption(
  db: SqlExecutor,
  deviceId: string,
  range: { from: string; to: string },
  timeZone: string,
): Promise<DayConsumption[]> {
  const res = await db.query<DayRow>(`${DAYS_SQL} ORDER BY date`, [
    deviceId,
    new Date(localMidnightMs(range.from, timeZone)),
    new Date(localMidnightMs(nextDate(range.to), timeZone)),
    timeZone,
  ]);
  return res.rows.map((r) => ({ date: r.date, consumptionL: Number(r.consumption_l), partial: r.partial }));
}

/** A meter's local months from `from` to `to` (`YYYY-MM`, both included) that have data: sums of their days. */
export async function monthlyConsumption(
  db: SqlExecutor,
  deviceId: string,
  range: { from: string; to: string },
  timeZone: string,
): Promise<MonthConsumption[]> {
  const res = await db.query<{ month: string; consumption_l: number; days: number; partial: boolean }>(
    `SELECT substr(date, 1, 7) AS month, sum(consumption_l) AS consumption_l, count(*)::int AS days,
       bool_or(partial) AS partial
     FROM (${DAYS_SQL}) days GROUP BY substr(date, 1, 7) ORDER BY month`,
    [
      deviceId,
      new Date(localMidnightMs(`${range.from}-01`, timeZone)),
      new Date(localMidnightMs(`${monthMinus(range.to, -1)}-01`, timeZone)),
      timeZone,
    ],
  );
  return res.rows.map((r) => ({
    month: r.month,
    consumptionL: Number(r.consumption_l),
    days: Number(r.days),
    partial: r.partial,
  }));
}
