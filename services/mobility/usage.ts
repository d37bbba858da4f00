import { z } from 'zod';
import { EventTime } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';

/**
 * The usage events of the mobility account, as they will travel on {@link MOBILITY_USAGE_TOPIC} (key = accountId,
 * so one account's usage stays in order on one partition). One event is one finished, priced-or-priceable use:
 * a tram/bus validation (an instant), a bike-share rental, a car-share trip, or a parking session (with its own
 * price, set by the parking service). An event is emitted once the use is over (an unfinished rental is not
 * billable); `usageId` is its idempotency key: the same id twice is counted once.
 *
 * Strict: one object shape per kind (a discriminated union on `kind`), unknown keys refused, times as ISO 8601 with
 * a zone or epoch ms (parsed to epoch ms), an end never before its start, a rental at most
 * {@link MAX_USAGE_DURATION_MS} long, distances and amounts bounded.
 */

/** The bus topic of usage events (key = accountId). */
export const MOBILITY_USAGE_TOPIC = 'mobility-usage.v1';

/** Longest use accepted, ms: 31 days (a longer rental is a device or operator error). */
export const MAX_USAGE_DURATION_MS = 31 * 86_400_000;

/** The kinds of usage, in invoice order. */
export const USAGE_KINDS = ['transit-validation', 'bike-rental', 'car-share-trip', 'parking-session'] as const;
/** A kind of usage. */
export type UsageKind = (typeof USAGE_KINDS)[number];

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** An account id: letters, digits, `.`, `_`, `:`, `-`; 1–64 characters. */
export const AccountId = z
  .string()
  .min(1)
  .max(64)
  .regex(ID, 'letters, digits, . _ : - (starting with a letter or digit)');

/** A usage id, the idempotency key: same characters as an account id, 1–128. */
export const UsageId = z
  .string()
  .min(1)
  .max(128)
  .regex(ID, 'letters, digits, . _ : - (starting with a letter or digit)');

/** A time on the bus: ISO 8601 with a zone or epoch ms, 1990–2100; parsed to epoch ms. */
export const UsageTime = EventTime.transform((iso) => Date.parse(iso));

/** A name shown on the invoice (a line, a station, a zone): printable, trimmed, 1–80 characters. */
const Label = z
  .string()
  .trim()
  .min(1)
  .max(80)
  .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'printable characters only');

const common = {
  usageId: UsageId,
  accountId: AccountId,
  startedAt: UsageTime,
};

/** A transit validation (tram, bus, tram-train): an instant, no end. */
const TransitValidation = z.strictObject({
  ...common,
  kind: z.literal('transit-validation'),
  details: z.strictObject({
    line: Label,
    stationFrom: Label.optional(),
    mode: z.enum(['bus', 'tram', 'tram-train']).optional(),
  }),
});

/** A bike-share rental, from unlocking to return. */
const BikeRental = z.strictObject({
  ...common,
  kind: z.literal('bike-rental'),
  endedAt: UsageTime,
  details: z.strictObject({ stationFrom: Label.optional(), stationTo: Label.optional() }),
});

/** A car-share trip, from start to return, with the distance driven. */
const CarShareTrip = z.strictObject({
  ...common,
  kind: z.literal('car-share-trip'),
  endedAt: UsageTime,
  details: z.strictObject({
    km: z.number().finite().min(0).max(5_000).describe('Distance driven, km (metre resolution)'),
    stationFrom: Label.optional(),
    stationTo: Label.optional(),
  }),
});

/** A parking session, priced by the parking service (SMS or meter): passed through at its own amount. */
const ParkingSession = z.strictObject({
  ...common,
  kind: z.literal('parking-session'),
  endedAt: UsageTime,
  details: z.strictObject({
    zone: Label,
    amountCents: z.number().int().min(0).max(100_000).describe("The session's own price, euro cents"),
  }),
});

/** A usage event of the mobility account (`mobility-usage.v1`). */
export const UsageEvent = z
  .discriminatedUnion('kind', [TransitValidation, BikeRental, CarShareTrip, ParkingSession])
  .superRefine((e, ctx) => {
    if (e.kind === 'transit-validation') return;
    if (e.endedAt < e.startedAt) {
      ctx.addIssue({
        code: 'custom',
        path: ['endedAt'],
        message: 'endedAt before startedAt (an end at or after the start)',
      });
    } else if (e.endedAt - e.startedAt > MAX_USAGE_DURATION_MS) {
      ctx.addIssue({ code: 'custom', path: ['endedAt'], message: 'a use longer than 31 days (at most 31 days)' });
    }
  });
/** A usage event, parsed: times are epoch ms. */
export type UsageEvent = z.output<typeof UsageEvent>;
/** A usage event as it is written on the bus (times as ISO 8601 or epoch ms). */
export type UsageEventInput = z.input<typeof UsageEvent>;

/**
 * Parses one usage event from the bus; ERR_MOBILITY_USAGE_INVALID (permanent: dead-letter it) naming the paths of
 * the issues otherwise.
 */
export function parseUsage(value: unknown): UsageEvent {
  const result = UsageEvent.safeParse(value);
  if (result.success) return result.data;
  const paths = result.error.issues.map((i) => i.path.join('.') || '(root)');
  throw new AppError(
    'ERR_MOBILITY_USAGE_INVALID',
    `usage event: ${[...new Set(paths)].join(', ')} (${z.prettifyError(result.error).replace(/\n/g, ' ')})`,
    { cause: result.error },
  );
}
