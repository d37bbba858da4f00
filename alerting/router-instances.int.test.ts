import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createKafkaBus } from '../core/bus/kafka.ts';
import { type AlertTransition, TOPICS } from '../core/contracts/index.ts';
import { silentLogger } from '../core/logging.ts';
import { Metrics } from '../core/metrics.ts';
import type { SqlStore } from '../core/store/store.ts';
import { headerFields } from '../test/helpers/eml.ts';
import { twoStoresOnNewDatabase } from '../test/helpers/postgres.ts';
import { startSmtpServer } from '../test/helpers/smtp-server.ts';
import { startTwilioServer, type TwilioServer } from '../test/helpers/twilio-server.ts';
import { type Alerting, alertingConfigSchema, alertingMigrations, createAlerting, createChannels } from './index.ts';
import { createSubscriptions } from './subscriptions.ts';
import { leakTransition } from './test-helpers.ts';

/**
 * Issue 6's acceptance: two alerting instances consume the same alert stream and every recipient gets each message
 * exactly once — on a real Kafka broker and a real PostgreSQL, each instance with its own bus client, its own
 * connection pool and its own channels (as two processes), SMS through the real twilio library to the recording
 * stand-in, email through nodemailer to a real SMTP server. Counted at the receiving end.
 */

const OPERATOR = 'ops@vigie.example.org';
const DEVICES = 40;

interface Instance {
  readonly alerting: Alerting;
  readonly metrics: Metrics;
  close(): Promise<void>;
}

async function startInstance(options: {
  store: SqlStore;
  namespace: string;
  twilio: TwilioServer;
  smtpUrl: string;
  groupId: string;
  config?: Record<string, unknown>;
}): Promise<Instance> {
  const outboxDir = await mkdtemp(join(tmpdir(), 'vigie-instances-'));
  const config = alertingConfigSchema.parse({
    outboxDir,
    operatorEmails: [OPERATOR],
    smtpUrl: options.smtpUrl,
    twilio: {
      accountSid: options.twilio.accountSid,
      authToken: options.twilio.authToken,
      fromNumber: '+33700000001',
      apiBaseUrl: options.twilio.url,
    },
    residents: { quietHours: 'off', resolvedSettleMinutes: 0, maxSmsPerDay: 1000, sweepIntervalMs: 200 },
    groupWaitSeconds: 0,
    retry: { initialDelayMs: 5, maxDelayMs: 50, maxAttempts: 4 },
    ...options.config,
  });
  const bus = await createKafkaBus({
    brokers: inject('kafkaBrokers'),
    clientId: `alerting-${randomUUID().slice(0, 6)}`,
    namespace: options.namespace,
    defaultPartitions: 4,
  });
  const channels = createChannels(config, silentLogger());
  const metrics = new Metrics();
  const alerting = createAlerting({
    bus,
    store: options.store,
    metrics,
    logger: silentLogger(),
    config,
    channels,
    groupId: options.groupId,
  });
  await alerting.start();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await alerting.close();
    await channels.close();
    await bus.close();
    await rm(outboxDir, { recursive: true, force: true });
  };
  onTestFinished(close);
  return { alerting, metrics, close };
}

/** N meters, each with its resident's own number; the transitions of a leak opening then resolving on each. */
async function residents(store: SqlStore, prefix: string) {
  const subscriptions = createSubscriptions(store);
  const opens: AlertTransition[] = [];
  const resolves: AlertTransition[] = [];
  for (let i = 0; i < DEVICES; i++) {
    const deviceId = `${prefix}-${String(i).padStart(4, '0')}`;
    const phone = `+3361${String(1000000 + i).slice(-7)}`;
    await subscriptions.add({ deviceId, channel: 'sms', address: phone, consent: 'operator' });
    opens.push(leakTransition(deviceId));
    resolves.push(leakTransition(deviceId, { state: 'resolved', ts: '2026-03-01T08:00:00.000Z' }));
  }
  return { opens, resolves };
}

async function produce(namespace: string, transitions: readonly AlertTransition[]) {
  const bus = await createKafkaBus({
    brokers: inject('kafkaBrokers'),
    clientId: 'detector',
    namespace,
    defaultPartitions: 4,
  });
  try {
    await bus.ensureTopic(TOPICS.alerts);
    await bus.produce(
      TOPICS.alerts,
      transitions.map((t) => ({ key: `${t.deviceId}:${t.type}`, value: JSON.stringify(t) })),
    );
  } finally {
    await bus.close();
  }
}

/** How many times each value occurs. */
function counts(values: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) m.set(v, (m.get(v) ?? 0) + 1);
  return m;
}

async function expectExactlyOnce(twilio: TwilioServer, mails: ReadonlyArray<{ raw: string }>) {
  // Every resident: one SMS when the leak opened, one when it resolved; the operator: one email for each.
  await expect.poll(() => twilio.accepted().length, { timeout: 60_000 }).toBeGreaterThanOrEqual(2 * DEVICES);
  await expect.poll(() => mails.length, { timeout: 60_000 }).toBeGreaterThanOrEqual(2 * DEVICES);
  const sms = counts(twilio.accepted().map((r) => `${r.form.To}\n${r.form.Body}`));
  expect(sms.size, 'distinct SMS').toBe(2 * DEVICES);
  expect(
    [...sms].filter(([, n]) => n > 1),
    'SMS received twice',
  ).toEqual([]);
  const perNumber = counts(twilio.accepted().map((r) => r.form.To ?? ''));
  expect(perNumber.size).toBe(DEVICES);
  expect([...perNumber.values()].every((n) => n === 2)).toBe(true);
  const keys = counts(mails.map((m) => headerFields(m.raw).get('x-vigie-idempotency-key') ?? ''));
  expect(
    [...keys].filter(([, n]) => n > 1),
    'emails received twice',
  ).toEqual([]);
  expect(keys.size).toBe(2 * DEVICES);
  expect([...keys.values()].every((n) => n === 1)).toBe(true);
}

describe('alerting, two instances on one alert stream (Kafka, PostgreSQL)', () => {
  it('sends each message exactly once when two instances share the partitions and one leaves midway', async () => {
    const namespace = `two-${randomUUID().slice(0, 8)}`;
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [alertingMigrations]);
    const twilio = await startTwilioServer();
    const smtp = await startSmtpServer();
    onTestFinished(async () => {
      await twilio.close();
      await smtp.close();
    });
    const { opens, resolves } = await residents(storeA, 'WM-SHARE');
    const common = { namespace, twilio, smtpUrl: smtp.url, groupId: 'alerting' };
    const a = await startInstance({ ...common, store: storeA });
    const b = await startInstance({ ...common, store: storeB });

    await produce(namespace, opens);
    await expect.poll(() => twilio.accepted().length, { timeout: 60_000 }).toBeGreaterThanOrEqual(DEVICES / 2);
    await a.close(); // its partitions move to b: what a handled but had not committed comes again to b
    await produce(namespace, resolves);

    await expectExactlyOnce(twilio, smtp.messages);
    expect(await b.metrics.value('alerting_messages_sent_total')).toBeGreaterThan(0);
  });

  it('sends each message exactly once when two instances each handle every transition at the same time', async () => {
    const namespace = `both-${randomUUID().slice(0, 8)}`;
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [alertingMigrations]);
    const twilio = await startTwilioServer();
    const smtp = await startSmtpServer();
    onTestFinished(async () => {
      await twilio.close();
      await smtp.close();
    });
    const { opens, resolves } = await residents(storeA, 'WM-BOTH');
    const common = { namespace, twilio, smtpUrl: smtp.url };
    const a = await startInstance({ ...common, store: storeA, groupId: 'alerting-a' });
    const b = await startInstance({ ...common, store: storeB, groupId: 'alerting-b' });

    await produce(namespace, [...opens, ...resolves]);

    await expectExactlyOnce(twilio, smtp.messages);
    const sent = async () => {
      const values = await Promise.all([a, b].map((i) => i.metrics.value('alerting_messages_sent_total')));
      return values.reduce((x, y) => (x ?? 0) + (y ?? 0), 0);
    };
    await expect.poll(sent).toBe(4 * DEVICES); // 2 SMS + 2 emails per device, once in all (recorded after the send)
    // Everything the other instance found already handled, or leased, was dropped on purpose and counted.
    const skipped = await Promise.all(
      [a, b].flatMap((i) => [
        i.metrics.value('alerting_messages_duplicate_total'),
        i.metrics.value('alerting_messages_leased_elsewhere_total'),
      ]),
    );
    expect(skipped.reduce((x, y) => (x ?? 0) + (y ?? 0), 0)).toBeGreaterThanOrEqual(4 * DEVICES);
  });
});
