import type { Kind, Severity } from '../../core/contracts/index.ts';
import type { SqlExecutor } from '../../core/store/store.ts';

/**
 * What the console's routes read from its read model (read-model.ts). Each answer is one SQL statement, so it sees
 * one snapshot: the cursor returned with a list of devices is the newest version that list could contain.
 */

/** A device's state on the map: inactive, else its worst open alert's severity, else ok. */
export const DEVICE_STATES = ['ok', 'info', 'warning', 'critical', 'inactive'] as const;
/** A device's state on the map. */
export type DeviceState = (typeof DEVICE_STATES)[number];

/** One open alert of a device. */
export interface DeviceAlert {
  readonly alertId: string;
  readonly type: string;
  readonly severity: Severity;
  readonly summary: string;
  /** When it opened (event time), ISO 8601 UTC. */
  readonly since: string;
}

/** A device as the console shows it. */
export interface ConsoleDevice {
  readonly deviceId: string;
  readonly kind: Kind;
  readonly district: string | null;
  readonly lat: number | null;
  readonly lon: number | null;
  readonly active: boolean;
  readonly state: DeviceState;
  /** Worst first, then oldest first. */
  readonly alerts: DeviceAlert[];
  /** Event time of the row's last change (the registry's updatedAt, or an alert transition's ts), ISO 8601 UTC. */
  readonly updatedAt: string;
}

const RANK: Readonly<Record<Severity, number>> = { info: 1, warning: 2, critical: 3 };

/** The state of a device from its activity and its open alerts. */
export function deviceState(active: boolean, alerts: readonly { severity: Severity }[]): DeviceState {
  if (!active) return 'inactive';
  let worst: Severity | undefined;
  for (const a of alerts) if (!worst || RANK[a.severity] > RANK[worst]) worst = a.severity;
  return worst ?? 'ok';
}

interface DeviceRow {
  cursor: number | bigint | string;
  device_id: string | null;
  kind: Kind;
  district: string | null;
  lat: number | null;
  lon: number | null;
  active: boolean;
  updated_at: Date;
  alerts: Array<{ alertId: string; type: string; severity: Severity; summary: string; since: string }>;
}

/**
 * Devices (of `kind` when given) changed after version `since` (every device without it, or when `since` is beyond
 * the newest version — the store was rebuilt, so everything is new to that client), by id, and the cursor to ask
 * with next time: the newest version of any device, whatever the kind filter.
 */
export async function listDevices(
  db: SqlExecutor,
  filter: { readonly since?: number | undefined; readonly kind?: Kind | undefined },
): Promise<{ cursor: string; devices: ConsoleDevice[] }> {
  const res = await db.query<DeviceRow>(
    `WITH c AS (SELECT COALESCE(max(version), 0) AS cursor FROM console_devices)
     SELECT c.cursor, d.device_id, d.kind, d.district, d.lat, d.lon, d.active, d.updated_at,
       COALESCE((
         SELECT json_agg(json_build_object('alertId', a.alert_id, 'type', a.type, 'severity', a.severity,
                  'summary', a.summary, 'since', a.since)
                ORDER BY CASE a.severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END DESC, a.since, a.type)
         FROM console_device_alerts a WHERE a.device_id = d.device_id), '[]'::json) AS alerts
     FROM c LEFT JOIN console_devices d
       ON ($1::bigint IS NULL OR $1::bigint > c.cursor OR d.version > $1::bigint)
      AND ($2::text IS NULL OR d.kind = $2::text)
     ORDER BY d.device_id`,
    [filter.since ?? null, filter.kind ?? null],
  );
  const cursor = String(res.rows[0]?.cursor ?? 0);
  const devices = res.rows
    .filter((r) => r.device_id !== null)
    .map((r) => {
      const alerts = r.alerts.map((a) => ({ ...a, since: new Date(a.since).toISOString() }));
      return {
        deviceId: r.device_id as string,
        kind: r.kind,
        district: r.district,
        lat: r.lat,
        lon: r.lon,
        active: r.active,
        state: deviceState(r.active, alerts),
        alerts,
        updatedAt: new Date(r.updated_at).toISOString(),
      };
    });
  return { cursor, devices };
}

/** Counts of devices by state. */
export type StateCounts = Record<DeviceState, number>;

/** Devices by kind and state, for the console's header. */
export interface ConsoleSummary {
  readonly total: number;
  readonly states: StateCounts;
  /** Kinds that have devices, by name. */
  readonly kinds: Array<{ kind: Kind; total: number; states: StateCounts }>;
}

const zeros = (): StateCounts => ({ ok: 0, info: 0, warning: 0, critical: 0, inactive: 0 });

/** Counts devices by kind and state. */
export async function summarize(db: SqlExecutor): Promise<ConsoleSummary> {
  const res = await db.query<{ kind: Kind; state: DeviceState; n: number }>(
    `SELECT d.kind,
       CASE WHEN NOT d.active THEN 'inactive'
            ELSE CASE max(CASE a.severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 WHEN 'info' THEN 1 END)
                   WHEN 3 THEN 'critical' WHEN 2 THEN 'warning' WHEN 1 THEN 'info' ELSE 'ok' END
       END AS state
     FROM console_devices d LEFT JOIN console_device_alerts a ON a.device_id = d.device_id
     GROUP BY d.device_id, d.kind, d.active`,
  );
  const states = zeros();
  const byKind = new Map<Kind, { kind: Kind; total: number; states: StateCounts }>();
  for (const r of res.rows) {
    states[r.state]++;
    let k = byKind.get(r.kind);
    if (!k) {
      k = { kind: r.kind, total: 0, states: zeros() };
      byKind.set(r.kind, k);
    }
    k.total++;
    k.states[r.state]++;
  }
  return {
    total: res.rows.length,
    states,
    kinds: [...byKind.values()].sort((a, b) => a.kind.localeCompare(b.kind)),
  };
}

/** One period of a device's series. */
export interface SeriesPoint {
  /** The period's first instant, ISO 8601 UTC. */
  readonly start: string;
  readonly values: Record<string, number>;
}

/**
 * A device's kind (its registry row's, else its newest rollup's), or undefined when the console knows nothing of it
 * (no device row, no series).
 */
export async function deviceKind(db: SqlExecutor, deviceId: string): Promise<Kind | undefined> {
  const res = await db.query<{ kind: Kind }>(
    `SELECT kind FROM (
       SELECT kind, 0 AS pref FROM console_devices WHERE device_id = $1
       UNION ALL
       (SELECT kind, 1 AS pref FROM console_series WHERE device_id = $1 ORDER BY start DESC LIMIT 1)
     ) k ORDER BY pref LIMIT 1`,
    [deviceId],
  );
  return res.rows[0]?.kind;
}

/** A device's periods of `period` whose start is in [fromMs, toMs], oldest first. */
export async function readSeries(
  db: SqlExecutor,
  deviceId: string,
  period: 'hour' | 'day',
  range: { readonly fromMs: number; readonly toMs: number },
): Promise<SeriesPoint[]> {
  const res = await db.query<{ start: Date; metric_values: Record<string, number> }>(
    `SELECT start, metric_values FROM console_series
     WHERE device_id = $1 AND period = $2 AND start >= $3::timestamptz AND start <= $4::timestamptz
     ORDER BY start`,
    [deviceId, period, new Date(range.fromMs).toISOString(), new Date(range.toMs).toISOString()],
  );
  return res.rows.map((r) => ({ start: new Date(r.start).toISOString(), values: r.metric_values }));
}
