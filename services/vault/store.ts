/**
 * The vault store (migrations component `vault`): every SQL statement of the document vault, and the envelope
 * encryption around it (crypto.ts). Times are epoch ms in and out; the caller passes "now", so the store reads no
 * clock.
 *
 * - A citizen's data key is made at their first upload, wrapped by the current master key, and the row is locked
 *   (`FOR UPDATE`) by every upload, so two first uploads at once make one key and the document limit holds.
 * - Every access — allowed, refused or failed — appends one row to `vault_audit` (documents.ts `AuditEvent`). A
 *   success is audited in the transaction that does it, or before the bytes are returned; a refusal is audited in a
 *   transaction that commits, then thrown. An access that cannot be audited does not happen.
 * - A document that is not the caller's answers exactly like one that does not exist (`ERR_VAULT_DOCUMENT_NOT_FOUND`);
 *   only the owner's audit log tells the attempt apart (`not-owner`).
 * - A share link is checked by its MAC and expiry (share-link.ts), then its nonce must be a row of `vault_shares`
 *   for the same document and service, not revoked. Rows of expired links are purged when the document is shared
 *   again: an expired link is refused before its nonce is looked up.
 *
 * Known limit: the audit log grows without bound (it is a record the city keeps); `vault_audit_citizen_idx` keeps a
 * citizen's page cheap. An upload racing an account deletion past its session check can leave a document under the
 * deleted account's id, with a fresh key (ids are never reused: nobody can read it; `vigie` may purge such rows).
 */

import type { KeyObject } from 'node:crypto';
import { randomUUID } from 'node:crypto';
import { AppError } from '../../core/errors.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import type { VaultConfig } from './config.ts';
import {
  createMasterKeyring,
  decryptDocument,
  encryptDocument,
  type MasterKeyring,
  newDataKey,
  rewrapDataKey,
  unwrapDataKey,
  wrapDataKey,
} from './crypto.ts';
import {
  type AuditAction,
  type AuditActor,
  type AuditEvent,
  type AuditOutcome,
  type AuditReason,
  checkDocumentBytes,
  type DocumentContentType,
  type DocumentType,
  sanitizeFileName,
} from './documents.ts';
import { createShareLinks, type ShareLinks, shareLinkTtlSeconds } from './share-link.ts';

/** Live (unexpired, unrevoked) share links one document may have at once. */
export const MAX_LIVE_SHARES_PER_DOCUMENT = 20;
/** Longest page of {@link VaultStore.auditLog}. */
export const MAX_AUDIT_PAGE = 500;

/** A stored document's description (never its bytes); times epoch ms. */
export interface VaultDocument {
  /** A UUID. */
  readonly id: string;
  /** The owner: the residents' account id. */
  readonly citizenId: number;
  readonly type: DocumentType;
  /** Sanitised (documents.ts `sanitizeFileName`). */
  readonly fileName: string;
  /** Read from the bytes at upload. */
  readonly contentType: DocumentContentType;
  /** Plaintext size, in bytes. */
  readonly sizeBytes: number;
  readonly createdMs: number;
}

/** A document and its decrypted bytes. */
export interface OpenedDocument {
  readonly document: VaultDocument;
  readonly bytes: Buffer;
}

/** A share link as its owner sees it (not the token: it is shown once, when made). */
export interface VaultShare {
  /** The link's nonce: what revokes it. */
  readonly nonce: string;
  readonly documentId: string;
  /** The city service it was made for. */
  readonly service: string;
  readonly createdMs: number;
  /** Refused from this millisecond on. */
  readonly expiresMs: number;
  /** When the owner revoked it; null while live. */
  readonly revokedMs: number | null;
}

/** A share link just made: its token, shown once. */
export interface IssuedShare extends VaultShare {
  readonly token: string;
}

/** One line of a citizen's audit log, with its id (pages go by id). */
export type AuditEntry = AuditEvent & { readonly id: number };

/** A document upload, before its checks. */
export interface DocumentUpload {
  readonly type: DocumentType;
  /** As the browser sent it; sanitised here. */
  readonly fileName: string;
  readonly bytes: Uint8Array;
}

/** The vault's data: documents encrypted at rest, share links, the audit log. */
export interface VaultStore {
  /**
   * Checks (size, type from the bytes, the citizen's document limit), encrypts and stores a document, making the
   * citizen's data key at the first upload. Throws ERR_VAULT_DOCUMENT_TOO_LARGE, ERR_VAULT_DOCUMENT_UNSUPPORTED,
   * ERR_VAULT_LIMIT_CONFLICT, ERR_VAULT_KEY_UNKNOWN or ERR_VAULT_TAMPERED (the data key), each audited.
   */
  upload(citizenId: number, upload: DocumentUpload, nowMs: number): Promise<VaultDocument>;
  /** Audits an upload refused before its bytes reached the store (a stream over the size limit). */
  refuseUpload(citizenId: number, reason: 'too-large' | 'unsupported', nowMs: number): Promise<void>;
  /** The citizen's documents, newest first (at most `maxDocumentsPerCitizen`); audited `list`. */
  list(citizenId: number, nowMs: number): Promise<VaultDocument[]>;
  /**
   * The owner's document, decrypted: ERR_VAULT_DOCUMENT_NOT_FOUND for a missing id or another citizen's (audited
   * `not-owner` in the owner's log), ERR_VAULT_TAMPERED or ERR_VAULT_KEY_UNKNOWN when it does not decrypt (audited).
   */
  download(citizenId: number, documentId: string, nowMs: number): Promise<OpenedDocument>;
  /** Deletes the owner's document and its links (ERR_VAULT_DOCUMENT_NOT_FOUND otherwise); audited. */
  remove(citizenId: number, documentId: string, nowMs: number): Promise<void>;
  /**
   * A link letting `service` download the owner's document for `ttlSeconds` (default from the config): throws
   * ERR_VAULT_DOCUMENT_NOT_FOUND, ERR_VAULT_SHARE_INVALID (lifetime, service name) or ERR_VAULT_LIMIT_CONFLICT
   * (already {@link MAX_LIVE_SHARES_PER_DOCUMENT} live links); audited.
   */
  share(
    citizenId: number,
    documentId: string,
    grant: { readonly service: string; readonly ttlSeconds?: number | undefined },
    nowMs: number,
  ): Promise<IssuedShare>;
  /** The document's links not expired yet (revoked ones included), newest first; audited `list`. */
  shares(citizenId: number, documentId: string, nowMs: number): Promise<VaultShare[]>;
  /** Revokes one link of the owner's document (again: no change); ERR_VAULT_SHARE_NOT_FOUND for another nonce. */
  revoke(citizenId: number, documentId: string, nonce: string, nowMs: number): Promise<VaultShare>;
  /**
   * What a share link opens, decrypted, for the city service it names. Refused, audited: forged, malformed or
   * unknown → ERR_VAULT_SHARE_NOT_FOUND; expired → ERR_VAULT_SHARE_EXPIRED; revoked → ERR_VAULT_SHARE_REVOKED;
   * not decrypting → ERR_VAULT_TAMPERED / ERR_VAULT_KEY_UNKNOWN.
   */
  openShared(token: string, nowMs: number): Promise<OpenedDocument & { readonly service: string }>;
  /** The citizen's audit log (the events about their documents), newest first, `limit` (≤ 500) before id `beforeId`. */
  auditLog(
    citizenId: number,
    page?: { readonly limit?: number | undefined; readonly beforeId?: number | undefined },
  ): Promise<AuditEntry[]>;
  /**
   * Rotation: rewraps up to `limit` data keys not under the current master key (documents untouched); returns how
   * many. Run until 0, then drop the old key. ERR_VAULT_KEY_UNKNOWN when a key's master key is no longer configured.
   */
  rewrapKeys(nowMs: number, limit?: number): Promise<number>;
  /** How many citizens' data keys each master key id wraps (what a rotation waits for), by key id. */
  keysByMaster(): Promise<Record<string, number>>;
}

/** What the store needs. */
export interface VaultStoreOptions {
  /** The `vault` section; `masterKeys` is required (ERR_VAULT_KEY_INVALID otherwise). */
  readonly config: VaultConfig;
  /** Counts `vault_accesses_total{action,outcome}` when given. */
  readonly metrics?: Metrics | undefined;
}

interface DocumentRow {
  id: string;
  citizen_id: number;
  type: string;
  file_name: string;
  content_type: string;
  size_bytes: number;
  created_at: Date;
}

interface KeyRow {
  key_id: string;
  wrapped: Uint8Array;
}

interface ShareRow {
  nonce: string;
  document_id: string;
  citizen_id: number;
  service: string;
  created_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

interface AuditRow {
  id: number;
  at: Date;
  citizen_id: number;
  document_id: string | null;
  action: string;
  actor: string;
  outcome: string;
  reason: string | null;
}

/** One event to append; `citizenId` null only when no owner can be trusted (a forged link). */
interface NewAuditEvent {
  readonly citizenId: number | null;
  readonly documentId?: string | null | undefined;
  readonly action: AuditAction;
  readonly actor: AuditActor;
  readonly outcome: AuditOutcome;
  readonly reason?: AuditReason | undefined;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const DOCUMENT_COLUMNS = 'id, citizen_id, type, file_name, content_type, size_bytes, created_at';
const SHARE_COLUMNS = 'nonce, document_id, citizen_id, service, created_at, expires_at, revoked_at';

const iso = (ms: number) => new Date(ms).toISOString();
const bytesOf = (value: Uint8Array) => Buffer.from(value.buffer, value.byteOffset, value.byteLength);

function toDocument(row: DocumentRow): VaultDocument {
  return {
    id: row.id,
    citizenId: Number(row.citizen_id),
    type: row.type as DocumentType,
    fileName: row.file_name,
    contentType: row.content_type as DocumentContentType,
    sizeBytes: Number(row.size_bytes),
    createdMs: row.created_at.getTime(),
  };
}

function toShare(row: ShareRow): VaultShare {
  return {
    nonce: row.nonce,
    documentId: row.document_id,
    service: row.service,
    createdMs: row.created_at.getTime(),
    expiresMs: row.expires_at.getTime(),
    revokedMs: row.revoked_at === null ? null : row.revoked_at.getTime(),
  };
}

function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    id: Number(row.id),
    at: row.at.toISOString(),
    citizenId: String(row.citizen_id),
    ...(row.document_id === null ? {} : { documentId: row.document_id }),
    action: row.action as AuditAction,
    actor: row.actor as AuditActor,
    outcome: row.outcome as AuditOutcome,
    ...(row.reason === null ? {} : { reason: row.reason as AuditReason }),
  };
}

function documentNotFound(documentId: string): AppError {
  return new AppError(
    'ERR_VAULT_DOCUMENT_NOT_FOUND',
    `document: ${JSON.stringify(documentId.slice(0, 64))} (none of yours; GET /api/me/documents lists them)`,
  );
}

function shareNotFound(): AppError {
  return new AppError(
    'ERR_VAULT_SHARE_NOT_FOUND',
    'share link: unknown (not a link the vault made, altered, or its document was deleted; ask the citizen for a new link)',
  );
}

/** The audit reason of a decryption failure, or undefined for any other error (a bug or the store: not audited). */
function failureReason(err: unknown): AuditReason | undefined {
  if (!(err instanceof AppError)) return undefined;
  if (err.code === 'ERR_VAULT_TAMPERED') return 'tampered';
  if (err.code === 'ERR_VAULT_KEY_UNKNOWN') return 'key-unknown';
  return undefined;
}

/** The master keyring of a config; ERR_VAULT_KEY_INVALID when `masterKeys` is absent. */
export function vaultKeyring(config: Pick<VaultConfig, 'masterKeys'>): MasterKeyring {
  if (config.masterKeys === undefined) {
    throw new AppError(
      'ERR_VAULT_KEY_INVALID',
      'vault masterKeys: absent (set VIGIE_VAULT_MASTER_KEYS to id:base64 of 32 bytes, e.g. k1:$(openssl rand -base64 32))',
    );
  }
  return createMasterKeyring(config.masterKeys);
}

async function appendAudit(ex: SqlExecutor, event: NewAuditEvent, atMs: number, metrics?: Metrics): Promise<void> {
  await ex.query(
    `INSERT INTO vault_audit (at, citizen_id, document_id, action, actor, outcome, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      iso(atMs),
      event.citizenId,
      event.documentId ?? null,
      event.action,
      event.actor,
      event.outcome,
      event.reason ?? null,
    ],
  );
  metrics
    ?.counter('vault_accesses_total', 'Vault accesses audited, by action and outcome (allowed, denied, failed)', [
      'action',
      'outcome',
    ])
    .inc({ action: event.action, outcome: event.outcome });
}

/**
 * Erases a citizen's vault in the account deletion's transaction: the wrapped data key first (crypto-shredding:
 * every blob of theirs, including copies in backups, is unreadable once no copy of the key is left), then their
 * share links and documents; appends `account-delete` (the audit log stays, with ids only). Returns how many
 * documents went.
 */
export async function eraseVaultAccount(
  tx: SqlExecutor,
  citizenId: number,
  atMs: number,
  metrics?: Metrics,
): Promise<number> {
  await tx.query('DELETE FROM vault_keys WHERE citizen_id = $1', [citizenId]);
  await tx.query('DELETE FROM vault_shares WHERE citizen_id = $1', [citizenId]);
  const documents = await tx.query('DELETE FROM vault_documents WHERE citizen_id = $1 RETURNING id', [citizenId]);
  await appendAudit(tx, { citizenId, action: 'account-delete', actor: 'owner', outcome: 'allowed' }, atMs, metrics);
  return documents.rows.length;
}

/** The vault store over the operational store; throws ERR_VAULT_KEY_INVALID when the master keys are absent or bad. */
export function createVaultStore(store: SqlStore, options: VaultStoreOptions): VaultStore {
  const { config, metrics } = options;
  const keyring = vaultKeyring(config);
  const links: ShareLinks = createShareLinks(keyring);
  const audit = (ex: SqlExecutor, event: NewAuditEvent, atMs: number) => appendAudit(ex, event, atMs, metrics);

  async function documentRow(ex: SqlExecutor, documentId: string, lock = false): Promise<DocumentRow | undefined> {
    if (!UUID.test(documentId)) return undefined;
    const res = await ex.query<DocumentRow>(
      `SELECT ${DOCUMENT_COLUMNS} FROM vault_documents WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
      [documentId],
    );
    return res.rows[0];
  }

  /**
   * The citizen's own document (locked unless `lock` is false); otherwise undefined, with `action` audited `not-owner` in the owner's log
   * when the document exists (in `tx`, which the caller commits before throwing).
   */
  async function ownDocument(
    tx: SqlExecutor,
    citizenId: number,
    documentId: string,
    action: AuditAction,
    nowMs: number,
    lock = true,
  ): Promise<DocumentRow | undefined> {
    const row = await documentRow(tx, documentId, lock);
    if (row === undefined) return undefined;
    if (Number(row.citizen_id) !== citizenId) {
      await audit(
        tx,
        {
          citizenId: Number(row.citizen_id),
          documentId: row.id,
          action,
          actor: `citizen:${citizenId}`,
          outcome: 'denied',
          reason: 'not-owner',
        },
        nowMs,
      );
      return undefined;
    }
    return row;
  }

  /** The citizen's data key, locked, made (and wrapped under the current master key) when they have none yet. */
  async function lockedDataKey(tx: SqlExecutor, citizenId: number, nowMs: number): Promise<KeyObject> {
    const select = () =>
      tx.query<KeyRow>('SELECT key_id, wrapped FROM vault_keys WHERE citizen_id = $1 FOR UPDATE', [citizenId]);
    let row = (await select()).rows[0];
    if (row === undefined) {
      const dataKey = newDataKey();
      const wrapped = wrapDataKey(keyring, dataKey, String(citizenId));
      // Two first uploads at once: one inserts, the other waits for it, does nothing, and reads its key.
      const inserted = await tx.query(
        `INSERT INTO vault_keys (citizen_id, key_id, wrapped, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (citizen_id) DO NOTHING RETURNING citizen_id`,
        [citizenId, wrapped.keyId, wrapped.wrapped, iso(nowMs)],
      );
      if (inserted.rows.length === 1) return dataKey;
      row = (await select()).rows[0];
      if (row === undefined) throw new Error(`vault_keys: citizen ${citizenId} neither inserted nor found`);
    }
    return unwrapDataKey(keyring, { keyId: row.key_id, wrapped: bytesOf(row.wrapped) }, String(citizenId));
  }

  /** Decrypts a document's blob with its owner's data key (ERR_VAULT_TAMPERED when the key is gone). */
  async function decrypt(ex: SqlExecutor, row: DocumentRow): Promise<Buffer> {
    const ownerId = Number(row.citizen_id);
    const [keys, blobs] = await Promise.all([
      ex.query<KeyRow>('SELECT key_id, wrapped FROM vault_keys WHERE citizen_id = $1', [ownerId]),
      ex.query<{ blob: Uint8Array }>('SELECT blob FROM vault_documents WHERE id = $1', [row.id]),
    ]);
    const key = keys.rows[0];
    const blob = blobs.rows[0];
    if (key === undefined) {
      throw new AppError(
        'ERR_VAULT_TAMPERED',
        `document ${row.id}: its owner's data key is gone (destroyed with the account, or never made; it cannot be read)`,
      );
    }
    if (blob === undefined) throw documentNotFound(row.id);
    const dataKey = unwrapDataKey(keyring, { keyId: key.key_id, wrapped: bytesOf(key.wrapped) }, String(ownerId));
    return decryptDocument(dataKey, blob.blob, { citizenId: String(ownerId), documentId: row.id });
  }

  /** Decrypts for `actor`, auditing a failure (tampered, key-unknown) before rethrowing it. */
  async function decryptAudited(
    row: DocumentRow,
    action: AuditAction,
    actor: AuditActor,
    nowMs: number,
  ): Promise<Buffer> {
    try {
      return await decrypt(store, row);
    } catch (err) {
      const reason = failureReason(err);
      if (reason !== undefined) {
        await audit(
          store,
          { citizenId: Number(row.citizen_id), documentId: row.id, action, actor, outcome: 'failed', reason },
          nowMs,
        );
      }
      throw err;
    }
  }

  async function refuseUpload(citizenId: number, reason: 'too-large' | 'unsupported', nowMs: number): Promise<void> {
    await audit(store, { citizenId, action: 'upload', actor: 'owner', outcome: 'denied', reason }, nowMs);
  }

  return {
    async upload(citizenId, upload, nowMs) {
      let contentType: DocumentContentType;
      try {
        contentType = checkDocumentBytes(upload.bytes, config.maxDocumentBytes);
      } catch (err) {
        const code = err instanceof AppError ? err.code : '';
        if (code === 'ERR_VAULT_DOCUMENT_TOO_LARGE' || code === 'ERR_VAULT_DOCUMENT_UNSUPPORTED') {
          await refuseUpload(citizenId, code === 'ERR_VAULT_DOCUMENT_TOO_LARGE' ? 'too-large' : 'unsupported', nowMs);
        }
        throw err;
      }
      const fileName = sanitizeFileName(upload.fileName, contentType);
      const id = randomUUID();
      const plaintext = upload.bytes;
      let outcome: { document: VaultDocument } | { limit: number };
      try {
        outcome = await store.transaction(async (tx) => {
          const dataKey = await lockedDataKey(tx, citizenId, nowMs);
          const counted = await tx.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM vault_documents WHERE citizen_id = $1',
            [citizenId],
          );
          const count = Number(counted.rows[0]?.n ?? 0);
          if (count >= config.maxDocumentsPerCitizen) {
            await audit(tx, { citizenId, action: 'upload', actor: 'owner', outcome: 'denied', reason: 'limit' }, nowMs);
            return { limit: count };
          }
          const blob = encryptDocument(dataKey, plaintext, { citizenId: String(citizenId), documentId: id });
          const inserted = await tx.query<DocumentRow>(
            `INSERT INTO vault_documents (id, citizen_id, type, file_name, content_type, size_bytes, blob, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${DOCUMENT_COLUMNS}`,
            [id, citizenId, upload.type, fileName, contentType, plaintext.byteLength, blob, iso(nowMs)],
          );
          await audit(tx, { citizenId, documentId: id, action: 'upload', actor: 'owner', outcome: 'allowed' }, nowMs);
          return { document: toDocument(inserted.rows[0] as DocumentRow) };
        });
      } catch (err) {
        const reason = failureReason(err);
        if (reason !== undefined) {
          await audit(store, { citizenId, action: 'upload', actor: 'owner', outcome: 'failed', reason }, nowMs);
        }
        throw err;
      }
      if ('limit' in outcome) {
        throw new AppError(
          'ERR_VAULT_LIMIT_CONFLICT',
          `documents: ${outcome.limit} kept (at most ${config.maxDocumentsPerCitizen}; delete one first)`,
        );
      }
      return outcome.document;
    },

    refuseUpload,

    async list(citizenId, nowMs) {
      return store.transaction(async (tx) => {
        const res = await tx.query<DocumentRow>(
          `SELECT ${DOCUMENT_COLUMNS} FROM vault_documents WHERE citizen_id = $1
           ORDER BY created_at DESC, id LIMIT $2`,
          [citizenId, config.maxDocumentsPerCitizen],
        );
        await audit(tx, { citizenId, action: 'list', actor: 'owner', outcome: 'allowed' }, nowMs);
        return res.rows.map(toDocument);
      });
    },

    async download(citizenId, documentId, nowMs) {
      const row = await store.transaction((tx) => ownDocument(tx, citizenId, documentId, 'download', nowMs, false));
      if (row === undefined) throw documentNotFound(documentId);
      const bytes = await decryptAudited(row, 'download', 'owner', nowMs);
      await audit(
        store,
        { citizenId, documentId: row.id, action: 'download', actor: 'owner', outcome: 'allowed' },
        nowMs,
      );
      return { document: toDocument(row), bytes };
    },

    async remove(citizenId, documentId, nowMs) {
      const removed = await store.transaction(async (tx) => {
        const row = await ownDocument(tx, citizenId, documentId, 'delete', nowMs);
        if (row === undefined) return false;
        // Its share links go with it (ON DELETE CASCADE).
        await tx.query('DELETE FROM vault_documents WHERE id = $1', [row.id]);
        await audit(tx, { citizenId, documentId: row.id, action: 'delete', actor: 'owner', outcome: 'allowed' }, nowMs);
        return true;
      });
      if (!removed) throw documentNotFound(documentId);
    },

    async share(citizenId, documentId, grant, nowMs) {
      const outcome = await store.transaction(async (tx) => {
        const row = await ownDocument(tx, citizenId, documentId, 'share', nowMs);
        if (row === undefined) return { missing: true as const };
        const ttlSeconds = shareLinkTtlSeconds(grant.ttlSeconds, config);
        const issued = links.issue({
          documentId: row.id,
          service: grant.service,
          expiresAtMs: nowMs + ttlSeconds * 1000,
        });
        // An expired link is refused before its nonce is looked up: its row is no longer needed.
        await tx.query('DELETE FROM vault_shares WHERE document_id = $1 AND expires_at <= $2', [row.id, iso(nowMs)]);
        const live = await tx.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM vault_shares WHERE document_id = $1 AND revoked_at IS NULL',
          [row.id],
        );
        if (Number(live.rows[0]?.n ?? 0) >= MAX_LIVE_SHARES_PER_DOCUMENT) {
          await audit(
            tx,
            { citizenId, documentId: row.id, action: 'share', actor: 'owner', outcome: 'denied', reason: 'limit' },
            nowMs,
          );
          return { limit: true as const };
        }
        const inserted = await tx.query<ShareRow>(
          `INSERT INTO vault_shares (nonce, document_id, citizen_id, service, created_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${SHARE_COLUMNS}`,
          [issued.claims.nonce, row.id, citizenId, issued.claims.service, iso(nowMs), iso(issued.claims.expiresAtMs)],
        );
        await audit(tx, { citizenId, documentId: row.id, action: 'share', actor: 'owner', outcome: 'allowed' }, nowMs);
        return { share: { ...toShare(inserted.rows[0] as ShareRow), token: issued.token } };
      });
      if ('missing' in outcome) throw documentNotFound(documentId);
      if ('limit' in outcome) {
        throw new AppError(
          'ERR_VAULT_LIMIT_CONFLICT',
          `share links: ${MAX_LIVE_SHARES_PER_DOCUMENT} live for this document (at most ${MAX_LIVE_SHARES_PER_DOCUMENT}; revoke one first)`,
        );
      }
      return outcome.share;
    },

    async shares(citizenId, documentId, nowMs) {
      const outcome = await store.transaction(async (tx) => {
        const row = await ownDocument(tx, citizenId, documentId, 'list', nowMs);
        if (row === undefined) return undefined;
        const res = await tx.query<ShareRow>(
          `SELECT ${SHARE_COLUMNS} FROM vault_shares WHERE document_id = $1 AND expires_at > $2
           ORDER BY created_at DESC, nonce`,
          [row.id, iso(nowMs)],
        );
        await audit(tx, { citizenId, documentId: row.id, action: 'list', actor: 'owner', outcome: 'allowed' }, nowMs);
        return res.rows.map(toShare);
      });
      if (outcome === undefined) throw documentNotFound(documentId);
      return outcome;
    },

    async revoke(citizenId, documentId, nonce, nowMs) {
      const outcome = await store.transaction(async (tx) => {
        const row = await ownDocument(tx, citizenId, documentId, 'revoke', nowMs);
        if (row === undefined) return { missing: 'document' as const };
        const res = await tx.query<ShareRow>(
          `UPDATE vault_shares SET revoked_at = COALESCE(revoked_at, $3)
           WHERE nonce = $1 AND document_id = $2 RETURNING ${SHARE_COLUMNS}`,
          [nonce, row.id, iso(nowMs)],
        );
        const share = res.rows[0];
        if (share === undefined) {
          await audit(
            tx,
            { citizenId, documentId: row.id, action: 'revoke', actor: 'owner', outcome: 'denied', reason: 'not-found' },
            nowMs,
          );
          return { missing: 'share' as const };
        }
        await audit(tx, { citizenId, documentId: row.id, action: 'revoke', actor: 'owner', outcome: 'allowed' }, nowMs);
        return { share: toShare(share) };
      });
      if ('missing' in outcome) throw outcome.missing === 'document' ? documentNotFound(documentId) : shareNotFound();
      return outcome.share;
    },

    async openShared(token, nowMs) {
      const verdict = links.verify(token, nowMs);
      if (!verdict.ok && verdict.reason !== 'expired') {
        // Nothing in the token is trusted: no owner, no document, no service.
        await audit(
          store,
          { citizenId: null, action: 'denied', actor: 'anonymous', outcome: 'denied', reason: verdict.reason },
          nowMs,
        );
        throw shareNotFound();
      }
      const { claims } = verdict;
      const actor: AuditActor = `service:${claims.service}`;
      const [shareRes, row] = await Promise.all([
        store.query<ShareRow>(`SELECT ${SHARE_COLUMNS} FROM vault_shares WHERE nonce = $1`, [claims.nonce]),
        documentRow(store, claims.documentId),
      ]);
      const share = shareRes.rows[0];
      const refuse = async (reason: AuditReason) => {
        const ownerId = row?.citizen_id ?? share?.citizen_id;
        await audit(
          store,
          {
            citizenId: ownerId === undefined ? null : Number(ownerId),
            documentId: UUID.test(claims.documentId) ? claims.documentId : null,
            action: 'share-download',
            actor,
            outcome: 'denied',
            reason,
          },
          nowMs,
        );
      };
      if (!verdict.ok) {
        await refuse('expired');
        throw new AppError(
          'ERR_VAULT_SHARE_EXPIRED',
          `share link: expired at ${iso(claims.expiresAtMs)} (ask the citizen for a new link)`,
        );
      }
      if (
        share === undefined ||
        row === undefined ||
        share.document_id !== row.id ||
        share.service !== claims.service ||
        Number(share.citizen_id) !== Number(row.citizen_id)
      ) {
        await refuse('not-found');
        throw shareNotFound();
      }
      if (share.revoked_at !== null) {
        await refuse('revoked');
        throw new AppError(
          'ERR_VAULT_SHARE_REVOKED',
          `share link: revoked by the citizen at ${share.revoked_at.toISOString()} (ask them for a new link)`,
        );
      }
      const bytes = await decryptAudited(row, 'share-download', actor, nowMs);
      await audit(
        store,
        { citizenId: Number(row.citizen_id), documentId: row.id, action: 'share-download', actor, outcome: 'allowed' },
        nowMs,
      );
      return { document: toDocument(row), bytes, service: claims.service };
    },

    async auditLog(citizenId, page = {}) {
      const limit = Math.min(Math.max(Math.trunc(page.limit ?? 100), 1), MAX_AUDIT_PAGE);
      const res = await store.query<AuditRow>(
        `SELECT id, at, citizen_id, document_id, action, actor, outcome, reason FROM vault_audit
         WHERE citizen_id = $1 AND ($2::bigint IS NULL OR id < $2::bigint) ORDER BY id DESC LIMIT $3`,
        [citizenId, page.beforeId ?? null, limit],
      );
      return res.rows.map(toAuditEntry);
    },

    async keysByMaster() {
      const res = await store.query<{ key_id: string; n: number | string }>(
        'SELECT key_id, count(*) AS n FROM vault_keys GROUP BY key_id ORDER BY key_id',
      );
      return Object.fromEntries(res.rows.map((r) => [r.key_id, Number(r.n)]));
    },

    async rewrapKeys(nowMs, limit = 500) {
      return store.transaction(async (tx) => {
        const res = await tx.query<KeyRow & { citizen_id: number }>(
          `SELECT citizen_id, key_id, wrapped FROM vault_keys WHERE key_id <> $1
           ORDER BY citizen_id LIMIT $2 FOR UPDATE SKIP LOCKED`,
          [keyring.current, limit],
        );
        for (const row of res.rows) {
          const citizenId = Number(row.citizen_id);
          const rewrapped = rewrapDataKey(
            keyring,
            { keyId: row.key_id, wrapped: bytesOf(row.wrapped) },
            String(citizenId),
          );
          await tx.query('UPDATE vault_keys SET key_id = $2, wrapped = $3, rewrapped_at = $4 WHERE citizen_id = $1', [
            citizenId,
            rewrapped.keyId,
            rewrapped.wrapped,
            iso(nowMs),
          ]);
        }
        return res.rows.length;
      });
    },
  };
}
