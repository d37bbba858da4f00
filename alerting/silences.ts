import { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import { SYSTEM_CLOCK } from '../core/clock.ts';
import { AlertType, DeviceId, District, Kind } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import type { SqlExecutor, SqlStore } from '../core/store/store.ts';

/**
 * Silences and maintenance windows (issue 6, migration 006): operators mute alerts by device, district or kind (and
 * optionally alert type) for a while, with a reason. A silence matches an alert when every matcher it sets equals
 * the alert's (unset matchers match anything; at least one of device, district or kind is set), over
 * [startsAt, endsAt) — ended early: [startsAt, endedAt). The district is the alert's device's district
 * (alerting_devices), given by the caller or read from that table.
 *
 * Scopes: `silence` — operators are not notified and nothing escalates, residents still are (their leak is real);
 * `maintenance` — the data is not trusted (works on the network, a meter being replaced), nobody is notified,
 * residents included. The alert is still recorded (lifecycle, history): a silence mutes messages, it hides nothing.
 * When several are in force, a `maintenance` wins over a `silence`, then the one ending last.
 *
 * Rows are never deleted: ending one early (`end`) sets `endedAt`/`endedBy` and keeps it listed under `ended`.
 * Every time is the `clock`'s (wall clock); the router asks with the time it decides at.
 */

/** What a silence mutes: `silence` operators (and escalation), `maintenance` everybody. */
export const SILENCE_SCOPES = ['silence', 'maintenance'] as const;
/** What a silence mutes. */
export type SilenceScope = (typeof SILENCE_SCOPES)[number];

/** A silence's state at a given time. */
export const SILENCE_STATES = ['active', 'upcoming', 'ended'] as const;
/** A silence's state at a given time. */
export type SilenceState = (typeof SILENCE_STATES)[number];

/** Longest silence, in days from its start. */
export const MAX_SILENCE_DAYS = 30;
/** Longest reason, in characters. */
export const MAX_REASON_CHARS = 500;

const DAY_MS = 86_400_000;
const IsoTimestamp = z.iso.datetime({ offset: true });

/** What an operator gives to create a silence (times ISO 8601 with an offset; startsAt defaults to now). */
export const SilenceInput = z
  .strictObject({
    deviceId: DeviceId.optional().describe('Only alerts of this device'),
    district: District.optional().describe("Only alerts of devices in this district (the device registry's)"),
    kind: Kind.optional().describe('Only alerts of devices of this kind'),
    type: AlertType.optional().describe('Only this alert type (with at least one of deviceId, district, kind)'),
    scope: z
      .enum(SILENCE_SCOPES)
      .default('silence')
      .describe(
        'silence: operators are not notified and nothing escalates, residents still are; ' +
          'maintenance: the data is not trusted, nobody is notified',
      ),
    startsAt: IsoTimestamp.optional().describe('Start (ISO 8601); default now'),
    endsAt: IsoTimestamp.describe(`End, excluded (ISO 8601); after startsAt, at most ${MAX_SILENCE_DAYS} days later`),
    reason: z.string().trim().min(1).max(MAX_REASON_CHARS).describe(`Why (1–${MAX_REASON_CHARS} characters)`),
  })
  .refine((s) => s.deviceId !== undefined || s.district !== undefined || s.kind !== undefined, {
    message: 'a silence needs at least one of deviceId, district or kind',
  });
/** What an operator gives to create a silence, before defaults. */
export type SilenceInput = z.input<typeof SilenceInput>;

/** One silence or maintenance window; times are ISO 8601 UTC strings. */
export interface Silence {
  readonly id: number;
  readonly deviceId: string | null;
  readonly district: string | null;
  readonly kind: Kind | null;
  readonly type: AlertType | null;
  readonly scope: SilenceScope;
  readonly startsAt: string;
  /** The planned end (excluded); `endedAt` is earlier when it was ended early. */
  readonly endsAt: string;
  readonly reason: string;
  /** The operator who created it (the token's name). */
  readonly createdBy: string;
  readonly createdAt: string;
  /** When it was ended early; null otherwise. */
  readonly endedAt: string | null;
  /** Who ended it early; null otherwise. */
  readonly endedBy: string | null;
  /** Its state at the time asked (the clock for the store's queries, `atMs` for {@link activeSilence}). */
  readonly state: SilenceState;
}

/** A silence in force for an alert at the time asked. */
export type ActiveSilence = Silence & { readonly state: 'active' };

/** The alert a silence is looked up for; `district` is its device's, when the caller knows it. */
export interface SilencedAlert {
  readonly deviceId: string;
  readonly kind: Kind;
  readonly type: AlertType;
  /** The device's district; when absent, read from alerting_devices (none there: district silences do not match). */
  readonly district?: string | undefined;
}

/** Filters of {@link Silences.list}. */
export interface SilenceFilter {
  /** `active` (default), `upcoming`, `ended` or `all`, at the clock's now. */
  readonly state?: SilenceState | 'all' | undefined;
  /** Most rows returned, 1–500 (default 100). */
  readonly limit?: number | undefined;
}

/** The silences store. */
export interface Silences {
  /** Creates a silence by `by` (the token's name). Throws ERR_SILENCE_INVALID (matchers, times, reason). */
  create(input: SilenceInput, by: string): Promise<Silence>;
  /** Silences in a state (default active), newest created first. */
  list(filter?: SilenceFilter): Promise<Silence[]>;
  /** One silence, or undefined. */
  get(id: number): Promise<Silence | undefined>;
  /** Ends it now, by `by`. Throws ERR_SILENCE_NOT_FOUND, ERR_SILENCE_CONFLICT (already ended, early or at endsAt). */
  end(id: number, by: string): Promise<Silence>;
}

const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 500;

const COLUMNS = `id, device_id, district, kind, type, scope, starts_at, ends_at, reason, created_by, created_at,
  ended_at, ended_by`;

/** When a row stops being in force: its planned end, or when it was ended early. */
const EFFECTIVE_END = 'LEAST(ends_at, COALESCE(ended_at, ends_at))';

interface SilenceRow {
  id: number;
  device_id: string | null;
  district: string | null;
  kind: Kind | null;
  type: AlertType | null;
  scope: SilenceScope;
  starts_at: Date | string;
  ends_at: Date | string;
  reason: string;
  created_by: string;
  created_at: Date | string;
  ended_at: Date | string | null;
  ended_by: string | null;
}

/** Creates the silences store on `store`; creation and ending are stamped with `clock` (default the system's). */
export function createSilences(store: SqlStore, options: { clock?: Clock } = {}): Silences {
  const clock = options.clock ?? SYSTEM_CLOCK;

  async function getRow(id: number): Promise<SilenceRow | undefined> {
    if (!Number.isSafeInteger(id) || id < 1) return undefined;
    const res = await store.query<SilenceRow>(`SELECT ${COLUMNS} FROM alerting_silences WHERE id = $1`, [id]);
    return res.rows[0];
  }

  return {
    async create(input, by) {
      const parsed = SilenceInput.safeParse(input);
      if (!parsed.success) {
        throw new AppError('ERR_SILENCE_INVALID', `silence: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`);
      }
      const s = parsed.data;
      const nowMs = clock.nowMs();
      const startsMs = s.startsAt === undefined ? nowMs : Date.parse(s.startsAt);
      const endsMs = Date.parse(s.endsAt);
      const startsAt = new Date(startsMs).toISOString();
      if (endsMs <= startsMs) {
        throw new AppError('ERR_SILENCE_INVALID', `silence endsAt: ${s.endsAt} (after startsAt, ${startsAt})`);
      }
      if (endsMs - startsMs > MAX_SILENCE_DAYS * DAY_MS) {
        throw new AppError(
          'ERR_SILENCE_INVALID',
          `silence endsAt: ${s.endsAt} (at most ${MAX_SILENCE_DAYS} days after startsAt, ${startsAt})`,
        );
      }
      if (endsMs <= nowMs) {
        throw new AppError(
          'ERR_SILENCE_INVALID',
          `silence endsAt: ${s.endsAt} (in the future: now is ${new Date(nowMs).toISOString()})`,
        );
      }
      const res = await store.query<SilenceRow>(
        `INSERT INTO alerting_silences
           (device_id, district, kind, type, scope, starts_at, ends_at, reason, created_by, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING ${COLUMNS}`,
        [
          s.deviceId ?? null,
          s.district ?? null,
          s.kind ?? null,
          s.type ?? null,
          s.scope,
          startsAt,
          new Date(endsMs).toISOString(),
          s.reason,
          by,
          new Date(nowMs).toISOString(),
        ],
      );
      return toSilence(res.rows[0] as SilenceRow, nowMs);
    },

    async list(filter = {}) {
      const nowMs = clock.nowMs();
      const state = filter.state ?? 'active';
      const limit = Math.min(Math.max(Math.trunc(filter.limit ?? DEFAULT_LIMIT), 1), MAX_LIMIT);
      const where: Record<SilenceState | 'all', string> = {
        active: `starts_at <= $1 AND ${EFFECTIVE_END} > $1`,
        upcoming: `starts_at > $1 AND ${EFFECTIVE_END} > $1`,
        ended: `${EFFECTIVE_END} <= $1`,
        all: 'true',
      };
      const res = await store.query<SilenceRow>(
        `SELECT ${COLUMNS} FROM alerting_silences WHERE ${where[state]}
         ORDER BY created_at DESC, id DESC LIMIT ${limit}`,
        state === 'all' ? [] : [new Date(nowMs).toISOString()],
      );
      return res.rows.map((row) => toSilence(row, nowMs));
    },

    async get(id) {
      const row = await getRow(id);
      return row ? toSilence(row, clock.nowMs()) : undefined;
    },

    async end(id, by) {
      const nowMs = clock.nowMs();
      const now = new Date(nowMs).toISOString();
      // One statement: two operators ending it at once, one wins, the other gets the conflict.
      const res = Number.isSafeInteger(id)
        ? await store.query<SilenceRow>(
            `UPDATE alerting_silences SET ended_at = $2, ended_by = $3
             WHERE id = $1 AND ended_at IS NULL AND ends_at > $2
             RETURNING ${COLUMNS}`,
            [id, now, by],
          )
        : { rows: [] };
      const ended = res.rows[0];
      if (ended) return toSilence(ended, nowMs);
      const row = await getRow(id);
      if (!row) throw notFound(id);
      const endedAt = iso(row.ended_at ?? row.ends_at);
      throw new AppError(
        'ERR_SILENCE_CONFLICT',
        `end silence: ${id} ended at ${endedAt}${row.ended_by ? ` by ${row.ended_by}` : ''} (only an active or upcoming silence can be ended)`,
      );
    },
  };
}

/**
 * The silence in force for `alert` at `atMs`, or undefined: a `maintenance` wins over a `silence`, then the one
 * ending last (then the newest). `alert.district` absent: the device's district is read from alerting_devices.
 */
export async function activeSilence(
  db: SqlExecutor,
  alert: SilencedAlert,
  atMs: number,
): Promise<ActiveSilence | undefined> {
  const at = new Date(atMs).toISOString();
  const res = await db.query<SilenceRow>(
    `SELECT ${COLUMNS} FROM alerting_silences
     WHERE starts_at <= $1 AND ends_at > $1 AND (ended_at IS NULL OR ended_at > $1)
       AND (device_id IS NULL OR device_id = $2)
       AND (kind IS NULL OR kind = $3)
       AND (type IS NULL OR type = $4)
       AND (district IS NULL OR district =
            COALESCE($5::text, (SELECT d.district FROM alerting_devices d WHERE d.device_id = $2)))
     ORDER BY (scope = 'maintenance') DESC, ${EFFECTIVE_END} DESC, id DESC
     LIMIT 1`,
    [at, alert.deviceId, alert.kind, alert.type, alert.district ?? null],
  );
  const row = res.rows[0];
  return row ? (toSilence(row, atMs) as ActiveSilence) : undefined;
}

/**
 * True when a silence of `scope` mutes messages to `audience`: a `silence` mutes operators, a `maintenance` everybody.
 * Escalation is muted by both.
 */
export function silenceMutes(scope: SilenceScope, audience: 'resident' | 'operator'): boolean {
  return scope === 'maintenance' || audience === 'operator';
}

function notFound(id: number): AppError {
  return new AppError('ERR_SILENCE_NOT_FOUND', `silence: ${id} (no silence has this id)`);
}

function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

function isoOrNull(value: Date | string | null): string | null {
  return value === null ? null : iso(value);
}

function stateAt(row: SilenceRow, atMs: number): SilenceState {
  const startsMs = Date.parse(iso(row.starts_at));
  const endsMs = Math.min(
    Date.parse(iso(row.ends_at)),
    row.ended_at === null ? Number.POSITIVE_INFINITY : Date.parse(iso(row.ended_at)),
  );
  if (endsMs <= atMs) return 'ended';
  return startsMs > atMs ? 'upcoming' : 'active';
}

function toSilence(row: SilenceRow, atMs: number): Silence {
  return {
    id: Number(row.id),
    deviceId: row.device_id,
    district: row.district,
    kind: row.kind,
    type: row.type,
    scope: row.scope,
    startsAt: iso(row.starts_at),
    endsAt: iso(row.ends_at),
    reason: row.reason,
    createdBy: row.created_by,
    createdAt: iso(row.created_at),
    endedAt: isoOrNull(row.ended_at),
    endedBy: row.ended_by,
    state: stateAt(row, atMs),
  };
}
