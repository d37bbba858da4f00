/**
 * Starts a real PostgreSQL server for the integration tests (STYLE.md §8): Debian's binaries on a temp dir, a free
 * loopback port, trust authentication, fsync off. Installs the binaries when they are missing and the machine allows
 * it (root on Debian); otherwise fails with the reason — a test never skips because a server is missing.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { inject, onTestFinished } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import type { ComponentMigrations, SqlStore } from '../../core/store/store.ts';
import { freePort } from './free-port.ts';

/** A running PostgreSQL server. */
export interface PostgresServer {
  /** URL of the `vigie_test` database, e.g. `postgres://postgres@127.0.0.1:54321/vigie_test`. */
  readonly url: string;
  /** Stops the server (fast shutdown) and removes its data directory; a no-op for a server given by the env. */
  stop(): Promise<void>;
}

/** Environment variable naming an existing server to reuse instead of starting one. */
export const REUSE_ENV = 'VIGIE_TEST_DATABASE_URL';

const DEBIAN_ROOT = '/usr/lib/postgresql';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const OS_USER = 'postgres';

/** Starts PostgreSQL (or reuses `VIGIE_TEST_DATABASE_URL`) and returns the URL of a fresh `vigie_test` database. */
export async function startPostgres(): Promise<PostgresServer> {
  const reuse = process.env[REUSE_ENV];
  if (reuse) return { url: reuse, stop: async () => {} };

  const binDir = findBinDir() ?? installBinaries();
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? osUser() : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'vigie-pg-'));
  const dataDir = join(dir, 'data');
  const logFile = join(dir, 'postgres.log');
  if (owner) chownSync(dir, owner.uid, owner.gid);
  // PostgreSQL refuses to run as root: drop to the `postgres` user with setpriv, which execs (no extra process
  // between us and the postmaster, so our signals reach it).
  const command = (bin: string, args: string[]): [string, string[]] =>
    owner
      ? ['setpriv', [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--init-groups', join(binDir, bin), ...args]]
      : [join(binDir, bin), args];

  try {
    const [initdb, initArgs] = command('initdb', [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ]);
    execFileSync(initdb, initArgs, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw startError(`initdb failed in ${dir}`, err);
  }

  let lastError: unknown;
  // The free port is found then bound by PostgreSQL; another process may take it in between, so try a few.
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const [postgres, args] = command('postgres', [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-h',
      '127.0.0.1',
      '-k',
      dir,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=300',
    ]);
    const log = openSync(logFile, 'a');
    const child = spawn(postgres, args, { stdio: ['ignore', log, log], cwd: dir });
    closeSync(log);
    const killOnExit = () => child.kill('SIGQUIT');
    process.once('exit', killOnExit);
    try {
      await waitReady(child, port, logFile);
      await createDatabase(port, 'vigie_test');
      return {
        url: `postgres://postgres@127.0.0.1:${port}/vigie_test`,
        async stop() {
          process.off('exit', killOnExit);
          await stopChild(child);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    } catch (err) {
      lastError = err;
      process.off('exit', killOnExit);
      await stopChild(child);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  throw lastError;
}

/** The newest `/usr/lib/postgresql/<version>/bin` holding a `postgres` binary. */
function findBinDir(): string | undefined {
  if (!existsSync(DEBIAN_ROOT)) return undefined;
  const versions = readdirSync(DEBIAN_ROOT)
    .filter(
      (v) => existsSync(join(DEBIAN_ROOT, v, 'bin', 'postgres')) && existsSync(join(DEBIAN_ROOT, v, 'bin', 'initdb')),
    )
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a));
  return versions[0] === undefined ? undefined : join(DEBIAN_ROOT, versions[0], 'bin');
}

/** Installs Debian's `postgresql` when we are root on Debian; otherwise fails saying what to install. */
function installBinaries(): string {
  const canInstall = process.getuid?.() === 0 && existsSync('/etc/debian_version');
  if (!canInstall) {
    throw new AppError(
      'ERR_TEST_POSTGRES_MISSING',
      `PostgreSQL server binaries: none under ${DEBIAN_ROOT}/*/bin (install Debian's postgresql package, or set ${REUSE_ENV} to a server's URL)`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '-q', 'postgresql'], { stdio: 'ignore', env });
  } catch {
    // A fresh machine has no package lists yet.
    execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '-q', 'postgresql'], { stdio: 'ignore', env });
  }
  const binDir = findBinDir();
  if (!binDir) {
    throw new AppError(
      'ERR_TEST_POSTGRES_MISSING',
      `PostgreSQL server binaries: none under ${DEBIAN_ROOT}/*/bin after apt-get install postgresql (a Debian machine with apt sources)`,
    );
  }
  return binDir;
}

/** The `postgres` OS user (created by Debian's package), created here when missing. */
function osUser(): { uid: number; gid: number } {
  const lookup = () => {
    try {
      const uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', OS_USER], { stdio: 'ignore' });
  const created = lookup();
  if (!created)
    throw new AppError('ERR_TEST_POSTGRES_START', `OS user: ${OS_USER} (could not be created with useradd)`);
  return created;
}

/** Resolves once the server accepts connections; rejects at once if it exits, or after the timeout. */
async function waitReady(child: ChildProcess, port: number, logFile: string): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  child.once('error', (err) => {
    exited = `could not start (${err.message})`;
  });
  for (;;) {
    if (exited) throw startError(`postgres on port ${port} ${exited}`, undefined, logFile);
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch {
      await client.end().catch(() => {});
    }
    if (Date.now() > deadline) {
      throw startError(
        `postgres on port ${port} not accepting connections after ${START_TIMEOUT_MS} ms`,
        undefined,
        logFile,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function createDatabase(port: number, name: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
}

/** SIGINT is PostgreSQL's fast shutdown; SIGQUIT (immediate) if it has not exited in time. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGQUIT'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function startError(what: string, cause: unknown, logFile?: string): AppError {
  const stderr = (cause as { stderr?: Buffer } | undefined)?.stderr?.toString().trim();
  const log =
    logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n') : '';
  const detail = [stderr, log].filter(Boolean).join('\n');
  return new AppError(
    'ERR_TEST_POSTGRES_START',
    `${what} (a PostgreSQL server the tests can start)${detail ? `:\n${detail}` : ''}`,
    {
      cause,
    },
  );
}

/** A database of its own for one test file or test, on a server from {@link startPostgres}. */
export interface TestDatabase {
  /** URL of the new database. */
  readonly url: string;
  /** Its name, `vigie_<random>`. */
  readonly name: string;
  /** Drops it, closing any connection left on it. */
  drop(): Promise<void>;
}

/** Creates an empty database `vigie_<random>` on the server at `serverUrl` (e.g. `inject('databaseUrl')`). */
export async function createTestDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `vigie_${randomBytes(6).toString('hex')}`;
  const admin = async (sql: string) => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return { url: url.toString(), name, drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * Two stores (two connection pools, as two processes have) on a new database of the server at `serverUrl`, with
 * `migrations` applied; closed and dropped when the current test ends.
 */
export async function twoStoresOnNewDatabase(
  serverUrl: string,
  migrations: readonly ComponentMigrations[],
): Promise<[SqlStore, SqlStore]> {
  const db = await createTestDatabase(serverUrl);
  const a = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, migrations);
  const b = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, migrations);
  onTestFinished(async () => {
    await a.close();
    await b.close();
    await db.drop();
  });
  return [a, b];
}

/**
 * A store of `engine` with `migrations` applied — PGlite in memory, or PostgreSQL on a new database of the test
 * server (`inject('databaseUrl')`) — closed (and the database dropped) when the current test ends.
 */
export async function openTestStore(
  engine: 'pglite' | 'postgres',
  migrations: readonly ComponentMigrations[],
): Promise<SqlStore> {
  if (engine === 'pglite') {
    const store = await openStore({ pgliteDir: 'memory://' }, migrations);
    onTestFinished(() => store.close());
    return store;
  }
  const db = await createTestDatabase(inject('databaseUrl'));
  const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, migrations);
  onTestFinished(async () => {
    await store.close();
    await db.drop();
  });
  return store;
}
