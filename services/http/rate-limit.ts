import rateLimit, { type CreateRateLimitOptions } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './server.ts';

/**
 * Registers @fastify/rate-limit in `app`'s scope with the server's shared counters (`app.rateLimitSettings`: in the
 * operational store, together with every other process on it; never a global limit). Then a route limits itself
 * with `config: { rateLimit: { max, timeWindow } }`, or a handler counts with a {@link namedLimiter}.
 */
export async function useRateLimits(app: FastifyInstance): Promise<void> {
  if (!app.rateLimitSettings) throw new Error('rate limits: register on a server made by createHttpServer');
  await app.register(rateLimit, app.rateLimitSettings);
}

/**
 * A limiter a handler calls (with {@link refuseWhenLimited}), named: its counters are kept under `name`, apart from
 * every other limiter's (two limiters keyed by the IP address must not count together).
 */
export function namedLimiter(
  app: FastifyInstance,
  name: string,
  options: Pick<CreateRateLimitOptions, 'max' | 'timeWindow' | 'keyGenerator'>,
): Limiter {
  // groupId is what the shared store names a limiter by; the options' type leaves it to route limits only.
  return app.createRateLimit({ ...options, groupId: name } as CreateRateLimitOptions);
}

/** A limiter made by `app.createRateLimit(...)` (@fastify/rate-limit). */
type Limiter = (
  request: FastifyRequest,
) => Promise<
  | { readonly isAllowed: true }
  | { readonly isAllowed: false; readonly isExceeded: boolean; readonly max: number; readonly ttlInSeconds: number }
>;

/**
 * Counts `request` against `limiter`; once the limit is passed, answers 429 in the shared error shape with
 * `Retry-After` and a message ending "(try again in N min)", and resolves true (the route then stops).
 */
export async function refuseWhenLimited(
  limiter: Limiter,
  request: FastifyRequest,
  reply: FastifyReply,
  refusal: { readonly code: string; readonly message: (max: number) => string },
): Promise<boolean> {
  const verdict = await limiter(request);
  if (verdict.isAllowed || !verdict.isExceeded) return false;
  const minutes = Math.max(1, Math.ceil(verdict.ttlInSeconds / 60));
  reply
    .code(429)
    .header('retry-after', String(verdict.ttlInSeconds))
    .send(errorBody(refusal.code, `${refusal.message(verdict.max)} (try again in ${minutes} min)`));
  return true;
}
