import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { recordTransition } from '../../alerting/lifecycle-store.ts';
import { openStore } from '../../core/store/open.ts';
import { createOperatorTokens, httpMigrations } from '../../services/http/index.ts';
import { RESIDENT_COOKIE } from '../../services/residents/index.ts';
import { cliEnv } from '../../test/helpers/cli-env.ts';
import { freePort } from '../../test/helpers/free-port.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';
import { COMMANDS } from './index.ts';
import { serve } from './serve.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'vigie.mjs');

/**
 * `vigie serve …` as a child process: through bin/vigie.mjs once cli/commands/index.ts lists this module's command;
 * until then through the same parse-and-run steps as cli/main.ts, on this module.
 */
function spawnServe(args: string[], env: Record<string, string>): ChildProcess {
  const runner = `
    import { register } from 'tsx/esm/api';
    register();
    const { parseCommandArgs } = await import(${JSON.stringify(join(ROOT, 'cli', 'command.ts'))});
    const { AppError } = await import(${JSON.stringify(join(ROOT, 'core', 'errors.ts'))});
    const { serve } = await import(${JSON.stringify(join(ROOT, 'cli', 'commands', 'serve.ts'))});
    try {
      const { values, positionals } = parseCommandArgs(serve, process.argv.slice(1));
      process.exitCode = await serve.run(values, positionals);
    } catch (err) {
      if (!(err instanceof AppError) || err.retryable) throw err;
      process.stderr.write('vigie serve: ' + err.message + '\\n');
      process.exitCode = err.code === 'ERR_CLI_ARGS' ? 2 : 1;
    }`;
  const argv = COMMANDS.includes(serve)
    ? [BIN, 'serve', ...args]
    : ['--input-type=module', '-e', runner, '--', ...args];
  return spawn(process.execPath, argv, { cwd: ROOT, env: cliEnv(env) });
}

/** Collects a child's output; `exited` resolves with its exit code. */
function watch(child: ChildProcess) {
  const out = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    out.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
  return { out, exited };
}

describe('vigie serve', () => {
  it('serves the alert API on the store, and drains and exits 0 on SIGTERM', async () => {
    const db = await createTestDatabase(inject('databaseUrl'));
    const dir = await mkdtemp(join(tmpdir(), 'vigie-serve-cli-'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [
      alertingMigrations,
      httpMigrations,
    ]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });
    const { token } = await createOperatorTokens(store).create('night-shift', 'operator');
    await recordTransition(store, {
      alertId: 'WM-000001:leak:1',
      type: 'leak',
      deviceId: 'WM-000001',
      kind: 'water-meter',
      state: 'open',
      ts: '2026-03-01T02:15:00.000Z',
      severity: 'warning',
      summary: 'Continuous flow for 24 h, about 4 L/h',
      details: { estimatedLph: 4.2 },
    });

    const port = await freePort();
    const child = spawnServe(['--host', '127.0.0.1', '--port', String(port)], {
      DATABASE_URL: db.url,
      VIGIE_DATA_DIR: join(dir, 'data'),
      VIGIE_METRICS_PORT: '0',
    });
    const { out, exited } = watch(child);
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    // 1. It says where it listens.
    await expect.poll(() => out.stdout, { timeout: 60_000 }).toContain(`listening on http://127.0.0.1:${port}`);
    const url = `http://127.0.0.1:${port}`;
    const auth = { authorization: `Bearer ${token}` };

    // 2. The alert routes answer, with the token made in the store beside it.
    expect((await fetch(`${url}/api/alerts`)).status).toBe(401);
    const list = await fetch(`${url}/api/alerts`, { headers: auth });
    expect(await list.json()).toMatchObject({ total: 1, alerts: [{ alertId: 'WM-000001:leak:1', state: 'open' }] });
    const ack = await fetch(`${url}/api/alerts/WM-000001%3Aleak%3A1/acknowledge`, { method: 'POST', headers: auth });
    expect(await ack.json()).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'night-shift' });
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain('/api/alerts/{alertId}/acknowledge');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/reports', '/api/me/sign-in', '/api/silences']),
    );

    // The citizen services are mounted: a resident's sign-in code, with no alerting stage in this process, is
    // queued in the store's delivery log for the one that sweeps it.
    const signIn = await fetch(`${url}/api/me/sign-in`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ address: 'habitant@example.org' }),
    });
    expect(signIn.status).toBe(202);
    await expect
      .poll(async () => {
        const res = await store.query<{ purpose: string; status: string }>(
          `SELECT purpose, status FROM alerting_deliveries WHERE recipient = 'habitant@example.org'`,
        );
        return res.rows;
      })
      .toEqual([{ purpose: 'notice', status: 'scheduled' }]);

    // 3. SIGTERM: drains, closes the store, exits 0.
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.stdout).toContain('SIGTERM, stopped');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('leaves no route open: every route of its OpenAPI document asks for a token or a session but the public ones', async () => {
    const db = await createTestDatabase(inject('databaseUrl'));
    const dir = await mkdtemp(join(tmpdir(), 'vigie-serve-cli-'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [httpMigrations]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });
    const { token: viewer } = await createOperatorTokens(store).create('lecture', 'viewer');
    const port = await freePort();
    const child = spawnServe(['--host', '127.0.0.1', '--port', String(port)], {
      DATABASE_URL: db.url,
      VIGIE_DATA_DIR: join(dir, 'data'),
      VIGIE_METRICS_PORT: '0',
      // Every service mounted: the vault too.
      VIGIE_VAULT_MASTER_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64')}`,
    });
    const { out } = watch(child);
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    await expect.poll(() => out.stdout, { timeout: 60_000 }).toContain(`listening on http://127.0.0.1:${port}`);
    const url = `http://127.0.0.1:${port}`;
    type Operation = { security?: Array<Record<string, string[]>> };
    const doc = (await (await fetch(`${url}/docs/json`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    // The routes anyone may call (their own limits — a code, a signature, a token in the path — are tested with
    // their services). A new route missing from this list and from both schemes fails here.
    const PUBLIC = [
      'GET /healthz',
      'POST /api/subscriptions',
      'POST /api/subscriptions/confirm',
      'GET /api/vault/shared/{*}',
      'GET /api/public/consultations',
      'GET /api/public/consultations/{id}/results',
      'GET /p/{reference}',
      'GET /api/mobility/availability',
      'POST /api/reports',
      'GET /api/reports/{id}/status',
      'POST /api/me/sign-in',
      'POST /api/me/verify',
    ];
    const seen = { bearer: 0, session: 0, public: [] as string[] };
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const route = `${method.toUpperCase()} ${path}`;
        const schemes = (op.security ?? []).flatMap((s) => Object.keys(s));
        const target = `${url}${path.replace(/\{[^}]+\}/g, 'x1')}`;
        const send = (headers: Record<string, string>) =>
          fetch(target, {
            method: method.toUpperCase(),
            headers: { 'content-type': 'application/json', ...headers },
            ...(method === 'get' || method === 'delete' ? {} : { body: '{}' }),
          });
        if (schemes.includes('bearerAuth')) {
          seen.bearer++;
          const none = await send({});
          expect([route, none.status], 'no token').toEqual([route, 401]);
          const forged = await send({ authorization: `Bearer ${viewer.slice(0, -4)}AAAA` });
          expect([route, forged.status], 'a forged token').toEqual([route, 401]);
          if (method !== 'get') {
            const asViewer = await send({ authorization: `Bearer ${viewer}` });
            expect([route, asViewer.status], 'a viewer acting').toEqual([route, 403]);
          }
        } else if (schemes.includes('citizenSession')) {
          seen.session++;
          const none = await send({});
          expect([route, none.status], 'no session').toEqual([route, 401]);
          const forged = await send({ cookie: `${RESIDENT_COOKIE}=${'A'.repeat(43)}` });
          expect([route, forged.status], 'an unknown session').toEqual([route, 401]);
        } else {
          seen.public.push(route);
        }
      }
    }
    expect(seen.public.sort()).toEqual([...PUBLIC].sort());
    // Every service's routes were there to be tried (73 routes on 2026-11-27).
    expect(seen.bearer).toBeGreaterThanOrEqual(35);
    expect(seen.session).toBeGreaterThanOrEqual(26);
  });

  it('exits 2 with a one-line reason when --port is not a port', async () => {
    const child = spawnServe(['--port', 'eighty'], { VIGIE_METRICS_PORT: '0' });
    const { out, exited } = watch(child);
    expect(await exited).toBe(2);
    expect(out.stderr).toBe('vigie serve: --port: "eighty" (an integer from 0 to 65535)\n');
  });
});
