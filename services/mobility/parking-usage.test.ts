import { describe, expect, it } from 'vitest';
import { accountsForSession } from './parking-usage.ts';
import type { MobilityAccount } from './store.ts';

const account = (accountId: string, createdAt: string, closedAt: string | null = null): MobilityAccount => ({
  accountId,
  name: accountId,
  email: `${accountId}@example.org`,
  phone: '+33611223344',
  locale: 'fr',
  status: closedAt === null ? 'active' : 'closed',
  createdAt,
  createdBy: 'test',
  closedAt,
  closedBy: closedAt === null ? null : 'citizen',
  closeReason: null,
});
const ids = (accounts: MobilityAccount[]) => accounts.map((a) => a.accountId);
const at = (iso: string) => Date.parse(iso);

describe('accountsForSession', () => {
  const old = account('acc-old', '2026-09-01T00:00:00Z', '2026-10-10T08:00:00Z');
  const renewed = account('acc-new', '2026-10-10T09:00:00Z');

  it('picks the closed account for a session started before its close and the new one for a session after it', () => {
    expect(ids(accountsForSession([old, renewed], at('2026-10-08T08:00:00Z')))).toEqual(['acc-old']);
    expect(ids(accountsForSession([old, renewed], at('2026-10-12T08:00:00Z')))).toEqual(['acc-new']);
    // Between the close and the new account: the new account, as a session before an account's creation always was.
    expect(ids(accountsForSession([old, renewed], at('2026-10-10T08:30:00Z')))).toEqual(['acc-new']);
  });

  it('picks none when the number’s only account was closed before the session started, even at the close instant', () => {
    expect(accountsForSession([old], at('2026-10-10T08:00:00Z'))).toEqual([]);
    expect(accountsForSession([], at('2026-10-10T08:00:00Z'))).toEqual([]);
  });

  it('returns both when two active accounts share the number, and the other one once one of them is closed', () => {
    const first = account('acc-1', '2026-09-01T00:00:00Z');
    const second = account('acc-2', '2026-09-02T00:00:00Z');
    const session = at('2026-10-05T08:00:00Z');
    expect(ids(accountsForSession([first, second], session))).toEqual(['acc-1', 'acc-2']);
    // The dead letter's fix: close all but one, replay; the session (from before that close) goes to the other.
    const secondClosed = { ...second, status: 'closed' as const, closedAt: '2026-10-20T00:00:00Z' };
    expect(ids(accountsForSession([first, secondClosed], session))).toEqual(['acc-1']);
  });
});
