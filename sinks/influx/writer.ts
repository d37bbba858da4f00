import { HttpError, InfluxDB, RequestTimedOutError } from '@influxdata/influxdb-client';
import type { InfluxSinkConfig } from './config.ts';

/**
 * One write request to the InfluxDB v2 write API (`POST /api/v2/write?org&bucket&precision=ms`) through
 * `@influxdata/influxdb-client`'s HTTP transport, and the classification of the server's answer (STYLE.md §4;
 * telegraf plugins/outputs/influxdb_v2/http.go). Makes one attempt: retries, splits and dead letters are the sink's.
 */

/** What became of one write request. */
export type WriteOutcome =
  | { readonly kind: 'written' }
  /** 400/422: some point is malformed or refused (type conflict, outside retention); the rest may be written. */
  | { readonly kind: 'rejected'; readonly status: number; readonly message: string }
  /** 413: the body is larger than the server takes. */
  | { readonly kind: 'too-large'; readonly status: number; readonly message: string }
  /** 401/403: the token is wrong or lacks write permission on the bucket. */
  | { readonly kind: 'auth'; readonly status: number; readonly message: string }
  /** 429, 408, 5xx, network errors, timeouts and any other answer: keep the points and try again later. */
  | {
      readonly kind: 'retry';
      readonly reason: RetryReason;
      readonly status?: number;
      readonly retryAfterMs?: number;
      readonly message: string;
    };

/** Why a write is retried (a label of `sink_influx_write_retries_total`). */
export type RetryReason = 'throttled' | 'server' | 'network' | 'timeout' | 'unexpected';

/** Largest Retry-After honoured, ms (the sink's retryMaxDelayMs caps it further). */
const MAX_RETRY_AFTER_MS = 600_000;

/** Classifies an error thrown by the client's transport (an `HttpError`, a timeout or a socket error). */
export function classifyWriteError(err: unknown): WriteOutcome {
  if (err instanceof HttpError) {
    const status = err.statusCode;
    const message = serverMessage(err);
    if (status === 400 || status === 422) return { kind: 'rejected', status, message };
    if (status === 413) return { kind: 'too-large', status, message };
    if (status === 401 || status === 403) return { kind: 'auth', status, message };
    const retryAfterMs = parseRetryAfter(headerOf(err, 'retry-after'));
    const reason: RetryReason =
      status === 429 ? 'throttled' : status >= 500 ? 'server' : status === 408 ? 'timeout' : 'unexpected';
    return { kind: 'retry', reason, status, message, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  }
  if (err instanceof RequestTimedOutError) return { kind: 'retry', reason: 'timeout', message: 'request timed out' };
  const e = err as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = `${code ? `${code}: ` : ''}${typeof e?.message === 'string' ? e.message : String(err)}`;
  return { kind: 'retry', reason: code === 'ETIMEDOUT' ? 'timeout' : 'network', message };
}

/** The server's own words: InfluxDB answers `{"code":"invalid","message":"…"}`, others plain text. */
function serverMessage(err: HttpError): string {
  const fromJson = typeof err.json?.message === 'string' ? err.json.message : undefined;
  const text = fromJson ?? (err.body || err.statusMessage || '');
  return `HTTP ${err.statusCode}: ${text.trim().slice(0, 1_000)}`;
}

function headerOf(err: HttpError, name: string): string | undefined {
  const value = err.headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Math.min(Number(text) * 1_000, MAX_RETRY_AFTER_MS);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.min(Math.max(0, at - nowMs), MAX_RETRY_AFTER_MS);
}

/** Writes bodies of line protocol. */
export interface InfluxWriter {
  /** Sends one body (lines ending in `\n`, ms timestamps); resolves with the classified answer, never rejects. */
  write(body: string, signal?: AbortSignal): Promise<WriteOutcome>;
}

/** Bodies above this size are gzipped (the client's own default threshold). */
const GZIP_THRESHOLD_BYTES = 1_000;

/** Creates a writer for `config.url` (required). The client's transport keeps connections alive between writes. */
export function createInfluxWriter(
  config: Pick<InfluxSinkConfig, 'url' | 'token' | 'org' | 'bucket' | 'timeoutMs' | 'compression'>,
): InfluxWriter {
  if (!config.url) throw new TypeError('createInfluxWriter needs config.url');
  const influx = new InfluxDB({
    url: config.url,
    ...(config.token ? { token: config.token } : {}),
    timeout: config.timeoutMs,
  });
  const transport = influx.transport;
  const path = `/api/v2/write?org=${encodeURIComponent(config.org)}&bucket=${encodeURIComponent(config.bucket)}&precision=ms`;
  const gzipThreshold = config.compression === 'gzip' ? GZIP_THRESHOLD_BYTES : Number.MAX_SAFE_INTEGER;
  return {
    async write(body, signal) {
      try {
        await transport.request(path, body, {
          method: 'POST',
          headers: { 'content-type': 'text/plain; charset=utf-8' },
          gzipThreshold,
          ...(signal ? { signal } : {}),
        });
        return { kind: 'written' };
      } catch (err) {
        return classifyWriteError(err);
      }
    },
  };
}
