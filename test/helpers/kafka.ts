/**
 * Starts a real Apache Kafka broker for the integration tests (STYLE.md §8): infra/kafka/fetch.sh brings the jars
 * from Maven Central (once), infra/kafka/start.sh runs a single-node KRaft broker on a temp dir and a free loopback
 * port. Reuses the brokers in `VIGIE_KAFKA_BROKERS` when set. Never skips: when no broker can be had, it fails with
 * the reason (Java 17 and Maven are what it needs; .ci/run installs them).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { AppError } from '../../core/errors.ts';

/** A running Kafka broker. */
export interface KafkaServer {
  /** Bootstrap addresses, `host:port`. */
  readonly brokers: string[];
  /** Stops the broker and removes its log dir; a no-op for brokers given by the env. */
  stop(): Promise<void>;
}

/** Environment variable naming existing brokers (comma-separated `host:port`) to reuse instead of starting one. */
export const REUSE_ENV = 'VIGIE_KAFKA_BROKERS';

const INFRA_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'infra', 'kafka');
const FETCH_TIMEOUT_MS = 10 * 60_000;
const START_TIMEOUT_MS = 90_000;
const READY_TIMEOUT_MS = 60_000;

/** A broker of the test's own, which the test may stop and start again (same port, same log dir). */
export interface DedicatedKafkaServer extends KafkaServer {
  /** Stops the broker process (SIGTERM: a clean shutdown), keeping its port and its log dir. */
  stopBroker(): Promise<void>;
  /** Starts the broker again on the same port and log dir; resolves once it answers a metadata request. */
  startBroker(): Promise<void>;
}

/**
 * Starts a Kafka broker (or reuses `VIGIE_KAFKA_BROKERS`) and resolves once it answers a metadata request. With
 * `{ dedicated: true }` it always starts a broker of its own (never the shared one), which the caller may stop and
 * start again.
 */
export async function startKafka(): Promise<KafkaServer>;
export async function startKafka(options: { dedicated: true }): Promise<DedicatedKafkaServer>;
export async function startKafka(options: { dedicated?: boolean } = {}): Promise<KafkaServer> {
  const reuse = process.env[REUSE_ENV];
  if (reuse && !options.dedicated) {
    const brokers = reuse
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    await waitReady(brokers);
    return { brokers, stop: async () => {} };
  }

  await run(join(INFRA_DIR, 'fetch.sh'), [], FETCH_TIMEOUT_MS, 'fetching the Kafka jars (infra/kafka/fetch.sh)');
  const dir = mkdtempSync(join(tmpdir(), 'vigie-kafka-'));
  const pidFile = join(dir, 'kafka.pid');
  const killOnExit = () => {
    try {
      if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.once('exit', killOnExit);
  const stopBroker = async () => {
    await run(join(INFRA_DIR, 'stop.sh'), [dir], 30_000, 'stopping Kafka').catch(killOnExit);
  };
  const stop = async () => {
    process.off('exit', killOnExit);
    await stopBroker();
    rmSync(dir, { recursive: true, force: true });
  };
  /** start.sh on `dir`; a log dir already formatted is kept (start.sh formats with --ignore-formatted). */
  const startBroker = async (port?: string): Promise<string> => {
    const out = await run(
      join(INFRA_DIR, 'start.sh'),
      ['--dir', dir, '--owner-pid', String(process.pid), ...(port ? ['--port', port] : [])],
      START_TIMEOUT_MS,
      'starting Kafka (infra/kafka/start.sh)',
    );
    const address = out.trim().split('\n').at(-1) ?? '';
    if (!/^[\w.-]+:\d+$/.test(address)) {
      throw new AppError('ERR_TEST_KAFKA_START', `infra/kafka/start.sh printed no bootstrap address: ${out.trim()}`);
    }
    await waitReady([address], join(dir, 'kafka.log'));
    return address;
  };
  try {
    const address = await startBroker();
    if (!options.dedicated) return { brokers: [address], stop };
    const port = address.split(':').at(-1)!;
    const dedicated: DedicatedKafkaServer = {
      brokers: [address],
      stop,
      stopBroker,
      startBroker: async () => {
        await startBroker(port);
      },
    };
    return dedicated;
  } catch (err) {
    await stop();
    throw err;
  }
}

function run(file: string, args: string[], timeoutMs: number, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        reject(
          new AppError(
            'ERR_TEST_KAFKA_START',
            `${what} failed (${err.killed ? `timed out after ${timeoutMs} ms` : `exit ${err.code}`}): ${stderr.trim() || stdout.trim()} (Java 17+ and Maven, as .ci/run installs; or set ${REUSE_ENV})`,
            { cause: err },
          ),
        );
      } else {
        resolve(stdout);
      }
    });
  });
}

/** Resolves once the brokers list topics; a port that accepts connections is not yet a broker that serves. */
async function waitReady(brokers: string[], logFile?: string): Promise<void> {
  const kafka = new Kafka({
    clientId: 'vigie-test-ready',
    brokers,
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 1_000,
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.listTopics();
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await admin.disconnect().catch(() => {});
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const log =
    logFile && existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-15).join('\n') : '';
  throw new AppError(
    'ERR_TEST_KAFKA_START',
    `Kafka at ${brokers.join(',')} not serving after ${READY_TIMEOUT_MS} ms: ${(lastError as Error)?.message}${log ? `\n${log}` : ''}`,
    { cause: lastError },
  );
}
