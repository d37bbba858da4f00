import { AppError } from '../errors.ts';

/** Exponential backoff with full jitter and a cap (STYLE.md §6.5): the one retry policy of the project. */
export interface RetryPolicy {
  /** First delay, in milliseconds. */
  readonly initialDelayMs: number;
  /** Largest delay, in milliseconds; also caps a Retry-After the other side asks for. */
  readonly maxDelayMs: number;
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
}

/** Default policy: 100 ms doubling to 30 s, 8 attempts (about a minute in all). */
export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 30_000, maxAttempts: 8 };

/**
 * Delay before attempt `attempt + 1` (attempt counts from 1), in milliseconds: full jitter over the exponential
 * ceiling, or the server's Retry-After when given (capped). `random` returns [0, 1).
 */
export function backoffDelayMs(
  policy: RetryPolicy,
  attempt: number,
  retryAfterMs?: number,
  random: () => number = Math.random,
): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, policy.maxDelayMs);
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Runs `fn` until it resolves, retrying retryable AppErrors with backoff. A non-retryable error is thrown at once;
 * after the last attempt, an `ERR_RETRY_EXHAUSTED` AppError is thrown with the last error as cause.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  policy: RetryPolicy = DEFAULT_RETRY,
  options: { signal?: AbortSignal; sleep?: (ms: number) => Promise<void> } = {},
): Promise<T> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const retryable = err instanceof AppError ? err.retryable : false;
      if (!retryable) throw err;
      if (attempt >= policy.maxAttempts || options.signal?.aborted) {
        throw new AppError('ERR_RETRY_EXHAUSTED', `gave up after ${attempt} attempts: ${(err as Error).message}`, {
          cause: err,
        });
      }
      await sleep(backoffDelayMs(policy, attempt, (err as AppError).retryAfterMs));
    }
  }
}
