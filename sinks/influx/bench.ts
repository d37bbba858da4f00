/**
 * Sink throughput: `npx tsx sinks/influx/bench.ts [--points N]`. Puts N water-meter readings (3 metrics each) on an
 * in-process bus, then times the sink from start until the server holds every point: parse, line protocol, the
 * on-disk buffer (fdatasync per group of appends), gzip, HTTP. The server is VIGIE_INFLUX_URL when set, otherwise
 * a VictoriaMetrics of its own (test/helpers). Prints one line of JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { startVictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';
import { influxSinkConfigSchema } from './config.ts';
import { createInfluxSink } from './sink.ts';

const { values } = parseArgs({ options: { points: { type: 'string', default: '200000' } } });
const points = Number(values.points);
const DEVICES = 1_000;
const PARTITIONS = 8;

const server = process.env.VIGIE_INFLUX_URL
  ? { url: process.env.VIGIE_INFLUX_URL, stop: async () => {} }
  : await startVictoriaMetrics({ dedicated: true });
const dir = mkdtempSync(join(tmpdir(), 'vigie-sink-bench-'));
const bus = createMemoryBus({
  defaultPartitions: PARTITIONS,
  maxBacklogPerPartition: points,
  retainPerPartition: points,
});
const baseMs = Date.now() - 7 * 86_400_000;
const topic = TOPICS.readings('water-meter');
for (let from = 0; from < points; from += 10_000) {
  const messages = [];
  for (let i = from; i < Math.min(points, from + 10_000); i++) {
    const deviceId = `WM-${String(i % DEVICES).padStart(6, '0')}`;
    const step = Math.floor(i / DEVICES);
    const reading = {
      deviceId,
      kind: 'water-meter',
      ts: new Date(baseMs + step * 900_000).toISOString(),
      metrics: { indexL: 100_000 + step * 7, flowLph: (step % 13) * 1.5, batteryPct: 87 },
    };
    messages.push({ key: deviceId, value: JSON.stringify(reading) });
  }
  await bus.produce(topic, messages);
}

const sink = createInfluxSink({
  bus,
  config: influxSinkConfigSchema.parse({ url: server.url, flushIntervalMs: 100 }),
  dataDir: dir,
  metrics: new Metrics(),
  logger: silentLogger(),
});
const started = performance.now();
await sink.start();
while (sink.stats().pointsWritten < points) await new Promise((r) => setTimeout(r, 20));
const seconds = (performance.now() - started) / 1_000;
const rssMb = Math.round(process.memoryUsage().rss / 1_048_576);
await sink.close();
await bus.close();
await server.stop();
rmSync(dir, { recursive: true, force: true });
console.log(
  JSON.stringify({ points, seconds: Number(seconds.toFixed(2)), pointsPerSec: Math.round(points / seconds), rssMb }),
);
