import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { createOperatorTokens, roleAllows } from './auth.ts';
import { httpMigrations } from './index.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');

async function failure(promise: Promise<unknown>): Promise<AppError | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => err as AppError,
  );
}

describe('operator tokens', () => {
  async function pglite(): Promise<SqlStore> {
    const store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations]);
    onTestFinished(() => store.close());
    return store;
  }

  it('orders roles viewer < operator < admin', () => {
    expect(roleAllows('admin', 'operator')).toBe(true);
    expect(roleAllows('operator', 'operator')).toBe(true);
    expect(roleAllows('operator', 'admin')).toBe(false);
    expect(roleAllows('viewer', 'operator')).toBe(false);
  });

  it('verifies a created token and refuses a wrong secret, another id, a malformed or a revoked token', async () => {
    const store = await pglite();
    const clock = new ManualClock(T0);
    const tokens = createOperatorTokens(store, { clock });
    const { token, info } = await tokens.create('alice', 'operator');
    expect(info).toEqual({
      id: expect.any(Number),
      name: 'alice',
      role: 'operator',
      createdAt: new Date(T0).toISOString(),
      lastUsedAt: null,
      revokedAt: null,
    });
    // The secret is base64url: it may itself hold '_'.
    const [, id, secret] = /^vigie_(\d+)_(.+)$/.exec(token) as unknown as [string, string, string];
    expect(await tokens.verify(token)).toEqual({ tokenId: info.id, name: 'alice', role: 'operator' });
    const other = secret.startsWith('A') ? `B${secret.slice(1)}` : `A${secret.slice(1)}`;
    expect(await tokens.verify(`vigie_${id}_${other}`)).toBeUndefined();
    expect(await tokens.verify(`vigie_${Number(id) + 1}_${secret}`)).toBeUndefined();
    expect(await tokens.verify(`${token}x`)).toBeUndefined();
    expect(await tokens.verify('')).toBeUndefined();
    expect((await tokens.list())[0]?.lastUsedAt).toBe(new Date(T0).toISOString());

    clock.advance(1000);
    expect(await tokens.revoke({ id: info.id })).toMatchObject({ revokedAt: new Date(T0 + 1000).toISOString() });
    expect(await tokens.verify(token)).toBeUndefined();
    expect(await tokens.revoke({ id: info.id })).toBeUndefined();
    expect(await tokens.list()).toEqual([]);
    expect(await tokens.list({ includeRevoked: true })).toHaveLength(1);
    // The name is free again once revoked.
    expect((await tokens.create('alice', 'viewer')).info.role).toBe('viewer');
  });

  it('stores only a hash, and refuses a bad name or an active name twice', async () => {
    const store = await pglite();
    const tokens = createOperatorTokens(store);
    const { token } = await tokens.create('ops@city.example', 'admin');
    const rows = await store.query('SELECT * FROM http_operator_tokens');
    expect(JSON.stringify(rows.rows)).not.toContain(token.replace(/^vigie_\d+_/, ''));
    expect((await failure(tokens.create('ops@city.example', 'viewer')))?.code).toBe('ERR_TOKEN_NAME_CONFLICT');
    for (const name of ['', ' x', 'a b', 'x'.repeat(65), '-dash']) {
      expect((await failure(tokens.create(name, 'viewer')))?.code, name).toBe('ERR_TOKEN_NAME_INVALID');
    }
  });

  it('creates one token when two instances create the same name at once (PostgreSQL)', async () => {
    const [a, b] = await twoStoresOnNewDatabase(inject('databaseUrl'), [httpMigrations]);
    const results = await Promise.allSettled([
      createOperatorTokens(a).create('shared', 'viewer'),
      createOperatorTokens(b).create('shared', 'viewer'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect((refused?.reason as AppError | undefined)?.code).toBe('ERR_TOKEN_NAME_CONFLICT');
    expect(await createOperatorTokens(a).list()).toHaveLength(1);
  });
});
