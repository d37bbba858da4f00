import { AppError } from '../../core/errors.ts';
import { createLocalCalendar, type LocalCalendar } from '../../core/local-time.ts';

/**
 * Local dates and months of the city's time zone (`VIGIE_TZ`) for billing: a usage belongs to the local date and
 * month of its start. Built on core/local-time.ts (Intl offsets), so a local day lasts 23 h or 25 h on DST days and
 * 02:30 on the night clocks go back (two instants) is the same local date twice. Own copy of the few helpers the
 * alerting schedules also have (a stage never imports another's internals).
 */

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** A checked local month `YYYY-MM`, its bounds as epoch ms and its dates. */
export interface LocalMonth {
  /** `YYYY-MM`. */
  readonly month: string;
  /** Its first instant: local midnight of the 1st, epoch ms. */
  readonly startMs: number;
  /** The next month's first instant, epoch ms (exclusive). */
  readonly endMs: number;
  /** Its last local date, `YYYY-MM-DD`. */
  readonly lastDate: string;
}

const calendars = new Map<string, LocalCalendar>();

/**
 * The calendar of one zone (one per zone, kept: its offsets are cached per quarter hour), checked:
 * ERR_MOBILITY_TIMEZONE_INVALID for an unknown IANA name.
 */
export function billingCalendar(timeZone: string): LocalCalendar {
  let calendar = calendars.get(timeZone);
  if (calendar) return calendar;
  try {
    calendar = createLocalCalendar(timeZone);
  } catch (cause) {
    throw new AppError('ERR_MOBILITY_TIMEZONE_INVALID', `time zone: ${JSON.stringify(timeZone)} (an IANA name)`, {
      cause,
    });
  }
  if (calendars.size >= 64) calendars.clear(); // bounded: a city bills in one zone
  calendars.set(timeZone, calendar);
  return calendar;
}

/** The local date (`YYYY-MM-DD`) of the instant `ms` (epoch ms) in `timeZone`. */
export function localDate(ms: number, timeZone: string): string {
  return new Date(ms + billingCalendar(timeZone).offsetMs(ms)).toISOString().slice(0, 10);
}

/** The local wall-clock time (`HH:MM`) of the instant `ms` (epoch ms) in `timeZone`. */
export function localTime(ms: number, timeZone: string): string {
  return new Date(ms + billingCalendar(timeZone).offsetMs(ms)).toISOString().slice(11, 16);
}

/** The bounds of the local month `month` (`YYYY-MM`) in `timeZone`; ERR_MOBILITY_MONTH_INVALID when malformed. */
export function localMonth(month: string, timeZone: string): LocalMonth {
  const match = MONTH.exec(month);
  if (!match) throw new AppError('ERR_MOBILITY_MONTH_INVALID', `month: ${JSON.stringify(month)} (YYYY-MM)`);
  const calendar = billingCalendar(timeZone);
  const [y, m] = [Number(match[1]), Number(match[2])];
  const days = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return {
    month,
    startMs: dayStartMs(calendar, y, m, 1),
    endMs: m === 12 ? dayStartMs(calendar, y + 1, 1, 1) : dayStartMs(calendar, y, m + 1, 1),
    lastDate: `${month}-${String(days).padStart(2, '0')}`,
  };
}

/** Local midnight of a date: local noon is inside that date in every zone (offsets within ±14 h). */
function dayStartMs(calendar: LocalCalendar, y: number, m: number, d: number): number {
  const noonUtc = Date.UTC(y, m - 1, d, 12);
  return calendar.dayStartMs(noonUtc - calendar.offsetMs(noonUtc));
}
