import SunCalc from 'suncalc';
import { zoneOffsetMs } from '../core/local-time.ts';

/**
 * Shared, cached time helpers of the streetlight, parking and sensor models: local minute of the day and weekday in
 * the scenario's time zone (offsets cached per quarter hour of UTC: every current zone changes offset on one), and
 * the sun (sunrise/sunset per solar day, altitude per minute) from SunCalc. Caches are bounded (cleared when full).
 */

const MINUTE_MS = 60_000;
const SLOT_MS = 15 * MINUTE_MS;
const DAY_MS = 86_400_000;
const CACHE_MAX = 20_000;

const offsets = new Map<string, Map<number, number>>();

/** Offset of `timeZone` from UTC at `utcMs`, ms, cached per quarter hour. */
export function cachedOffsetMs(timeZone: string, utcMs: number): number {
  let zone = offsets.get(timeZone);
  if (!zone) {
    zone = new Map();
    offsets.set(timeZone, zone);
  }
  const slot = Math.floor(utcMs / SLOT_MS);
  let offset = zone.get(slot);
  if (offset === undefined) {
    offset = zoneOffsetMs(timeZone, slot * SLOT_MS);
    if (zone.size >= CACHE_MAX) zone.clear();
    zone.set(slot, offset);
  }
  return offset;
}

/** Local time of `utcMs` in `timeZone`: minute of the day (fractional, 0–1440), weekday (0 = Sunday), local day number. */
export function localTime(timeZone: string, utcMs: number): { minute: number; weekday: number; day: number } {
  const local = utcMs + cachedOffsetMs(timeZone, utcMs);
  const day = Math.floor(local / DAY_MS);
  return { minute: (local - day * DAY_MS) / MINUTE_MS, weekday: (((day + 4) % 7) + 7) % 7, day };
}

const sunTimes = new Map<string, { sunriseMs: number; sunsetMs: number }>();

/** The solar day (days since 1970 counted from local solar midnight at `lon`) containing `utcMs`. */
export function solarDayOf(utcMs: number, lon: number): number {
  return Math.floor((utcMs + (lon / 360) * DAY_MS) / DAY_MS);
}

/** Sunrise and sunset (sun at −0.833°, SunCalc) of a solar day at (`lat`, `lon`), epoch ms. */
export function sunTimesOf(solarDay: number, lat: number, lon: number): { sunriseMs: number; sunsetMs: number } {
  const key = `${lat}|${lon}|${solarDay}`;
  let hit = sunTimes.get(key);
  if (!hit) {
    const noonMs = solarDay * DAY_MS + DAY_MS / 2 - (lon / 360) * DAY_MS;
    const t = SunCalc.getTimes(new Date(noonMs), lat, lon);
    hit = { sunriseMs: t.sunrise.getTime(), sunsetMs: t.sunset.getTime() };
    if (sunTimes.size >= CACHE_MAX) sunTimes.clear();
    sunTimes.set(key, hit);
  }
  return hit;
}

const altitudes = new Map<string, Map<number, number>>();

/** Sun altitude at (`lat`, `lon`) at the minute of `utcMs`, degrees (SunCalc, no refraction). */
export function sunAltitudeDeg(utcMs: number, lat: number, lon: number): number {
  const minute = Math.floor(utcMs / MINUTE_MS);
  const place = `${lat}|${lon}`;
  let cache = altitudes.get(place);
  if (!cache) {
    cache = new Map();
    altitudes.set(place, cache);
  }
  let alt = cache.get(minute);
  if (alt === undefined) {
    alt = (SunCalc.getPosition(new Date(minute * MINUTE_MS), lat, lon).altitude * 180) / Math.PI;
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(minute, alt);
  }
  return alt;
}
