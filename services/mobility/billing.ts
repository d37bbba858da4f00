import { z } from 'zod';
import { localDate, localMonth, localTime } from './calendar.ts';
import { bikeRentalCents, carShareTripCents, startedMinutes, type TariffTable } from './tariffs.ts';
import { describeLine } from './text.ts';
import { AccountId, USAGE_KINDS, type UsageEvent, UsageId, type UsageKind } from './usage.ts';

/**
 * One account's monthly invoice, computed from its usage events (pure, deterministic). See tariffs.ts for the
 * prices and rules. How events are taken:
 * 1. events of another account are ignored (counted `otherAccount`);
 * 2. one event per `usageId` (duplicates counted; when two copies differ — a producer bug — the copy whose
 *    canonical JSON sorts first is kept, whatever the input order, and `conflictingDuplicates` counts it);
 * 3. events that did not START in the local month are ignored (counted `outsideMonth`): an event at 23:30 on the
 *    31st local time belongs to that month though it is the 1st in UTC; a rental crossing midnight or the month's
 *    end is billed on the local day it started.
 * `usage.received = otherAccount + duplicates + outsideMonth + billed`: nothing is left out silently.
 *
 * Lines: one per billed event (a free transfer is a line at 0, to show why it is free), then the caps in this order:
 * transfers (inside the lines) → each day's transit cap and bike cap (a negative line after that day's lines) →
 * the month's transit cap over the capped days (a negative line at the end). Lines are ordered by local date, then
 * kind (transit, bike, car share, parking), usage before cap, start instant, usageId. Amounts are integer cents.
 *
 * A month with no usage gives an invoice with no line and a total of 0; {@link shouldEmailInvoice} says not to
 * email it (the invoice is still stored: it records that the month was billed).
 */

/** The caps that can apply. */
export const CAP_KINDS = ['transit-daily', 'transit-monthly', 'bike-daily'] as const;
/** A cap. */
export type CapKind = (typeof CAP_KINDS)[number];

const LocalDate = z.iso.date();
const Cents = z.number().int();

/** What a line is about (the words are made from these, in either language). */
export const LineFacts = z.strictObject({
  line: z.string().optional(),
  stationFrom: z.string().optional(),
  stationTo: z.string().optional(),
  zone: z.string().optional(),
  /** Started minutes of a rental, trip or parking session (elapsed time). */
  minutes: z.number().int().min(0).optional(),
  km: z.number().min(0).optional(),
  /** The cap's amount, cents (cap lines). */
  capCents: Cents.optional(),
  /** Local time `HH:MM` of the trip's first validation (transfers). */
  tripStartTime: z.string().optional(),
});

/** One line of an invoice. */
export const InvoiceLine = z.strictObject({
  /** Local date of the usage's start (cap lines: the capped day; the monthly cap: the month's last day). */
  date: LocalDate,
  /** Local start time `HH:MM`; absent on cap lines. */
  time: z
    .string()
    .regex(/^\d{2}:\d{2}$/)
    .optional(),
  kind: z.enum(USAGE_KINDS),
  /** `usage` (priced), `transfer` (a free transit validation), `cap` (a saving, negative). */
  type: z.enum(['usage', 'transfer', 'cap']),
  usageId: UsageId.optional(),
  /** French, stored with the invoice. */
  description: z.string().min(1),
  amountCents: Cents,
  /** On cap lines: which cap this saving comes from. */
  capApplied: z.enum(CAP_KINDS).optional(),
  facts: LineFacts,
});
/** One line of an invoice. */
export type InvoiceLine = z.output<typeof InvoiceLine>;

/** A cap that applied: what the period cost before it, the cap, the saving. */
export const CapApplied = z.strictObject({
  cap: z.enum(CAP_KINDS),
  /** The capped day `YYYY-MM-DD` or month `YYYY-MM`. */
  period: z.string(),
  beforeCents: Cents,
  capCents: Cents,
  savedCents: Cents,
});
/** A cap that applied. */
export type CapApplied = z.output<typeof CapApplied>;

/** A monthly invoice of the mobility account (stored immutably once issued). */
export const Invoice = z.strictObject({
  invoiceNumber: z.string(),
  accountId: AccountId,
  /** The local month billed, `YYYY-MM`. */
  month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/),
  /** The zone whose local days and months were used. */
  timeZone: z.string(),
  /** The tariff table's `id`. */
  tariffId: z.string(),
  lines: z.array(InvoiceLine),
  /** Per kind, after caps, cents (every kind present, 0 when unused). */
  subtotalsByKind: z.record(z.enum(USAGE_KINDS), Cents),
  capsApplied: z.array(CapApplied),
  /** Sum of the lines, cents (never negative). */
  totalCents: z.number().int().min(0),
  /** How the events given were taken (received = otherAccount + duplicates + outsideMonth + billed). */
  usage: z.strictObject({
    received: z.number().int().min(0),
    billed: z.number().int().min(0),
    duplicates: z.number().int().min(0),
    conflictingDuplicates: z.number().int().min(0),
    otherAccount: z.number().int().min(0),
    outsideMonth: z.number().int().min(0),
  }),
});
/** A monthly invoice. */
export type Invoice = z.output<typeof Invoice>;

/** The account billed (more fields come with the accounts table). */
export interface BillingAccount {
  readonly accountId: string;
}

/** An invoice as billed, before the store numbers it (the number is given when it is issued). */
export const InvoiceDraft = Invoice.omit({ invoiceNumber: true });
/** An invoice before its number. */
export type InvoiceDraft = z.output<typeof InvoiceDraft>;

/**
 * An invoice number: `MOB-<year>-<6 digits>`, one continuous series per year of issue (local), in the order the
 * invoices were issued, without gaps — what French law asks of invoice numbering (Code de commerce, art. R123-237
 * and CGI annexe II art. 242 nonies A: a chronological and continuous sequence; a series may restart each year).
 * The store gives it, in the transaction that issues the invoice (store.ts issueInvoice).
 */
export const InvoiceNumber = z
  .string()
  .regex(/^MOB-\d{4}-\d{6,}$/, 'an invoice number, MOB-<year>-<6 digits>')
  .describe('The invoice number');

/** The invoice number of the `sequence`th invoice issued in `year`. */
export function invoiceNumber(year: number, sequence: number): string {
  return `MOB-${year}-${String(sequence).padStart(6, '0')}`;
}

/** True when the invoice is to be emailed: it has at least one line (a month with no usage sends nothing). */
export function shouldEmailInvoice(invoice: InvoiceDraft): boolean {
  return invoice.lines.length > 0;
}

const KIND_RANK: Record<UsageKind, number> = {
  'transit-validation': 0,
  'bike-rental': 1,
  'car-share-trip': 2,
  'parking-session': 3,
};

interface Draft {
  line: Omit<InvoiceLine, 'description'>;
  startedAtMs: number;
}

/**
 * Bills one account's local month `month` (`YYYY-MM`) in `timeZone` with `table`. Pure: the same events in any
 * order give the same invoice. ERR_MOBILITY_MONTH_INVALID / ERR_MOBILITY_TIMEZONE_INVALID for a bad month or zone.
 */
export function billMonth(
  events: readonly UsageEvent[],
  account: BillingAccount,
  month: string,
  table: TariffTable,
  timeZone: string,
): InvoiceDraft {
  const bounds = localMonth(month, timeZone);
  const counts = {
    received: events.length,
    billed: 0,
    duplicates: 0,
    conflictingDuplicates: 0,
    otherAccount: 0,
    outsideMonth: 0,
  };

  // 1–2. This account's events, one per usageId (the canonical copy, whatever the order).
  const byId = new Map<string, { event: UsageEvent; json: string; copies: Set<string> }>();
  for (const event of events) {
    if (event.accountId !== account.accountId) {
      counts.otherAccount++;
      continue;
    }
    const json = canonicalJson(event);
    const seen = byId.get(event.usageId);
    if (!seen) {
      byId.set(event.usageId, { event, json, copies: new Set([json]) });
      continue;
    }
    counts.duplicates++;
    seen.copies.add(json);
    if (json < seen.json) Object.assign(seen, { event, json });
  }
  // 3. Started in the local month.
  const billed: UsageEvent[] = [];
  for (const { event, copies } of byId.values()) {
    if (copies.size > 1) counts.conflictingDuplicates++;
    if (event.startedAt < bounds.startMs || event.startedAt >= bounds.endMs) counts.outsideMonth++;
    else billed.push(event);
  }
  counts.billed = billed.length;
  billed.sort((a, b) => a.startedAt - b.startedAt || (a.usageId < b.usageId ? -1 : a.usageId > b.usageId ? 1 : 0));

  const drafts: Draft[] = [];
  const transitByDay = new Map<string, number>();
  const bikeByDay = new Map<string, number>();
  const windowMs = table.transit.transferWindowMinutes * 60_000;
  let tripStart: UsageEvent | undefined;
  for (const e of billed) {
    const date = localDate(e.startedAt, timeZone);
    const base = { date, time: localTime(e.startedAt, timeZone), kind: e.kind, usageId: e.usageId };
    switch (e.kind) {
      case 'transit-validation': {
        const facts = {
          line: e.details.line,
          ...(e.details.stationFrom !== undefined ? { stationFrom: e.details.stationFrom } : {}),
        };
        if (tripStart && e.startedAt - tripStart.startedAt < windowMs) {
          const tripStartTime = localTime(tripStart.startedAt, timeZone);
          drafts.push({
            line: { ...base, type: 'transfer', amountCents: 0, facts: { ...facts, tripStartTime } },
            startedAtMs: e.startedAt,
          });
        } else {
          tripStart = e;
          const fare = table.transit.fareCents;
          // The trip counts on the local day of its first validation; its transfers (even after midnight) are free.
          transitByDay.set(date, (transitByDay.get(date) ?? 0) + fare);
          drafts.push({ line: { ...base, type: 'usage', amountCents: fare, facts }, startedAtMs: e.startedAt });
        }
        break;
      }
      case 'bike-rental': {
        const durationMs = e.endedAt - e.startedAt;
        const amountCents = bikeRentalCents(durationMs, table.bike);
        bikeByDay.set(date, (bikeByDay.get(date) ?? 0) + amountCents);
        const facts = { ...stations(e.details), minutes: startedMinutes(durationMs) };
        drafts.push({ line: { ...base, type: 'usage', amountCents, facts }, startedAtMs: e.startedAt });
        break;
      }
      case 'car-share-trip': {
        const durationMs = e.endedAt - e.startedAt;
        const amountCents = carShareTripCents(durationMs, e.details.km, table.carShare);
        const facts = { ...stations(e.details), minutes: startedMinutes(durationMs), km: e.details.km };
        drafts.push({ line: { ...base, type: 'usage', amountCents, facts }, startedAtMs: e.startedAt });
        break;
      }
      case 'parking-session': {
        const facts = { zone: e.details.zone, minutes: startedMinutes(e.endedAt - e.startedAt) };
        drafts.push({
          line: { ...base, type: 'usage', amountCents: e.details.amountCents, facts },
          startedAtMs: e.startedAt,
        });
        break;
      }
    }
  }

  // Daily caps (after transfers), then the monthly transit cap over the capped days.
  const capsApplied: CapApplied[] = [];
  const dailyCap = (cap: 'transit-daily' | 'bike-daily', byDay: Map<string, number>, capCents: number): number => {
    let afterCaps = 0;
    for (const [date, beforeCents] of [...byDay].sort(([a], [b]) => (a < b ? -1 : 1))) {
      afterCaps += Math.min(beforeCents, capCents);
      if (beforeCents <= capCents) continue;
      const savedCents = beforeCents - capCents;
      capsApplied.push({ cap, period: date, beforeCents, capCents, savedCents });
      const kind = cap === 'transit-daily' ? 'transit-validation' : 'bike-rental';
      drafts.push({
        line: { date, kind, type: 'cap', amountCents: -savedCents, capApplied: cap, facts: { capCents } },
        startedAtMs: 0,
      });
    }
    return afterCaps;
  };
  const transitAfterDaily = dailyCap('transit-daily', transitByDay, table.transit.dailyCapCents);
  dailyCap('bike-daily', bikeByDay, table.bike.dailyCapCents);
  drafts.sort(compareDrafts);
  const monthlyCapCents = table.transit.monthlyCapCents;
  if (transitAfterDaily > monthlyCapCents) {
    const savedCents = transitAfterDaily - monthlyCapCents;
    capsApplied.push({
      cap: 'transit-monthly',
      period: month,
      beforeCents: transitAfterDaily,
      capCents: monthlyCapCents,
      savedCents,
    });
    drafts.push({
      line: {
        date: bounds.lastDate,
        kind: 'transit-validation',
        type: 'cap',
        amountCents: -savedCents,
        capApplied: 'transit-monthly',
        facts: { capCents: monthlyCapCents },
      },
      startedAtMs: 0,
    });
  }

  const lines = drafts.map(({ line }) => ({ ...line, description: describeLine(line, 'fr') }));
  const subtotalsByKind = Object.fromEntries(USAGE_KINDS.map((k) => [k, 0])) as Record<UsageKind, number>;
  for (const l of lines) subtotalsByKind[l.kind] += l.amountCents;
  const totalCents = lines.reduce((sum, l) => sum + l.amountCents, 0);
  return {
    accountId: account.accountId,
    month,
    timeZone,
    tariffId: table.id,
    lines,
    subtotalsByKind,
    capsApplied,
    totalCents,
    usage: counts,
  };
}

function stations(d: { stationFrom?: string | undefined; stationTo?: string | undefined }) {
  return {
    ...(d.stationFrom !== undefined ? { stationFrom: d.stationFrom } : {}),
    ...(d.stationTo !== undefined ? { stationTo: d.stationTo } : {}),
  };
}

function compareDrafts(a: Draft, b: Draft): number {
  const la = a.line;
  const lb = b.line;
  if (la.date !== lb.date) return la.date < lb.date ? -1 : 1;
  if (la.kind !== lb.kind) return KIND_RANK[la.kind] - KIND_RANK[lb.kind];
  const capA = la.type === 'cap' ? 1 : 0;
  const capB = lb.type === 'cap' ? 1 : 0;
  if (capA !== capB) return capA - capB;
  if (a.startedAtMs !== b.startedAtMs) return a.startedAtMs - b.startedAtMs;
  const ia = la.usageId ?? '';
  const ib = lb.usageId ?? '';
  return ia < ib ? -1 : ia > ib ? 1 : 0;
}

/** JSON with object keys sorted: two copies of one event compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
