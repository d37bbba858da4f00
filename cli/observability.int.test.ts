import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { BusMessage } from '../core/bus/port.ts';
import { HealthReport, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { openStore } from '../core/store/open.ts';
import { HEALTH_FIELDS } from '../sinks/influx/index.ts';
import { cliEnv } from '../test/helpers/cli-env.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { exportSeries } from '../test/helpers/victoria-metrics.ts';
import { dropKafkaNamespace } from './bus.ts';
import { loadConfig } from './config.ts';
import { STAGE_HEALTH_METRICS } from './observability.ts';
import { ALL_MIGRATIONS, startPipeline } from './pipeline.ts';

/** Every stage serves /metrics and /healthz on VIGIE_METRICS_PORT and reports its health on health.v1. */

const BIN = fileURLToPath(new URL('../bin/vigie.mjs', import.meta.url));

interface Child {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv): Child {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    c.stdout += s;
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    c.stderr += s;
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await c.exited;
  });
  return c;
}

async function scrape(url: string): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigie-observability-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('observability', () => {
  it('serves /metrics and /healthz from vigie sink and writes its health through health.v1 when on Kafka', async () => {
    const startedMs = Date.now();
    const metricsPort = await freePort();
    const namespace = `observability-${process.pid}-${Date.now()}`;
    const influxUrl = inject('influxUrl');
    const env = cliEnv({
      VIGIE_DATA_DIR: tempDir(),
      VIGIE_KAFKA_BROKERS: inject('kafkaBrokers').join(','),
      VIGIE_KAFKA_NAMESPACE: namespace,
      VIGIE_KAFKA_CLIENT_ID: namespace,
      VIGIE_KAFKA_PARTITIONS: '1',
      VIGIE_INFLUX_URL: influxUrl,
      VIGIE_INFLUX_FLUSH_INTERVAL_MS: '50',
      VIGIE_METRICS_HOST: '127.0.0.1',
      VIGIE_METRICS_PORT: String(metricsPort),
      VIGIE_HEALTH_INTERVAL_MS: '200',
    });
    onTestFinished(() => dropKafkaNamespace(loadConfig(env).kafka));
    const sink = run(['sink'], env);
    const base = `http://127.0.0.1:${metricsPort}`;
    // 1. Running: the log line names the endpoint, /healthz answers 200.
    await expect
      .poll(() => (sink.child.exitCode === null ? sink.stdout : `exited: ${sink.stderr}`), { timeout: 60_000 })
      .toContain(`"metrics":"${base}/metrics"`);
    expect(await scrape(`${base}/healthz`)).toEqual({ status: 200, text: 'ok\n' });
    // 2. Its own health reports went to Kafka, came back to it, and were written.
    await expect
      .poll(async () => (await scrape(`${base}/metrics`)).text, { timeout: 30_000 })
      .toMatch(/sink_influx_messages_received_total\{type="health"\} [1-9]/);
    const { text } = await scrape(`${base}/metrics`);
    for (const name of [
      'sink_influx_points_written_total',
      'sink_influx_buffer_bytes',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    await expect
      .poll(
        async () => {
          const series = await exportSeries(
            influxUrl,
            `{__name__="pipeline_health_rss_bytes",component="sink-influx",instance="${hostname()}"}`,
          );
          return series.flatMap((s) => s.timestamps).filter((ts) => ts >= startedMs).length;
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    // 3. SIGTERM: drains and exits 0; the endpoint is gone.
    sink.child.kill('SIGTERM');
    expect(await sink.exited).toBe(0);
    await expect(fetch(`${base}/metrics`)).rejects.toThrow();
  });

  it('serves every stage’s metrics from vigie start on VIGIE_METRICS_PORT', async () => {
    const metricsPort = await freePort();
    const env = cliEnv({
      VIGIE_DATA_DIR: tempDir(),
      VIGIE_MQTT_HOST: '127.0.0.1',
      VIGIE_MQTT_PORT: '0',
      VIGIE_METRICS_HOST: '127.0.0.1',
      VIGIE_METRICS_PORT: String(metricsPort),
    });
    const start = run(['start', '--no-demo'], env);
    const base = `http://127.0.0.1:${metricsPort}`;
    await expect
      .poll(() => (start.child.exitCode === null ? start.stdout : `exited: ${start.stderr}`), { timeout: 60_000 })
      .toContain(`metrics:      ${base}/metrics`);
    expect((await scrape(`${base}/healthz`)).status).toBe(200);
    const { status, text } = await scrape(`${base}/metrics`);
    expect(status).toBe(200);
    for (const name of [
      'ingest_messages_received_total',
      'ingest_connections',
      'processor_readings_total',
      'alerting_messages_sent_total',
      'process_resident_memory_bytes',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    start.child.kill('SIGINT');
    expect(await start.exited).toBe(0);
  });

  it('reports the health of every stage of vigie start from metrics that exist, in the sink’s schema', async () => {
    const config = loadConfig({
      VIGIE_DATA_DIR: tempDir(),
      VIGIE_MQTT_HOST: '127.0.0.1',
      VIGIE_MQTT_PORT: '0',
      VIGIE_INFLUX_URL: inject('influxUrl'),
      VIGIE_HEALTH_INTERVAL_MS: '100',
    });
    const store = await openStore({ pgliteDir: 'memory://' }, ALL_MIGRATIONS);
    const pipeline = await startPipeline({ config, logger: silentLogger(), store });
    onTestFinished(async () => {
      await pipeline.close();
      await store.close();
    });
    const reports: BusMessage[] = [];
    await pipeline.bus.subscribe({
      groupId: 'observability-test',
      topics: [TOPICS.health],
      fromBeginning: true,
      handler: async (batch) => {
        reports.push(...batch);
      },
    });
    const components = () => new Set(reports.map((m) => HealthReport.parse(JSON.parse(m.value)).component));
    await expect
      .poll(() => [...components()].sort(), { timeout: 30_000 })
      .toEqual(['alerting', 'ingest', 'processors', 'rollups', 'sink-influx']);
    for (const m of reports) {
      const report = HealthReport.parse(JSON.parse(m.value));
      for (const name of Object.keys(report.values)) expect(HEALTH_FIELDS).toContain(name);
      expect(report.values.rss_bytes).toBeGreaterThan(0);
    }
    // Every metric the reports read is one the stages really keep (a renamed metric would read 0 forever).
    for (const [component, fields] of Object.entries(STAGE_HEALTH_METRICS)) {
      for (const refs of Object.values(fields)) {
        for (const ref of [refs].flat()) {
          const name = typeof ref === 'string' ? ref : ref.metric;
          expect(pipeline.metrics.registry.getSingleMetric(name), `${component}: ${name}`).toBeDefined();
        }
      }
    }
    // The processors and alerting measure their bus lag on the in-process bus.
    const processors = reports
      .map((m) => HealthReport.parse(JSON.parse(m.value)))
      .find((r) => r.component === 'processors');
    expect(processors?.values).toHaveProperty('bus_lag_messages');
  });
});
