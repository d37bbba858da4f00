import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { billMonth, InvoiceDraft, InvoiceNumber, invoiceNumber, shouldEmailInvoice } from './billing.ts';
import { DEFAULT_TARIFFS, parseTariffTable } from './tariffs.ts';
import { ACCOUNT, bike, car, parking, validation } from './test-helpers.ts';
import { UsageEvent } from './usage.ts';

const TZ = 'Europe/Paris';
const T = DEFAULT_TARIFFS; // fare 150, transfer window 60 min, day cap 450, month cap 3900; bike 30 free + 100/30 min, day cap 500; car 75/15 min + 30/km

/** The amounts of the lines, in invoice order. */
const amounts = (inv: InvoiceDraft) => inv.lines.map((l) => l.amountCents);

describe('billMonth', () => {
  it('charges one fare per trip when validations fall inside the 60-minute transfer window', () => {
    // November: CET, UTC+1.
    const inv = billMonth(
      [
        validation('2026-11-26T08:00:00+01:00', '2'), // trip A starts: 150
        validation('2026-11-26T08:40:00+01:00', '3'), // 40 min after A's first: transfer, 0
        validation('2026-11-26T08:59:59+01:00', '1'), // 59 min 59 s: transfer, 0
        validation('2026-11-26T09:00:00+01:00', '2'), // exactly 60 min: trip B, 150
        validation('2026-11-26T09:30:00+01:00', '4'), // 30 min after B's first (90 after A's): transfer, 0
      ],
      ACCOUNT,
      '2026-11',
      T,
      TZ,
    );
    expect(amounts(inv)).toEqual([150, 0, 0, 150, 0]); // 150 + 150 = 300
    expect(inv.totalCents).toBe(300);
    expect(inv.lines.map((l) => l.type)).toEqual(['usage', 'transfer', 'transfer', 'usage', 'transfer']);
    expect(inv.lines[1]).toMatchObject({ date: '2026-11-26', time: '08:40' });
    expect(inv.lines[1]?.description).toBe('Correspondance ligne 3, gratuite (trajet commencé à 08:00)');
    expect(inv.capsApplied).toEqual([]);
  });

  it('keeps a transfer free after midnight and bills the trip on the day of its first validation', () => {
    const inv = billMonth(
      [validation('2026-11-26T23:50:00+01:00', '2'), validation('2026-11-27T00:20:00+01:00', '3')],
      ACCOUNT,
      '2026-11',
      T,
      TZ,
    );
    // 23:50 → 150 on the 26th; 00:20 is 30 min later: transfer, 0 (on the 27th, where it happened).
    expect(inv.lines.map((l) => [l.date, l.type, l.amountCents])).toEqual([
      ['2026-11-26', 'usage', 150],
      ['2026-11-27', 'transfer', 0],
    ]);
    expect(inv.totalCents).toBe(150);
  });

  it('caps a day at the day pass when a fourth trip is taken that day', () => {
    const day = (h: string) => validation(`2026-11-26T${h}:00+01:00`);
    const three = billMonth([day('07:00'), day('09:00'), day('12:00')], ACCOUNT, '2026-11', T, TZ);
    expect(three.totalCents).toBe(450); // 3 × 150 = 450 = the cap: nothing saved, no cap line
    expect(three.capsApplied).toEqual([]);

    const inv = billMonth([day('07:00'), day('09:00'), day('12:00'), day('18:00')], ACCOUNT, '2026-11', T, TZ);
    // 4 × 150 = 600 > 450: a line of -(600 - 450) = -150 after the day's trips.
    expect(amounts(inv)).toEqual([150, 150, 150, 150, -150]);
    expect(inv.lines[4]).toMatchObject({
      date: '2026-11-26',
      type: 'cap',
      capApplied: 'transit-daily',
      description: 'Plafond journalier transports atteint (4,50 €)',
    });
    expect(inv.capsApplied).toEqual([
      { cap: 'transit-daily', period: '2026-11-26', beforeCents: 600, capCents: 450, savedCents: 150 },
    ]);
    expect(inv.totalCents).toBe(450);
    expect(inv.subtotalsByKind['transit-validation']).toBe(450);
  });

  it('caps the month at the monthly pass after the daily caps when nine capped days exceed it', () => {
    const events = [];
    for (let d = 2; d <= 10; d++) {
      for (const h of ['07', '10', '13', '18'])
        events.push(validation(`2026-11-${String(d).padStart(2, '0')}T${h}:00:00+01:00`));
    }
    events.push(bike('2026-11-12T10:00:00+01:00', '2026-11-12T11:15:00+01:00')); // 75 min: 45 over the 30 free → 2 × 100 = 200
    const inv = billMonth(events, ACCOUNT, '2026-11', T, TZ);
    // 36 trips × 150 = 5400; each day 600 → 450 (9 daily lines of -150): 9 × 450 = 4050 > 3900 → a monthly line of -150.
    expect(inv.capsApplied.filter((c) => c.cap === 'transit-daily')).toHaveLength(9);
    expect(inv.capsApplied.at(-1)).toEqual({
      cap: 'transit-monthly',
      period: '2026-11',
      beforeCents: 4050,
      capCents: 3900,
      savedCents: 150,
    });
    const last = inv.lines.at(-1);
    expect(last).toMatchObject({ date: '2026-11-30', type: 'cap', capApplied: 'transit-monthly', amountCents: -150 });
    expect(last?.description).toBe('Plafond mensuel transports atteint (39,00 €)');
    expect(inv.subtotalsByKind).toEqual({
      'transit-validation': 3900, // 5400 - 9 × 150 - 150
      'bike-rental': 200,
      'car-share-trip': 0,
      'parking-session': 0,
    });
    expect(inv.totalCents).toBe(4100); // 3900 + 200: the monthly cap is transit's only
  });

  it('bills a bike rental crossing midnight on the day it started, under that day’s cap', () => {
    const inv = billMonth(
      [
        bike('2026-11-26T10:00:00+01:00', '2026-11-26T12:10:00+01:00'), // 130 min: 100 over → 4 blocks → 400
        bike('2026-11-26T23:40:00+01:00', '2026-11-27T00:55:00+01:00', { stationFrom: 'Gare', stationTo: 'Europe' }), // 75 min → 2 blocks → 200, the 26th
        bike('2026-11-27T10:00:00+01:00', '2026-11-27T10:45:00+01:00'), // 45 min: 15 over → 1 block → 100
        bike('2026-11-27T12:00:00+01:00', '2026-11-27T12:30:00+01:00'), // 30 min: all free → 0
      ],
      ACCOUNT,
      '2026-11',
      T,
      TZ,
    );
    // The 26th: 400 + 200 = 600 > 500 → -100. The 27th: 100 + 0 = 100.
    expect(inv.lines.map((l) => [l.date, l.amountCents])).toEqual([
      ['2026-11-26', 400],
      ['2026-11-26', 200],
      ['2026-11-26', -100],
      ['2026-11-27', 100],
      ['2026-11-27', 0],
    ]);
    expect(inv.lines[1]?.description).toBe('Location de vélo (Gare → Europe), 1 h 15');
    expect(inv.totalCents).toBe(600); // 500 + 100
  });

  it('bills a car-share trip crossing midnight on the day it started, time blocks plus km', () => {
    const inv = billMonth(
      [
        car('2026-11-26T22:00:00+01:00', '2026-11-27T01:30:00+01:00', 42.5), // 210 min → 14 × 75 = 1050; 42.5 km × 30 = 1275 → 2325
        car('2026-11-28T09:00:00+01:00', '2026-11-28T09:16:00+01:00', 12.345), // 16 min → 2 × 75 = 150; 12 345 m × 30 / 1000 = 370.35 → 370 → 520
        car('2026-11-29T09:00:00+01:00', '2026-11-29T09:15:00+01:00', 0.05), // 15 min → 75; 50 m × 30 / 1000 = 1.5 → 2 (half up) → 77
      ],
      ACCOUNT,
      '2026-11',
      T,
      TZ,
    );
    expect(inv.lines.map((l) => [l.date, l.amountCents])).toEqual([
      ['2026-11-26', 2325],
      ['2026-11-28', 520],
      ['2026-11-29', 77],
    ]);
    expect(inv.lines[0]?.description).toBe('Autopartage, 3 h 30 et 42,5 km');
    expect(inv.totalCents).toBe(2922); // 2325 + 520 + 77
  });

  it('passes parking sessions through at their own amount when the parking service priced them', () => {
    const inv = billMonth(
      [parking('2026-11-26T14:00:00+01:00', '2026-11-26T16:00:00+01:00', 'Centre', 240)],
      ACCOUNT,
      '2026-11',
      T,
      TZ,
    );
    expect(inv.lines).toEqual([
      {
        date: '2026-11-26',
        time: '14:00',
        kind: 'parking-session',
        type: 'usage',
        usageId: expect.any(String),
        description: 'Stationnement zone Centre, 2 h',
        amountCents: 240,
        facts: { zone: 'Centre', minutes: 120 },
      },
    ]);
    expect(inv.totalCents).toBe(240);
  });

  it('measures transfers and rentals in elapsed time when clocks go forward (2026-03-29, a 23-hour day)', () => {
    // 02:00 CET (01:00Z) becomes 03:00 CEST.
    const inv = billMonth(
      [
        validation('2026-03-29T01:30:00+01:00'), // 00:30Z: trip, 150
        validation('2026-03-29T03:20:00+02:00'), // 01:20Z: 50 min later (110 min on the wall clock): transfer, 0
        bike('2026-03-29T01:50:00+01:00', '2026-03-29T03:10:00+02:00'), // 00:50Z → 01:10Z = 20 min: free, 0
        validation('2026-03-29T23:59:00+02:00'), // 21:59Z: still the 29th locally, trip, 150
      ],
      ACCOUNT,
      '2026-03',
      T,
      TZ,
    );
    expect(inv.lines.map((l) => [l.date, l.time, l.type, l.amountCents])).toEqual([
      ['2026-03-29', '01:30', 'usage', 150],
      ['2026-03-29', '03:20', 'transfer', 0],
      ['2026-03-29', '23:59', 'usage', 150],
      ['2026-03-29', '01:50', 'usage', 0],
    ]);
    expect(inv.lines[3]?.facts.minutes).toBe(20);
    expect(inv.totalCents).toBe(300);
  });

  it('bills both 02:30s of the night clocks go back (2026-10-25, a 25-hour day) on that day, under one cap', () => {
    // 03:00 CEST (01:00Z) becomes 02:00 CET: 02:30 happens at 00:30Z and again at 01:30Z.
    const first = '2026-10-25T02:30:00+02:00';
    const second = '2026-10-25T02:30:00+01:00';
    expect(Date.parse(second) - Date.parse(first)).toBe(3_600_000);
    const inv = billMonth(
      [
        validation('2026-10-25T00:05:00+02:00'), // 2026-10-24T22:05Z, the 25th locally: trip, 150
        validation(first), // 00:30Z, 145 min later: trip, 150
        validation(second), // 01:30Z, exactly 60 min after the first 02:30: trip, 150
        validation('2026-10-25T02:50:00+01:00'), // 01:50Z, 20 min later: transfer, 0
        validation('2026-10-25T23:55:00+01:00'), // 22:55Z, still the 25th: trip, 150
      ],
      ACCOUNT,
      '2026-10',
      T,
      TZ,
    );
    // 4 trips on the 25th: 600 > 450 → -150.
    expect(inv.lines.map((l) => [l.date, l.time ?? null, l.amountCents])).toEqual([
      ['2026-10-25', '00:05', 150],
      ['2026-10-25', '02:30', 150],
      ['2026-10-25', '02:30', 150],
      ['2026-10-25', '02:50', 0],
      ['2026-10-25', '23:55', 150],
      ['2026-10-25', null, -150],
    ]);
    expect(inv.totalCents).toBe(450);
  });

  it('bills an event by its local month when local and UTC months differ at the month’s end', () => {
    // Paris (UTC+1 in winter): 00:30 on 1 December is 23:30Z on 30 November — it is December's.
    const lateNov = validation('2026-11-30T23:30:00+01:00'); // 22:30Z
    const earlyDec = validation('2026-12-01T00:30:00+01:00'); // 2026-11-30T23:30Z
    const nov = billMonth([lateNov, earlyDec], ACCOUNT, '2026-11', T, TZ);
    expect(nov.lines.map((l) => l.usageId)).toEqual([lateNov.usageId]);
    expect(nov.usage).toMatchObject({ billed: 1, outsideMonth: 1 });
    // A new month starts new trips: 60 min after November's trip, but no transfer across the month's end.
    const dec = billMonth([lateNov, earlyDec], ACCOUNT, '2026-12', T, TZ);
    expect(dec.lines.map((l) => [l.usageId, l.amountCents])).toEqual([[earlyDec.usageId, 150]]);

    // West of UTC (Guadeloupe, UTC−4): 23:30 on 30 November is 03:30Z on 1 December, and still November's.
    const antilles = validation('2026-11-30T23:30:00-04:00');
    const inv = billMonth([antilles], ACCOUNT, '2026-11', T, 'America/Guadeloupe');
    expect(new Date(antilles.startedAt).toISOString()).toBe('2026-12-01T03:30:00.000Z');
    expect(inv.lines).toMatchObject([{ date: '2026-11-30', time: '23:30', amountCents: 150 }]);
  });

  it('issues an empty invoice with a zero total and no email when the month has no usage', () => {
    const october = validation('2026-10-12T08:00:00+02:00');
    for (const events of [[], [october]]) {
      const inv = billMonth(events, ACCOUNT, '2026-11', T, TZ);
      expect(inv).toMatchObject({
        accountId: ACCOUNT.accountId,
        month: '2026-11',
        lines: [],
        capsApplied: [],
        totalCents: 0,
        subtotalsByKind: { 'transit-validation': 0, 'bike-rental': 0, 'car-share-trip': 0, 'parking-session': 0 },
      });
      expect(shouldEmailInvoice(inv)).toBe(false);
      expect(InvoiceDraft.parse(inv)).toEqual(inv);
    }
  });

  it('counts a duplicated usageId once, whatever copy comes first, when the copies differ', () => {
    const v = validation('2026-11-26T08:00:00+01:00', '2');
    const sameAgain = { ...v };
    const once = billMonth([v], ACCOUNT, '2026-11', T, TZ);
    const twice = billMonth([v, sameAgain, v], ACCOUNT, '2026-11', T, TZ);
    expect(twice.lines).toEqual(once.lines);
    expect(twice.totalCents).toBe(150);
    expect(twice.usage).toEqual({
      received: 3,
      billed: 1,
      duplicates: 2,
      conflictingDuplicates: 0,
      otherAccount: 0,
      outsideMonth: 0,
    });

    const otherLine = UsageEvent.parse({ ...v, details: { line: '3' } });
    const ab = billMonth([v, otherLine], ACCOUNT, '2026-11', T, TZ);
    const ba = billMonth([otherLine, v], ACCOUNT, '2026-11', T, TZ);
    expect(ab).toEqual(ba);
    expect(ab.usage).toMatchObject({ duplicates: 1, conflictingDuplicates: 1, billed: 1 });
    expect(ab.lines[0]?.facts.line).toBe('2'); // the copy whose canonical JSON sorts first
  });

  it('ignores and counts events of another account when they are given', () => {
    const mine = validation('2026-11-26T08:00:00+01:00');
    const theirs = UsageEvent.parse({ ...validation('2026-11-26T09:00:00+01:00'), accountId: 'acc-0002' });
    const inv = billMonth([mine, theirs], ACCOUNT, '2026-11', T, TZ);
    expect(inv.usage).toMatchObject({ received: 2, billed: 1, otherAccount: 1 });
    expect(inv.totalCents).toBe(150);
  });

  it('orders lines by date, then kind, usage before its cap, then start when kinds are mixed', () => {
    const inv = billMonth(
      [
        parking('2026-11-02T09:00:00+01:00', '2026-11-02T10:00:00+01:00', 'Centre', 120),
        bike('2026-11-02T08:00:00+01:00', '2026-11-02T09:00:00+01:00'), // 60 min → 1 block → 100
        validation('2026-11-02T18:00:00+01:00'),
        validation('2026-11-01T18:00:00+01:00'),
      ],
      ACCOUNT,
      '2026-11',
      T,
      TZ,
    );
    expect(inv.lines.map((l) => [l.date, l.kind])).toEqual([
      ['2026-11-01', 'transit-validation'],
      ['2026-11-02', 'transit-validation'],
      ['2026-11-02', 'bike-rental'],
      ['2026-11-02', 'parking-session'],
    ]);
    expect(inv.totalCents).toBe(520); // 150 + 150 + 100 + 120
  });

  it('uses the table given when a city sets its own prices', () => {
    const table = parseTariffTable({
      id: 'city-2027',
      transit: { fareCents: 200, dailyCapCents: 500, monthlyCapCents: 5000 },
    });
    const inv = billMonth(
      ['07', '09', '12'].map((h) => validation(`2026-11-26T${h}:00:00+01:00`)),
      ACCOUNT,
      '2026-11',
      table,
      TZ,
    );
    expect(inv.totalCents).toBe(500); // 3 × 200 = 600 → day cap 500
    expect(inv.tariffId).toBe('city-2027');
  });

  it('refuses a malformed month or an unknown time zone with its code', () => {
    expect(() => billMonth([], ACCOUNT, '2026-13', T, TZ)).toThrow(
      expect.objectContaining({ code: 'ERR_MOBILITY_MONTH_INVALID' }),
    );
    expect(() => billMonth([], ACCOUNT, '2026-11', T, 'Europe/Nowhere')).toThrow(AppError);
    expect(() => billMonth([], ACCOUNT, '2026-11', T, 'Europe/Nowhere')).toThrow(
      expect.objectContaining({ code: 'ERR_MOBILITY_TIMEZONE_INVALID' }),
    );
  });
});

describe('invoiceNumber', () => {
  it('writes the year and the sequence on six digits, in a form the routes accept', () => {
    expect(invoiceNumber(2026, 1)).toBe('MOB-2026-000001');
    expect(invoiceNumber(2027, 123_456)).toBe('MOB-2027-123456');
    expect(InvoiceNumber.safeParse(invoiceNumber(2026, 42)).success).toBe(true);
    expect(InvoiceNumber.safeParse('MOB-202611-0123456789AB').success).toBe(false);
  });
});

// --- properties -------------------------------------------------------------------------------------------------

const START = Date.parse('2026-10-20T00:00:00Z');
const END = Date.parse('2026-12-05T00:00:00Z'); // around November, with both ends and October's DST night
const at = fc.integer({ min: START, max: END });
const minutes = (max: number) => fc.integer({ min: 0, max: max * 60_000 });
const accountId = fc.constantFrom('acc-0001', 'acc-0001', 'acc-0001', 'acc-0002');
const usageId = fc.integer({ min: 1, max: 400 }).map((n) => `u-${n}`); // small: duplicates happen
const eventArb: fc.Arbitrary<UsageEvent> = fc.oneof(
  fc
    .record({ usageId, accountId, startedAt: at, line: fc.constantFrom('1', '2', 'T3') })
    .map(({ line, ...e }) => UsageEvent.parse({ ...e, kind: 'transit-validation', details: { line } })),
  fc.record({ usageId, accountId, startedAt: at, d: minutes(26 * 60) }).map((e) =>
    UsageEvent.parse({
      usageId: e.usageId,
      accountId: e.accountId,
      kind: 'bike-rental',
      startedAt: e.startedAt,
      endedAt: e.startedAt + e.d,
      details: {},
    }),
  ),
  fc.record({ usageId, accountId, startedAt: at, d: minutes(72), km: fc.integer({ min: 0, max: 300_000 }) }).map((e) =>
    UsageEvent.parse({
      usageId: e.usageId,
      accountId: e.accountId,
      kind: 'car-share-trip',
      startedAt: e.startedAt,
      endedAt: e.startedAt + e.d,
      details: { km: e.km / 1000 },
    }),
  ),
  fc
    .record({ usageId, accountId, startedAt: at, d: minutes(10), amountCents: fc.integer({ min: 0, max: 2_000 }) })
    .map((e) =>
      UsageEvent.parse({
        usageId: e.usageId,
        accountId: e.accountId,
        kind: 'parking-session',
        startedAt: e.startedAt,
        endedAt: e.startedAt + e.d,
        details: { zone: 'Centre', amountCents: e.amountCents },
      }),
    ),
);
// Transit-heavy months too, so the caps are reached.
const eventsArb = fc.oneof(
  fc.array(eventArb, { maxLength: 120 }),
  fc.array(eventArb, { minLength: 150, maxLength: 400 }),
);

describe('billMonth properties', () => {
  test.prop([eventsArb])('never bills transit above the monthly cap nor a negative total, for any usage', (events) => {
    const inv = billMonth(events, ACCOUNT, '2026-11', T, TZ);
    const s = inv.subtotalsByKind;
    const nonTransit = s['bike-rental'] + s['car-share-trip'] + s['parking-session'];
    expect(inv.totalCents).toBeGreaterThanOrEqual(0);
    expect(s['transit-validation']).toBeGreaterThanOrEqual(0);
    expect(s['transit-validation']).toBeLessThanOrEqual(T.transit.monthlyCapCents);
    expect(inv.totalCents).toBeLessThanOrEqual(T.transit.monthlyCapCents + nonTransit);
    expect(inv.totalCents).toBe(inv.lines.reduce((sum, l) => sum + l.amountCents, 0));
    const u = inv.usage;
    expect(u.received).toBe(u.billed + u.duplicates + u.otherAccount + u.outsideMonth);
    expect(InvoiceDraft.parse(inv)).toEqual(inv);
  });

  test.prop([
    eventsArb.chain((events) =>
      fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length })),
    ),
  ])('gives the same invoice when the same events come in another order', ([events, shuffled]) => {
    expect(billMonth(shuffled, ACCOUNT, '2026-11', T, TZ)).toEqual(billMonth(events, ACCOUNT, '2026-11', T, TZ));
  });

  test.prop([eventsArb, fc.array(fc.nat(), { maxLength: 30 })])(
    'gives the same lines and total when events are delivered twice',
    (events, picks) => {
      const again = events.length === 0 ? [] : picks.map((i) => events[i % events.length] as UsageEvent);
      const once = billMonth(events, ACCOUNT, '2026-11', T, TZ);
      const twice = billMonth([...again, ...events], ACCOUNT, '2026-11', T, TZ);
      expect(twice.lines).toEqual(once.lines);
      expect(twice.totalCents).toBe(once.totalCents);
    },
  );
});
