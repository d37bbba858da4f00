import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { isGsm7, smsSegments } from '../../core/sms-text.ts';
import { verifyUnsubscribeToken } from '../webhooks/unsubscribe-token.ts';
import {
  changePercent,
  type MeterMonth,
  renderSummaryEmail,
  renderSummarySms,
  summaryMessage,
} from './monthly-summary.ts';

const OCTOBER: MeterMonth = {
  deviceId: 'WM-1',
  month: '2026-10',
  days: 31,
  // 31 days × 100 L; September 30 days × 80 L.
  consumption: { litres: 3100, daysWithData: 31 },
  previous: { litres: 2400, daysWithData: 30 },
  leakAlerts: 1,
};
const NO_DATA: MeterMonth = { ...OCTOBER, consumption: null, leakAlerts: 0 };

function oneSegment(text: string): void {
  expect(isGsm7(text)).toBe(true);
  expect(smsSegments(text)).toMatchObject({ encoding: 'GSM-7', segments: 1 });
  expect(smsSegments(text).units).toBeLessThanOrEqual(160);
}

describe('monthly summary messages', () => {
  it('gives m³, litres per day, the change and the cost in French when the month has data', () => {
    const sms = renderSummarySms(OCTOBER, 'fr', 4.34);
    // 3 100 L = 3,1 m³; 100 L/day against 80: +25 %; 3,1 × 4,34 = 13,454 €.
    expect(sms).toBe(
      'Vigie : compteur WM-1, octobre 2026 : 3,1 m3, 100 L/jour (+25 % vs septembre), env. 13,45 €. 1 alerte fuite.',
    );
    oneSegment(sms);
  });

  it('writes the same in English when the resident chose English', () => {
    const sms = renderSummarySms(OCTOBER, 'en', 4.34);
    expect(sms).toBe(
      'Vigie: meter WM-1, October 2026: 3.1 m3, 100 L/day (+25% vs September), about €13.45. 1 leak alert.',
    );
    oneSegment(sms);
  });

  it('says plainly there is no data and gives no figure when the month has none', () => {
    const sms = renderSummarySms(NO_DATA, 'fr', 4.34);
    expect(sms).toBe("Vigie : aucune donnée de consommation n'est arrivée du compteur WM-1 en octobre 2026.");
    expect(sms).not.toMatch(/\d+ ?(m3|L|€)/);
    oneSegment(sms);
    const email = renderSummaryEmail(NO_DATA, 'en', { priceEurPerM3: 4.34 });
    expect(email.text).toContain('We received no consumption data from your water meter WM-1 in October 2026');
    expect(email.text).not.toMatch(/m³|€|L per day/);
  });

  it('says over how many days the figures run when some days are missing', () => {
    const partial: MeterMonth = { ...OCTOBER, consumption: { litres: 500, daysWithData: 10 }, previous: null };
    expect(renderSummarySms(partial, 'fr', 4.34)).toBe(
      'Vigie : compteur WM-1, octobre 2026 : 0,5 m3 sur 10 j, 50 L/jour, env. 2,17 €. 1 alerte fuite.',
    );
    const email = renderSummaryEmail(partial, 'fr', { priceEurPerM3: 4.34 });
    expect(email.text).toContain('- Consommation : 0,5 m³ (500 L) sur les 10 jours relevés (sur 31)');
    expect(email.text).toContain('- Par rapport à septembre 2026 : pas de données');
    expect(changePercent(partial)).toBeUndefined();
  });

  it('gives every figure, the unsubscribe link and HTML when it renders the email', () => {
    const email = renderSummaryEmail(OCTOBER, 'fr', { priceEurPerM3: 4.34 }, 'https://vigie.example/u/1.abc');
    expect(email.subject).toBe("Vigie : votre consommation d'eau d'octobre 2026 (compteur WM-1)");
    expect(email.text).toContain('- Consommation : 3,1 m³ (3 100 L)\n');
    expect(email.text).toContain('- En moyenne : 100 L par jour');
    expect(email.text).toContain('- Par rapport à septembre 2026 : 80 L par jour, +25 %');
    expect(email.text).toContain('- Coût estimé : 13,45 € (eau et assainissement à 4,34 €/m³)');
    expect(email.text).toContain('- Alertes de fuite pendant le mois : 1');
    expect(email.text).toContain('https://vigie.example/u/1.abc');
    expect(email.html).toContain('<li>Consommation : 3,1 m³ (3 100 L)</li>');
    expect(email.html).toContain('href="https://vigie.example/u/1.abc"');
  });

  it('carries the signed unsubscribe link in the body and the List-Unsubscribe headers when links are configured', () => {
    const secret = 's'.repeat(32);
    const queued = summaryMessage(
      { id: 42, deviceId: 'WM-1', channel: 'email', address: 'one@example.org', locale: 'fr' },
      OCTOBER,
      { timeZone: 'Europe/Paris', priceEurPerM3: 4.34, unsubscribe: { publicUrl: 'https://vigie.example/', secret } },
      0,
    );
    expect(queued.key).toBe('summary:2026-10:email:one@example.org:WM-1');
    if (queued.message.kind !== 'email') throw new Error('an email');
    const link = /https:\/\/vigie\.example\/u\/(\S+)/.exec(queued.message.text);
    expect(verifyUnsubscribeToken(secret, link?.[1] ?? '')).toBe(42);
    expect(queued.message.headers).toEqual({
      'List-Unsubscribe': `<${link?.[0]}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    });
  });

  test.prop([
    fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/),
    fc.constantFrom('fr' as const, 'en' as const),
    fc.option(
      fc.record({
        litres: fc.double({ min: 0, max: 1e7, noNaN: true }),
        daysWithData: fc.integer({ min: 1, max: 31 }),
      }),
    ),
    fc.option(
      fc.record({
        litres: fc.double({ min: 0, max: 1e7, noNaN: true }),
        daysWithData: fc.integer({ min: 1, max: 30 }),
      }),
    ),
    fc.integer({ min: 0, max: 50 }),
  ])('keeps the SMS to one GSM-7 segment when the device id and figures are anything', (id, locale, c, p, leaks) => {
    const sms = renderSummarySms(
      { deviceId: id, month: '2026-10', days: 31, consumption: c, previous: p, leakAlerts: leaks },
      locale,
      4.34,
    );
    oneSegment(sms);
  });
});
