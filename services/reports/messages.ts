import type { Notification } from '../../core/contracts/index.ts';
import { toGsm7 } from '../../core/sms-text.ts';
import type { Category, Report, ReportEvent, ReportStatus } from './store.ts';

/**
 * The messages a reporter gets at each step of their report (pure functions): an SMS (short, plain French or
 * English, GSM-7 only so it stays one 160-character segment or two — no ç ê â î ô û, which would switch the whole
 * SMS to UCS-2 and 70 characters a segment) or an email. French unless the reporter's locale is `en`. The team a
 * report is assigned to and the operator's name stay internal; the resolution or rejection note is shown (operators
 * write it for the reporter). Each notification's key is `report:<id>:<status>:<channel>:<address>`: the alerting
 * stage sends one message per key, so a report assigned twice tells its reporter once.
 */

/** Longest note quoted in an SMS, in characters. */
export const SMS_NOTE_CHARS = 140;

const CATEGORY_LABELS: Record<'fr' | 'en', Record<Category, string>> = {
  fr: {
    roads: 'voirie',
    'green-spaces': 'espaces verts',
    'public-lighting': 'éclairage public',
    cleanliness: 'propreté',
    other: 'autre',
  },
  en: {
    roads: 'roads',
    'green-spaces': 'green spaces',
    'public-lighting': 'street lighting',
    cleanliness: 'cleanliness',
    other: 'other',
  },
};

/** The category in the reporter's language. */
export function categoryLabel(category: Category, locale: 'fr' | 'en'): string {
  return CATEGORY_LABELS[locale][category];
}

function shorten(text: string, maxChars: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > maxChars ? `${flat.slice(0, maxChars - 3).trimEnd()}...` : flat;
}

/** The SMS for a report reaching `status` (GSM-7). */
export function renderReportSms(report: Report, status: ReportStatus, note: string | null): string {
  const ref = report.reference;
  const quoted = note ? ` ${shorten(note, SMS_NOTE_CHARS)}` : '';
  const hasPlace = report.latitude !== null || report.address !== null;
  const fr: Record<ReportStatus, string> = {
    received: hasPlace
      ? `Signalement ${ref} enregistré. Merci ! Nous vous tiendrons informé(e) par SMS.`
      : `Signalement ${ref} enregistré. Merci ! Où est-ce ? Répondez à ce SMS avec l'adresse ou le lieu.`,
    assigned: `Signalement ${ref} : confié à une équipe de la ville.`,
    'in-progress': `Signalement ${ref} : intervention en cours.`,
    resolved: `Signalement ${ref} : problème résolu.${quoted} Merci !`,
    rejected: `Signalement ${ref} : non retenu.${quoted}`,
  };
  const en: Record<ReportStatus, string> = {
    received: hasPlace
      ? `Report ${ref} received. Thank you! We will keep you posted by SMS.`
      : `Report ${ref} received. Thank you! Where is it? Reply to this SMS with the address or place.`,
    assigned: `Report ${ref}: assigned to a city team.`,
    'in-progress': `Report ${ref}: work in progress.`,
    resolved: `Report ${ref}: resolved.${quoted} Thank you!`,
    rejected: `Report ${ref}: not taken forward.${quoted}`,
  };
  return toGsm7((report.locale === 'en' ? en : fr)[status]);
}

/** The email for a report reaching `status`. */
export function renderReportEmail(
  report: Report,
  status: ReportStatus,
  note: string | null,
): { subject: string; text: string } {
  const ref = report.reference;
  const en = report.locale === 'en';
  const what = shorten(report.text, 300);
  const category = categoryLabel(report.category, report.locale);
  const headline: Record<ReportStatus, [string, string]> = {
    received: [
      'Nous avons bien enregistré votre signalement. Nous vous écrirons à chaque étape.',
      'We have recorded your report. We will write to you at each step.',
    ],
    assigned: ['Votre signalement a été confié à une équipe de la ville.', 'Your report was assigned to a city team.'],
    'in-progress': ['Une intervention est en cours.', 'Work is in progress.'],
    resolved: [
      'Le problème est résolu. Merci de nous l’avoir signalé !',
      'The problem is resolved. Thank you for reporting it!',
    ],
    rejected: ['Votre signalement n’a pas été retenu.', 'Your report was not taken forward.'],
  };
  const statusWord: Record<ReportStatus, [string, string]> = {
    received: ['enregistré', 'received'],
    assigned: ['pris en charge', 'assigned'],
    'in-progress': ['intervention en cours', 'in progress'],
    resolved: ['résolu', 'resolved'],
    rejected: ['non retenu', 'not taken forward'],
  };
  const i = en ? 1 : 0;
  const lines = [
    headline[status][i],
    '',
    `${en ? 'Reference' : 'Référence'} : ${ref}`,
    `${en ? 'Category' : 'Catégorie'} : ${category}`,
    `${en ? 'Your message' : 'Votre message'} : ${what}`,
    ...(note ? [`${en ? 'Note' : 'Précision'} : ${note}`] : []),
    '',
    en
      ? 'Please do not reply to this email. Keep the reference to follow your report.'
      : 'Merci de ne pas répondre à ce message. Gardez la référence pour suivre votre signalement.',
  ];
  return {
    subject: en
      ? `Your report ${ref}: ${statusWord[status][i]}`
      : `Votre signalement ${ref} : ${statusWord[status][i]}`,
    text: lines.join('\n').replace(/ :/g, en ? ':' : '\u00a0:'),
  };
}

/** The notification for a status change of a report with a contact; undefined when it has none. */
export function reportNotification(
  report: Report,
  event: Pick<ReportEvent, 'status' | 'note'>,
): Notification | undefined {
  const contact = report.contact;
  if (!contact) return undefined;
  const common = {
    key: `report:${report.id}:${event.status}:${contact.channel}:${contact.address}`,
    about: `report:${report.id}`,
    locale: report.locale,
  };
  if (contact.channel === 'sms') {
    return { ...common, channel: 'sms', to: contact.address, body: renderReportSms(report, event.status, event.note) };
  }
  return { ...common, channel: 'email', to: contact.address, ...renderReportEmail(report, event.status, event.note) };
}
