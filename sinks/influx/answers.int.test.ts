import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { DeadLetter, TOPICS } from '../../core/contracts/index.ts';
import type { AppError } from '../../core/errors.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { influxSinkConfigSchema } from './config.ts';
import { createInfluxSink, SINK_INFLUX_GROUP } from './sink.ts';

/**
 * The sink against a scripted stand-in for the InfluxDB v2 write API: a loopback HTTP server that answers what each
 * test scripts (InfluxDB's documented answers: 400/413/401/429/503), standing in for a third-party server.
 */

interface Request {
  readonly lines: string[];
  readonly atMs: number;
  readonly auth: string | undefined;
}

type Script = (req: Request, n: number) => { status: number; body?: string; headers?: Record<string, string> };

async function scriptedServer(script: Script): Promise<{ url: string; requests: Request[]; stored: string[] }> {
  const requests: Request[] = [];
  const stored: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      const lines = body
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '');
      const request = { lines, atMs: Date.now(), auth: req.headers.authorization };
      requests.push(request);
      const answer = script(request, requests.length);
      if (answer.status === 204) stored.push(...lines);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  server.unref();
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, requests, stored };
}

async function setup(url: string, config: Record<string, unknown> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'vigie-sink-answers-'));
  const bus = createMemoryBus({ defaultPartitions: 2, redelivery: { initialDelayMs: 20, maxDelayMs: 200 } });
  const metrics = new Metrics();
  const fatal: AppError[] = [];
  const sink = createInfluxSink({
    bus,
    config: influxSinkConfigSchema.parse({
      url,
      token: 'secret-token',
      flushIntervalMs: 20,
      retryInitialDelayMs: 10,
      retryMaxDelayMs: 2_000,
      ...config,
    }),
    dataDir: dir,
    metrics,
    logger: silentLogger(),
    onFatal: (err) => fatal.push(err),
  });
  const letters: DeadLetter[] = [];
  await bus.ensureTopic(TOPICS.deadLetters);
  const dlq = await bus.subscribe({
    groupId: 'test-dlq',
    topics: [TOPICS.deadLetters],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) letters.push(DeadLetter.parse(JSON.parse(m.value)));
    },
  });
  await sink.start();
  onTestFinished(async () => {
    await sink.close();
    await dlq.close();
    await bus.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { bus, sink, metrics, fatal, letters };
}

const readingOf = (i: number) => ({
  deviceId: `WM-${String(i).padStart(4, '0')}`,
  kind: 'water-meter',
  ts: 1772331300000 + i * 1_000,
  metrics: { indexL: 1000 + i },
});

async function produceReadings(bus: ReturnType<typeof createMemoryBus>, from: number, n: number): Promise<void> {
  const messages = Array.from({ length: n }, (_, k) => {
    const r = readingOf(from + k);
    return { key: r.deviceId, value: JSON.stringify(r) };
  });
  await bus.produce(TOPICS.readings('water-meter'), messages);
}

describe('sink-influx answers', () => {
  it('dead-letters only the refused point with the server’s message when the answer is 400, and writes the rest', async () => {
    const server = await scriptedServer((req) =>
      req.lines.some((l) => l.includes('WM-0013'))
        ? { status: 400, body: '{"code":"invalid","message":"partial write: field type conflict on WM-0013"}' }
        : { status: 204 },
    );
    const { bus, sink, letters, metrics } = await setup(server.url);
    await produceReadings(bus, 0, 40);
    await vi.waitFor(() => expect(letters).toHaveLength(1), { timeout: 10_000 });
    await sink.drain(10_000);
    expect(server.stored).toHaveLength(39);
    expect(new Set(server.stored).size).toBe(39);
    expect(server.stored.some((l) => l.includes('WM-0013'))).toBe(false);
    const [letter] = letters;
    expect(letter).toMatchObject({
      errorCode: 'ERR_SINK_REJECTED',
      component: 'sink-influx',
      stage: 'sending',
      deviceId: 'WM-0013',
      source: { type: 'bus', topic: TOPICS.readings('water-meter') },
    });
    expect(letter?.message).toContain('partial write: field type conflict on WM-0013');
    expect(JSON.parse(Buffer.from(letter!.rawBase64, 'base64').toString('utf8'))).toEqual(readingOf(13));
    // Accounting: sent = written + dead-lettered.
    expect(sink.stats().pointsWritten + sink.stats().pointsRejected).toBe(40);
    expect(await metrics.value('sink_influx_dead_letters_total', { code: 'ERR_SINK_REJECTED' })).toBe(1);
    expect(bus.lag(SINK_INFLUX_GROUP, TOPICS.readings('water-meter'))).toBe(0);
  });

  it('halves the batch until the server takes it when the answer is 413', async () => {
    const server = await scriptedServer((req) =>
      req.lines.length > 8
        ? { status: 413, body: '{"code":"request too large","message":"too large"}' }
        : { status: 204 },
    );
    const { bus, sink, metrics } = await setup(server.url);
    await produceReadings(bus, 0, 50);
    await vi.waitFor(() => expect(server.stored).toHaveLength(50), { timeout: 10_000 });
    await sink.drain(10_000);
    expect(new Set(server.stored).size).toBe(50);
    expect(await metrics.value('sink_influx_batch_splits_total', { status: '413' })).toBeGreaterThan(0);
    expect(sink.stats().pointsRejected).toBe(0);
  });

  it('stops loudly and commits nothing more when the answer is 401', async () => {
    const server = await scriptedServer(() => ({
      status: 401,
      body: '{"code":"unauthorized","message":"unauthorized access"}',
    }));
    const { bus, sink, fatal, metrics } = await setup(server.url);
    await produceReadings(bus, 0, 5);
    await vi.waitFor(() => expect(fatal).toHaveLength(1), { timeout: 10_000 });
    expect(fatal[0]).toMatchObject({ code: 'ERR_SINK_AUTH' });
    expect(fatal[0]?.message).toContain('unauthorized access');
    expect(fatal[0]?.message).not.toContain('secret-token');
    expect(server.requests[0]?.auth).toBe('Token secret-token');
    expect(await metrics.value('sink_influx_stopped')).toBe(1);
    // Later batches are refused by the handler: they stay uncommitted on the bus, and nothing is written.
    await produceReadings(bus, 5, 5);
    await expect
      .poll(() => bus.lag(SINK_INFLUX_GROUP, TOPICS.readings('water-meter')), { timeout: 5_000 })
      .toBeGreaterThanOrEqual(5);
    expect(server.stored).toHaveLength(0);
    expect(sink.stats().bufferPoints).toBe(5); // the first five are kept on disk for the next start
  });

  it('waits as long as Retry-After says when the answer is 429, then writes every point once', async () => {
    const server = await scriptedServer((_, n) =>
      n === 1
        ? { status: 429, body: '{"message":"too many requests"}', headers: { 'retry-after': '1' } }
        : { status: 204 },
    );
    const { bus, sink, metrics } = await setup(server.url);
    await produceReadings(bus, 0, 20);
    await vi.waitFor(() => expect(server.stored).toHaveLength(20), { timeout: 10_000 });
    await sink.drain(5_000);
    expect(server.requests[1]!.atMs - server.requests[0]!.atMs).toBeGreaterThanOrEqual(950);
    expect(await metrics.value('sink_influx_write_retries_total', { reason: 'throttled' })).toBe(1);
  });

  it('keeps the points and retries with backoff when the answer is 503, then writes each once', async () => {
    const server = await scriptedServer((_, n) => (n <= 3 ? { status: 503, body: 'unavailable' } : { status: 204 }));
    const { bus, sink, metrics } = await setup(server.url);
    await produceReadings(bus, 0, 30);
    await vi.waitFor(() => expect(server.stored).toHaveLength(30), { timeout: 10_000 });
    await sink.drain(5_000);
    expect(new Set(server.stored).size).toBe(30);
    expect(await metrics.value('sink_influx_write_retries_total', { reason: 'server' })).toBe(3);
  });

  it('dead-letters a bad message on the bus with its bytes and goes on when a reading is not JSON', async () => {
    const server = await scriptedServer(() => ({ status: 204 }));
    const { bus, sink, letters } = await setup(server.url);
    await bus.produce(TOPICS.readings('water-meter'), [{ key: 'WM-1', value: '{not json' }]);
    await produceReadings(bus, 0, 3);
    await vi.waitFor(() => expect(server.stored).toHaveLength(3), { timeout: 10_000 });
    await vi.waitFor(() => expect(letters).toHaveLength(1), { timeout: 5_000 });
    expect(letters[0]).toMatchObject({ errorCode: 'ERR_READING_JSON', stage: 'receiving', deviceId: 'WM-1' });
    expect(Buffer.from(letters[0]!.rawBase64, 'base64').toString()).toBe('{not json');
    await sink.drain(5_000);
  });
});
