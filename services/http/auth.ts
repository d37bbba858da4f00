import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlStore } from '../../core/store/store.ts';

/**
 * Operators' bearer tokens. A token reads `vigie_<id>_<secret>`: the secret is 32 random bytes (base64url, 43
 * characters), and only its SHA-256 is stored — a slow hash is not needed for 256 random bits, and the id lets the
 * check read one row by primary key, then compare the hashes in constant time (no lookup by secret). The token is
 * shown once, when created; a lost one is revoked and replaced.
 */

/** Roles, each allowing what the one before allows: `viewer` reads, `operator` acts on alerts, `admin` manages. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
/** A role. */
export type Role = (typeof ROLES)[number];

/** Who a valid token belongs to. */
export interface Operator {
  readonly tokenId: number;
  /** The token's name: what acknowledgedBy, resolvedBy and comments record. */
  readonly name: string;
  readonly role: Role;
}

/** A token as listed (never its secret). Times are ISO 8601 UTC. */
export interface TokenInfo {
  readonly id: number;
  readonly name: string;
  readonly role: Role;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
  readonly revokedAt: string | null;
}

/** The token store. */
export interface OperatorTokens {
  /** Creates a token; the returned `token` is the only copy. Throws ERR_TOKEN_NAME_INVALID, ERR_TOKEN_NAME_CONFLICT. */
  create(name: string, role: Role): Promise<{ readonly token: string; readonly info: TokenInfo }>;
  /** Every token, oldest first; revoked ones too when `includeRevoked`. */
  list(options?: { includeRevoked?: boolean }): Promise<TokenInfo[]>;
  /** Revokes the active token with this id or name; undefined when there is none. Takes effect at once. */
  revoke(which: { id: number } | { name: string }): Promise<TokenInfo | undefined>;
  /** The operator a presented token belongs to, or undefined (malformed, unknown, revoked or wrong secret). */
  verify(token: string): Promise<Operator | undefined>;
}

/** A token name: 1–64 of A–Z a–z 0–9 . _ @ -, starting with a letter or digit (e.g. an email address). */
export const TOKEN_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

const TOKEN = /^vigie_(\d{1,15})_([A-Za-z0-9_-]{43})$/;
/** How often last_used_at is written for one token, at most (one write per request would be wasteful). */
const LAST_USED_RESOLUTION = '1 minute';

interface TokenRow {
  id: number;
  name: string;
  role: Role;
  secret_sha256: string;
  created_at: Date | string;
  last_used_at: Date | string | null;
  revoked_at: Date | string | null;
}

/** True when `have` allows what `need` allows. */
export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** Creates the token store on `store` (migrations: `httpMigrations`). */
export function createOperatorTokens(store: SqlStore, options: { clock?: Clock } = {}): OperatorTokens {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const now = () => new Date(clock.nowMs()).toISOString();
  return {
    async create(name, role) {
      if (!TOKEN_NAME.test(name)) {
        throw new AppError(
          'ERR_TOKEN_NAME_INVALID',
          `token name: ${JSON.stringify(name.slice(0, 80))} (1–64 of A–Z a–z 0–9 . _ @ -, starting with a letter or digit)`,
        );
      }
      const secret = randomBytes(32).toString('base64url');
      let res: Awaited<ReturnType<typeof store.query<TokenRow>>>;
      try {
        res = await store.query<TokenRow>(
          `INSERT INTO http_operator_tokens (name, role, secret_sha256, created_at) VALUES ($1, $2, $3, $4)
           RETURNING *`,
          [name, role, sha256(secret), now()],
        );
      } catch (err) {
        // 23505 unique_violation: the partial unique index on active names (concurrent creates included).
        if ((err as { code?: unknown }).code !== '23505') throw err;
        throw new AppError(
          'ERR_TOKEN_NAME_CONFLICT',
          `token name: ${name} is already used by an active token (revoke it first, or choose another name)`,
          { cause: err },
        );
      }
      const row = res.rows[0] as TokenRow;
      return { token: `vigie_${row.id}_${secret}`, info: toInfo(row) };
    },

    async list(opts = {}) {
      const res = await store.query<TokenRow>(
        `SELECT * FROM http_operator_tokens ${opts.includeRevoked ? '' : 'WHERE revoked_at IS NULL'} ORDER BY id`,
      );
      return res.rows.map(toInfo);
    },

    async revoke(which) {
      const res =
        'id' in which
          ? await store.query<TokenRow>(
              'UPDATE http_operator_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL RETURNING *',
              [which.id, now()],
            )
          : await store.query<TokenRow>(
              'UPDATE http_operator_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL RETURNING *',
              [which.name, now()],
            );
      const row = res.rows[0];
      return row ? toInfo(row) : undefined;
    },

    async verify(token) {
      const match = TOKEN.exec(token);
      if (!match) return undefined;
      const id = Number(match[1]);
      const res = await store.query<TokenRow>(
        'SELECT id, name, role, secret_sha256 FROM http_operator_tokens WHERE id = $1 AND revoked_at IS NULL',
        [id],
      );
      const row = res.rows[0];
      // Hash even when the id is unknown, so an unknown id and a wrong secret take the same time.
      const presented = Buffer.from(sha256(match[2] as string), 'hex');
      const stored = Buffer.from(row?.secret_sha256 ?? '0'.repeat(64), 'hex');
      const equal = stored.length === presented.length && timingSafeEqual(stored, presented);
      if (!row || !equal) return undefined;
      await store.query(
        `UPDATE http_operator_tokens SET last_used_at = $2 WHERE id = $1
         AND (last_used_at IS NULL OR last_used_at < $2::timestamptz - interval '${LAST_USED_RESOLUTION}')`,
        [id, now()],
      );
      return { tokenId: Number(row.id), name: row.name, role: row.role };
    },
  };
}

function sha256(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

function iso(value: Date | string | null): string | null {
  return value === null ? null : (value instanceof Date ? value : new Date(value)).toISOString();
}

function toInfo(row: TokenRow): TokenInfo {
  return {
    id: Number(row.id),
    name: row.name,
    role: row.role,
    createdAt: iso(row.created_at) as string,
    lastUsedAt: iso(row.last_used_at),
    revokedAt: iso(row.revoked_at),
  };
}
