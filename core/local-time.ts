/**
 * Offsets of an IANA time zone (`VIGIE_TZ`) from UTC, on `Intl.DateTimeFormat` (no tz database of our own), and the
 * local calendar built on them (local hours and days); shared by the simulators (local days of households), the
 * rollups (local hours and days) and the sensor detector (hour-of-day and day-of-week profiles). One formatter per
 * zone.
 */

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterOf(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** Offset of `timeZone` from UTC at `utcMs`, ms (Europe/Paris in winter: 3 600 000); a RangeError for an unknown zone. */
export function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const p: Record<string, number> = {};
  for (const part of formatterOf(timeZone).formatToParts(utcMs)) {
    if (part.type !== 'literal') p[part.type] = Number(part.value);
  }
  const asUtc = Date.UTC(
    p.year ?? 1970,
    (p.month ?? 1) - 1,
    p.day ?? 1,
    (p.hour ?? 0) % 24,
    p.minute ?? 0,
    p.second ?? 0,
  );
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/**
 * Local calendar of the city's time zone (`VIGIE_TZ`) for rollup periods: local hours and local days (midnight to
 * midnight: 23 h or 25 h on DST days). Offsets come from core/local-time.ts (`Intl.DateTimeFormat`) and are cached
 * per quarter hour of UTC, which is exact for every zone whose transitions fall on a quarter hour (all current ones).
 */

/** One hour, ms. */
export const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SLOT_MS = 15 * 60_000;
/** Most cached offsets before the cache is cleared (≈ 100 days of quarter hours; a few hundred KiB at worst). */
const OFFSET_CACHE_MAX = 10_000;

/** Hours and days of one time zone, as epoch milliseconds. */
export interface LocalCalendar {
  readonly timeZone: string;
  /** Offset of local time from UTC at `utcMs`, ms (Europe/Paris in winter: 3 600 000). */
  offsetMs(utcMs: number): number;
  /** Start of the local hour containing `utcMs`. */
  hourStartMs(utcMs: number): number;
  /** Start of the local hour after the one starting at `hourStartMs`. */
  nextHourMs(hourStartMs: number): number;
  /** Local midnight at or before `utcMs` (the first instant of its local day). */
  dayStartMs(utcMs: number): number;
  /** The local midnight after the day starting at `dayStartMs`. */
  nextDayMs(dayStartMs: number): number;
  /** Local wall-clock hour (0–23) at `utcMs`. */
  localHour(utcMs: number): number;
}

const mod = (a: number, b: number) => ((a % b) + b) % b;

/** Creates the calendar of `timeZone` (an IANA name such as Europe/Paris). Throws a RangeError for an unknown zone. */
export function createLocalCalendar(timeZone: string): LocalCalendar {
  zoneOffsetMs(timeZone, 0); // a RangeError now for an unknown zone, not at the first reading
  const cache = new Map<number, number>();

  function offsetMs(utcMs: number): number {
    const slot = Math.floor(utcMs / SLOT_MS);
    const cached = cache.get(slot);
    if (cached !== undefined) return cached;
    const offset = zoneOffsetMs(timeZone, slot * SLOT_MS);
    if (cache.size >= OFFSET_CACHE_MAX) cache.clear();
    cache.set(slot, offset);
    return offset;
  }

  function hourStartMs(utcMs: number): number {
    const start = utcMs - mod(utcMs + offsetMs(utcMs), HOUR_MS);
    return start > utcMs ? start - HOUR_MS : start;
  }

  function dayStartMs(utcMs: number): number {
    const localMidnight = Math.floor((utcMs + offsetMs(utcMs)) / DAY_MS) * DAY_MS;
    // Two passes: the offset at midnight may differ from the offset at utcMs (a DST change during the day).
    let guess = localMidnight - offsetMs(utcMs);
    guess = localMidnight - offsetMs(guess);
    // A zone whose clocks skip midnight itself starts that day at the first local hour after it.
    if (guess > utcMs) return hourStartMs(utcMs);
    return guess;
  }

  return {
    timeZone,
    offsetMs,
    hourStartMs,
    nextHourMs(start) {
      const next = hourStartMs(start + HOUR_MS);
      return next > start ? next : start + HOUR_MS;
    },
    dayStartMs,
    nextDayMs(start) {
      // A local day lasts 23–25 h: 36 h later is always inside the next day.
      return dayStartMs(start + 36 * HOUR_MS);
    },
    localHour(utcMs) {
      return Math.floor(mod(utcMs + offsetMs(utcMs), DAY_MS) / HOUR_MS);
    },
  };
}
