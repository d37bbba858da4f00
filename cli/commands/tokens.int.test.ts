import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { openStore } from '../../core/store/open.ts';
import { createOperatorTokens, httpMigrations } from '../../services/http/index.ts';
import { cliEnv } from '../../test/helpers/cli-env.ts';
import { createTestDatabase } from '../../test/helpers/postgres.ts';
import { COMMANDS } from './index.ts';
import { tokens } from './tokens.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin', 'vigie.mjs');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * `vigie tokens …` as a child process: through bin/vigie.mjs once cli/commands/index.ts lists this command; until
 * then through the same parse-and-run steps as cli/main.ts, on this module.
 */
function vigieTokens(args: string[], env: Record<string, string>): Promise<Run> {
  const registered = COMMANDS.includes(tokens);
  const runner = `
    import { register } from 'tsx/esm/api';
    register();
    const { parseCommandArgs } = await import(${JSON.stringify(join(ROOT, 'cli', 'command.ts'))});
    const { AppError } = await import(${JSON.stringify(join(ROOT, 'core', 'errors.ts'))});
    const { tokens } = await import(${JSON.stringify(join(ROOT, 'cli', 'commands', 'tokens.ts'))});
    try {
      const { values, positionals } = parseCommandArgs(tokens, process.argv.slice(1));
      process.exitCode = await tokens.run(values, positionals);
    } catch (err) {
      if (!(err instanceof AppError) || err.retryable) throw err;
      process.stderr.write('vigie tokens: ' + err.message + '\\n');
      process.exitCode = err.code === 'ERR_CLI_ARGS' ? 2 : 1;
    }`;
  const argv = registered ? [BIN, 'tokens', ...args] : ['--input-type=module', '-e', runner, '--', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: ROOT, env: cliEnv(env) });
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
}

describe('vigie tokens', () => {
  async function setup() {
    const db = await createTestDatabase(inject('databaseUrl'));
    const dir = await mkdtemp(join(tmpdir(), 'vigie-tokens-cli-'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [httpMigrations]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    });
    const env = { DATABASE_URL: db.url, VIGIE_DATA_DIR: join(dir, 'data') };
    return { store, vigie: (args: string[]) => vigieTokens(args, env) };
  }

  it('creates a token printed once that the API accepts, lists it without its secret, and revokes it', async () => {
    const { store, vigie } = await setup();
    const created = await vigie(['create', '--name', 'alice@city.example', '--role', 'operator']);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^vigie_\d+_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toContain('shown once');
    const verifier = createOperatorTokens(store);
    expect(await verifier.verify(token)).toMatchObject({ name: 'alice@city.example', role: 'operator' });
    const stored = await store.query('SELECT * FROM http_operator_tokens');
    expect(JSON.stringify(stored.rows)).not.toContain(token.replace(/^vigie_\d+_/, ''));

    expect((await vigie(['create', '--name', 'bob', '--role', 'viewer'])).code).toBe(0);
    const list = await vigie(['list']);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^id\s+name\s+role\s+created\s+last used\s+revoked$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(1, 3))).toEqual([
      ['alice@city.example', 'operator'],
      ['bob', 'viewer'],
    ]);
    expect(list.stdout).not.toContain(token.replace(/^vigie_\d+_/, ''));

    const revoked = await vigie(['revoke', '--name', 'alice@city.example']);
    expect(revoked).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^revoked token \d+ "alice@city.example"/),
    });
    expect(await verifier.verify(token)).toBeUndefined();
    expect((await vigie(['list'])).stdout).not.toContain('alice');
    expect((await vigie(['list', '--all'])).stdout).toContain('alice');
    const again = await vigie(['revoke', '--name', 'alice@city.example']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('no active token');
  });

  it('exits 2 on bad arguments and 1 on a name already taken, with a one-line reason', async () => {
    const { vigie } = await setup();
    const badRole = await vigie(['create', '--name', 'x', '--role', 'root']);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toBe('vigie tokens: --role: "root" (one of viewer, operator, admin)\n');
    expect((await vigie(['create', '--role', 'viewer'])).code).toBe(2);
    expect((await vigie(['revoke', '--id', 'abc'])).code).toBe(2);
    expect((await vigie(['rotate'])).code).toBe(2);
    expect((await vigie(['create', '--name', 'dup', '--role', 'viewer'])).code).toBe(0);
    const dup = await vigie(['create', '--name', 'dup', '--role', 'admin']);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already used by an active token');
    const badName = await vigie(['create', '--name', 'has space', '--role', 'admin']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('--name: "has space"');
  });
});
