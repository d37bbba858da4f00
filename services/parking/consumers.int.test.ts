import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import { DeadLetter, DeviceEvent, type DeviceInfo, ParkingSessionEnded, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore, twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { parkingConfigSchema } from './config.ts';
import { createParking, handleParkingSms, parkingMigrations } from './index.ts';
import { verifyReceiptToken } from './reference.ts';
import { type BusKind, collect, collectSms, inboundSms, openTestBus, sendSms } from './test-helpers.ts';

/** Tuesday 10 March 2026, 10:00 in Mulhouse (UTC+1): a paid hour in every zone of the example table. */
const T0 = Date.parse('2026-03-10T09:00:00.000Z');
const MIN = 60_000;
const POLL = { timeout: 30_000, interval: 25 };
const PUBLIC_URL = 'https://vigie.example';
const SECRET = 'parking-receipt-secret-for-the-tests-0123456789';
const DRIVER = '+33611223344';

async function setup(kind: BusKind, options: { store?: SqlStore; bus?: Bus; clock?: ManualClock } = {}) {
  const bus = options.bus ?? (await openTestBus(kind));
  const store = options.store ?? (await openTestStore(kind === 'kafka' ? 'postgres' : 'pglite', [parkingMigrations]));
  const metrics = new Metrics();
  const clock = options.clock ?? new ManualClock(T0);
  const parking = createParking({
    store,
    bus,
    logger: silentLogger(),
    metrics,
    clock,
    publicUrl: PUBLIC_URL,
    timeZone: 'Europe/Paris',
    // The timer never fires during a test: the tests run the sweep themselves, at the times they set.
    config: parkingConfigSchema.parse({ receiptLinkSecret: SECRET, sweepIntervalMs: 600_000 }),
  });
  onTestFinished(() => parking.close());
  return { bus, store, metrics, clock, parking, sessions: parking.sessions };
}

/** Waits until the parking consumer has handled `n` inbound SMS (any outcome). */
async function handled(metrics: Metrics, n: number): Promise<void> {
  await expect.poll(() => metrics.value('parking_inbound_total'), POLL).toBe(n);
}

describe.each(['memory', 'kafka'] as const)('parking SMS flows (%s bus)', (kind) => {
  it('starts a session and answers with the receipt when a driver texts PARK, once per messageSid', async () => {
    const env = await setup(kind);
    const outbox = await collectSms(env.bus);
    const revenue = await collect(env.bus, TOPICS.events('parking-meter'), (v) => DeviceEvent.parse(JSON.parse(v)));
    await env.parking.start();
    const park = inboundSms('PARK rouge ab 123 cd 1h', { from: DRIVER });
    await sendSms(env.bus, park, park); // the webhook delivered it twice
    await handled(env.metrics, 2);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'started' })).toBe(1);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'duplicate' })).toBe(1);

    const [session, ...others] = await env.sessions.list();
    expect(others).toEqual([]);
    expect(session).toMatchObject({
      plate: 'AB-123-CD',
      zone: 'rouge',
      phone: DRIVER,
      startMs: T0,
      endMs: T0 + 60 * MIN,
      paidMinutes: 60,
      amountCents: 240,
      status: 'running',
      source: 'sms',
      reminderAtMs: T0 + 54 * MIN,
    });
    const ref = session?.reference as string;
    await expect.poll(() => outbox.all.length, POLL).toBe(1);
    const receipt = outbox.all[0];
    expect(receipt).toMatchObject({ key: `parking:${park.messageSid}:reply`, to: DRIVER, about: `parking:${ref}` });
    expect(receipt?.body).toMatch(
      new RegExp(
        `^Stationnement payé\\. Réf ${ref}, zone rouge, AB-123-CD, jusqu'à 11:00, 2,40 €\\. Justificatif : ${PUBLIC_URL}/p/${ref}\\?k=[A-Za-z0-9_-]{12} Prolonger : PROLONGER 30\\. Terminer : FIN$`,
      ),
    );
    const token = /\?k=([A-Za-z0-9_-]{12})/.exec(receipt?.body ?? '')?.[1] as string;
    expect(verifyReceiptToken(SECRET, ref, token)).toBe(true);
    // The payment is in the revenue stream, under the zone's virtual meter.
    await expect.poll(() => revenue.all.length, POLL).toBe(1);
    expect(revenue.all[0]).toMatchObject({
      deviceId: 'sms-rouge',
      kind: 'parking-meter',
      type: 'payment',
      ts: new Date(T0).toISOString(),
      data: { amountCents: 240, method: 'sms', minutes: 60, reference: ref },
    });
    expect((await env.sessions.events(session?.id as number)).map((e) => [e.type, e.amountCents])).toEqual([
      ['start', 240],
    ]);
  });

  it('reminds 6 minutes before the end, extends, reminds again for the new end, and stops with a refund', async () => {
    const env = await setup(kind);
    const outbox = await collectSms(env.bus);
    await env.parking.start();
    await sendSms(env.bus, inboundSms('stationner rouge AB-123-CD 60', { from: DRIVER }));
    await handled(env.metrics, 1);
    const session = (await env.sessions.list())[0];
    const ref = session?.reference as string;

    // 1. One minute before the reminder is due: nothing.
    env.clock.set(T0 + 53 * MIN);
    expect(await env.parking.sweep()).toEqual({ expired: 0, reminded: 0, published: 0 });
    // 2. Due (10:54 local): one reminder, and never a second for the same end.
    env.clock.set(T0 + 54 * MIN);
    expect(await env.parking.sweep()).toEqual({ expired: 0, reminded: 1, published: 0 });
    env.clock.set(T0 + 55 * MIN);
    expect(await env.parking.sweep()).toEqual({ expired: 0, reminded: 0, published: 0 });
    await expect.poll(() => outbox.all.length, POLL).toBe(2);
    expect(outbox.all[1]).toMatchObject({
      key: `parking:${ref}:reminder:${T0 + 60 * MIN}`,
      body: 'Stationnement AB-123-CD zone rouge : expire à 11:00, répondez PROLONGER 30 pour 30 min de plus, FIN pour terminer.',
    });

    // 3. Extended by 30 min: 90 min in all cost 3,60 €, so 1,20 € more; the new end gets its own reminder.
    const extend = inboundSms('PROLONGER 30', { from: DRIVER });
    await sendSms(env.bus, extend);
    await handled(env.metrics, 2);
    await expect.poll(() => outbox.all.length, POLL).toBe(3);
    expect(outbox.all[2]).toMatchObject({
      key: `parking:${extend.messageSid}:reply`,
      body: `Stationnement AB-123-CD prolongé de 30 min, jusqu'à 11:30. Montant : 1,20 €. Réf ${ref}`,
    });
    expect(await env.sessions.get(session?.id as number)).toMatchObject({
      paidMinutes: 90,
      endMs: T0 + 90 * MIN,
      amountCents: 360,
      reminderAtMs: T0 + 84 * MIN,
      reminderSentAtMs: null,
    });
    env.clock.set(T0 + 84 * MIN);
    expect(await env.parking.sweep()).toEqual({ expired: 0, reminded: 1, published: 0 });
    await expect.poll(() => outbox.all.length, POLL).toBe(4);
    expect(outbox.all[3]?.key).toBe(`parking:${ref}:reminder:${T0 + 90 * MIN}`);
    expect(outbox.all[3]?.body).toContain('expire à 11:30');

    // 4. FIN at 11:25 local: 85 min used, billed as 90 (6 quarter hours): nothing to refund.
    env.clock.set(T0 + 85 * MIN);
    await sendSms(env.bus, inboundSms('fin', { from: DRIVER }));
    await handled(env.metrics, 3);
    expect(await env.sessions.get(session?.id as number)).toMatchObject({
      status: 'ended',
      endMs: T0 + 85 * MIN,
      paidMinutes: 90,
      amountCents: 360,
    });
    await expect.poll(() => outbox.all.length, POLL).toBe(5);
    expect(outbox.all[4]?.body).toBe(`Stationnement AB-123-CD terminé à 11:25. Montant final : 3,60 €. Réf ${ref}`);

    // 5. Another plate, 30 min in orange at 11:26 (0,80 €), stopped at 11:40: a started quarter hour is 0,40 €,
    //    raised to the zone's 0,50 € minimum; 0,30 € back.
    env.clock.set(T0 + 86 * MIN);
    await sendSms(env.bus, inboundSms('PARK orange 123 ABC 68 30', { from: DRIVER }));
    await handled(env.metrics, 4);
    env.clock.set(T0 + 100 * MIN);
    await sendSms(env.bus, inboundSms('FIN 123ABC68', { from: DRIVER }));
    await handled(env.metrics, 5);
    await expect.poll(() => outbox.all.length, POLL).toBe(7);
    expect(outbox.all[6]?.body).toMatch(
      /^Stationnement 123ABC68 terminé à 11:40\. Montant final : 0,50 € \(0,30 € remboursés\)\. Réf [0-9A-Z]{4}-[0-9A-Z]{4}$/,
    );
    expect(await env.metrics.value('parking_refunds_cents_total')).toBe(30);

    // 6. Both sessions over: each produced once to parking-sessions.v1, for the mobility account's invoice.
    const over = await collect(env.bus, TOPICS.parkingSessions, (v) => ParkingSessionEnded.parse(JSON.parse(v)));
    expect(await env.parking.sweep()).toEqual({ expired: 0, reminded: 0, published: 2 });
    expect(await env.parking.sweep()).toEqual({ expired: 0, reminded: 0, published: 0 });
    await expect.poll(() => over.all.length, POLL).toBe(2);
    expect(over.all.find((e) => e.reference === ref)).toEqual({
      reference: ref,
      phone: DRIVER,
      plate: 'AB-123-CD',
      zone: 'rouge',
      startedAt: new Date(T0).toISOString(),
      endedAt: new Date(T0 + 85 * MIN).toISOString(),
      paidMinutes: 90,
      amountCents: 360,
      status: 'ended',
    });
    expect(over.all.find((e) => e.reference !== ref)).toMatchObject({ zone: 'orange', amountCents: 50 });
    expect((await env.sessions.events(session?.id as number)).map((e) => [e.type, e.minutes, e.amountCents])).toEqual([
      ['start', 60, 240],
      ['reminder-sent', null, 0],
      ['extend', 30, 120],
      ['reminder-sent', null, 0],
      ['stop', 90, 0],
    ]);
  });

  it('produces the stored reply of an SMS handled before a crash when it is redelivered, and nothing after', async () => {
    const env = await setup(kind);
    const outbox = await collectSms(env.bus);
    const park = inboundSms('PARK vert AB-123-CD 45', { from: DRIVER });
    // 1. A previous run committed the session and its reply, then died before producing it.
    await env.sessions.handleInbound(park.messageSid, T0, (tx) =>
      handleParkingSms(
        {
          table: env.parking.table,
          timeZone: 'Europe/Paris',
          publicUrl: PUBLIC_URL,
          linkKey: Buffer.from(SECRET),
          reminderLeadMinutes: 6,
          revenueEvents: 'off',
        },
        tx,
        park,
        T0,
      ),
    );
    // 2. The bus redelivers it to this run, twice.
    await env.parking.start();
    await sendSms(env.bus, park, park);
    await handled(env.metrics, 2);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'resent' })).toBe(1);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'duplicate' })).toBe(1);
    await expect.poll(() => outbox.all.map((n) => n.key), POLL).toEqual([`parking:${park.messageSid}:reply`]);
    expect(outbox.all[0]?.body).toContain("jusqu'à 10:45, 0,60 €");
    expect(await env.sessions.list()).toHaveLength(1);
  });

  it('answers a helpful reply and creates nothing when the message is malformed or refused', async () => {
    const env = await setup(kind);
    const outbox = await collectSms(env.bus);
    await env.parking.start();
    const malformed = inboundSms('PARK rouge', { from: DRIVER });
    await sendSms(
      env.bus,
      malformed,
      inboundSms('park violet AB-123-CD 1h', { from: DRIVER }),
      inboundSms('PARK rouge AB-123-CD 3h', { from: DRIVER }),
      inboundSms('STOP AB-123-CD', { from: DRIVER }),
      inboundSms('PROLONGER 30', { from: DRIVER }),
      inboundSms('Le trottoir est cassé', { from: DRIVER }),
    );
    await handled(env.metrics, 6);
    expect(await env.sessions.list()).toEqual([]);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'invalid-command' })).toBe(4);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'no-session' })).toBe(1);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'not-parking' })).toBe(1);
    await expect.poll(() => outbox.all.length, POLL).toBe(5);
    expect(outbox.all[0]).toMatchObject({
      key: `parking:${malformed.messageSid}:reply`,
      body: 'Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    });
    expect(outbox.all.map((n) => n.body)).toEqual([
      'Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
      expect.stringContaining('Zone VIOLET inconnue. Zones : rouge, orange, vert.'),
      'Durée max en zone rouge : 2h. Ex. PARK rouge AB-123-CD 2h',
      expect.stringContaining('Pour terminer un stationnement, envoyez FIN AB-123-CD.'),
      expect.stringContaining('Aucun stationnement en cours pour ce numéro.'),
    ]);
  });

  it('refuses a second start for a plate already parked in the zone, charging nothing twice', async () => {
    const env = await setup(kind);
    const outbox = await collectSms(env.bus);
    await env.parking.start();
    await sendSms(env.bus, inboundSms('PARK rouge AB-123-CD 30', { from: DRIVER }));
    await handled(env.metrics, 1);
    env.clock.set(T0 + 10 * MIN);
    await sendSms(env.bus, inboundSms('PARK red AB123CD 1h', { from: '+33699887766' }));
    await handled(env.metrics, 2);
    expect(await env.metrics.value('parking_inbound_total', { outcome: 'refused' })).toBe(1);
    expect((await env.sessions.list()).map((s) => [s.phone, s.amountCents])).toEqual([[DRIVER, 120]]);
    await expect.poll(() => outbox.all.length, POLL).toBe(2);
    expect(outbox.all[1]).toMatchObject({
      to: '+33699887766',
      body: "Stationnement AB-123-CD zone rouge déjà payé jusqu'à 10:30. Rien débité. Pour ajouter du temps : PROLONGER 30 AB-123-CD",
    });
    // Once it has ended, the plate may start again (the ended session is marked expired on the way).
    env.clock.set(T0 + 31 * MIN);
    await sendSms(env.bus, inboundSms('PARK rouge AB-123-CD 30', { from: '+33699887766' }));
    await handled(env.metrics, 3);
    expect((await env.sessions.list()).map((s) => s.status)).toEqual(['running', 'expired']);
  });

  it('turns a meter payment into a session of the meter’s zone, and dead-letters one from a meter in no zone', async () => {
    const env = await setup(kind);
    const letters = await collect(env.bus, TOPICS.deadLetters, (v) => DeadLetter.parse(JSON.parse(v)));
    await env.parking.start();
    const meter = (deviceId: string, district?: string): DeviceInfo => ({
      deviceId,
      kind: 'parking-meter',
      ...(district ? { district } : {}),
      active: true,
      updatedAt: new Date(T0 - 86_400_000).toISOString(),
    });
    await env.bus.produce(TOPICS.devices, [
      { key: 'PM-000001', value: JSON.stringify(meter('PM-000001', 'Orange')) },
      { key: 'PM-000002', value: JSON.stringify(meter('PM-000002', 'gare')) },
    ]);
    await expect.poll(() => env.metrics.value('parking_meter_devices_total'), POLL).toBe(2);
    const payment = (deviceId: string, data: Record<string, unknown>, ts = T0) => ({
      key: deviceId,
      value: JSON.stringify({
        deviceId,
        kind: 'parking-meter',
        ts: new Date(ts).toISOString(),
        type: 'payment',
        data,
      } satisfies DeviceEvent),
    });
    const card = payment('PM-000001', { amountCents: 80, method: 'card', minutes: 30, plate: 'gh 456 jk' });
    await env.bus.produce(TOPICS.events('parking-meter'), [
      card,
      card, // redelivered
      payment('PM-000001', { amountCents: 50, method: 'coin', minutes: 20 }, T0 + MIN),
      payment('PM-000001', { amountCents: 100, method: 'sms', minutes: 40 }),
      payment('PM-000002', { amountCents: 100, method: 'coin', minutes: 40 }),
      {
        key: 'PM-000001',
        value: JSON.stringify({
          deviceId: 'PM-000001',
          kind: 'parking-meter',
          ts: new Date(T0).toISOString(),
          type: 'fault',
          data: { code: 'coin-jam' },
        }),
      },
    ]);
    await expect.poll(() => env.metrics.value('parking_meter_events_total'), POLL).toBe(6);
    expect(await env.metrics.value('parking_meter_events_total', { outcome: 'started' })).toBe(2);
    expect(await env.metrics.value('parking_meter_events_total', { outcome: 'duplicate' })).toBe(1);
    expect(await env.metrics.value('parking_meter_events_total', { outcome: 'sms' })).toBe(1);
    expect(await env.metrics.value('parking_meter_events_total', { outcome: 'not-payment' })).toBe(1);
    const sessions = await env.sessions.list({ source: 'meter' });
    expect(sessions.map((s) => [s.plate, s.zone, s.deviceId, s.phone, s.amountCents, s.endMs - s.startMs])).toEqual([
      [null, 'orange', 'PM-000001', null, 50, 30 * MIN], // 20 min at the meter, valid to the next quarter hour
      ['GH-456-JK', 'orange', 'PM-000001', null, 80, 30 * MIN],
    ]);
    expect(await env.sessions.paidAt('GH-456-JK', 'orange', T0 + 29 * MIN)).toMatchObject({ source: 'meter' });
    await expect.poll(() => letters.all.map((l) => l.errorCode), POLL).toEqual(['ERR_PARKING_METER_ZONE_UNKNOWN']);
    expect(letters.all[0]).toMatchObject({ component: 'parking', deviceId: 'PM-000002' });
  });
});

describe('parking sweep (two instances on PostgreSQL)', () => {
  it('sends one reminder when two instances sweep at once, and expires ended sessions once', async () => {
    const [storeA, storeB] = await twoStoresOnNewDatabase(inject('databaseUrl'), [parkingMigrations]);
    const bus = await openTestBus('memory');
    const clock = new ManualClock(T0);
    const a = await setup('memory', { store: storeA, bus, clock });
    const b = await setup('memory', { store: storeB, bus, clock });
    const outbox = await collectSms(bus);
    await a.parking.start();
    await sendSms(bus, inboundSms('PARK vert AB-123-CD 2h', { from: DRIVER }));
    await handled(a.metrics, 1);
    clock.set(T0 + 114 * MIN);
    const [ra, rb] = await Promise.all([a.parking.sweep(), b.parking.sweep()]);
    expect(ra.reminded + rb.reminded).toBe(1);
    clock.set(T0 + 120 * MIN);
    const [ea, eb] = await Promise.all([a.parking.sweep(), b.parking.sweep()]);
    expect(ea.expired + eb.expired).toBe(1);
    // Over: produced for the mobility account by one instance or both (at least once; the reference dedupes).
    const over = ea.published + eb.published + (await a.parking.sweep()).published;
    expect(over).toBeGreaterThanOrEqual(1);
    expect((await b.parking.sweep()).published).toBe(0);
    await expect.poll(() => outbox.all.length, POLL).toBe(2);
    expect(outbox.all.filter((n) => n.key.includes(':reminder:'))).toHaveLength(1);
    const session = (await a.sessions.list())[0];
    expect(session?.status).toBe('expired');
    expect((await a.sessions.events(session?.id as number)).map((e) => e.type)).toEqual([
      'start',
      'reminder-sent',
      'expire',
    ]);
  });
});
