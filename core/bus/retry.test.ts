import { fc, it as prop } from '@fast-check/vitest';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { AppError } from '../errors.ts';
import { backoffDelayMs, DEFAULT_RETRY, type RetryPolicy, withRetry } from './retry.ts';

const POLICY: RetryPolicy = { initialDelayMs: 100, maxDelayMs: 2_000, maxAttempts: 4 };

/** A sleep that records the delays asked for and returns at once (no real waiting in tests). */
function recordingSleep(): { delaysMs: number[]; sleep: (ms: number) => Promise<void> } {
  const delaysMs: number[] = [];
  return { delaysMs, sleep: async (ms) => void delaysMs.push(ms) };
}

const transient = (retryAfterMs?: number) =>
  new AppError('ERR_SINK_UNAVAILABLE', 'sink answered 503', {
    retryable: true,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });

describe('retry', () => {
  describe('backoffDelayMs', () => {
    const policies = fc.record({
      initialDelayMs: fc.integer({ min: 1, max: 10_000 }),
      maxDelayMs: fc.integer({ min: 1, max: 600_000 }),
      maxAttempts: fc.integer({ min: 1, max: 50 }),
    });

    prop.prop([
      policies,
      fc.integer({ min: 1, max: 1_000 }),
      fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    ])('stays within [0, min(cap, initial·2^(attempt-1))) when no Retry-After is given', (policy, attempt, random) => {
      const delayMs = backoffDelayMs(policy, attempt, undefined, () => random);
      const ceilingMs = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
      expect(Number.isInteger(delayMs)).toBe(true);
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThanOrEqual(policy.maxDelayMs);
      expect(delayMs).toBeLessThan(Math.max(1, ceilingMs));
    });

    prop.prop([policies, fc.integer({ min: 1, max: 100 }), fc.integer({ min: 0, max: 10_000_000 })])(
      'honours Retry-After up to the cap when the other side gives one',
      (policy, attempt, retryAfterMs) => {
        expect(backoffDelayMs(policy, attempt, retryAfterMs, () => 0.5)).toBe(
          Math.min(retryAfterMs, policy.maxDelayMs),
        );
      },
    );

    it('doubles the ceiling per attempt until the cap when the random draw is near 1', () => {
      const nearOne = () => 0.999_999;
      const delaysMs = [1, 2, 3, 4, 5, 6].map((attempt) => backoffDelayMs(POLICY, attempt, undefined, nearOne));
      expect(delaysMs).toEqual([99, 199, 399, 799, 1599, 1999]);
    });

    it('ignores a negative Retry-After when the header was nonsense', () => {
      expect(backoffDelayMs(POLICY, 1, -5, () => 0.5)).toBe(50);
    });

    it('stays finite when the attempt count is huge', () => {
      expect(backoffDelayMs(DEFAULT_RETRY, 10_000, undefined, () => 0.5)).toBe(DEFAULT_RETRY.maxDelayMs / 2);
    });
  });

  describe('withRetry', () => {
    it('returns the result without sleeping when the first attempt succeeds', async () => {
      const { delaysMs, sleep } = recordingSleep();
      await expect(withRetry(async (attempt) => `ok ${attempt}`, POLICY, { sleep })).resolves.toBe('ok 1');
      expect(delaysMs).toEqual([]);
    });

    it('retries retryable errors with backoff when later attempts succeed', async () => {
      const { delaysMs, sleep } = recordingSleep();
      const result = await withRetry(
        async (attempt) => {
          if (attempt < 3) throw transient();
          return attempt;
        },
        POLICY,
        { sleep },
      );
      expect(result).toBe(3);
      expect(delaysMs).toHaveLength(2);
      expect(delaysMs[0]).toBeLessThan(100);
      expect(delaysMs[1]).toBeLessThan(200);
    });

    it('waits what Retry-After asks, capped, when the error carries it', async () => {
      const { delaysMs, sleep } = recordingSleep();
      let calls = 0;
      await withRetry(
        async () => {
          calls++;
          if (calls === 1) throw transient(1_500);
          if (calls === 2) throw transient(60_000);
        },
        POLICY,
        { sleep },
      );
      expect(delaysMs).toEqual([1_500, POLICY.maxDelayMs]);
    });

    it('gives up with ERR_RETRY_EXHAUSTED carrying the last error when every attempt fails', async () => {
      const { delaysMs, sleep } = recordingSleep();
      const attempts: number[] = [];
      const last = transient();
      const error = await withRetry(
        async (attempt) => {
          attempts.push(attempt);
          throw attempt === POLICY.maxAttempts ? last : transient();
        },
        POLICY,
        { sleep },
      ).catch((err: unknown) => err);
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'ERR_RETRY_EXHAUSTED', retryable: false, cause: last });
      expect((error as AppError).message).toContain(`${POLICY.maxAttempts} attempts`);
      expect(attempts).toEqual([1, 2, 3, 4]);
      expect(delaysMs).toHaveLength(POLICY.maxAttempts - 1);
    });

    it.each([
      ['a non-retryable AppError', new AppError('ERR_SINK_REJECTED', 'sink answered 400')],
      ['a plain Error (a bug)', new TypeError('x is undefined')],
      ['a thrown string', 'boom'],
    ])('throws %s at once without retrying', async (_name, thrown) => {
      const { delaysMs, sleep } = recordingSleep();
      let calls = 0;
      const error = await withRetry(
        async () => {
          calls++;
          throw thrown;
        },
        POLICY,
        { sleep },
      ).catch((err: unknown) => err);
      expect(error).toBe(thrown);
      expect(calls).toBe(1);
      expect(delaysMs).toEqual([]);
    });

    it('stops retrying with ERR_RETRY_EXHAUSTED when the signal is aborted', async () => {
      const controller = new AbortController();
      const { sleep } = recordingSleep();
      let calls = 0;
      const error = await withRetry(
        async () => {
          calls++;
          if (calls === 2) controller.abort();
          throw transient();
        },
        POLICY,
        { sleep, signal: controller.signal },
      ).catch((err: unknown) => err);
      expect(error).toMatchObject({ code: 'ERR_RETRY_EXHAUSTED' });
      expect(calls).toBe(2);
    });

    it('waits on a timer when no sleep is given', async () => {
      vi.useFakeTimers();
      onTestFinished(() => void vi.useRealTimers());
      let calls = 0;
      const result = withRetry(async () => {
        calls++;
        if (calls === 1) throw transient(500);
        return 'ok';
      }, POLICY);
      await vi.advanceTimersByTimeAsync(499);
      expect(calls).toBe(1);
      await vi.advanceTimersByTimeAsync(1);
      await expect(result).resolves.toBe('ok');
      expect(calls).toBe(2);
    });
  });
});
