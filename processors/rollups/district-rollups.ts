/**
 * District rollups of one partition of `rollups-by-district.v1` (meters' final rollups keyed by district): a
 * district's hour or day = the sum of its meters' rollups of that period, `devices` = how many meters contributed;
 * the day's `nightMinFlowLph` = the smallest of the district's hourly sums over the night window (when the district
 * has all of those hours). Deterministic for a given partition log.
 *
 * - Duplicates: after a crash the meter stage may send a meter's rollups again. A meter's rollups come in period
 *   order (per period kind), so the start of the last one taken per meter and kind is enough to drop them (counted).
 * - Emission: every change to a district period is emitted once per batch ({@link DistrictRollups.drain}), with the
 *   whole sum so far; a later record of the same (district, period, start) replaces the earlier (contract of
 *   rollups.v1). A night hour changing re-emits its day too.
 * - Expiry: the partition's event time is the latest period end it has seen; a period's state is dropped
 *   `districtLatenessHours` (48 h) after its end, and later contributions are dropped as `late` (counted).
 * Memory: per meter seen, its two last starts (≈ 100 bytes with the id); per district, ≈ 75 open periods (≈ 8 KiB).
 */
import { z } from 'zod';
import type { Rollup } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { type KeyedSnapshots, parseStateJson } from '../snapshots.ts';
import { HOUR_MS, type LocalCalendar } from './local-time.ts';
import { ROLLUP_STATE } from './meter-rollups.ts';

/** Why a meter rollup was not added: `duplicate`, `late` (its period expired) or `invalid` (not a meter rollup). */
export type DistrictDropReason = 'duplicate' | 'late' | 'invalid';

/** Options of {@link createDistrictRollups}. */
export interface DistrictRollupsOptions {
  readonly config: {
    readonly districtLatenessHours: number;
    readonly nightStartHour: number;
    readonly nightEndHour: number;
  };
  readonly calendar: LocalCalendar;
  readonly onDrop?: (reason: DistrictDropReason, rollup: Rollup) => void;
}

/** District rollups of one partition; state keys `m:<deviceId>`, `d:<district>` (`ERR_ROLLUP_STATE` when unreadable). */
export interface DistrictRollups extends KeyedSnapshots {
  /** Adds a meter's final rollup to its district's period. */
  apply(rollup: Rollup): void;
  /** The district rollups changed since the last call (one per period), then drops expired periods. */
  drain(): Rollup[];
  /** Meters and districts with state. */
  size(): number;
}

interface PeriodSum {
  ml: number;
  devices: number;
}

const MeterSchema = z.object({ h: z.number().nullable(), d: z.number().nullable() });
const DistrictSchema = z.object({
  periods: z.array(z.tuple([z.string().regex(/^(hour|day):-?\d+$/), z.number(), z.number().int().nonnegative()])),
});
const ClockSchema = z.object({ v: z.literal(1), watermarkMs: z.number().nullable() });

/** Creates the district rollups of one partition. */
export function createDistrictRollups(options: DistrictRollupsOptions): DistrictRollups {
  const { config, calendar } = options;
  const onDrop = options.onDrop ?? (() => {});
  const latenessMs = config.districtLatenessHours * HOUR_MS;
  /** Per meter: start of the last hour and day taken, ms. */
  const meters = new Map<string, { h: number; d: number }>();
  /** Per district: period key (`hour:<ms>` / `day:<ms>`) → sum. */
  const districts = new Map<string, Map<string, PeriodSum>>();
  /** `district\tperiodKey` changed since the last drain, in order of change. */
  const changed = new Set<string>();
  const dirty = new Set<string>();
  let watermarkMs = Number.NEGATIVE_INFINITY;
  let expiredAtHour = Number.NEGATIVE_INFINITY;

  const endOf = (period: string, startMs: number) =>
    period === 'hour' ? calendar.nextHourMs(startMs) : calendar.nextDayMs(startMs);
  const isNight = (hourStartMs: number) => {
    const h = calendar.localHour(hourStartMs);
    return h >= config.nightStartHour && h < config.nightEndHour;
  };

  function nightMinMl(periods: Map<string, PeriodSum>, dayStartMs: number): number | undefined {
    const dayEndMs = calendar.nextDayMs(dayStartMs);
    let min: number | undefined;
    for (let h = dayStartMs; h < dayEndMs; h = calendar.nextHourMs(h)) {
      if (!isNight(h)) continue;
      const sum = periods.get(`hour:${h}`);
      if (!sum) return undefined;
      min = min === undefined ? sum.ml : Math.min(min, sum.ml);
    }
    return min;
  }

  function expire(): void {
    const hour = Math.floor(watermarkMs / HOUR_MS);
    if (!Number.isFinite(hour) || hour <= expiredAtHour) return;
    expiredAtHour = hour;
    for (const [district, periods] of districts) {
      for (const key of periods.keys()) {
        const [period, start] = key.split(':') as [string, string];
        if (endOf(period, Number(start)) + latenessMs < watermarkMs) {
          periods.delete(key);
          dirty.add(`d:${district}`);
        }
      }
      if (periods.size === 0) districts.delete(district);
    }
  }

  return {
    apply(rollup) {
      const consumptionL = rollup.values.consumptionL;
      if (rollup.scope !== 'device' || !rollup.deviceId || typeof consumptionL !== 'number') {
        onDrop('invalid', rollup);
        return;
      }
      const id = rollup.deviceId;
      const startMs = Date.parse(rollup.start);
      const endMs = endOf(rollup.period, startMs);
      const last = meters.get(id) ?? { h: Number.NEGATIVE_INFINITY, d: Number.NEGATIVE_INFINITY };
      const lastStartMs = rollup.period === 'hour' ? last.h : last.d;
      if (startMs <= lastStartMs) {
        onDrop('duplicate', rollup);
        return;
      }
      meters.set(id, rollup.period === 'hour' ? { ...last, h: startMs } : { ...last, d: startMs });
      dirty.add(`m:${id}`);
      watermarkMs = Math.max(watermarkMs, endMs);
      if (endMs + latenessMs < watermarkMs) {
        onDrop('late', rollup);
        return;
      }
      let periods = districts.get(rollup.district);
      if (!periods) {
        periods = new Map();
        districts.set(rollup.district, periods);
      }
      const key = `${rollup.period}:${startMs}`;
      const sum = periods.get(key) ?? { ml: 0, devices: 0 };
      sum.ml += Math.round(consumptionL * 1000);
      sum.devices += 1;
      periods.set(key, sum);
      dirty.add(`d:${rollup.district}`);
      changed.add(`${rollup.district}\t${key}`);
      if (rollup.period === 'hour' && isNight(startMs)) {
        const dayKey = `day:${calendar.dayStartMs(startMs)}`;
        if (periods.has(dayKey)) changed.add(`${rollup.district}\t${dayKey}`);
      }
    },

    drain() {
      const out: Rollup[] = [];
      for (const entry of changed) {
        const [district, key] = entry.split('\t') as [string, string];
        const periods = districts.get(district);
        const sum = periods?.get(key);
        if (!periods || !sum) continue;
        const [period, start] = key.split(':') as ['hour' | 'day', string];
        const startMs = Number(start);
        const values: Record<string, number> = { consumptionL: sum.ml / 1000 };
        if (period === 'day') {
          const night = nightMinMl(periods, startMs);
          if (night !== undefined) values.nightMinFlowLph = night / 1000;
        }
        out.push({
          kind: 'water-meter',
          scope: 'district',
          district,
          period,
          start: new Date(startMs).toISOString(),
          values,
          devices: sum.devices,
        });
      }
      changed.clear();
      expire();
      return out;
    },

    takeDirty() {
      const keys = [...dirty];
      dirty.clear();
      return keys;
    },

    snapshot(key) {
      if (key.startsWith('m:')) {
        const m = meters.get(key.slice(2));
        if (!m) return undefined;
        return JSON.stringify({ h: Number.isFinite(m.h) ? m.h : null, d: Number.isFinite(m.d) ? m.d : null });
      }
      const periods = districts.get(key.slice(2));
      if (!periods || periods.size === 0) return undefined;
      return JSON.stringify({ periods: [...periods].map(([k, s]) => [k, s.ml, s.devices]) });
    },

    restore(key, json) {
      if (key.startsWith('m:')) {
        const m = parseStateJson(json, MeterSchema, `district rollup state of ${key}`, ROLLUP_STATE);
        meters.set(key.slice(2), { h: m.h ?? Number.NEGATIVE_INFINITY, d: m.d ?? Number.NEGATIVE_INFINITY });
        return;
      }
      if (!key.startsWith('d:')) {
        throw new AppError('ERR_ROLLUP_STATE', `district rollup state key: ${key} (m:<deviceId> or d:<district>)`);
      }
      const d = parseStateJson(json, DistrictSchema, `district rollup state of ${key}`, ROLLUP_STATE);
      districts.set(key.slice(2), new Map(d.periods.map(([k, ml, devices]) => [k, { ml, devices }])));
    },

    snapshotClock() {
      return JSON.stringify({ v: 1, watermarkMs: Number.isFinite(watermarkMs) ? watermarkMs : null });
    },

    restoreClock(json) {
      const c = parseStateJson(json, ClockSchema, 'district rollup clock', ROLLUP_STATE);
      if (c.watermarkMs !== null) watermarkMs = Math.max(watermarkMs, c.watermarkMs);
    },

    size: () => meters.size + districts.size,
  };
}
