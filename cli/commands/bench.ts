import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import { AlertTransition, TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logging.ts';
import { openStore } from '../../core/store/open.ts';
import { benchDeviceId, type LoadOptions, type LoadResult, runLoad } from '../../simulators/load.ts';
import { type RawLoadOptions, runRawLoad } from '../../simulators/raw-load.ts';
import { dropKafkaNamespace } from '../bus.ts';
import { type Command, numberOption } from '../command.ts';
import { loadConfig } from '../config.ts';
import { ALL_MIGRATIONS, type Pipeline, startPipeline } from '../pipeline.ts';
import { INGEST_SCENARIOS, type IngestScenario, type IngestScenarioResult, runIngestScenario } from './bench-ingest.ts';
import { loadInWorker } from './bench-worker.ts';

const SECRET = 'bench-secret';

/** The benchmark's result line (CONTRACTS.md §2). */
export interface BenchResult {
  readonly readingsPerSec: number;
  readonly baselinePerSec: number;
  readonly ratio: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rssMb: number;
  /** The bus the pipeline ran on. */
  readonly bus: 'memory' | 'kafka';
}

/** `vigie bench`: simulated devices over TCP through the real broker into the processors, against a bare broker. */
export const bench: Command = {
  name: 'bench',
  summary: 'the performance benchmark (ends with one line of JSON)',
  help: `vigie bench [--devices N] [--seconds S] [--window W] [--bus memory|kafka]
vigie bench --scenario device|gateway|overload|idle [--connections N] [--seconds S] [--window W] [--per-message K]

Measures, in one run:
  1. the baseline: a bare Aedes broker (no authentication, no processing) under device-like QoS 1 traffic;
  2. the pipeline: ingest (authentication, validation) → bus → processors (every detector) →
     alerting (outbox in a temporary folder), under the same traffic. The bus is the in-process one, or with
     --bus kafka the brokers of VIGIE_KAFKA_BROKERS (topics and groups in a fresh namespace, deleted afterwards).
The load runs in a child process (one MQTT connection per device, one TCP write per reading, W publishes in
flight per connection). Every 50th reading of a device is a low-battery probe: publish→alert latency is the time
from its publish to its alert transition on the bus. Ends with one line of JSON:
{"readingsPerSec","baselinePerSec","ratio","p50Ms","p99Ms","rssMb","bus"}

Options:
  --devices N   connections (default 200)
  --seconds S   seconds of load per phase (default 20)
  --window W    unacknowledged publishes per connection (default 4)
  --probe-every N   every N-th reading of a device is a latency probe (default 50)
  --bus B       memory (default) or kafka (needs VIGIE_KAFKA_BROKERS)

Ingest scenarios (--scenario): ingest alone (Aedes, authentication, ACL, decoding, the read gate) into the
in-process bus, with a consumer that only counts; a lean raw-socket load generator in a child process. Each ends
with one line of JSON {"scenario","connections","readingsPerSec","p50Ms","p99Ms","rssMb","kibPerConnection",…},
latencies being receipt→bus:
  device     device-like QoS 1: one connection per meter (default 500), one packet per TCP write, W in flight
  gateway    gateway-like QoS 0: concentrators (default 20) publishing for 500 meters each, K readings per
             message on the gateway's batch topic (vigie/v1/<kind>/<gatewayId>/batch), B messages per write
  overload   a device run to measure capacity C, then 60 s offered at 2×C (W = 32): delivered rate, peak RSS, and
             the time from the end of the flood until the backlog is through
  idle       15,000 connected devices doing nothing: memory per connection
  --connections N   connections (default per scenario)
  --per-message K   gateway readings per MQTT message (default 50; 1 = one packet per reading, under the
                    meter's own telemetry topic)
  --batch B         gateway messages per TCP write (default: 50 readings per write, i.e. 50 / K)
  --per-gateway M   meters behind each gateway (default 500)
  --rate R          device and gateway: offer R publishes per second in all (paced) instead of as fast as
                    ingest lets, e.g. the latency at 20,000/s
  --bare            device and gateway: a plain Aedes (no authentication, no processing) instead of ingest, for
                    the ceiling of the same load
  --database-url U  the device registry in this PostgreSQL database, as a deployed ingest uses it (a scratch
                    database: the bench's BENCH* devices are added, then removed), instead of PGlite in the bench
                    process (whose hundreds of MB would count in the RSS)`,
  options: {
    devices: { type: 'string' },
    seconds: { type: 'string' },
    window: { type: 'string' },
    'probe-every': { type: 'string' },
    bus: { type: 'string' },
    worker: { type: 'string' },
    'raw-worker': { type: 'string' },
    scenario: { type: 'string' },
    connections: { type: 'string' },
    batch: { type: 'string' },
    'per-gateway': { type: 'string' },
    'per-message': { type: 'string' },
    'database-url': { type: 'string' },
    bare: { type: 'boolean' },
    rate: { type: 'string' },
  },
  async run(values) {
    if (typeof values.worker === 'string') {
      // Child process: run the load and hand the result back over IPC.
      const result = await runLoad(JSON.parse(values.worker) as LoadOptions);
      await new Promise<void>((resolve) => process.send?.(result, () => resolve()));
      return 0;
    }
    if (typeof values['raw-worker'] === 'string') {
      const result = await runRawLoad(JSON.parse(values['raw-worker']) as RawLoadOptions);
      await new Promise<void>((resolve) => process.send?.(result, () => resolve()));
      return 0;
    }
    if (values.scenario !== undefined && values.scenario !== 'pipeline') {
      const scenario = values.scenario as string;
      if (!(INGEST_SCENARIOS as readonly string[]).includes(scenario)) {
        throw new AppError(
          'ERR_CLI_ARGS',
          `--scenario ${JSON.stringify(scenario)} (pipeline, ${INGEST_SCENARIOS.join(', ')})`,
        );
      }
      const result = await benchIngest(scenario as IngestScenario, values);
      process.stdout.write(`${JSON.stringify(result)}\n`);
      return 0;
    }
    const devices = numberOption(values, 'devices', 200, { min: 1, max: 20_000, integer: true });
    const seconds = numberOption(values, 'seconds', 20, { min: 1, max: 3_600 });
    const window = numberOption(values, 'window', 4, { min: 1, max: 1_000, integer: true });
    const probeEvery = numberOption(values, 'probe-every', 50, { min: 2, max: 1_000_000, integer: true });
    const bus = (values.bus as string | undefined) ?? 'memory';
    if (bus !== 'memory' && bus !== 'kafka') {
      throw new AppError('ERR_CLI_ARGS', `--bus ${JSON.stringify(bus)} (memory or kafka)`);
    }
    const kafkaBrokers = process.env.VIGIE_KAFKA_BROKERS;
    if (bus === 'kafka' && !kafkaBrokers) {
      throw new AppError('ERR_CLI_ARGS', '--bus kafka needs VIGIE_KAFKA_BROKERS (host:port,…)');
    }
    const result = await runBench({
      ...(bus === 'kafka' && kafkaBrokers ? { kafkaBrokers } : {}),
      devices,
      seconds,
      window,
      probeEvery,
      log: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  },
};

/** Runs an ingest scenario with its defaults (overload measures the device capacity first). */
async function benchIngest(
  scenario: IngestScenario,
  values: Record<string, string | boolean | undefined>,
): Promise<IngestScenarioResult> {
  const defaults = { device: 500, gateway: 20, overload: 500, idle: 15_000 }[scenario];
  const connections = numberOption(values, 'connections', defaults, { min: 1, max: 19_000, integer: true });
  const seconds = numberOption(values, 'seconds', scenario === 'overload' ? 60 : scenario === 'idle' ? 10 : 20, {
    min: 1,
    max: 3_600,
  });
  const window = numberOption(values, 'window', scenario === 'overload' ? 32 : 4, {
    min: 1,
    max: 1_000,
    integer: true,
  });
  const readingsPerMessage = numberOption(values, 'per-message', 50, { min: 1, max: 1_000, integer: true });
  const batch = numberOption(values, 'batch', Math.max(1, Math.round(50 / readingsPerMessage)), {
    min: 1,
    max: 10_000,
    integer: true,
  });
  const devicesPerGateway = numberOption(values, 'per-gateway', 500, { min: 1, max: 10_000, integer: true });
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const bare = values.bare === true;
  if (bare && scenario !== 'device' && scenario !== 'gateway') {
    throw new AppError('ERR_CLI_ARGS', '--bare applies to --scenario device or gateway');
  }
  const rate = values.rate === undefined ? undefined : numberOption(values, 'rate', 0, { min: 1, max: 10_000_000 });
  if (rate !== undefined && scenario !== 'device' && scenario !== 'gateway') {
    throw new AppError('ERR_CLI_ARGS', '--rate applies to --scenario device or gateway');
  }
  const databaseUrl = typeof values['database-url'] === 'string' ? values['database-url'] : undefined;
  const common = {
    connections,
    window,
    batch,
    readingsPerMessage,
    devicesPerGateway,
    bare,
    log,
    ...(databaseUrl ? { databaseUrl } : {}),
  };
  if (scenario !== 'overload') {
    return runIngestScenario({ ...common, scenario, seconds, ...(rate === undefined ? {} : { ratePerSec: rate }) });
  }
  const capacity = await runIngestScenario({ ...common, scenario: 'device', window: 4, seconds: 15 });
  const flood = await runIngestScenario({ ...common, scenario, seconds, ratePerSec: 2 * capacity.readingsPerSec });
  // The acceptance's figures: what the flood delivered against the capacity just measured (≥ 0.9 wanted).
  return {
    ...flood,
    capacityPerSec: capacity.readingsPerSec,
    deliveredRatio: Math.round((flood.readingsPerSec / capacity.readingsPerSec) * 1000) / 1000,
  };
}

/** Runs both phases and returns the result line. */
export async function runBench(options: {
  devices: number;
  seconds: number;
  window: number;
  probeEvery: number;
  /** Runs the pipeline on these Kafka brokers (comma-separated host:port) instead of the in-process bus. */
  kafkaBrokers?: string;
  log: (line: string) => void;
}): Promise<BenchResult> {
  const load = (port: number): Omit<LoadOptions, 'brokerUrl'> & { brokerUrl: string } => ({
    brokerUrl: `mqtt://127.0.0.1:${port}`,
    devices: options.devices,
    secret: SECRET,
    seconds: options.seconds,
    windowPerDevice: options.window,
    probeEvery: options.probeEvery,
    startMs: Date.UTC(2026, 0, 1),
  });

  // 1. Baseline: a bare broker.
  const bare = await startBareBroker();
  const base = await loadInWorker<LoadResult>('--worker', load(bare.port));
  await bare.close();
  const baselinePerSec = base.acked / (base.elapsedMs / 1_000);
  options.log(`baseline (bare Aedes): ${Math.round(baselinePerSec)} readings/s acknowledged, ${base.errors} errors`);

  // 2. The pipeline, on a throw-away data folder.
  const dataDir = mkdtempSync(join(tmpdir(), 'vigie-bench-'));
  const base_ = loadConfig({
    VIGIE_DATA_DIR: dataDir,
    VIGIE_MQTT_PORT: '0',
    VIGIE_MQTT_HOST: '127.0.0.1',
    // A fresh namespace: the processors start on empty topics, not on what earlier runs left.
    ...(options.kafkaBrokers
      ? { VIGIE_KAFKA_BROKERS: options.kafkaBrokers, VIGIE_KAFKA_NAMESPACE: `bench-${Date.now()}-${process.pid}` }
      : {}),
  });
  const store = await openStore({ pgliteDir: 'memory://' }, ALL_MIGRATIONS);
  let started: Pipeline | undefined;
  try {
    const pipeline = await startPipeline({ config: base_, logger: silentLogger(), store, stage: 'bench' });
    started = pipeline;
    await pipeline.registry.provision(
      Array.from({ length: options.devices }, (_, i) => ({
        deviceId: benchDeviceId(i),
        kind: 'water-meter',
        secret: SECRET,
      })),
    );
    const alertArrivals = new Map<string, number>();
    const probeSub = await pipeline.bus.subscribe({
      groupId: 'bench',
      topics: [TOPICS.alerts],
      handler: async (batch) => {
        const now = Date.now();
        for (const message of batch) {
          const t = AlertTransition.safeParse(JSON.parse(message.value));
          if (t.success && t.data.type === 'low-battery' && t.data.state === 'open') {
            alertArrivals.set(`${t.data.deviceId}|${t.data.ts}`, now);
          }
        }
      },
    });
    let peakRss = 0;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 200);
    const processedBefore = await pipeline.metrics.value('processor_readings_total');
    const startedMs = Date.now();
    const run = await loadInWorker<LoadResult>('--worker', load(pipeline.mqttPort));
    // Sustained means end to end: wait until the processors have taken everything that was acknowledged.
    const drainDeadline = Date.now() + 60_000;
    while (
      Date.now() < drainDeadline &&
      (await pipeline.metrics.value('processor_readings_total')) - processedBefore < run.acked
    ) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const elapsedMs = Date.now() - startedMs;
    const processed = (await pipeline.metrics.value('processor_readings_total')) - processedBefore;
    clearInterval(sampler);
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    await probeSub.close();
    const deadLettered = await pipeline.metrics.value('ingest_messages_deadlettered_total');
    await pipeline.close();

    const latencies = Object.entries(run.probes)
      .map(([key, sentMs]) => (alertArrivals.has(key) ? alertArrivals.get(key)! - sentMs : undefined))
      .filter((ms): ms is number => ms !== undefined)
      .sort((a, b) => a - b);
    const readingsPerSec = processed / (elapsedMs / 1_000);
    options.log(
      `pipeline (bus: ${pipeline.busDescription}): ${processed} readings processed of ${run.acked} acknowledged (${run.errors} errors, ${deadLettered} dead letters) in ${(elapsedMs / 1000).toFixed(1)} s; ${latencies.length} of ${Object.keys(run.probes).length} probes timed`,
    );
    return {
      readingsPerSec: Math.round(readingsPerSec),
      baselinePerSec: Math.round(baselinePerSec),
      ratio: Math.round((readingsPerSec / baselinePerSec) * 1000) / 1000,
      p50Ms: round1(percentile(latencies, 0.5)),
      p99Ms: round1(percentile(latencies, 0.99)),
      rssMb: Math.round(peakRss / 1_048_576),
      bus: pipeline.busKind,
    };
  } finally {
    await started?.close();
    await store.close();
    rmSync(dataDir, { recursive: true, force: true });
    // The run's topics and groups go, even when it failed half-way.
    if (options.kafkaBrokers) {
      await dropKafkaNamespace(base_.kafka).catch((err: Error) =>
        options.log(`could not delete the topics of namespace ${base_.kafka.namespace}: ${err.message}`),
      );
    }
  }
}

const round1 = (x: number) => Math.round(x * 10) / 10;

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** A bare Aedes broker: no authentication and no processing, the baseline of the same run. */
async function startBareBroker(): Promise<{ port: number; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server: Server = createServer({ noDelay: true }, broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        broker.close(() => server.close(() => resolve()));
      }),
  };
}
