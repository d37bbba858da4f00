import type { Clock } from '../../core/clock.ts';
import { SYSTEM_CLOCK } from '../../core/clock.ts';
import type { SqlExecutor } from '../../core/store/store.ts';
import type { Account } from './accounts.ts';

/**
 * Which meters are a resident's: the meters of the confirmed alert subscriptions of their address (the alerting
 * stage's table, read here only), and those they linked themselves with the meter's subscriber code
 * (`resident_meters`). Every route about a meter asks {@link ownsMeter} first.
 */

/** Where the resident's right to a meter comes from. */
export type MeterSource = 'subscription' | 'linked';

/** A meter of the resident. */
export interface ResidentMeter {
  readonly deviceId: string;
  /** Why it is theirs (one or both). */
  readonly sources: MeterSource[];
}

/** The alert types of a water meter's leak history. */
export const LEAK_ALERT_TYPES = ['leak', 'burst', 'backflow', 'no-consumption'] as const;

/**
 * The devices of the confirmed subscriptions of `account`'s address. READ-ONLY access to another component's table:
 * `alerting_subscriptions` belongs to the alerting stage (alerting/subscriptions.ts, status 'confirmed'); this is
 * the one place the residents' service reads it, so a change of that table is mended here alone.
 */
export async function confirmedSubscriptionDevices(db: SqlExecutor, account: Account): Promise<string[]> {
  const res = await db.query<{ device_id: string }>(
    `SELECT DISTINCT device_id FROM alerting_subscriptions
     WHERE channel = $1 AND address = $2 AND status = 'confirmed' ORDER BY device_id`,
    [account.channel, account.address],
  );
  return res.rows.map((r) => r.device_id);
}

/** One alert of a meter's leak history. */
export interface MeterAlert {
  readonly alertId: string;
  readonly type: string;
  readonly severity: string;
  readonly summary: string;
  readonly openedAt: string;
  readonly resolvedAt: string | null;
  readonly acknowledged: boolean;
}

/**
 * A meter's leak history (types {@link LEAK_ALERT_TYPES}), newest first, opened before `beforeMs` when given.
 * READ-ONLY access to another component's table: `alerting_alerts` belongs to the alerting stage
 * (alerting/lifecycle-store.ts); this is the one place the residents' service reads it.
 */
export async function leakHistory(
  db: SqlExecutor,
  deviceId: string,
  options: { limit: number; beforeMs?: number | undefined },
): Promise<MeterAlert[]> {
  const res = await db.query<{
    alert_id: string;
    type: string;
    severity: string;
    summary: string;
    opened_at: Date | string;
    resolved_at: Date | string | null;
    acknowledged_at: Date | string | null;
  }>(
    `SELECT alert_id, type, severity, summary, opened_at, resolved_at, acknowledged_at FROM alerting_alerts
     WHERE device_id = $1 AND type = ANY($2::text[]) AND ($3::timestamptz IS NULL OR opened_at < $3)
     ORDER BY opened_at DESC, alert_id DESC LIMIT $4`,
    [
      deviceId,
      [...LEAK_ALERT_TYPES],
      options.beforeMs === undefined ? null : new Date(options.beforeMs),
      options.limit,
    ],
  );
  return res.rows.map((r) => ({
    alertId: r.alert_id,
    type: r.type,
    severity: r.severity,
    summary: r.summary,
    openedAt: new Date(r.opened_at).toISOString(),
    resolvedAt: r.resolved_at === null ? null : new Date(r.resolved_at).toISOString(),
    acknowledged: r.acknowledged_at !== null,
  }));
}

/** The resident's meters, by device id. */
export async function metersOf(db: SqlExecutor, account: Account): Promise<ResidentMeter[]> {
  const [subscribed, linked] = await Promise.all([
    confirmedSubscriptionDevices(db, account),
    db.query<{ device_id: string }>('SELECT device_id FROM resident_meters WHERE account_id = $1', [account.id]),
  ]);
  const sources = new Map<string, MeterSource[]>();
  for (const d of subscribed) sources.set(d, ['subscription']);
  for (const { device_id: d } of linked.rows) sources.set(d, [...(sources.get(d) ?? []), 'linked']);
  return [...sources.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([deviceId, s]) => ({ deviceId, sources: s }));
}

/** Whether `deviceId` is one of the resident's meters. */
export async function ownsMeter(db: SqlExecutor, account: Account, deviceId: string): Promise<boolean> {
  const linked = await db.query('SELECT 1 FROM resident_meters WHERE account_id = $1 AND device_id = $2', [
    account.id,
    deviceId,
  ]);
  if (linked.rows.length > 0) return true;
  return (await confirmedSubscriptionDevices(db, account)).includes(deviceId);
}

/** Links a meter to the account (its subscriber code already checked); true when it was not linked yet. */
export async function linkMeter(
  db: SqlExecutor,
  account: Account,
  deviceId: string,
  clock: Clock = SYSTEM_CLOCK,
): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO resident_meters (account_id, device_id, linked_at) VALUES ($1, $2, $3)
     ON CONFLICT (account_id, device_id) DO NOTHING`,
    [account.id, deviceId, new Date(clock.nowMs())],
  );
  return res.rowCount > 0;
}

/** Unlinks a meter the resident linked; true when one was removed (a subscription's meter is not unlinked here). */
export async function unlinkMeter(db: SqlExecutor, account: Account, deviceId: string): Promise<boolean> {
  const res = await db.query('DELETE FROM resident_meters WHERE account_id = $1 AND device_id = $2', [
    account.id,
    deviceId,
  ]);
  return res.rowCount > 0;
}
