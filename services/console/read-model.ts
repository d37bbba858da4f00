import type { Bus } from '../../core/bus/port.ts';
import { createReadModel, parseRecord, type ReadModel, type ReadModelRecord } from '../../core/bus/read-model.ts';
import type { Clock } from '../../core/clock.ts';
import { AlertTransition, DeviceInfo, Rollup, TOPICS } from '../../core/contracts/index.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { upsertRows } from '../../core/store/upsert.ts';

/**
 * The console's read model: three consumers, each with its own group, from the beginning (core/bus/read-model.ts:
 * each record `stored`, `ignored` on purpose or `invalid` — logged, counted and dropped, since the producers can
 * send them again; not dead-lettered).
 *
 * - `devices.v1` (group `console-devices`) → `console_devices`: the registry's description replaces the row's.
 * - `alerts.v1` (group `console-alerts`) → `console_device_alerts`: open/update upsert the (device, type) row (its
 *   `since` kept while the alert id stays), resolved deletes it only when the alert id matches — a late resolve of
 *   an old episode does not clear the new one (it is counted in `console_alert_resolves_unmatched_total`). An alert
 *   for a device the registry has not described yet creates a bare device row (kind from the transition).
 * - `rollups.v1` (group `console-series`) → `console_series`: device rollups, hour and day, every kind; a later
 *   record of a (device, period, start) replaces the earlier one. Other scopes are ignored.
 *
 * Versions: every change of a device row or of its alerts takes `nextval('console_version_seq')`. Writers hold a
 * transaction-level advisory lock from before `nextval` until commit, so versions commit in increasing order and a
 * reader that saw version N has seen every version below it: "changed since N" never misses a change. A redelivered
 * record changes nothing, and bumps nothing.
 *
 * Retention is by the clock (the console's, the one the routes' default range uses), not by the rollups' event time,
 * so one rollup with a far-future start cannot purge the history: after a stored batch, at most once per hour per
 * instance, hour rows older than `hourRetentionDays` and day rows older than `dayRetentionDays` are deleted. Rows
 * already older than that (a replay of old history) stay until the next sweep.
 */

/** Consumer groups, one per topic. */
export const CONSOLE_GROUP_IDS = {
  devices: 'console-devices',
  alerts: 'console-alerts',
  series: 'console-series',
} as const;

/** Advisory lock taken by every writer of versions ("cons"). */
const VERSION_LOCK_ID = 0x63_6f_6e_73;
/** The version sequence's next value, as an SQL expression. */
const NEXT_VERSION = "nextval('console_version_seq')";
/** How often, at most, the retention sweep runs on one instance. */
export const RETENTION_SWEEP_INTERVAL_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** One device rollup, as stored. */
export interface SeriesRow {
  readonly deviceId: string;
  readonly kind: string;
  readonly period: 'hour' | 'day';
  /** The period's first instant, ISO 8601 UTC. */
  readonly start: string;
  readonly values: Readonly<Record<string, number>>;
}

/** Decodes one `devices.v1` value (pure). */
export function decodeDevice(value: string): ReadModelRecord<DeviceInfo> {
  const parsed = parseRecord(value, DeviceInfo, 'DeviceInfo');
  return parsed.outcome === 'parsed' ? { outcome: 'stored', item: parsed.data } : parsed;
}

/** Decodes one `alerts.v1` value (pure). */
export function decodeAlert(value: string): ReadModelRecord<AlertTransition> {
  const parsed = parseRecord(value, AlertTransition, 'AlertTransition');
  return parsed.outcome === 'parsed' ? { outcome: 'stored', item: parsed.data } : parsed;
}

/** Decodes one `rollups.v1` value: a device rollup is stored, a circuit's or a district's ignored (pure). */
export function decodeSeries(value: string): ReadModelRecord<SeriesRow> {
  const parsed = parseRecord(value, Rollup, 'Rollup');
  if (parsed.outcome === 'invalid') return parsed;
  const r = parsed.data;
  if (r.scope !== 'device') return { outcome: 'ignored' };
  if (r.deviceId === undefined) return { outcome: 'invalid', reason: 'device rollup without deviceId' };
  return {
    outcome: 'stored',
    item: {
      deviceId: r.deviceId,
      kind: r.kind,
      period: r.period,
      start: new Date(r.start).toISOString(),
      values: r.values,
    },
  };
}

async function lockVersions(tx: SqlExecutor): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock($1)', [VERSION_LOCK_ID]);
}

/** Stores registry descriptions (in offset order): a row that changes takes a new version; the same one changes nothing. */
export async function storeDevices(store: SqlStore, devices: readonly DeviceInfo[]): Promise<void> {
  await store.transaction(async (tx) => {
    await lockVersions(tx);
    await upsertRows(
      tx,
      {
        table: 'console_devices',
        columns: ['device_id', 'kind', 'district', 'circuit', 'lat', 'lon', 'active', 'updated_at'],
        conflict: ['device_id'],
        casts: { lat: 'double precision', lon: 'double precision', active: 'boolean', updated_at: 'timestamptz' },
        expressions: { version: NEXT_VERSION },
        // The registry's updatedAt alone changing shows nothing new on the map: no new version for it.
        changed: ['kind', 'district', 'circuit', 'lat', 'lon', 'active'],
      },
      devices.map((d) => ({
        device_id: d.deviceId,
        kind: d.kind,
        district: d.district ?? null,
        circuit: d.circuit ?? null,
        lat: d.lat ?? null,
        lon: d.lon ?? null,
        active: d.active,
        updated_at: d.updatedAt,
      })),
    );
  });
}

/**
 * Applies alert transitions in offset order; returns how many resolves matched no open alert of that id (an old
 * episode's late resolve, or a redelivery). The devices whose alerts changed take a new version (created bare, kind
 * from the transition, when the registry has not described them yet).
 */
export async function storeAlerts(store: SqlStore, transitions: readonly AlertTransition[]): Promise<number> {
  return store.transaction(async (tx) => {
    await lockVersions(tx);
    const touched = new Map<string, { kind: string; ts: string }>();
    let unmatched = 0;
    for (const t of transitions) {
      if (t.state === 'resolved') {
        const res = await tx.query(
          'DELETE FROM console_device_alerts WHERE device_id = $1 AND type = $2 AND alert_id = $3',
          [t.deviceId, t.type, t.alertId],
        );
        if (res.rowCount === 0) unmatched++;
        else touched.set(t.deviceId, { kind: t.kind, ts: t.ts });
        continue;
      }
      const res = await tx.query(
        `INSERT INTO console_device_alerts AS a (device_id, type, alert_id, severity, summary, since)
         VALUES ($1, $2, $3, $4, $5, $6::timestamptz)
         ON CONFLICT (device_id, type) DO UPDATE SET
           alert_id = EXCLUDED.alert_id, severity = EXCLUDED.severity, summary = EXCLUDED.summary,
           since = CASE WHEN a.alert_id = EXCLUDED.alert_id THEN a.since ELSE EXCLUDED.since END
         WHERE (a.alert_id, a.severity, a.summary) IS DISTINCT FROM (EXCLUDED.alert_id, EXCLUDED.severity, EXCLUDED.summary)`,
        [t.deviceId, t.type, t.alertId, t.severity, t.summary, t.ts],
      );
      if (res.rowCount > 0) touched.set(t.deviceId, { kind: t.kind, ts: t.ts });
    }
    if (touched.size > 0) {
      const ids = [...touched.keys()];
      await tx.query(
        `INSERT INTO console_devices AS d (device_id, kind, active, updated_at, version)
         SELECT u.device_id, u.kind, true, u.ts, nextval('console_version_seq')
         FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(device_id, kind, ts)
         ON CONFLICT (device_id) DO UPDATE SET version = EXCLUDED.version, updated_at = EXCLUDED.updated_at`,
        [ids, ids.map((id) => touched.get(id)?.kind), ids.map((id) => touched.get(id)?.ts)],
      );
    }
    return unmatched;
  });
}

/** Upserts device rollups (within `rows`, the last of a (device, period, start) wins); returns the rows written. */
export async function storeSeries(db: SqlExecutor, rows: readonly SeriesRow[]): Promise<number> {
  return upsertRows(
    db,
    {
      table: 'console_series',
      columns: ['device_id', 'period', 'start', 'kind', 'metric_values'],
      conflict: ['device_id', 'period', 'start'],
      casts: { start: 'timestamptz', metric_values: 'jsonb' },
    },
    rows.map((r) => ({
      device_id: r.deviceId,
      period: r.period,
      start: r.start,
      kind: r.kind,
      metric_values: JSON.stringify(r.values),
    })),
  );
}

/** Deletes hour rows older than `hourRetentionDays` and day rows older than `dayRetentionDays` before `nowMs`. */
export async function deleteExpiredSeries(
  db: SqlExecutor,
  retention: { readonly hourRetentionDays: number; readonly dayRetentionDays: number },
  nowMs: number,
): Promise<{ hour: number; day: number }> {
  const hour = await db.query("DELETE FROM console_series WHERE period = 'hour' AND start < $1::timestamptz", [
    new Date(nowMs - retention.hourRetentionDays * DAY_MS).toISOString(),
  ]);
  const day = await db.query("DELETE FROM console_series WHERE period = 'day' AND start < $1::timestamptz", [
    new Date(nowMs - retention.dayRetentionDays * DAY_MS).toISOString(),
  ]);
  return { hour: hour.rowCount, day: day.rowCount };
}

/** What the read models need. */
export interface ConsoleReadModelDeps {
  readonly bus: Bus;
  readonly store: SqlStore;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly retention: { readonly hourRetentionDays: number; readonly dayRetentionDays: number };
}

/** Creates the console's three read models (not started): devices, alerts, series. */
export function createConsoleReadModels(deps: ConsoleReadModelDeps): ReadModel[] {
  const { bus, store, metrics, logger } = deps;
  const unmatched = metrics.counter(
    'console_alert_resolves_unmatched_total',
    'Resolves that matched no open alert of that id (an old episode resolved late, or a redelivery): ignored',
  );
  const deleted = metrics.counter(
    'console_series_rows_deleted_total',
    'Device series rows deleted by the retention sweep, by period',
    ['period'],
  );
  let lastSweepMs = Number.NEGATIVE_INFINITY;
  const sweep = async () => {
    const nowMs = deps.clock.nowMs();
    if (nowMs - lastSweepMs < RETENTION_SWEEP_INTERVAL_MS) return;
    const n = await deleteExpiredSeries(store, deps.retention, nowMs);
    lastSweepMs = nowMs;
    if (n.hour > 0) deleted.inc({ period: 'hour' }, n.hour);
    if (n.day > 0) deleted.inc({ period: 'day' }, n.day);
    logger.debug(
      { ...n, nextSweepAt: new Date(nowMs + RETENTION_SWEEP_INTERVAL_MS).toISOString() },
      'console: series retention',
    );
  };
  return [
    createReadModel<DeviceInfo>({
      bus,
      topic: TOPICS.devices,
      groupId: CONSOLE_GROUP_IDS.devices,
      decode: (m) => decodeDevice(m.value),
      store: (devices) => storeDevices(store, devices),
      counter: metrics.counter(
        'console_device_records_total',
        'devices.v1 records read by the console, by outcome (stored, invalid)',
        ['outcome'],
      ),
      logger,
      what: 'console: invalid device record',
    }),
    createReadModel<AlertTransition>({
      bus,
      topic: TOPICS.alerts,
      groupId: CONSOLE_GROUP_IDS.alerts,
      decode: (m) => decodeAlert(m.value),
      store: async (transitions) => {
        const n = await storeAlerts(store, transitions);
        if (n > 0) unmatched.inc(n);
      },
      counter: metrics.counter(
        'console_alert_transitions_total',
        'alerts.v1 transitions read by the console, by outcome (stored, invalid)',
        ['outcome'],
      ),
      logger,
      what: 'console: invalid alert transition',
    }),
    createReadModel<SeriesRow>({
      bus,
      topic: TOPICS.rollups,
      groupId: CONSOLE_GROUP_IDS.series,
      decode: (m) => decodeSeries(m.value),
      store: async (rows) => {
        await storeSeries(store, rows);
        await sweep();
      },
      counter: metrics.counter(
        'console_rollups_total',
        'rollups.v1 records read by the console, by outcome (stored, ignored: not a device rollup, invalid)',
        ['outcome'],
      ),
      logger,
      what: 'console: invalid rollup',
    }),
  ];
}
