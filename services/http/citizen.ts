import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { SqlExecutor } from '../../core/store/store.ts';

/**
 * The citizen account, as the services built on it see it. A citizen signs in once (services/residents: a one-time
 * code by SMS or email, then a session cookie scoped to `/api/me` and a CSRF token); the other citizen services —
 * the document vault, the consultations — mount their routes under `/api/me/…` inside that scope, as
 * {@link CitizenPlugin}s, and ask {@link CitizenAuth} who is signed in. They never read the session tables.
 */

/** The session cookie's name (sent to `/api/me` only). */
export const CITIZEN_COOKIE = 'vigie_resident';

/** The signed-in citizen: the account's id (stable, never reused) and how the city reaches them. */
export interface Citizen {
  readonly id: number;
  readonly channel: 'sms' | 'email';
  /** E.164 phone number or lower-case email address. */
  readonly address: string;
}

/** What a citizen service's routes get from the account's scope. */
export interface CitizenAuth {
  /**
   * onRequest hook: 401 (ERR_RESIDENT_UNAUTHORIZED) without a live session; for every method but GET and HEAD, 403
   * (ERR_RESIDENT_CSRF_FORBIDDEN) without the session's CSRF token in `x-csrf-token` or from another site.
   */
  readonly session: onRequestHookHandler;
  /** The citizen of a request the hook let through (throws ERR_RESIDENT_UNAUTHORIZED otherwise). */
  citizen(request: FastifyRequest): Citizen;
}

/**
 * A citizen service's routes, registered inside the account's scope (its cookie parser and session hook), under
 * `/api/me/…` — the only path the session cookie is sent to.
 */
export type CitizenPlugin = (app: FastifyInstance, auth: CitizenAuth) => Promise<void>;

/**
 * What a citizen service erases when an account is deleted, in the deletion's transaction (before the account's own
 * rows go): its data about `citizenId`, or what makes it unreadable (the vault's keys). Records the law says to keep
 * (an audit log, invoices) stay, with ids only.
 */
export type AccountEraser = (tx: SqlExecutor, citizenId: number, atMs: number) => Promise<void>;
