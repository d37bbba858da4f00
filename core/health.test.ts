import { pino } from 'pino';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { createMemoryBus } from './bus/memory.ts';
import type { BusMessage } from './bus/port.ts';
import { ManualClock } from './clock.ts';
import { HealthReport, TOPICS } from './contracts/index.ts';
import { metricsSampler, startHealthReporter } from './health.ts';
import { silentLogger } from './logging.ts';
import { Metrics } from './metrics.ts';

async function collect() {
  const bus = createMemoryBus();
  const received: BusMessage[] = [];
  await bus.ensureTopic(TOPICS.health);
  await bus.subscribe({
    groupId: 'health-test',
    topics: [TOPICS.health],
    fromBeginning: true,
    handler: async (batch) => {
      received.push(...batch);
    },
  });
  onTestFinished(() => bus.close());
  return { bus, received };
}

/** A logger whose lines the test reads. */
function capturingLogger() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { logger, lines };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('health', () => {
  it('produces a valid report on health.v1 every interval when started, with rss_bytes and integer values', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { bus, received } = await collect();
    const clock = new ManualClock(Date.UTC(2026, 2, 1, 2, 0));
    let n = 0;
    const reporter = startHealthReporter({
      bus,
      component: 'ingest',
      instance: 'host-a',
      intervalMs: 10_000,
      clock,
      logger: silentLogger(),
      sample: () => ({ messages_in: ++n * 10, held_messages: 2.6, connections: -1, bus_lag_messages: Number.NaN }),
    });
    onTestFinished(() => reporter.close());
    // 1. Three intervals: three reports.
    for (let i = 0; i < 3; i++) {
      await vi.advanceTimersByTimeAsync(10_000);
      await expect.poll(() => reporter.stats().produced, { timeout: 2_000 }).toBe(i + 1);
    }
    await expect.poll(() => received.length, { timeout: 2_000 }).toBe(3);
    const reports = received.map((m) => HealthReport.parse(JSON.parse(m.value)));
    expect(received.map((m) => m.key)).toEqual(['ingest:host-a', 'ingest:host-a', 'ingest:host-a']);
    expect(reports.map((r) => r.values.messages_in)).toEqual([10, 20, 30]);
    expect(reports[0]).toMatchObject({
      component: 'ingest',
      instance: 'host-a',
      ts: '2026-03-01T02:00:00.000Z',
      values: { held_messages: 3, connections: 0 },
    });
    expect(reports[0]?.values.rss_bytes).toBeGreaterThan(0);
    expect(reports[0]?.values).not.toHaveProperty('bus_lag_messages');
    // 2. Closed: no more reports.
    await reporter.close();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(reporter.stats()).toEqual({ produced: 3, failed: 0 });
  });

  it('resolves false, counts and logs once a minute when the bus refuses a report (never throws)', async () => {
    const bus = createMemoryBus();
    await bus.close();
    const metrics = new Metrics();
    const { logger, lines } = capturingLogger();
    const reporter = startHealthReporter({
      bus,
      component: 'sink-influx',
      intervalMs: 0,
      metrics,
      logger,
      sample: () => ({ buffer_bytes: 1 }),
    });
    expect(await reporter.report()).toBe(false);
    expect(await reporter.report()).toBe(false);
    expect(reporter.stats()).toEqual({ produced: 0, failed: 2 });
    expect(await metrics.value('health_reports_failed_total', { component: 'sink-influx' })).toBe(2);
    expect(lines.filter((l) => l.msg === 'health report not produced; the next one is tried')).toHaveLength(1);
    await reporter.close();
  });

  it('counts a failure when the sample throws or gives a name that is not a metric name', async () => {
    const { bus, received } = await collect();
    const metrics = new Metrics();
    let sample: () => Record<string, number> = () => {
      throw new Error('registry gone');
    };
    const reporter = startHealthReporter({
      bus,
      component: 'processors',
      intervalMs: 0,
      metrics,
      logger: silentLogger(),
      sample: () => sample(),
    });
    expect(await reporter.report()).toBe(false);
    sample = () => ({ 'not a name': 1 });
    expect(await reporter.report()).toBe(false);
    sample = () => ({ messages_in: 1 });
    expect(await reporter.report()).toBe(true);
    expect(reporter.stats()).toEqual({ produced: 1, failed: 2 });
    await expect.poll(() => received.length, { timeout: 2_000 }).toBe(1);
    await reporter.close();
  });

  it('sums the named metrics over their labels when sampling a registry', async () => {
    const metrics = new Metrics();
    const c = metrics.counter('x_total', 'x', ['code']);
    c.inc({ code: 'A' }, 2);
    c.inc({ code: 'B' }, 3);
    c.inc({ code: 'C' }, 5);
    metrics.gauge('y_bytes', 'y').set(7);
    const sample = metricsSampler(metrics, {
      messages_in: 'x_total',
      points_rejected: [
        { metric: 'x_total', labels: { code: 'A' } },
        { metric: 'x_total', labels: { code: 'C' } },
      ],
      buffer_bytes: 'y_bytes',
      connections: 'never_created',
    });
    expect(await sample()).toEqual({ messages_in: 10, points_rejected: 7, buffer_bytes: 7, connections: 0 });
  });
});
