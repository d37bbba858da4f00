import { inject, onTestFinished } from 'vitest';
import type { AlertTransition } from '../../core/contracts/index.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';
import { alertingMigrations } from '../index.ts';
import { recordTransition } from '../lifecycle-store.ts';
import { createSubscriptions, type SubscriptionInput } from '../subscriptions.ts';
import type { ConsumptionDay } from './consumption.ts';

/** A store of `engine` with the alerting migrations, closed (and its database dropped) when the test ends. */
export async function openTestStore(engine: 'pglite' | 'postgres'): Promise<SqlStore> {
  if (engine === 'pglite') {
    const store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
    onTestFinished(() => store.close());
    return store;
  }
  const db = await createTestDatabase(inject('databaseUrl'));
  const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [alertingMigrations]);
  onTestFinished(async () => {
    await store.close();
    await db.drop();
  });
  return store;
}

/** An alert as the schedules' tests seed it: when it opened, and when it was resolved or acknowledged if it was. */
export type AlertSeed = Pick<AlertTransition, 'deviceId' | 'type'> &
  Partial<AlertTransition> & { openedAt: string; resolvedAt?: string; acknowledgedAt?: string };

/** Records an alert's open transition (and its resolution when `resolvedAt` is given), as the router does. */
export async function recordAlert(store: SqlStore, alert: AlertSeed): Promise<void> {
  const { openedAt, resolvedAt, acknowledgedAt, ...t } = alert;
  const base: AlertTransition = {
    alertId: `${t.deviceId}:${t.type}:${openedAt}`,
    kind: 'water-meter',
    state: 'open',
    ts: openedAt,
    severity: 'warning',
    summary: `${t.type} at ${t.deviceId}`,
    details: {},
    ...t,
  };
  await recordTransition(store, base);
  if (resolvedAt) await recordTransition(store, { ...base, state: 'resolved', ts: resolvedAt });
  if (acknowledgedAt) {
    await store.query(`UPDATE alerting_alerts SET acknowledged_at = $2, acknowledged_by = 'op' WHERE alert_id = $1`, [
      base.alertId,
      acknowledgedAt,
    ]);
  }
}

/** Records each of `alerts` in turn (`recordAlert`). */
export async function recordAlerts(store: SqlStore, alerts: readonly AlertSeed[]): Promise<void> {
  for (const alert of alerts) await recordAlert(store, alert);
}

/** Adds each of `subscriptions` in turn, as the subscriptions module does (confirmed where `consent` is given). */
export async function addSubscriptions(store: SqlStore, subscriptions: readonly SubscriptionInput[]): Promise<void> {
  const subs = createSubscriptions(store);
  for (const subscription of subscriptions) await subs.add(subscription);
}

/** Registers `devices` (their kind and district) in `alerting_devices`, as the device-places consumer does. */
export async function recordDevices(
  db: SqlExecutor,
  devices: readonly { deviceId: string; kind: string; district: string }[],
): Promise<void> {
  for (const d of devices) {
    await db.query(
      `INSERT INTO alerting_devices (device_id, kind, district, active, updated_at) VALUES ($1, $2, $3, true, now())`,
      [d.deviceId, d.kind, d.district],
    );
  }
}

/** `count` days of `month` (`YYYY-MM`) from the 1st for `deviceId`, `litres` each, no night flow. */
export function consumptionDays(deviceId: string, month: string, count: number, litres: number): ConsumptionDay[] {
  return Array.from({ length: count }, (_, i) => ({
    deviceId,
    day: `${month}-${String(i + 1).padStart(2, '0')}`,
    consumptionL: litres,
    nightMinFlowLph: null,
  }));
}

/** A row of the delivery log as the schedules' tests read it. */
export interface QueuedRow {
  key: string;
  purpose: string;
  channel: string;
  recipient: string;
  locale: string;
  status: string;
  message: { kind: string; to: string; subject?: string; text?: string; html?: string; body?: string };
}

/** The delivery log's rows whose key starts with `prefix`, by key. */
export async function queued(db: SqlExecutor, prefix: string): Promise<QueuedRow[]> {
  const res = await db.query<QueuedRow>(
    `SELECT idempotency_key AS key, purpose, channel, recipient, locale, status, message
       FROM alerting_deliveries WHERE idempotency_key LIKE $1 ORDER BY idempotency_key`,
    [`${prefix}%`],
  );
  return res.rows;
}
