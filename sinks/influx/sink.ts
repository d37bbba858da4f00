import { join } from 'node:path';
import type { z } from 'zod';
import type { BatchHandler, Bus, BusMessage, OutgoingMessage, Subscription } from '../../core/bus/port.ts';
import { backoffDelayMs } from '../../core/bus/retry.ts';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import {
  AlertTransition,
  type DeadLetter,
  DeviceId,
  DeviceInfo,
  HealthReport,
  KINDS,
  type Kind,
  Reading,
  Rollup,
  TOPICS,
} from '../../core/contracts/index.ts';
import { AppError, preview } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { type BufferBatch, type BufferEntry, type DiskBuffer, openDiskBuffer } from './buffer.ts';
import type { InfluxSinkConfig } from './config.ts';
import { alertLine, deviceLine, healthReportLine, type PointLine, readingLine, rollupLine } from './line-protocol.ts';
import { createInfluxWriter, type InfluxWriter, type WriteOutcome } from './writer.ts';

/**
 * The time-series sink: consumer group `sink-influx` on `readings.<kind>.v1` (every kind), `alerts.v1`,
 * `rollups.v1`, `devices.v1` and `health.v1` (every stage's health, the sink's own included). Each
 * bus batch becomes line protocol, appended to the on-disk buffer (buffer.ts) and fsync'd before the handler
 * resolves, so the bus commits offsets only once the points are durable (STYLE.md §0.2). A flusher reads the
 * buffer in order and writes batches of up to `batchSize` lines to the InfluxDB v2 write API (writer.ts):
 * - written → the buffer moves on and deletes finished segments;
 * - 400/422 → the batch is halved until each refused line is alone; that line goes to `deadletter.v1` with the
 *   server's message and the original message bytes, every other line is written (works whether the server
 *   wrote the rest of a partial batch or not: the points are idempotent);
 * - 413 → halved and retried (a single line the server still refuses is dead-lettered as `ERR_SINK_TOO_LARGE`);
 * - 401/403 → the sink stops loudly: error log, `sink_influx_stopped` = 1, `onFatal`; its handler then fails every
 *   batch, so nothing more is committed, and the buffered points stay on disk for the next start;
 * - 429, 5xx, timeouts, network errors, anything else → kept, retried with backoff (Retry-After honoured, capped),
 *   forever: the buffer fills meanwhile and, once full, the handler waits, then fails (the bus redelivers), which
 *   stops consumption: backpressure up to ingest.
 * Bad messages on the bus are dead-lettered by the handler (ERR_<READING|ALERT|ROLLUP|DEVICE_INFO|HEALTH>_JSON or
 * _SCHEMA), so is a valid record holding a value outside the time-series schema (ERR_SINK_SCHEMA: never written, so
 * a field's type never changes); a record without any field (a reading without metrics, an empty rollup or health
 * report) is dropped on purpose and counted (line protocol needs a field).
 */

/** Consumer group of the sink. */
export const SINK_INFLUX_GROUP = 'sink-influx';
/** Component name in dead letters and logs. */
const COMPONENT = 'sink-influx';

/**
 * What each consumed topic carries: its error-code area (ERR_<area>_JSON / _SCHEMA: ERR_READING_JSON,
 * ERR_READING_SCHEMA, ERR_ALERT_JSON, ERR_ALERT_SCHEMA, ERR_ROLLUP_JSON, ERR_ROLLUP_SCHEMA, ERR_DEVICE_INFO_JSON,
 * ERR_DEVICE_INFO_SCHEMA, ERR_HEALTH_JSON, ERR_HEALTH_SCHEMA), its name for people, its schema, its contract.
 */
interface Source {
  readonly type: 'reading' | 'alert' | 'rollup' | 'device' | 'health';
  readonly area: string;
  readonly noun: string;
  readonly schema: z.ZodType;
  readonly contract: string;
}

const SOURCES: Readonly<Record<Exclude<Source['type'], 'reading'>, Source>> = {
  alert: {
    type: 'alert',
    area: 'ALERT',
    noun: 'alert transition',
    schema: AlertTransition,
    contract: 'CONTRACTS.md §4',
  },
  rollup: { type: 'rollup', area: 'ROLLUP', noun: 'rollup', schema: Rollup, contract: 'core/contracts/rollup.ts' },
  device: {
    type: 'device',
    area: 'DEVICE_INFO',
    noun: 'device description',
    schema: DeviceInfo,
    contract: 'core/contracts/device-info.ts',
  },
  health: {
    type: 'health',
    area: 'HEALTH',
    noun: 'health report',
    schema: HealthReport,
    contract: 'core/contracts/health.ts',
  },
};
const READING_SOURCE: Source = {
  type: 'reading',
  area: 'READING',
  noun: 'reading',
  schema: Reading,
  contract: 'CONTRACTS.md §4',
};

/** Options of {@link createInfluxSink}. */
export interface InfluxSinkOptions {
  readonly bus: Bus;
  /** The sink's configuration; `url` must be set. */
  readonly config: InfluxSinkConfig;
  /** Root data folder: the buffer goes to `<dataDir>/sink-influx` unless `config.bufferDir` is set. */
  readonly dataDir: string;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Consumer group (default {@link SINK_INFLUX_GROUP}). */
  readonly groupId?: string;
  /** Wall clock for retries and dead-letter times. Default: system. */
  readonly clock?: Clock;
  /** Called once when the sink stops for good (401/403): the caller should exit non-zero. */
  readonly onFatal?: (err: AppError) => void;
  /** Writer to use instead of one built from `config` (a server stand-in in tests passes its own URL instead). */
  readonly writer?: InfluxWriter;
}

/** A running sink. */
export interface InfluxSink {
  /** Opens (and recovers) the buffer, subscribes, starts the flusher. */
  start(): Promise<void>;
  /** Resolves once the buffer is empty (every buffered point written or dead-lettered); rejects after timeoutMs. */
  drain(timeoutMs: number): Promise<void>;
  /** What the sink holds and has done. */
  stats(): InfluxSinkStats;
  /** Leaves the group (in-flight batches finish and commit), stops the flusher, closes the buffer. Points left in
   * the buffer are written at the next start. */
  close(): Promise<void>;
}

/** Counters of the sink. */
export interface InfluxSinkStats {
  readonly bufferBytes: number;
  readonly bufferPoints: number;
  readonly pointsWritten: number;
  readonly pointsRejected: number;
  readonly writeRetries: number;
  /** Set once the server refused our credentials. */
  readonly stopped: AppError | undefined;
}

/** What the sink makes of each topic it consumes. */
const SOURCE_OF_TOPIC: ReadonlyMap<string, Source> = new Map<string, Source>([
  ...KINDS.map((k: Kind) => [TOPICS.readings(k), READING_SOURCE] as const),
  [TOPICS.alerts, SOURCES.alert],
  [TOPICS.rollups, SOURCES.rollup],
  [TOPICS.devices, SOURCES.device],
  [TOPICS.health, SOURCES.health],
]);

/** The topics the sink consumes (group {@link SINK_INFLUX_GROUP}). */
export const SINK_INFLUX_TOPICS: readonly string[] = [...SOURCE_OF_TOPIC.keys()];

/** Creates the sink. */
export function createInfluxSink(options: InfluxSinkOptions): InfluxSink {
  const { bus, config, metrics, logger } = options;
  const groupId = options.groupId ?? SINK_INFLUX_GROUP;
  const clock = options.clock ?? SYSTEM_CLOCK;
  const writer = options.writer ?? createInfluxWriter(config);
  const bufferDir = config.bufferDir || join(options.dataDir, 'sink-influx');
  const retryPolicy = { initialDelayMs: config.retryInitialDelayMs, maxDelayMs: config.retryMaxDelayMs };
  const sources = SOURCE_OF_TOPIC;
  const topics = SINK_INFLUX_TOPICS;

  const received = metrics.counter(
    'sink_influx_messages_received_total',
    'Bus messages the sink consumed, per type (reading, alert, rollup, device, health).',
    ['type'],
  );
  const written = metrics.counter('sink_influx_points_written_total', 'Points the server accepted.');
  const deadLettered = metrics.counter(
    'sink_influx_dead_letters_total',
    'Messages and points sent to the dead-letter topic, per error code.',
    ['code'],
  );
  const dropped = metrics.counter(
    'sink_influx_messages_dropped_total',
    'Messages dropped on purpose, per reason (no-metrics: a reading with no field; no-fields: an empty rollup or health report).',
    ['reason'],
  );
  const retries = metrics.counter(
    'sink_influx_write_retries_total',
    'Write requests that will be tried again, per reason (throttled, server, network, timeout, unexpected).',
    ['reason'],
  );
  const splits = metrics.counter(
    'sink_influx_batch_splits_total',
    'Batches halved after a 400/422 (to find refused points) or a 413 (too large).',
    ['status'],
  );
  const bufferBytes = metrics.gauge('sink_influx_buffer_bytes', 'Bytes held by the on-disk buffer.');
  const bufferPoints = metrics.gauge('sink_influx_buffer_points', 'Points in the on-disk buffer, not yet written.');
  const bufferMax = metrics.gauge('sink_influx_buffer_max_bytes', 'Most bytes the on-disk buffer may hold.');
  const bufferFull = metrics.counter(
    'sink_influx_buffer_full_total',
    'Bus batches that found the buffer full and waited (backpressure).',
  );
  const stoppedGauge = metrics.gauge(
    'sink_influx_stopped',
    '1 when the sink stopped because credentials were refused.',
  );
  const writeSeconds = metrics.histogram(
    'sink_influx_write_duration_seconds',
    'Duration of write requests, per outcome.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ['outcome'],
  );

  let buffer: DiskBuffer | undefined;
  let subscription: Subscription | undefined;
  let flusher: Promise<void> | undefined;
  let closing = false;
  let stopped: AppError | undefined;
  const abort = new AbortController();
  const inFlight = new Set<AbortController>();
  let pointsWritten = 0;
  let pointsRejected = 0;
  let writeRetries = 0;
  const drainWaiters = new Set<() => void>();
  const aborted = new Promise<void>((resolve) => abort.signal.addEventListener('abort', () => resolve()));
  let lastErrorLogMs = 0;

  const stats = (): InfluxSinkStats => ({
    bufferBytes: buffer?.stats().bytes ?? 0,
    bufferPoints: buffer?.stats().points ?? 0,
    pointsWritten,
    pointsRejected,
    writeRetries,
    stopped,
  });

  function deadLetterOf(
    source: { topic: string; partition: number; offset: number },
    raw: string,
    key: string | undefined,
    errorCode: string,
    message: string,
    issues: DeadLetter['issues'] = [],
  ): OutgoingMessage {
    deadLettered.inc({ code: errorCode });
    const deviceId = key === undefined ? undefined : DeviceId.safeParse(key.split(':')[0]);
    const letter: DeadLetter = {
      rawBase64: Buffer.from(raw, 'utf8').toString('base64'),
      source: { type: 'bus', ...source },
      ...(deviceId?.success ? { deviceId: deviceId.data } : {}),
      errorCode,
      message,
      issues,
      component: COMPONENT,
      stage:
        errorCode === 'ERR_SINK_SCHEMA' ? 'processing' : errorCode.startsWith('ERR_SINK_') ? 'sending' : 'receiving',
      attempts: 1,
      firstFailedAt: new Date(clock.nowMs()).toISOString(),
    };
    return { key: deviceId?.success ? deviceId.data : source.topic, value: JSON.stringify(letter) };
  }

  /** The device id in a buffered message's bytes (readings, alerts, device rollups and descriptions carry one). */
  function deviceIdOf(raw: string): string | undefined {
    try {
      const id = (JSON.parse(raw) as { deviceId?: unknown }).deviceId;
      return typeof id === 'string' ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /** One bus message → a buffer entry, a dead letter, or nothing (dropped on purpose). */
  function convert(m: BusMessage, letters: OutgoingMessage[]): BufferEntry | undefined {
    const source = sources.get(m.topic) ?? READING_SOURCE;
    received.inc({ type: source.type });
    const { area, noun } = source;
    let json: unknown;
    try {
      json = JSON.parse(m.value);
    } catch (err) {
      letters.push(
        deadLetterOf(
          m,
          m.value,
          m.key,
          `ERR_${area}_JSON`,
          `${noun} is not JSON: ${preview(m.value)} (${(err as Error).message})`,
        ),
      );
      return undefined;
    }
    const parsed = source.schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
      const first = issues[0];
      letters.push(
        deadLetterOf(
          m,
          m.value,
          m.key,
          `ERR_${area}_SCHEMA`,
          `${noun} does not match the schema: ${first ? `${first.path || '(root)'}: ${first.message}` : preview(m.value)} (${source.contract})`,
          issues,
        ),
      );
      return undefined;
    }
    const entry = (line: string): BufferEntry => ({ line, offset: m.offset, raw: m.value });
    const point = (p: PointLine): BufferEntry | undefined => {
      if (p.kind === 'line') return entry(p.line);
      if (p.kind === 'empty') {
        dropped.inc({ reason: 'no-fields' });
        return undefined;
      }
      letters.push(
        deadLetterOf(m, m.value, m.key, 'ERR_SINK_SCHEMA', p.message, [
          { path: p.path, message: 'not in the time-series schema (sinks/influx/schema.ts)' },
        ]),
      );
      return undefined;
    };
    switch (source.type) {
      case 'alert':
        return entry(alertLine(parsed.data as AlertTransition));
      case 'rollup':
        return point(rollupLine(parsed.data as Rollup));
      case 'device':
        return entry(deviceLine(parsed.data as DeviceInfo));
      case 'health':
        return point(healthReportLine(parsed.data as HealthReport));
      case 'reading':
        break;
    }
    const reading = parsed.data as Reading;
    if (m.topic !== TOPICS.readings(reading.kind)) {
      letters.push(
        deadLetterOf(
          m,
          m.value,
          m.key,
          'ERR_READING_SCHEMA',
          `reading kind does not match its topic: ${reading.kind} (${m.topic})`,
          [{ path: 'kind', message: `not the kind of ${m.topic}` }],
        ),
      );
      return undefined;
    }
    const line = readingLine(reading);
    if (line === undefined) {
      dropped.inc({ reason: 'no-metrics' });
      return undefined;
    }
    return entry(line);
  }

  const handler: BatchHandler = async (messages, ctx) => {
    if (stopped) throw stopped;
    if (!buffer) throw new AppError('ERR_SINK_CLOSED', 'sink not started: cannot take a batch');
    const letters: OutgoingMessage[] = [];
    const entries: BufferEntry[] = [];
    for (const m of messages) {
      const entry = convert(m, letters);
      if (entry) entries.push(entry);
    }
    if (letters.length > 0) await bus.produce(TOPICS.deadLetters, letters);
    // Records hold at most batchSize lines, so a record always fits in one write request.
    for (let i = 0; i < entries.length; i += config.batchSize) {
      await buffer.append(ctx.topic, ctx.partition, entries.slice(i, i + config.batchSize));
    }
  };

  /** Sleeps `ms`, cut short by close. */
  function sleep(ms: number): Promise<void> {
    if (abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        abort.signal.removeEventListener('abort', done);
        resolve();
      }
      abort.signal.addEventListener('abort', done);
    });
  }

  function stop(outcome: Extract<WriteOutcome, { kind: 'auth' }>): never {
    const err = new AppError(
      'ERR_SINK_AUTH',
      `time-series server refused our credentials: ${outcome.message} (a token with write permission on bucket ${config.bucket}: VIGIE_INFLUX_TOKEN, VIGIE_INFLUX_ORG, VIGIE_INFLUX_BUCKET)`,
    );
    if (!stopped) {
      stopped = err;
      stoppedGauge.set(1);
      logger.error(
        { err, url: config.url, bucket: config.bucket },
        'sink stopped: credentials refused; buffered points kept on disk',
      );
      options.onFatal?.(err);
    }
    throw err;
  }

  /** Writes `body` once; measures it. */
  async function attempt(body: string): Promise<WriteOutcome> {
    const started = performance.now();
    // One controller per request (the transport adds a listener to the signal it gets): close() aborts them all.
    const request = new AbortController();
    inFlight.add(request);
    const outcome = await writer.write(body, request.signal).finally(() => inFlight.delete(request));
    writeSeconds.observe({ outcome: outcome.kind }, (performance.now() - started) / 1_000);
    return outcome;
  }

  /** Backs off after a retryable answer; logs at most every 10 s. */
  async function backoff(outcome: Extract<WriteOutcome, { kind: 'retry' }>, tries: number): Promise<void> {
    writeRetries += 1;
    retries.inc({ reason: outcome.reason });
    const now = clock.nowMs();
    if (now - lastErrorLogMs >= 10_000) {
      lastErrorLogMs = now;
      logger.error(
        { reason: outcome.reason, status: outcome.status, message: outcome.message, tries, buffered: buffer?.stats() },
        'time-series write failed; points kept in the buffer and retried',
      );
    }
    await sleep(backoffDelayMs({ ...retryPolicy, maxAttempts: Number.POSITIVE_INFINITY }, tries, outcome.retryAfterMs));
  }

  /** Sends dead letters, retrying until the bus takes them (they are the points' only record). */
  async function produceLetters(letters: OutgoingMessage[]): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        await bus.produce(TOPICS.deadLetters, letters);
        return;
      } catch (err) {
        if (closing) throw err;
        logger.error({ err, tries }, 'dead letters of refused points not produced; retried');
        await sleep(backoffDelayMs({ ...retryPolicy, maxAttempts: Number.POSITIVE_INFINITY }, tries));
      }
    }
  }

  interface Item extends BufferEntry {
    readonly topic: string;
    readonly partition: number;
  }

  /**
   * Delivers `count` points (`body`) one way or another: written, or — alone and refused — dead-lettered. Retries
   * until then; throws only when closing or stopped. `itemsOf` gives the points one by one, for a refused batch.
   */
  async function deliver(itemsOf: () => readonly Item[], count: number, body: string): Promise<void> {
    for (let tries = 1; ; tries++) {
      if (closing) throw new AppError('ERR_SINK_CLOSED', 'sink closing');
      const outcome = await attempt(body);
      if (outcome.kind === 'written') {
        pointsWritten += count;
        written.inc(count);
        return;
      }
      if (outcome.kind === 'auth') stop(outcome);
      if (outcome.kind === 'retry') {
        await backoff(outcome, tries);
        continue;
      }
      // Refused (400/422) or too large (413): halve until each refused line stands alone.
      const items = itemsOf();
      if (items.length === 1) {
        const item = items[0]!;
        const code = outcome.kind === 'too-large' ? 'ERR_SINK_TOO_LARGE' : 'ERR_SINK_REJECTED';
        const what = `time-series point refused: ${preview(item.line.trimEnd(), 200)} (${outcome.message})`;
        if (item.offset >= 0) {
          const source = { topic: item.topic, partition: item.partition, offset: item.offset };
          await produceLetters([deadLetterOf(source, item.raw, deviceIdOf(item.raw), code, what)]);
        } else {
          deadLettered.inc({ code });
          logger.error({ line: item.line, message: outcome.message }, 'the sink’s own point was refused; dropped');
        }
        pointsRejected += 1;
        return;
      }
      splits.inc({ status: String(outcome.status) });
      const mid = Math.ceil(items.length / 2);
      for (const half of [items.slice(0, mid), items.slice(mid)]) {
        await deliver(() => half, half.length, half.map((i) => i.line).join(''));
      }
      return;
    }
  }

  async function writeBatch(batch: BufferBatch): Promise<void> {
    let body = '';
    for (const r of batch.records) body += r.lines;
    const itemsOf = () =>
      batch.records.flatMap((r) => r.entries().map((e) => ({ ...e, topic: r.topic, partition: r.partition })));
    await deliver(itemsOf, batch.count, body);
  }

  async function flushLoop(buf: DiskBuffer): Promise<void> {
    const wait = (ms: number) => Promise.race([buf.waitForData(ms), aborted]);
    while (!closing) {
      let batch = await buf.peek(config.batchSize);
      if (!batch) {
        for (const fn of [...drainWaiters]) fn();
        await wait(1_000);
        continue;
      }
      // A small batch waits for more points, up to flushIntervalMs from when the flusher first saw it.
      if (batch.count < config.batchSize && config.flushIntervalMs > 0) {
        const since = clock.nowMs();
        for (;;) {
          const left = since + config.flushIntervalMs - clock.nowMs();
          if (left <= 0 || closing || buf.stats().points >= config.batchSize) break;
          await wait(left);
        }
        if (closing) return;
        batch = (await buf.peek(config.batchSize)) ?? batch;
      }
      try {
        await writeBatch(batch);
      } catch (err) {
        if (closing) return;
        throw err;
      }
      await buf.commit(batch);
    }
  }

  return {
    async start() {
      if (!config.url && !options.writer) {
        throw new AppError('ERR_CONFIG_INVALID', 'sink.url: not set (the time-series server URL, VIGIE_INFLUX_URL)');
      }
      bufferMax.set(config.bufferMaxBytes);
      const buf = await openDiskBuffer({
        dir: bufferDir,
        maxBytes: config.bufferMaxBytes,
        segmentBytes: config.segmentBytes,
        fullWaitMs: config.fullWaitMs,
        onChange: (s) => {
          bufferBytes.set(s.bytes);
          bufferPoints.set(s.points);
        },
        onFull: () => bufferFull.inc(),
      });
      buffer = buf;
      if (buf.corruptBytes > 0) {
        logger.error(
          { dir: bufferDir, bytes: buf.corruptBytes },
          'buffer segments held unreadable records (disk corruption); those points are lost',
        );
      }
      const recovered = buf.stats();
      bufferBytes.set(recovered.bytes);
      bufferPoints.set(recovered.points);
      if (recovered.points > 0)
        logger.info(
          { points: recovered.points, dir: bufferDir },
          'buffered points from a previous run: writing them first',
        );
      flusher = flushLoop(buf).catch((err: unknown) => {
        if (err instanceof AppError && err.code === 'ERR_SINK_AUTH') return;
        logger.error({ err }, 'sink flusher failed');
        const fatal =
          err instanceof AppError
            ? err
            : new AppError('ERR_SINK_BUFFER_IO', `sink flusher: ${(err as Error).message} (a readable buffer)`, {
                cause: err,
              });
        stopped ??= fatal;
        stoppedGauge.set(1);
        options.onFatal?.(fatal);
      });
      for (const topic of [...topics, TOPICS.deadLetters]) await bus.ensureTopic(topic);
      subscription = await bus.subscribe({ groupId, topics, handler, fromBeginning: true });
    },

    async drain(timeoutMs) {
      const deadline = clock.nowMs() + timeoutMs;
      while ((buffer?.stats().points ?? 0) > 0) {
        if (stopped) throw stopped;
        if (clock.nowMs() > deadline) {
          throw new AppError(
            'ERR_SINK_DRAIN_TIMEOUT',
            `sink drain: ${buffer?.stats().points} points still buffered after ${timeoutMs} ms`,
          );
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, 50);
          function done() {
            clearTimeout(t);
            drainWaiters.delete(done);
            resolve();
          }
          drainWaiters.add(done);
        });
      }
    },

    stats,

    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
      closing = true;
      abort.abort();
      for (const request of inFlight) request.abort();
      await flusher;
      await buffer?.close();
      buffer = undefined;
    },
  };
}
