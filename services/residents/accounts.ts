import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import type { AccountEraser } from '../http/citizen.ts';
import type { ResidentsConfig } from './config.ts';

/**
 * Residents' accounts, sign-in codes and sessions (issue 7, "my water meter"). An account is one address: an E.164
 * phone number or a lower-cased email address (normalised by the caller with alerting's `parseAddress`, so it
 * matches the subscriptions' addresses), created the first time a code sent to it is verified — asking for a code
 * reveals nothing about whether an account exists.
 *
 * Codes: 6 digits, one live code per address (asking again replaces it and resets its tries), valid `codeTtlMs`,
 * `codeMaxAttempts` wrong tries, stored as SHA-256 of address and code. That hash is a weak shield for 10^6 codes
 * (it keeps codes out of dumps and logs); the real bound is the tries and the sign-in rate limits.
 *
 * Sessions: the cookie holds 32 random bytes (base64url); only their SHA-256 is stored, with an absolute expiry
 * (`sessionTtlMs`) and a revocation time. The CSRF token of a session is derived from its secret
 * (SHA-256 of `csrf:` and the secret): a cross-site page can neither read the cookie nor compute the token, and
 * nothing more is stored.
 */

/** A sign-in channel: the account's address is a phone number (sms) or an email address. */
export type AccountChannel = 'sms' | 'email';

/** A resident's account. */
export interface Account {
  readonly id: number;
  readonly channel: AccountChannel;
  readonly address: string;
}

/** A signed-in resident: the account and the session presented. */
export interface ResidentSession {
  readonly account: Account;
  /** SHA-256 of the session secret (hex): the session row's key. */
  readonly sessionHash: string;
  /** The session's CSRF token, expected in the `x-csrf-token` header of state-changing requests. */
  readonly csrfToken: string;
  /** When the session ends, epoch ms. */
  readonly expiresAtMs: number;
}

/** A code issued: the code itself (to send, never to log) and when it stops being valid. */
export interface IssuedCode {
  readonly code: string;
  readonly expiresAtMs: number;
}

/** Outcome of a submitted code. */
export type VerifyResult =
  | { readonly outcome: 'signed-in'; readonly secret: string; readonly session: ResidentSession }
  | { readonly outcome: 'wrong-code'; readonly attemptsLeft: number }
  /** No live code for the address: none asked, expired, used, or its tries spent. */
  | { readonly outcome: 'none' };

/** The accounts store. */
export interface Accounts {
  /** Issues a new code for `address` (replacing any live one). */
  issueCode(channel: AccountChannel, address: string): Promise<IssuedCode>;
  /** Checks a code; on success creates the account if needed and a session, and spends the code. */
  verify(channel: AccountChannel, address: string, code: string): Promise<VerifyResult>;
  /** The live session whose secret is `secret` (the cookie), or undefined (unknown, expired, revoked, malformed). */
  session(secret: string): Promise<ResidentSession | undefined>;
  /** Revokes one session; with `everywhere`, every live session of its account. Resolves how many were revoked. */
  signOut(sessionHash: string, options?: { everywhere?: boolean }): Promise<number>;
  /** The account's profile (what the citizen chose to tell the city). */
  profile(accountId: number): Promise<Profile>;
  /** Replaces the profile; resolves it as stored. */
  setProfile(accountId: number, profile: Profile): Promise<Profile>;
  /**
   * Deletes the account in one transaction: `erasers` first (the other citizen services' data: the vault's keys…),
   * then its sign-in code, sessions, linked meters and profile. Its id is never given again. False when it was gone.
   */
  deleteAccount(accountId: number, erasers: readonly AccountEraser[]): Promise<boolean>;
}

/** A citizen's profile: all optional, none needed to use the services. */
export interface Profile {
  /** How the city addresses the citizen in messages and on pages. */
  readonly displayName: string | null;
  /** Language of the messages (fr by default). */
  readonly locale: 'fr' | 'en';
  /** A postal address, for the services that send letters. */
  readonly postalAddress: string | null;
}

const SECRET = /^[A-Za-z0-9_-]{43}$/;

/** SHA-256 hex of a text. */
function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The stored hash of a sign-in code (sha256 of `sign-in:`, the address and the code). */
export function signInCodeHash(address: string, code: string): string {
  return sha256(`sign-in:${address}:${code}`);
}

/** The CSRF token of the session whose secret is `secret` (base64url, 43 characters). */
export function csrfTokenOf(secret: string): string {
  return createHash('sha256').update(`csrf:${secret}`, 'utf8').digest('base64url');
}

/** True when `a` and `b` are equal, compared in constant time for equal lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

interface AccountRow {
  id: number | string;
  channel: AccountChannel;
  address: string;
}

interface ProfileRow {
  display_name: string | null;
  locale: string | null;
  postal_address: string | null;
}

function toProfile(row: ProfileRow | undefined): Profile {
  return {
    displayName: row?.display_name ?? null,
    locale: row?.locale === 'en' ? 'en' : 'fr',
    postalAddress: row?.postal_address ?? null,
  };
}

function toAccount(row: AccountRow): Account {
  return { id: Number(row.id), channel: row.channel, address: row.address };
}

/** Creates the accounts store on `store` (migrations: `residentsMigrations`). */
export function createAccounts(
  store: SqlStore,
  config: Pick<ResidentsConfig, 'codeTtlMs' | 'codeMaxAttempts' | 'sessionTtlMs'>,
  options: { clock?: Clock | undefined } = {},
): Accounts {
  const clock = options.clock ?? SYSTEM_CLOCK;

  async function openSession(tx: SqlExecutor, account: Account, nowMs: number): Promise<VerifyResult> {
    const secret = randomBytes(32).toString('base64url');
    const sessionHash = sha256(secret);
    const expiresAtMs = nowMs + config.sessionTtlMs;
    await tx.query(
      'INSERT INTO residents_sessions (id_sha256, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)',
      [sessionHash, account.id, new Date(nowMs), new Date(expiresAtMs)],
    );
    return {
      outcome: 'signed-in',
      secret,
      session: { account, sessionHash, csrfToken: csrfTokenOf(secret), expiresAtMs },
    };
  }

  return {
    async issueCode(channel, address) {
      const nowMs = clock.nowMs();
      const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
      const expiresAtMs = nowMs + config.codeTtlMs;
      // Dead codes of any address go first: the table holds live codes only (bounded by the sign-in rate limits).
      await store.query('DELETE FROM residents_sign_in_codes WHERE expires_at <= $1', [new Date(nowMs)]);
      await store.query(
        `INSERT INTO residents_sign_in_codes (address, channel, code_sha256, expires_at, attempts, created_at)
         VALUES ($1, $2, $3, $4, 0, $5)
         ON CONFLICT (address) DO UPDATE SET channel = EXCLUDED.channel, code_sha256 = EXCLUDED.code_sha256,
           expires_at = EXCLUDED.expires_at, attempts = 0, created_at = EXCLUDED.created_at`,
        [address, channel, signInCodeHash(address, code), new Date(expiresAtMs), new Date(nowMs)],
      );
      return { code, expiresAtMs };
    },

    async verify(channel, address, code) {
      const nowMs = clock.nowMs();
      return store.transaction(async (tx): Promise<VerifyResult> => {
        const live = await tx.query<{ code_sha256: string; attempts: number }>(
          `SELECT code_sha256, attempts FROM residents_sign_in_codes
           WHERE address = $1 AND channel = $2 AND expires_at > $3 AND attempts < $4 FOR UPDATE`,
          [address, channel, new Date(nowMs), config.codeMaxAttempts],
        );
        const row = live.rows[0];
        if (!row) return { outcome: 'none' };
        const given = /^\d{6}$/.test(code) ? signInCodeHash(address, code) : '';
        if (!constantTimeEqual(given, row.code_sha256)) {
          await tx.query('UPDATE residents_sign_in_codes SET attempts = attempts + 1 WHERE address = $1', [address]);
          return { outcome: 'wrong-code', attemptsLeft: Math.max(0, config.codeMaxAttempts - row.attempts - 1) };
        }
        // Spent at once: a code signs in once.
        await tx.query('DELETE FROM residents_sign_in_codes WHERE address = $1', [address]);
        const res = await tx.query<AccountRow>(
          `INSERT INTO residents_accounts (channel, address, created_at, last_sign_in_at) VALUES ($1, $2, $3, $3)
           ON CONFLICT (address) DO UPDATE SET last_sign_in_at = EXCLUDED.last_sign_in_at
           RETURNING id, channel, address`,
          [channel, address, new Date(nowMs)],
        );
        const account = toAccount(res.rows[0] as AccountRow);
        // An account keeps only its live sessions: ended ones are removed at each sign-in (bounded rows).
        await tx.query(
          'DELETE FROM residents_sessions WHERE account_id = $1 AND (expires_at <= $2 OR revoked_at IS NOT NULL)',
          [account.id, new Date(nowMs)],
        );
        return openSession(tx, account, nowMs);
      });
    },

    async session(secret) {
      if (!SECRET.test(secret)) return undefined;
      const sessionHash = sha256(secret);
      // Looked up by the hash (the primary key): the secret has 256 bits, so a lookup leaks nothing usable.
      const res = await store.query<AccountRow & { expires_at: Date | string }>(
        `SELECT a.id, a.channel, a.address, s.expires_at FROM residents_sessions s
           JOIN residents_accounts a ON a.id = s.account_id
         WHERE s.id_sha256 = $1 AND s.revoked_at IS NULL AND s.expires_at > $2`,
        [sessionHash, new Date(clock.nowMs())],
      );
      const row = res.rows[0];
      if (!row) return undefined;
      return {
        account: toAccount(row),
        sessionHash,
        csrfToken: csrfTokenOf(secret),
        expiresAtMs: new Date(row.expires_at).getTime(),
      };
    },

    async profile(accountId) {
      const res = await store.query<ProfileRow>(
        'SELECT display_name, locale, postal_address FROM residents_accounts WHERE id = $1',
        [accountId],
      );
      return toProfile(res.rows[0]);
    },

    async setProfile(accountId, profile) {
      const res = await store.query<ProfileRow>(
        `UPDATE residents_accounts SET display_name = $2, locale = $3, postal_address = $4 WHERE id = $1
         RETURNING display_name, locale, postal_address`,
        [accountId, profile.displayName, profile.locale, profile.postalAddress],
      );
      return toProfile(res.rows[0]);
    },

    async deleteAccount(accountId, erasers) {
      const nowMs = clock.nowMs();
      return store.transaction(async (tx) => {
        // Locked first: a sign-in of the same address waits, then makes a new account (a new id).
        const res = await tx.query<{ address: string }>(
          'SELECT address FROM residents_accounts WHERE id = $1 FOR UPDATE',
          [accountId],
        );
        const row = res.rows[0];
        if (!row) return false;
        for (const erase of erasers) await erase(tx, accountId, nowMs);
        await tx.query('DELETE FROM residents_sign_in_codes WHERE address = $1', [row.address]);
        // Sessions and linked meters go with it (ON DELETE CASCADE).
        await tx.query('DELETE FROM residents_accounts WHERE id = $1', [accountId]);
        return true;
      });
    },

    async signOut(sessionHash, opts = {}) {
      const now = new Date(clock.nowMs());
      const res = opts.everywhere
        ? await store.query(
            `UPDATE residents_sessions SET revoked_at = $2
             WHERE revoked_at IS NULL AND account_id = (SELECT account_id FROM residents_sessions WHERE id_sha256 = $1)`,
            [sessionHash, now],
          )
        : await store.query(
            'UPDATE residents_sessions SET revoked_at = $2 WHERE id_sha256 = $1 AND revoked_at IS NULL',
            [sessionHash, now],
          );
      return res.rowCount;
    },
  };
}
