import { UsageEvent, type UsageEventInput } from './usage.ts';

/** Test events built through the contract (times as ISO 8601 with their local offset, as a producer writes them). */

let seq = 0;
const nextId = () => `u-${String(++seq).padStart(5, '0')}`;

/** The account most tests bill. */
export const ACCOUNT = { accountId: 'acc-0001' };

/** A tram/bus validation at `at` (ISO with offset). */
export function validation(at: string, line = '2', extra: Partial<UsageEventInput> = {}): UsageEvent {
  return UsageEvent.parse({
    usageId: nextId(),
    accountId: ACCOUNT.accountId,
    kind: 'transit-validation',
    startedAt: at,
    details: { line },
    ...extra,
  });
}

/** A bike rental from `from` to `to` (ISO with offset). */
export function bike(from: string, to: string, details: { stationFrom?: string; stationTo?: string } = {}): UsageEvent {
  return UsageEvent.parse({
    usageId: nextId(),
    accountId: ACCOUNT.accountId,
    kind: 'bike-rental',
    startedAt: from,
    endedAt: to,
    details,
  });
}

/** A car-share trip from `from` to `to`, `km` driven. */
export function car(from: string, to: string, km: number): UsageEvent {
  return UsageEvent.parse({
    usageId: nextId(),
    accountId: ACCOUNT.accountId,
    kind: 'car-share-trip',
    startedAt: from,
    endedAt: to,
    details: { km },
  });
}

/** A parking session priced `amountCents` by the parking service. */
export function parking(from: string, to: string, zone: string, amountCents: number): UsageEvent {
  return UsageEvent.parse({
    usageId: nextId(),
    accountId: ACCOUNT.accountId,
    kind: 'parking-session',
    startedAt: from,
    endedAt: to,
    details: { zone, amountCents },
  });
}
