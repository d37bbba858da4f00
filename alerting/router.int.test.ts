import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { TOPICS } from '../core/contracts/index.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { startTwilioServer } from '../test/helpers/twilio-server.ts';
import { stopSms } from './consent.ts';
import { alertingMigrations, createSubscriptions } from './index.ts';
import { deliveryRows, OPERATOR, RESIDENT, setupRouter } from './router-test-env.ts';
import { leakTransition } from './test-helpers.ts';

/** One PGlite for the file (opening one costs seconds); each test uses its own device ids. */
let shared: SqlStore;
beforeAll(async () => {
  shared = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
});
afterAll(async () => {
  await shared?.close();
});

let devices = 0;
/** A device id no other test uses. */
function newDevice(): string {
  devices++;
  return `WM-${String(devices).padStart(6, '0')}`;
}

const leak = leakTransition;

/** A router on a memory bus and the file's PGlite (or `options.store`). */
const setup = (options: Omit<Parameters<typeof setupRouter>[0], 'store'> & { store?: SqlStore } = {}) =>
  setupRouter({ ...options, store: options.store ?? shared });

describe('alerting router', () => {
  it('sends one French SMS with rate, volume and cost and one operator email when a leak opens', async () => {
    const dev = newDevice();
    const env = await setup();
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();

    const sms = await env.smsLines();
    expect(sms).toHaveLength(1);
    expect(sms[0]?.to).toBe(RESIDENT);
    expect(sms[0]?.body).toContain(`fuite probable au compteur ${dev}`);
    expect(sms[0]?.body).toContain('4,2 L/h, soit 3,0 m3 et 13,12 € perdus par mois');
    expect(sms[0]?.idempotencyKey).toBe(`${dev}:leak:1:open:sms:${RESIDENT}`);
    const emails = await env.emails();
    expect(emails).toHaveLength(1);
    expect(emails[0]).toContain(`To: ${OPERATOR}`);

    // Accounting: one transition in, two messages out, nothing failed or dead-lettered.
    expect(await env.metrics.value('alerting_transitions_total', { type: 'leak', state: 'open' })).toBe(1);
    expect(await env.metrics.value('alerting_messages_sent_total', { channel: 'sms' })).toBe(1);
    expect(await env.metrics.value('alerting_messages_sent_total', { channel: 'email' })).toBe(1);
    expect(await env.metrics.value('alerting_messages_failed_total')).toBe(0);
    expect(env.deadLetters).toEqual([]);
    const alert = await env.store.query<{ state: string; resolved_at: unknown }>(
      'SELECT state, resolved_at FROM alerting_alerts WHERE alert_id = $1',
      [`${dev}:leak:1`],
    );
    expect(alert.rows[0]).toMatchObject({ state: 'open', resolved_at: null });
  });

  it("emails the kind's team beside the operators, once per address, when a streetlight alert opens", async () => {
    const lighting = 'eclairage@vigie.example.org';
    const water = 'reseau@vigie.example.org';
    const env = await setup({
      config: { teamEmails: { streetlight: [lighting, OPERATOR], 'water-meter': [water] } },
    });
    const lamp = `SL-${newDevice().slice(3)}`;
    await env.produce(
      leak(lamp, {
        alertId: `${lamp}:lamp-out:1`,
        type: 'lamp-out',
        kind: 'streetlight',
        summary: 'Lamp drawing 0 W while it should be on',
        details: { powerW: 0 },
      }),
    );
    await env.settled();
    const to = (await env.emails()).map((e) => /^To: (.*)$/m.exec(e)?.[1]).sort();
    // The water team hears nothing of a lamp; the operator listed twice gets one email.
    expect(to).toEqual([lighting, OPERATOR].sort());
    expect(await env.smsLines()).toEqual([]);
  });

  it('still sends one SMS when the same transition is delivered twice', async () => {
    const dev = newDevice();
    const env = await setup();
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();
    await env.produce(leak(dev));
    await env.settled();

    expect(await env.smsLines()).toHaveLength(1);
    expect(await env.emails()).toHaveLength(1);
    // Both copies accounted for: 2 transitions = 2 sent + 2 dropped on purpose as duplicates.
    expect(await env.metrics.value('alerting_transitions_total')).toBe(2);
    expect(await env.metrics.value('alerting_messages_sent_total')).toBe(2);
    expect(await env.metrics.value('alerting_messages_duplicate_total')).toBe(2);
  });

  it('sends no second SMS when a new router on the same store gets the same transition after a restart', async () => {
    const dev = newDevice();
    const store = shared;
    await createSubscriptions(store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });

    // 1. First life: the SMS goes out.
    const first = await setup({ store });
    await first.produce(leak(dev));
    await first.settled();
    expect(await first.smsLines()).toHaveLength(1);
    await first.stop();

    // 2. Second life, a fresh bus (as after a crash before the commit): the transition comes again.
    const second = await setup({ store });
    await second.produce(leak(dev));
    await second.settled();
    expect(await second.smsLines()).toHaveLength(0);
    expect(await second.emails()).toHaveLength(0);
    expect(await second.metrics.value('alerting_messages_duplicate_total')).toBe(2);
  });

  it('delivers once when Twilio answers 500 twice then 201', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    twilio.failNext({ status: 500 }, { status: 500 });
    const env = await setup({ twilio });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();

    expect(twilio.requests.map((r) => r.statusCode)).toEqual([500, 500, 201]);
    expect(twilio.accepted()).toHaveLength(1);
    expect(twilio.accepted()[0]?.form.Body).toContain('13,12 €');
    const sms = (await deliveryRows(env.store, dev)).find((r) => r.channel === 'sms');
    expect(sms).toMatchObject({ status: 'sent', attempts: 3 });
    expect(await env.metrics.value('alerting_messages_sent_total', { channel: 'sms' })).toBe(1);
  });

  it('honours Retry-After and delivers when Twilio throttles with 429', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    twilio.failNext({ status: 429, retryAfterSeconds: 0 });
    const env = await setup({ twilio });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();
    expect(twilio.requests.map((r) => r.statusCode)).toEqual([429, 201]);
  });

  it('records a rejected number and still serves the other residents when Twilio refuses one', async () => {
    const dev = newDevice();
    const dev2 = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    const env = await setup({ twilio, config: { operatorEmails: [] } });
    const subs = createSubscriptions(env.store);
    await subs.add({ deviceId: dev, channel: 'sms', address: '+15005550001', consent: 'operator' }); // Twilio's invalid number
    await subs.add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await subs.add({ deviceId: dev2, channel: 'sms', address: '+33698765432', consent: 'operator' });
    await env.produce(leak(dev));
    await env.produce(leak(dev2));
    await env.settled();

    const rows = await deliveryRows(env.store, dev, dev2);
    expect(rows.map((r) => [r.idempotency_key, r.status])).toEqual([
      [`${dev}:leak:1:open:sms:+15005550001`, 'rejected'],
      [`${dev}:leak:1:open:sms:${RESIDENT}`, 'sent'],
      [`${dev2}:leak:1:open:sms:+33698765432`, 'sent'],
    ]);
    expect(
      twilio
        .accepted()
        .map((r) => r.form.To)
        .sort(),
    ).toEqual(['+33612345678', '+33698765432']);
    expect(await env.metrics.value('alerting_messages_failed_total', { channel: 'sms', reason: 'rejected' })).toBe(1);
    expect(env.deadLetters).toEqual([]);

    // A redelivery does not try the rejected number again.
    await env.produce(leak(dev));
    await env.settled();
    expect(twilio.requests.filter((r) => r.form.To === '+15005550001')).toHaveLength(1);
  });

  it('records failed and dead-letters the original transition when retries run out', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    twilio.failNext({ status: 503 }, { status: 503 }, { status: 503 }, { status: 503 });
    const env = await setup({ twilio, config: { operatorEmails: [] } });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    const t = leak(dev);
    await env.produce(t);
    await env.settled();

    expect((await deliveryRows(env.store, dev))[0]).toMatchObject({ status: 'failed', attempts: 4 });
    await expect.poll(() => env.deadLetters.length, { timeout: 5_000 }).toBe(1);
    const letter = env.deadLetters[0];
    expect(letter).toMatchObject({ errorCode: 'ERR_RETRY_EXHAUSTED', stage: 'sending', component: 'alerting' });
    expect(Buffer.from(letter?.rawBase64 ?? '', 'base64').toString('utf8')).toBe(JSON.stringify(t));
    expect(letter?.message).not.toContain(RESIDENT);
    expect(await env.metrics.value('alerting_messages_failed_total', { reason: 'exhausted' })).toBe(1);

    // Replaying the dead letter once the provider is back sends the message.
    await env.produce(Buffer.from(letter?.rawBase64 ?? '', 'base64').toString('utf8'));
    await env.settled();
    expect((await deliveryRows(env.store, dev))[0]).toMatchObject({ status: 'sent' });
    expect(twilio.accepted()).toHaveLength(1);
  });

  it('dead-letters bad data with its bytes and keeps serving when a transition is invalid', async () => {
    const dev = newDevice();
    const env = await setup();
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce('{not json');
    await env.produce(JSON.stringify({ ...leak(dev), state: 'reopened' }));
    await env.produce(leak(dev));
    await env.settled();

    await expect.poll(() => env.deadLetters.length, { timeout: 5_000 }).toBe(2);
    expect(env.deadLetters.map((d) => d.errorCode)).toEqual(['ERR_ALERT_JSON', 'ERR_ALERT_SCHEMA']);
    expect(Buffer.from(env.deadLetters[0]?.rawBase64 ?? '', 'base64').toString('utf8')).toBe('{not json');
    expect(env.deadLetters[1]?.issues.map((i) => i.path)).toEqual(['state']);
    expect(env.deadLetters.every((d) => d.stage === 'processing')).toBe(true);
    expect(await env.smsLines()).toHaveLength(1);
    // Accounting: 3 in = 1 processed + 2 dead-lettered.
    expect(await env.metrics.value('alerting_transitions_total')).toBe(1);
    expect(await env.metrics.value('alerting_transitions_dead_lettered_total')).toBe(2);
  });

  it('tells operators but not residents when an alert is updated, and residents again when it resolves', async () => {
    const dev = newDevice();
    const env = await setup();
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.produce(leak(dev, { state: 'update', ts: '2026-03-01T08:00:00.000Z', details: { estimatedLph: 6 } }));
    await env.produce(leak(dev, { state: 'resolved', ts: '2026-03-02T08:00:00.000Z' }));
    await env.settled();

    const sms = await env.smsLines();
    expect(sms.map((s) => s.idempotencyKey)).toEqual([
      `${dev}:leak:1:open:sms:${RESIDENT}`,
      `${dev}:leak:1:resolved:sms:${RESIDENT}`,
    ]);
    expect(await env.emails()).toHaveLength(3);
    const alert = await env.store.query<{ state: string; resolved_at: Date | null }>(
      'SELECT state, resolved_at FROM alerting_alerts WHERE alert_id = $1',
      [`${dev}:leak:1`],
    );
    expect(alert.rows[0]?.state).toBe('resolved');
    expect(new Date(alert.rows[0]?.resolved_at ?? 0).toISOString()).toBe('2026-03-02T08:00:00.000Z');
  });

  it('sends no resident message when the alert type is not resident-facing', async () => {
    const dev = newDevice();
    const env = await setup();
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev, { alertId: `${dev}:low-battery:1`, type: 'low-battery', details: { batteryPct: 9 } }));
    await env.settled();
    expect(await env.smsLines()).toHaveLength(0);
    expect(await env.emails()).toHaveLength(1);
  });

  it('stops promptly and leaves the delivery pending when closed while waiting to retry', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    twilio.failNext({ status: 429, retryAfterSeconds: 60 });
    const env = await setup({
      twilio,
      config: { operatorEmails: [], retry: { initialDelayMs: 5, maxDelayMs: 120_000, maxAttempts: 4 } },
    });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await expect.poll(() => twilio.requests.length, { timeout: 5_000 }).toBe(1);
    const started = performance.now();
    await env.stop();
    expect(performance.now() - started).toBeLessThan(5_000);
    expect((await deliveryRows(env.store, dev))[0]).toMatchObject({ status: 'pending', attempts: 1 });
    // The next start picks it up (the crash-recovery path).
    await env.start();
    await expect.poll(async () => (await deliveryRows(env.store, dev))[0]?.status, { timeout: 5_000 }).toBe('sent');
  });

  it('sends deliveries left pending by a crash when it starts again', async () => {
    const dev = newDevice();
    const store = shared;
    // What a crash between recording the delivery and sending it leaves behind.
    const t = leak(dev);
    await store.query(
      `INSERT INTO alerting_deliveries
         (idempotency_key, alert_id, transition_state, channel, recipient, locale, message, source)
       VALUES ($1, $2, 'open', 'sms', $3, 'fr', $4::jsonb, $5::jsonb)`,
      [
        `${t.alertId}:open:sms:${RESIDENT}`,
        t.alertId,
        RESIDENT,
        JSON.stringify({ kind: 'sms', to: RESIDENT, body: 'Vigie : fuite probable' }),
        JSON.stringify({ topic: TOPICS.alerts, partition: 0, offset: 0, rawBase64: '' }),
      ],
    );
    const env = await setup({ store, config: { operatorEmails: [] } });
    expect((await env.smsLines()).map((s) => s.body)).toEqual(['Vigie : fuite probable']);
    expect((await deliveryRows(store, dev))[0]).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('sends nothing more and marks sent when a crash left a row pending whose message is in the outbox', async () => {
    const dev = newDevice();
    const env = await setup({ config: { operatorEmails: [OPERATOR] } });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();
    const mine = async () => (await env.smsLines()).filter((l) => l.idempotencyKey.startsWith(dev));
    expect(await mine()).toHaveLength(1);
    // The crash window: the provider took both messages, the process died before marking them sent.
    await env.stop();
    await env.store.query(
      `UPDATE alerting_deliveries SET status = 'pending', provider_message_id = NULL, lease_until = now() - interval '1 second'
       WHERE alert_id = $1`, // and the dead instance's lease has run out
      [`${dev}:leak:1`],
    );

    await env.start(); // a new router on the same store and the same outbox
    await expect
      .poll(async () => (await deliveryRows(env.store, dev)).map((r) => r.status), { timeout: 5_000 })
      .toEqual(['sent', 'sent']);
    expect(await mine()).toHaveLength(1);
    expect(await env.emails()).toHaveLength(1);
    const [sms] = await mine();
    const row = await env.store.query<{ provider_message_id: string; attempts: number }>(
      `SELECT provider_message_id, attempts FROM alerting_deliveries WHERE idempotency_key = $1`,
      [sms?.idempotencyKey],
    );
    expect(row.rows[0]).toMatchObject({ provider_message_id: (sms as { sid?: string } | undefined)?.sid, attempts: 1 });
    expect(await env.metrics.value('alerting_messages_reconciled_total', { channel: 'sms' })).toBe(1);
    expect(await env.metrics.value('alerting_messages_reconciled_total', { channel: 'email' })).toBe(1);
    expect(await env.metrics.value('alerting_messages_sent_total')).toBe(2); // the first life's, none since
  });

  it('sends exactly once when a crash left a row pending after an attempt that never reached the outbox', async () => {
    const dev = newDevice();
    const store = shared;
    const t = leak(dev);
    // attempts = 1 recorded, then the crash came before the message was written.
    await store.query(
      `INSERT INTO alerting_deliveries
         (idempotency_key, alert_id, transition_state, channel, recipient, locale, message, source, attempts)
       VALUES ($1, $2, 'open', 'sms', $3, 'fr', $4::jsonb, $5::jsonb, 1)`,
      [
        `${t.alertId}:open:sms:${RESIDENT}`,
        t.alertId,
        RESIDENT,
        JSON.stringify({ kind: 'sms', to: RESIDENT, body: 'Vigie : fuite probable' }),
        JSON.stringify({ topic: TOPICS.alerts, partition: 0, offset: 0, rawBase64: '' }),
      ],
    );
    const env = await setup({ store, config: { operatorEmails: [] } });
    expect((await env.smsLines()).map((s) => s.idempotencyKey)).toEqual([`${t.alertId}:open:sms:${RESIDENT}`]);
    expect((await deliveryRows(store, dev))[0]).toMatchObject({ status: 'sent', attempts: 2 });
    expect(await env.metrics.value('alerting_messages_reconciled_total')).toBe(0);
  });

  it('sends nothing more when Twilio already holds the message of a row a crash left pending', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    const env = await setup({ twilio, config: { operatorEmails: [] } });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();
    expect(twilio.accepted()).toHaveLength(1);
    await env.stop();
    await env.store.query(
      `UPDATE alerting_deliveries SET status = 'pending', provider_message_id = NULL, lease_until = now() - interval '1 second'
       WHERE alert_id = $1`, // and the dead instance's lease has run out
      [`${dev}:leak:1`],
    );
    // The first look fails: cannot tell yet, so the router waits and asks again rather than guessing.
    twilio.failNext({ status: 503 });

    await env.start();
    await expect.poll(async () => (await deliveryRows(env.store, dev))[0]?.status, { timeout: 5_000 }).toBe('sent');
    expect(twilio.accepted()).toHaveLength(1);
    expect(twilio.lists.map((l) => l.statusCode)).toEqual([503, 200]);
    const row = await env.store.query<{ provider_message_id: string }>(
      'SELECT provider_message_id FROM alerting_deliveries WHERE alert_id = $1',
      [`${dev}:leak:1`],
    );
    expect(row.rows[0]?.provider_message_id).toMatch(/^SM[0-9a-f]{32}$/);
    expect(await env.metrics.value('alerting_messages_reconciled_total', { channel: 'sms' })).toBe(1);
  });

  it('asks Twilio before retrying and sends once when the answer to an accepted message was lost', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    twilio.loseNextAnswer(); // Twilio takes the SMS; the connection drops before its 201 comes back
    const env = await setup({ twilio, config: { operatorEmails: [] } });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.settled();

    expect(twilio.accepted()).toHaveLength(1);
    expect(twilio.lists).toHaveLength(1);
    expect((await deliveryRows(env.store, dev))[0]).toMatchObject({ status: 'sent', attempts: 1 });
    expect(await env.metrics.value('alerting_messages_reconciled_total', { channel: 'sms' })).toBe(1);
  });

  it('sends once when a pending row after a lost answer is not at Twilio', async () => {
    const dev = newDevice();
    const twilio = await startTwilioServer();
    onTestFinished(() => twilio.close());
    const env = await setup({ twilio, config: { operatorEmails: [] } });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.stop();
    const t = leak(dev);
    await env.store.query(
      `INSERT INTO alerting_deliveries
         (idempotency_key, alert_id, transition_state, channel, recipient, locale, message, source, attempts)
       VALUES ($1, $2, 'open', 'sms', $3, 'fr', $4::jsonb, $5::jsonb, 1)`,
      [
        `${t.alertId}:open:sms:${RESIDENT}`,
        t.alertId,
        RESIDENT,
        JSON.stringify({ kind: 'sms', to: RESIDENT, body: 'Vigie : fuite probable' }),
        JSON.stringify({ topic: TOPICS.alerts, partition: 0, offset: 0, rawBase64: '' }),
      ],
    );
    await env.start();
    await expect.poll(async () => (await deliveryRows(env.store, dev))[0]?.status, { timeout: 5_000 }).toBe('sent');
    expect(twilio.lists.map((l) => l.statusCode)).toEqual([200]);
    expect(twilio.accepted().map((r) => r.form.Body)).toEqual(['Vigie : fuite probable']);
  });

  it('sends one SMS across redelivery when the store is PostgreSQL', async () => {
    const dev = newDevice();
    const database = await createTestDatabase(inject('databaseUrl'));
    const store = await openStore({ databaseUrl: database.url, pgliteDir: 'memory://' }, [alertingMigrations]);
    onTestFinished(async () => {
      await store.close();
      await database.drop();
    });
    const env = await setup({ store });
    await createSubscriptions(store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.produce(leak(dev, { state: 'resolved', ts: '2026-03-02T08:00:00.000Z' }));
    await env.settled();
    await env.produce(leak(dev));
    await env.settled();
    expect((await env.smsLines()).map((s) => s.idempotencyKey)).toEqual([
      `${dev}:leak:1:open:sms:${RESIDENT}`,
      `${dev}:leak:1:resolved:sms:${RESIDENT}`,
    ]);
    expect((await deliveryRows(store, dev)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent', 'sent']);
    const alert = await store.query<{ state: string }>('SELECT state FROM alerting_alerts WHERE alert_id = $1', [
      `${dev}:leak:1`,
    ]);
    expect(alert.rows[0]?.state).toBe('resolved');
  });
});

describe("alerting router, residents' policy (controlled wall clock)", () => {
  const policy = (residents: Record<string, unknown>) => ({ residents: { quietHours: 'off', ...residents } });
  const flap = (dev: string, episode: number, state: 'open' | 'resolved', minute: number) =>
    leak(dev, {
      alertId: `${dev}:leak:${episode}`,
      state,
      ts: new Date(Date.parse('2026-03-01T12:00:00Z') + minute * 60_000).toISOString(),
    });

  it('sends one SMS for a condition that flaps 50 times in an hour, and the all-clear once it has settled', async () => {
    const dev = newDevice();
    const clock = new ManualClock(Date.parse('2026-03-02T10:00:00Z'));
    const env = await setup({ clock, config: policy({ resolvedSettleMinutes: 120 }) });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    // 50 episodes, each open then resolved, one a minute or so: an hour of flapping.
    for (let i = 1; i <= 50; i++) {
      await env.produce(flap(dev, i, 'open', i));
      await env.produce(flap(dev, i, 'resolved', i + 0.5));
      clock.advance(70_000);
      await env.settled();
      await env.sweep();
    }
    const during = (await env.smsLines()).filter((l) => l.idempotencyKey.startsWith(`${dev}:`));
    expect(during.map((l) => l.idempotencyKey)).toEqual([`${dev}:leak:1:open:sms:${RESIDENT}`]);
    expect(await env.metrics.value('alerting_messages_suppressed_total', { channel: 'sms', reason: 'flapping' })).toBe(
      49,
    );
    // Two hours later with no reopening: the all-clear of the last episode, and nothing else.
    clock.advance(120 * 60_000);
    await env.sweep();
    const after = (await env.smsLines()).filter((l) => l.idempotencyKey.startsWith(`${dev}:`));
    expect(after.map((l) => l.idempotencyKey)).toEqual([
      `${dev}:leak:1:open:sms:${RESIDENT}`,
      `${dev}:leak:50:resolved:sms:${RESIDENT}`,
    ]);
    expect(after[1]?.body).toMatch(/WM-\d+/);
  });

  it('holds a leak SMS in quiet hours until 08:00 local and sends a burst SMS at once', async () => {
    const leaking = newDevice();
    const bursting = newDevice();
    // 23:30 in Paris (UTC+1 in March before the change).
    const clock = new ManualClock(Date.parse('2026-03-02T22:30:00Z'));
    const env = await setup({ clock, config: policy({ quietHours: '21:00-08:00' }) });
    const subs = createSubscriptions(env.store);
    await subs.add({ deviceId: leaking, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await subs.add({ deviceId: bursting, channel: 'sms', address: '+33611111111', consent: 'operator' });
    await env.produce(leak(leaking));
    await env.produce(leak(bursting, { alertId: `${bursting}:burst:1`, type: 'burst', severity: 'critical' }));
    await env.settled();
    const keys = async () => (await env.smsLines()).map((l) => l.idempotencyKey);
    expect(await keys()).toEqual([`${bursting}:burst:1:open:sms:+33611111111`]);
    expect(await env.metrics.value('alerting_messages_held_total', { channel: 'sms', reason: 'quiet-hours' })).toBe(1);
    // 07:59 local: still held; 08:00 local (07:00Z): sent.
    clock.set(Date.parse('2026-03-03T06:59:00Z'));
    await env.sweep();
    expect(await keys()).toHaveLength(1);
    clock.set(Date.parse('2026-03-03T07:00:00Z'));
    await env.sweep();
    expect(await keys()).toEqual([
      `${bursting}:burst:1:open:sms:+33611111111`,
      `${leaking}:leak:1:open:sms:${RESIDENT}`,
    ]);
    const row = await env.store.query<{ status: string; not_before: Date }>(
      'SELECT status, not_before FROM alerting_deliveries WHERE idempotency_key = $1',
      [`${leaking}:leak:1:open:sms:${RESIDENT}`],
    );
    expect(row.rows[0]?.status).toBe('sent');
    expect(new Date(row.rows[0]?.not_before as Date).toISOString()).toBe('2026-03-03T07:00:00.000Z');
  });

  it('sends nothing when a leak held in quiet hours resolves before morning', async () => {
    const dev = newDevice();
    const clock = new ManualClock(Date.parse('2026-03-02T23:00:00Z'));
    const env = await setup({ clock, config: policy({ quietHours: '21:00-08:00', resolvedSettleMinutes: 0 }) });
    await createSubscriptions(env.store).add({ deviceId: dev, channel: 'sms', address: RESIDENT, consent: 'operator' });
    await env.produce(leak(dev));
    await env.produce(leak(dev, { state: 'resolved', ts: '2026-03-01T04:00:00.000Z' }));
    await env.settled();
    clock.set(Date.parse('2026-03-03T09:00:00Z'));
    await env.sweep();
    expect((await env.smsLines()).filter((l) => l.idempotencyKey.startsWith(`${dev}:`))).toEqual([]);
    const statuses = await env.store.query<{ status: string }>(
      'SELECT status FROM alerting_deliveries WHERE alert_id = $1 AND channel = $2 ORDER BY transition_state',
      [`${dev}:leak:1`, 'sms'],
    );
    expect(statuses.rows.map((r) => r.status)).toEqual(['cancelled', 'suppressed']);
  });

  it('sends no SMS to a number that sent STOP, not even one held before it did', async () => {
    const held = newDevice();
    const later = newDevice();
    const number = '+33633333333';
    const clock = new ManualClock(Date.parse('2026-03-02T22:30:00Z')); // 23:30 in Paris: quiet hours
    const env = await setup({ clock, config: policy({ quietHours: '21:00-08:00' }) });
    const subs = createSubscriptions(env.store);
    await subs.add({ deviceId: held, channel: 'sms', address: number, consent: 'operator' });
    await subs.add({ deviceId: later, channel: 'sms', address: number, consent: 'operator' });
    await env.produce(leak(held));
    await env.settled();
    // The resident sends STOP during the night (what the inbound webhook records), then another meter leaks.
    await stopSms(env.store, { number, source: 'sms', atMs: clock.nowMs() });
    await env.produce(leak(later, { alertId: `${later}:burst:1`, type: 'burst' }));
    await env.settled();
    clock.set(Date.parse('2026-03-03T07:00:00Z'));
    await env.sweep();
    expect((await env.smsLines()).filter((l) => l.to === number)).toEqual([]);
    const rows = await env.store.query<{ status: string; last_error: string | null }>(
      "SELECT status, last_error FROM alerting_deliveries WHERE recipient = $1 AND channel = 'sms'",
      [number],
    );
    expect(rows.rows).toEqual([{ status: 'suppressed', last_error: 'the recipient sent STOP' }]);
    expect(await env.metrics.value('alerting_messages_suppressed_total', { channel: 'sms', reason: 'opted-out' })).toBe(
      1,
    );
  });

  it('suppresses SMS to one number beyond the daily cap and counts them', async () => {
    const clock = new ManualClock(Date.parse('2026-03-02T10:00:00Z'));
    const env = await setup({ clock, config: policy({ maxSmsPerDay: 3, resolvedSettleMinutes: 0 }) });
    const subs = createSubscriptions(env.store);
    const number = '+33622222222';
    const devices = Array.from({ length: 5 }, () => newDevice());
    for (const d of devices) await subs.add({ deviceId: d, channel: 'sms', address: number, consent: 'operator' });
    for (const d of devices) await env.produce(leak(d));
    await env.settled();
    expect((await env.smsLines()).filter((l) => l.to === number)).toHaveLength(3);
    expect(
      await env.metrics.value('alerting_messages_suppressed_total', { channel: 'sms', reason: 'rate-limit' }),
    ).toBe(2);
    // A day later the number may hear again.
    clock.advance(24 * 3_600_000 + 1);
    // The 5th meter's resident was never told (capped): a new episode of it is news, sent.
    await env.produce(leak(devices[4] as string, { alertId: `${devices[4]}:leak:2` }));
    await env.settled();
    expect((await env.smsLines()).filter((l) => l.to === number)).toHaveLength(4);
  });
});
