import { afterAll, beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { type AlertTransition, type DeviceInfo, type Notification, TOPICS } from '../core/contracts/index.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { decodedBody, headerFields } from '../test/helpers/eml.ts';
import { createTestDatabase, type TestDatabase } from '../test/helpers/postgres.ts';
import { startTwilioServer } from '../test/helpers/twilio-server.ts';
import { isSmsAllowed } from './consent.ts';
import { alertingMigrations, createSubscriptions } from './index.ts';
import { createLifecycleStore } from './lifecycle-store.ts';
import { deliveryRows, RESIDENT, type RouterEnv, setupRouter } from './router-test-env.ts';
import { createSilences } from './silences.ts';
import { leakTransition } from './test-helpers.ts';
import { unsubscribeSecret, verifyUnsubscribeToken } from './webhooks/unsubscribe-token.ts';

/**
 * What operators receive (issue 6): escalation of unacknowledged alerts on a controlled clock, one grouped message
 * for a district-wide event, silences and maintenance windows, failures reported — through the real router on the
 * memory bus, on PGlite and on the real PostgreSQL, messages read from the outbox and the Twilio stand-in.
 */

let shared: SqlStore;

let devices = 0;
/** A device id no other test uses. */
function newDevice(prefix = 'WM'): string {
  devices++;
  return `${prefix}-${String(devices).padStart(6, '0')}`;
}

const ON_CALL = '+33698765432';
const SUPERVISOR = 'chef@vigie.example.org';
const T0 = Date.parse('2026-11-26T10:00:00Z');
const MINUTE = 60_000;

/** Places devices in a district through devices.v1, as the registry does, and waits until the router knows. */
async function place(env: RouterEnv, district: string, ids: readonly string[], kind: DeviceInfo['kind']) {
  await env.bus.produce(
    TOPICS.devices,
    ids.map((deviceId) => {
      const info: DeviceInfo = { deviceId, kind, district, active: true, updatedAt: new Date(T0).toISOString() };
      return { key: deviceId, value: JSON.stringify(info) };
    }),
  );
  await expect
    .poll(async () => {
      const res = await env.store.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM alerting_devices WHERE district = $1',
        [district],
      );
      return res.rows[0]?.n;
    })
    .toBe(ids.length);
}

function noData(deviceId: string, overrides: Partial<AlertTransition> = {}): AlertTransition {
  return {
    alertId: `${deviceId}:no-data:1`,
    type: 'no-data',
    deviceId,
    kind: 'water-meter',
    state: 'open',
    ts: '2026-11-26T09:58:00.000Z',
    severity: 'warning',
    summary: 'No reading for 2 h',
    details: {},
    ...overrides,
  };
}

describe.each(['pglite', 'postgres'] as const)('on %s', (engine) => {
  let database: TestDatabase | undefined;
  beforeAll(async () => {
    if (engine === 'postgres') database = await createTestDatabase(inject('databaseUrl'));
    shared = await openStore({ databaseUrl: database?.url, pgliteDir: 'memory://' }, [alertingMigrations]);
  });
  afterAll(async () => {
    await shared?.close();
    await database?.drop();
  });

  describe('alerting router, escalation (controlled wall clock)', () => {
    const escalation = { steps: `30=${ON_CALL};120=${SUPERVISOR}` };

    it('escalates an unacknowledged alert on schedule, and not one acknowledged in time', async () => {
      const clock = new ManualClock(T0);
      const env = await setupRouter({ store: shared, clock, config: { escalation, operatorEmails: [] } });
      const [ignored, acknowledged] = [newDevice(), newDevice()];
      await env.produce(leakTransition(ignored));
      await env.produce(leakTransition(acknowledged));
      await env.settled();

      clock.advance(10 * MINUTE);
      await createLifecycleStore(env.store).acknowledge(`${acknowledged}:leak:1`, 'alice');
      clock.advance(19 * MINUTE); // 29 min after opening: not yet
      await env.sweep();
      expect(await env.smsLines()).toEqual([]);

      clock.advance(2 * MINUTE); // 31 min: the first step, for the ignored alert only
      await env.sweep();
      const sms = await env.smsLines();
      expect(sms).toHaveLength(1);
      expect(sms[0]?.to).toBe(ON_CALL);
      expect(sms[0]?.body).toContain(`Vigie ESCALADE 1: leak ${ignored} non acquittee depuis 30 min.`);
      expect(sms[0]?.body).not.toContain(acknowledged);
      expect(await env.emails()).toEqual([]);

      clock.advance(90 * MINUTE); // 121 min: the second step
      await env.sweep();
      const emails = await env.mails();
      expect(emails).toHaveLength(1);
      expect(emails[0]?.to).toBe(SUPERVISOR);
      expect(emails[0]?.subject).toBe(`[Vigie] Escalade 2 : leak – ${ignored}, non acquittée depuis 120 min`);
      expect(emails[0]?.body).toContain(`- ${ignored}:leak:1 (warning) ouverte le`);
      expect(emails[0]?.body).not.toContain(acknowledged);
      expect(await env.smsLines()).toHaveLength(1); // the first step is not sent again

      clock.advance(24 * 60 * MINUTE);
      await env.sweep();
      expect(await env.smsLines()).toHaveLength(1);
      expect(await env.emails()).toHaveLength(1);
      expect(await env.metrics.value('alerting_escalations_total', { step: '1' })).toBe(1);
      expect(await env.metrics.value('alerting_escalations_total', { step: '2' })).toBe(1);
    });

    it('does not escalate an alert resolved before its step is due, nor an info alert', async () => {
      const clock = new ManualClock(T0);
      const env = await setupRouter({ store: shared, clock, config: { escalation, operatorEmails: [] } });
      const [resolved, minor] = [newDevice(), newDevice()];
      await env.produce(leakTransition(resolved));
      await env.produce(noData(minor, { severity: 'info' }));
      await env.settled();
      clock.advance(5 * MINUTE);
      await env.produce(leakTransition(resolved, { state: 'resolved', ts: '2026-11-26T10:05:00.000Z' }));
      await env.settled();
      clock.advance(200 * MINUTE);
      await env.sweep();
      expect(await env.smsLines()).toEqual([]);
      expect(await env.emails()).toEqual([]);
    });

    it('sends the on-call phone one SMS for many alerts due at once', async () => {
      const clock = new ManualClock(T0);
      const env = await setupRouter({ store: shared, clock, config: { escalation, operatorEmails: [] } });
      const ids = [newDevice(), newDevice(), newDevice()];
      for (const id of ids) await env.produce(leakTransition(id));
      await env.produce(noData(newDevice()));
      await env.settled();
      clock.advance(31 * MINUTE);
      await env.sweep();
      const sms = await env.smsLines();
      expect(sms).toHaveLength(1);
      expect(sms[0]?.body).toBe('Vigie ESCALADE 1: 4 alertes non acquittees depuis 30 min (3 leak, 1 no-data).');
    });
  });

  describe('alerting router, grouping and silences', () => {
    it('sends each operator one message for a district-wide event of 200 alerts', async () => {
      const clock = new ManualClock(T0);
      const env = await setupRouter({ store: shared, clock, config: { groupWaitSeconds: 60 } });
      const district = `Rebberg-${newDevice()}`;
      const ids = Array.from({ length: 200 }, () => newDevice());
      const elsewhere = newDevice();
      await place(env, district, ids, 'water-meter');
      await place(env, `Dornach-${elsewhere}`, [elsewhere], 'water-meter');
      for (const id of ids) await env.produce(noData(id));
      await env.produce(noData(elsewhere));
      await env.settled();
      await env.sweep();
      expect(await env.emails()).toEqual([]); // waiting to be grouped

      clock.advance(61_000);
      await env.sweep();
      const emails = await env.mails();
      expect(emails).toHaveLength(2);
      const grouped = emails.find((e) => e.subject.includes(district));
      expect(grouped?.subject).toBe(`[Vigie] 200 alertes « no-data » ouvertes – quartier ${district}`);
      expect(grouped?.body).toContain(`- ${ids[0]}:no-data:1: [Vigie] nouvelle alerte`);
      expect(grouped?.body).toContain('… et 150 autres.');
      const single = emails.find((e) => !e.subject.includes(district));
      expect(single?.subject).toContain(elsewhere); // a group of one goes as it is
      const rows = await deliveryRows(env.store, ...ids);
      expect(rows.map((r) => r.status)).toEqual(ids.map(() => 'grouped'));
      expect(await env.metrics.value('alerting_messages_grouped_total')).toBe(200);

      await env.sweep(); // taken once
      expect(await env.emails()).toHaveLength(2);
    });

    it('mutes operators but not the resident under a silence, and everyone under a maintenance window', async () => {
      const clock = new ManualClock(T0);
      const env = await setupRouter({
        store: shared,
        clock,
        config: { escalation: { steps: `30=${ON_CALL}` } },
      });
      const [silenced, maintained, heard] = [newDevice(), newDevice(), newDevice()];
      const district = `Bourtzwiller-${silenced}`;
      await place(env, district, [silenced], 'water-meter');
      const subscriptions = createSubscriptions(env.store);
      for (const deviceId of [silenced, maintained, heard]) {
        await subscriptions.add({ deviceId, channel: 'sms', address: RESIDENT, consent: 'operator' });
      }
      const silences = createSilences(env.store, { clock });
      await silences.create(
        { district, endsAt: new Date(T0 + 60 * MINUTE).toISOString(), reason: 'Renouvellement de conduite' },
        'alice',
      );
      await silences.create(
        {
          deviceId: maintained,
          scope: 'maintenance',
          endsAt: new Date(T0 + 60 * MINUTE).toISOString(),
          reason: 'Compteur déposé',
        },
        'alice',
      );
      for (const id of [silenced, maintained, heard]) await env.produce(leakTransition(id));
      await env.settled();

      expect((await env.smsLines()).map((l) => l.idempotencyKey.split(':')[0]).sort()).toEqual(
        [heard, silenced].sort(),
      );
      const emails = await env.mails();
      expect(emails).toHaveLength(1);
      expect(emails[0]?.subject).toContain(heard);
      const suppressed = await env.store.query<{ alert_id: string; channel: string; last_error: string }>(
        `SELECT alert_id, channel, last_error FROM alerting_deliveries
       WHERE status = 'suppressed' AND split_part(alert_id, ':', 1) IN ($1, $2) ORDER BY alert_id, channel`,
        [silenced, maintained],
      );
      expect(suppressed.rows.map((r) => [r.alert_id.split(':')[0], r.channel])).toEqual(
        [
          [maintained, 'email'],
          [maintained, 'sms'],
          [silenced, 'email'],
        ].sort(),
      );
      expect(suppressed.rows.find((r) => r.alert_id.startsWith(maintained))?.last_error).toContain('Compteur déposé');

      clock.advance(31 * MINUTE); // only the alert nobody silenced escalates
      await env.sweep();
      const onCall = (await env.smsLines()).filter((l) => l.to === ON_CALL);
      expect(onCall).toHaveLength(1);
      expect(onCall[0]?.body).toContain(heard);
    });
  });

  describe('alerting router, residents by email', () => {
    it('puts the one-click unsubscribe link in a resident email, in the body and the List-Unsubscribe headers', async () => {
      const env = await setupRouter({
        store: shared,
        publicUrl: 'https://vigie.example.org',
        config: { operatorEmails: [] },
      });
      const dev = newDevice();
      const sub = await createSubscriptions(env.store).add({
        deviceId: dev,
        channel: 'email',
        address: 'habitant@example.org',
        consent: 'operator',
      });
      await env.produce(leakTransition(dev));
      await env.settled();
      const [raw] = await env.emails();
      const headers = headerFields(raw ?? '');
      const link = /^<(https:\/\/vigie\.example\.org\/u\/[^>]+)>$/.exec(headers.get('list-unsubscribe') ?? '')?.[1];
      expect(link).toBeDefined();
      expect(headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
      expect(decodedBody(raw ?? '')).toContain(link);
      const secret = await unsubscribeSecret(env.store);
      expect(verifyUnsubscribeToken(secret, link?.split('/u/')[1] ?? '')).toBe(sub.id);
    });
  });

  describe('alerting, notifications from services', () => {
    it('sends a notification once even when produced twice, and dead-letters one that is not a notification', async () => {
      const env = await setupRouter({ store: shared, config: { operatorEmails: [] } });
      const about = `report:${newDevice('R')}`;
      const notice: Notification = {
        key: `${about}:received:sms:${RESIDENT}`,
        about,
        locale: 'fr',
        channel: 'sms',
        to: RESIDENT,
        body: 'Vigie : votre signalement est bien reçu.',
      };
      const value = JSON.stringify(notice);
      await env.bus.produce(TOPICS.notifications, [
        { key: RESIDENT, value },
        { key: RESIDENT, value },
        { key: RESIDENT, value: JSON.stringify({ ...notice, to: '0612' }) },
      ]);
      await expect
        .poll(async () => (await env.smsLines()).filter((l) => l.idempotencyKey === notice.key).length)
        .toBe(1);
      await expect.poll(() => env.deadLetters.length).toBe(1);
      expect(env.deadLetters[0]).toMatchObject({ errorCode: 'ERR_NOTIFICATION_SCHEMA', component: 'alerting' });
      expect(env.deadLetters[0]?.message).toContain('to: an E.164 phone number');
      await env.sweep();
      expect((await env.smsLines()).filter((l) => l.idempotencyKey === notice.key)).toHaveLength(1);
      expect(await env.metrics.value('alerting_notifications_total', { outcome: 'duplicate' })).toBe(1);
    });
  });

  describe('alerting router, failures', () => {
    it('reports a refused message to the operators, and honours a STOP the carrier holds (Twilio 21610)', async () => {
      const twilio = await startTwilioServer();
      onTestFinished(() => twilio.close());
      const clock = new ManualClock(T0);
      const env = await setupRouter({ store: shared, twilio, clock });
      const [refused, stopped] = [newDevice(), newDevice()];
      const badNumber = '+33611111111';
      const stopNumber = '+33622222222';
      const subscriptions = createSubscriptions(env.store);
      await subscriptions.add({ deviceId: refused, channel: 'sms', address: badNumber, consent: 'operator' });
      await subscriptions.add({ deviceId: stopped, channel: 'sms', address: stopNumber, consent: 'operator' });

      twilio.failNext({ status: 400, code: 21211, message: "The 'To' number is not a valid phone number." });
      await env.produce(leakTransition(refused));
      await env.settled();
      twilio.failNext({ status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' });
      await env.produce(leakTransition(stopped));
      await env.settled();

      await env.sweep(); // sends the queued report
      const reports = (await env.mails()).filter((e) => e.subject.startsWith("[Vigie] Échec d'envoi"));
      expect(reports).toHaveLength(1);
      expect(reports[0]?.subject).toBe(`[Vigie] Échec d'envoi : SMS à +336•••••11 (${refused}:leak:1)`);
      expect(reports[0]?.body).toContain('Tentatives : 1');
      expect(reports[0]?.body).toContain(
        "Raison : rejected: HTTP 400 21211 The 'To' number is not a valid phone number.",
      ); // the provider's reason
      expect(JSON.stringify(reports)).not.toContain(badNumber); // masked, never the whole number
      expect(await isSmsAllowed(env.store, stopNumber)).toBe(false);
      expect(await isSmsAllowed(env.store, badNumber)).toBe(true);
      expect(await env.metrics.value('alerting_failures_reported_total')).toBe(1);
    });
  });
});
