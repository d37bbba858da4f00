import { describe, expect, it, onTestFinished } from 'vitest';
import type { Channel } from '../../alerting/channels/channel.ts';
import { AppError } from '../../core/errors.ts';

/**
 * The notifier channel conformance suite (STYLE.md §3, §8): every channel runs it against a real local peer
 * speaking the provider's protocol. It checks delivery; permanent versus retryable classification, including a
 * throttle with Retry-After where the protocol has one; the per-attempt timeout; that `close()` leaves no open
 * connection at the peer; that no secret and no full recipient appears in any error or rejection reason; and,
 * for a channel that can be asked (`find`), that it finds what the peer accepted, nothing it never got, and throws
 * a retryable error when the peer cannot answer. What a protocol cannot do (SMTP has neither Retry-After nor a way
 * to ask) is declared in `capabilities`: those tests are not registered, and the suite checks the declaration holds.
 */

/** What the channel's protocol offers beyond sending. */
export interface ChannelCapabilities {
  /** The peer can throttle with a Retry-After (HTTP 429); the harness then has `throttleNext`. */
  readonly retryAfter: boolean;
  /** The provider can be asked whether it holds a message (`channel.find`). */
  readonly find: boolean;
}

/** A channel wired to a controllable peer, built fresh for each test. */
export interface ChannelHarness<M extends { to: string }> {
  /** The channel under test, built with `timeoutMs`. */
  readonly channel: Channel<M>;
  /** The channel's per-attempt timeout, in ms (keep it short: a few hundred ms). */
  readonly timeoutMs: number;
  /** Strings that must never appear in an error: tokens, passwords, their encodings. */
  readonly secrets: readonly string[];
  /** A message the peer accepts. */
  message(): M;
  /** A message the peer refuses for good (bad number, unknown mailbox). */
  rejectedMessage(): M;
  /** Makes the peer fail the next attempt transiently (HTTP 500, SMTP 451). */
  failNextTransient(): void;
  /** Makes the peer throttle the next attempt with Retry-After (absent when the protocol has none). */
  throttleNext?(retryAfterSeconds: number): void;
  /** Makes the peer hold its next answer for `ms`. */
  delayNext(ms: number): void;
  /** Messages the peer has accepted so far. */
  acceptedCount(): number;
  /** Client connections open at the peer right now. */
  openConnections(): number;
  /** Stops the peer (the suite closes the channel itself, first). */
  close(): Promise<void>;
}

/** Registers the conformance tests for one channel. */
export function channelConformance<M extends { to: string }>(
  name: string,
  build: () => Promise<ChannelHarness<M>>,
  capabilities: ChannelCapabilities,
): void {
  // A case the protocol cannot express is not registered at all (rather than reported as skipped).
  const onlyIf = (enabled: boolean) => (title: string, fn: () => Promise<void>) => {
    if (enabled) it(title, fn);
  };

  describe(`channel conformance: ${name}`, () => {
    async function setup(): Promise<ChannelHarness<M>> {
      const h = await build();
      onTestFinished(async () => {
        await h.channel.close();
        await h.close();
      });
      return h;
    }

    async function thrown(p: Promise<unknown>): Promise<AppError> {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err, 'expected the send to throw').toBeInstanceOf(AppError);
      return err as AppError;
    }

    function assertClean(text: string, h: ChannelHarness<M>, recipients: readonly string[]): void {
      for (const secret of h.secrets) expect(text).not.toContain(secret);
      for (const r of recipients) expect(text).not.toContain(r);
    }

    function everything(err: unknown): string {
      const parts: string[] = [];
      let e: unknown = err;
      for (let depth = 0; e && depth < 5; depth++) {
        parts.push(String((e as Error).message), String((e as Error).stack), JSON.stringify(e) ?? '');
        e = (e as { cause?: unknown }).cause;
      }
      return parts.join('\n');
    }

    it('delivers a message with the provider id when the peer accepts it', async () => {
      const h = await setup();
      const result = await h.channel.send(h.message(), `conf-${Date.now()}-deliver`);
      expect(result.status).toBe('delivered');
      if (result.status === 'delivered') expect(result.providerMessageId.length).toBeGreaterThan(0);
      expect(h.acceptedCount()).toBe(1);
    });

    it('reports rejected with a reason when the peer refuses the recipient for good', async () => {
      const h = await setup();
      const message = h.rejectedMessage();
      const result = await h.channel.send(message, 'conf-reject');
      expect(result.status).toBe('rejected');
      if (result.status === 'rejected') {
        expect(result.reason.length).toBeGreaterThan(0);
        assertClean(result.reason, h, [message.to]);
      }
      expect(h.acceptedCount()).toBe(0);
    });

    it('throws a retryable error when the peer fails transiently', async () => {
      const h = await setup();
      h.failNextTransient();
      const err = await thrown(h.channel.send(h.message(), 'conf-transient'));
      expect(err.retryable).toBe(true);
      expect(err.code).toMatch(/^ERR_[A-Z0-9_]+$/);
      // The next attempt goes through: the channel keeps no broken state.
      expect((await h.channel.send(h.message(), 'conf-transient')).status).toBe('delivered');
    });

    it(`declares what its protocol offers when built (Retry-After: ${capabilities.retryAfter}, find: ${capabilities.find})`, async () => {
      const h = await setup();
      expect(typeof h.throttleNext === 'function').toBe(capabilities.retryAfter);
      expect(typeof h.channel.find === 'function').toBe(capabilities.find);
    });

    onlyIf(capabilities.retryAfter)('carries retryAfterMs when the peer throttles with Retry-After', async () => {
      const h = await setup();
      h.throttleNext?.(3);
      const err = await thrown(h.channel.send(h.message(), 'conf-throttle'));
      expect(err.retryable).toBe(true);
      expect(err.retryAfterMs).toBe(3000);
    });

    it('throws a retryable timeout when the peer does not answer in time', async () => {
      const h = await setup();
      h.delayNext(h.timeoutMs * 20);
      const started = performance.now();
      const err = await thrown(h.channel.send(h.message(), 'conf-timeout'));
      const elapsedMs = performance.now() - started;
      expect(err.retryable).toBe(true);
      expect(err.code).toBe('ERR_CHANNEL_TIMEOUT');
      expect(elapsedMs).toBeLessThan(h.timeoutMs * 10);
    });

    it('leaves no open connection at the peer when closed', async () => {
      const h = await setup();
      expect((await h.channel.send(h.message(), 'conf-close')).status).toBe('delivered');
      await h.channel.close();
      await expect.poll(() => h.openConnections(), { timeout: 5_000 }).toBe(0);
    });

    it('leaves no open connection at the peer when closed after a timeout', async () => {
      const h = await setup();
      h.delayNext(h.timeoutMs * 20);
      await thrown(h.channel.send(h.message(), 'conf-close-timeout'));
      await h.channel.close();
      await expect.poll(() => h.openConnections(), { timeout: 5_000 }).toBe(0);
    });

    onlyIf(capabilities.find)(
      'finds a message the peer accepted and nothing for one it never got when asked',
      async () => {
        const h = await setup();
        const sinceMs = Date.now();
        const message = h.message();
        const result = await h.channel.send(message, 'conf-find');
        expect(result.status).toBe('delivered');
        const found = await h.channel.find?.(message, 'conf-find', sinceMs);
        expect(found).toBe(result.status === 'delivered' ? result.providerMessageId : 'not delivered');
        expect(await h.channel.find?.(h.rejectedMessage(), 'conf-find-never', sinceMs)).toBeNull();
        expect(h.acceptedCount()).toBe(1);
      },
    );

    onlyIf(capabilities.find)('throws a retryable error from find when the peer fails transiently', async () => {
      const h = await setup();
      h.failNextTransient();
      const err = await thrown(h.channel.find?.(h.message(), 'conf-find-transient', Date.now()) ?? Promise.resolve());
      expect(err.retryable).toBe(true);
    });

    it('shows no secret and no full recipient in any error when sends fail', async () => {
      const h = await setup();
      const message = h.message();
      const errors: unknown[] = [];
      h.failNextTransient();
      errors.push(await thrown(h.channel.send(message, 'conf-secret-1')));
      h.delayNext(h.timeoutMs * 20);
      errors.push(await thrown(h.channel.send(message, 'conf-secret-2')));
      if (h.throttleNext) {
        h.throttleNext(1);
        errors.push(await thrown(h.channel.send(message, 'conf-secret-3')));
      }
      for (const err of errors) assertClean(everything(err), h, [message.to]);
    });
  });
}
