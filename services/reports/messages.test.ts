import { describe, expect, it } from 'vitest';
import { Notification } from '../../core/contracts/index.ts';
import { isGsm7, toGsm7 } from '../../core/sms-text.ts';
import { findAddress, guessCategory } from './classify.ts';
import { renderReportSms, reportNotification } from './messages.ts';
import { REPORT_STATUSES, type Report } from './store.ts';

const REPORT: Report = {
  id: 123,
  reference: 'R-2026-000123',
  category: 'roads',
  text: 'Nid de poule devant le 12 rue des Lilas',
  latitude: null,
  longitude: null,
  address: '12 rue des Lilas',
  locationSource: 'text',
  contact: { channel: 'sms', address: '+33612345678' },
  locale: 'fr',
  source: 'sms',
  sourceRef: 'SM1',
  deviceId: null,
  status: 'received',
  assignee: null,
  note: null,
  hasPhoto: false,
  photoProblem: null,
  createdAt: '2026-03-10T08:00:00.000Z',
  updatedAt: '2026-03-10T08:00:00.000Z',
};

describe('report messages', () => {
  it('writes every status SMS in GSM-7 within two segments, in French and English, when the note has ç ê and quotes', () => {
    for (const locale of ['fr', 'en'] as const) {
      for (const status of REPORT_STATUSES) {
        const note =
          'Trou rebouché ; la chaussée sera reprise « très » bientôt — merci pour votre aide précieuse, ça aide.';
        const sms = renderReportSms({ ...REPORT, locale }, status, note);
        expect(isGsm7(sms), sms).toBe(true);
        expect(sms.length, sms).toBeLessThanOrEqual(306);
        expect(sms).toContain('R-2026-000123');
      }
    }
    expect(renderReportSms(REPORT, 'received', null)).toBe(
      'Signalement R-2026-000123 enregistré. Merci ! Nous vous tiendrons informé(e) par SMS.',
    );
    expect(renderReportSms({ ...REPORT, address: null }, 'received', null)).toContain(
      "Répondez à ce SMS avec l'adresse",
    );
    expect(renderReportSms({ ...REPORT, locale: 'en' }, 'in-progress', null)).toBe(
      'Report R-2026-000123: work in progress.',
    );
    expect(toGsm7('ça, être, œuvre, “ok”')).toBe('ca, etre, oeuvre, "ok"');
  });

  it('produces a valid notification keyed report:<id>:<status>:<channel>:<address> when the report has a contact', () => {
    const sms = reportNotification(REPORT, { status: 'assigned', note: null });
    expect(Notification.parse(sms)).toMatchObject({
      key: 'report:123:assigned:sms:+33612345678',
      about: 'report:123',
      channel: 'sms',
      to: '+33612345678',
      locale: 'fr',
    });
    const email = reportNotification(
      { ...REPORT, contact: { channel: 'email', address: 'ann@example.org' }, locale: 'en' },
      { status: 'resolved', note: 'Filled in.' },
    );
    expect(Notification.parse(email)).toMatchObject({
      key: 'report:123:resolved:email:ann@example.org',
      channel: 'email',
      subject: 'Your report R-2026-000123: resolved',
    });
    expect(email?.channel === 'email' && email.text).toContain('Note: Filled in.');
    expect(reportNotification({ ...REPORT, contact: null }, { status: 'received', note: null })).toBeUndefined();
  });
});

describe('report classification', () => {
  it.each([
    ['Gros nid de poule devant chez moi', 'roads'],
    ['Il y a des trous sur la chaussée', 'roads'],
    ['Le lampadaire est éteint depuis 3 jours', 'public-lighting'],
    ["Plus d'ECLAIRAGE dans l'allée", 'public-lighting'],
    ['Dépôt de déchets sauvage', 'cleanliness'],
    ['Un tag sur le mur de l’école', 'cleanliness'],
    ['Mur tagué', 'cleanliness'],
    ["J'ai trouvé une branche d'arbre tombée", 'green-spaces'],
    ['Bonjour, un souci', 'other'],
  ])('guesses %j as %s', (text, category) => {
    expect(guessCategory(text)).toBe(category);
  });

  it('finds an address when the text gives a street, and none otherwise', () => {
    expect(findAddress('Nid de poule au 12 rue des Lilas depuis hier')).toBe('12 rue des Lilas');
    expect(findAddress('lampadaire éteint place de la Mairie, merci')).toBe('place de la Mairie');
    expect(findAddress('24 bis avenue Jean Jaurès')).toBe('24 bis avenue Jean Jaurès');
    expect(findAddress('il y a un trou énorme')).toBeUndefined();
  });
});
