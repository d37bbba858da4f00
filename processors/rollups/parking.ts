/**
 * Parking revenue and paid occupancy per meter, hour and local day, from the `payment` events of one partition of
 * `events.parking-meter.v1` — deterministic for a given partition log, on event time only.
 *
 * - A payment {amountCents, method coin|card|sms, minutes} at `ts` adds its amount and one payment to the hour
 *   containing `ts`, and its paid time [ts, ts + minutes) to every hour it overlaps (90 min at 10:45 → 15 min to
 *   10:00, 60 to 11:00, 15 to 12:00; across midnight, to both days). Paid time is kept in integer ms; a payment
 *   longer than `paymentMaxMinutes` (24 h) is cut there (counted), which bounds the open hours per meter (≈ 26).
 * - Sums are additive, so payments need no reordering: an hour is final once the partition's watermark (newest
 *   event time less `reorderToleranceMs`) passes its end — no later payment can reach it — and a payment whose hour
 *   is already final is dropped as `late` (counted). Duplicates (same ts, amount, method, minutes as one of the
 *   meter's last 16 payments) are dropped (counted). Events other than payments are left out (`not-payment`).
 * - A meter's hour is emitted only when something was paid in it (a payment or paid minutes); its local day
 *   (`VIGIE_TZ`, 23/24/25 h) likewise, as the sum of its final hours, once the watermark passes the day's end.
 *   Values: `revenueCents` (all methods), `revenueCoinCents`, `revenueCardCents`, `revenueSmsCents`, `payments`,
 *   `paidMinutes`, `paidOccupancy` = paid minutes / minutes of the period (the average number of paid vehicles).
 * Memory: per meter with open hours, its buckets (6 integers each, ≈ 26 at most), the day so far and 16 payment
 * keys (≈ 1–3 KiB); a meter with nothing open is forgotten.
 */
import { z } from 'zod';
import { EventClock } from '../../core/clock.ts';
import { type DeviceEvent, PaymentEventData, type Rollup } from '../../core/contracts/index.ts';
import type { LocalCalendar } from '../../core/local-time.ts';
import { type KeyedSnapshots, parseStateJson } from '../snapshots.ts';
import { type Place, ROLLUP_STATE } from './ordered-rollups.ts';

/** Why a parking event was left out on purpose. */
export type ParkingDropReason = 'duplicate' | 'late' | 'not-payment' | 'invalid';

/** Options of {@link createParkingRollups}. */
export interface ParkingRollupsOptions {
  readonly config: { readonly reorderToleranceMs: number; readonly paymentMaxMinutes: number };
  readonly calendar: LocalCalendar;
  readonly placeOf: (deviceId: string) => Place;
  readonly onDrop?: (reason: ParkingDropReason, event: DeviceEvent) => void;
  /** A payment whose paid time was cut at `paymentMaxMinutes`. */
  readonly onCut?: (event: DeviceEvent) => void;
}

/** Per-meter parking rollups of one partition (state key: deviceId; `ERR_ROLLUP_STATE` when unreadable). */
export interface ParkingRollups extends KeyedSnapshots {
  /** Takes one event; returns the rollups the watermark it moves made final, in period order per meter. */
  push(event: DeviceEvent): Rollup[];
  /** Makes every open hour and day final (end of a replay; tests). */
  flush(): Rollup[];
  /** Meters with state. */
  devices(): number;
}

/** Sums of a period: coin, card, sms cents, payments, paid ms. */
type Sums = [number, number, number, number, number];
const METHOD_INDEX = { coin: 0, card: 1, sms: 2 } as const;
/** Payments remembered per meter for deduplication. */
const RECENT_PAYMENTS = 16;

interface MeterEntry {
  /** Open hours: start ms → sums. */
  hours: Map<number, Sums>;
  /** The local day of the last final hour: [startMs, endMs, sums]; null when none is open. */
  day: [number, number, Sums] | null;
  /** Keys of the last payments, oldest first. */
  recent: string[];
}

const SumsSchema = z.tuple([z.number(), z.number(), z.number(), z.number(), z.number()]);
const SnapshotSchema = z.object({
  v: z.literal(1),
  hours: z.array(z.tuple([z.number(), SumsSchema])).max(24 * 40),
  day: z.tuple([z.number(), z.number(), SumsSchema]).nullable(),
  recent: z.array(z.string()).max(RECENT_PAYMENTS),
});
const ClockSchema = z.object({ v: z.literal(1), newestMs: z.number().nullable(), finalMs: z.number().nullable() });

const add = (a: Sums, b: Sums) => {
  for (let i = 0; i < 5; i++) a[i] = (a[i] as number) + (b[i] as number);
};

/** The values of a period of `lengthMs` with these sums. */
export function parkingValues(sums: Readonly<Sums>, lengthMs: number): Record<string, number> {
  const [coin, card, sms, payments, paidMs] = sums;
  return {
    revenueCents: coin + card + sms,
    revenueCoinCents: coin,
    revenueCardCents: card,
    revenueSmsCents: sms,
    payments,
    paidMinutes: paidMs / 60_000,
    paidOccupancy: paidMs / lengthMs,
  };
}

/** Creates the parking rollups of one partition. */
export function createParkingRollups(options: ParkingRollupsOptions): ParkingRollups {
  const { config, calendar, placeOf } = options;
  const onDrop = options.onDrop ?? (() => {});
  const onCut = options.onCut ?? (() => {});
  const clock = new EventClock(config.reorderToleranceMs);
  const maxPaidMs = config.paymentMaxMinutes * 60_000;
  const meters = new Map<string, MeterEntry>();
  const dirty = new Set<string>();
  /** Every hour starting before this is final (emitted or empty), ms. */
  let finalMs = Number.NEGATIVE_INFINITY;

  function record(id: string, period: 'hour' | 'day', startMs: number, endMs: number, sums: Sums): Rollup {
    return {
      kind: 'parking-meter',
      scope: 'device',
      deviceId: id,
      district: placeOf(id).district,
      period,
      start: new Date(startMs).toISOString(),
      values: parkingValues(sums, endMs - startMs),
    };
  }

  /** Emits the meter's open day if it ends at or before `uptoMs`. */
  function closeDay(id: string, m: MeterEntry, uptoMs: number, out: Rollup[]): void {
    if (m.day && m.day[1] <= uptoMs) {
      out.push(record(id, 'day', m.day[0], m.day[1], m.day[2]));
      m.day = null;
    }
  }

  /** Emits every hour (and day) of every meter that ends at or before `uptoMs` (an hour boundary or +∞). */
  function finalize(uptoMs: number, out: Rollup[]): void {
    if (!(uptoMs > finalMs)) return;
    finalMs = uptoMs;
    for (const [id, m] of meters) {
      const starts = [...m.hours.keys()].filter((s) => s < uptoMs).sort((a, b) => a - b);
      for (const startMs of starts) {
        const sums = m.hours.get(startMs) as Sums;
        m.hours.delete(startMs);
        closeDay(id, m, startMs, out);
        const endMs = calendar.nextHourMs(startMs);
        out.push(record(id, 'hour', startMs, endMs, sums));
        if (!m.day) {
          const dayStartMs = calendar.dayStartMs(startMs);
          m.day = [dayStartMs, calendar.nextDayMs(dayStartMs), [0, 0, 0, 0, 0]];
        }
        add(m.day[2], sums);
        dirty.add(id);
      }
      if (m.day && m.day[1] <= uptoMs) {
        closeDay(id, m, uptoMs, out);
        dirty.add(id);
      }
      if (m.hours.size === 0 && !m.day) meters.delete(id);
    }
  }

  return {
    push(event) {
      const out: Rollup[] = [];
      if (event.type !== 'payment') {
        onDrop('not-payment', event);
        return out;
      }
      // DeviceEvent already checks payment data (core/contracts/event.ts): `invalid` only guards its type here.
      const parsed = PaymentEventData.safeParse(event.data);
      if (!parsed.success) {
        onDrop('invalid', event);
        return out;
      }
      const data = parsed.data;
      const id = event.deviceId;
      const tsMs = Date.parse(event.ts);
      const hourStartMs = calendar.hourStartMs(tsMs);
      if (hourStartMs < finalMs) {
        onDrop('late', event);
        return out;
      }
      let m = meters.get(id);
      const key = `${tsMs}|${data.amountCents}|${data.method}|${data.minutes}`;
      if (m?.recent.includes(key)) {
        onDrop('duplicate', event);
        return out;
      }
      if (!m) {
        m = { hours: new Map(), day: null, recent: [] };
        meters.set(id, m);
      }
      m.recent.push(key);
      if (m.recent.length > RECENT_PAYMENTS) m.recent.shift();
      const bucket = (startMs: number): Sums => {
        let sums = (m as MeterEntry).hours.get(startMs);
        if (!sums) {
          sums = [0, 0, 0, 0, 0];
          (m as MeterEntry).hours.set(startMs, sums);
        }
        return sums;
      };
      const first = bucket(hourStartMs);
      first[METHOD_INDEX[data.method]] += data.amountCents;
      first[3] += 1;
      let paidMs = data.minutes * 60_000;
      if (paidMs > maxPaidMs) {
        onCut(event);
        paidMs = maxPaidMs;
      }
      const endMs = tsMs + paidMs;
      for (let h = hourStartMs; h < endMs; h = calendar.nextHourMs(h)) {
        const overlapMs = Math.min(endMs, calendar.nextHourMs(h)) - Math.max(tsMs, h);
        if (overlapMs > 0) bucket(h)[4] += overlapMs;
      }
      dirty.add(id);
      clock.observe(tsMs);
      const watermark = clock.watermarkMs();
      if (Number.isFinite(watermark)) finalize(calendar.hourStartMs(watermark), out);
      return out;
    },

    flush() {
      const out: Rollup[] = [];
      finalize(Number.POSITIVE_INFINITY, out);
      return out;
    },

    takeDirty() {
      const ids = [...dirty];
      dirty.clear();
      return ids;
    },

    snapshot(deviceId) {
      const m = meters.get(deviceId);
      if (!m) return undefined;
      return JSON.stringify({ v: 1, hours: [...m.hours], day: m.day, recent: m.recent });
    },

    restore(deviceId, json) {
      const s = parseStateJson(json, SnapshotSchema, `parking rollup state of ${deviceId}`, ROLLUP_STATE);
      meters.set(deviceId, {
        hours: new Map(s.hours.map(([k, v]) => [k, v as Sums])),
        day: s.day as [number, number, Sums] | null,
        recent: s.recent,
      });
    },

    snapshotClock() {
      const newestMs = clock.newestMs();
      return JSON.stringify({
        v: 1,
        newestMs: Number.isFinite(newestMs) ? newestMs : null,
        finalMs: Number.isFinite(finalMs) ? finalMs : null,
      });
    },

    restoreClock(json) {
      const c = parseStateJson(json, ClockSchema, 'parking rollup clock', ROLLUP_STATE);
      if (c.newestMs !== null) clock.observe(c.newestMs);
      if (c.finalMs !== null) finalMs = Math.max(finalMs, c.finalMs);
    },

    devices: () => meters.size,
  };
}
