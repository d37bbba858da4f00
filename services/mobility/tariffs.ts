import { z } from 'zod';
import { AppError } from '../../core/errors.ts';

/**
 * The mobility tariffs, in integer euro cents. {@link DEFAULT_TARIFFS} is an EXAMPLE table for tests and
 * development, in the range of a French city's network in 2026 — not the operator's official prices; the city sets
 * the real table through configuration (`TariffTable`).
 *
 * Rules (billing.ts applies them; days and months are LOCAL to the city's time zone, a day lasting 23 h or 25 h
 * on DST days; durations are elapsed time, not wall-clock differences):
 * - **Transit**: one fare per trip. A trip starts at a validation; any validation less than
 *   `transferWindowMinutes` after the trip's first one is a free transfer (at exactly 60 min a new trip starts).
 *   Trips are billed on the local day of their first validation; a day's fares are capped at `dailyCapCents` (a day
 *   pass), then the month's capped days at `monthlyCapCents` (a monthly pass): the best fare, computed afterwards.
 *   A transfer window never crosses into the next month (each month's invoice depends on its own events only).
 * - **Bike share**: the first `freeMinutes` of a rental free, then `blockCents` per started `blockMinutes`; the
 *   rentals started on one local day capped at `dailyCapCents`. A rental crossing midnight counts on the day it
 *   started.
 * - **Car share**: `timeBlockCents` per started `timeBlockMinutes` of rental plus `kmCents` per km (rounded to the
 *   nearest cent per trip, half up). A trip crossing midnight is billed on the day it started. No cap.
 * - **Parking**: each session at its own amount (the parking service priced it). No cap.
 */

const cents = (defaultCents: number, what: string) =>
  z.number().int().min(0).max(1_000_000).default(defaultCents).describe(`${what}, euro cents`);
const minutes = (defaultMinutes: number, min: number, what: string) =>
  z.number().int().min(min).max(1_440).default(defaultMinutes).describe(`${what}, minutes`);

/** Transit (tram, bus, tram-train) tariff. */
export const TransitTariff = z
  .strictObject({
    fareCents: cents(150, 'Price of one trip (a single ticket)'),
    transferWindowMinutes: minutes(60, 0, 'Validations less than this after a trip’s first one are free transfers'),
    dailyCapCents: cents(450, 'Most paid for trips started on one local day (a day pass)'),
    monthlyCapCents: cents(3_900, 'Most paid for trips in one local month, after daily caps (a monthly pass)'),
  })
  .superRefine((t, ctx) => {
    if (t.dailyCapCents < t.fareCents) {
      ctx.addIssue({
        code: 'custom',
        path: ['dailyCapCents'],
        message: 'transit.dailyCapCents below transit.fareCents',
      });
    }
    if (t.monthlyCapCents < t.dailyCapCents) {
      ctx.addIssue({
        code: 'custom',
        path: ['monthlyCapCents'],
        message: 'transit.monthlyCapCents below transit.dailyCapCents',
      });
    }
  });

/** Bike-share tariff. */
export const BikeTariff = z
  .strictObject({
    freeMinutes: minutes(30, 0, 'Free minutes at the start of each rental'),
    blockMinutes: minutes(30, 1, 'Length of a paid block after the free minutes (each started block is due)'),
    blockCents: cents(100, 'Price of one started paid block'),
    dailyCapCents: cents(500, 'Most paid for rentals started on one local day'),
  })
  .superRefine((t, ctx) => {
    if (t.dailyCapCents < t.blockCents) {
      ctx.addIssue({ code: 'custom', path: ['dailyCapCents'], message: 'bike.dailyCapCents below bike.blockCents' });
    }
  });

/** Car-share tariff. */
export const CarShareTariff = z.strictObject({
  timeBlockMinutes: minutes(15, 1, 'Length of a time block (each started block is due)'),
  timeBlockCents: cents(75, 'Price of one started time block (75 per 15 min: 3 € per hour)'),
  kmCents: cents(30, 'Price per km driven'),
});

/** A tariff table: what the mobility account charges. */
export const TariffTable = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(64)
    .default('example-2026')
    .describe('Name of this table, written on each invoice (an invoice says which prices it used)'),
  transit: TransitTariff.prefault({}).describe('Tram, bus and tram-train'),
  bike: BikeTariff.prefault({}).describe('Bike share'),
  carShare: CarShareTariff.prefault({}).describe('Car share'),
});
/** A tariff table, parsed (every key present). */
export type TariffTable = z.output<typeof TariffTable>;

/** The example table (not the operator's official prices): 1,50 € a trip, 4,50 € a day, 39 € a month, etc. */
export const DEFAULT_TARIFFS: TariffTable = Object.freeze(TariffTable.parse({}));

/** Parses a tariff table from configuration; ERR_MOBILITY_TARIFF_INVALID listing every issue otherwise. */
export function parseTariffTable(value: unknown): TariffTable {
  const result = TariffTable.safeParse(value);
  if (result.success) return result.data;
  throw new AppError(
    'ERR_MOBILITY_TARIFF_INVALID',
    `tariff table: ${z.prettifyError(result.error).replace(/\n/g, ' ')} (see services/mobility/tariffs.ts)`,
    { cause: result.error },
  );
}

/** Price of one bike rental of `durationMs` (elapsed), euro cents, before the daily cap. */
export function bikeRentalCents(durationMs: number, tariff: TariffTable['bike']): number {
  const over = Math.max(0, startedMinutes(durationMs) - tariff.freeMinutes);
  return Math.ceil(over / tariff.blockMinutes) * tariff.blockCents;
}

/** Price of one car-share trip of `durationMs` (elapsed) and `km`, euro cents: time blocks + distance. */
export function carShareTripCents(durationMs: number, km: number, tariff: TariffTable['carShare']): number {
  const blocks = Math.ceil(startedMinutes(durationMs) / tariff.timeBlockMinutes);
  const metres = Math.round(km * 1000);
  // Integer arithmetic on metres: km × cents/km rounded half up to the cent (positive values).
  return blocks * tariff.timeBlockCents + Math.floor((metres * tariff.kmCents + 500) / 1000);
}

/** Minutes of a duration, each started minute counted: 75 min 0 s → 75, 30 min 1 s → 31. */
export function startedMinutes(durationMs: number): number {
  return Math.ceil(Math.max(0, durationMs) / 60_000);
}
