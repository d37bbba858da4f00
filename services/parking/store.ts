import { AppError } from '../../core/errors.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import { newReference } from './reference.ts';

/**
 * The parking store (migrations component `parking`): sessions, their append-only events (the ledger: what was
 * charged or refunded and when), the inbound SMS handled (idempotency on messageSid, and the outbox of the messages
 * each produced), and the parking meters' zones (from devices.v1). Times are epoch ms in and out; the caller passes
 * "now" (the service's clock), so the store reads no clock.
 *
 * One running SMS session per plate and zone (a partial unique index): a second start is refused by the service
 * (sessions.ts), and two instances starting the same plate at once cannot both insert — the loser's transaction
 * fails and its message is redelivered, then refused. Meter sessions are not held to it: a meter does not know the
 * SMS sessions, and a driver who pays at the meter too has simply paid twice.
 */

/** Session statuses: running until its end passes (expired, by the sweep) or the driver stops it (ended). */
export const SESSION_STATUSES = ['running', 'ended', 'expired'] as const;
/** A session status. */
export type SessionStatus = (typeof SESSION_STATUSES)[number];
/** Where a session was paid. */
export const SESSION_SOURCES = ['sms', 'meter'] as const;
/** Where a session was paid. */
export type SessionSource = (typeof SESSION_SOURCES)[number];
/** What happened to a session. */
export type SessionEventType = 'start' | 'extend' | 'stop' | 'expire' | 'reminder-sent';

/** A parking session; times epoch ms. */
export interface ParkingSession {
  readonly id: number;
  readonly reference: string;
  /** Null for a meter payment whose meter does not ask for the plate. */
  readonly plate: string | null;
  readonly zone: string;
  /** The driver's E.164 number (SMS sessions). */
  readonly phone: string | null;
  readonly locale: 'fr' | 'en';
  readonly startMs: number;
  readonly endMs: number;
  readonly paidMinutes: number;
  /** What the session costs so far (charged minus refunded), euro cents. */
  readonly amountCents: number;
  readonly status: SessionStatus;
  readonly source: SessionSource;
  /** The parking meter (meter sessions). */
  readonly deviceId: string | null;
  readonly reminderAtMs: number | null;
  readonly reminderSentAtMs: number | null;
  readonly createdMs: number;
  readonly updatedMs: number;
}

/** One entry of a session's ledger. */
export interface SessionEvent {
  readonly type: SessionEventType;
  readonly atMs: number;
  /** Paid minutes bought (start, extend) or used (stop). */
  readonly minutes: number | null;
  /** Charged (+) or refunded (−), euro cents. */
  readonly amountCents: number;
  /** The session's end after it. */
  readonly endMs: number | null;
  readonly messageSid: string | null;
}

/** A message an inbound SMS produces (a reply, a revenue event), kept until produced. */
export interface OutboxRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: string;
}

/** What handling one inbound SMS came to. */
export interface InboundResult {
  /** A bounded label: started, extended, stopped, refused, replied, invalid-command… */
  readonly outcome: string;
  readonly sessionId?: number | undefined;
  readonly outbox: readonly OutboxRecord[];
}

/** A new session. */
export interface NewSession
  extends Pick<
    ParkingSession,
    | 'plate'
    | 'zone'
    | 'phone'
    | 'locale'
    | 'startMs'
    | 'endMs'
    | 'paidMinutes'
    | 'amountCents'
    | 'status'
    | 'source'
    | 'deviceId'
    | 'reminderAtMs'
  > {
  /** What makes it unique in its source (the start SMS's messageSid, the meter payment's identity). */
  readonly sourceRef: string;
  readonly messageSid: string | null;
  readonly nowMs: number;
}

/** Filters of {@link ParkingStore.list}. */
export interface SessionFilter {
  readonly plate?: string | undefined;
  /** The driver's E.164 number (SMS sessions). */
  readonly phone?: string | undefined;
  readonly zone?: string | undefined;
  readonly status?: SessionStatus | undefined;
  readonly source?: SessionSource | undefined;
  /** 1–500 (default 100). */
  readonly limit?: number | undefined;
}

/** The parking store. */
export interface ParkingStore {
  /**
   * Handles an inbound SMS once: records `messageSid` and runs `fn` in the same transaction, storing its outcome
   * and outbox. Undefined when the messageSid was handled already (see {@link pendingInbound}).
   */
  handleInbound(
    messageSid: string,
    nowMs: number,
    fn: (tx: SqlExecutor) => Promise<InboundResult>,
  ): Promise<InboundResult | undefined>;
  /** The outbox of an inbound SMS handled but not yet produced (a crash or a bus error in between), else undefined. */
  pendingInbound(messageSid: string): Promise<readonly OutboxRecord[] | undefined>;
  /** Marks an inbound SMS's outbox produced. */
  markInboundProduced(messageSid: string): Promise<void>;
  getByReference(reference: string): Promise<ParkingSession | undefined>;
  get(id: number): Promise<ParkingSession | undefined>;
  /** A session's ledger, oldest first. */
  events(sessionId: number): Promise<SessionEvent[]>;
  /** Sessions matching the filters, newest first. */
  list(filter?: SessionFilter): Promise<ParkingSession[]>;
  /** The running session covering `atMs` for a plate in a zone (the one ending last), or undefined. */
  paidAt(plate: string, zone: string, atMs: number): Promise<ParkingSession | undefined>;
  /** Marks every running session whose end has passed as expired (one `expire` event each); returns how many. */
  expireDue(nowMs: number): Promise<number>;
  /**
   * Claims the SMS sessions whose reminder is due and not sent (and not claimed by another instance within
   * `leaseMs`): a conditional UPDATE … RETURNING, so two instances never both claim one.
   */
  claimReminders(nowMs: number, leaseMs: number, limit: number): Promise<ParkingSession[]>;
  /** SMS sessions over (ended or expired) not yet produced to parking-sessions.v1, oldest first, at most `limit`. */
  endedUnpublished(limit: number): Promise<ParkingSession[]>;
  /** Marks sessions produced to parking-sessions.v1. */
  markEndedPublished(ids: readonly number[], nowMs: number): Promise<void>;
  /** Records reminders produced (and a `reminder-sent` event each). */
  markReminded(sessions: readonly ParkingSession[], nowMs: number): Promise<void>;
  /** Gives back claimed reminders that were not produced. */
  releaseReminders(ids: readonly number[]): Promise<void>;
  /** Records a parking meter's zone (null: none of the table's). */
  upsertMeter(deviceId: string, zone: string | null, updatedMs: number): Promise<void>;
  /** A meter's zone: undefined when the meter is unknown, null when it has no zone. */
  meterZone(deviceId: string): Promise<string | null | undefined>;
  /** Inserts a meter session; false when one with the same sourceRef exists (a redelivered payment). */
  insertMeterSession(session: NewSession): Promise<boolean>;
}

interface SessionRow {
  id: number;
  reference: string;
  plate: string | null;
  zone: string;
  phone: string | null;
  locale: 'fr' | 'en';
  start_at: Date | string;
  end_at: Date | string;
  paid_minutes: number;
  amount_cents: number;
  status: SessionStatus;
  source: SessionSource;
  device_id: string | null;
  reminder_at: Date | string | null;
  reminder_sent_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const COLUMNS = `id, reference, plate, zone, phone, locale, start_at, end_at, paid_minutes, amount_cents, status, source,
  device_id, reminder_at, reminder_sent_at, created_at, updated_at`;
/** References tried before giving up on a clash (35 random bits: a clash is already rare). */
const REFERENCE_ATTEMPTS = 5;

const iso = (ms: number) => new Date(ms).toISOString();
const msOf = (v: Date | string) => (v instanceof Date ? v.getTime() : Date.parse(v));
const msOrNull = (v: Date | string | null) => (v === null ? null : msOf(v));

function toSession(row: SessionRow): ParkingSession {
  return {
    id: Number(row.id),
    reference: row.reference,
    plate: row.plate,
    zone: row.zone,
    phone: row.phone,
    locale: row.locale,
    startMs: msOf(row.start_at),
    endMs: msOf(row.end_at),
    paidMinutes: Number(row.paid_minutes),
    amountCents: Number(row.amount_cents),
    status: row.status,
    source: row.source,
    deviceId: row.device_id,
    reminderAtMs: msOrNull(row.reminder_at),
    reminderSentAtMs: msOrNull(row.reminder_sent_at),
    createdMs: msOf(row.created_at),
    updatedMs: msOf(row.updated_at),
  };
}

async function one(db: SqlExecutor, where: string, params: unknown[]): Promise<ParkingSession | undefined> {
  const res = await db.query<SessionRow>(`SELECT ${COLUMNS} FROM parking_sessions WHERE ${where}`, params);
  const row = res.rows[0];
  return row ? toSession(row) : undefined;
}

async function addEvent(
  db: SqlExecutor,
  sessionId: number,
  type: SessionEventType,
  atMs: number,
  details: { minutes?: number; amountCents?: number; endMs?: number; messageSid?: string | null } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO parking_session_events (session_id, type, at, minutes, amount_cents, end_at, message_sid)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      sessionId,
      type,
      iso(atMs),
      details.minutes ?? null,
      details.amountCents ?? 0,
      details.endMs === undefined ? null : iso(details.endMs),
      details.messageSid ?? null,
    ],
  );
}

/** Running SMS sessions of a phone whose end is after `nowMs`, oldest first (inside a transaction). */
export async function runningForPhone(db: SqlExecutor, phone: string, nowMs: number): Promise<ParkingSession[]> {
  const res = await db.query<SessionRow>(
    `SELECT ${COLUMNS} FROM parking_sessions WHERE phone = $1 AND status = 'running' AND end_at > $2 ORDER BY id`,
    [phone, iso(nowMs)],
  );
  return res.rows.map(toSession);
}

/** The running SMS session of a plate in a zone whose end is after `nowMs`, or undefined. */
export async function runningFor(
  db: SqlExecutor,
  plate: string,
  zone: string,
  nowMs: number,
): Promise<ParkingSession | undefined> {
  return one(db, `plate = $1 AND zone = $2 AND status = 'running' AND source = 'sms' AND end_at > $3`, [
    plate,
    zone,
    iso(nowMs),
  ]);
}

/** Marks a plate's running sessions in a zone that ended by `nowMs` expired (before a new start takes its place). */
export async function expireStale(db: SqlExecutor, plate: string, zone: string, nowMs: number): Promise<void> {
  await db.query(
    `WITH e AS (
       UPDATE parking_sessions SET status = 'expired', updated_at = $4
       WHERE plate = $1 AND zone = $2 AND status = 'running' AND end_at <= $3 RETURNING id, end_at)
     INSERT INTO parking_session_events (session_id, type, at, end_at) SELECT id, 'expire', $4::timestamptz, end_at FROM e`,
    [plate, zone, iso(nowMs), iso(nowMs)],
  );
}

/** Inserts a session with a new random reference (retried on a clash) and its `start` event. */
export async function insertSession(db: SqlExecutor, s: NewSession): Promise<ParkingSession | undefined> {
  for (let attempt = 1; attempt <= REFERENCE_ATTEMPTS; attempt++) {
    const reference = newReference();
    const res = await db.query<SessionRow>(
      `INSERT INTO parking_sessions (reference, plate, zone, phone, locale, start_at, end_at, paid_minutes,
         amount_cents, status, source, device_id, source_ref, reminder_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15)
       ON CONFLICT DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        reference,
        s.plate,
        s.zone,
        s.phone,
        s.locale,
        iso(s.startMs),
        iso(s.endMs),
        s.paidMinutes,
        s.amountCents,
        s.status,
        s.source,
        s.deviceId,
        s.sourceRef,
        s.reminderAtMs === null ? null : iso(s.reminderAtMs),
        iso(s.nowMs),
      ],
    );
    const row = res.rows[0];
    if (row) {
      const session = toSession(row);
      await addEvent(db, session.id, 'start', s.nowMs, {
        minutes: s.paidMinutes,
        amountCents: s.amountCents,
        endMs: s.endMs,
        messageSid: s.messageSid,
      });
      return session;
    }
    // Nothing inserted: a reference clash (try another), the same sourceRef (a redelivery), or another running
    // session of the plate in the zone (inserted by another instance meanwhile).
    const taken = await db.query('SELECT 1 FROM parking_sessions WHERE reference = $1', [reference]);
    if (taken.rows.length === 0) return undefined;
  }
  throw new AppError(
    'ERR_PARKING_REFERENCE_CLASH',
    `session reference: ${REFERENCE_ATTEMPTS} clashes in a row (retry)`,
    {
      retryable: true,
    },
  );
}

/** Applies an extension to a running session and records it. */
export async function extendSession(
  db: SqlExecutor,
  session: ParkingSession,
  change: {
    paidMinutes: number;
    endMs: number;
    addedMinutes: number;
    chargedCents: number;
    reminderAtMs: number | null;
    nowMs: number;
    messageSid: string;
  },
): Promise<ParkingSession> {
  const res = await db.query<SessionRow>(
    `UPDATE parking_sessions SET paid_minutes = $2, end_at = $3, amount_cents = amount_cents + $4, reminder_at = $5,
       reminder_sent_at = NULL, reminder_lease_until = NULL, updated_at = $6
     WHERE id = $1 AND status = 'running' RETURNING ${COLUMNS}`,
    [
      session.id,
      change.paidMinutes,
      iso(change.endMs),
      change.chargedCents,
      change.reminderAtMs === null ? null : iso(change.reminderAtMs),
      iso(change.nowMs),
    ],
  );
  const row = res.rows[0];
  if (!row) throw conflict(session.reference);
  await addEvent(db, session.id, 'extend', change.nowMs, {
    minutes: change.addedMinutes,
    amountCents: change.chargedCents,
    endMs: change.endMs,
    messageSid: change.messageSid,
  });
  return toSession(row);
}

/** Ends a running session at `nowMs` with its final paid minutes and amount, and records the refund. */
export async function stopSession(
  db: SqlExecutor,
  session: ParkingSession,
  change: { usedMinutes: number; amountCents: number; refundCents: number; nowMs: number; messageSid: string },
): Promise<ParkingSession> {
  const res = await db.query<SessionRow>(
    `UPDATE parking_sessions SET status = 'ended', end_at = GREATEST(start_at, $2::timestamptz), paid_minutes = $3,
       amount_cents = $4, reminder_at = NULL, reminder_lease_until = NULL, updated_at = $2
     WHERE id = $1 AND status = 'running' RETURNING ${COLUMNS}`,
    [session.id, iso(change.nowMs), change.usedMinutes, change.amountCents],
  );
  const row = res.rows[0];
  if (!row) throw conflict(session.reference);
  const stopped = toSession(row);
  await addEvent(db, session.id, 'stop', change.nowMs, {
    minutes: change.usedMinutes,
    amountCents: -change.refundCents,
    endMs: stopped.endMs,
    messageSid: change.messageSid,
  });
  return stopped;
}

function conflict(reference: string): AppError {
  // Another instance changed it between our read and our write: the message is redelivered and handled again.
  return new AppError('ERR_PARKING_SESSION_CONFLICT', `session ${reference}: changed meanwhile (retried)`, {
    retryable: true,
  });
}

/** Creates the parking store on `store`. */
export function createParkingStore(store: SqlStore): ParkingStore {
  return {
    async handleInbound(messageSid, nowMs, fn) {
      return store.transaction(async (tx) => {
        // First, so a concurrent handling of the same messageSid waits on this row and then does nothing.
        const claimed = await tx.query(
          `INSERT INTO parking_inbound (message_sid, outcome, at) VALUES ($1, 'handling', $2)
           ON CONFLICT DO NOTHING RETURNING message_sid`,
          [messageSid, iso(nowMs)],
        );
        if (claimed.rows.length === 0) return undefined;
        const result = await fn(tx);
        await tx.query(
          'UPDATE parking_inbound SET outcome = $2, session_id = $3, outbox = $4::jsonb WHERE message_sid = $1',
          [messageSid, result.outcome, result.sessionId ?? null, JSON.stringify(result.outbox)],
        );
        return result;
      });
    },

    async pendingInbound(messageSid) {
      const res = await store.query<{ outbox: OutboxRecord[] }>(
        'SELECT outbox FROM parking_inbound WHERE message_sid = $1 AND NOT produced',
        [messageSid],
      );
      return res.rows[0]?.outbox;
    },

    async markInboundProduced(messageSid) {
      await store.query('UPDATE parking_inbound SET produced = true WHERE message_sid = $1', [messageSid]);
    },

    async getByReference(reference) {
      return one(store, 'reference = $1', [reference]);
    },

    async get(id) {
      return Number.isSafeInteger(id) && id > 0 ? one(store, 'id = $1', [id]) : undefined;
    },

    async events(sessionId) {
      const res = await store.query<{
        type: SessionEventType;
        at: Date | string;
        minutes: number | null;
        amount_cents: number;
        end_at: Date | string | null;
        message_sid: string | null;
      }>(
        `SELECT type, at, minutes, amount_cents, end_at, message_sid FROM parking_session_events
         WHERE session_id = $1 ORDER BY id`,
        [sessionId],
      );
      return res.rows.map((r) => ({
        type: r.type,
        atMs: msOf(r.at),
        minutes: r.minutes === null ? null : Number(r.minutes),
        amountCents: Number(r.amount_cents),
        endMs: msOrNull(r.end_at),
        messageSid: r.message_sid,
      }));
    },

    async list(filter = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      const add = (sql: string, value: unknown) => {
        params.push(value);
        where.push(`${sql} $${params.length}`);
      };
      if (filter.plate !== undefined) add('plate =', filter.plate);
      if (filter.phone !== undefined) add('phone =', filter.phone);
      if (filter.zone !== undefined) add('zone =', filter.zone);
      if (filter.status !== undefined) add('status =', filter.status);
      if (filter.source !== undefined) add('source =', filter.source);
      const limit = Math.max(1, Math.min(Math.trunc(filter.limit ?? 100), 500));
      const res = await store.query<SessionRow>(
        `SELECT ${COLUMNS} FROM parking_sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
        params,
      );
      return res.rows.map(toSession);
    },

    async paidAt(plate, zone, atMs) {
      return one(
        store,
        `plate = $1 AND zone = $2 AND status = 'running' AND start_at <= $3 AND end_at > $3
         ORDER BY end_at DESC LIMIT 1`,
        [plate, zone, iso(atMs)],
      );
    },

    async expireDue(nowMs) {
      const res = await store.query<{ n: number }>(
        `WITH e AS (
           UPDATE parking_sessions SET status = 'expired', reminder_lease_until = NULL, updated_at = $1
           WHERE status = 'running' AND end_at <= $1 RETURNING id, end_at),
         ev AS (
           INSERT INTO parking_session_events (session_id, type, at, end_at)
           SELECT id, 'expire', $1::timestamptz, end_at FROM e RETURNING 1)
         SELECT count(*)::int AS n FROM ev`,
        [iso(nowMs)],
      );
      return Number(res.rows[0]?.n ?? 0);
    },

    async claimReminders(nowMs, leaseMs, limit) {
      const res = await store.query<SessionRow>(
        `UPDATE parking_sessions SET reminder_lease_until = $2
         WHERE id IN (
           SELECT id FROM parking_sessions
           WHERE status = 'running' AND source = 'sms' AND reminder_sent_at IS NULL AND reminder_at <= $1
             AND end_at > $1 AND (reminder_lease_until IS NULL OR reminder_lease_until <= $1)
           ORDER BY reminder_at LIMIT ${Math.max(1, Math.min(Math.trunc(limit), 1000))}
           FOR UPDATE SKIP LOCKED)
         AND status = 'running' AND reminder_sent_at IS NULL
         AND (reminder_lease_until IS NULL OR reminder_lease_until <= $1)
         RETURNING ${COLUMNS}`,
        [iso(nowMs), iso(nowMs + leaseMs)],
      );
      return res.rows.map(toSession);
    },

    async endedUnpublished(limit) {
      const res = await store.query<SessionRow>(
        `SELECT ${COLUMNS} FROM parking_sessions
         WHERE status <> 'running' AND source = 'sms' AND ended_published_at IS NULL
         ORDER BY id LIMIT ${Math.max(1, Math.min(Math.trunc(limit), 1000))}`,
      );
      return res.rows.map(toSession);
    },

    async markEndedPublished(ids, nowMs) {
      if (ids.length === 0) return;
      await store.query(
        'UPDATE parking_sessions SET ended_published_at = $2 WHERE id = ANY($1::bigint[]) AND ended_published_at IS NULL',
        [ids.map(String), iso(nowMs)],
      );
    },

    async markReminded(sessions, nowMs) {
      if (sessions.length === 0) return;
      await store.transaction(async (tx) => {
        for (const s of sessions) {
          const res = await tx.query(
            `UPDATE parking_sessions SET reminder_sent_at = $2, reminder_lease_until = NULL
             WHERE id = $1 AND reminder_sent_at IS NULL AND reminder_at = $3`,
            [s.id, iso(nowMs), s.reminderAtMs === null ? null : iso(s.reminderAtMs)],
          );
          if (res.rowCount > 0) await addEvent(tx, s.id, 'reminder-sent', nowMs, { endMs: s.endMs });
        }
      });
    },

    async releaseReminders(ids) {
      if (ids.length === 0) return;
      await store.query(
        'UPDATE parking_sessions SET reminder_lease_until = NULL WHERE id = ANY($1::bigint[]) AND reminder_sent_at IS NULL',
        [ids.map(String)],
      );
    },

    async upsertMeter(deviceId, zone, updatedMs) {
      await store.query(
        `INSERT INTO parking_meters (device_id, zone, updated_at) VALUES ($1, $2, $3)
         ON CONFLICT (device_id) DO UPDATE SET zone = EXCLUDED.zone, updated_at = EXCLUDED.updated_at
         WHERE parking_meters.updated_at <= EXCLUDED.updated_at`,
        [deviceId, zone, iso(updatedMs)],
      );
    },

    async meterZone(deviceId) {
      const res = await store.query<{ zone: string | null }>('SELECT zone FROM parking_meters WHERE device_id = $1', [
        deviceId,
      ]);
      const row = res.rows[0];
      return row ? row.zone : undefined;
    },

    async insertMeterSession(session) {
      return store.transaction(async (tx) => (await insertSession(tx, session)) !== undefined);
    },
  };
}
