import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import {
  easterSunday,
  extendQuote,
  findZone,
  parseTariffTable,
  paymentRequiredAt,
  publicHolidays,
  type QuoteSegment,
  quote,
  reminderAtMs,
  stopQuote,
  MULHOUSE_EXAMPLE_TARIFFS as T,
  TariffTable,
} from './tariffs.ts';

const TZ = 'Europe/Paris';
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const MIN = 60_000;
const seg = (s: QuoteSegment) => [s.kind, iso(s.startMs), iso(s.endMs), s.kind === 'paid' ? s.centsPerHour : s.reason];

/** A zone paid around the clock, every day (120 c/h), to see DST nights inside paid time. */
const ALL_DAY = TariffTable.parse({
  holidayCalendar: 'none',
  zones: {
    nuit: {
      periods: [
        { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], from: '00:00', to: '24:00', centsPerHour: 120 },
      ],
      maxStayMinutes: 600,
    },
  },
});

function errorCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
  return undefined;
}

describe('parking tariffs', () => {
  it('charges the paid minutes at the window price when a session stays within one window', () => {
    // rouge, Tuesday 2026-03-10 10:00 CET, 90 min: 10:00–11:30; 1.5 h × 240 c/h = 360 c.
    const q = quote(T, 'rouge', at('2026-03-10T10:00:00+01:00'), 90, TZ);
    expect(q).toMatchObject({ paidMinutes: 90, freeMinutes: 0, amountCents: 360, capped: false });
    expect(iso(q.endMs)).toBe('2026-03-10T10:30:00.000Z'); // 11:30 CET
    expect(q.segments.map(seg)).toEqual([['paid', '2026-03-10T09:00:00.000Z', '2026-03-10T10:30:00.000Z', 240]]);
  });

  it('rounds up to the started quarter hour and gives the driver that time when the request is not a multiple', () => {
    // rouge 10:00, 20 min asked → 30 min (2 quarters) given: until 10:30; 0.5 h × 240 = 120 c.
    const q = quote(T, 'rouge', at('2026-03-10T10:00:00+01:00'), 20, TZ);
    expect(q).toMatchObject({ requestedMinutes: 20, paidMinutes: 30, amountCents: 120 });
    expect(iso(q.endMs)).toBe('2026-03-10T09:30:00.000Z');
  });

  it('charges the minimum when the minutes cost less', () => {
    // orange 10:00, 15 min: 0.25 h × 160 = 40 c < 50 c minimum → 50 c.
    expect(quote(T, 'orange', at('2026-03-10T10:00:00+01:00'), 15, TZ).amountCents).toBe(50);
  });

  it('skips the free lunch break when a session crosses it', () => {
    // rouge Tuesday 11:30, 60 min: paid 11:30–12:00 (30), free 12:00–13:30 (90), paid 13:30–14:00 (30).
    // End 14:00 CET; 1 h × 240 = 240 c; 90 free minutes.
    const q = quote(T, 'rouge', at('2026-03-10T11:30:00+01:00'), 60, TZ);
    expect(q).toMatchObject({ paidMinutes: 60, freeMinutes: 90, amountCents: 240 });
    expect(iso(q.endMs)).toBe('2026-03-10T13:00:00.000Z');
    expect(q.segments.map(seg)).toEqual([
      ['paid', '2026-03-10T10:30:00.000Z', '2026-03-10T11:00:00.000Z', 240],
      ['free', '2026-03-10T11:00:00.000Z', '2026-03-10T12:30:00.000Z', 'off-hours'],
      ['paid', '2026-03-10T12:30:00.000Z', '2026-03-10T13:00:00.000Z', 240],
    ]);
  });

  it('carries the unused minutes past midnight to the next morning when bought at 18:30', () => {
    // orange Tuesday 18:30 CET, 60 min: paid 18:30–19:00 (30); free 19:00 → Wed 09:00 (14 h = 840 min);
    // paid 09:00–09:30 (30). End Wednesday 09:30 CET = 08:30Z; 1 h × 160 = 160 c.
    const q = quote(T, 'orange', at('2026-03-10T18:30:00+01:00'), 60, TZ);
    expect(q).toMatchObject({ paidMinutes: 60, freeMinutes: 840, amountCents: 160 });
    expect(iso(q.endMs)).toBe('2026-03-11T08:30:00.000Z');
  });

  it('runs over the free Sunday when a session starts on Saturday evening', () => {
    // rouge Saturday 2026-03-14 18:00 CET, 120 min: paid 18:00–19:00 (60); free Sat 19:00 → Mon 09:00
    // (5 + 24 + 9 = 38 h = 2280 min); paid Mon 09:00–10:00 (60). End Monday 10:00 CET; 2 h × 240 = 480 c.
    const q = quote(T, 'rouge', at('2026-03-14T18:00:00+01:00'), 120, TZ);
    expect(q).toMatchObject({ paidMinutes: 120, freeMinutes: 2280, amountCents: 480 });
    expect(iso(q.endMs)).toBe('2026-03-16T09:00:00.000Z');
    // vert is free on Saturdays too: Friday 17:30, 60 min → 17:30–18:00, Fri 18:00 → Mon 09:00 free
    // (6 + 48 + 9 = 63 h = 3780 min), Mon 09:00–09:30. 1 h × 80 = 80 c.
    const v = quote(T, 'vert', at('2026-03-13T17:30:00+01:00'), 60, TZ);
    expect(v).toMatchObject({ freeMinutes: 3780, amountCents: 80 });
    expect(iso(v.endMs)).toBe('2026-03-16T08:30:00.000Z');
  });

  it('counts the 23-hour Sunday when the clocks spring forward (2026-03-29)', () => {
    // rouge Saturday 2026-03-28 18:30 CET (17:30Z), 60 min: paid 17:30Z–18:00Z; free Sat 19:00 CET (18:00Z) →
    // Mon 09:00 CEST (07:00Z) = 37 h = 2220 min (38 h on the wall clock, less the skipped hour); paid to 09:30 CEST.
    const q = quote(T, 'rouge', at('2026-03-28T18:30:00+01:00'), 60, TZ);
    expect(q).toMatchObject({ freeMinutes: 2220, amountCents: 240 });
    expect(iso(q.endMs)).toBe('2026-03-30T07:30:00.000Z');
    // Paid around the clock: 01:30 CET (00:30Z) + 120 min = 02:30Z = 04:30 CEST — 3 h on the wall, 2 h paid.
    const n = quote(ALL_DAY, 'nuit', at('2026-03-29T01:30:00+01:00'), 120, TZ);
    expect(n).toMatchObject({ paidMinutes: 120, freeMinutes: 0, amountCents: 240 });
    expect(iso(n.endMs)).toBe('2026-03-29T02:30:00.000Z');
  });

  it('counts the 25-hour Sunday when the clocks fall back (2026-10-25)', () => {
    // rouge Saturday 2026-10-24 18:30 CEST (16:30Z), 60 min: free Sat 19:00 CEST (17:00Z) → Mon 09:00 CET (08:00Z)
    // = 39 h = 2340 min (38 h on the wall clock, plus the repeated hour); end Monday 09:30 CET = 08:30Z.
    const q = quote(T, 'rouge', at('2026-10-24T18:30:00+02:00'), 60, TZ);
    expect(q).toMatchObject({ freeMinutes: 2340, amountCents: 240 });
    expect(iso(q.endMs)).toBe('2026-10-26T08:30:00.000Z');
    // Paid around the clock: 01:30 CEST (23:30Z) + 120 min = 01:30Z = the second 02:30 (CET) — 1 h on the wall.
    const n = quote(ALL_DAY, 'nuit', at('2026-10-25T01:30:00+02:00'), 120, TZ);
    expect(n).toMatchObject({ paidMinutes: 120, amountCents: 240 });
    expect(iso(n.endMs)).toBe('2026-10-25T01:30:00.000Z');
  });

  it('keeps Easter Monday 2026-04-06 free', () => {
    // rouge Saturday 2026-04-04 18:30 CEST, 60 min: paid to 19:00; free Sat 19:00 → Mon 00:00 (29 h, off-hours),
    // Easter Monday 00:00 → Tue 00:00 (24 h, holiday), Tue 00:00 → 09:00 (9 h): 62 h = 3720 min; end Tue 09:30 CEST.
    const q = quote(T, 'rouge', at('2026-04-04T18:30:00+02:00'), 60, TZ);
    expect(q).toMatchObject({ freeMinutes: 3720, amountCents: 240 });
    expect(iso(q.endMs)).toBe('2026-04-07T07:30:00.000Z');
    expect(q.segments.map(seg).slice(1, 4)).toEqual([
      ['free', '2026-04-04T17:00:00.000Z', '2026-04-05T22:00:00.000Z', 'off-hours'],
      ['free', '2026-04-05T22:00:00.000Z', '2026-04-06T22:00:00.000Z', 'public-holiday'],
      ['free', '2026-04-06T22:00:00.000Z', '2026-04-07T07:00:00.000Z', 'off-hours'],
    ]);
  });

  it('keeps Good Friday and 26 December free in Alsace-Moselle but not elsewhere in France', () => {
    const france = { ...T, holidayCalendar: 'france' as const };
    // Thursday 2026-04-02 18:30 CEST, 60 min. Alsace: Good Friday 04-03 free → end Saturday 09:30 CEST.
    const thursday = at('2026-04-02T18:30:00+02:00');
    expect(iso(quote(T, 'rouge', thursday, 60, TZ).endMs)).toBe('2026-04-04T07:30:00.000Z');
    // Rest of France: Friday is paid → end Friday 09:30 CEST; 19:00 → 09:00 = 840 free minutes.
    const q = quote(france, 'rouge', thursday, 60, TZ);
    expect(q.freeMinutes).toBe(840);
    expect(iso(q.endMs)).toBe('2026-04-03T07:30:00.000Z');
    // Thursday 2026-12-24 18:30 CET: 25 Dec (Fri) everywhere, 26 Dec (Sat) in Alsace, Sunday → Monday 28 09:30.
    const eve = at('2026-12-24T18:30:00+01:00');
    expect(iso(quote(T, 'rouge', eve, 60, TZ).endMs)).toBe('2026-12-28T08:30:00.000Z');
    expect(iso(quote(france, 'rouge', eve, 60, TZ).endMs)).toBe('2026-12-26T08:30:00.000Z');
  });

  it('makes an extra free date free in every zone when the table lists it', () => {
    const carFree = { ...T, extraFreeDates: ['2026-09-22'] }; // Tuesday: a car-free day
    const q = quote(carFree, 'vert', at('2026-09-21T17:30:00+02:00'), 60, TZ);
    expect(iso(q.endMs)).toBe('2026-09-23T07:30:00.000Z'); // Wed 09:30 CEST
    expect(q.segments.some((s) => s.kind === 'free' && s.reason === 'free-date')).toBe(true);
  });

  it('caps the minutes at the maximum stay when more are asked', () => {
    // rouge max 120 min. 10:00 + 180 asked → 120 paid: 10:00–12:00, 2 h × 240 = 480 c, capped.
    const q = quote(T, 'rouge', at('2026-03-10T10:00:00+01:00'), 180, TZ);
    expect(q).toMatchObject({ requestedMinutes: 180, paidMinutes: 120, amountCents: 480, capped: true });
    expect(iso(q.endMs)).toBe('2026-03-10T11:00:00.000Z');
    // 125 → 135 after rounding → capped at 120 too; exactly 120 is not capped.
    expect(quote(T, 'rouge', at('2026-03-10T10:00:00+01:00'), 125, TZ)).toMatchObject({
      paidMinutes: 120,
      capped: true,
    });
    expect(quote(T, 'rouge', at('2026-03-10T10:00:00+01:00'), 120, TZ).capped).toBe(false);
  });

  it('prices an extension as the whole session minus what was paid when within the maximum stay', () => {
    const start = at('2026-03-10T10:00:00+01:00');
    // rouge 60 min (240 c, until 11:00) + 30 → 90 min (360 c, until 11:30): the extension costs 120 c.
    const e = extendQuote(T, { zone: 'rouge', startMs: start, paidMinutes: 60 }, 30, TZ);
    expect(e).toMatchObject({ addedMinutes: 30, amountCents: 120, capped: false });
    expect([iso(e.previousEndMs), iso(e.endMs)]).toEqual(['2026-03-10T10:00:00.000Z', '2026-03-10T10:30:00.000Z']);
    expect(e.session).toMatchObject({ paidMinutes: 90, amountCents: 360 });
    // rouge 11:00 for 45 min (180 c, until 11:45) + 30 → 75 min: 11:00–12:00 + 13:30–13:45 (300 c): +120 c.
    const lunch = extendQuote(T, { zone: 'rouge', startMs: at('2026-03-10T11:00:00+01:00'), paidMinutes: 45 }, 30, TZ);
    expect(lunch).toMatchObject({ addedMinutes: 30, amountCents: 120 });
    expect(iso(lunch.endMs)).toBe('2026-03-10T12:45:00.000Z');
    // The minimum charge counts once: orange 15 min = 50 c (minimum); 30 min = 80 c → the extension costs 30 c.
    expect(extendQuote(T, { zone: 'orange', startMs: start, paidMinutes: 15 }, 15, TZ).amountCents).toBe(30);
  });

  it('caps an extension at the maximum stay of the whole session and adds nothing once it is reached', () => {
    const start = at('2026-03-10T10:00:00+01:00');
    // rouge 60 + 90 asked = 150 > 120 → 60 added (240 c), capped.
    const e = extendQuote(T, { zone: 'rouge', startMs: start, paidMinutes: 60 }, 90, TZ);
    expect(e).toMatchObject({ requestedMinutes: 90, addedMinutes: 60, amountCents: 240, capped: true });
    expect(e.session.paidMinutes).toBe(120);
    // Already 120: nothing added, nothing charged, the end stays.
    const full = extendQuote(T, { zone: 'rouge', startMs: start, paidMinutes: 120 }, 15, TZ);
    expect(full).toMatchObject({ addedMinutes: 0, amountCents: 0, capped: true });
    expect(full.endMs).toBe(full.previousEndMs);
  });

  it('charges the used quarter hours and refunds the rest when a session is stopped early', () => {
    const start = at('2026-03-10T10:00:00+01:00');
    // rouge 120 min (480 c). Stopped 10:50: 50 min used → 60 (4 quarters) → 240 c due, 240 c refunded.
    expect(
      stopQuote(T, { zone: 'rouge', startMs: start, paidMinutes: 120 }, at('2026-03-10T10:50:00+01:00'), TZ),
    ).toEqual({
      usedPaidMinutes: 60,
      amountCents: 240,
      refundCents: 240,
    });
    // 11:30 + 60 stopped at 12:45 (lunch): 30 paid minutes used → 120 c due, 120 c refunded.
    const lunch = { zone: 'rouge', startMs: at('2026-03-10T11:30:00+01:00'), paidMinutes: 60 };
    expect(stopQuote(T, lunch, at('2026-03-10T12:45:00+01:00'), TZ)).toEqual({
      usedPaidMinutes: 30,
      amountCents: 120,
      refundCents: 120,
    });
    // Stopped during the night before any paid minute of a 07:00 session: nothing due, all refunded.
    const early = { zone: 'rouge', startMs: at('2026-03-10T07:00:00+01:00'), paidMinutes: 30 };
    expect(stopQuote(T, early, at('2026-03-10T08:00:00+01:00'), TZ)).toEqual({
      usedPaidMinutes: 0,
      amountCents: 0,
      refundCents: 120,
    });
  });

  it('says whether payment is required now for enforcement', () => {
    const paid = (local: string) => paymentRequiredAt(T, 'rouge', at(local), TZ);
    expect(paid('2026-03-10T09:00:00+01:00')).toBe(true);
    expect(paid('2026-03-10T12:30:00+01:00')).toBe(false); // lunch
    expect(paid('2026-03-10T19:00:00+01:00')).toBe(false); // the end is exclusive
    expect(paid('2026-03-15T10:00:00+01:00')).toBe(false); // Sunday
    expect(paid('2026-04-06T10:00:00+02:00')).toBe(false); // Easter Monday
    expect(paymentRequiredAt(T, 'vert', at('2026-03-14T10:00:00+01:00'), TZ)).toBe(false); // vert, Saturday
  });

  it('schedules the reminder 6 minutes before the end unless the session is shorter', () => {
    const start = at('2026-03-10T10:00:00+01:00');
    expect(reminderAtMs(start, start + 90 * MIN)).toBe(start + 84 * MIN);
    expect(reminderAtMs(start, start + 5 * MIN)).toBeUndefined();
    expect(reminderAtMs(start, start + 30 * MIN, 7)).toBe(start + 23 * MIN);
  });

  it('computes Easter and the public holidays of France and Alsace-Moselle', () => {
    expect(['2000', '2024', '2025', '2026', '2027', '2038'].map((y) => easterSunday(Number(y)))).toEqual([
      '2000-04-23',
      '2024-03-31',
      '2025-04-20',
      '2026-04-05',
      '2027-03-28',
      '2038-04-25',
    ]);
    expect(publicHolidays(2026, 'alsace-moselle')).toEqual([
      '2026-01-01',
      '2026-04-03', // Good Friday (Alsace-Moselle)
      '2026-04-06', // Easter Monday
      '2026-05-01',
      '2026-05-08',
      '2026-05-14', // Ascension = Easter + 39
      '2026-05-25', // Whit Monday = Easter + 50
      '2026-07-14',
      '2026-08-15',
      '2026-11-01',
      '2026-11-11',
      '2026-12-25',
      '2026-12-26', // Saint Stephen (Alsace-Moselle)
    ]);
    expect(publicHolidays(2026, 'france')).toHaveLength(11);
    expect(publicHolidays(2026, 'none')).toEqual([]);
  });

  it('finds a zone by id or alias when case, accents and spaces differ', () => {
    expect(['ROUGE', ' Red ', 'r', 'Vért', 'green', 'O'].map((n) => findZone(T, n))).toEqual([
      'rouge',
      'rouge',
      'rouge',
      'vert',
      'vert',
      'orange',
    ]);
    expect(findZone(T, 'bleu')).toBeUndefined();
    expect(findZone(T, '')).toBeUndefined();
  });

  it('rejects a table naming the key when periods overlap, a window is reversed, a step does not divide the stay or names clash', () => {
    const zone = (over: object) => ({
      zones: {
        a: {
          periods: [{ days: ['mon'], from: '09:00', to: '12:00', centsPerHour: 100 }],
          maxStayMinutes: 60,
          ...over,
        },
      },
    });
    const cases: [object, string][] = [
      [
        zone({
          periods: [
            { days: ['mon'], from: '09:00', to: '12:00', centsPerHour: 100 },
            { days: ['mon', 'tue'], from: '11:00', to: '13:00', centsPerHour: 100 },
          ],
        }),
        'overlap on mon',
      ],
      [zone({ periods: [{ days: ['mon'], from: '19:00', to: '09:00', centsPerHour: 100 }] }), 'from must be before to'],
      [zone({ maxStayMinutes: 50 }), 'multiple of billingStepMinutes'],
      [zone({ price: 3 }), 'price'],
      [{ ...zone({}), zones: { a: zone({}).zones.a, b: { ...zone({}).zones.a, aliases: ['A'] } } }, 'used by zones'],
      [{ zones: {} }, 'at least one zone'],
      [{ zones: { Rouge: zone({}).zones.a } }, 'zones.Rouge'],
    ];
    for (const [raw, fragment] of cases) {
      expect(() => parseTariffTable(raw), fragment).toThrow(fragment);
      expect(errorCode(() => parseTariffTable(raw))).toBe('ERR_PARKING_TARIFF_INVALID');
    }
    expect(parseTariffTable(zone({})).zones.a).toMatchObject({ billingStepMinutes: 15, publicHolidays: 'free' });
  });

  it('throws a coded error when the zone, the duration or the time zone is wrong', () => {
    const start = at('2026-03-10T10:00:00+01:00');
    expect(errorCode(() => quote(T, 'bleu', start, 60, TZ))).toBe('ERR_PARKING_ZONE_UNKNOWN');
    expect(errorCode(() => quote(T, 'rouge', start, 0, TZ))).toBe('ERR_PARKING_DURATION_INVALID');
    expect(errorCode(() => quote(T, 'rouge', start, 1.5, TZ))).toBe('ERR_PARKING_DURATION_INVALID');
    expect(errorCode(() => quote(T, 'rouge', start, 60, 'Mars/Olympus'))).toBe('ERR_PARKING_TIME_ZONE');
    expect(errorCode(() => quote(T, 'rouge', Number.NaN, 60, TZ))).toBe('ERR_PARKING_TIME_INVALID');
    const never = { ...T, extraFreeDates: [] as string[], holidayCalendar: 'none' as const };
    never.zones = {
      jour: {
        ...T.zones.rouge!,
        periods: [{ days: ['mon'], from: '09:00', to: '09:01', centsPerHour: 60 }],
        maxStayMinutes: 1440,
        billingStepMinutes: 1,
      },
    };
    expect(errorCode(() => quote(never, 'jour', start, 1440, TZ))).toBe('ERR_PARKING_TARIFF_NO_PAID_TIME');
  });
});

describe('parking tariffs (properties)', () => {
  const zones = Object.keys(T.zones);
  const startArb = fc.integer({ min: at('2026-01-01T00:00:00Z'), max: at('2027-01-01T00:00:00Z') });
  const zoneArb = fc.constantFrom(...zones);

  test.prop([zoneArb, startArb, fc.integer({ min: 1, max: 700 })])(
    'covers the span with contiguous paid and free segments that match the windows, for any start and minutes',
    (zone, startMs, minutes) => {
      const q = quote(T, zone, startMs, minutes, TZ);
      const z = T.zones[zone]!;
      expect(q.endMs).toBeGreaterThanOrEqual(q.startMs);
      expect(q.amountCents).toBeGreaterThanOrEqual(z.minimumChargeCents);
      expect(q.paidMinutes).toBeLessThanOrEqual(z.maxStayMinutes);
      expect(q.capped).toBe(Math.ceil(minutes / z.billingStepMinutes) * z.billingStepMinutes > z.maxStayMinutes);
      let t = q.startMs;
      let paidMs = 0;
      let freeMs = 0;
      for (const s of q.segments) {
        expect(s.startMs).toBe(t);
        expect(s.endMs).toBeGreaterThan(s.startMs);
        const mid = Math.floor((s.startMs + s.endMs) / 2);
        expect(paymentRequiredAt(T, zone, mid, TZ)).toBe(s.kind === 'paid');
        if (s.kind === 'paid') paidMs += s.endMs - s.startMs;
        else freeMs += s.endMs - s.startMs;
        t = s.endMs;
      }
      expect(t).toBe(q.endMs);
      expect(paidMs).toBe(q.paidMinutes * MIN);
      expect(paidMs + freeMs).toBe(q.endMs - q.startMs);
      expect(q.freeMinutes * MIN).toBeCloseTo(freeMs, 3);
    },
  );

  test.prop([zoneArb, startArb, fc.integer({ min: 1, max: 700 }), fc.integer({ min: 1, max: 700 })])(
    'never charges less nor ends sooner for more minutes',
    (zone, startMs, a, b) => {
      const [lo, hi] = a <= b ? [a, b] : [b, a];
      const qa = quote(T, zone, startMs, lo, TZ);
      const qb = quote(T, zone, startMs, hi, TZ);
      expect(qa.amountCents).toBeLessThanOrEqual(qb.amountCents);
      expect(qa.endMs).toBeLessThanOrEqual(qb.endMs);
      expect(qa.amountCents).toBeGreaterThanOrEqual(0);
    },
  );

  test.prop([zoneArb, startArb, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 600 }), fc.nat()])(
    'keeps extensions and stops consistent with the session price',
    (zone, startMs, quarters, add, stopAfterMin) => {
      const z = T.zones[zone]!;
      const paidMinutes = Math.min(quarters * z.billingStepMinutes, z.maxStayMinutes);
      const session = { zone, startMs, paidMinutes };
      const before = quote(T, zone, startMs, paidMinutes, TZ);
      const e = extendQuote(T, session, add, TZ);
      expect(e.amountCents).toBeGreaterThanOrEqual(0);
      expect(e.endMs).toBeGreaterThanOrEqual(e.previousEndMs);
      expect(e.previousEndMs).toBe(before.endMs);
      expect(e.session.paidMinutes).toBeLessThanOrEqual(z.maxStayMinutes);
      expect(e.session.amountCents).toBe(before.amountCents + e.amountCents);
      const stop = stopQuote(T, session, startMs + (stopAfterMin % 5000) * MIN, TZ);
      expect(stop.usedPaidMinutes).toBeLessThanOrEqual(paidMinutes);
      expect(stop.amountCents + stop.refundCents).toBe(before.amountCents);
      expect(stop.refundCents).toBeGreaterThanOrEqual(0);
    },
  );
});
