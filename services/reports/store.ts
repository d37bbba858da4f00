import type { Clock } from '../../core/clock.ts';
import { SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import type { CleanPhoto } from './photo.ts';

/**
 * The reports store (migrations component `reports`): reports, their status history and their photos. A report
 * moves received → assigned → in-progress → resolved | rejected (see {@link TRANSITIONS}); every change is one
 * conditional UPDATE (two operators acting at once: one wins, the other gets 409) plus a history row with who and
 * when. The history row is also the outbox of the message to the reporter: `notify` is `pending` until the
 * notifier produced it to notifications.v1 (`done`), `none` when the report has no contact.
 *
 * Photos are kept in the database (bytea, a table of their own so listing never reads them): about 250 reports a
 * month of at most a few hundred KB once re-encoded is well under 1 GB a year; the photo is written in the same
 * transaction as its report, reaches every instance without a shared folder, and is in the database's backups.
 */

/** Report categories. */
export const CATEGORIES = ['roads', 'green-spaces', 'public-lighting', 'cleanliness', 'other'] as const;
/** A report category. */
export type Category = (typeof CATEGORIES)[number];

/** Report statuses, in workflow order. */
export const REPORT_STATUSES = ['received', 'assigned', 'in-progress', 'resolved', 'rejected'] as const;
/** A report status. */
export type ReportStatus = (typeof REPORT_STATUSES)[number];
/** Statuses of a report not closed yet. */
export const OPEN_STATUSES: readonly ReportStatus[] = ['received', 'assigned', 'in-progress'];

/** Where a report came from. */
export const SOURCES = ['web', 'sms', 'alert'] as const;
/** Where a report came from. */
export type ReportSource = (typeof SOURCES)[number];

/** How a report's place was learnt. */
export type LocationSource = 'given' | 'photo' | 'text' | 'reply' | 'device';

/** What an operator (or the alert consumer) does to a report. */
export type ReportAction = 'assign' | 'start' | 'resolve' | 'reject';

/** The statuses each action starts from, and the one it leads to; anything else is 409 ERR_REPORT_CONFLICT. */
export const TRANSITIONS: Readonly<Record<ReportAction, { from: readonly ReportStatus[]; to: ReportStatus }>> = {
  // Assigning again hands it to another team (a history row; the reporter is told once).
  assign: { from: ['received', 'assigned'], to: 'assigned' },
  start: { from: ['assigned'], to: 'in-progress' },
  // A crew may fix it at once, or the lamp comes back on: resolving does not need the steps before.
  resolve: { from: ['received', 'assigned', 'in-progress'], to: 'resolved' },
  reject: { from: ['received', 'assigned', 'in-progress'], to: 'rejected' },
};

/** Longest report text, in characters. */
export const MAX_TEXT_CHARS = 2000;
/** Longest address, in characters. */
export const MAX_ADDRESS_CHARS = 300;
/** Longest note, in characters. */
export const MAX_NOTE_CHARS = 1000;
/** Longest assignee (team or person), in characters. */
export const MAX_ASSIGNEE_CHARS = 120;

/** A reporter's contact: an E.164 phone number (SMS) or an email address. */
export interface Contact {
  readonly channel: 'sms' | 'email';
  readonly address: string;
}

/** A new report. */
export interface NewReport {
  readonly category: Category;
  readonly text: string;
  readonly latitude?: number | undefined;
  readonly longitude?: number | undefined;
  readonly address?: string | undefined;
  readonly locationSource?: LocationSource | undefined;
  readonly contact?: Contact | undefined;
  readonly locale?: 'fr' | 'en' | undefined;
  readonly source: ReportSource;
  /** What makes it unique in its source: the MMS messageSid, the alertId. A second one is not created. */
  readonly sourceRef?: string | undefined;
  /** The device it is about (a lamp): one open report per device at most. */
  readonly deviceId?: string | undefined;
  readonly photo?: CleanPhoto | undefined;
  /** Why a photo sent with it was not kept (an error code). */
  readonly photoProblem?: string | undefined;
  /** Who created it, for the history: `citizen`, `sms`, `alerting`. */
  readonly by: string;
}

/** A report; times are ISO 8601 UTC. */
export interface Report {
  readonly id: number;
  readonly reference: string;
  readonly category: Category;
  readonly text: string;
  readonly latitude: number | null;
  readonly longitude: number | null;
  readonly address: string | null;
  readonly locationSource: LocationSource | null;
  readonly contact: Contact | null;
  readonly locale: 'fr' | 'en';
  readonly source: ReportSource;
  readonly sourceRef: string | null;
  readonly deviceId: string | null;
  readonly status: ReportStatus;
  /** The team or person it is assigned to. */
  readonly assignee: string | null;
  /** The resolution or rejection note. */
  readonly note: string | null;
  readonly hasPhoto: boolean;
  readonly photoProblem: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** One status change. */
export interface ReportEvent {
  readonly id: number;
  readonly status: ReportStatus;
  readonly at: string;
  /** The operator (token name), or `citizen`, `sms`, `alerting`. */
  readonly by: string;
  readonly assignee: string | null;
  readonly note: string | null;
}

/** A report with its history, oldest first. */
export type ReportWithHistory = Report & { readonly history: readonly ReportEvent[] };

/** Filters of {@link ReportStore.list}. */
export interface ReportFilter {
  readonly status?: ReportStatus | undefined;
  readonly category?: Category | undefined;
  readonly source?: ReportSource | undefined;
  /** Page size, 1–500 (default 50). */
  readonly limit?: number | undefined;
  /** nextCursor of the previous page. */
  readonly cursor?: string | undefined;
}

/** A page of reports, newest first. */
export interface ReportPage {
  readonly reports: Report[];
  readonly total: number;
  readonly nextCursor: string | null;
}

/** Reports created in one month, by category. */
export interface MonthCounts {
  /** `YYYY-MM`, in the stats' time zone. */
  readonly month: string;
  readonly counts: Record<Category, number>;
  readonly total: number;
}

/** A status change whose message to the reporter is not produced yet. */
export interface PendingNotice {
  readonly event: ReportEvent;
  readonly report: Report;
}

/** The reports store. */
export interface ReportStore {
  /**
   * Creates a report (and its photo, and its first history row, in one transaction). `created` is false when one
   * with the same source and sourceRef exists, or an open one for the same device: that one is returned.
   */
  create(input: NewReport): Promise<{ readonly report: Report; readonly created: boolean }>;
  get(id: number): Promise<ReportWithHistory | undefined>;
  getByReference(reference: string): Promise<ReportWithHistory | undefined>;
  /** The report of a source's reference (a messageSid), or undefined. */
  getBySourceRef(source: ReportSource, sourceRef: string): Promise<Report | undefined>;
  list(filter?: ReportFilter): Promise<ReportPage>;
  /** Applies an action. Throws ERR_REPORT_NOT_FOUND, ERR_REPORT_CONFLICT (not allowed from its status). */
  transition(
    id: number,
    action: ReportAction,
    by: string,
    details?: { assignee?: string | undefined; note?: string | undefined },
  ): Promise<Report>;
  /** The stored photo, or undefined. */
  photo(id: number): Promise<{ readonly bytes: Buffer; readonly contentType: string } | undefined>;
  /** The newest SMS report of `contact` still without a place, created at or after `sinceIso`. */
  awaitingLocation(contact: string, sinceIso: string): Promise<Report | undefined>;
  /**
   * Sets the place of a report that has none (the reporter's reply, SMS `messageSid`, recorded in the same
   * transaction so a redelivery does nothing); adds the photo if it has none.
   */
  locate(
    id: number,
    place: {
      latitude?: number | undefined;
      longitude?: number | undefined;
      address?: string | undefined;
      locationSource: LocationSource;
    },
    messageSid: string,
    photo?: CleanPhoto,
  ): Promise<Report>;
  /** True when an inbound SMS was handled already (a report created from it, or a place given by it). */
  inboundSeen(messageSid: string): Promise<boolean>;
  /** The open report of a device, or undefined. */
  openForDevice(deviceId: string): Promise<Report | undefined>;
  /** Reports created per month and category over [fromMonth, toMonth] (`YYYY-MM`, inclusive), zeros included. */
  monthlyCounts(fromMonth: string, toMonth: string, timeZone: string): Promise<MonthCounts[]>;
  /** Status changes whose message is pending, oldest first. */
  pendingNotices(limit: number): Promise<PendingNotice[]>;
  /** Marks messages produced. */
  markNotified(eventIds: readonly number[]): Promise<void>;
  /** Records where a device is (devices.v1). */
  upsertDevice(device: {
    deviceId: string;
    latitude?: number | undefined;
    longitude?: number | undefined;
    updatedAt: string;
  }): Promise<void>;
  /** Where a device is, when known. */
  devicePosition(deviceId: string): Promise<{ latitude: number; longitude: number } | undefined>;
}

interface ReportRow {
  id: number;
  reference: string;
  category: Category;
  text: string;
  latitude: number | null;
  longitude: number | null;
  address: string | null;
  location_source: LocationSource | null;
  contact: string | null;
  contact_channel: 'sms' | 'email' | null;
  locale: 'fr' | 'en';
  source: ReportSource;
  source_ref: string | null;
  device_id: string | null;
  status: ReportStatus;
  assignee: string | null;
  note: string | null;
  has_photo: boolean;
  photo_problem: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

interface EventRow {
  id: number;
  report_id: number;
  status: ReportStatus;
  at: Date | string;
  by: string;
  assignee: string | null;
  note: string | null;
}

const COLUMNS = `r.id, r.reference, r.category, r.text, r.latitude, r.longitude, r.address, r.location_source, r.contact,
  r.contact_channel, r.locale, r.source, r.source_ref, r.device_id, r.status, r.assignee, r.note, r.photo_problem,
  r.created_at, r.updated_at, EXISTS (SELECT 1 FROM reports_photos p WHERE p.report_id = r.id) AS has_photo`;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;
/** Most months one stats query covers. */
export const MAX_STATS_MONTHS = 120;

/** The public reference of report `id` created in `year`: `R-2026-000123`. */
export function referenceOf(year: number, id: number): string {
  return `R-${year}-${String(id).padStart(6, '0')}`;
}

/** Creates the reports store on `store`; changes are stamped with `clock` (default the system's). */
export function createReportStore(store: SqlStore, options: { clock?: Clock } = {}): ReportStore {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = () => new Date(clock.nowMs()).toISOString();

  async function one(db: SqlExecutor, where: string, params: unknown[]): Promise<Report | undefined> {
    const res = await db.query<ReportRow>(`SELECT ${COLUMNS} FROM reports r WHERE ${where}`, params);
    const row = res.rows[0];
    return row ? toReport(row) : undefined;
  }

  async function withHistory(report: Report | undefined): Promise<ReportWithHistory | undefined> {
    if (!report) return undefined;
    const res = await store.query<EventRow>(
      'SELECT id, report_id, status, at, by, assignee, note FROM reports_history WHERE report_id = $1 ORDER BY id',
      [report.id],
    );
    return { ...report, history: res.rows.map(toEvent) };
  }

  const validId = (id: number) => Number.isSafeInteger(id) && id > 0;

  return {
    async create(input) {
      const at = now();
      const result = await store.transaction(async (tx) => {
        if (input.sourceRef !== undefined) {
          const existing = await one(tx, 'r.source = $1 AND r.source_ref = $2', [input.source, input.sourceRef]);
          if (existing) return { report: existing, created: false };
        }
        const idRes = await tx.query<{ id: number }>("SELECT nextval('reports_id_seq') AS id");
        const id = Number(idRes.rows[0]?.id);
        const reference = referenceOf(new Date(at).getUTCFullYear(), id);
        // ON CONFLICT DO NOTHING: the same sourceRef, or an open report of the same device, inserted at once by
        // another instance (the unique indexes decide).
        const inserted = await tx.query(
          `INSERT INTO reports (id, reference, category, text, latitude, longitude, address, location_source, contact,
             contact_channel, locale, source, source_ref, device_id, status, photo_problem, created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 'received', $15, $16, $16)
           ON CONFLICT DO NOTHING`,
          [
            id,
            reference,
            input.category,
            input.text,
            input.latitude ?? null,
            input.longitude ?? null,
            input.address ?? null,
            input.locationSource ?? null,
            input.contact?.address ?? null,
            input.contact?.channel ?? null,
            input.locale ?? 'fr',
            input.source,
            input.sourceRef ?? null,
            input.deviceId ?? null,
            input.photoProblem ?? null,
            at,
          ],
        );
        if (inserted.rowCount === 0) {
          const existing =
            (input.sourceRef !== undefined
              ? await one(tx, 'r.source = $1 AND r.source_ref = $2', [input.source, input.sourceRef])
              : undefined) ??
            (input.deviceId !== undefined
              ? await one(tx, `r.device_id = $1 AND r.status IN ('received', 'assigned', 'in-progress')`, [
                  input.deviceId,
                ])
              : undefined);
          if (existing) return { report: existing, created: false };
          throw new AppError('ERR_REPORT_CONFLICT', `report: ${reference} could not be created (retry)`, {
            retryable: true,
          });
        }
        if (input.photo) await insertPhoto(tx, id, input.photo);
        await tx.query(
          `INSERT INTO reports_history (report_id, status, at, by, notify) VALUES ($1, 'received', $2, $3, $4)`,
          [id, at, input.by, input.contact ? 'pending' : 'none'],
        );
        return { report: (await one(tx, 'r.id = $1', [id])) as Report, created: true };
      });
      return result;
    },

    async get(id) {
      return validId(id) ? withHistory(await one(store, 'r.id = $1', [id])) : undefined;
    },

    async getByReference(reference) {
      return withHistory(await one(store, 'r.reference = $1', [reference]));
    },

    async getBySourceRef(source, sourceRef) {
      return one(store, 'r.source = $1 AND r.source_ref = $2', [source, sourceRef]);
    },

    async list(filter = {}) {
      const limit = Math.min(Math.max(Math.trunc(filter.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(sql.replace('?', `$${params.length}`));
      };
      if (filter.status) add('r.status = ?', filter.status);
      if (filter.category) add('r.category = ?', filter.category);
      if (filter.source) add('r.source = ?', filter.source);
      const countWhere = where.length ? `WHERE ${where.join(' AND ')}` : '';
      const total = await store.query<{ n: number }>(`SELECT count(*)::int AS n FROM reports r ${countWhere}`, params);
      if (filter.cursor !== undefined) {
        if (!/^\d{1,15}$/.test(filter.cursor)) {
          throw new AppError(
            'ERR_REPORT_CURSOR_INVALID',
            `cursor: ${JSON.stringify(filter.cursor.slice(0, 40))} (the nextCursor of the previous page)`,
          );
        }
        add('r.id < ?', Number(filter.cursor));
      }
      const res = await store.query<ReportRow>(
        `SELECT ${COLUMNS} FROM reports r ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY r.id DESC LIMIT ${limit + 1}`,
        params,
      );
      const rows = res.rows.slice(0, limit);
      return {
        reports: rows.map(toReport),
        total: Number(total.rows[0]?.n ?? 0),
        nextCursor: res.rows.length > limit ? String(rows[rows.length - 1]?.id) : null,
      };
    },

    async transition(id, action, by, details = {}) {
      const { from, to } = TRANSITIONS[action];
      const at = now();
      return store.transaction(async (tx) => {
        const res = validId(id)
          ? await tx.query<{ id: number; contact: string | null }>(
              `UPDATE reports SET status = $2, updated_at = $3,
                 assignee = CASE WHEN $2 = 'assigned' THEN $4 ELSE assignee END,
                 note = CASE WHEN $2 IN ('resolved', 'rejected') THEN $5 ELSE note END
               WHERE id = $1 AND status = ANY($6::text[])
               RETURNING id, contact`,
              [id, to, at, details.assignee ?? null, details.note ?? null, from],
            )
          : { rows: [], rowCount: 0 };
        const updated = res.rows[0];
        if (!updated) {
          const current = validId(id) ? await one(tx, 'r.id = $1', [id]) : undefined;
          if (!current) throw notFound(String(id));
          throw new AppError(
            'ERR_REPORT_CONFLICT',
            `${action} report ${current.reference}: it is ${current.status} (${action} needs ${from.join(' or ')})`,
          );
        }
        await tx.query(
          `INSERT INTO reports_history (report_id, status, at, by, assignee, note, notify)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [id, to, at, by, details.assignee ?? null, details.note ?? null, updated.contact ? 'pending' : 'none'],
        );
        return (await one(tx, 'r.id = $1', [id])) as Report;
      });
    },

    async photo(id) {
      if (!validId(id)) return undefined;
      const res = await store.query<{ bytes: Uint8Array; content_type: string }>(
        'SELECT bytes, content_type FROM reports_photos WHERE report_id = $1',
        [id],
      );
      const row = res.rows[0];
      return row ? { bytes: Buffer.from(row.bytes), contentType: row.content_type } : undefined;
    },

    async awaitingLocation(contact, sinceIso) {
      return one(
        store,
        `r.contact = $1 AND r.source = 'sms' AND r.status = 'received' AND r.latitude IS NULL AND r.address IS NULL
         AND r.created_at >= $2 ORDER BY r.id DESC LIMIT 1`,
        [contact, sinceIso],
      );
    },

    async inboundSeen(messageSid) {
      const res = await store.query(
        `SELECT 1 FROM reports WHERE source = 'sms' AND source_ref = $1
         UNION ALL SELECT 1 FROM reports_inbound WHERE message_sid = $1`,
        [messageSid],
      );
      return res.rows.length > 0;
    },

    async locate(id, place, messageSid, photo) {
      return store.transaction(async (tx) => {
        await tx.query(
          'INSERT INTO reports_inbound (message_sid, report_id, at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [messageSid, id, now()],
        );
        await tx.query(
          `UPDATE reports SET latitude = $2, longitude = $3, address = $4, location_source = $5, updated_at = $6
           WHERE id = $1 AND latitude IS NULL AND address IS NULL`,
          [id, place.latitude ?? null, place.longitude ?? null, place.address ?? null, place.locationSource, now()],
        );
        if (photo) {
          const has = await tx.query('SELECT 1 FROM reports_photos WHERE report_id = $1', [id]);
          if (has.rows.length === 0) await insertPhoto(tx, id, photo);
        }
        const report = await one(tx, 'r.id = $1', [id]);
        if (!report) throw notFound(String(id));
        return report;
      });
    },

    async openForDevice(deviceId) {
      return one(store, `r.device_id = $1 AND r.status IN ('received', 'assigned', 'in-progress')`, [deviceId]);
    },

    async monthlyCounts(fromMonth, toMonth, timeZone) {
      const from = MONTH.exec(fromMonth);
      const to = MONTH.exec(toMonth);
      if (!from || !to) {
        throw new AppError('ERR_REPORT_STATS_INVALID', `stats months: ${fromMonth}..${toMonth} (YYYY-MM each)`);
      }
      const fromIndex = Number(from[1]) * 12 + Number(from[2]) - 1;
      const toIndex = Number(to[1]) * 12 + Number(to[2]) - 1;
      if (toIndex < fromIndex || toIndex - fromIndex >= MAX_STATS_MONTHS) {
        throw new AppError(
          'ERR_REPORT_STATS_INVALID',
          `stats months: ${fromMonth}..${toMonth} (from ≤ to, at most ${MAX_STATS_MONTHS} months)`,
        );
      }
      const monthOf = (index: number) => `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
      const res = await store.query<{ month: string; category: Category; n: number }>(
        `SELECT to_char(date_trunc('month', created_at AT TIME ZONE $3), 'YYYY-MM') AS month, category,
           count(*)::int AS n
         FROM reports
         WHERE created_at >= ($1::timestamp AT TIME ZONE $3) AND created_at < ($2::timestamp AT TIME ZONE $3)
         GROUP BY 1, 2`,
        [`${monthOf(fromIndex)}-01T00:00:00`, `${monthOf(toIndex + 1)}-01T00:00:00`, timeZone],
      );
      const months: MonthCounts[] = [];
      for (let i = fromIndex; i <= toIndex; i++) {
        const month = monthOf(i);
        const counts = Object.fromEntries(CATEGORIES.map((c) => [c, 0])) as Record<Category, number>;
        for (const row of res.rows) if (row.month === month) counts[row.category] = Number(row.n);
        months.push({ month, counts, total: Object.values(counts).reduce((a, b) => a + b, 0) });
      }
      return months;
    },

    async pendingNotices(limit) {
      const res = await store.query<EventRow & { report_id: number }>(
        `SELECT id, report_id, status, at, by, assignee, note FROM reports_history WHERE notify = 'pending'
         ORDER BY id LIMIT ${Math.max(1, Math.min(Math.trunc(limit), 1000))}`,
      );
      const out: PendingNotice[] = [];
      for (const row of res.rows) {
        const report = await one(store, 'r.id = $1', [row.report_id]);
        if (report) out.push({ event: toEvent(row), report });
      }
      return out;
    },

    async markNotified(eventIds) {
      if (eventIds.length === 0) return;
      await store.query(`UPDATE reports_history SET notify = 'done' WHERE id = ANY($1::bigint[])`, [
        eventIds.map(String),
      ]);
    },

    async upsertDevice(device) {
      await store.query(
        `INSERT INTO reports_devices (device_id, latitude, longitude, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (device_id) DO UPDATE SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
           updated_at = EXCLUDED.updated_at
         WHERE reports_devices.updated_at <= EXCLUDED.updated_at`,
        [device.deviceId, device.latitude ?? null, device.longitude ?? null, device.updatedAt],
      );
    },

    async devicePosition(deviceId) {
      const res = await store.query<{ latitude: number | null; longitude: number | null }>(
        'SELECT latitude, longitude FROM reports_devices WHERE device_id = $1',
        [deviceId],
      );
      const row = res.rows[0];
      return row && row.latitude !== null && row.longitude !== null
        ? { latitude: Number(row.latitude), longitude: Number(row.longitude) }
        : undefined;
    },
  };
}

async function insertPhoto(tx: SqlExecutor, id: number, photo: CleanPhoto): Promise<void> {
  await tx.query(
    `INSERT INTO reports_photos (report_id, content_type, bytes, width_px, height_px, sha256)
     VALUES ($1, $2, $3, $4, $5, $6)`,
    [id, photo.contentType, photo.bytes, photo.widthPx, photo.heightPx, photo.sha256],
  );
}

function notFound(which: string): AppError {
  return new AppError('ERR_REPORT_NOT_FOUND', `report: ${JSON.stringify(which.slice(0, 40))} (no report has this id)`);
}

function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function toReport(row: ReportRow): Report {
  return {
    id: Number(row.id),
    reference: row.reference,
    category: row.category,
    text: row.text,
    latitude: row.latitude === null ? null : Number(row.latitude),
    longitude: row.longitude === null ? null : Number(row.longitude),
    address: row.address,
    locationSource: row.location_source,
    contact: row.contact && row.contact_channel ? { channel: row.contact_channel, address: row.contact } : null,
    locale: row.locale,
    source: row.source,
    sourceRef: row.source_ref,
    deviceId: row.device_id,
    status: row.status,
    assignee: row.assignee,
    note: row.note,
    hasPhoto: Boolean(row.has_photo),
    photoProblem: row.photo_problem,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

function toEvent(row: EventRow): ReportEvent {
  return {
    id: Number(row.id),
    status: row.status,
    at: iso(row.at),
    by: row.by,
    assignee: row.assignee,
    note: row.note,
  };
}
