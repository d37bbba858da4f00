import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { createDeviceRegistry, createIngest, ingestConfigSchema, ingestMigrations } from '../../ingest/index.ts';
import { benchDeviceId } from '../../simulators/load.ts';
import {
  benchGatewayId,
  benchGatewayMeterId,
  type RawLoadOptions,
  type RawLoadResult,
} from '../../simulators/raw-load.ts';
import { loadInWorker } from './bench-worker.ts';

const SECRET = 'bench-secret';

/** The ingest scenarios of `vigie bench --scenario` (issue 9): ingest alone, from device sockets to the bus. */
export const INGEST_SCENARIOS = ['device', 'gateway', 'overload', 'idle'] as const;
/** An ingest scenario. */
export type IngestScenario = (typeof INGEST_SCENARIOS)[number];

/** One scenario's result line. */
export interface IngestScenarioResult {
  readonly scenario: IngestScenario;
  readonly connections: number;
  /** Readings that reached the bus per second over the load (and the drain after it). */
  readonly readingsPerSec: number;
  /** Receipt→bus latency percentiles, from the ingest histogram (interpolated within buckets). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Peak resident memory of the ingest process. */
  readonly rssMb: number;
  /** (RSS with the connections open − RSS before) / connections. */
  readonly kibPerConnection: number;
  /** Overload only: the rate offered, and seconds from the end of the flood until the backlog was through. */
  readonly offeredPerSec?: number;
  readonly recoveryS?: number;
  /** Overload only: the device capacity measured first, and the flood's delivered rate over it. */
  readonly capacityPerSec?: number;
  readonly deliveredRatio?: number;
  readonly published: number;
  readonly delivered: number;
  readonly errors: number;
  /** CPU time of the ingest process (every thread) per reading on the bus, µs: the cost, whatever else runs. */
  readonly cpuUsPerReading: number;
}

/** Options of {@link runIngestScenario}. */
export interface IngestScenarioOptions {
  readonly scenario: IngestScenario;
  readonly connections: number;
  readonly seconds: number;
  readonly window: number;
  /** Gateway scenario: messages per write, readings per message and meters per gateway. */
  readonly batch: number;
  readonly readingsPerMessage: number;
  readonly devicesPerGateway: number;
  /** Overload: publishes per second offered (2× the device scenario's capacity, measured first by the caller). */
  readonly ratePerSec?: number;
  /** Device and gateway: a plain Aedes (no authentication, no processing) counting publishes, for the ceiling. */
  readonly bare?: boolean;
  /** The registry in this PostgreSQL database (its BENCH* devices removed at the end) instead of PGlite. */
  readonly databaseUrl?: string;
  readonly log: (line: string) => void;
}

/**
 * Runs ingest (Aedes, authentication, ACL, decoding, the read gate) on the in-process bus with a consumer that only
 * counts, so what is measured is ingest's own capacity; the load runs in a child process.
 */
export async function runIngestScenario(options: IngestScenarioOptions): Promise<IngestScenarioResult> {
  if (options.bare) return runBareScenario(options);
  // The registry in PGlite inside this process by default (hundreds of MB of its RSS), or in a scratch PostgreSQL
  // database as a deployed ingest would use it, so that RSS is ingest's own.
  const store = await openStore(
    options.databaseUrl ? { databaseUrl: options.databaseUrl, pgliteDir: 'memory://' } : { pgliteDir: 'memory://' },
    [ingestMigrations],
  );
  // The cheapest scrypt cost: setting up 15,000 devices must not take minutes; throughput does not depend on it.
  const registry = createDeviceRegistry(store, { scryptCost: 2, cacheMaxEntries: 50_000 });
  const metrics = new Metrics();
  const bus = createMemoryBus({ maxBacklogPerPartition: 50_000 });
  const topic = TOPICS.readings('water-meter');
  await bus.ensureTopic(topic);
  await bus.ensureTopic(TOPICS.deadLetters);
  let delivered = 0;
  let lastArrivalMs = 0;
  await bus.subscribe({
    groupId: 'bench-sink',
    topics: [topic, TOPICS.deadLetters],
    maxBatchSize: 5_000,
    handler: async (batch) => {
      delivered += batch.length;
      lastArrivalMs = Date.now();
    },
  });

  const gateway = options.scenario === 'gateway';
  if (gateway) {
    const gateways = Array.from({ length: options.connections }, (_, g) => ({
      deviceId: benchGatewayId(g),
      kind: 'water-meter' as const,
      secret: SECRET,
    }));
    const meters = gateways.flatMap((gw, g) =>
      Array.from({ length: options.devicesPerGateway }, (_, j) => ({
        deviceId: benchGatewayMeterId(g, j, options.devicesPerGateway),
        kind: 'water-meter' as const,
        secret: SECRET,
        gatewayId: gw.deviceId,
      })),
    );
    await registry.provision([...gateways, ...meters]);
  } else {
    await registry.provision(
      Array.from({ length: options.connections }, (_, i) => ({
        deviceId: benchDeviceId(i),
        kind: 'water-meter' as const,
        secret: SECRET,
      })),
    );
  }

  const ingest = createIngest({
    config: ingestConfigSchema.parse({ mqttHost: '127.0.0.1', mqttPort: 0, maxConnections: 19_000 }),
    bus,
    registry,
    metrics,
    logger: silentLogger(),
  });
  const { port } = await ingest.listen();
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  let rssConnected = 0;
  const sampler = setInterval(() => {
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    if (metricsConnections >= options.connections * 0.99) rssConnected = Math.max(rssConnected, rss);
  }, 100);
  let metricsConnections = 0;
  const connWatch = setInterval(async () => {
    metricsConnections = await metrics.value('ingest_connections');
  }, 100);

  try {
    const cpuBefore = process.cpuUsage();
    const run = await loadInWorker<RawLoadResult>('--raw-worker', rawLoadOf(options, port));
    const startedMs = run.startedAtMs;
    const loadEndMs = startedMs + run.elapsedMs;
    // Everything written or acknowledged reaches the bus; wait (bounded) for the last of it.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && delivered < run.acked) await new Promise((r) => setTimeout(r, 20));
    const elapsedMs = Math.max(lastArrivalMs, loadEndMs) - startedMs;
    const cpuUs = cpuSince(cpuBefore);
    const latency = await latencyPercentiles(metrics);
    const kib = options.connections > 0 ? (rssConnected - rssBefore) / 1024 / options.connections : 0;
    const result: IngestScenarioResult = {
      scenario: options.scenario,
      connections: run.connected,
      readingsPerSec: Math.round(delivered / (elapsedMs / 1_000)),
      p50Ms: round2(latency.p50 * 1_000),
      p99Ms: round2(latency.p99 * 1_000),
      rssMb: Math.round(peakRss / 1_048_576),
      kibPerConnection: Math.round(Math.max(0, kib) * 10) / 10,
      ...(options.ratePerSec
        ? {
            offeredPerSec: options.ratePerSec,
            // Seconds after the generator stopped until the last reading was through.
            recoveryS: round2(Math.max(0, lastArrivalMs - (startedMs + options.seconds * 1_000)) / 1_000),
          }
        : {}),
      published: run.published,
      delivered,
      errors: run.errors + run.refused,
      cpuUsPerReading: perReading(cpuUs, delivered),
    };
    options.log(
      `${options.scenario}: ${run.connected} connections, ${run.published} published, ${delivered} on the bus in ${(elapsedMs / 1_000).toFixed(1)} s (${result.readingsPerSec}/s), receipt→bus p50 ${result.p50Ms} ms p99 ${result.p99Ms} ms, peak RSS ${result.rssMb} MB, ${result.kibPerConnection} KiB per connection, ${result.cpuUsPerReading} µs CPU per reading`,
    );
    return result;
  } finally {
    clearInterval(sampler);
    clearInterval(connWatch);
    await ingest.close();
    await bus.close();
    // A scratch database is left as it was found: the bench's devices go.
    if (options.databaseUrl) await store.query("DELETE FROM devices WHERE device_id LIKE 'BENCH%'");
    await store.close();
  }
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** CPU microseconds (user + system, every thread of this process) since `before`. */
function cpuSince(before: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(before);
  return used.user + used.system;
}

const perReading = (cpuUs: number, readings: number) => (readings > 0 ? round2(cpuUs / readings) : 0);

/** The generator's options for a scenario against `port` (the overload scenario loads like devices). */
function rawLoadOf(options: IngestScenarioOptions, port: number): RawLoadOptions {
  return {
    host: '127.0.0.1',
    port,
    scenario: options.scenario === 'gateway' || options.scenario === 'idle' ? options.scenario : 'device',
    connections: options.connections,
    secret: SECRET,
    seconds: options.seconds,
    window: options.window,
    batch: options.batch,
    readingsPerMessage: options.readingsPerMessage,
    devicesPerGateway: options.devicesPerGateway,
    startMs: Date.UTC(2026, 0, 1),
    ...(options.ratePerSec ? { ratePerSec: options.ratePerSec } : {}),
  };
}

/** The ceiling: the same load against a plain Aedes on a `noDelay` TCP server, counting the publishes it gets. */
async function runBareScenario(options: IngestScenarioOptions): Promise<IngestScenarioResult> {
  const broker = new Aedes();
  let delivered = 0;
  let lastArrivalMs = 0;
  // A gateway's batch message carries `readingsPerMessage` readings; the bare broker does not open it.
  const readingsPerPublish = options.scenario === 'gateway' ? options.readingsPerMessage : 1;
  broker.on('publish', (_packet, client) => {
    if (!client) return;
    delivered += readingsPerPublish;
    lastArrivalMs = Date.now();
  });
  await broker.listen();
  const server = createServer({ noDelay: true }, (socket) => broker.handle(socket));
  const port = await new Promise<number>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  );
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peakRss = rssBefore;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  try {
    const cpuBefore = process.cpuUsage();
    const run = await loadInWorker<RawLoadResult>('--raw-worker', rawLoadOf(options, port));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && delivered < run.acked) await new Promise((r) => setTimeout(r, 20));
    const elapsedMs = Math.max(lastArrivalMs, run.startedAtMs + run.elapsedMs) - run.startedAtMs;
    const cpuUs = cpuSince(cpuBefore);
    const result: IngestScenarioResult = {
      scenario: options.scenario,
      connections: run.connected,
      readingsPerSec: Math.round(delivered / (elapsedMs / 1_000)),
      p50Ms: Number.NaN,
      p99Ms: Number.NaN,
      rssMb: Math.round(peakRss / 1_048_576),
      kibPerConnection: 0,
      published: run.published,
      delivered,
      errors: run.errors + run.refused,
      cpuUsPerReading: perReading(cpuUs, delivered),
    };
    options.log(
      `${options.scenario} (bare Aedes): ${run.connected} connections, ${run.published} published, ${delivered} received in ${(elapsedMs / 1_000).toFixed(1)} s (${result.readingsPerSec}/s), peak RSS ${result.rssMb} MB, ${result.cpuUsPerReading} µs CPU per reading`,
    );
    return result;
  } finally {
    clearInterval(sampler);
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** p50 and p99 of `ingest_bus_latency_seconds`, in seconds, interpolated linearly within a bucket. */
async function latencyPercentiles(metrics: Metrics): Promise<{ p50: number; p99: number }> {
  const data = await metrics.registry.getSingleMetric('ingest_bus_latency_seconds')?.get();
  const buckets = (data?.values ?? [])
    .filter((v) => (v as { metricName?: string }).metricName === 'ingest_bus_latency_seconds_bucket')
    .map((v) => ({ le: v.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.count ?? 0;
  const at = (q: number) => {
    if (total === 0) return Number.NaN;
    const rank = q * total;
    let prevLe = 0;
    let prevCount = 0;
    for (const b of buckets) {
      if (b.count >= rank) {
        if (!Number.isFinite(b.le)) return prevLe;
        const share = b.count === prevCount ? 0 : (rank - prevCount) / (b.count - prevCount);
        return prevLe + share * (b.le - prevLe);
      }
      prevLe = b.le;
      prevCount = b.count;
    }
    return prevLe;
  };
  return { p50: at(0.5), p99: at(0.99) };
}
