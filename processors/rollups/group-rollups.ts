/**
 * Group rollups of one partition of an internal topic (devices' final rollups keyed by district, or streetlights'
 * keyed by circuit): a group's hour or day = the sum of its devices' rollups of that kind and period, `devices` = how
 * many devices contributed. Deterministic for a given partition log.
 *
 * - Groups: scope `district` → one per (kind, district); scope `circuit` → one per (circuit, district) of
 *   streetlights (a circuit spanning two districts gives two records; summing by circuit gives the whole).
 * - Values per kind ({@link GROUP_KINDS}): sums kept as integers (each value × its scale, rounded: mL, mWh, ms of
 *   paid time, cents), so a sum is exact and independent of arrival order; derived values computed on emission:
 *   water-meter day `nightMinFlowLph` = the smallest of the group's hourly sums over the night window (when it has
 *   all of them); parking-meter `paidOccupancy` = paid minutes / minutes of the period.
 * - Duplicates: after a crash the device stage may send a device's rollups again. A device's rollups come in period
 *   order (per period kind), so the start of the last one taken per device and kind of period drops them (counted).
 * - Emission: every change to a group period is emitted once per batch ({@link GroupRollups.drain}), with the whole
 *   sum so far; a later record of the same (group, period, start) replaces the earlier (contract of rollups.v1). A
 *   night hour changing re-emits its day too.
 * - Expiry: the partition's event time is the latest period end it has seen; a period's state is dropped
 *   `districtLatenessHours` (48 h) after its end, and later contributions are dropped as `late` (counted).
 * Memory: per device seen, its two last starts (≈ 100 bytes with the id); per group, ≈ 75 open periods (≈ 8 KiB).
 */
import { z } from 'zod';
import type { Kind, Rollup } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { HOUR_MS, type LocalCalendar } from '../../core/local-time.ts';
import { type KeyedSnapshots, parseStateJson } from '../snapshots.ts';
import { ROLLUP_STATE } from './ordered-rollups.ts';

/** Why a device rollup was not added: `duplicate`, `late` (its period expired) or `invalid` (not one of ours). */
export type GroupDropReason = 'duplicate' | 'late' | 'invalid';

/** The group scopes. */
export type GroupScope = 'district' | 'circuit';

/** How a kind's device values add up: each summed value and its scale (integer units per unit of the value). */
export interface GroupKind {
  readonly sums: Readonly<Record<string, number>>;
}

/** The kinds rolled up per group, with their summed values (in this order) and scales. */
export const GROUP_KINDS: Readonly<Partial<Record<Kind, GroupKind>>> = {
  'water-meter': { sums: { consumptionL: 1000 } },
  streetlight: { sums: { energyWh: 1000, litHours: 1000 } },
  'parking-meter': {
    sums: {
      revenueCents: 1,
      revenueCoinCents: 1,
      revenueCardCents: 1,
      revenueSmsCents: 1,
      payments: 1,
      paidMinutes: 60_000,
    },
  },
};

/** Options of {@link createGroupRollups}. */
export interface GroupRollupsOptions {
  readonly scope: GroupScope;
  readonly config: {
    readonly districtLatenessHours: number;
    readonly nightStartHour: number;
    readonly nightEndHour: number;
  };
  readonly calendar: LocalCalendar;
  readonly onDrop?: (reason: GroupDropReason, rollup: Rollup) => void;
}

/** Group rollups of one partition; state keys `m:<deviceId>` and `d:<group>` (`ERR_ROLLUP_STATE` when unreadable). */
export interface GroupRollups extends KeyedSnapshots {
  /** Adds a device's final rollup to its group's period. */
  apply(rollup: Rollup): void;
  /** The group rollups changed since the last call (one per period), then drops expired periods. */
  drain(): Rollup[];
  /** Devices and groups with state. */
  size(): number;
}

interface PeriodSum {
  devices: number;
  /** In the order of the kind's `sums`. */
  sums: number[];
}

const MeterSchema = z.object({ h: z.number().nullable(), d: z.number().nullable() });
const PERIOD_KEY = /^(water-meter|streetlight|parking-meter|sensor)\|(hour|day):(-?\d+)$/;
/** Version 2: `[periodKey, devices, sums]` with `periodKey` = `<kind>|<period>:<startMs>`. */
const GroupSchema = z.object({
  v: z.literal(2),
  periods: z.array(z.tuple([z.string().regex(PERIOD_KEY), z.number().int().nonnegative(), z.array(z.number())])),
});
/** Version 1 (water meters only, before streetlights and parking): `[<period>:<startMs>, mL, devices]`. */
const LegacyGroupSchema = z.object({
  periods: z.array(z.tuple([z.string().regex(/^(hour|day):-?\d+$/), z.number(), z.number().int().nonnegative()])),
});
const ClockSchema = z.object({ v: z.literal(1), watermarkMs: z.number().nullable() });

/** The group key of a rollup of `scope` (district, or `<circuit>/<district>`: neither name may hold a `/`). */
export function groupKeyOf(scope: GroupScope, r: Rollup): string | undefined {
  if (scope === 'district') return r.district;
  return r.circuit === undefined ? undefined : `${r.circuit}/${r.district}`;
}

/** Creates the group rollups of one partition. */
export function createGroupRollups(options: GroupRollupsOptions): GroupRollups {
  const { config, calendar, scope } = options;
  const onDrop = options.onDrop ?? (() => {});
  const latenessMs = config.districtLatenessHours * HOUR_MS;
  /** Per device: start of the last hour and day taken, ms. */
  const devices = new Map<string, { h: number; d: number }>();
  /** Per group: period key (`<kind>|hour:<ms>` / `<kind>|day:<ms>`) → sums. */
  const groups = new Map<string, Map<string, PeriodSum>>();
  /** `group\tperiodKey` changed since the last drain, in order of change. */
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
  const parseKey = (key: string) => {
    const [, kind, period, start] = PERIOD_KEY.exec(key) as unknown as [string, Kind, 'hour' | 'day', string];
    return { kind, period, startMs: Number(start) };
  };

  function nightMinMl(periods: Map<string, PeriodSum>, dayStartMs: number): number | undefined {
    const dayEndMs = calendar.nextDayMs(dayStartMs);
    let min: number | undefined;
    for (let h = dayStartMs; h < dayEndMs; h = calendar.nextHourMs(h)) {
      if (!isNight(h)) continue;
      const sum = periods.get(`water-meter|hour:${h}`);
      if (!sum) return undefined;
      min = min === undefined ? (sum.sums[0] as number) : Math.min(min, sum.sums[0] as number);
    }
    return min;
  }

  function expire(): void {
    const hour = Math.floor(watermarkMs / HOUR_MS);
    if (!Number.isFinite(hour) || hour <= expiredAtHour) return;
    expiredAtHour = hour;
    for (const [group, periods] of groups) {
      for (const key of periods.keys()) {
        const { period, startMs } = parseKey(key);
        if (endOf(period, startMs) + latenessMs < watermarkMs) {
          periods.delete(key);
          dirty.add(`d:${group}`);
        }
      }
      if (periods.size === 0) groups.delete(group);
    }
  }

  function record(group: string, key: string, sum: PeriodSum, periods: Map<string, PeriodSum>): Rollup {
    const { kind, period, startMs } = parseKey(key);
    const spec = GROUP_KINDS[kind] as GroupKind;
    const values: Record<string, number> = {};
    Object.entries(spec.sums).forEach(([name, scale], i) => {
      values[name] = (sum.sums[i] as number) / scale;
    });
    if (kind === 'water-meter' && period === 'day') {
      const night = nightMinMl(periods, startMs);
      if (night !== undefined) values.nightMinFlowLph = night / 1000;
    }
    if (kind === 'parking-meter') {
      values.paidOccupancy = ((sum.sums[5] as number) / (endOf(period, startMs) - startMs)) as number;
    }
    const [name, district] = scope === 'circuit' ? (group.split('/') as [string, string]) : [group, group];
    return {
      kind,
      scope,
      ...(scope === 'circuit' ? { circuit: name } : {}),
      district,
      period,
      start: new Date(startMs).toISOString(),
      values,
      devices: sum.devices,
    };
  }

  return {
    apply(rollup) {
      const spec = GROUP_KINDS[rollup.kind];
      const group = groupKeyOf(scope, rollup);
      if (rollup.scope !== 'device' || !rollup.deviceId || !spec || group === undefined) {
        onDrop('invalid', rollup);
        return;
      }
      const values: number[] = [];
      for (const [name, scale] of Object.entries(spec.sums)) {
        const v = rollup.values[name];
        if (typeof v !== 'number') {
          onDrop('invalid', rollup);
          return;
        }
        values.push(Math.round(v * scale));
      }
      const id = rollup.deviceId;
      const startMs = Date.parse(rollup.start);
      const endMs = endOf(rollup.period, startMs);
      const last = devices.get(id) ?? { h: Number.NEGATIVE_INFINITY, d: Number.NEGATIVE_INFINITY };
      const lastStartMs = rollup.period === 'hour' ? last.h : last.d;
      if (startMs <= lastStartMs) {
        onDrop('duplicate', rollup);
        return;
      }
      devices.set(id, rollup.period === 'hour' ? { ...last, h: startMs } : { ...last, d: startMs });
      dirty.add(`m:${id}`);
      watermarkMs = Math.max(watermarkMs, endMs);
      if (endMs + latenessMs < watermarkMs) {
        onDrop('late', rollup);
        return;
      }
      let periods = groups.get(group);
      if (!periods) {
        periods = new Map();
        groups.set(group, periods);
      }
      const key = `${rollup.kind}|${rollup.period}:${startMs}`;
      const sum = periods.get(key) ?? { devices: 0, sums: values.map(() => 0) };
      values.forEach((v, i) => {
        sum.sums[i] = (sum.sums[i] ?? 0) + v;
      });
      sum.devices += 1;
      periods.set(key, sum);
      dirty.add(`d:${group}`);
      changed.add(`${group}\t${key}`);
      if (rollup.kind === 'water-meter' && rollup.period === 'hour' && isNight(startMs)) {
        const dayKey = `water-meter|day:${calendar.dayStartMs(startMs)}`;
        if (periods.has(dayKey)) changed.add(`${group}\t${dayKey}`);
      }
    },

    drain() {
      const out: Rollup[] = [];
      for (const entry of changed) {
        const [group, key] = entry.split('\t') as [string, string];
        const periods = groups.get(group);
        const sum = periods?.get(key);
        if (!periods || !sum) continue;
        out.push(record(group, key, sum, periods));
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
        const m = devices.get(key.slice(2));
        if (!m) return undefined;
        return JSON.stringify({ h: Number.isFinite(m.h) ? m.h : null, d: Number.isFinite(m.d) ? m.d : null });
      }
      const periods = groups.get(key.slice(2));
      if (!periods || periods.size === 0) return undefined;
      return JSON.stringify({ v: 2, periods: [...periods].map(([k, s]) => [k, s.devices, s.sums]) });
    },

    restore(key, json) {
      if (key.startsWith('m:')) {
        const m = parseStateJson(json, MeterSchema, `group rollup state of ${key}`, ROLLUP_STATE);
        devices.set(key.slice(2), { h: m.h ?? Number.NEGATIVE_INFINITY, d: m.d ?? Number.NEGATIVE_INFINITY });
        return;
      }
      if (!key.startsWith('d:')) {
        throw new AppError('ERR_ROLLUP_STATE', `group rollup state key: ${key} (m:<deviceId> or d:<group>)`);
      }
      const value = typeof json === 'string' ? safeJson(json) : json;
      if (value && typeof value === 'object' && !('v' in value)) {
        // A snapshot written before streetlights and parking: water meters' district sums.
        const legacy = parseStateJson(json, LegacyGroupSchema, `group rollup state of ${key}`, ROLLUP_STATE);
        groups.set(
          key.slice(2),
          new Map(legacy.periods.map(([k, ml, n]) => [`water-meter|${k}`, { devices: n, sums: [ml] }])),
        );
        return;
      }
      const g = parseStateJson(json, GroupSchema, `group rollup state of ${key}`, ROLLUP_STATE);
      for (const [k, , sums] of g.periods) {
        const spec = GROUP_KINDS[parseKey(k).kind];
        if (!spec || sums.length !== Object.keys(spec.sums).length) {
          throw new AppError(
            'ERR_ROLLUP_STATE',
            `group rollup state of ${key}: ${k} has ${sums.length} sums (${ROLLUP_STATE.expected})`,
          );
        }
      }
      groups.set(key.slice(2), new Map(g.periods.map(([k, n, sums]) => [k, { devices: n, sums }])));
    },

    snapshotClock() {
      return JSON.stringify({ v: 1, watermarkMs: Number.isFinite(watermarkMs) ? watermarkMs : null });
    },

    restoreClock(json) {
      const c = parseStateJson(json, ClockSchema, 'group rollup clock', ROLLUP_STATE);
      if (c.watermarkMs !== null) watermarkMs = Math.max(watermarkMs, c.watermarkMs);
    },

    size: () => devices.size + groups.size,
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
