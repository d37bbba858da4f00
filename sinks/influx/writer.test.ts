import { HttpError, RequestTimedOutError } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { classifyWriteError, parseRetryAfter } from './writer.ts';

const http = (status: number, body = '', headers: Record<string, string> = {}, contentType = 'text/plain') =>
  new HttpError(status, 'x', body, headers['retry-after'], contentType, undefined, headers);

describe('writer', () => {
  it('rejects with the server’s message when the answer is 400 or 422', () => {
    const body = '{"code":"invalid","message":"unable to parse \'bad line\': missing fields"}';
    expect(classifyWriteError(http(400, body, {}, 'application/json'))).toEqual({
      kind: 'rejected',
      status: 400,
      message: "HTTP 400: unable to parse 'bad line': missing fields",
    });
    expect(classifyWriteError(http(422, 'points beyond retention policy'))).toMatchObject({
      kind: 'rejected',
      status: 422,
      message: 'HTTP 422: points beyond retention policy',
    });
  });

  it('splits when the answer is 413', () => {
    expect(classifyWriteError(http(413, 'request too large'))).toMatchObject({ kind: 'too-large', status: 413 });
  });

  it('stops when the answer is 401 or 403', () => {
    expect(classifyWriteError(http(401, 'unauthorized access'))).toMatchObject({ kind: 'auth', status: 401 });
    expect(classifyWriteError(http(403, 'insufficient permissions'))).toMatchObject({ kind: 'auth', status: 403 });
  });

  it('keeps and retries with the server’s delay when the answer is 429 with Retry-After', () => {
    expect(classifyWriteError(http(429, 'slow down', { 'retry-after': '7' }))).toMatchObject({
      kind: 'retry',
      reason: 'throttled',
      retryAfterMs: 7_000,
    });
  });

  it('keeps and retries when the answer is 5xx, 408 or an unexpected status', () => {
    expect(classifyWriteError(http(503, 'unavailable'))).toMatchObject({ kind: 'retry', reason: 'server' });
    expect(classifyWriteError(http(500, 'oops'))).toMatchObject({ kind: 'retry', reason: 'server' });
    expect(classifyWriteError(http(408, ''))).toMatchObject({ kind: 'retry', reason: 'timeout' });
    // A proxy's 404 (wrong URL) or a missing bucket must not dead-letter every point: kept, retried, logged.
    expect(classifyWriteError(http(404, 'bucket not found'))).toMatchObject({ kind: 'retry', reason: 'unexpected' });
  });

  it('keeps and retries when the request times out or the network fails', () => {
    expect(classifyWriteError(new RequestTimedOutError())).toMatchObject({ kind: 'retry', reason: 'timeout' });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifyWriteError(refused)).toMatchObject({
      kind: 'retry',
      reason: 'network',
      message: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:1',
    });
  });

  it('reads Retry-After as seconds or an HTTP date, and ignores it when unreadable', () => {
    const now = Date.parse('2026-03-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 00:00:05 GMT', now)).toBe(5_000);
    expect(parseRetryAfter('Sat, 28 Feb 2026 00:00:05 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('999999', now)).toBe(600_000);
  });
});
