import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import type { DeadLetter, DeadLetterSource } from '../../core/contracts/index.ts';
import { decodeKeysetCursor, encodeKeysetCursor } from '../../core/store/keyset-cursor.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';

/**
 * The `dead_letters` table (migrations/001_dead_letters.sql): inserting consumed records once (ON CONFLICT
 * (record_key) DO NOTHING), listing with keyset paging (received_at DESC, id DESC — the style of GET /api/alerts),
 * reading one with its bytes, marking replayed or discarded, and deleting resolved rows past the retention.
 */

/** What a dead letter is waiting for: `open` until replayed or discarded by an operator. */
export const DEAD_LETTER_STATUSES = ['open', 'replayed', 'discarded'] as const;
/** What a dead letter is waiting for. */
export type DeadLetterStatus = (typeof DEAD_LETTER_STATUSES)[number];

/** Characters of the raw bytes' text preview in a listing (UTF-8, invalid bytes replaced by U+FFFD). */
export const PREVIEW_CHARS = 500;
/** Bytes read for the preview: at most 4 bytes per code point, so enough for {@link PREVIEW_CHARS}. */
const PREVIEW_BYTES = PREVIEW_CHARS * 4;

/** Most rows in one INSERT (19 parameters each: far below PostgreSQL's 65,535). */
const INSERT_CHUNK_ROWS = 200;

/** A consumed record of deadletter.v1, ready to store. */
export interface NewDeadLetter {
  /** sha256 (hex) of the record's partition, offset and value. */
  readonly recordKey: string;
  readonly recordPartition: number;
  readonly recordOffset: number;
  /** The deadletter.v1 record's own key (the stages key it with the original record's key, or its topic). */
  readonly recordBusKey: string;
  /** The original bytes. */
  readonly raw: Buffer;
  readonly source: DeadLetterSource;
  readonly deviceId: string | undefined;
  readonly errorCode: string;
  readonly message: string;
  readonly issues: DeadLetter['issues'];
  readonly component: string;
  readonly stage: DeadLetter['stage'];
  readonly attempts: number;
  /** ISO 8601. */
  readonly firstFailedAt: string;
}

/** A stored dead letter, as listed (the bytes only as a preview). */
export interface DeadLetterSummary {
  readonly id: number;
  readonly receivedAt: string;
  readonly errorCode: string;
  readonly message: string;
  readonly issues: DeadLetter['issues'];
  readonly component: string;
  readonly stage: DeadLetter['stage'];
  readonly source: DeadLetterSource;
  readonly deviceId: string | null;
  readonly attempts: number;
  readonly firstFailedAt: string;
  readonly status: DeadLetterStatus;
  readonly resolvedAt: string | null;
  readonly resolvedBy: string | null;
  readonly resolveNote: string | null;
  readonly replayCount: number;
  /** The first {@link PREVIEW_CHARS} characters of the bytes read as UTF-8 (invalid bytes as U+FFFD). */
  readonly rawPreview: string;
  readonly rawSizeBytes: number;
}

/** A stored dead letter with its bytes and where it sits on deadletter.v1. */
export interface DeadLetterRecord extends DeadLetterSummary {
  readonly raw: Buffer;
  /** sha256 of the bytes, hex. */
  readonly rawSha256: string;
  readonly recordPartition: number;
  readonly recordOffset: number;
  readonly recordBusKey: string;
}

/** The open dead letters a bulk replay is about. */
export interface BulkMatch {
  readonly errorCode: string;
  readonly component?: string | undefined;
  /** Never replayed from: deadletter.v1. */
  readonly excludeTopic: string;
}

/** Filters of a listing. */
export interface DeadLetterFilter {
  /** Default `open`; `all` for every status. */
  readonly status?: DeadLetterStatus | 'all' | undefined;
  readonly errorCode?: string | undefined;
  readonly component?: string | undefined;
  readonly deviceId?: string | undefined;
  /** Received at or after (ISO 8601). */
  readonly since?: string | undefined;
  /** Received before (ISO 8601). */
  readonly until?: string | undefined;
  /** Page size, 1–500 (default 50). */
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
}

/** One page of a listing. */
export interface DeadLetterPage {
  readonly items: DeadLetterSummary[];
  /** Rows matching the filters, all pages together. */
  readonly total: number;
  readonly nextCursor: string | null;
}

/** Open dead letters, in all and by error code (most first). */
export interface OpenSummary {
  readonly open: number;
  readonly byErrorCode: Array<{ readonly errorCode: string; readonly count: number }>;
}

/** Another dead letter of the same bytes. */
export interface SameBytes {
  readonly id: number;
  readonly receivedAt: string;
  readonly errorCode: string;
  readonly status: DeadLetterStatus;
}

/** The dead letters' table. */
export interface DeadLetterStore {
  /** Stores records not stored yet; returns those inserted now (a record already there is skipped). */
  insert(rows: readonly NewDeadLetter[]): Promise<NewDeadLetter[]>;
  list(filter?: DeadLetterFilter): Promise<DeadLetterPage>;
  /** Open counts by error code (at most the 100 commonest codes). */
  openSummary(): Promise<OpenSummary>;
  /** The number of open dead letters. */
  openCount(): Promise<number>;
  get(id: number): Promise<DeadLetterRecord | undefined>;
  /** The other dead letters of the same bytes from the same source topic, newest first (at most 20). */
  sameBytes(record: DeadLetterRecord): Promise<SameBytes[]>;
  /** The highest id stored (0 when empty): a bulk replay takes the rows there when it starts, not those after. */
  maxId(): Promise<number>;
  /**
   * Open dead letters with a bus source matching, not from `excludeTopic` (deadletter.v1: never replayed, see
   * replay.ts), with `afterId < id <= upToId`, oldest first (paging through a bulk replay).
   */
  openReplayable(
    match: BulkMatch,
    ids: { afterId: number; upToId: number },
    limit: number,
  ): Promise<DeadLetterRecord[]>;
  /**
   * Open dead letters of `errorCode` (and `component`) that a replay can take (`replayable`: from the bus, not from
   * `excludeTopic`), or that it cannot (`!replayable`).
   */
  countOpen(match: BulkMatch, replayable: boolean, upToId?: number): Promise<number>;
  /** Marks dead letters replayed by `by` (each one's replay count + 1). */
  markReplayed(ids: readonly number[], by: string): Promise<void>;
  /** Marks an open dead letter discarded; undefined when it is not open (or not there). */
  discard(id: number, by: string, note: string): Promise<DeadLetterRecord | undefined>;
  /** Deletes resolved rows resolved before `beforeMs`, in chunks; returns how many. */
  purgeResolved(beforeMs: number): Promise<number>;
}

interface Row {
  id: number | string;
  received_at: Date;
  received_at_text: string;
  error_code: string;
  message: string;
  issues: DeadLetter['issues'];
  component: string;
  stage: DeadLetter['stage'];
  source: DeadLetterSource;
  device_id: string | null;
  attempts: number;
  first_failed_at: Date;
  status: DeadLetterStatus;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolve_note: string | null;
  replay_count: number;
  raw_head: Uint8Array;
  raw_size: number;
}

interface FullRow extends Row {
  raw: Uint8Array;
  raw_sha256: string;
  record_partition: number;
  record_offset: number | string;
  record_bus_key: string;
}

const SUMMARY_COLUMNS = `id, received_at, received_at::text AS received_at_text, error_code, message, issues, component,
  stage, source, device_id, attempts, first_failed_at, status, resolved_at, resolved_by, resolve_note, replay_count,
  substring(raw FROM 1 FOR ${PREVIEW_BYTES}) AS raw_head, octet_length(raw) AS raw_size`;

const FULL_COLUMNS = `${SUMMARY_COLUMNS}, raw, raw_sha256, record_partition, record_offset, record_bus_key`;

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const PURGE_CHUNK_ROWS = 5_000;

/** The first {@link PREVIEW_CHARS} code points of `bytes` read as UTF-8, invalid sequences as U+FFFD. */
export function textPreview(bytes: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, PREVIEW_BYTES));
  // By code point, so a surrogate pair is never cut in half.
  return Array.from(text).slice(0, PREVIEW_CHARS).join('');
}

/** Creates the store of the dead letters' table (migrations: `deadLetterMigrations`). */
export function createDeadLetterStore(store: SqlStore, options: { clock: Clock }): DeadLetterStore {
  const { clock } = options;
  const now = () => new Date(clock.nowMs()).toISOString();

  async function insertChunk(db: SqlExecutor, rows: readonly NewDeadLetter[]): Promise<Set<string>> {
    const params: unknown[] = [];
    const at = now();
    const values = rows.map((r) => {
      const start = params.length;
      params.push(
        r.recordKey,
        r.recordPartition,
        r.recordOffset,
        r.recordBusKey,
        at,
        r.raw,
        sha256Hex(r.raw),
        JSON.stringify(r.source),
        r.deviceId ?? null,
        r.errorCode,
        r.message,
        JSON.stringify(r.issues),
        r.component,
        r.stage,
        r.attempts,
        r.firstFailedAt,
      );
      const p = (i: number) => `$${start + i}`;
      return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}::timestamptz, ${p(6)}, ${p(7)}, ${p(8)}::jsonb, ${p(9)},
        ${p(10)}, ${p(11)}, ${p(12)}::jsonb, ${p(13)}, ${p(14)}, ${p(15)}, ${p(16)}::timestamptz)`;
    });
    const res = await db.query<{ record_key: string }>(
      `INSERT INTO dead_letters (record_key, record_partition, record_offset, record_bus_key, received_at, raw,
         raw_sha256, source, device_id, error_code, message, issues, component, stage, attempts, first_failed_at)
       VALUES ${values.join(', ')}
       ON CONFLICT (record_key) DO NOTHING
       RETURNING record_key`,
      params,
    );
    return new Set(res.rows.map((r) => r.record_key));
  }

  async function openCount(): Promise<number> {
    const res = await store.query<{ n: number }>(`SELECT count(*)::int AS n FROM dead_letters WHERE status = 'open'`);
    return Number(res.rows[0]?.n ?? 0);
  }

  async function get(id: number): Promise<DeadLetterRecord | undefined> {
    const res = await store.query<FullRow>(`SELECT ${FULL_COLUMNS} FROM dead_letters WHERE id = $1`, [id]);
    const row = res.rows[0];
    return row ? toRecord(row) : undefined;
  }

  function matchClause(match: BulkMatch, params: unknown[]): string {
    params.push(match.errorCode);
    let sql = `status = 'open' AND error_code = $${params.length}`;
    if (match.component !== undefined) {
      params.push(match.component);
      sql += ` AND component = $${params.length}`;
    }
    return sql;
  }

  return {
    async insert(rows) {
      if (rows.length === 0) return [];
      const inserted = new Set<string>();
      await store.transaction(async (tx) => {
        for (let i = 0; i < rows.length; i += INSERT_CHUNK_ROWS) {
          for (const key of await insertChunk(tx, rows.slice(i, i + INSERT_CHUNK_ROWS))) inserted.add(key);
        }
      });
      // One row per key even when a batch holds the same record twice.
      const seen = new Set<string>();
      return rows.filter((r) => inserted.has(r.recordKey) && !seen.has(r.recordKey) && seen.add(r.recordKey));
    },

    async list(filter = {}) {
      const where: string[] = [];
      const params: unknown[] = [];
      const param = (value: unknown) => {
        params.push(value);
        return `$${params.length}`;
      };
      const status = filter.status ?? 'open';
      if (status !== 'all') where.push(`status = ${param(status)}`);
      if (filter.errorCode) where.push(`error_code = ${param(filter.errorCode)}`);
      if (filter.component) where.push(`component = ${param(filter.component)}`);
      if (filter.deviceId) where.push(`device_id = ${param(filter.deviceId)}`);
      if (filter.since) where.push(`received_at >= ${param(filter.since)}::timestamptz`);
      if (filter.until) where.push(`received_at < ${param(filter.until)}::timestamptz`);
      const countParams = [...params];
      const matching = where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
      const limit = Math.min(Math.max(Math.trunc(filter.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
      const pageWhere = [...where];
      if (filter.cursor) {
        const [receivedAt, id] = decodeKeysetCursor(filter.cursor, 'number', 'ERR_DEADLETTER_CURSOR_INVALID');
        pageWhere.push(`(received_at, id) < (${param(receivedAt)}::timestamptz, ${param(id)}::bigint)`);
      }
      const [rows, count] = await Promise.all([
        store.query<Row>(
          `SELECT ${SUMMARY_COLUMNS} FROM dead_letters
           ${pageWhere.length > 0 ? `WHERE ${pageWhere.join(' AND ')}` : ''}
           ORDER BY received_at DESC, id DESC LIMIT ${limit + 1}`,
          params,
        ),
        store.query<{ n: number }>(`SELECT count(*)::int AS n FROM dead_letters ${matching}`, countParams),
      ]);
      const page = rows.rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        items: page.map(toSummary),
        total: Number(count.rows[0]?.n ?? 0),
        nextCursor:
          rows.rows.length > limit && last ? encodeKeysetCursor(last.received_at_text, Number(last.id)) : null,
      };
    },

    async openSummary() {
      const res = await store.query<{ error_code: string; n: number }>(
        `SELECT error_code, count(*)::int AS n FROM dead_letters WHERE status = 'open'
         GROUP BY error_code ORDER BY n DESC, error_code LIMIT 100`,
      );
      const byErrorCode = res.rows.map((r) => ({ errorCode: r.error_code, count: Number(r.n) }));
      return { open: await openCount(), byErrorCode };
    },

    openCount,
    get,

    async sameBytes(record) {
      const res = await store.query<{
        id: number | string;
        received_at: Date;
        error_code: string;
        status: DeadLetterStatus;
      }>(
        `SELECT id, received_at, error_code, status FROM dead_letters
         WHERE raw_sha256 = $1 AND id <> $2 AND source->>'topic' IS NOT DISTINCT FROM $3
         ORDER BY received_at DESC, id DESC LIMIT 20`,
        [record.rawSha256, record.id, 'topic' in record.source ? record.source.topic : null],
      );
      return res.rows.map((r) => ({
        id: Number(r.id),
        receivedAt: r.received_at.toISOString(),
        errorCode: r.error_code,
        status: r.status,
      }));
    },

    async maxId() {
      const res = await store.query<{ id: number | string | null }>('SELECT max(id) AS id FROM dead_letters');
      return Number(res.rows[0]?.id ?? 0);
    },

    async openReplayable(match, ids, limit) {
      const params: unknown[] = [];
      const where = matchClause(match, params);
      params.push(match.excludeTopic, ids.afterId, ids.upToId);
      const n = params.length;
      const res = await store.query<FullRow>(
        `SELECT ${FULL_COLUMNS} FROM dead_letters
         WHERE ${where} AND source->>'type' = 'bus' AND source->>'topic' <> $${n - 2}
           AND id > $${n - 1} AND id <= $${n}
         ORDER BY id LIMIT ${Math.max(1, Math.trunc(limit))}`,
        params,
      );
      return res.rows.map(toRecord);
    },

    async countOpen(match, replayable, upToId) {
      const params: unknown[] = [];
      let where = matchClause(match, params);
      if (upToId !== undefined) {
        params.push(upToId);
        where += ` AND id <= $${params.length}`;
      }
      params.push(match.excludeTopic);
      const canReplay = `(source->>'type' = 'bus' AND source->>'topic' <> $${params.length})`;
      const res = await store.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM dead_letters WHERE ${where} AND ${replayable ? '' : 'NOT '}${canReplay}`,
        params,
      );
      return Number(res.rows[0]?.n ?? 0);
    },

    async markReplayed(ids, by) {
      if (ids.length === 0) return;
      // Unconditional: the bytes were produced, so the row says so, even if someone discarded it meanwhile.
      await store.query(
        `UPDATE dead_letters SET status = 'replayed', resolved_at = $2::timestamptz, resolved_by = $3,
           resolve_note = NULL, replay_count = replay_count + 1
         WHERE id = ANY($1::bigint[])`,
        [ids.map(String), now(), by],
      );
    },

    async discard(id, by, note) {
      const res = await store.query<{ id: number | string }>(
        `UPDATE dead_letters SET status = 'discarded', resolved_at = $2::timestamptz, resolved_by = $3,
           resolve_note = $4
         WHERE id = $1 AND status = 'open' RETURNING id`,
        [id, now(), by, note],
      );
      return res.rows[0] ? get(id) : undefined;
    },

    async purgeResolved(beforeMs) {
      const before = new Date(beforeMs).toISOString();
      let total = 0;
      for (;;) {
        const res = await store.query(
          `DELETE FROM dead_letters WHERE id IN (
             SELECT id FROM dead_letters WHERE status <> 'open' AND resolved_at < $1::timestamptz
             LIMIT ${PURGE_CHUNK_ROWS})`,
          [before],
        );
        total += res.rowCount;
        if (res.rowCount < PURGE_CHUNK_ROWS) return total;
      }
    },
  };
}

function toSummary(row: Row): DeadLetterSummary {
  return {
    id: Number(row.id),
    receivedAt: row.received_at.toISOString(),
    errorCode: row.error_code,
    message: row.message,
    issues: row.issues,
    component: row.component,
    stage: row.stage,
    source: row.source,
    deviceId: row.device_id,
    attempts: Number(row.attempts),
    firstFailedAt: row.first_failed_at.toISOString(),
    status: row.status,
    resolvedAt: row.resolved_at ? row.resolved_at.toISOString() : null,
    resolvedBy: row.resolved_by,
    resolveNote: row.resolve_note,
    replayCount: Number(row.replay_count),
    rawPreview: textPreview(row.raw_head),
    rawSizeBytes: Number(row.raw_size),
  };
}

function toRecord(row: FullRow): DeadLetterRecord {
  return {
    ...toSummary(row),
    raw: Buffer.from(row.raw),
    rawSha256: row.raw_sha256,
    recordPartition: Number(row.record_partition),
    recordOffset: Number(row.record_offset),
    recordBusKey: row.record_bus_key,
  };
}

/** sha256 of bytes, hex. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
