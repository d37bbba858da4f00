import type { FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from './server.ts';

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
