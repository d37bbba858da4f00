import { randomUUID } from 'node:crypto';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { createKafkaBus } from '../../core/bus/kafka.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import type { Bus } from '../../core/bus/port.ts';
import { ManualClock } from '../../core/clock.ts';
import {
  type AlertTransition,
  DeadLetter,
  type DeviceInfo,
  type InboundSms,
  TOPICS,
} from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { openStore } from '../../core/store/open.ts';
import { startTwilioMedia } from '../../test/helpers/twilio-media.ts';
import { httpMigrations } from '../http/index.ts';
import { reportsConfigSchema } from './config.ts';
import { createReports, LAMP_BACK_NOTE, reportsMigrations } from './index.ts';
import { collectNotifications, jpegWithGps } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const POLL = { timeout: 30_000, interval: 25 };
const SID = 'AC0123456789abcdef0123456789abcdef';
const AUTH = 'twilio-auth-token-for-tests';
const PLACE = { latitude: 45.764, longitude: 4.8357 };

type BusKind = 'memory' | 'kafka';

async function openBus(kind: BusKind): Promise<Bus> {
  if (kind === 'memory') return createMemoryBus();
  const namespace = `reports-${randomUUID().slice(0, 8)}`;
  return createKafkaBus({ brokers: inject('kafkaBrokers'), clientId: `reports-test-${namespace}`, namespace });
}

/** The media stand-in with this file's credentials. */
const mediaServer = (files: Parameters<typeof startTwilioMedia>[1]) =>
  startTwilioMedia({ accountSid: SID, authToken: AUTH }, files);

async function setup(kind: BusKind, mediaHost: string) {
  const bus = await openBus(kind);
  const store = await openStore({ pgliteDir: 'memory://' }, [httpMigrations, reportsMigrations]);
  const metrics = new Metrics();
  const clock = new ManualClock(T0);
  const service = createReports({
    store,
    bus,
    logger: silentLogger(),
    metrics,
    clock,
    config: reportsConfigSchema.parse({ photoMaxBytes: 64 * 1024 }),
    twilio: { accountSid: SID, authToken: AUTH },
    mediaHosts: [mediaHost],
  });
  const outbox = await collectNotifications(bus);
  await service.start();
  onTestFinished(async () => {
    await service.close();
    await outbox.close();
    await bus.close();
    await store.close();
  });
  return { bus, store, metrics, service, outbox, reports: service.reports };
}

function sms(overrides: Partial<InboundSms>): InboundSms {
  return {
    messageSid: `SM${randomUUID().replace(/-/g, '')}`,
    from: '+33611223344',
    to: '36180',
    body: '',
    media: [],
    receivedAt: new Date(T0).toISOString(),
    ...overrides,
  };
}

async function send(bus: Bus, message: InboundSms | string): Promise<void> {
  const value = typeof message === 'string' ? message : JSON.stringify(message);
  await bus.produce(TOPICS.inboundSms, [{ key: typeof message === 'string' ? 'x' : message.from, value }]);
}

function lampAlert(deviceId: string, state: AlertTransition['state'], episode = 1): AlertTransition {
  return {
    alertId: `${deviceId}:lamp-out:${episode}`,
    type: 'lamp-out',
    deviceId,
    kind: 'streetlight',
    state,
    ts: new Date(T0).toISOString(),
    severity: 'warning',
    summary: 'Lamp out: 2 W drawn at night',
    details: { powerW: 2 },
  };
}

describe.each(['memory', 'kafka'] as const)('reports consumers (%s bus)', (kind) => {
  it('turns an MMS into a report with its photo placed by EXIF GPS, once per messageSid, and answers the reporter', async () => {
    const media = await mediaServer({ '/Media/ME1': { type: 'image/jpeg', body: await jpegWithGps(PLACE) } });
    const env = await setup(kind, media.host);
    const message = sms({
      body: 'Dépôt de déchets sauvage',
      media: [{ url: media.url('/Media/ME1'), contentType: 'image/jpeg' }],
    });
    await send(env.bus, message);
    await send(env.bus, message); // redelivered by the webhook: one report
    await expect.poll(() => env.metrics.value('reports_inbound_total'), POLL).toBe(2);
    expect(await env.metrics.value('reports_inbound_total', { outcome: 'duplicate' })).toBe(1);
    const report = await env.reports.getBySourceRef('sms', message.messageSid);
    expect(report).toMatchObject({
      category: 'cleanliness',
      source: 'sms',
      hasPhoto: true,
      locationSource: 'photo',
      contact: { channel: 'sms', address: '+33611223344' },
    });
    expect(report?.latitude).toBeCloseTo(PLACE.latitude, 4);
    expect(media.requests.every((r) => r.authorized)).toBe(true);
    await expect
      .poll(() => env.outbox.all.map((n) => n.key), POLL)
      .toEqual([`report:${report?.id}:received:sms:+33611223344`]);
    expect(env.outbox.all[0]?.channel === 'sms' && env.outbox.all[0].body).toContain('enregistré');
  });

  it('keeps a report without its photo when the media is not an image or fails, counting why', async () => {
    const media = await mediaServer({ '/Media/TXT': { type: 'image/jpeg', body: Buffer.from('not an image at all') } });
    const env = await setup(kind, media.host);
    const message = sms({
      body: 'Nid de poule 12 rue des Lilas',
      media: [
        { url: media.url('/Media/TXT'), contentType: 'image/jpeg' },
        { url: media.url('/Media/GONE'), contentType: 'image/jpeg' },
      ],
    });
    await send(env.bus, message);
    await expect.poll(() => env.reports.getBySourceRef('sms', message.messageSid), POLL).toBeDefined();
    const report = await env.reports.getBySourceRef('sms', message.messageSid);
    expect(report).toMatchObject({
      category: 'roads',
      hasPhoto: false,
      address: '12 rue des Lilas',
      locationSource: 'text',
      photoProblem: 'ERR_REPORT_MEDIA_FETCH',
    });
    expect(
      await env.metrics.value('reports_photos_refused_total', {
        source: 'sms',
        reason: 'ERR_REPORT_PHOTO_UNSUPPORTED',
      }),
    ).toBe(1);
    expect(
      await env.metrics.value('reports_photos_refused_total', { source: 'sms', reason: 'ERR_REPORT_MEDIA_FETCH' }),
    ).toBe(1);
  });

  it('asks where it is when an SMS gives no place, and takes the next SMS as the place', async () => {
    const env = await setup(kind, '127.0.0.1:1');
    const first = sms({ body: 'Le lampadaire est éteint' });
    await send(env.bus, first);
    await expect.poll(() => env.outbox.all.length, POLL).toBe(1);
    const report = await env.reports.getBySourceRef('sms', first.messageSid);
    expect(report).toMatchObject({ category: 'public-lighting', status: 'received', latitude: null, address: null });
    expect(env.outbox.all[0]?.channel === 'sms' && env.outbox.all[0].body).toContain(
      "Répondez à ce SMS avec l'adresse",
    );
    await send(env.bus, sms({ body: 'Devant la boulangerie, place du Marché' }));
    await expect.poll(() => env.outbox.all.length, POLL).toBe(2);
    expect(env.outbox.all[1]?.key).toBe(`report:${report?.id}:located:sms:+33611223344`);
    expect(await env.reports.get(report?.id as number)).toMatchObject({
      address: 'place du Marché',
      locationSource: 'reply',
    });
    expect((await env.reports.list()).total).toBe(1);
  });

  it('leaves parking commands to the parking service, even from a sender whose report awaits its place', async () => {
    const env = await setup(kind, '127.0.0.1:1');
    const first = sms({ body: 'Le lampadaire est éteint' });
    await send(env.bus, first);
    await expect.poll(() => env.outbox.all.length, POLL).toBe(1);
    for (const body of ['PARK rouge AB-123-CD 60', 'prolonger 30', 'Fin.', 'AIDE PARKING', 'STOP AB-123-CD'])
      await send(env.bus, sms({ body }));
    await send(env.bus, sms({ body: 'Devant la boulangerie, place du Marché' }));
    await expect.poll(() => env.metrics.value('reports_inbound_total', { outcome: 'located' }), POLL).toBe(1);
    expect(await env.metrics.value('reports_inbound_total', { outcome: 'parking' })).toBe(5);
    expect((await env.reports.list()).total).toBe(1);
    expect(env.outbox.all.map((n) => n.key.split(':')[2])).toEqual(['received', 'located']);
  });

  it('dead-letters an inbound record that is not an InboundSms, with its bytes', async () => {
    const env = await setup(kind, '127.0.0.1:1');
    const letters: DeadLetter[] = [];
    const sub = await env.bus.subscribe({
      groupId: `test-dlq-${randomUUID()}`,
      topics: [TOPICS.deadLetters],
      fromBeginning: true,
      handler: async (ms) => {
        for (const m of ms) letters.push(DeadLetter.parse(JSON.parse(m.value)));
      },
    });
    onTestFinished(() => sub.close());
    await send(env.bus, '{"messageSid": 42}');
    await send(env.bus, 'not json');
    await expect
      .poll(() => letters.map((l) => l.errorCode).sort(), POLL)
      .toEqual(['ERR_REPORT_INBOUND_JSON', 'ERR_REPORT_INBOUND_SCHEMA']);
    expect(letters.map((l) => Buffer.from(l.rawBase64, 'base64').toString()).sort()).toEqual(
      ['not json', '{"messageSid": 42}'].sort(),
    );
  });

  it('opens one public-lighting report per lamp on lamp-out, placed at the lamp, and resolves it when the alert resolves', async () => {
    const env = await setup(kind, '127.0.0.1:1');
    const device: DeviceInfo = {
      deviceId: 'SL-000042',
      kind: 'streetlight',
      lat: 45.75,
      lon: 4.85,
      active: true,
      updatedAt: new Date(T0).toISOString(),
    };
    await env.bus.produce(TOPICS.devices, [{ key: device.deviceId, value: JSON.stringify(device) }]);
    await expect
      .poll(() => env.reports.devicePosition('SL-000042'), POLL)
      .toEqual({ latitude: 45.75, longitude: 4.85 });
    const produce = (t: AlertTransition) =>
      env.bus.produce(TOPICS.alerts, [{ key: `${t.deviceId}:${t.type}`, value: JSON.stringify(t) }]);
    await produce(lampAlert('SL-000042', 'open'));
    await produce(lampAlert('SL-000042', 'update'));
    await produce(lampAlert('SL-000042', 'open')); // redelivered
    await produce({ ...lampAlert('WM-000001', 'open'), type: 'leak', kind: 'water-meter' });
    await expect.poll(() => env.metrics.value('reports_alerts_total'), POLL).toBe(4);
    const open = await env.reports.openForDevice('SL-000042');
    expect(open).toMatchObject({
      category: 'public-lighting',
      source: 'alert',
      latitude: 45.75,
      longitude: 4.85,
      locationSource: 'device',
      status: 'received',
    });
    expect(await env.metrics.value('reports_alerts_total', { outcome: 'opened' })).toBe(1);
    expect(await env.metrics.value('reports_alerts_total', { outcome: 'duplicate' })).toBe(1);
    expect(await env.metrics.value('reports_alerts_total', { outcome: 'skipped' })).toBe(2);

    await produce(lampAlert('SL-000042', 'resolved'));
    await expect.poll(async () => (await env.reports.get(open?.id as number))?.status, POLL).toBe('resolved');
    const done = await env.reports.get(open?.id as number);
    expect(done?.note).toBe(LAMP_BACK_NOTE);
    expect(done?.history.at(-1)).toMatchObject({ status: 'resolved', by: 'alerting' });
    // A new episode opens a new report; no message goes anywhere (no contact).
    await produce(lampAlert('SL-000042', 'open', 2));
    await expect
      .poll(async () => (await env.reports.openForDevice('SL-000042'))?.sourceRef, POLL)
      .toBe('SL-000042:lamp-out:2');
    expect(env.outbox.all).toEqual([]);
  });
});
