/**
 * Starts a real server speaking the InfluxDB v2 write API for the integration tests (STYLE.md §8): Debian's
 * `victoria-metrics` on a temp dir and a free loopback port. Reuses `VIGIE_TEST_INFLUX_URL` when set. Installs the
 * package when it is missing and the machine allows it (root on Debian); otherwise fails with the reason — a test
 * never skips because a server is missing.
 *
 * What VictoriaMetrics (1.79) does with line protocol, checked by hand and by sinks/influx/*.int.test.ts:
 * `measurement,tags field=value` becomes the series `measurement_field{tags}`; every value is a float64 (integers
 * and booleans become numbers, string fields become 0); org, bucket and auth are ignored; precision is honoured;
 * a malformed line is skipped (logged) while the request still answers 204; the same point written twice is kept
 * twice (two raw samples) unless `-dedup.minScrapeInterval` is set, which keeps one sample per series and interval.
 * This helper starts it without deduplication by default, so a test sees every write that reached it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from '../../core/errors.ts';
import { freePort } from './free-port.ts';

/** A running server. */
export interface VictoriaMetricsServer {
  /** Base URL, e.g. `http://127.0.0.1:41234` (write at /api/v2/write, read at /api/v1/export). */
  readonly url: string;
  /** Stops it and removes its data; a no-op for a server given by the environment. */
  stop(): Promise<void>;
}

/** A server of the test's own, which it may stop and start again on the same port and data. */
export interface DedicatedVictoriaMetrics extends VictoriaMetricsServer {
  /** Stops the process (SIGINT: it flushes its data), keeping port and data. */
  stopServer(): Promise<void>;
  /** Starts it again on the same port and data; resolves once /health answers. */
  startServer(): Promise<void>;
}

/** Options of {@link startVictoriaMetrics}. */
export interface VictoriaMetricsOptions {
  /** Always start a server of its own (never the shared one). */
  readonly dedicated?: boolean;
  /** `-dedup.minScrapeInterval` in ms: one sample per series per interval (what makes a replay change nothing). */
  readonly dedupIntervalMs?: number;
}

/** Environment variable naming an existing server to reuse instead of starting one. */
export const REUSE_ENV = 'VIGIE_TEST_INFLUX_URL';

const BINARY = '/usr/bin/victoria-metrics';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** Starts VictoriaMetrics (or reuses `VIGIE_TEST_INFLUX_URL`) and resolves once it answers /health. */
export async function startVictoriaMetrics(): Promise<VictoriaMetricsServer>;
export async function startVictoriaMetrics(
  options: VictoriaMetricsOptions & { dedicated: true },
): Promise<DedicatedVictoriaMetrics>;
export async function startVictoriaMetrics(options: VictoriaMetricsOptions = {}): Promise<VictoriaMetricsServer> {
  const reuse = process.env[REUSE_ENV];
  if (reuse && !options.dedicated) {
    await waitHealthy(reuse.replace(/\/+$/, ''), undefined, undefined);
    return { url: reuse.replace(/\/+$/, ''), stop: async () => {} };
  }
  if (!existsSync(BINARY)) install();
  const dir = mkdtempSync(join(tmpdir(), 'vigie-vm-'));
  const logFile = join(dir, 'victoria-metrics.log');
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = [
    `-storageDataPath=${join(dir, 'data')}`,
    `-httpListenAddr=127.0.0.1:${port}`,
    '-retentionPeriod=100y',
    '-search.latencyOffset=0s', // points are visible to queries at once (default 30 s)
    '-loggerLevel=ERROR',
    '-memory.allowedPercent=20',
    ...(options.dedupIntervalMs ? [`-dedup.minScrapeInterval=${options.dedupIntervalMs}ms`] : []),
  ];
  let child: ChildProcess | undefined;
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const startServer = async () => {
    const log = openSync(logFile, 'a');
    child = spawn(BINARY, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    await waitHealthy(url, child, logFile);
  };
  const stopServer = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGINT');
    const timer = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  try {
    await startServer();
  } catch (err) {
    await stopServer();
    process.off('exit', killOnExit);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const server: DedicatedVictoriaMetrics = {
    url,
    stopServer,
    startServer,
    async stop() {
      await stopServer();
      process.off('exit', killOnExit);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** Installs Debian's `victoria-metrics` when we are root on Debian; otherwise fails saying what to do. */
function install(): void {
  const canInstall = process.getuid?.() === 0 && existsSync('/etc/debian_version');
  if (!canInstall) {
    throw new AppError(
      'ERR_TEST_VM_MISSING',
      `VictoriaMetrics: no ${BINARY} (install Debian's victoria-metrics package, or set ${REUSE_ENV} to a server's URL)`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'victoria-metrics'], {
      stdio: 'ignore',
      env,
    });
  } catch {
    execFileSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
    execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'victoria-metrics'], {
      stdio: 'ignore',
      env,
    });
  }
  if (!existsSync(BINARY)) {
    throw new AppError('ERR_TEST_VM_MISSING', `VictoriaMetrics: no ${BINARY} after apt-get install victoria-metrics`);
  }
}

async function waitHealthy(url: string, child: ChildProcess | undefined, logFile: string | undefined): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let exited: string | undefined;
  child?.once('exit', (code, signal) => {
    exited = `exited with ${signal ?? code}`;
  });
  child?.once('error', (err) => {
    exited = `could not start (${err.message})`;
  });
  for (;;) {
    if (exited) throw startError(`victoria-metrics at ${url} ${exited}`, logFile);
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1_000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw startError(`victoria-metrics at ${url}: no /health after ${START_TIMEOUT_MS} ms`, logFile);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startError(what: string, logFile: string | undefined): AppError {
  const log =
    logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n') : '';
  return new AppError(
    'ERR_TEST_VM_START',
    `${what} (a VictoriaMetrics server the tests can start)${log ? `:\n${log}` : ''}`,
  );
}

/** One series as `/api/v1/export` gives it back. */
export interface ExportedSeries {
  readonly metric: Readonly<Record<string, string>> & { readonly __name__: string };
  readonly values: readonly number[];
  readonly timestamps: readonly number[];
}

/**
 * Reads back raw samples: flushes the server's in-memory rows first (`/internal/force_flush`), then exports the
 * series matching `match` (a series selector, e.g. `{__name__=~"water_meter_.*",device_id="WM-1"}`), from 1970 to a
 * day ahead (the default end, now, may leave out points written this very second).
 */
export async function exportSeries(url: string, match: string): Promise<ExportedSeries[]> {
  await fetch(`${url}/internal/force_flush`);
  const res = await fetch(
    `${url}/api/v1/export?${new URLSearchParams({ 'match[]': match, start: '0', end: String(Math.ceil(Date.now() / 1_000) + 86_400) })}`,
  );
  if (!res.ok) throw new Error(`export ${match}: HTTP ${res.status} ${await res.text()}`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as ExportedSeries);
}
