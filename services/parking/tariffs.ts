import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { createLocalCalendar, type LocalCalendar } from '../../core/local-time.ts';

/**
 * Parking tariffs (issue 8), pure: a zod tariff table (zones, paid periods by weekday and local time of day, free
 * public holidays, maximum stay, billing step, minimum charge) and the quote of a session. Money is integer euro
 * cents; time is epoch ms read in the city's IANA time zone (`VIGIE_TZ`, Europe/Paris) through core/local-time.ts,
 * so days of 23 h and 25 h come out right.
 *
 * Rules (how French paid on-street parking works — "temps de stationnement payant"):
 * - A driver buys PAID minutes. The clock runs through free periods (lunch, nights, Sundays, public holidays) and
 *   the session ends when the paid minutes are used up: 60 min bought at 18:30 on a 09:00–19:00 weekday gives
 *   18:30–19:00 and 09:00–09:30 the next paid day (Paris and most French cities carry unused time over the same way).
 * - The requested minutes are rounded UP to the zone's billing step (15 min: "per started quarter hour"), and the
 *   driver gets every minute paid for (20 min asked = 30 min given and charged).
 * - The maximum stay counts paid minutes of the whole session (an extension included) and caps the request (the
 *   quote says `capped`); the callers refuse a start over it (sms-commands.ts) and an extension past it.
 * - Price = Σ (paid ms × the window's cents per hour) / 3 600 000, rounded half up to the cent, then at least the
 *   zone's minimum charge. Windows may have different prices (time-of-day pricing).
 * - A window boundary that falls in the spring DST gap moves to the first instant after it; an ambiguous autumn
 *   time is its first occurrence (the two ways java.time resolves them).
 */

const HHMM = /^(?:[01]\d|2[0-3]):[0-5]\d$|^24:00$/;
const ISO_DATE = /^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/;
const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Days a quote may search ahead for paid time before giving up (a table with almost no paid time). */
const HORIZON_DAYS = 400;

/** Days of the week as the tariff table names them (Monday first, as in France). */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
/** A day of the week. */
export type Weekday = (typeof WEEKDAYS)[number];
/** `Date.getUTCDay()` order (Sunday = 0). */
const JS_WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const minutesOfDay = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** One paid window: on these weekdays, from `from` to `to` local time, at `centsPerHour`. */
export const PaidPeriod = z
  .strictObject({
    days: z.array(z.enum(WEEKDAYS)).min(1).max(7).describe('Weekdays the window applies to (mon … sun).'),
    from: z.string().regex(HHMM, 'HH:MM').describe('Local start time, HH:MM (inclusive).'),
    to: z
      .string()
      .regex(HHMM, 'HH:MM')
      .describe('Local end time, HH:MM (exclusive; 24:00 = midnight); a night window is two windows.'),
    centsPerHour: z.number().int().min(0).max(100_000).describe('Price in euro cents per paid hour (240 = €2.40/h).'),
  })
  .refine((p) => minutesOfDay(p.from) < minutesOfDay(p.to), {
    message: 'from must be before to (split a window that crosses midnight in two)',
    path: ['to'],
  });
/** One paid window. */
export type PaidPeriod = z.output<typeof PaidPeriod>;

/** The tariff of one zone. */
export const ZoneTariff = z
  .strictObject({
    description: z.string().max(200).default('').describe('What the zone covers, for operators.'),
    aliases: z
      .array(z.string().min(1).max(20))
      .max(10)
      .default([])
      .describe('Other names a driver may text for the zone (e.g. red, r); case and accents ignored.'),
    periods: z.array(PaidPeriod).min(1).max(50).describe('Paid windows; any other time is free.'),
    publicHolidays: z
      .enum(['free', 'paid'])
      .default('free')
      .describe('free: public holidays of the table calendar are free all day, like Sundays.'),
    maxStayMinutes: z
      .number()
      .int()
      .min(1)
      .max(24 * 60)
      .describe('Longest paid stay of one session, in paid minutes, extensions included.'),
    billingStepMinutes: z
      .number()
      .int()
      .min(1)
      .max(60)
      .default(15)
      .describe('Durations are rounded up to a multiple of this many minutes (15 = per started quarter hour).'),
    minimumChargeCents: z
      .number()
      .int()
      .min(0)
      .max(100_000)
      .default(0)
      .describe('Least amount charged for a session with any paid time, in euro cents.'),
  })
  .superRefine((zone, ctx) => {
    if (zone.maxStayMinutes % zone.billingStepMinutes !== 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['maxStayMinutes'],
        message: `maxStayMinutes (${zone.maxStayMinutes}) must be a multiple of billingStepMinutes (${zone.billingStepMinutes})`,
      });
    }
    for (const day of WEEKDAYS) {
      const windows = zone.periods
        .map((p, i) => ({ i, from: minutesOfDay(p.from), to: minutesOfDay(p.to) }))
        .filter((w) => zone.periods[w.i]?.days.includes(day))
        .sort((a, b) => a.from - b.from);
      for (let k = 1; k < windows.length; k++) {
        const prev = windows[k - 1];
        const cur = windows[k];
        if (prev && cur && cur.from < prev.to) {
          ctx.addIssue({
            code: 'custom',
            path: ['periods', cur.i],
            message: `periods ${prev.i} and ${cur.i} overlap on ${day}`,
          });
        }
      }
    }
  });
/** The tariff of one zone. */
export type ZoneTariff = z.output<typeof ZoneTariff>;

/** A zone id: lower-case ASCII, e.g. `rouge`. */
export const ZoneId = z.string().regex(/^[a-z][a-z0-9-]{0,19}$/, 'lower-case letters, digits and -, 1–20 chars');

/** A tariff table: the zones of a city and the days parking is free everywhere. */
export const TariffTable = z
  .strictObject({
    holidayCalendar: z
      .enum(['france', 'alsace-moselle', 'none'])
      .default('alsace-moselle')
      .describe('Public holidays: france (11 days), alsace-moselle (+ Good Friday and 26 December), none.'),
    extraFreeDates: z
      .array(z.string().regex(ISO_DATE, 'YYYY-MM-DD'))
      .max(366)
      .default([])
      .describe('Local dates (YYYY-MM-DD) when parking is free in every zone, e.g. a car-free day.'),
    zones: z
      .record(ZoneId, ZoneTariff)
      .refine((zones) => Object.keys(zones).length > 0, 'at least one zone')
      .describe('Zones by id (the name drivers text, e.g. rouge).'),
  })
  .superRefine((table, ctx) => {
    const seen = new Map<string, string>();
    for (const [id, zone] of Object.entries(table.zones)) {
      for (const name of [id, ...zone.aliases]) {
        const key = foldName(name);
        const owner = seen.get(key);
        if (owner !== undefined && owner !== id) {
          ctx.addIssue({
            code: 'custom',
            path: ['zones', id, 'aliases'],
            message: `name ${name} is used by zones ${owner} and ${id}`,
          });
        }
        seen.set(key, id);
      }
    }
  });
/** A parsed tariff table. */
export type TariffTable = z.output<typeof TariffTable>;

/**
 * An EXAMPLE table for Mulhouse, to run and test with — realistic for a French city of its size, NOT the city's
 * official prices or zones. rouge: hypercentre, short stay (€2.40/h, 2 h max); orange: centre (€1.60/h, 4 h max);
 * vert: outskirts, long stay (€0.80/h, 10 h max, Saturday free). Paid Monday–Saturday 09:00–12:00 and 13:30–19:00
 * (vert: Monday–Friday, until 18:00); free at lunch, at night, on Sundays and on Alsace-Moselle public holidays.
 */
export const MULHOUSE_EXAMPLE_TARIFFS: TariffTable = TariffTable.parse({
  holidayCalendar: 'alsace-moselle',
  zones: {
    rouge: {
      description: 'Hypercentre (example): short stay, high turnover.',
      aliases: ['red', 'r'],
      periods: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: '09:00', to: '12:00', centsPerHour: 240 },
        { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: '13:30', to: '19:00', centsPerHour: 240 },
      ],
      maxStayMinutes: 120,
      billingStepMinutes: 15,
      minimumChargeCents: 60,
    },
    orange: {
      description: 'Centre (example): medium stay.',
      aliases: ['o'],
      periods: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: '09:00', to: '12:00', centsPerHour: 160 },
        { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat'], from: '13:30', to: '19:00', centsPerHour: 160 },
      ],
      maxStayMinutes: 240,
      billingStepMinutes: 15,
      minimumChargeCents: 50,
    },
    vert: {
      description: 'Outskirts (example): long stay, free on Saturdays.',
      aliases: ['green', 'v'],
      periods: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '12:00', centsPerHour: 80 },
        { days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '13:30', to: '18:00', centsPerHour: 80 },
      ],
      maxStayMinutes: 600,
      billingStepMinutes: 15,
      minimumChargeCents: 20,
    },
  },
});

/** Lower-case, accents and spaces removed: how zone names are compared. */
export function foldName(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[\s\-_.]/g, '');
}

/** The zone id a driver's word names (its id or an alias; case, accents and spaces ignored), or undefined. */
export function findZone(table: TariffTable, name: string): string | undefined {
  const key = foldName(name);
  if (key === '') return undefined;
  for (const [id, zone] of Object.entries(table.zones)) {
    if (foldName(id) === key || zone.aliases.some((a) => foldName(a) === key)) return id;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Public holidays

/** Easter Sunday of `year` (Gregorian; Meeus/Jones/Butcher), as `YYYY-MM-DD`. */
export function easterSunday(year: number): string {
  const a = year % 19;
  const b = Math.floor(year / 100);
  const c = year % 100;
  const d = Math.floor(b / 4);
  const e = b % 4;
  const f = Math.floor((b + 8) / 25);
  const g = Math.floor((b - f + 1) / 3);
  const h = (19 * a + b - d - g + 15) % 30;
  const i = Math.floor(c / 4);
  const k = c % 4;
  const l = (32 + 2 * e + 2 * i - h - k) % 7;
  const m = Math.floor((a + 11 * h + 22 * l) / 451);
  const month = Math.floor((h + l - 7 * m + 114) / 31);
  const day = ((h + l - 7 * m + 114) % 31) + 1;
  return isoDate(Date.UTC(year, month - 1, day) / DAY_MS);
}

const isoDate = (epochDay: number): string => new Date(epochDay * DAY_MS).toISOString().slice(0, 10);
const epochDayOf = (iso: string): number => Date.parse(`${iso}T00:00:00Z`) / DAY_MS;

/**
 * Public holidays of `year` (`YYYY-MM-DD`, sorted): the 11 French ones (Code du travail L3133-1: 1 Jan, Easter
 * Monday, 1 May, 8 May, Ascension, Whit Monday, 14 Jul, 15 Aug, 1 Nov, 11 Nov, 25 Dec) and, for alsace-moselle,
 * Good Friday and 26 December (L3134-13), which apply in Mulhouse.
 */
export function publicHolidays(year: number, calendar: TariffTable['holidayCalendar']): string[] {
  if (calendar === 'none') return [];
  const easter = epochDayOf(easterSunday(year));
  const y = String(year).padStart(4, '0');
  const days = [
    `${y}-01-01`,
    isoDate(easter + 1),
    `${y}-05-01`,
    `${y}-05-08`,
    isoDate(easter + 39),
    isoDate(easter + 50),
    `${y}-07-14`,
    `${y}-08-15`,
    `${y}-11-01`,
    `${y}-11-11`,
    `${y}-12-25`,
  ];
  if (calendar === 'alsace-moselle') days.push(isoDate(easter - 2), `${y}-12-26`);
  return days.sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Local days

const calendars = new Map<string, LocalCalendar>();

function calendarOf(timeZone: string): LocalCalendar {
  let cal = calendars.get(timeZone);
  if (!cal) {
    try {
      cal = createLocalCalendar(timeZone);
    } catch (cause) {
      throw new AppError('ERR_PARKING_TIME_ZONE', `unknown time zone: ${timeZone} (an IANA name, e.g. Europe/Paris)`, {
        cause,
      });
    }
    calendars.set(timeZone, cal);
  }
  return cal;
}

/**
 * The UTC instant of a local wall-clock time (`wallMs` = the local time read as if it were UTC). In the spring gap,
 * the instant after the gap (02:30 → 03:30); when ambiguous in autumn, the first occurrence. Assumes at most one
 * offset change within a day either side (true of every zone's rules).
 */
function wallToUtc(cal: LocalCalendar, wallMs: number): number {
  const before = cal.offsetMs(wallMs - DAY_MS);
  const after = cal.offsetMs(wallMs + DAY_MS);
  let best: number | undefined;
  for (const offset of before === after ? [before] : [before, after]) {
    const utc = wallMs - offset;
    if (cal.offsetMs(utc) === offset && (best === undefined || utc < best)) best = utc;
  }
  return best ?? wallMs - before;
}

/** Local epoch day (days since 1970-01-01 on the local calendar) of `utcMs`. */
function localDay(cal: LocalCalendar, utcMs: number): number {
  return Math.floor((utcMs + cal.offsetMs(utcMs)) / DAY_MS);
}

/** Why a stretch of time is free. */
export type FreeReason = 'off-hours' | 'public-holiday' | 'free-date';

interface Window {
  readonly startMs: number;
  readonly endMs: number;
  readonly centsPerHour: number;
}

interface DayPlan {
  readonly startMs: number;
  readonly endMs: number;
  /** Paid windows, sorted, inside [startMs, endMs). */
  readonly windows: readonly Window[];
  /** Why the rest of the day is free. */
  readonly freeReason: FreeReason;
}

interface Context {
  readonly cal: LocalCalendar;
  readonly table: TariffTable;
  readonly zone: ZoneTariff;
  readonly holidays: Map<number, Set<string>>;
  readonly freeDates: Set<string>;
}

function contextOf(table: TariffTable, zoneId: string, timeZone: string): Context {
  const zone = table.zones[zoneId];
  if (!zone) {
    throw new AppError(
      'ERR_PARKING_ZONE_UNKNOWN',
      `unknown parking zone: ${zoneId} (one of ${Object.keys(table.zones).join(', ')})`,
    );
  }
  return { cal: calendarOf(timeZone), table, zone, holidays: new Map(), freeDates: new Set(table.extraFreeDates) };
}

function dayPlan(ctx: Context, day: number): DayPlan {
  const { cal, zone } = ctx;
  const wall0 = day * DAY_MS;
  const startMs = wallToUtc(cal, wall0);
  const endMs = wallToUtc(cal, wall0 + DAY_MS);
  const iso = isoDate(day);
  const year = Number(iso.slice(0, 4));
  let holidays = ctx.holidays.get(year);
  if (!holidays) {
    holidays = new Set(publicHolidays(year, ctx.table.holidayCalendar));
    ctx.holidays.set(year, holidays);
  }
  if (ctx.freeDates.has(iso)) return { startMs, endMs, windows: [], freeReason: 'free-date' };
  if (zone.publicHolidays === 'free' && holidays.has(iso)) {
    return { startMs, endMs, windows: [], freeReason: 'public-holiday' };
  }
  const weekday = JS_WEEKDAYS[new Date(wall0).getUTCDay()] as Weekday;
  const windows = zone.periods
    .filter((p) => p.days.includes(weekday))
    .map((p) => ({
      startMs: wallToUtc(cal, wall0 + minutesOfDay(p.from) * MINUTE_MS),
      endMs: p.to === '24:00' ? endMs : wallToUtc(cal, wall0 + minutesOfDay(p.to) * MINUTE_MS),
      centsPerHour: p.centsPerHour,
    }))
    .filter((w) => w.endMs > w.startMs)
    .sort((a, b) => a.startMs - b.startMs);
  return { startMs, endMs, windows, freeReason: 'off-hours' };
}

// ---------------------------------------------------------------------------------------------------------------
// Quotes

/** A stretch of a session: paid at a price, or free for a reason. */
export type QuoteSegment =
  | { readonly kind: 'paid'; readonly startMs: number; readonly endMs: number; readonly centsPerHour: number }
  | { readonly kind: 'free'; readonly startMs: number; readonly endMs: number; readonly reason: FreeReason };

/** The price and the span of a session. */
export interface Quote {
  readonly zone: string;
  readonly startMs: number;
  /** When the paid minutes are used up (free periods skipped), epoch ms. */
  readonly endMs: number;
  /** Minutes asked for. */
  readonly requestedMinutes: number;
  /** Paid minutes given and charged: the request rounded up to the billing step, at most the maximum stay. */
  readonly paidMinutes: number;
  /** Free minutes between start and end (whole unless the session starts in free time off a whole minute). */
  readonly freeMinutes: number;
  /** Euro cents. */
  readonly amountCents: number;
  /** True when the maximum stay cut the request. */
  readonly capped: boolean;
  /** Contiguous, from startMs to endMs; paid ones add up to paidMinutes. */
  readonly segments: readonly QuoteSegment[];
}

function checkMinutes(minutes: number, what: string): void {
  if (!Number.isSafeInteger(minutes) || minutes < 1 || minutes > 7 * 24 * 60) {
    throw new AppError('ERR_PARKING_DURATION_INVALID', `${what}: ${minutes} (a whole number of minutes, 1–10080)`);
  }
}

function checkInstant(ms: number, what: string): void {
  if (!Number.isSafeInteger(ms)) throw new AppError('ERR_PARKING_TIME_INVALID', `${what}: ${ms} (epoch ms)`);
}

/** Walks the zone's calendar from `startMs` until `paidMs` of paid time is used up. */
function walk(ctx: Context, startMs: number, paidMs: number): QuoteSegment[] {
  const segments: QuoteSegment[] = [];
  const push = (seg: QuoteSegment) => {
    if (seg.endMs <= seg.startMs) return;
    const last = segments.at(-1);
    if (
      last &&
      last.kind === seg.kind &&
      (last.kind === 'paid'
        ? seg.kind === 'paid' && last.centsPerHour === seg.centsPerHour
        : seg.kind === 'free' && last.reason === seg.reason)
    ) {
      segments[segments.length - 1] = { ...last, endMs: seg.endMs };
      return;
    }
    segments.push(seg);
  };
  let t = startMs;
  let remaining = paidMs;
  let day = localDay(ctx.cal, startMs);
  for (let n = 0; remaining > 0; n++, day++) {
    if (n > HORIZON_DAYS) {
      throw new AppError(
        'ERR_PARKING_TARIFF_NO_PAID_TIME',
        `no paid time left within ${HORIZON_DAYS} days in zone tariff (paid windows on some weekdays)`,
      );
    }
    const plan = dayPlan(ctx, day);
    for (const w of plan.windows) {
      if (remaining === 0 || w.endMs <= t) continue;
      const from = Math.max(w.startMs, t);
      push({ kind: 'free', startMs: t, endMs: from, reason: plan.freeReason });
      const take = Math.min(w.endMs - from, remaining);
      push({ kind: 'paid', startMs: from, endMs: from + take, centsPerHour: w.centsPerHour });
      t = from + take;
      remaining -= take;
    }
    if (remaining > 0 && plan.endMs > t) {
      push({ kind: 'free', startMs: t, endMs: plan.endMs, reason: plan.freeReason });
      t = plan.endMs;
    }
  }
  return segments;
}

function priceOf(zone: ZoneTariff, segments: readonly QuoteSegment[]): number {
  let centMs = 0;
  for (const s of segments) if (s.kind === 'paid') centMs += (s.endMs - s.startMs) * s.centsPerHour;
  if (centMs === 0) return 0;
  const cents = Math.floor((centMs + 1_800_000) / 3_600_000); // half up
  return Math.max(cents, zone.minimumChargeCents);
}

function quoteIn(ctx: Context, zoneId: string, startMs: number, requestedMinutes: number, paidMinutes: number): Quote {
  const segments = walk(ctx, startMs, paidMinutes * MINUTE_MS);
  const endMs = segments.at(-1)?.endMs ?? startMs;
  let freeMs = 0;
  for (const s of segments) if (s.kind === 'free') freeMs += s.endMs - s.startMs;
  return {
    zone: zoneId,
    startMs,
    endMs,
    requestedMinutes,
    paidMinutes,
    freeMinutes: freeMs / MINUTE_MS,
    amountCents: priceOf(ctx.zone, segments),
    capped: false,
    segments,
  };
}

const roundUp = (minutes: number, step: number) => Math.ceil(minutes / step) * step;

/**
 * The quote of a session in `zone` from `startMs` for `minutes` paid minutes, in `timeZone` (IANA): rounded up to
 * the billing step, capped at the maximum stay, free periods skipped. Throws ERR_PARKING_ZONE_UNKNOWN,
 * ERR_PARKING_DURATION_INVALID (not 1–10080), ERR_PARKING_TIME_ZONE.
 */
export function quote(table: TariffTable, zone: string, startMs: number, minutes: number, timeZone: string): Quote {
  checkInstant(startMs, 'parking start');
  checkMinutes(minutes, 'parking duration');
  const ctx = contextOf(table, zone, timeZone);
  const rounded = roundUp(minutes, ctx.zone.billingStepMinutes);
  const paid = Math.min(rounded, ctx.zone.maxStayMinutes);
  return { ...quoteIn(ctx, zone, startMs, minutes, paid), capped: rounded > paid };
}

/** A session as far as pricing goes: where, from when, how many paid minutes so far. */
export interface SessionSpan {
  readonly zone: string;
  readonly startMs: number;
  readonly paidMinutes: number;
}

/** The quote of an extension: the whole session after it, and what the extension adds and costs. */
export interface ExtensionQuote {
  /** The whole session once extended (its amountCents is the session's total). */
  readonly session: Quote;
  /** Session end before the extension, epoch ms. */
  readonly previousEndMs: number;
  /** Session end after it, epoch ms. */
  readonly endMs: number;
  readonly requestedMinutes: number;
  /** Paid minutes the extension adds (0 when the maximum stay is already reached). */
  readonly addedMinutes: number;
  /** Euro cents to charge for the extension: the session's new total minus its previous total. */
  readonly amountCents: number;
  /** True when the maximum stay (counted over the whole session) cut the request. */
  readonly capped: boolean;
}

/**
 * The quote of extending `session` by `minutes` paid minutes: priced as the whole session minus what it cost
 * before (so the minimum charge and the rounding count once), capped so the whole session stays within the
 * maximum stay. The caller refuses when `capped` (or `addedMinutes` is 0) and says how much is left. An
 * extension asked after the session ended is a new session, not an extension.
 */
export function extendQuote(
  table: TariffTable,
  session: SessionSpan,
  minutes: number,
  timeZone: string,
): ExtensionQuote {
  checkInstant(session.startMs, 'parking start');
  checkMinutes(minutes, 'parking extension');
  const ctx = contextOf(table, session.zone, timeZone);
  const step = ctx.zone.billingStepMinutes;
  if (!Number.isSafeInteger(session.paidMinutes) || session.paidMinutes < 1) {
    throw new AppError('ERR_PARKING_DURATION_INVALID', `session paid minutes: ${session.paidMinutes} (≥ 1)`);
  }
  const before = quoteIn(ctx, session.zone, session.startMs, session.paidMinutes, session.paidMinutes);
  const wanted = session.paidMinutes + roundUp(minutes, step);
  const total = Math.max(session.paidMinutes, Math.min(wanted, ctx.zone.maxStayMinutes));
  const after = quoteIn(ctx, session.zone, session.startMs, wanted, total);
  return {
    session: { ...after, capped: wanted > total },
    previousEndMs: before.endMs,
    endMs: after.endMs,
    requestedMinutes: minutes,
    addedMinutes: total - session.paidMinutes,
    amountCents: Math.max(0, after.amountCents - before.amountCents),
    capped: wanted > total,
  };
}

/** What a session stopped early costs: the paid time used, rounded up to the billing step. */
export interface StopQuote {
  /** Paid minutes used until the stop, rounded up to the billing step (≤ the session's). */
  readonly usedPaidMinutes: number;
  /** Euro cents due for them (0 when no paid time was used: stopped during a free period before any). */
  readonly amountCents: number;
  /** Euro cents to give back: the session's price minus what is due (≥ 0). */
  readonly refundCents: number;
}

/**
 * The settlement of `session` stopped at `stopMs` (a FIN reply): paid time used until then, rounded up to the
 * billing step, at the session's prices; the rest is refunded. A stop at or after the end refunds nothing.
 */
export function stopQuote(table: TariffTable, session: SessionSpan, stopMs: number, timeZone: string): StopQuote {
  checkInstant(stopMs, 'parking stop');
  checkInstant(session.startMs, 'parking start');
  const ctx = contextOf(table, session.zone, timeZone);
  const full = quoteIn(ctx, session.zone, session.startMs, session.paidMinutes, session.paidMinutes);
  let usedMs = 0;
  for (const s of full.segments) {
    if (s.kind === 'paid') usedMs += Math.max(0, Math.min(s.endMs, stopMs) - s.startMs);
  }
  const used = Math.min(session.paidMinutes, roundUp(usedMs / MINUTE_MS, ctx.zone.billingStepMinutes));
  const amountCents = used === 0 ? 0 : quoteIn(ctx, session.zone, session.startMs, used, used).amountCents;
  return { usedPaidMinutes: used, amountCents, refundCents: Math.max(0, full.amountCents - amountCents) };
}

/** True when parking in `zone` must be paid at `atMs` (a paid window, not a free day): for enforcement. */
export function paymentRequiredAt(table: TariffTable, zone: string, atMs: number, timeZone: string): boolean {
  checkInstant(atMs, 'instant');
  const ctx = contextOf(table, zone, timeZone);
  const plan = dayPlan(ctx, localDay(ctx.cal, atMs));
  return plan.windows.some((w) => w.startMs <= atMs && atMs < w.endMs);
}

/** Default lead of the expiry reminder, minutes (PayByPhone reminds 5–7 min before; DOMAIN.md). */
export const REMINDER_LEAD_MINUTES = 6;

/**
 * When to send the expiry reminder of a session ending at `endMs`: `leadMinutes` before it, or undefined when that
 * is not after `startMs` (a session too short to need one).
 */
export function reminderAtMs(startMs: number, endMs: number, leadMinutes = REMINDER_LEAD_MINUTES): number | undefined {
  const at = endMs - leadMinutes * MINUTE_MS;
  return at > startMs ? at : undefined;
}

/** Parses a tariff table (e.g. from a config file); throws ERR_PARKING_TARIFF_INVALID naming every bad key. */
export function parseTariffTable(raw: unknown): TariffTable {
  const result = TariffTable.safeParse(raw);
  if (!result.success) {
    throw new AppError('ERR_PARKING_TARIFF_INVALID', `tariff table: ${z.prettifyError(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}
