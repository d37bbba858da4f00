import { randomBytes } from 'node:crypto';
import twilio from 'twilio';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import { startTwilioServer } from '../helpers/twilio-server.ts';
import { startWebStack } from '../helpers/web-stack.ts';

/**
 * Issue 8's SMS parking acceptance, end to end as `vigie start` runs it: a driver's SMS through the Twilio webhook
 * (signed), the parking service's answer through notifications.v1 and the alerting stage's Twilio channel (the
 * real twilio library, pointed at a recording stand-in), the receipt's link, the reminder, an extension, a stop and
 * the enforcement check — and a malformed message, answered with the syntax, that creates nothing. The services run
 * on a manual clock (Monday 2 March 2026, 10:00 in Mulhouse: zone rouge is paid, €2.40/h), moved by the test.
 */

const PUBLIC_URL = 'https://vigie.example.org';
const DRIVER = '+33611223344';
const AT_10H = Date.parse('2026-03-02T09:00:00Z'); // 10:00 Europe/Paris (CET)
const MINUTE = 60_000;
const POLL = { timeout: 20_000, interval: 50 };

describe('parking by SMS, end to end (webhook → parking → notifications → Twilio)', () => {
  it('starts, receipts, reminds, extends, stops and answers enforcement; a malformed SMS gets the syntax and creates nothing', async () => {
    const provider = await startTwilioServer();
    const clock = new ManualClock(AT_10H);
    const stack = await startWebStack(
      {
        VIGIE_PUBLIC_URL: PUBLIC_URL,
        TWILIO_ACCOUNT_SID: provider.accountSid,
        TWILIO_AUTH_TOKEN: provider.authToken,
        TWILIO_FROM_NUMBER: '+33700000001',
        TWILIO_API_BASE_URL: provider.url,
        VIGIE_PARKING_SWEEP_MS: '100',
        VIGIE_PARKING_RECEIPT_LINK_SECRET: randomBytes(24).toString('base64'),
      },
      { clock },
    );
    onTestFinished(async () => {
      await stack.close();
      await provider.close();
    });
    const viewer = { authorization: `Bearer ${await stack.token('viewer')}` };
    const get = async (path: string, headers: Record<string, string> = viewer) => {
      const res = await fetch(`${stack.url}${path}`, { headers });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const check = async (plate: string, zone = 'rouge') =>
      (await get(`/api/parking/check?plate=${encodeURIComponent(plate)}&zone=${zone}`)).body;
    const sessions = async () => (await get('/api/parking/sessions')).body.sessions as Array<Record<string, unknown>>;

    let sids = 0;
    /** The driver texts the short number: a signed webhook call, as Twilio makes it. */
    const text = async (body: string, from = DRIVER) => {
      const params = {
        AccountSid: provider.accountSid,
        MessageSid: `SM${String(++sids).padStart(32, '0')}`,
        From: from,
        To: '36000',
        Body: body,
        NumMedia: '0',
      };
      const signature = twilio.getExpectedTwilioSignature(
        provider.authToken,
        `${PUBLIC_URL}/webhooks/twilio/sms`,
        params,
      );
      const res = await fetch(`${stack.url}/webhooks/twilio/sms`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
      });
      expect(res.status).toBe(200);
    };
    /** The SMS the provider accepted for `to`, in order. */
    const received = (to = DRIVER) =>
      provider
        .accepted()
        .filter((r) => r.form.To === to)
        .map((r) => r.form.Body as string);
    const nextSms = async (to = DRIVER) => {
      const before = received(to).length;
      await expect.poll(() => received(to).length, POLL).toBe(before + 1);
      return received(to).at(-1) as string;
    };

    // Before anything: the plate is not paid, and rouge must be paid now.
    expect(await check('AB-123-CD')).toMatchObject({ paid: false, paymentRequiredNow: true });
    expect((await get('/api/parking/check?plate=AB-123-CD&zone=rouge', {})).status).toBe(401);

    // 1. Start: the receipt, with its reference and its link.
    let reply = nextSms();
    await text('PARK rouge ab 123 cd 30');
    const receipt = await reply;
    expect(receipt).toMatch(
      /^Stationnement payé\. Réf [0-9A-Z]{4}-[0-9A-Z]{4}, zone rouge, AB-123-CD, jusqu'à 10:30, 1,20 €\./,
    );
    const reference = /Réf ([0-9A-Z]{4}-[0-9A-Z]{4})/.exec(receipt)?.[1] as string;
    const link = new RegExp(`${PUBLIC_URL}/p/${reference}\\?k=[A-Za-z0-9_-]+`).exec(receipt)?.[0] as string;
    expect(link).toBeDefined();
    const onReceipt = await fetch(link.replace(PUBLIC_URL, stack.url), { headers: { accept: 'application/json' } });
    expect(onReceipt.status).toBe(200);
    expect(await onReceipt.json()).toMatchObject({
      reference,
      plate: 'AB-123-CD',
      zone: 'rouge',
      amountCents: 120,
      status: 'running',
      validNow: true,
      endsAt: '2026-03-02T09:30:00.000Z',
    });
    const forged = await fetch(`${stack.url}/p/${reference}?k=AAAAAAAAAAAA`, {
      headers: { accept: 'application/json' },
    });
    expect(forged.status).toBe(404);
    expect(await check('AB123CD')).toMatchObject({ paid: true, session: { reference, source: 'sms' } });
    expect(await check('AB-123-CD', 'orange')).toMatchObject({ paid: false });
    expect(await check('ZZ-999-ZZ')).toMatchObject({ paid: false });

    // 2. The reminder, six minutes before the end (10:24), once.
    reply = nextSms();
    clock.set(AT_10H + 25 * MINUTE);
    expect(await reply).toBe(
      'Stationnement AB-123-CD zone rouge : expire à 10:30, répondez PROLONGER 30 pour 30 min de plus, FIN pour terminer.',
    );

    // 3. Extension by reply: 30 more minutes, until 11:00.
    reply = nextSms();
    await text('Prolonger 30');
    expect(await reply).toBe(
      `Stationnement AB-123-CD prolongé de 30 min, jusqu'à 11:00. Montant : 1,20 €. Réf ${reference}`,
    );
    clock.set(AT_10H + 40 * MINUTE);
    expect(await check('AB-123-CD')).toMatchObject({ paid: true, session: { endsAt: '2026-03-02T10:00:00.000Z' } });

    // 4. Stop at 10:40: 45 minutes charged (three started quarter hours), the rest refunded.
    reply = nextSms();
    await text('FIN');
    expect(await reply).toBe(
      `Stationnement AB-123-CD terminé à 10:40. Montant final : 1,80 € (0,60 € remboursés). Réf ${reference}`,
    );
    expect(await check('AB-123-CD')).toMatchObject({ paid: false });
    expect(await sessions()).toMatchObject([{ reference, status: 'ended', amountCents: 180, paidMinutes: 45 }]);

    // 5. Malformed messages: the syntax in the answer, nothing created, nothing charged.
    const other = '+33699887766';
    reply = nextSms(other);
    await text('PARK bleu AB-123-CD 30', other);
    expect(await reply).toMatch(/^Zone BLEU inconnue\. Zones : rouge, orange, vert\. .*PARK rouge AB-123-CD/);
    reply = nextSms(other);
    await text('PARK rouge 2h', other);
    expect(await reply).toBe(
      'Plaque absente ou non reconnue. Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    );
    reply = nextSms(other);
    await text('FIN', other);
    expect(await reply).toMatch(/^Aucun stationnement en cours pour ce numéro/);
    expect(await sessions()).toHaveLength(1);
    // None of it became a problem report (the short number is shared with the reports service).
    const reports = await get('/api/reports', { authorization: `Bearer ${await stack.token('operator')}` });
    expect(reports.body.total).toBe(0);
    // The reminder was sent once, whatever the sweeps since.
    expect(received().filter((b) => b.includes('expire à'))).toHaveLength(1);
  });
});
