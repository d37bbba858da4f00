import { randomBytes } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { type Invoice, type InvoiceDraft, invoiceNumber } from './billing.ts';
import { type LocalMonth, localDate } from './calendar.ts';
import type { Locale } from './text.ts';
import { parseUsage, type UsageEvent } from './usage.ts';

/**
 * The mobility account's tables (migrations/001_mobility.sql): accounts, usage events (once per usageId), invoices
 * (inserted once per account and month, never changed), the invoice-email outbox and the billing-run claims. Plain
 * SQL, the same on PGlite and PostgreSQL.
 */

/**
 * An account's state. A `closed` account takes no usage started at or after its `closedAt`, and is billed for the
 * month of its close (up to `closedAt`) and no month after. (One closed before migration 005, without `closedAt`, is
 * billed only for a month it used.)
 */
export type AccountStatus = 'active' | 'closed';

/** A mobility account. */
export interface MobilityAccount {
  readonly accountId: string;
  /** The holder's name (greeting of the email). */
  readonly name: string;
  readonly email: string;
  /** E.164, or null. */
  readonly phone: string | null;
  readonly locale: Locale;
  readonly status: AccountStatus;
  /** ISO 8601. */
  readonly createdAt: string;
  /** Who created it (an operator token's name). */
  readonly createdBy: string;
  /** ISO 8601 when closed, else null. */
  readonly closedAt: string | null;
  /** Who closed it: an operator token's name, or `citizen` (the holder, signed in); null while active. */
  readonly closedBy: string | null;
  /** Why, as given when closing (≤ 500 characters), or null. */
  readonly closeReason: string | null;
}

/** Who closes an account, and why. */
export interface AccountClose {
  /** An operator token's name, or `citizen`. */
  readonly by: string;
  readonly reason?: string | undefined;
}

/** A new account; `accountId` absent: `acc-` + 12 random hex digits. */
export interface NewAccount {
  readonly accountId?: string | undefined;
  readonly name: string;
  readonly email: string;
  readonly phone?: string | undefined;
  readonly locale: Locale;
  readonly by: string;
}

/** Where an invoice's email stands (`none`: nothing to send, a month with no usage). */
export type EmailState = 'pending' | 'sending' | 'queued' | 'failed' | 'none';

/** An invoice as stored: the computed invoice, when it was issued, and its email's state. */
export type StoredInvoice = Invoice & { readonly issuedAt: string; readonly email: EmailState };

/** One line of an account's invoice list. */
export interface InvoiceSummary {
  readonly invoiceNumber: string;
  readonly month: string;
  readonly totalCents: number;
  readonly issuedAt: string;
  readonly email: EmailState;
}

/**
 * What storing a usage event did: `closed` when its account was closed at or before the usage started (not stored;
 * nothing else is checked).
 */
export type UsageInsert = 'stored' | 'duplicate' | 'conflict' | 'closed';

/** An invoice email to send, with its account. */
export interface EmailToSend {
  readonly invoice: StoredInvoice;
  readonly account: MobilityAccount;
}

/** The mobility store. */
export interface MobilityStore {
  /** Creates an account; ERR_MOBILITY_ACCOUNT_CONFLICT when its id exists. */
  createAccount(input: NewAccount): Promise<MobilityAccount>;
  /** One account, or undefined. */
  account(accountId: string): Promise<MobilityAccount | undefined>;
  /** The accounts with this phone number (E.164), active or closed, oldest first. */
  accountsByPhone(phone: string): Promise<MobilityAccount[]>;
  /** The accounts with this email address (case ignored), active or closed, oldest first. */
  accountsByEmail(email: string): Promise<MobilityAccount[]>;
  /**
   * Closes an active account now (the clock's time): records when, by whom and why, and resolves the account as
   * closed. ERR_MOBILITY_ACCOUNT_NOT_FOUND when there is none; ERR_MOBILITY_ACCOUNT_CLOSED when it is closed already
   * (nothing changed).
   */
  closeAccount(accountId: string, close: AccountClose): Promise<MobilityAccount>;
  /**
   * Stores a usage event once: `duplicate` for the same copy again, `conflict` for a differing copy (not stored),
   * `closed` when its account was closed at or before the usage started (not stored). The account's row is locked
   * (FOR SHARE) while it is checked and the usage inserted, so a close running at the same time comes before or after
   * the whole insert, never between.
   */
  insertUsage(event: UsageEvent, receivedAtMs: number): Promise<UsageInsert>;
  /** The usage events of an account that started in [startMs, endMs). */
  usageOf(accountId: string, startMs: number, endMs: number): Promise<UsageEvent[]>;
  /**
   * The accounts to bill for `month`, in account id order after `afterId`, at most `limit`: created before the
   * month's end and open at some time in it (active, or closed after the month's start), or with usage in the month.
   * An account closed before the month began is not billed again: no 0 € invoice each month.
   */
  accountsToBill(month: LocalMonth, afterId: string, limit: number): Promise<MobilityAccount[]>;
  /**
   * Issues the invoice unless (account, month) has one: gives it the next number of its year of issue (local, in
   * the invoice's zone; continuous, without gaps) and inserts it, with its email pending when `email`, in one
   * transaction. Resolves the number, or undefined when the month was already invoiced (nothing changed).
   */
  issueInvoice(draft: InvoiceDraft, issuedAtMs: number, email: boolean): Promise<string | undefined>;
  /** One invoice by number, or undefined. */
  invoice(invoiceNumber: string): Promise<StoredInvoice | undefined>;
  /** An account's invoices, newest month first, at most `limit`. */
  invoicesOf(accountId: string, limit: number): Promise<InvoiceSummary[]>;
  /**
   * Claims up to `limit` invoice emails to send for `instance`: pending ones, and ones claimed before
   * `staleBeforeMs` (a crash between claim and mark), each claimed by one caller at a time (SKIP LOCKED).
   */
  claimEmails(instance: string, nowMs: number, staleBeforeMs: number, limit: number): Promise<EmailToSend[]>;
  /** Marks claimed emails `queued` (handed to the bus) or `failed` (with why). */
  markEmails(
    invoiceNumbers: readonly string[],
    state: 'queued' | 'failed',
    nowMs: number,
    error?: string,
  ): Promise<void>;
  /** Claims the billing of `month` for `instance`, retaking an unfinished claim older than `staleBeforeMs`. */
  claimRun(
    month: string,
    instance: string,
    nowMs: number,
    staleBeforeMs: number,
  ): Promise<{ claimed: boolean; owner: string }>;
  /** Marks `instance`'s run of `month` finished. */
  finishRun(
    month: string,
    instance: string,
    nowMs: number,
    counts: { invoices: number; emails: number },
  ): Promise<void>;
  /** Releases `instance`'s unfinished claim of `month` (a failed run), so it can be run again at once. */
  releaseRun(month: string, instance: string): Promise<void>;
  /** True when the billing of `month` has started (claimed) or finished: usage of that month arriving now is late. */
  monthBillingStarted(month: string): Promise<boolean>;
}

interface AccountRow {
  account_id: string;
  name: string;
  email: string;
  phone: string | null;
  locale: Locale;
  status: AccountStatus;
  created_at: Date;
  created_by: string;
  closed_at: Date | null;
  closed_by: string | null;
  close_reason: string | null;
}

interface InvoiceRow {
  invoice_number: string;
  account_id: string;
  month: string;
  time_zone: string;
  tariff_id: string;
  lines: Invoice['lines'];
  subtotals: Invoice['subtotalsByKind'];
  caps: Invoice['capsApplied'];
  usage_counts: Invoice['usage'];
  total_cents: number;
  issued_at: Date;
  email_state: Exclude<EmailState, 'none'> | null;
}

interface UsageRow {
  usage_id: string;
  account_id: string;
  kind: UsageEvent['kind'];
  started_at: Date;
  ended_at: Date | null;
  details: Record<string, unknown>;
}

const ACCOUNT_COLUMNS =
  'account_id, name, email, phone, locale, status, created_at, created_by, closed_at, closed_by, close_reason';
const INVOICE_COLUMNS = `i.invoice_number, i.account_id, i.month, i.time_zone, i.tariff_id, i.lines, i.subtotals,
  i.caps, i.usage_counts, i.total_cents, i.issued_at, e.state AS email_state`;

const iso = (ms: number) => new Date(ms).toISOString();

function toAccount(r: AccountRow): MobilityAccount {
  return {
    accountId: r.account_id,
    name: r.name,
    email: r.email,
    phone: r.phone,
    locale: r.locale,
    status: r.status,
    createdAt: r.created_at.toISOString(),
    createdBy: r.created_by,
    closedAt: r.closed_at ? r.closed_at.toISOString() : null,
    closedBy: r.closed_by,
    closeReason: r.close_reason,
  };
}

function toInvoice(r: InvoiceRow): StoredInvoice {
  return {
    invoiceNumber: r.invoice_number,
    accountId: r.account_id,
    month: r.month,
    timeZone: r.time_zone,
    tariffId: r.tariff_id,
    lines: r.lines,
    subtotalsByKind: r.subtotals,
    capsApplied: r.caps,
    totalCents: r.total_cents,
    usage: r.usage_counts,
    issuedAt: r.issued_at.toISOString(),
    email: r.email_state ?? 'none',
  };
}

function toUsage(r: UsageRow): UsageEvent {
  // Through the contract again: the stored row is what was parsed, so this cannot fail unless the table was edited.
  return parseUsage({
    usageId: r.usage_id,
    accountId: r.account_id,
    kind: r.kind,
    startedAt: r.started_at.getTime(),
    ...(r.ended_at ? { endedAt: r.ended_at.getTime() } : {}),
    details: r.details,
  });
}

/** The local year of `ms` in `timeZone`. */
function localYear(ms: number, timeZone: string): number {
  return Number(localDate(ms, timeZone).slice(0, 4));
}

/** The mobility store on `store`. */
export function createMobilityStore(store: SqlStore, options: { readonly clock: Clock }): MobilityStore {
  const { clock } = options;
  const q: SqlExecutor = store;

  return {
    async createAccount(input) {
      const accountId = input.accountId ?? `acc-${randomBytes(6).toString('hex')}`;
      const res = await q.query<AccountRow>(
        `INSERT INTO mobility_accounts (account_id, name, email, phone, locale, status, created_at, created_by)
         VALUES ($1, $2, $3, $4, $5, 'active', $6, $7)
         ON CONFLICT (account_id) DO NOTHING
         RETURNING ${ACCOUNT_COLUMNS}`,
        [accountId, input.name, input.email, input.phone ?? null, input.locale, iso(clock.nowMs()), input.by],
      );
      const row = res.rows[0];
      if (!row) {
        throw new AppError('ERR_MOBILITY_ACCOUNT_CONFLICT', `account: ${accountId} exists (a new account id)`);
      }
      return toAccount(row);
    },

    async account(accountId) {
      const res = await q.query<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM mobility_accounts WHERE account_id = $1`, [
        accountId,
      ]);
      return res.rows[0] ? toAccount(res.rows[0]) : undefined;
    },

    async accountsByPhone(phone) {
      const res = await q.query<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM mobility_accounts WHERE phone = $1 ORDER BY created_at, account_id`,
        [phone],
      );
      return res.rows.map(toAccount);
    },

    async accountsByEmail(email) {
      const res = await q.query<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM mobility_accounts WHERE lower(email) = lower($1) ORDER BY created_at, account_id`,
        [email],
      );
      return res.rows.map(toAccount);
    },

    async closeAccount(accountId, close) {
      const res = await q.query<AccountRow>(
        `UPDATE mobility_accounts SET status = 'closed', closed_at = $2, closed_by = $3, close_reason = $4
          WHERE account_id = $1 AND status = 'active'
          RETURNING ${ACCOUNT_COLUMNS}`,
        [accountId, iso(clock.nowMs()), close.by, close.reason ?? null],
      );
      const row = res.rows[0];
      if (row) return toAccount(row);
      const existing = await q.query<{ closed_at: Date | null }>(
        'SELECT closed_at FROM mobility_accounts WHERE account_id = $1',
        [accountId],
      );
      const found = existing.rows[0];
      if (!found) {
        throw new AppError('ERR_MOBILITY_ACCOUNT_NOT_FOUND', `account: ${accountId} (an existing account id)`);
      }
      const when = found.closed_at ? ` at ${found.closed_at.toISOString()}` : '';
      throw new AppError('ERR_MOBILITY_ACCOUNT_CLOSED', `account: ${accountId} closed${when} (an active account)`);
    },

    insertUsage(event, receivedAtMs) {
      const endedAt = event.kind === 'transit-validation' ? null : iso(event.endedAt);
      const params = [event.usageId, event.accountId, event.kind, iso(event.startedAt), endedAt];
      const details = JSON.stringify(event.details);
      return store.transaction(async (tx): Promise<UsageInsert> => {
        // FOR SHARE waits for a close in flight (its UPDATE) and holds the next one until this insert commits.
        const account = await tx.query<{ closed_at: Date | null }>(
          'SELECT closed_at FROM mobility_accounts WHERE account_id = $1 FOR SHARE',
          [event.accountId],
        );
        const closedAt = account.rows[0]?.closed_at;
        if (closedAt && closedAt.getTime() <= event.startedAt) return 'closed';
        const inserted = await tx.query(
          `INSERT INTO mobility_usage (usage_id, account_id, kind, started_at, ended_at, details, received_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
           ON CONFLICT (usage_id) DO NOTHING`,
          [...params, details, iso(receivedAtMs)],
        );
        if (inserted.rowCount > 0) return 'stored';
        const same = await tx.query(
          `SELECT 1 FROM mobility_usage
            WHERE usage_id = $1 AND account_id = $2 AND kind = $3 AND started_at = $4
              AND ended_at IS NOT DISTINCT FROM $5::timestamptz AND details = $6::jsonb`,
          [...params, details],
        );
        return same.rowCount > 0 ? 'duplicate' : 'conflict';
      });
    },

    async usageOf(accountId, startMs, endMs) {
      const res = await q.query<UsageRow>(
        `SELECT usage_id, account_id, kind, started_at, ended_at, details FROM mobility_usage
          WHERE account_id = $1 AND started_at >= $2 AND started_at < $3
          ORDER BY started_at, usage_id`,
        [accountId, iso(startMs), iso(endMs)],
      );
      return res.rows.map(toUsage);
    },

    async accountsToBill(month, afterId, limit) {
      const res = await q.query<AccountRow>(
        `SELECT ${ACCOUNT_COLUMNS} FROM mobility_accounts a
          WHERE a.account_id > $1 AND a.created_at < $3
            AND (a.status = 'active' OR a.closed_at > $2 OR EXISTS (
              SELECT 1 FROM mobility_usage u
               WHERE u.account_id = a.account_id AND u.started_at >= $2 AND u.started_at < $3))
          ORDER BY a.account_id
          LIMIT $4`,
        [afterId, iso(month.startMs), iso(month.endMs), limit],
      );
      return res.rows.map(toAccount);
    },

    issueInvoice(draft, issuedAtMs, email) {
      const year = localYear(issuedAtMs, draft.timeZone);
      return store.transaction(async (tx) => {
        // The year's counter, locked: issuers of any account take turns, so numbers follow the order of issue.
        await tx.query(
          'INSERT INTO mobility_invoice_counters (year, last) VALUES ($1, 0) ON CONFLICT (year) DO NOTHING',
          [year],
        );
        const counter = await tx.query<{ last: number }>(
          'SELECT last FROM mobility_invoice_counters WHERE year = $1 FOR UPDATE',
          [year],
        );
        const issued = await tx.query('SELECT 1 FROM mobility_invoices WHERE account_id = $1 AND month = $2', [
          draft.accountId,
          draft.month,
        ]);
        if (issued.rows.length > 0) return undefined;
        const number = invoiceNumber(year, Number(counter.rows[0]?.last ?? 0) + 1);
        await tx.query('UPDATE mobility_invoice_counters SET last = last + 1 WHERE year = $1', [year]);
        await tx.query(
          `INSERT INTO mobility_invoices (invoice_number, account_id, month, time_zone, tariff_id, lines, subtotals,
             caps, usage_counts, total_cents, issued_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10, $11)`,
          [
            number,
            draft.accountId,
            draft.month,
            draft.timeZone,
            draft.tariffId,
            JSON.stringify(draft.lines),
            JSON.stringify(draft.subtotalsByKind),
            JSON.stringify(draft.capsApplied),
            JSON.stringify(draft.usage),
            draft.totalCents,
            iso(issuedAtMs),
          ],
        );
        if (email) {
          await tx.query(`INSERT INTO mobility_invoice_emails (invoice_number, state) VALUES ($1, 'pending')`, [
            number,
          ]);
        }
        return number;
      });
    },

    async invoice(invoiceNumber) {
      const res = await q.query<InvoiceRow>(
        `SELECT ${INVOICE_COLUMNS} FROM mobility_invoices i
           LEFT JOIN mobility_invoice_emails e ON e.invoice_number = i.invoice_number
          WHERE i.invoice_number = $1`,
        [invoiceNumber],
      );
      return res.rows[0] ? toInvoice(res.rows[0]) : undefined;
    },

    async invoicesOf(accountId, limit) {
      const res = await q.query<InvoiceRow>(
        `SELECT ${INVOICE_COLUMNS} FROM mobility_invoices i
           LEFT JOIN mobility_invoice_emails e ON e.invoice_number = i.invoice_number
          WHERE i.account_id = $1
          ORDER BY i.month DESC
          LIMIT $2`,
        [accountId, limit],
      );
      return res.rows.map((r) => {
        const { invoiceNumber, month, totalCents, issuedAt, email } = toInvoice(r);
        return { invoiceNumber, month, totalCents, issuedAt, email };
      });
    },

    async claimEmails(instance, nowMs, staleBeforeMs, limit) {
      const claimed = await q.query<{ invoice_number: string }>(
        `UPDATE mobility_invoice_emails SET state = 'sending', claimed_by = $1, claimed_at = $2
          WHERE invoice_number IN (
            SELECT invoice_number FROM mobility_invoice_emails
             WHERE state = 'pending' OR (state = 'sending' AND claimed_at < $3)
             ORDER BY invoice_number
             LIMIT $4
             FOR UPDATE SKIP LOCKED)
          RETURNING invoice_number`,
        [instance, iso(nowMs), iso(staleBeforeMs), limit],
      );
      if (claimed.rowCount === 0) return [];
      const res = await q.query<InvoiceRow & AccountRow>(
        `SELECT ${INVOICE_COLUMNS}, a.name, a.email, a.phone, a.locale, a.status, a.created_at, a.created_by,
                a.closed_at, a.closed_by, a.close_reason
           FROM mobility_invoices i
           JOIN mobility_invoice_emails e ON e.invoice_number = i.invoice_number
           JOIN mobility_accounts a ON a.account_id = i.account_id
          WHERE i.invoice_number = ANY($1::text[])
          ORDER BY i.invoice_number`,
        [claimed.rows.map((r) => r.invoice_number)],
      );
      return res.rows.map((r) => ({ invoice: toInvoice(r), account: toAccount(r) }));
    },

    async markEmails(invoiceNumbers, state, nowMs, error) {
      if (invoiceNumbers.length === 0) return;
      await q.query(
        `UPDATE mobility_invoice_emails SET state = $2, queued_at = CASE WHEN $2 = 'queued' THEN $3::timestamptz END,
            error = $4
          WHERE invoice_number = ANY($1::text[])`,
        [[...invoiceNumbers], state, iso(nowMs), error ?? null],
      );
    },

    async claimRun(month, instance, nowMs, staleBeforeMs) {
      // One statement: a new month is inserted; an existing one is retaken only when unfinished and stale (a crash).
      const res = await q.query(
        `INSERT INTO mobility_billing_runs (month, instance, started_at) VALUES ($1, $2, $3)
         ON CONFLICT (month) DO UPDATE SET instance = EXCLUDED.instance, started_at = EXCLUDED.started_at
           WHERE mobility_billing_runs.finished_at IS NULL AND mobility_billing_runs.started_at < $4
         RETURNING instance`,
        [month, instance, iso(nowMs), iso(staleBeforeMs)],
      );
      if (res.rowCount > 0) return { claimed: true, owner: instance };
      const held = await q.query<{ instance: string }>('SELECT instance FROM mobility_billing_runs WHERE month = $1', [
        month,
      ]);
      return { claimed: false, owner: held.rows[0]?.instance ?? 'unknown' };
    },

    async finishRun(month, instance, nowMs, counts) {
      await q.query(
        `UPDATE mobility_billing_runs SET finished_at = $3, invoices = $4, emails = $5
          WHERE month = $1 AND instance = $2`,
        [month, instance, iso(nowMs), counts.invoices, counts.emails],
      );
    },

    async releaseRun(month, instance) {
      await q.query('DELETE FROM mobility_billing_runs WHERE month = $1 AND instance = $2 AND finished_at IS NULL', [
        month,
        instance,
      ]);
    },

    async monthBillingStarted(month) {
      return (await q.query('SELECT 1 FROM mobility_billing_runs WHERE month = $1', [month])).rowCount > 0;
    },
  };
}
