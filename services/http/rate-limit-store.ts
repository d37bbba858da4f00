import { createHash } from 'node:crypto';
import type { FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { SqlStore } from '../../core/store/store.ts';

/**
 * A store for @fastify/rate-limit that keeps its counters in the operational store (table `http_rate_limits`), so
 * every process serving the API on one database counts together: behind a load balancer, three `vigie serve`
 * instances still allow a client the limit once, not three times. Fixed windows, timed by the database's clock (one
 * clock for every instance). A limiter is named by its route (`GET /api/...`) or, for one made by
 * `createRateLimit`, by its `groupId` — required, so that two limiters never share counters by accident.
 *
 * Each count is one statement (an upsert); windows over for a minute are purged at most once a minute.
 */

/** What @fastify/rate-limit gives a store's `child`: the merged limiter options, with the route for a route's. */
interface ChildOptions {
  readonly continueExceeding?: boolean;
  readonly groupId?: string;
  readonly routeInfo?: { readonly method?: string | readonly string[]; readonly url?: string };
}

type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/** The store's interface, as @fastify/rate-limit calls it. */
interface RateLimitStore {
  incr(key: string, cb: Callback, timeWindow: number, max: number): void;
  read(key: string, cb: Callback): void;
  child(options: ChildOptions): RateLimitStore;
}

const PURGE_EVERY_MS = 60_000;

const NOW_MS = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;

const INCR = `
  WITH now AS (SELECT ${NOW_MS} AS ms)
  INSERT INTO http_rate_limits AS r (bucket, hits, window_ends_ms)
  SELECT $1, 1, now.ms + $2 FROM now
  ON CONFLICT (bucket) DO UPDATE SET
    hits = CASE WHEN r.window_ends_ms <= (SELECT ms FROM now) THEN 1 ELSE r.hits + 1 END,
    window_ends_ms = CASE
      WHEN r.window_ends_ms <= (SELECT ms FROM now) OR ($3::boolean AND r.hits + 1 > $4::integer)
        THEN (SELECT ms FROM now) + $2
      ELSE r.window_ends_ms END
  RETURNING hits, window_ends_ms - (SELECT ms FROM now) AS ttl`;

const READ = `
  SELECT hits, window_ends_ms - ${NOW_MS} AS ttl FROM http_rate_limits
  WHERE bucket = $1 AND window_ends_ms > ${NOW_MS}`;

/** The store class over `store` (migrations: `httpMigrations`). */
export function sqlRateLimitStore(store: SqlStore): FastifyRateLimitStoreCtor {
  let lastPurgeMs = 0;
  const purge = () => {
    const nowMs = Date.now();
    if (nowMs - lastPurgeMs < PURGE_EVERY_MS) return;
    lastPurgeMs = nowMs;
    // Best effort: a failed purge leaves rows for the next one, and counting does not depend on it.
    store.query(`DELETE FROM http_rate_limits WHERE window_ends_ms < ${NOW_MS} - $1`, [PURGE_EVERY_MS]).catch(() => {});
  };

  class SqlRateLimitStore implements RateLimitStore {
    readonly #name: string;
    readonly #continueExceeding: boolean;

    /** `name`: the limiter's; the plugin's own store (a global limit) is `global`. */
    constructor(options: ChildOptions, name = 'global') {
      this.#name = name;
      this.#continueExceeding = options.continueExceeding === true;
    }

    #bucket(key: string): string {
      return createHash('sha256').update(this.#name).update('\0').update(key).digest('hex');
    }

    incr(key: string, cb: Callback, timeWindow: number, max: number): void {
      purge();
      store
        .query<{ hits: number; ttl: number }>(INCR, [this.#bucket(key), timeWindow, this.#continueExceeding, max])
        .then(({ rows: [row] }) => cb(null, { current: row?.hits ?? 1, ttl: Number(row?.ttl ?? timeWindow) }), cb);
    }

    read(key: string, cb: Callback): void {
      store
        .query<{ hits: number; ttl: number }>(READ, [this.#bucket(key)])
        .then(
          ({ rows: [row] }) => cb(null, row ? { current: row.hits, ttl: Number(row.ttl) } : { current: 0, ttl: 0 }),
          cb,
        );
    }

    child(options: ChildOptions): RateLimitStore {
      const route = options.routeInfo;
      const method = Array.isArray(route?.method) ? route.method.join(',') : route?.method;
      const name = options.groupId ?? (route?.url ? `${method ?? '*'} ${route.url}` : null);
      if (name === null) {
        throw new Error('rate limit: a limiter made by createRateLimit on the shared store needs a groupId (its name)');
      }
      return new SqlRateLimitStore(options, name);
    }
  }
  // The library types `child`'s argument as a whole route; this reads the three options above from it.
  return SqlRateLimitStore as unknown as FastifyRateLimitStoreCtor;
}
