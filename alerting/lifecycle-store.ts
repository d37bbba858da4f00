import type { Clock } from '../core/clock.ts';
import { SYSTEM_CLOCK } from '../core/clock.ts';
import type { AlertTransition, AlertType, Kind, Severity, TransitionState } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../core/store/keyset-cursor.ts';
import type { SqlExecutor, SqlStore } from '../core/store/store.ts';

/**
 * The alert lifecycle in the operational store (issue 6): what operators list, acknowledge, resolve and comment.
 *
 * An alert's lifecycle state is derived, never stored twice: `resolved` when `resolved_at` is set (the detector's
 * `resolved` transition or an operator by hand), `acknowledged` when `acknowledged_at` is set, otherwise `open`.
 * The `state` column stays the state of the detector's last transition (`lastTransition`): an alert resolved by
 * hand whose condition is still there shows `lastTransition: 'update'`, and the detector's later transitions still
 * update its severity, summary and details (the router's upsert), and append to its history.
 *
 * Idempotent where a retry must be harmless: acknowledging an acknowledged alert and resolving a resolved one change
 * nothing and add no history row (they return the alert as it is, with who did it first). Acknowledging a resolved
 * alert is refused (`ERR_ALERT_CONFLICT`, HTTP 409): there is nothing left to take charge of. Comments are always
 * added, resolved alerts included (post-mortem notes).
 *
 * History is in the order it was recorded (`id`). `at` is when the event happened: the transition's event time
 * for detector events (replays and accelerated clocks give their own time), the clock for operator actions.
 */

/** The lifecycle state operators see. */
export const LIFECYCLE_STATES = ['open', 'acknowledged', 'resolved'] as const;
/** The lifecycle state operators see. */
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

/** What can happen to an alert. */
export const ALERT_EVENT_TYPES = ['opened', 'updated', 'acknowledged', 'resolved', 'comment'] as const;
/** What can happen to an alert. */
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

/** Longest operator text (comment or note), in characters. */
export const MAX_NOTE_CHARS = 2000;

/** One alert, as operators see it; times are ISO 8601 UTC strings. */
export interface AlertRecord {
  readonly alertId: string;
  readonly deviceId: string;
  readonly kind: Kind;
  readonly type: AlertType;
  readonly state: LifecycleState;
  readonly lastTransition: TransitionState;
  readonly severity: Severity;
  readonly summary: string;
  readonly details: Record<string, unknown>;
  readonly openedAt: string;
  readonly updatedAt: string;
  readonly acknowledgedAt: string | null;
  readonly acknowledgedBy: string | null;
  readonly resolvedAt: string | null;
  /** The operator who resolved it by hand; null when the detector resolved it (or it is not resolved). */
  readonly resolvedBy: string | null;
}

/** One event of an alert's history. */
export interface AlertEvent {
  readonly id: number;
  readonly type: AlertEventType;
  /** When it happened (ISO 8601 UTC): the transition's event time, or the clock for operator actions. */
  readonly at: string;
  /** The operator (token name); null for the detector's transitions. */
  readonly by: string | null;
  /** The comment or note; the summary for the detector's transitions. */
  readonly text: string | null;
}

/** An alert with its history. */
export interface AlertWithHistory extends AlertRecord {
  readonly history: AlertEvent[];
}

/** Filters and paging of {@link LifecycleStore.list}; `since`/`until` bound `openedAt` ([since, until)). */
export interface AlertFilter {
  readonly state?: LifecycleState | undefined;
  readonly type?: AlertType | undefined;
  readonly kind?: Kind | undefined;
  readonly deviceId?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  /** Page size, 1–500 (default 50). */
  readonly limit?: number | undefined;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string | undefined;
}

/** One page of alerts, newest opened first. */
export interface AlertPage {
  readonly alerts: AlertRecord[];
  /** Alerts matching the filters, all pages together. */
  readonly total: number;
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/** The lifecycle queries. */
export interface LifecycleStore {
  /** Alerts matching `filter`, newest opened first, keyset-paged (stable while new alerts arrive). */
  list(filter?: AlertFilter): Promise<AlertPage>;
  /** One alert with its history, or undefined. */
  get(alertId: string): Promise<AlertWithHistory | undefined>;
  /** Acknowledges; a no-op when already acknowledged. Throws ERR_ALERT_NOT_FOUND, ERR_ALERT_CONFLICT (resolved). */
  acknowledge(alertId: string, by: string, note?: string): Promise<AlertRecord>;
  /** Resolves by hand; a no-op when already resolved. Throws ERR_ALERT_NOT_FOUND. */
  resolve(alertId: string, by: string, note?: string): Promise<AlertRecord>;
  /** Adds a comment to the history. Throws ERR_ALERT_NOT_FOUND. */
  comment(alertId: string, by: string, text: string): Promise<AlertEvent>;
}

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

const ALERT_COLUMNS = `alert_id, device_id, kind, type, state, severity, summary, details, opened_at, updated_at,
  acknowledged_at, acknowledged_by, resolved_at, resolved_by, opened_at::text AS opened_at_text`;

interface AlertRow {
  alert_id: string;
  device_id: string;
  kind: Kind;
  type: AlertType;
  state: TransitionState;
  severity: Severity;
  summary: string;
  details: Record<string, unknown> | string;
  opened_at: Date | string;
  updated_at: Date | string;
  acknowledged_at: Date | string | null;
  acknowledged_by: string | null;
  resolved_at: Date | string | null;
  resolved_by: string | null;
  opened_at_text: string;
}

interface EventRow {
  id: number;
  event: AlertEventType;
  actor: string | null;
  at: Date | string;
  text: string | null;
}

/** Creates the lifecycle queries on `store`; operator actions are stamped with `clock` (default the system's). */
export function createLifecycleStore(store: SqlStore, options: { clock?: Clock } = {}): LifecycleStore {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = () => new Date(clock.nowMs()).toISOString();

  async function getRow(q: SqlExecutor, alertId: string, lock = false): Promise<AlertRow | undefined> {
    const res = await q.query<AlertRow>(
      `SELECT ${ALERT_COLUMNS} FROM alerting_alerts WHERE alert_id = $1${lock ? ' FOR UPDATE' : ''}`,
      [alertId],
    );
    return res.rows[0];
  }

  async function addEvent(
    q: SqlExecutor,
    alertId: string,
    event: AlertEventType,
    by: string | null,
    at: string,
    text: string | null,
  ): Promise<AlertEvent> {
    const res = await q.query<EventRow>(
      `INSERT INTO alerting_alert_events (alert_id, event, actor, at, text) VALUES ($1, $2, $3, $4, $5)
       RETURNING id, event, actor, at, text`,
      [alertId, event, by, at, text],
    );
    return toEvent(res.rows[0] as EventRow);
  }

  return {
    async list(filter = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      const param = (value: unknown) => {
        params.push(value);
        return `$${params.length}`;
      };
      if (filter.state === 'resolved') where.push('resolved_at IS NOT NULL');
      if (filter.state === 'acknowledged') where.push('resolved_at IS NULL AND acknowledged_at IS NOT NULL');
      if (filter.state === 'open') where.push('resolved_at IS NULL AND acknowledged_at IS NULL');
      if (filter.type) where.push(`type = ${param(filter.type)}`);
      if (filter.kind) where.push(`kind = ${param(filter.kind)}`);
      if (filter.deviceId) where.push(`device_id = ${param(filter.deviceId)}`);
      if (filter.since) where.push(`opened_at >= ${param(filter.since)}::timestamptz`);
      if (filter.until) where.push(`opened_at < ${param(filter.until)}::timestamptz`);
      const matching = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const countParams = [...params];
      const limit = Math.min(Math.max(Math.trunc(filter.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
      const pageWhere = [...where];
      if (filter.cursor) {
        const [openedAt, alertId] = decodeKeysetCursor(filter.cursor, 'string', 'ERR_ALERT_CURSOR_INVALID');
        pageWhere.push(`(opened_at, alert_id) < (${param(openedAt)}::timestamptz, ${param(alertId)})`);
      }
      const [rows, count] = await Promise.all([
        store.query<AlertRow>(
          `SELECT ${ALERT_COLUMNS} FROM alerting_alerts
           ${pageWhere.length > 0 ? `WHERE ${pageWhere.join(' AND ')}` : ''}
           ORDER BY opened_at DESC, alert_id DESC LIMIT ${limit + 1}`,
          params,
        ),
        store.query<{ n: number }>(`SELECT count(*)::int AS n FROM alerting_alerts ${matching}`, countParams),
      ]);
      const page = rows.rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        alerts: page.map(toRecord),
        total: Number(count.rows[0]?.n ?? 0),
        nextCursor: rows.rows.length > limit && last ? encodeKeysetCursor(last.opened_at_text, last.alert_id) : null,
      };
    },

    async get(alertId) {
      const row = await getRow(store, alertId);
      if (!row) return undefined;
      const events = await store.query<EventRow>(
        `SELECT id, event, actor, at, text FROM alerting_alert_events WHERE alert_id = $1 ORDER BY id`,
        [alertId],
      );
      return { ...toRecord(row), history: events.rows.map(toEvent) };
    },

    async acknowledge(alertId, by, note) {
      return store.transaction(async (tx) => {
        const row = await getRow(tx, alertId, true);
        if (!row) throw notFound(alertId);
        if (row.resolved_at !== null) {
          throw new AppError(
            'ERR_ALERT_CONFLICT',
            `acknowledge alert: ${alertId} is resolved since ${iso(row.resolved_at)} (only an open alert can be acknowledged)`,
          );
        }
        if (row.acknowledged_at !== null) return toRecord(row); // already acknowledged: a no-op
        const at = now();
        const updated = await tx.query<AlertRow>(
          `UPDATE alerting_alerts SET acknowledged_at = $2, acknowledged_by = $3 WHERE alert_id = $1
           RETURNING ${ALERT_COLUMNS}`,
          [alertId, at, by],
        );
        await addEvent(tx, alertId, 'acknowledged', by, at, note ?? null);
        return toRecord(updated.rows[0] as AlertRow);
      });
    },

    async resolve(alertId, by, note) {
      return store.transaction(async (tx) => {
        const row = await getRow(tx, alertId, true);
        if (!row) throw notFound(alertId);
        if (row.resolved_at !== null) return toRecord(row); // already resolved: a no-op
        const at = now();
        const updated = await tx.query<AlertRow>(
          `UPDATE alerting_alerts SET resolved_at = $2, resolved_by = $3 WHERE alert_id = $1
           RETURNING ${ALERT_COLUMNS}`,
          [alertId, at, by],
        );
        await addEvent(tx, alertId, 'resolved', by, at, note ?? null);
        return toRecord(updated.rows[0] as AlertRow);
      });
    },

    async comment(alertId, by, text) {
      return store.transaction(async (tx) => {
        // FOR SHARE: the alert cannot vanish under the comment, and comments do not wait for each other.
        const found = await tx.query('SELECT 1 FROM alerting_alerts WHERE alert_id = $1 FOR SHARE', [alertId]);
        if (found.rows.length === 0) throw notFound(alertId);
        return addEvent(tx, alertId, 'comment', by, now(), text);
      });
    },
  };
}

/**
 * Records one detector transition: the router's upsert of `alerting_alerts` (a later or equal `ts` updates the
 * record, a resolved alert stays resolved, out-of-order and replayed transitions never move it back) and one
 * history row (`opened`, `updated` or `resolved`, by null, text = summary), deduplicated on (alertId, state, ts)
 * so a redelivered transition adds nothing. One transaction; safe to call any number of times for one transition.
 */
export async function recordTransition(store: SqlStore, t: AlertTransition): Promise<void> {
  await store.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO alerting_alerts
         (alert_id, device_id, kind, type, state, severity, summary, details, opened_at, updated_at, resolved_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $9, CASE WHEN $5 = 'resolved' THEN $9::timestamptz END)
       ON CONFLICT (alert_id) DO UPDATE SET
         opened_at = LEAST(alerting_alerts.opened_at, EXCLUDED.opened_at),
         state = CASE WHEN EXCLUDED.updated_at >= alerting_alerts.updated_at
                      AND alerting_alerts.state <> 'resolved' THEN EXCLUDED.state ELSE alerting_alerts.state END,
         severity = CASE WHEN EXCLUDED.updated_at >= alerting_alerts.updated_at
                         THEN EXCLUDED.severity ELSE alerting_alerts.severity END,
         summary = CASE WHEN EXCLUDED.updated_at >= alerting_alerts.updated_at
                        THEN EXCLUDED.summary ELSE alerting_alerts.summary END,
         details = CASE WHEN EXCLUDED.updated_at >= alerting_alerts.updated_at
                        THEN EXCLUDED.details ELSE alerting_alerts.details END,
         updated_at = GREATEST(alerting_alerts.updated_at, EXCLUDED.updated_at),
         resolved_at = COALESCE(alerting_alerts.resolved_at, EXCLUDED.resolved_at)`,
      [t.alertId, t.deviceId, t.kind, t.type, t.state, t.severity, t.summary, JSON.stringify(t.details), t.ts],
    );
    await tx.query(
      `INSERT INTO alerting_alert_events (alert_id, event, actor, at, text, dedupe_key)
       VALUES ($1, $2, NULL, $3, $4, $5) ON CONFLICT (dedupe_key) DO NOTHING`,
      [t.alertId, TRANSITION_EVENT[t.state], t.ts, t.summary, `${t.alertId}|${t.state}|${t.ts}`],
    );
  });
}

const TRANSITION_EVENT: Readonly<Record<TransitionState, AlertEventType>> = {
  open: 'opened',
  update: 'updated',
  resolved: 'resolved',
};

function notFound(alertId: string): AppError {
  return new AppError('ERR_ALERT_NOT_FOUND', `alert: ${JSON.stringify(alertId)} (no alert has this id)`);
}

function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function isoOrNull(value: Date | string | null): string | null {
  return value === null ? null : iso(value);
}

function toRecord(row: AlertRow): AlertRecord {
  const resolved = row.resolved_at !== null;
  return {
    alertId: row.alert_id,
    deviceId: row.device_id,
    kind: row.kind,
    type: row.type,
    state: resolved ? 'resolved' : row.acknowledged_at !== null ? 'acknowledged' : 'open',
    lastTransition: row.state,
    severity: row.severity,
    summary: row.summary,
    details: typeof row.details === 'string' ? (JSON.parse(row.details) as Record<string, unknown>) : row.details,
    openedAt: iso(row.opened_at),
    updatedAt: iso(row.updated_at),
    acknowledgedAt: isoOrNull(row.acknowledged_at),
    acknowledgedBy: row.acknowledged_by,
    resolvedAt: isoOrNull(row.resolved_at),
    resolvedBy: row.resolved_by,
  };
}

function toEvent(row: EventRow): AlertEvent {
  return { id: Number(row.id), type: row.event, at: iso(row.at), by: row.actor, text: row.text };
}
