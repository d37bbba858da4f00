import { expect, onTestFinished } from 'vitest';
import type { z } from 'zod';
import { alertingMigrations } from '../../alerting/index.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Clock } from '../../core/clock.ts';
import { Notification, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore as openEngineStore } from '../../test/helpers/postgres.ts';
import type { AccountEraser, CitizenPlugin, HttpPlugin } from '../http/index.ts';
import { createHttpServer, httpConfigSchema, httpMigrations } from '../http/index.ts';
import { residentsConfigSchema } from './config.ts';
import { residentsMigrations } from './index.ts';
import { CSRF_HEADER, RESIDENT_COOKIE, residentRoutes } from './routes.ts';

/**
 * A store of `engine` with the alerting migrations (the tables the residents' service reads) and the residents'
 * own, closed (and its database dropped) when the test ends.
 */
export function openTestStore(engine: 'pglite' | 'postgres'): Promise<SqlStore> {
  return openEngineStore(engine, [alertingMigrations, httpMigrations, residentsMigrations]);
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** An answer of the server, JSON-decoded (raw text and bytes kept for downloads). */
export interface Call {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly raw: Buffer;
  readonly headers: Record<string, unknown>;
  readonly cookies: Array<{ name: string; value: string; [k: string]: unknown }>;
}

/** A signed-in citizen as a browser holds them: the cookie and the CSRF token. */
export interface Browser {
  readonly cookie: string;
  /** The Set-Cookie attributes the server gave (signIn only). */
  readonly attributes?: Record<string, unknown>;
  readonly csrf: string;
  readonly address: string;
}

/** What a request sends: a JSON or form body, or raw bytes with their content type; as whom; from where. */
export interface CallOptions {
  readonly json?: unknown;
  readonly form?: Record<string, string>;
  readonly payload?: Buffer | string;
  readonly as?: Browser;
  /** The CSRF header: the browser's token by default, null for none. */
  readonly csrf?: string | null;
  readonly ip?: string;
  readonly headers?: Record<string, string>;
}

const POLL = { timeout: 20_000, interval: 20 };

/**
 * The residents' routes — the citizen account — on a real HTTP server (requests injected), with other citizen
 * services' routes in its scope (`citizenPlugins`, `accountErasers`) and more plugins beside (`plugins`), and a
 * memory bus whose notifications (the sign-in codes) are collected. `signIn(address)` goes through the real code
 * flow. Everything is closed when the test ends.
 */
export async function startResidentsServer<C extends Clock>(options: {
  readonly store: SqlStore;
  readonly clock: C;
  readonly config?: Partial<z.input<typeof residentsConfigSchema>>;
  readonly publicUrl?: string;
  readonly citizenPlugins?: readonly CitizenPlugin[];
  readonly accountErasers?: readonly AccountEraser[];
  readonly plugins?: readonly HttpPlugin[];
}) {
  const { store, clock } = options;
  const bus = createMemoryBus();
  onTestFinished(() => bus.close());
  const outbox: Notification[] = [];
  await bus.ensureTopic(TOPICS.notifications);
  await bus.subscribe({
    groupId: 'test-outbox',
    topics: [TOPICS.notifications],
    fromBeginning: true,
    handler: async (messages) => {
      for (const m of messages) outbox.push(Notification.parse(JSON.parse(m.value)));
    },
  });
  const app = createHttpServer({
    config: httpConfigSchema.parse({ host: '127.0.0.1', port: 0 }),
    store,
    logger: silentLogger(),
    metrics: new Metrics(),
  });
  const metrics = new Metrics();
  await app.register(residentRoutes, {
    store,
    bus,
    metrics,
    logger: silentLogger(),
    config: residentsConfigSchema.parse({ signInPerIpPerHour: 1000, verifyPerIpPerHour: 1000, ...options.config }),
    timeZone: 'Europe/Paris',
    clock,
    publicUrl: options.publicUrl,
    citizenPlugins: options.citizenPlugins,
    accountErasers: options.accountErasers,
  });
  for (const plugin of options.plugins ?? []) await app.register(plugin);
  await app.ready();
  onTestFinished(() => app.close());

  async function call(method: Method, url: string, opts: CallOptions = {}): Promise<Call> {
    const headers: Record<string, string> = { ...opts.headers };
    let payload: Buffer | string | undefined = opts.payload;
    if (opts.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(opts.json);
    } else if (opts.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(opts.form).toString();
    }
    const csrf = opts.csrf === undefined ? opts.as?.csrf : opts.csrf;
    if (csrf) headers[CSRF_HEADER] = csrf;
    const res = await app.inject({
      method,
      url,
      headers,
      ...(payload === undefined ? {} : { payload }),
      ...(opts.as ? { cookies: { [RESIDENT_COOKIE]: opts.as.cookie } } : {}),
      remoteAddress: opts.ip ?? '127.0.0.1',
    });
    const isJson = String(res.headers['content-type'] ?? '').includes('json');
    return {
      status: res.statusCode,
      body: res.body && isJson ? (JSON.parse(res.body) as Record<string, unknown>) : {},
      raw: res.rawPayload,
      headers: res.headers,
      cookies: res.cookies as Call['cookies'],
    };
  }

  /** The code of the newest notification sent to `address` (waiting for the `count`th). */
  async function codeSentTo(address: string, count = 1): Promise<string> {
    await expect.poll(() => outbox.filter((n) => n.to === address).length, POLL).toBeGreaterThanOrEqual(count);
    const n = outbox.filter((m) => m.to === address).at(-1) as Notification;
    const text = n.channel === 'sms' ? n.body : n.text;
    return (/\b(\d{6})\b/.exec(text) as RegExpExecArray)[1] as string;
  }

  /** Signs `address` in with the code it receives: the browser's cookie and CSRF token. */
  async function signIn(address: string): Promise<Browser> {
    const before = outbox.filter((n) => n.to === address).length;
    expect((await call('POST', '/api/me/sign-in', { json: { address } })).status).toBe(202);
    const code = await codeSentTo(address, before + 1);
    const res = await call('POST', '/api/me/verify', { json: { address, code } });
    expect(res.status).toBe(200);
    const cookie = res.cookies.find((c) => c.name === RESIDENT_COOKIE);
    return { cookie: cookie?.value as string, attributes: cookie, csrf: res.body.csrfToken as string, address };
  }

  return { app, bus, clock, outbox, metrics, call, codeSentTo, signIn };
}
