import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { ManualClock } from '../../core/clock.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { httpMigrations } from '../http/index.ts';
import { residentsMigrations } from '../residents/index.ts';
import { type Browser, startResidentsServer } from '../residents/test-helpers.ts';
import { createVault, vaultMigrations } from './index.ts';
import { pdfBytes, pngBytes, vaultConfig } from './test-helpers.ts';

const NOW = Date.parse('2026-11-04T09:00:00.000Z');
const email = () => `citizen-${randomBytes(4).toString('hex')}@example.org`;

type Part =
  | { readonly name: string; readonly value: string }
  | { readonly name: string; readonly filename: string; readonly contentType: string; readonly bytes: Buffer };

/** A multipart/form-data body, as a browser's form sends it. */
function multipart(parts: readonly Part[]): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----vigie${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const head =
      'value' in part
        ? `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n`
        : `--${boundary}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\n` +
          `Content-Type: ${part.contentType}\r\n\r\n`;
    chunks.push(Buffer.from(head, 'utf8'), 'value' in part ? Buffer.from(part.value, 'utf8') : part.bytes);
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    payload: Buffer.concat(chunks),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  };
}

const documentForm = (type: string, bytes: Buffer, filename = 'document.pdf', contentType = 'application/pdf') =>
  multipart([
    { name: 'type', value: type },
    { name: 'file', filename, contentType, bytes },
  ]);

async function setup(engine: 'pglite' | 'postgres' = 'pglite', overrides: Parameters<typeof vaultConfig>[0] = {}) {
  const store = await openTestStore(engine, [alertingMigrations, httpMigrations, residentsMigrations, vaultMigrations]);
  const clock = new ManualClock(NOW);
  const vault = createVault({
    store,
    config: vaultConfig(overrides),
    clock,
    publicUrl: 'https://vigie.example.org/',
  });
  const server = await startResidentsServer({
    store,
    clock,
    citizenPlugins: [vault.citizenRoutes],
    accountErasers: [vault.eraser],
    plugins: [vault.sharedRoutes],
  });
  const idOf = async (browser: Browser) => {
    const res = await store.query<{ id: number }>('SELECT id FROM residents_accounts WHERE address = $1', [
      browser.address,
    ]);
    return Number(res.rows[0]?.id);
  };
  const upload = async (
    as: Browser,
    type: string,
    bytes: Buffer,
    filename?: string,
  ): Promise<Record<string, unknown>> => {
    const res = await server.call('POST', '/api/me/documents', { as, ...documentForm(type, bytes, filename) });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body;
  };
  return { ...server, store, idOf, upload };
}

const sharedPath = (url: unknown) => new URL(String(url)).pathname;

describe('vault routes', () => {
  it('uploads, lists, downloads and deletes a document behind the session and its CSRF token, never cached', async () => {
    const { call, signIn, upload } = await setup();
    const camille = await signIn(email());
    const bytes = pdfBytes('impots 2026');
    const form = documentForm('tax-notice', bytes, 'Avis d’impôt 2026.pdf');
    expect((await call('POST', '/api/me/documents', form)).status).toBe(401);
    expect((await call('POST', '/api/me/documents', { as: camille, csrf: null, ...form })).status).toBe(403);

    const doc = await upload(camille, 'tax-notice', bytes, 'Avis d’impôt 2026.pdf');
    expect(doc).toEqual({
      id: expect.any(String),
      type: 'tax-notice',
      typeLabel: 'Avis d’imposition',
      fileName: 'Avis d’impôt 2026.pdf',
      contentType: 'application/pdf',
      sizeBytes: bytes.length,
      createdAt: new Date(NOW).toISOString(),
    });
    const list = await call('GET', '/api/me/documents', { as: camille });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ documents: [doc] });
    expect((await call('GET', '/api/me/documents')).status).toBe(401);

    const download = await call('GET', `/api/me/documents/${doc.id}`, { as: camille });
    expect(download.status).toBe(200);
    expect(download.raw.equals(bytes)).toBe(true);
    expect(download.headers).toMatchObject({
      'content-type': 'application/pdf',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'content-disposition': `attachment; filename="Avis d_impot 2026.pdf"; filename*=UTF-8''Avis%20d%E2%80%99imp%C3%B4t%202026.pdf`,
    });

    expect((await call('DELETE', `/api/me/documents/${doc.id}`, { as: camille, csrf: null })).status).toBe(403);
    expect((await call('DELETE', `/api/me/documents/${doc.id}`, { as: camille })).status).toBe(204);
    const gone = await call('GET', `/api/me/documents/${doc.id}`, { as: camille });
    expect(gone.status).toBe(404);
    expect(gone.body).toMatchObject({ error: { code: 'ERR_VAULT_DOCUMENT_NOT_FOUND' } });
  });

  it('answers another citizen 404 like a missing id and records the attempt in the owner’s audit log only', async () => {
    const { call, signIn, upload, idOf } = await setup();
    const camille = await signIn(email());
    const lucas = await signIn(email());
    const doc = await upload(camille, 'identity-card', pngBytes(), 'cni.png');
    const missing = '3f0c7a52-8d1e-4b7a-9a51-2f5a8c9e0d11';
    for (const [method, path, json] of [
      ['GET', '', undefined],
      ['DELETE', '', undefined],
      ['POST', '/share', { service: 'etat-civil' }],
      ['GET', '/shares', undefined],
    ] as const) {
      const theirs = await call(method, `/api/me/documents/${doc.id}${path}`, { as: lucas, json });
      const none = await call(method, `/api/me/documents/${missing}${path}`, { as: lucas, json });
      expect([theirs.status, none.status], `${method} ${path}`).toEqual([404, 404]);
      expect(theirs.body).toMatchObject({ error: { code: 'ERR_VAULT_DOCUMENT_NOT_FOUND' } });
      expect(none.body).toMatchObject({ error: { code: 'ERR_VAULT_DOCUMENT_NOT_FOUND' } });
    }
    const lucasId = await idOf(lucas);
    const log = await call('GET', '/api/me/audit', { as: camille });
    expect(log.status).toBe(200);
    const events = (log.body.events as Array<Record<string, unknown>>).reverse();
    expect(events.map((e) => [e.action, e.actor, e.outcome, e.reason])).toEqual([
      ['upload', 'owner', 'allowed', undefined],
      ['download', `citizen:${lucasId}`, 'denied', 'not-owner'],
      ['delete', `citizen:${lucasId}`, 'denied', 'not-owner'],
      ['share', `citizen:${lucasId}`, 'denied', 'not-owner'],
      ['list', `citizen:${lucasId}`, 'denied', 'not-owner'],
    ]);
    expect(events.every((e) => e.citizenId === String(events[0]?.citizenId) && e.citizenId !== String(lucasId))).toBe(
      true,
    );
    expect((await call('GET', '/api/me/audit', { as: lucas })).body).toEqual({ events: [] });
    // Still there, still the owner's.
    expect((await call('GET', `/api/me/documents/${doc.id}`, { as: camille })).status).toBe(200);
  });

  it('answers 500 ERR_VAULT_TAMPERED with no bytes when the stored blob was altered, and audits it', async () => {
    const { call, signIn, upload, store } = await setup();
    const camille = await signIn(email());
    const doc = await upload(camille, 'other', pdfBytes('secret'));
    await store.query('UPDATE vault_documents SET blob = set_byte(blob, 30, get_byte(blob, 30) # 4) WHERE id = $1', [
      doc.id,
    ]);
    const res = await call('GET', `/api/me/documents/${doc.id}`, { as: camille });
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({ error: { code: 'ERR_VAULT_TAMPERED' } });
    expect(res.raw.toString('latin1')).not.toContain('secret');
    const events = (await call('GET', '/api/me/audit', { as: camille })).body.events as Array<Record<string, unknown>>;
    expect(events[0]).toMatchObject({ action: 'download', outcome: 'failed', reason: 'tampered', documentId: doc.id });
  });

  it('refuses another type with 415, a file too large with 413 and a form without type or file with 400, auditing refusals', async () => {
    const { call, signIn } = await setup('pglite', { maxDocumentBytes: 64 * 1024 });
    const camille = await signIn(email());
    const html = await call('POST', '/api/me/documents', {
      as: camille,
      ...documentForm('other', Buffer.from('<html><script>alert(1)</script>'), 'x.pdf'),
    });
    expect(html.status).toBe(415);
    expect(html.body).toMatchObject({ error: { code: 'ERR_VAULT_DOCUMENT_UNSUPPORTED' } });
    const big = await call('POST', '/api/me/documents', {
      as: camille,
      ...documentForm('other', Buffer.concat([pdfBytes(), Buffer.alloc(64 * 1024)])),
    });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: { code: 'ERR_VAULT_DOCUMENT_TOO_LARGE' } });
    const noType = await call('POST', '/api/me/documents', {
      as: camille,
      ...multipart([{ name: 'file', filename: 'a.pdf', contentType: 'application/pdf', bytes: pdfBytes() }]),
    });
    expect(noType.status).toBe(400);
    expect(noType.body).toMatchObject({ error: { code: 'ERR_HTTP_VALIDATION', issues: [{ path: 'body.type' }] } });
    const noFile = await call('POST', '/api/me/documents', {
      as: camille,
      ...multipart([{ name: 'type', value: 'other' }]),
    });
    expect(noFile.status).toBe(400);
    expect(noFile.body).toMatchObject({ error: { issues: [{ path: 'body.file' }] } });
    const json = await call('POST', '/api/me/documents', { as: camille, json: { type: 'other' } });
    expect(json.status).toBe(415);
    expect((await call('GET', '/api/me/documents', { as: camille })).body).toEqual({ documents: [] });
    const events = (await call('GET', '/api/me/audit', { as: camille })).body.events as Array<Record<string, unknown>>;
    expect(events.map((e) => e.reason).reverse()).toEqual(['unsupported', 'too-large', undefined]);
  });

  it('lets a city service open a shared link until it expires or is revoked, refuses a forged one, and audits each', async () => {
    const { call, signIn, upload, clock } = await setup();
    const camille = await signIn(email());
    const bytes = pdfBytes('acte de naissance');
    const doc = await upload(camille, 'birth-certificate', bytes, 'acte.pdf');
    const shared = await call('POST', `/api/me/documents/${doc.id}/share`, {
      as: camille,
      json: { service: 'etat-civil', ttlSeconds: 600 },
    });
    expect(shared.status).toBe(201);
    expect(shared.body).toMatchObject({
      documentId: doc.id,
      service: 'etat-civil',
      createdAt: new Date(NOW).toISOString(),
      expiresAt: new Date(NOW + 600_000).toISOString(),
      revokedAt: null,
    });
    expect(String(shared.body.url)).toBe(`https://vigie.example.org/api/vault/shared/${shared.body.token}`);

    // 1. The service opens it: no cookie, no token but the link.
    const opened = await call('GET', sharedPath(shared.body.url));
    expect(opened.status).toBe(200);
    expect(opened.raw.equals(bytes)).toBe(true);
    expect(opened.headers).toMatchObject({
      'content-type': 'application/pdf',
      'cache-control': 'no-store',
      'x-document-type': 'birth-certificate',
    });
    // 2. Expired: 410.
    clock.advance(600_000);
    const expired = await call('GET', sharedPath(shared.body.url));
    expect(expired.status).toBe(410);
    expect(expired.body).toMatchObject({ error: { code: 'ERR_VAULT_SHARE_EXPIRED' } });
    // 3. Revoked: 410; revoking needs the CSRF token; another nonce is 404.
    const again = await call('POST', `/api/me/documents/${doc.id}/share`, { as: camille, json: { service: 'caf' } });
    expect(again.body.expiresAt).toBe(new Date(clock.nowMs() + 86_400_000).toISOString());
    const revokePath = `/api/me/documents/${doc.id}/shares/${again.body.nonce}`;
    expect((await call('DELETE', revokePath, { as: camille, csrf: null })).status).toBe(403);
    expect((await call('DELETE', revokePath, { as: camille })).status).toBe(204);
    const revoked = await call('GET', sharedPath(again.body.url));
    expect(revoked.status).toBe(410);
    expect(revoked.body).toMatchObject({ error: { code: 'ERR_VAULT_SHARE_REVOKED' } });
    expect((await call('DELETE', `/api/me/documents/${doc.id}/shares/nope`, { as: camille })).status).toBe(404);
    const shares = await call('GET', `/api/me/documents/${doc.id}/shares`, { as: camille });
    expect(shares.body).toEqual({
      shares: [expect.objectContaining({ nonce: again.body.nonce, revokedAt: new Date(clock.nowMs()).toISOString() })],
    });
    // 4. Forged: 404, like anything else unknown.
    const token = String(again.body.token);
    const forged = await call('GET', `/api/vault/shared/${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`);
    expect(forged.status).toBe(404);
    expect(forged.body).toMatchObject({ error: { code: 'ERR_VAULT_SHARE_NOT_FOUND' } });
    expect((await call('GET', '/api/vault/shared/x')).status).toBe(404);
    // 5. A bad lifetime or service name: 400.
    const tooLong = await call('POST', `/api/me/documents/${doc.id}/share`, {
      as: camille,
      json: { service: 'caf', ttlSeconds: 30 * 86_400 },
    });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ error: { code: 'ERR_VAULT_SHARE_INVALID' } });
    expect(
      (await call('POST', `/api/me/documents/${doc.id}/share`, { as: camille, json: { service: 'État civil' } }))
        .status,
    ).toBe(400);

    const events = (await call('GET', '/api/me/audit', { as: camille })).body.events as Array<Record<string, unknown>>;
    expect(events.reverse().map((e) => [e.action, e.actor, e.reason])).toEqual([
      ['upload', 'owner', undefined],
      ['share', 'owner', undefined],
      ['share-download', 'service:etat-civil', undefined],
      ['share-download', 'service:etat-civil', 'expired'],
      ['share', 'owner', undefined],
      ['revoke', 'owner', undefined],
      ['share-download', 'service:caf', 'revoked'],
      ['revoke', 'owner', 'not-found'],
      ['list', 'owner', undefined],
    ]);
  });

  it('limits link openings per IP address with 429 when one address opens too many', async () => {
    const { call, signIn, upload } = await setup('pglite', { sharedOpensPerHourPerIp: 2 });
    const camille = await signIn(email());
    const doc = await upload(camille, 'other', pdfBytes());
    const link = await call('POST', `/api/me/documents/${doc.id}/share`, { as: camille, json: { service: 'caf' } });
    const path = sharedPath(link.body.url);
    expect((await call('GET', path, { ip: '203.0.113.7' })).status).toBe(200);
    expect((await call('GET', path, { ip: '203.0.113.7' })).status).toBe(200);
    const limited = await call('GET', path, { ip: '203.0.113.7' });
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: { code: 'ERR_VAULT_RATE_LIMITED' } });
    expect((await call('GET', path, { ip: '203.0.113.8' })).status).toBe(200);
  });

  it('lists the vault routes in the OpenAPI document when the server is ready', async () => {
    const { app } = await setup();
    const res = await app.inject({ method: 'GET', url: '/docs/json' });
    const paths = Object.keys((JSON.parse(res.body) as { paths: Record<string, unknown> }).paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/me/documents',
        '/api/me/documents/{id}',
        '/api/me/documents/{id}/share',
        '/api/me/documents/{id}/shares',
        '/api/me/documents/{id}/shares/{nonce}',
        '/api/me/audit',
        '/api/vault/shared/{*}',
      ]),
    );
  });
});

describe('vault routes on postgres', () => {
  it('destroys the key when the account is deleted: documents and links are gone and the audit log stays', async () => {
    const { call, signIn, upload, store, idOf } = await setup('postgres');
    const camille = await signIn(email());
    const lucas = await signIn(email());
    const id = await idOf(camille);
    const doc = await upload(camille, 'proof-of-address', pdfBytes());
    const kept = await upload(lucas, 'other', pdfBytes());
    const link = await call('POST', `/api/me/documents/${doc.id}/share`, { as: camille, json: { service: 'caf' } });
    expect((await call('GET', sharedPath(link.body.url))).status).toBe(200);

    expect((await call('DELETE', '/api/me/account', { as: camille })).status).toBe(204);
    for (const table of ['vault_keys', 'vault_documents', 'vault_shares']) {
      const rows = await store.query(`SELECT 1 FROM ${table} WHERE citizen_id = $1`, [id]);
      expect(rows.rows, table).toHaveLength(0);
    }
    const audit = await store.query<{ action: string }>(
      'SELECT action FROM vault_audit WHERE citizen_id = $1 ORDER BY id',
      [id],
    );
    expect(audit.rows.map((r) => r.action)).toEqual(['upload', 'share', 'share-download', 'account-delete']);
    expect((await call('GET', sharedPath(link.body.url))).status).toBe(404);
    expect((await call('GET', `/api/me/documents/${doc.id}`, { as: camille })).status).toBe(401);
    expect((await call('GET', `/api/me/documents/${kept.id}`, { as: lucas })).status).toBe(200);
  });
});
