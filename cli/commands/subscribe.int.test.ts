import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { consentHistory, stopSms } from '../../alerting/consent.ts';
import { alertingMigrations, createSubscriptions } from '../../alerting/index.ts';
import { verifyMeterCode } from '../../alerting/meter-code.ts';
import { unsubscribeSecret } from '../../alerting/webhooks/unsubscribe-token.ts';
import { openStore } from '../../core/store/open.ts';
import { cliEnv } from '../../test/helpers/cli-env.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';

const BIN = fileURLToPath(new URL('../../bin/vigie.mjs', import.meta.url));

describe('vigie subscribe', () => {
  /** A database of its own and `vigie subscribe …` run as a child process against it. */
  async function setup() {
    const db = await createTestDatabase(inject('databaseUrl'));
    const dir = await mkdtemp(join(tmpdir(), 'vigie-subscribe-cli-'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [alertingMigrations]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });
    const vigie = (...args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'subscribe', ...args], {
          env: cliEnv({ DATABASE_URL: db.url, VIGIE_DATA_DIR: join(dir, 'data') }),
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (c: Buffer) => {
          stdout += c.toString();
        });
        child.stderr.on('data', (c: Buffer) => {
          stderr += c.toString();
        });
        child.once('error', reject);
        child.once('close', (code) => resolve({ code, stdout, stderr }));
      });
    return { store, vigie };
  }

  it('confirms the subscription at once and logs consent from the cli when an operator subscribes a resident', async () => {
    const { store, vigie } = await setup();
    const run = await vigie('--device', 'WM-CLI1', '--sms', '+33 6 12 34 56 78', '--locale', 'en');
    expect(run).toMatchObject({ code: 0, stdout: 'subscribed sms for WM-CLI1\n' });
    const subs = await createSubscriptions(store).forDevice('WM-CLI1');
    expect(subs.map((s) => [s.address, s.status, s.locale])).toEqual([['+33612345678', 'confirmed', 'en']]);
    expect((await consentHistory(store, '+33612345678')).map((e) => [e.action, e.source])).toEqual([
      ['confirmed', 'cli'],
    ]);
  });

  it("prints the meter's subscriber code, the one the sign-up route accepts", async () => {
    const { store, vigie } = await setup();
    const run = await vigie('--device', 'WM-CLI3', '--meter-code');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}\n$/);
    expect(verifyMeterCode(await unsubscribeSecret(store), 'WM-CLI3', run.stdout.trim())).toBe(true);
    expect(verifyMeterCode(await unsubscribeSecret(store), 'WM-CLI4', run.stdout.trim())).toBe(false);
  });

  it('warns that the number stays silent when it sent STOP', async () => {
    const { store, vigie } = await setup();
    await store.transaction((tx) => stopSms(tx, { number: '+33698765432', source: 'sms', atMs: Date.now() }));
    const run = await vigie('--device', 'WM-CLI2', '--sms', '+33698765432');
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('START');
    expect(await createSubscriptions(store).forDevice('WM-CLI2')).toEqual([]);
  });

  it('exits 2 with a one-line reason when both --sms and --email are given', async () => {
    const { vigie } = await setup();
    const run = await vigie('--device', 'WM-CLI3', '--sms', '+33612345678', '--email', 'a@example.org');
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('exits non-zero naming what is allowed when the number is not E.164', async () => {
    const { vigie } = await setup();
    const run = await vigie('--device', 'WM-CLI4', '--sms', '0612345678');
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('E.164');
  });
});
