import { describe, expect, it, onTestFinished } from 'vitest';
import { AppError } from './errors.ts';
import { Metrics } from './metrics.ts';
import { startMetricsServer } from './metrics-server.ts';

/** The /metrics endpoint on a real loopback socket (port 0). */

async function serve(healthy?: () => boolean) {
  const metrics = new Metrics();
  metrics
    .counter('ingest_messages_received_total', 'Device messages received', ['kind'])
    .inc({ kind: 'water-meter' }, 3);
  metrics.gauge('sink_influx_buffer_bytes', 'Bytes held by the on-disk buffer.').set(42);
  const server = await startMetricsServer({
    registry: metrics.registry,
    host: '127.0.0.1',
    port: 0,
    ...(healthy ? { healthy } : {}),
  });
  onTestFinished(() => server.close());
  return { metrics, server };
}

describe('metrics-server', () => {
  it('serves the registry in the Prometheus text format at /metrics when scraped', async () => {
    const { server } = await serve();
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE ingest_messages_received_total counter');
    expect(text).toContain('ingest_messages_received_total{kind="water-meter"} 3');
    expect(text).toContain('sink_influx_buffer_bytes 42');
  });

  it('answers /healthz with 200 while healthy and 503 once not', async () => {
    let running = true;
    const { server } = await serve(() => running);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    running = false;
    expect((await fetch(`${server.url}/healthz`)).status).toBe(503);
  });

  it('answers 404 for another path and 405 for another method', async () => {
    const { server } = await serve();
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST', body: 'x' })).status).toBe(405);
  });

  it('fails with ERR_METRICS_LISTEN naming the address when the port is taken', async () => {
    const { server } = await serve();
    const taken = startMetricsServer({ registry: new Metrics().registry, host: '127.0.0.1', port: server.port });
    await expect(taken).rejects.toBeInstanceOf(AppError);
    await expect(taken).rejects.toMatchObject({
      code: 'ERR_METRICS_LISTEN',
      message: expect.stringContaining(`127.0.0.1:${server.port} (EADDRINUSE`),
    });
  });

  it('stops listening when closed, even with a keep-alive connection open', async () => {
    const { server } = await serve();
    expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    await server.close();
    await expect(fetch(`${server.url}/metrics`)).rejects.toThrow();
  });
});
