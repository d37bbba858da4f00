import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { createMasterKeyring } from './crypto.ts';
import { vaultMigrations } from './index.ts';
import { createShareLinks } from './share-link.ts';
import { createVaultStore, eraseVaultAccount, MAX_LIVE_SHARES_PER_DOCUMENT, type VaultStore } from './store.ts';
import { masterKey, pdfBytes, pngBytes, vaultConfig } from './test-helpers.ts';

const NOW = Date.parse('2026-11-04T09:00:00.000Z');
const CAMILLE = 101;
const LUCAS = 202;
const HOUR_MS = 3_600_000;

async function setup(engine: 'pglite' | 'postgres' = 'pglite', overrides: Parameters<typeof vaultConfig>[0] = {}) {
  const store = await openTestStore(engine, [vaultMigrations]);
  const config = vaultConfig(overrides);
  const vault = createVaultStore(store, { config });
  return { store, config, vault, clock: new ManualClock(NOW) };
}

/** The reason (or `allowed`) of each line of a citizen's log, oldest first, as `action:actor:outcome[:reason]`. */
async function auditTrail(vault: VaultStore, citizenId: number): Promise<string[]> {
  const entries = await vault.auditLog(citizenId, { limit: 500 });
  return entries
    .reverse()
    .map((e) => [e.action, e.actor, e.outcome, ...(e.reason === undefined ? [] : [e.reason])].join(':'));
}

async function rowCount(store: SqlStore, sql: string, params: unknown[] = []): Promise<number> {
  const res = await store.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return Number(res.rows[0]?.n);
}

describe('vault store', () => {
  it('stores a document encrypted under a data key made at the first upload and gives its owner the same bytes', async () => {
    const { store, vault, clock } = await setup();
    expect(await rowCount(store, 'vault_keys')).toBe(0);
    const bytes = pdfBytes('avis 2026');
    const doc = await vault.upload(
      CAMILLE,
      { type: 'tax-notice', fileName: '../../Avis d’impôt.PDF', bytes },
      clock.nowMs(),
    );
    expect(doc).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      citizenId: CAMILLE,
      type: 'tax-notice',
      fileName: 'Avis d’impôt.pdf',
      contentType: 'application/pdf',
      sizeBytes: bytes.length,
      createdMs: NOW,
    });
    const stored = await store.query<{ blob: Uint8Array }>('SELECT blob FROM vault_documents WHERE id = $1', [doc.id]);
    const blob = Buffer.from(stored.rows[0]?.blob as Uint8Array);
    expect(blob.length).toBe(bytes.length + 29);
    expect(blob.includes(Buffer.from('avis 2026'))).toBe(false);
    expect(blob.includes(Buffer.from('%PDF'))).toBe(false);
    const keys = await store.query<{ key_id: string; wrapped: Uint8Array }>(
      'SELECT key_id, wrapped FROM vault_keys WHERE citizen_id = $1',
      [CAMILLE],
    );
    expect(keys.rows).toHaveLength(1);
    expect(keys.rows[0]?.key_id).toBe('k1');
    expect(Buffer.from(keys.rows[0]?.wrapped as Uint8Array).length).toBe(61);

    const second = await vault.upload(CAMILLE, { type: 'other', fileName: 'scan.png', bytes: pngBytes() }, NOW + 1);
    expect(await rowCount(store, 'vault_keys')).toBe(1);
    const opened = await vault.download(CAMILLE, doc.id, clock.nowMs());
    expect(opened.bytes.equals(bytes)).toBe(true);
    expect(opened.document).toEqual(doc);
    expect((await vault.list(CAMILLE, NOW)).map((d) => d.id)).toEqual([second.id, doc.id]);
  });

  it('answers another citizen exactly like a missing document and audits not-owner in the owner’s log', async () => {
    const { vault } = await setup();
    const doc = await vault.upload(CAMILLE, { type: 'identity-card', fileName: 'cni.pdf', bytes: pdfBytes() }, NOW);
    const share = await vault.share(CAMILLE, doc.id, { service: 'etat-civil' }, NOW);
    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['download', () => vault.download(LUCAS, doc.id, NOW)],
      ['delete', () => vault.remove(LUCAS, doc.id, NOW)],
      ['share', () => vault.share(LUCAS, doc.id, { service: 'etat-civil' }, NOW)],
      ['list', () => vault.shares(LUCAS, doc.id, NOW)],
      ['revoke', () => vault.revoke(LUCAS, doc.id, share.nonce, NOW)],
    ];
    for (const [action, attempt] of attempts) {
      await expect(attempt(), action).rejects.toMatchObject({ code: 'ERR_VAULT_DOCUMENT_NOT_FOUND' });
    }
    for (const missing of ['3f0c7a52-8d1e-4b7a-9a51-2f5a8c9e0d11', 'not-a-uuid', "'; DROP TABLE vault_documents"]) {
      await expect(vault.download(LUCAS, missing, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_DOCUMENT_NOT_FOUND' });
    }
    expect(await auditTrail(vault, CAMILLE)).toEqual([
      'upload:owner:allowed',
      'share:owner:allowed',
      'download:citizen:202:denied:not-owner',
      'delete:citizen:202:denied:not-owner',
      'share:citizen:202:denied:not-owner',
      'list:citizen:202:denied:not-owner',
      'revoke:citizen:202:denied:not-owner',
    ]);
    expect(await vault.auditLog(LUCAS)).toEqual([]);
    // Nothing changed: the owner still reads it, and the link still opens.
    expect((await vault.download(CAMILLE, doc.id, NOW)).bytes.length).toBe(doc.sizeBytes);
    expect((await vault.openShared(share.token, NOW)).document.id).toBe(doc.id);
  });

  it('detects a flipped byte or a swapped blob in the table, returns nothing and audits tampered', async () => {
    const { store, vault } = await setup();
    const a = await vault.upload(CAMILLE, { type: 'other', fileName: 'a.pdf', bytes: pdfBytes('aaaa') }, NOW);
    const b = await vault.upload(CAMILLE, { type: 'other', fileName: 'b.pdf', bytes: pdfBytes('bbbb') }, NOW);
    const share = await vault.share(CAMILLE, a.id, { service: 'etat-civil' }, NOW);
    await store.query('UPDATE vault_documents SET blob = set_byte(blob, 20, get_byte(blob, 20) # 1) WHERE id = $1', [
      a.id,
    ]);
    await expect(vault.download(CAMILLE, a.id, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
    await expect(vault.openShared(share.token, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
    // A blob valid for another document of the same citizen is refused too (its id is bound in the AAD).
    await store.query(
      'UPDATE vault_documents SET blob = (SELECT blob FROM vault_documents WHERE id = $2) WHERE id = $1',
      [a.id, b.id],
    );
    await expect(vault.download(CAMILLE, a.id, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
    expect((await auditTrail(vault, CAMILLE)).slice(-3)).toEqual([
      'download:owner:failed:tampered',
      'share-download:service:etat-civil:failed:tampered',
      'download:owner:failed:tampered',
    ]);
    expect((await vault.download(CAMILLE, b.id, NOW)).bytes.toString('latin1')).toContain('bbbb');
  });

  it('cannot decrypt under a wrong master key or without the key that wrapped the data key, and rotates by rewrapping', async () => {
    const { store, config, vault } = await setup();
    const bytes = pdfBytes();
    const doc = await vault.upload(CAMILLE, { type: 'other', fileName: 'x.pdf', bytes }, NOW);
    const k1 = config.masterKeys as string;

    const sameIdOtherBytes = createVaultStore(store, { config: vaultConfig({ masterKeys: masterKey('k1') }) });
    await expect(sameIdOtherBytes.download(CAMILLE, doc.id, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
    const k2 = masterKey('k2');
    const onlyK2 = createVaultStore(store, { config: vaultConfig({ masterKeys: k2 }) });
    await expect(onlyK2.download(CAMILLE, doc.id, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_KEY_UNKNOWN' });
    expect((await auditTrail(vault, CAMILLE)).slice(-2)).toEqual([
      'download:owner:failed:tampered',
      'download:owner:failed:key-unknown',
    ]);

    // Rotation: the new key first, rewrap every data key, then the old key can go.
    const both = createVaultStore(store, { config: vaultConfig({ masterKeys: `${k2},${k1}` }) });
    expect(await both.rewrapKeys(NOW + HOUR_MS)).toBe(1);
    expect(await both.rewrapKeys(NOW + HOUR_MS)).toBe(0);
    expect((await onlyK2.download(CAMILLE, doc.id, NOW)).bytes.equals(bytes)).toBe(true);
    await expect(vault.download(CAMILLE, doc.id, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_KEY_UNKNOWN' });
    expect(() => createVaultStore(store, { config: vaultConfig({ masterKeys: undefined }) })).toThrow(
      expect.objectContaining({ code: 'ERR_VAULT_KEY_INVALID' }),
    );
  });

  it('opens a live link for its service and refuses it once expired, revoked, forged or its document deleted, auditing each', async () => {
    const { store, config, vault, clock } = await setup();
    const bytes = pdfBytes();
    const doc = await vault.upload(CAMILLE, { type: 'birth-certificate', fileName: 'acte.pdf', bytes }, clock.nowMs());
    const link = await vault.share(CAMILLE, doc.id, { service: 'etat-civil', ttlSeconds: 3600 }, clock.nowMs());
    expect(link).toMatchObject({
      documentId: doc.id,
      service: 'etat-civil',
      expiresMs: NOW + HOUR_MS,
      revokedMs: null,
    });
    expect(link.token.startsWith('vs1.k1.')).toBe(true);

    const opened = await vault.openShared(link.token, clock.nowMs());
    expect(opened.bytes.equals(bytes)).toBe(true);
    expect(opened.service).toBe('etat-civil');

    clock.advance(HOUR_MS - 1);
    expect((await vault.openShared(link.token, clock.nowMs())).document.id).toBe(doc.id);
    clock.advance(1);
    await expect(vault.openShared(link.token, clock.nowMs())).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_EXPIRED',
    });

    const revoked = await vault.share(CAMILLE, doc.id, { service: 'urbanisme' }, clock.nowMs());
    expect(revoked.expiresMs).toBe(clock.nowMs() + config.shareLinkDefaultTtlSeconds * 1000);
    const first = await vault.revoke(CAMILLE, doc.id, revoked.nonce, clock.nowMs());
    expect(first.revokedMs).toBe(clock.nowMs());
    clock.advance(1000);
    expect((await vault.revoke(CAMILLE, doc.id, revoked.nonce, clock.nowMs())).revokedMs).toBe(first.revokedMs);
    await expect(vault.openShared(revoked.token, clock.nowMs())).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_REVOKED',
    });
    await expect(vault.revoke(CAMILLE, doc.id, 'AAAAAAAAAAAAAAAAAAAAAA', clock.nowMs())).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_NOT_FOUND',
    });

    // Forged: one character of the MAC changed; malformed: not a token at all. Nobody's log: no owner is trusted.
    const last = revoked.token.at(-1) === 'A' ? 'B' : 'A';
    for (const token of [`${revoked.token.slice(0, -1)}${last}`, 'vs1.garbage']) {
      await expect(vault.openShared(token, clock.nowMs())).rejects.toMatchObject({ code: 'ERR_VAULT_SHARE_NOT_FOUND' });
    }
    const anonymous = await store.query<{ reason: string }>(
      "SELECT reason FROM vault_audit WHERE citizen_id IS NULL AND actor = 'anonymous' ORDER BY id",
    );
    expect(anonymous.rows.map((r) => r.reason)).toEqual(['bad-signature', 'malformed']);

    // Authentic (signed with the master key) but never made by the store: no such nonce.
    const stray = createShareLinks(createMasterKeyring(config.masterKeys as string)).issue({
      documentId: doc.id,
      service: 'etat-civil',
      expiresAtMs: clock.nowMs() + HOUR_MS,
    });
    await expect(vault.openShared(stray.token, clock.nowMs())).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_NOT_FOUND',
    });

    const live = await vault.share(CAMILLE, doc.id, { service: 'etat-civil', ttlSeconds: 600 }, clock.nowMs());
    expect((await vault.shares(CAMILLE, doc.id, clock.nowMs())).map((s) => [s.nonce, s.revokedMs !== null])).toEqual([
      [live.nonce, false],
      [revoked.nonce, true],
    ]);
    await expect(
      vault.share(CAMILLE, doc.id, { service: 'etat-civil', ttlSeconds: config.shareLinkMaxTtlSeconds + 1 }, NOW),
    ).rejects.toMatchObject({ code: 'ERR_VAULT_SHARE_INVALID' });
    await expect(vault.share(CAMILLE, doc.id, { service: 'État Civil' }, NOW)).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_INVALID',
    });
    await vault.remove(CAMILLE, doc.id, clock.nowMs());
    await expect(vault.openShared(live.token, clock.nowMs())).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_NOT_FOUND',
    });
    expect(await rowCount(store, 'vault_shares')).toBe(0);

    expect(await auditTrail(vault, CAMILLE)).toEqual([
      'upload:owner:allowed',
      'share:owner:allowed',
      'share-download:service:etat-civil:allowed',
      'share-download:service:etat-civil:allowed',
      'share-download:service:etat-civil:denied:expired',
      'share:owner:allowed',
      'revoke:owner:allowed',
      'revoke:owner:allowed',
      'share-download:service:urbanisme:denied:revoked',
      'revoke:owner:denied:not-found',
      'share-download:service:etat-civil:denied:not-found',
      'share:owner:allowed',
      'list:owner:allowed',
      'delete:owner:allowed',
    ]);
    // The document is gone, so the last refusal names no owner, only the document.
    const orphan = await store.query<{ document_id: string; reason: string }>(
      "SELECT document_id, reason FROM vault_audit WHERE citizen_id IS NULL AND actor = 'service:etat-civil'",
    );
    expect(orphan.rows).toEqual([{ document_id: doc.id, reason: 'not-found' }]);
  });

  it('keeps at most the live links allowed per document and purges expired ones when sharing again', async () => {
    const { store, vault } = await setup();
    const doc = await vault.upload(CAMILLE, { type: 'other', fileName: 'x.pdf', bytes: pdfBytes() }, NOW);
    for (let i = 0; i < MAX_LIVE_SHARES_PER_DOCUMENT; i++) {
      await vault.share(CAMILLE, doc.id, { service: 'etat-civil', ttlSeconds: 60 }, NOW);
    }
    await expect(vault.share(CAMILLE, doc.id, { service: 'etat-civil' }, NOW)).rejects.toMatchObject({
      code: 'ERR_VAULT_LIMIT_CONFLICT',
    });
    expect((await auditTrail(vault, CAMILLE)).at(-1)).toBe('share:owner:denied:limit');
    await vault.share(CAMILLE, doc.id, { service: 'etat-civil' }, NOW + 60_000);
    expect(await rowCount(store, 'vault_shares')).toBe(1);
  });

  it('refuses an upload too large, of another type or past the citizen’s limit, auditing each', async () => {
    const { vault } = await setup('pglite', { maxDocumentBytes: 64 * 1024, maxDocumentsPerCitizen: 2 });
    const big = Buffer.concat([pdfBytes(), Buffer.alloc(64 * 1024)]);
    await expect(vault.upload(CAMILLE, { type: 'other', fileName: 'big.pdf', bytes: big }, NOW)).rejects.toMatchObject({
      code: 'ERR_VAULT_DOCUMENT_TOO_LARGE',
    });
    await expect(
      vault.upload(CAMILLE, { type: 'other', fileName: 'doc.pdf', bytes: Buffer.from('<html>') }, NOW),
    ).rejects.toMatchObject({ code: 'ERR_VAULT_DOCUMENT_UNSUPPORTED' });
    await vault.upload(CAMILLE, { type: 'other', fileName: 'a.pdf', bytes: pdfBytes() }, NOW);
    await vault.upload(CAMILLE, { type: 'other', fileName: 'b.png', bytes: pngBytes() }, NOW);
    await expect(
      vault.upload(CAMILLE, { type: 'other', fileName: 'c.pdf', bytes: pdfBytes() }, NOW),
    ).rejects.toMatchObject({ code: 'ERR_VAULT_LIMIT_CONFLICT' });
    expect(await auditTrail(vault, CAMILLE)).toEqual([
      'upload:owner:denied:too-large',
      'upload:owner:denied:unsupported',
      'upload:owner:allowed',
      'upload:owner:allowed',
      'upload:owner:denied:limit',
    ]);
    expect(await vault.list(CAMILLE, NOW)).toHaveLength(2);
  });

  it('records every access in the owner’s log, newest first, in pages', async () => {
    const { vault } = await setup();
    const doc = await vault.upload(CAMILLE, { type: 'other', fileName: 'x.pdf', bytes: pdfBytes() }, NOW);
    await vault.list(CAMILLE, NOW + 1);
    await vault.download(CAMILLE, doc.id, NOW + 2);
    const link = await vault.share(CAMILLE, doc.id, { service: 'caf-mulhouse' }, NOW + 3);
    await vault.openShared(link.token, NOW + 4);
    await vault.shares(CAMILLE, doc.id, NOW + 5);
    await vault.revoke(CAMILLE, doc.id, link.nonce, NOW + 6);
    await vault.remove(CAMILLE, doc.id, NOW + 7);
    const log = await vault.auditLog(CAMILLE);
    expect(log.map((e) => [e.action, e.actor, e.at])).toEqual([
      ['delete', 'owner', new Date(NOW + 7).toISOString()],
      ['revoke', 'owner', new Date(NOW + 6).toISOString()],
      ['list', 'owner', new Date(NOW + 5).toISOString()],
      ['share-download', 'service:caf-mulhouse', new Date(NOW + 4).toISOString()],
      ['share', 'owner', new Date(NOW + 3).toISOString()],
      ['download', 'owner', new Date(NOW + 2).toISOString()],
      ['list', 'owner', new Date(NOW + 1).toISOString()],
      ['upload', 'owner', new Date(NOW).toISOString()],
    ]);
    expect(log[0]).toEqual({
      id: expect.any(Number),
      at: new Date(NOW + 7).toISOString(),
      citizenId: String(CAMILLE),
      documentId: doc.id,
      action: 'delete',
      actor: 'owner',
      outcome: 'allowed',
    });
    expect(log[6]).not.toHaveProperty('documentId');
    const page = await vault.auditLog(CAMILLE, { limit: 3, beforeId: log[2]?.id });
    expect(page.map((e) => e.id)).toEqual(log.slice(3, 6).map((e) => e.id));
  });

  it('erases an account key first: documents and links go, the log stays, and a restored blob can never be read', async () => {
    const { store, vault } = await setup();
    const doc = await vault.upload(CAMILLE, { type: 'tax-notice', fileName: 'avis.pdf', bytes: pdfBytes() }, NOW);
    const link = await vault.share(CAMILLE, doc.id, { service: 'etat-civil' }, NOW);
    const kept = await vault.upload(LUCAS, { type: 'other', fileName: 'l.pdf', bytes: pdfBytes() }, NOW);
    // A backup of the documents table taken before the deletion.
    const backup = await store.query('SELECT * FROM vault_documents WHERE citizen_id = $1', [CAMILLE]);

    const erased = await store.transaction((tx) => eraseVaultAccount(tx, CAMILLE, NOW + HOUR_MS));
    expect(erased).toBe(1);
    expect(await rowCount(store, 'vault_keys WHERE citizen_id = $1', [CAMILLE])).toBe(0);
    expect(await rowCount(store, 'vault_documents WHERE citizen_id = $1', [CAMILLE])).toBe(0);
    expect(await rowCount(store, 'vault_shares WHERE citizen_id = $1', [CAMILLE])).toBe(0);
    expect(await auditTrail(vault, CAMILLE)).toEqual([
      'upload:owner:allowed',
      'share:owner:allowed',
      'account-delete:owner:allowed',
    ]);
    await expect(vault.openShared(link.token, NOW + HOUR_MS)).rejects.toMatchObject({
      code: 'ERR_VAULT_SHARE_NOT_FOUND',
    });
    expect((await vault.download(LUCAS, kept.id, NOW)).document.id).toBe(kept.id);

    // The backup restored: no key to open it — and a new key (a later upload) cannot open it either.
    const row = backup.rows[0] as Record<string, unknown>;
    const restore = () =>
      store.query(
        `INSERT INTO vault_documents (id, citizen_id, type, file_name, content_type, size_bytes, blob, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [row.id, row.citizen_id, row.type, row.file_name, row.content_type, row.size_bytes, row.blob, row.created_at],
      );
    await restore();
    await expect(vault.download(CAMILLE, doc.id, NOW + HOUR_MS)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
    await vault.upload(CAMILLE, { type: 'other', fileName: 'new.pdf', bytes: pdfBytes() }, NOW + HOUR_MS);
    await expect(vault.download(CAMILLE, doc.id, NOW + HOUR_MS)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of the audit log, leaving its rows as they were', async () => {
    const { store, vault } = await setup();
    await vault.list(CAMILLE, NOW);
    await expect(store.query("UPDATE vault_audit SET outcome = 'denied', reason = 'expired'")).rejects.toThrow(
      /append-only/,
    );
    await expect(store.query('DELETE FROM vault_audit')).rejects.toThrow(/append-only/);
    await expect(store.query('TRUNCATE vault_audit')).rejects.toThrow(/append-only/);
    await expect(store.transaction((tx) => eraseVaultAccount(tx, CAMILLE, NOW))).resolves.toBe(0);
    expect(await auditTrail(vault, CAMILLE)).toEqual(['list:owner:allowed', 'account-delete:owner:allowed']);
  });
});

describe('vault store on postgres', () => {
  it('makes one data key when first uploads run at once, detects tampering and keeps the log append-only', async () => {
    const { store, vault } = await setup('postgres');
    const uploads = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        vault.upload(CAMILLE, { type: 'other', fileName: `p${i}.pdf`, bytes: pdfBytes(`page ${i}`) }, NOW + i),
      ),
    );
    expect(await rowCount(store, 'vault_keys')).toBe(1);
    for (const [i, doc] of uploads.entries()) {
      expect((await vault.download(CAMILLE, doc.id, NOW)).bytes.toString('latin1')).toContain(`page ${i}`);
    }
    const target = uploads[0]?.id as string;
    await expect(vault.download(LUCAS, target, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_DOCUMENT_NOT_FOUND' });
    await store.query('UPDATE vault_documents SET blob = set_byte(blob, 40, get_byte(blob, 40) # 128) WHERE id = $1', [
      target,
    ]);
    await expect(vault.download(CAMILLE, target, NOW)).rejects.toMatchObject({ code: 'ERR_VAULT_TAMPERED' });
    const trail = await auditTrail(vault, CAMILLE);
    expect(trail.filter((t) => t === 'upload:owner:allowed')).toHaveLength(6);
    expect(trail.slice(-2)).toEqual(['download:citizen:202:denied:not-owner', 'download:owner:failed:tampered']);
    await expect(store.query('DELETE FROM vault_audit')).rejects.toThrow(/append-only/);
    await expect(store.query("UPDATE vault_audit SET actor = 'owner'")).rejects.toThrow(/append-only/);
    const erased = await store.transaction((tx) => eraseVaultAccount(tx, CAMILLE, NOW));
    expect(erased).toBe(6);
    await expect(vault.download(CAMILLE, uploads[1]?.id as string, NOW)).rejects.toMatchObject({
      code: 'ERR_VAULT_DOCUMENT_NOT_FOUND',
    });
  });
});
