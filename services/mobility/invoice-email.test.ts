import { describe, expect, it } from 'vitest';
import { billMonth, invoiceNumber } from './billing.ts';
import { renderInvoiceEmail } from './invoice-email.ts';
import { DEFAULT_TARIFFS } from './tariffs.ts';
import { ACCOUNT, bike, parking, validation } from './test-helpers.ts';
import { formatCents } from './text.ts';

const TZ = 'Europe/Paris';

/** November's invoice as issued (numbered by the store: the first of 2026). */
function november() {
  const day = (h: string) => validation(`2026-11-26T${h}:00+01:00`, '2');
  const draft = billMonth(
    [
      day('07:00'),
      day('09:00'),
      day('12:00'),
      day('18:00'), // 4 × 150 = 600 → cap 450: -150
      bike('2026-11-27T10:00:00+01:00', '2026-11-27T11:15:00+01:00', { stationFrom: '<b>Gare</b> & "Nord"' }), // 200
      parking('2026-11-28T14:00:00+01:00', '2026-11-28T16:00:00+01:00', 'Centre', 240), // 240
    ],
    ACCOUNT,
    '2026-11',
    DEFAULT_TARIFFS,
    TZ,
  ); // 450 + 200 + 240 = 890
  return { ...draft, invoiceNumber: invoiceNumber(2026, 1) };
}

describe('renderInvoiceEmail', () => {
  it('writes French amounts and dates when the locale is fr', () => {
    const inv = november();
    expect(inv.totalCents).toBe(890);
    const mail = renderInvoiceEmail(inv, 'fr', { holderName: 'Anne' });
    expect(mail.subject).toBe('Votre facture mobilité de novembre 2026 : 8,90 €');
    expect(mail.text).toContain('Bonjour Anne,');
    expect(mail.text).toContain('Facture n° MOB-2026-000001 — Compte acc-0001');
    expect(mail.text).toContain('26/11/2026 07:00 — Trajet ligne 2 : 1,50 €');
    expect(mail.text).toContain('26/11/2026 — Plafond journalier transports atteint (4,50 €) : -1,50 €');
    expect(mail.text).toContain('28/11/2026 14:00 — Stationnement zone Centre, 2 h : 2,40 €');
    expect(mail.text).toContain('Économisé grâce aux plafonds : 1,50 €');
    expect(mail.text).toContain('Total à payer : 8,90 €');
    expect(mail.html).toContain('<html lang="fr">');
    expect(mail.html).toContain('<strong>Total à payer : 8,90 €</strong>');
  });

  it('escapes every value in the HTML when names hold markup', () => {
    const mail = renderInvoiceEmail(november(), 'fr', { holderName: '<script>alert(1)</script>' });
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).not.toContain('<b>Gare');
    expect(mail.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(mail.html).toContain('&lt;b&gt;Gare&lt;/b&gt; &amp; &quot;Nord&quot;');
    expect(mail.text).toContain('<b>Gare</b> & "Nord"'); // plain text stays as written
  });

  it('writes English words and amounts when the locale is en', () => {
    const mail = renderInvoiceEmail(november(), 'en', { accountUrl: 'https://vigie.example/me/mobility' });
    expect(mail.subject).toBe('Your mobility invoice for November 2026: €8.90');
    expect(mail.text).toContain('26/11/2026 07:00 — Trip, line 2: €1.50');
    expect(mail.text).toContain('Daily public transport cap reached (€4.50): -€1.50');
    expect(mail.text).toContain('Total due: €8.90');
    expect(mail.html).toContain('<a href="https://vigie.example/me/mobility">Your invoices</a>');
  });

  it('says there is nothing to pay when the month has no usage', () => {
    const empty = billMonth([], ACCOUNT, '2026-11', DEFAULT_TARIFFS, TZ);
    const mail = renderInvoiceEmail({ ...empty, invoiceNumber: invoiceNumber(2026, 2) }, 'fr');
    expect(mail.subject).toBe('Votre facture mobilité de novembre 2026 : 0,00 €');
    expect(mail.text).toContain('Aucune utilisation ce mois-ci : rien à payer.');
    expect(mail.html).not.toContain('<table');
  });

  it('leaves out a link when the account URL is not http(s)', () => {
    const mail = renderInvoiceEmail(november(), 'fr', { accountUrl: 'javascript:alert(1)' });
    expect(mail.html).not.toContain('javascript:');
    expect(mail.text).not.toContain('javascript:');
  });
});

describe('formatCents', () => {
  it('groups thousands and signs savings when amounts are large or negative', () => {
    expect(formatCents(1240, 'fr')).toBe('12,40 €');
    expect(formatCents(123450, 'fr')).toBe('1 234,50 €');
    expect(formatCents(-150, 'fr')).toBe('-1,50 €');
    expect(formatCents(5, 'fr')).toBe('0,05 €');
    expect(formatCents(123450, 'en')).toBe('€1,234.50');
    expect(formatCents(-150, 'en')).toBe('-€1.50');
  });
});
