import { describe, expect, it } from 'vitest';
import { ALERT_TYPES, type AlertTransition } from '../core/contracts/index.ts';
import { isGsm7, smsSegments } from '../core/sms-text.ts';
import {
  formatEur,
  formatLph,
  formatVolume,
  leakCost,
  RESIDENT_TYPES,
  renderOperatorEmail,
  renderResidentEmail,
  renderSms,
  residentEmailHeaders,
} from './messages.ts';

function transition(overrides: Partial<AlertTransition> = {}): AlertTransition {
  return {
    alertId: 'WM-000123:leak:1',
    type: 'leak',
    deviceId: 'WM-000123',
    kind: 'water-meter',
    state: 'open',
    ts: '2026-03-01T02:15:00.000Z',
    severity: 'warning',
    summary: 'Continuous flow for 24 h, about 4 L/h',
    details: { estimatedLph: 4.2 },
    ...overrides,
  };
}

describe('messages', () => {
  describe('leakCost', () => {
    it('computes litres, cubic metres and euros per month when given a rate', () => {
      // 4.2 L/h × 24 h × 30 d = 3,024 L = 3.024 m³; × 4.34 €/m³ = 13.12416 €
      const cost = leakCost(4.2);
      expect(cost.litresPerMonth).toBeCloseTo(3024, 9);
      expect(cost.m3PerMonth).toBeCloseTo(3.024, 9);
      expect(cost.eurPerMonth).toBeCloseTo(13.12416, 9);
    });

    it('uses the given price when one is configured', () => {
      // 12.5 L/h × 720 h = 9,000 L = 9 m³; × 3.50 €/m³ = 31.50 €
      expect(leakCost(12.5, 3.5)).toEqual({ litresPerMonth: 9000, m3PerMonth: 9, eurPerMonth: 31.5 });
    });
  });

  describe('number formats', () => {
    it('writes numbers the French way when the locale is fr', () => {
      expect(formatLph(4.2, 'fr')).toBe('4,2 L/h');
      expect(formatLph(850, 'fr')).toBe('850 L/h');
      expect(formatVolume(3024, 'fr')).toBe('3,0 m³');
      expect(formatVolume(720, 'fr')).toBe('720 L');
      expect(formatVolume(1_234_000, 'fr')).toBe('1 234,0 m³');
      expect(formatEur(13.12416, 'fr')).toBe('13,12 €');
      expect(formatEur(1234.5, 'fr')).toBe('1 234,50 €');
    });

    it('writes numbers the English way when the locale is en', () => {
      expect(formatLph(4.2, 'en')).toBe('4.2 L/h');
      expect(formatVolume(3024, 'en')).toBe('3.0 m³');
      expect(formatEur(13.12416, 'en')).toBe('€13.12');
    });
  });

  describe('renderSms', () => {
    it('gives the rate, the monthly loss and what to do when a leak opens', () => {
      expect(renderSms(transition(), { locale: 'fr' })).toBe(
        'Vigie : fuite probable au compteur WM-000123, env. 4,2 L/h, soit 3,0 m3 et 13,12 € perdus par mois. ' +
          "Vérifiez chasses d'eau et robinets, relevez le compteur robinets fermés. " +
          'Aide : plombier ou votre service des eaux.',
      );
    });

    it('writes English with the same numbers when the locale is en', () => {
      const text = renderSms(transition(), { locale: 'en' });
      expect(text).toContain('about 4.2 L/h: 3.0 m3 and €13.12 lost per month');
      expect(text).toContain('toilet cisterns and taps');
      expect(text).toContain('every tap closed');
    });

    it('prices the leak at the configured price and names the utility when given', () => {
      // 3.024 m³ × 3.00 €/m³ = 9.072 €
      const text = renderSms(transition(), { locale: 'fr', priceEurPerM3: 3, utilityContact: '03 89 00 00 00' });
      expect(text).toContain('9,07 €');
      expect(text).toContain('le service des eaux au 03 89 00 00 00');
    });

    it('shows litres rather than cubic metres when a small leak loses less than 1 m³ a month', () => {
      // 1 L/h × 720 h = 720 L; 0.72 m³ × 4.34 €/m³ = 3.1248 €
      const text = renderSms(transition({ details: { estimatedLph: 1 } }), { locale: 'fr' });
      expect(text).toContain('env. 1,0 L/h, soit 720 L et 3,12 € perdus par mois');
    });

    it('still tells what to do when the leak has no estimated rate', () => {
      const text = renderSms(transition({ details: {} }), { locale: 'fr' });
      expect(text).not.toContain('L/h');
      expect(text).toContain("Vérifiez chasses d'eau et robinets");
    });

    it('uses urgent wording when a burst opens', () => {
      const text = renderSms(transition({ type: 'burst', details: { flowLph: 850 } }), { locale: 'fr' });
      expect(text).toMatch(/^Vigie URGENT : /);
      expect(text).toContain('850 L/h');
      expect(text).toContain("Fermez l'arrivée d'eau");
      expect(renderSms(transition({ type: 'burst' }), { locale: 'en' })).toMatch(/^Vigie URGENT: /);
    });

    it('tells the resident the leak is over when it resolves', () => {
      expect(renderSms(transition({ state: 'resolved' }), { locale: 'fr' })).toBe(
        'Vigie : la fuite au compteur WM-000123 semble réparée, la consommation est redevenue normale.',
      );
    });

    it('fits one segment when a resident message other than a leak opening is sent', () => {
      for (const locale of ['fr', 'en'] as const) {
        for (const type of RESIDENT_TYPES) {
          for (const state of ['open', 'update', 'resolved'] as const) {
            if (type === 'leak' && state === 'open') continue;
            const text = renderSms(transition({ type, state, details: { flowLph: 850, days: 28 } }), { locale });
            expect(smsSegments(text), `${locale} ${type} ${state}: ${text}`).toMatchObject({
              encoding: 'GSM-7',
              segments: 1,
            });
          }
        }
      }
    });

    it('stays GSM-7 within three segments whatever the type, state and summary', () => {
      for (const locale of ['fr', 'en'] as const) {
        for (const type of ALERT_TYPES) {
          for (const state of ['open', 'update', 'resolved'] as const) {
            const text = renderSms(
              transition({ type, state, summary: `Résumé très long, façade « ${'x'.repeat(480)} »` }),
              { locale },
            );
            expect(isGsm7(text)).toBe(true);
            expect(smsSegments(text).segments).toBeLessThanOrEqual(3);
          }
        }
      }
    });

    it('takes two segments at most when a leak opens with a 64-character device id', () => {
      const text = renderSms(transition({ deviceId: `WM-${'9'.repeat(61)}`, details: { estimatedLph: 1234.5 } }), {
        locale: 'fr',
        utilityContact: '03 89 00 00 00',
      });
      expect(smsSegments(text).segments).toBeLessThanOrEqual(2);
    });
  });

  describe('renderResidentEmail', () => {
    it('gives the numbers, the price and the advice when a leak opens', () => {
      const email = renderResidentEmail(transition(), { locale: 'fr' });
      expect(email.subject).toBe("Fuite d'eau probable au compteur WM-000123");
      expect(email.text).toContain("écoulement continu d'environ 4,2 L/h");
      expect(email.text).toContain("3,0 m³ d'eau sont perdus chaque mois, soit environ 13,12 € par mois");
      expect(email.text).toContain('au prix de 4,34 €/m³');
      expect(email.text).toContain("Vérifiez les chasses d'eau");
      expect(email.text).toContain('Fermez tous les robinets et relevez le compteur');
      expect(email.text).toContain('appelez un plombier');
      expect(email.text).toContain('1 mars 2026 à 03:15'); // 02:15 UTC is 03:15 in Paris in winter
    });

    it('keeps the accents the SMS drops when writing an email', () => {
      const email = renderResidentEmail(transition({ type: 'backflow' }), { locale: 'fr' });
      expect(email.text).toContain('goût');
    });

    it('adds the unsubscribe link to text and HTML and the RFC 8058 headers when a link is given', () => {
      const url = 'https://vigie.example.org/u/42.abcDEF_-0123456789abcdef0123456789';
      const fr = renderResidentEmail(transition(), { locale: 'fr', unsubscribeUrl: url });
      expect(fr.text).toContain(`Pour ne plus recevoir ces alertes par email : ${url}`);
      expect(fr.html).toContain(`<a href="${url}">`);
      expect(fr.html).toContain('Pour ne plus recevoir ces alertes par email');
      expect(fr.headers).toEqual({
        'List-Unsubscribe': `<${url}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      });
      expect(fr.headers).toEqual(residentEmailHeaders(url));
      const en = renderResidentEmail(transition({ type: 'burst', state: 'resolved' }), {
        locale: 'en',
        unsubscribeUrl: url,
      });
      expect(en.text).toContain(`To stop receiving these alerts by email: ${url}`);
      expect(en.html).toContain(`<a href="${url}">`);
    });

    it('gives no link and no headers but the same text when no link is given', () => {
      const email = renderResidentEmail(transition(), { locale: 'fr' });
      expect(email.headers).toBeUndefined();
      expect(email.text).not.toContain('/u/');
      expect(email.text.endsWith('Ne répondez pas à ce message.\n')).toBe(true);
      expect(email.html).toContain('<p>Bonjour,</p>');
    });

    it('escapes the HTML when the device id or the link hold markup characters', () => {
      const email = renderResidentEmail(transition({ deviceId: 'WM-<b>&1' }), {
        locale: 'en',
        unsubscribeUrl: 'https://x.example/u/1.a"b',
      });
      expect(email.html).toContain('WM-&lt;b&gt;&amp;1');
      expect(email.html).toContain('href="https://x.example/u/1.a&quot;b"');
      expect(email.html).not.toContain('<b>');
    });
  });

  describe('renderOperatorEmail', () => {
    it('gives device, type, state, severity, summary, time and details when any transition happens', () => {
      const t = transition({
        type: 'lamp-out',
        kind: 'streetlight',
        deviceId: 'SL-42',
        alertId: 'SL-42:lamp-out:3',
        state: 'update',
        severity: 'critical',
        summary: 'Current below minimum while on',
        details: { powerW: 0.4 },
      });
      const email = renderOperatorEmail(t, { locale: 'en' });
      expect(email.subject).toBe('[Vigie] update: lamp out – SL-42 (critical)');
      for (const part of [
        'SL-42:lamp-out:3',
        'SL-42 (streetlight)',
        'lamp-out',
        'update',
        'critical',
        'Current below minimum while on',
        '2026-03-01T02:15:00.000Z',
        '"powerW": 0.4',
      ]) {
        expect(email.text).toContain(part);
      }
    });

    it('adds the leak estimate in French when the locale is fr', () => {
      const email = renderOperatorEmail(transition(), { locale: 'fr' });
      expect(email.subject).toBe('[Vigie] nouvelle alerte : fuite – WM-000123 (avertissement)');
      expect(email.text).toContain('Estimation : 4,2 L/h, 3,0 m³ et 13,12 € par mois (à 4,34 €/m³)');
    });
  });
});
