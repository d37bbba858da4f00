import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { openStore } from '../../core/store/open.ts';
import { createVaultStore, vaultConfigSchema, vaultMigrations } from '../../services/vault/index.ts';
import { cliEnv } from '../../test/helpers/cli-env.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

describe('vigie vault', () => {
  it('rotates the master key: status by key id, rewrap onto the new key, documents still readable under it alone', async () => {
    const db = await createTestDatabase(inject('databaseUrl'));
    onTestFinished(() => db.drop().catch(() => {}));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [vaultMigrations]);
    onTestFinished(() => store.close());
    const k1 = `k1:${randomBytes(32).toString('base64')}`;
    const k2 = `k2:${randomBytes(32).toString('base64')}`;
    const vaultUnder = (masterKeys: string) =>
      createVaultStore(store, { config: vaultConfigSchema.parse({ masterKeys }) });
    const nowMs = Date.now();
    const docs = [];
    for (const citizen of [1, 2, 3]) {
      docs.push(
        await vaultUnder(k1).upload(
          citizen,
          { type: 'tax-notice', fileName: `avis-${citizen}.pdf`, bytes: PDF },
          nowMs,
        ),
      );
    }
    const vigie = (args: string[], masterKeys: string | undefined): Promise<Run> =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'vault', ...args], {
          env: cliEnv({ DATABASE_URL: db.url, ...(masterKeys ? { VIGIE_VAULT_MASTER_KEYS: masterKeys } : {}) }),
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        child.stderr.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
        });
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });

    // The new key first: status shows the three keys still under k1.
    expect(await vigie(['status'], `${k2},${k1}`)).toMatchObject({ code: 0, stdout: 'k1\t3\n' });
    const rewrap = await vigie(['rewrap'], `${k2},${k1}`);
    expect(rewrap).toMatchObject({ code: 0, stdout: 'k2\t3\t(current)\n' });
    expect(rewrap.stderr).toContain('rewrapped 3 data keys with master key k2');
    // k1 dropped: every document opens under k2 alone, byte for byte.
    for (const [i, doc] of docs.entries()) {
      const opened = await vaultUnder(k2).download(i + 1, doc.id, nowMs);
      expect(Buffer.from(opened.bytes).equals(PDF)).toBe(true);
    }
    // Without keys, or without an action: a clear refusal.
    const none = await vigie(['status'], undefined);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('VIGIE_VAULT_MASTER_KEYS: not set');
    expect((await vigie([], k2)).code).toBe(2);
  });
});
