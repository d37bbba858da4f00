import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { TOPICS } from '../../core/contracts/index.ts';
import { AppError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { exportSeries, startVictoriaMetrics } from '../../test/helpers/victoria-metrics.ts';
import { influxSinkConfigSchema } from './config.ts';
import { createInfluxSink } from './sink.ts';

/**
 * The outage test (issue 4): a steady load of readings while the server is stopped for 30 s and started again.
 * Every reading produced to the bus reaches the server exactly once — VictoriaMetrics runs without deduplication
 * here, so a point written twice would show as two raw samples of its series: the test counts samples per series
 * and checks their timestamps are exactly the produced ones. The on-disk buffer is kept small (2 MiB) so it fills
 * during the outage: the sink then stops taking batches, the bus backlog fills and the producer (ingest's place)
 * is held back — and the process's heap, sampled throughout, stays bounded.
 */

const DEVICES = 100;
const PER_TICK = 20;
const TICK_MS = 10; // 2,000 readings/s
const OUTAGE_MS = 30_000;
const BUFFER_MAX_BYTES = 2 * 1_048_576;

describe('sink-influx outage', () => {
  it('delivers every reading once and keeps memory bounded when the server is down for 30 s under load', async () => {
    const vm = await startVictoriaMetrics({ dedicated: true });
    onTestFinished(() => vm.stop());
    const dir = mkdtempSync(join(tmpdir(), 'vigie-sink-outage-'));
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const bus = createMemoryBus({ defaultPartitions: 4, maxBacklogPerPartition: 2_000, produceTimeoutMs: 500 });
    const metrics = new Metrics();
    const sink = createInfluxSink({
      bus,
      config: influxSinkConfigSchema.parse({
        url: vm.url,
        flushIntervalMs: 100,
        retryInitialDelayMs: 100,
        retryMaxDelayMs: 1_000,
        bufferMaxBytes: BUFFER_MAX_BYTES,
        segmentBytes: 262_144,
        fullWaitMs: 1_000,
      }),
      dataDir: dir,
      metrics,
      logger: silentLogger(),
    });
    await sink.start();
    onTestFinished(async () => {
      await sink.close();
      await bus.close();
    });

    const id = randomBytes(4).toString('hex');
    const baseMs = Date.now() - 24 * 3_600_000;
    const seq = new Array<number>(DEVICES).fill(0);
    let produced = 0;
    let stalls = 0;
    let producing = true;
    const heap: number[] = [];
    let maxBufferBytes = 0;
    const sampler = setInterval(() => {
      heap.push(process.memoryUsage().heapUsed);
      maxBufferBytes = Math.max(maxBufferBytes, sink.stats().bufferBytes);
    }, 200);
    onTestFinished(() => clearInterval(sampler));

    // The load: PER_TICK readings every TICK_MS, each device's event time one second apart. A produce refused by a
    // full bus (ERR_BUS_FULL) is sent again, as ingest does when it holds a device's message.
    const producer = (async () => {
      let device = 0;
      while (producing) {
        const started = Date.now();
        const messages = Array.from({ length: PER_TICK }, () => {
          const d = device++ % DEVICES;
          const s = seq[d]!++;
          const deviceId = `OUT-${id}-${d}`;
          const reading = { deviceId, kind: 'water-meter', ts: baseMs + s * 1_000, metrics: { indexL: s } };
          return { key: deviceId, value: JSON.stringify(reading) };
        });
        for (;;) {
          try {
            await bus.produce(TOPICS.readings('water-meter'), messages);
            produced += messages.length;
            break;
          } catch (err) {
            if (!(err instanceof AppError && err.code === 'ERR_BUS_FULL')) throw err;
            stalls += 1;
          }
        }
        await new Promise((r) => setTimeout(r, Math.max(0, TICK_MS - (Date.now() - started))));
      }
    })();

    // 1. Steady state, then the server goes away for 30 s.
    await expect.poll(() => sink.stats().pointsWritten, { timeout: 10_000 }).toBeGreaterThan(2_000);
    const heapBefore = Math.max(...heap.slice(-5), process.memoryUsage().heapUsed);
    await vm.stopServer();
    const writtenAtStop = sink.stats().pointsWritten;
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    // 2. During the outage nothing was written, the buffer filled to its bound, and the load was held back.
    expect(sink.stats().pointsWritten).toBe(writtenAtStop);
    expect(await metrics.value('sink_influx_buffer_full_total')).toBeGreaterThan(0);
    expect(stalls).toBeGreaterThan(0);
    // 3. The server returns; the load goes on a little, then stops, and everything drains.
    await vm.startServer();
    await new Promise((r) => setTimeout(r, 3_000));
    producing = false;
    await producer;
    await expect.poll(() => bus.lag('sink-influx', TOPICS.readings('water-meter')), { timeout: 30_000 }).toBe(0);
    await sink.drain(30_000);
    clearInterval(sampler);

    // 4. Every reading arrived exactly once: one sample per produced (device, event time), no more, no fewer.
    const series = await exportSeries(vm.url, `{__name__="water_meter_indexL",device_id=~"OUT-${id}-.*"}`);
    let samples = 0;
    for (const s of series) {
      const d = Number(s.metric.device_id!.split('-').at(-1));
      samples += s.values.length;
      expect(s.timestamps).toEqual(Array.from({ length: seq[d]! }, (_, k) => baseMs + k * 1_000));
      expect(s.values).toEqual(Array.from({ length: seq[d]! }, (_, k) => k));
    }
    expect(series).toHaveLength(DEVICES);
    expect(samples).toBe(produced);
    expect(sink.stats().pointsWritten).toBe(produced);
    expect(sink.stats().pointsRejected).toBe(0);

    // 5. Bounded: the buffer never went past its maximum, the heap grew by less than 64 MiB over the outage.
    const heapGrowthMb = (Math.max(...heap) - heapBefore) / 1_048_576;
    console.info(
      JSON.stringify({
        produced,
        stalls,
        maxBufferBytes,
        heapBeforeMb: Math.round(heapBefore / 1_048_576),
        heapGrowthMb: Math.round(heapGrowthMb),
      }),
    );
    expect(maxBufferBytes).toBeLessThanOrEqual(BUFFER_MAX_BYTES);
    expect(heapGrowthMb).toBeLessThan(64);
  }, 90_000);
});
