import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { createMemoryBus } from '../core/bus/memory.ts';
import type { BusMessage } from '../core/bus/port.ts';
import type { ManualClock } from '../core/clock.ts';
import { type AlertTransition, DeadLetter, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import { readEml } from '../test/helpers/eml.ts';
import type { TwilioServer } from '../test/helpers/twilio-server.ts';
import { alertingConfigSchema, createAlerting, createChannels } from './index.ts';

/** Recipients of the router tests. */
export const RESIDENT = '+33612345678';
export const OPERATOR = 'ops@vigie.example.org';

/** A router under test and what it sent. */
export interface RouterEnv {
  bus: ReturnType<typeof createMemoryBus>;
  store: SqlStore;
  metrics: Metrics;
  outboxDir: string;
  deadLetters: DeadLetter[];
  start(): Promise<void>;
  stop(): Promise<void>;
  produce(t: AlertTransition | string, key?: string): Promise<void>;
  settled(): Promise<void>;
  sweep(): Promise<void>;
  smsLines(): Promise<Array<{ to: string; body: string; idempotencyKey: string }>>;
  emails(): Promise<string[]>;
  /** The outbox's emails, decoded (recipient, subject, body). */
  mails(): Promise<Array<{ to: string; subject: string; body: string }>>;
}

/** A router on a memory bus and `store`; outbox channels unless a Twilio stand-in is given; stopped after the test. */
export async function setupRouter(options: {
  store: SqlStore;
  twilio?: TwilioServer;
  config?: Record<string, unknown>;
  clock?: ManualClock;
  /** Residents' emails carry unsubscribe links to this base URL. */
  publicUrl?: string;
}): Promise<RouterEnv> {
  const outboxDir = await mkdtemp(join(tmpdir(), 'vigie-alerting-'));
  const bus = createMemoryBus({ redelivery: { initialDelayMs: 10, maxDelayMs: 100 } });
  const { store } = options;
  const metrics = new Metrics();
  const config = alertingConfigSchema.parse({
    outboxDir,
    operatorEmails: [OPERATOR],
    retry: { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: 4 },
    sendTimeoutMs: 2_000,
    // Tests of other behaviour must not depend on the hour they run at (no quiet hours, the all-clear at once) nor
    // on each other (one resident number across the file: no daily cap).
    residents: { quietHours: 'off', resolvedSettleMinutes: 0, maxSmsPerDay: 1000 },
    groupWaitSeconds: 0, // operator messages at once (grouping has its own tests)
    ...(options.twilio
      ? {
          twilio: {
            accountSid: options.twilio.accountSid,
            authToken: options.twilio.authToken,
            fromNumber: '+33700000001',
            apiBaseUrl: options.twilio.url,
          },
        }
      : {}),
    ...options.config,
  });
  const channels = createChannels(config, silentLogger());
  const deadLetters: DeadLetter[] = [];
  await bus.ensureTopic(TOPICS.deadLetters);
  const dlq = await bus.subscribe({
    groupId: 'test-dlq',
    topics: [TOPICS.deadLetters],
    fromBeginning: true,
    handler: async (messages: readonly BusMessage[]) => {
      for (const m of messages) deadLetters.push(DeadLetter.parse(JSON.parse(m.value)));
    },
  });
  const { clock, publicUrl } = options;
  let alerting = createAlerting({ bus, store, metrics, logger: silentLogger(), config, channels, clock, publicUrl });
  let running = false;
  const env: RouterEnv = {
    bus,
    store,
    metrics,
    outboxDir,
    deadLetters,
    async start() {
      alerting = createAlerting({ bus, store, metrics, logger: silentLogger(), config, channels, clock, publicUrl });
      await alerting.start();
      running = true;
    },
    async stop() {
      if (running) await alerting.close();
      running = false;
    },
    async produce(t, key) {
      const value = typeof t === 'string' ? t : JSON.stringify(t);
      const k = key ?? (typeof t === 'string' ? 'WM-bad:leak' : `${t.deviceId}:${t.type}`);
      await bus.produce(TOPICS.alerts, [{ key: k, value }]);
    },
    async settled() {
      await expect.poll(() => bus.lag('alerting', TOPICS.alerts), { timeout: 10_000 }).toBe(0);
    },
    sweep: () => alerting.sweep(),
    async smsLines() {
      const text = await readFile(join(outboxDir, 'sms.ndjson'), 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    },
    async emails() {
      const dir = join(outboxDir, 'email');
      const files = await readdir(dir).catch(() => [] as string[]);
      return Promise.all(files.map((f) => readFile(join(dir, f), 'utf8')));
    },
    async mails() {
      return (await env.emails()).map(readEml);
    },
  };
  onTestFinished(async () => {
    await env.stop();
    await dlq.close();
    await bus.close();
    await channels.close();
    await rm(outboxDir, { recursive: true, force: true });
  });
  await env.start();
  return env;
}

/** The delivery rows of alerts of these devices, by key. */
export async function deliveryRows(store: SqlStore, ...deviceIds: string[]) {
  const res = await store.query<{ idempotency_key: string; status: string; attempts: number; channel: string }>(
    `SELECT idempotency_key, status, attempts, channel FROM alerting_deliveries
     WHERE split_part(alert_id, ':', 1) = ANY($1::text[]) ORDER BY idempotency_key`,
    [deviceIds],
  );
  return res.rows;
}
