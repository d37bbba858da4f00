import { createLocalCalendar, zoneOffsetMs } from '../../core/local-time.ts';

/**
 * Local dates and months of the city's time zone (`VIGIE_TZ`), as the schedules name their periods: a digest is
 * the local date it runs on (`2026-11-26`), a monthly summary the local month it summarises (`2026-10`). Built on
 * core/local-time.ts (Intl offsets), so a run at 00:30 on the night clocks go back is still that local date.
 */

/** The local date (`YYYY-MM-DD`) of the instant `ms` in `timeZone`. */
export function localDate(ms: number, timeZone: string): string {
  return new Date(ms + zoneOffsetMs(timeZone, ms)).toISOString().slice(0, 10);
}

/** The local month (`YYYY-MM`) of the instant `ms` in `timeZone`. */
export function localMonth(ms: number, timeZone: string): string {
  return localDate(ms, timeZone).slice(0, 7);
}

/** The month before `month` (`YYYY-MM`). */
export function previousMonth(month: string): string {
  const [y, m] = parseMonth(month);
  return m === 1 ? `${y - 1}-12` : `${y}-${String(m - 1).padStart(2, '0')}`;
}

/** The month after `month` (`YYYY-MM`). */
export function nextMonth(month: string): string {
  const [y, m] = parseMonth(month);
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

/** Days in `month` (`YYYY-MM`): 28 to 31. */
export function daysInMonth(month: string): number {
  const [y, m] = parseMonth(month);
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
}

/** The first instant (epoch ms) of the local date `date` (`YYYY-MM-DD`) in `timeZone`: its local midnight. */
export function localDayStartMs(date: string, timeZone: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  // Local noon of that date is inside it in every zone (offsets stay within ±14 h); its day starts at local midnight.
  const noonUtc = Date.UTC(y, m - 1, d, 12);
  return createLocalCalendar(timeZone).dayStartMs(noonUtc - zoneOffsetMs(timeZone, noonUtc));
}

/** A local month's bounds: its first local instant and the next month's, epoch ms, and its first and next dates. */
export interface MonthBounds {
  readonly month: string;
  readonly startMs: number;
  readonly endMs: number;
  /** `YYYY-MM-01`. */
  readonly firstDay: string;
  /** The first day of the next month, `YYYY-MM-01` (exclusive bound). */
  readonly nextFirstDay: string;
  readonly days: number;
}

/** Bounds of the local month `month` (`YYYY-MM`) in `timeZone`. */
export function monthBounds(month: string, timeZone: string): MonthBounds {
  const next = nextMonth(month);
  return {
    month,
    startMs: localDayStartMs(`${month}-01`, timeZone),
    endMs: localDayStartMs(`${next}-01`, timeZone),
    firstDay: `${month}-01`,
    nextFirstDay: `${next}-01`,
    days: daysInMonth(month),
  };
}

/** The period a schedule run covers: the digest's local date, the summarised month (the one before the run's). */
export function schedulePeriod(schedule: 'digest' | 'monthly-summary', atMs: number, timeZone: string): string {
  return schedule === 'digest' ? localDate(atMs, timeZone) : previousMonth(localMonth(atMs, timeZone));
}

function parseMonth(month: string): [number, number] {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  if (!match) throw new RangeError(`month: ${JSON.stringify(month)} (YYYY-MM)`);
  return [Number(match[1]), Number(match[2])];
}
