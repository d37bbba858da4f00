import type { AlertTransition, AlertType, Severity, TransitionState } from '../core/contracts/index.ts';
import { escapeHtml } from '../core/html.ts';
import { toGsm7 } from '../core/sms-text.ts';

/**
 * What residents and operators read: pure functions from an alert transition to an SMS text or an email
 * (French by default, English available). Numbers are formatted the way each language writes them: fr-FR
 * "4,2 L/h", "3,0 m³", "13,12 €"; en "4.2 L/h", "3.0 m³", "€13.12" (plain spaces, not Intl's no-break ones, so
 * the texts stay GSM-7 and readable in any mail client).
 *
 * A leak's cost: the estimated rate (`details.estimatedLph`) × 24 h × 30 days = litres per month; × the water and
 * sanitation price (default 4.34 €/m³, the French average price of water + sanitation reported by the SISPEA
 * observatory, configurable) = euros per month.
 */

/** A language Vigie writes in. */
export type Locale = 'fr' | 'en';

/** Alert types a resident subscribed to a device hears about (on open and resolved, never on update). */
export const RESIDENT_TYPES: readonly AlertType[] = ['leak', 'burst', 'backflow', 'no-consumption'];

/** Default water + sanitation price, €/m³ (France, SISPEA observatory average). */
export const DEFAULT_PRICE_EUR_PER_M3 = 4.34;

/** What rendering needs besides the transition. */
export interface MessageOptions {
  readonly locale: Locale;
  /** Water + sanitation price, €/m³ (default 4.34). */
  readonly priceEurPerM3?: number;
  /** The utility's phone number or short name for residents to call, e.g. "03 89 00 00 00"; empty: generic wording. */
  readonly utilityContact?: string;
  /** IANA time zone for the dates shown (default Europe/Paris). */
  readonly timeZone?: string;
}

/** An email's content. */
export interface EmailContent {
  readonly subject: string;
  readonly text: string;
  /** The same content as HTML (resident emails), for mail clients that show it. */
  readonly html?: string | undefined;
  /** Extra header fields (resident emails with an unsubscribe link: {@link residentEmailHeaders}). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** What rendering a resident's email needs besides {@link MessageOptions}. */
export interface ResidentEmailOptions extends MessageOptions {
  /**
   * The subscription's one-click unsubscribe link (`<publicUrl>/u/<token>`, webhooks/unsubscribe-token.ts): shown
   * in a footer (text and HTML) and carried by the `List-Unsubscribe` headers. Absent: no link, no headers.
   */
  readonly unsubscribeUrl?: string | undefined;
}

/**
 * The header fields of a resident email with an unsubscribe link: `List-Unsubscribe` (RFC 2369) and
 * `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so a mail client offers a one-click
 * "unsubscribe" that POSTs to the link (`POST /u/:token`). Bulk senders to Gmail and Yahoo must send both (2024).
 */
export function residentEmailHeaders(unsubscribeUrl: string): Record<string, string> {
  return { 'List-Unsubscribe': `<${unsubscribeUrl}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}

/** A leak's monthly cost: litres and cubic metres lost per month, and their price. */
export interface LeakCost {
  readonly litresPerMonth: number;
  readonly m3PerMonth: number;
  readonly eurPerMonth: number;
}

/** Cost of a leak of `lph` litres per hour over a 30-day month at `priceEurPerM3`. */
export function leakCost(lph: number, priceEurPerM3: number = DEFAULT_PRICE_EUR_PER_M3): LeakCost {
  const litresPerMonth = lph * 24 * 30;
  const m3PerMonth = litresPerMonth / 1000;
  return { litresPerMonth, m3PerMonth, eurPerMonth: m3PerMonth * priceEurPerM3 };
}

const INTL_LOCALE: Record<Locale, string> = { fr: 'fr-FR', en: 'en-GB' };

/** Replaces the no-break spaces Intl uses (fr-FR thousands and currency) by plain spaces. */
function plainSpaces(text: string): string {
  return text.replace(/[\u00a0\u202f]/g, ' ');
}

/** A number with a fixed count of decimals, in the locale's way: fr "4,2", en "4.2". */
export function formatNumber(value: number, locale: Locale, fractionDigits: number): string {
  return plainSpaces(
    new Intl.NumberFormat(INTL_LOCALE[locale], {
      minimumFractionDigits: fractionDigits,
      maximumFractionDigits: fractionDigits,
    }).format(value),
  );
}

/** A flow rate: one decimal below 100 L/h, none above — fr "4,2 L/h", "850 L/h". */
export function formatLph(lph: number, locale: Locale): string {
  return `${formatNumber(lph, locale, lph < 100 ? 1 : 0)} L/h`;
}

/** A volume: litres below 1 m³ ("720 L"), cubic metres with one decimal above ("3,0 m³"). */
export function formatVolume(litres: number, locale: Locale): string {
  if (litres < 1000) return `${formatNumber(litres, locale, 0)} L`;
  return `${formatNumber(litres / 1000, locale, 1)} m³`;
}

/** Euros with cents: fr "13,12 €", en "€13.12". */
export function formatEur(eur: number, locale: Locale): string {
  return plainSpaces(new Intl.NumberFormat(INTL_LOCALE[locale], { style: 'currency', currency: 'EUR' }).format(eur));
}

/** A date and time in the city's time zone: fr "1 mars 2026 à 03:15", en "1 March 2026 at 03:15". */
export function formatDateTime(iso: string, locale: Locale, timeZone = 'Europe/Paris'): string {
  return plainSpaces(
    new Intl.DateTimeFormat(INTL_LOCALE[locale], { dateStyle: 'long', timeStyle: 'short', timeZone }).format(
      new Date(iso),
    ),
  );
}

const TYPE_LABELS: Record<Locale, Record<AlertType, string>> = {
  fr: {
    leak: 'fuite',
    burst: 'débit excessif (rupture)',
    backflow: "retour d'eau",
    'no-consumption': 'aucune consommation',
    'no-data': 'plus de données',
    'low-battery': 'pile faible',
    'device-flag': 'alarme du compteur',
    'lamp-out': 'lampe éteinte',
    'day-burner': 'lampe allumée le jour',
    'power-anomaly': 'anomalie de puissance',
    fault: 'panne',
    anomaly: 'anomalie',
    'station-empty': 'station vide',
    'station-full': 'station pleine',
    'car-park-full': 'parking complet',
  },
  en: {
    leak: 'leak',
    burst: 'burst (excessive flow)',
    backflow: 'backflow',
    'no-consumption': 'no consumption',
    'no-data': 'no data',
    'low-battery': 'low battery',
    'device-flag': 'device alarm',
    'lamp-out': 'lamp out',
    'day-burner': 'lamp on by day',
    'power-anomaly': 'power anomaly',
    fault: 'fault',
    anomaly: 'anomaly',
    'station-empty': 'station empty',
    'station-full': 'station full',
    'car-park-full': 'car park full',
  },
};

const STATE_LABELS: Record<Locale, Record<TransitionState, string>> = {
  fr: { open: 'nouvelle alerte', update: 'mise à jour', resolved: "fin d'alerte" },
  en: { open: 'new alert', update: 'update', resolved: 'resolved' },
};

const SEVERITY_LABELS: Record<Locale, Record<Severity, string>> = {
  fr: { info: 'info', warning: 'avertissement', critical: 'critique' },
  en: { info: 'info', warning: 'warning', critical: 'critical' },
};

/** A finite, non-negative number from the first of `keys` present in `details`. */
function detailNumber(details: Record<string, unknown>, ...keys: string[]): number | undefined {
  for (const key of keys) {
    const v = details[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  }
  return undefined;
}

/** The values every text may use, already formatted for `locale`. */
interface Vars {
  readonly id: string;
  readonly contact: string;
  readonly rate?: string;
  readonly volume?: string;
  readonly cost?: string;
  readonly price: string;
  readonly days?: string;
  readonly when: string;
}

function vars(t: AlertTransition, options: MessageOptions): Vars {
  const { locale } = options;
  const price = options.priceEurPerM3 ?? DEFAULT_PRICE_EUR_PER_M3;
  const contactName = options.utilityContact?.trim();
  const contact =
    locale === 'fr'
      ? contactName
        ? `le service des eaux au ${contactName}`
        : 'votre service des eaux'
      : contactName
        ? `the water utility on ${contactName}`
        : 'your water utility';
  const lph =
    t.type === 'burst'
      ? detailNumber(t.details, 'flowLph', 'estimatedLph', 'peakLph')
      : detailNumber(t.details, 'estimatedLph', 'flowLph');
  const out: {
    -readonly [K in keyof Vars]: Vars[K];
  } = {
    id: t.deviceId,
    contact,
    price: `${formatEur(price, locale)}/m³`,
    when: formatDateTime(t.ts, locale, options.timeZone),
  };
  if (lph !== undefined) {
    const cost = leakCost(lph, price);
    out.rate = formatLph(lph, locale);
    out.volume = formatVolume(cost.litresPerMonth, locale);
    out.cost = formatEur(cost.eurPerMonth, locale);
  }
  const days =
    detailNumber(t.details, 'days', 'zeroDays', 'quietDays') ??
    (detailNumber(t.details, 'quietForHours', 'zeroHours') ?? -1) / 24;
  if (days >= 0) out.days = formatNumber(Math.floor(days), locale, 0);
  return out;
}

/** The resident SMS texts, by language, type and state; `undefined` where Vigie writes to residents in general. */
type SmsTable = Record<Locale, Partial<Record<AlertType, Record<TransitionState, (v: Vars) => string>>>>;

const RESIDENT_SMS: SmsTable = {
  fr: {
    leak: {
      open: (v) =>
        v.rate
          ? `Vigie : fuite probable au compteur ${v.id}, env. ${v.rate}, soit ${v.volume} et ${v.cost} perdus par mois. ` +
            `Vérifiez chasses d'eau et robinets, relevez le compteur robinets fermés. Aide : plombier ou ${v.contact}.`
          : `Vigie : fuite probable au compteur ${v.id}. Vérifiez chasses d'eau et robinets, relevez le compteur ` +
            `robinets fermés. Aide : plombier ou ${v.contact}.`,
      update: (v) =>
        v.rate
          ? `Vigie : la fuite continue au compteur ${v.id}, env. ${v.rate}, soit ${v.volume} et ${v.cost} par mois.`
          : `Vigie : la fuite continue au compteur ${v.id}.`,
      resolved: (v) => `Vigie : la fuite au compteur ${v.id} semble réparée, la consommation est redevenue normale.`,
    },
    burst: {
      open: (v) =>
        `Vigie URGENT : débit très élevé au compteur ${v.id}${v.rate ? ` (${v.rate})` : ''}, rupture possible. ` +
        `Fermez l'arrivée d'eau et appelez un plombier ou ${v.contact}.`,
      update: (v) =>
        `Vigie URGENT : le débit reste très élevé au compteur ${v.id}${v.rate ? ` (env. ${v.rate})` : ''}.`,
      resolved: (v) => `Vigie : le débit au compteur ${v.id} est revenu à la normale.`,
    },
    backflow: {
      open: (v) =>
        `Vigie : retour d'eau détecté au compteur ${v.id}. Si l'eau a un goût ou une couleur inhabituels, ` +
        `ne la buvez pas et contactez ${v.contact}.`,
      update: (v) => `Vigie : le retour d'eau continue au compteur ${v.id}.`,
      resolved: (v) => `Vigie : plus de retour d'eau au compteur ${v.id}.`,
    },
    'no-consumption': {
      open: (v) =>
        `Vigie : aucune consommation au compteur ${v.id}${v.days ? ` depuis ${v.days} jours` : ''}. ` +
        `Compteur bloqué ? Si le logement est occupé, contactez ${v.contact}.`,
      update: (v) => `Vigie : toujours aucune consommation au compteur ${v.id}.`,
      resolved: (v) => `Vigie : la consommation a repris au compteur ${v.id}.`,
    },
  },
  en: {
    leak: {
      open: (v) =>
        v.rate
          ? `Vigie: likely leak at meter ${v.id}, about ${v.rate}: ${v.volume} and ${v.cost} lost per month. ` +
            `Check toilet cisterns and taps, read the meter with every tap closed. Help: a plumber or ${v.contact}.`
          : `Vigie: likely leak at meter ${v.id}. Check toilet cisterns and taps, read the meter with every tap ` +
            `closed. Help: a plumber or ${v.contact}.`,
      update: (v) =>
        v.rate
          ? `Vigie: the leak at meter ${v.id} goes on, about ${v.rate}: ${v.volume} and ${v.cost} per month.`
          : `Vigie: the leak at meter ${v.id} goes on.`,
      resolved: (v) => `Vigie: the leak at meter ${v.id} looks fixed; consumption is back to normal.`,
    },
    burst: {
      open: (v) =>
        `Vigie URGENT: very high flow at meter ${v.id}${v.rate ? ` (about ${v.rate})` : ''}, a pipe may have burst. ` +
        `Close the main water valve and call a plumber or ${v.contact}.`,
      update: (v) => `Vigie URGENT: flow is still very high at meter ${v.id}${v.rate ? ` (about ${v.rate})` : ''}.`,
      resolved: (v) => `Vigie: flow at meter ${v.id} is back to normal.`,
    },
    backflow: {
      open: (v) =>
        `Vigie: reverse flow detected at meter ${v.id}. If the water tastes or looks unusual, do not drink it and ` +
        `contact ${v.contact}.`,
      update: (v) => `Vigie: reverse flow goes on at meter ${v.id}.`,
      resolved: (v) => `Vigie: no more reverse flow at meter ${v.id}.`,
    },
    'no-consumption': {
      open: (v) =>
        `Vigie: no consumption at meter ${v.id}${v.days ? ` for ${v.days} days` : ''}. Meter stuck? ` +
        `If the home is occupied, contact ${v.contact}.`,
      update: (v) => `Vigie: still no consumption at meter ${v.id}.`,
      resolved: (v) => `Vigie: consumption has resumed at meter ${v.id}.`,
    },
  },
};

/** The text for a transition before SMS encoding: the resident wording, or one line for operators. */
function plainText(t: AlertTransition, options: MessageOptions): string {
  const resident = RESIDENT_SMS[options.locale][t.type]?.[t.state];
  if (resident) return resident(vars(t, options));
  const { locale } = options;
  const head = `Vigie [${SEVERITY_LABELS[locale][t.severity]}] ${STATE_LABELS[locale][t.state]}`;
  const sep = locale === 'fr' ? ' : ' : ': ';
  const on = locale === 'fr' ? 'sur' : 'on';
  return `${head}${sep}${TYPE_LABELS[locale][t.type]} ${on} ${t.deviceId}${t.summary ? `${sep}${t.summary}` : ''}`;
}

/**
 * The SMS for a transition, in GSM-7 and at most 3 segments: the resident wording for resident-facing types
 * (one segment where the content allows; a leak with its numbers and advice takes two), one line otherwise.
 */
export function renderSms(t: AlertTransition, options: MessageOptions): string {
  return toGsm7(plainText(t, options));
}

/** Advice lines of the resident leak email. */
function leakAdvice(v: Vars, locale: Locale): string[] {
  return locale === 'fr'
    ? [
        'Que faire ?',
        "- Vérifiez les chasses d'eau (la cause la plus fréquente) et les robinets.",
        "- Fermez tous les robinets et relevez le compteur : s'il avance encore, la fuite est confirmée.",
        `- Si la fuite persiste, appelez un plombier ou ${v.contact}.`,
      ]
    : [
        'What to do',
        '- Check the toilet cisterns (the most frequent cause) and the taps.',
        '- Close every tap and read the meter: if it still moves, the leak is confirmed.',
        `- If the leak goes on, call a plumber or ${v.contact}.`,
      ];
}

/**
 * The email a resident receives for a resident-facing transition (subject, then the SMS content in full), as text
 * and HTML; with `options.unsubscribeUrl`, a footer with the link and the RFC 8058 headers.
 */
export function renderResidentEmail(t: AlertTransition, options: ResidentEmailOptions): EmailContent {
  const { locale } = options;
  const v = vars(t, options);
  const fr = locale === 'fr';
  const hello = fr ? 'Bonjour,' : 'Hello,';
  const footer = fr
    ? `Message automatique de Vigie (${v.when}). Ne répondez pas à ce message.`
    : `Automatic message from Vigie (${v.when}). Please do not reply.`;
  let subject: string;
  let body: string[];
  if (t.type === 'leak' && t.state !== 'resolved') {
    subject = fr ? `Fuite d'eau probable au compteur ${t.deviceId}` : `Likely water leak at meter ${t.deviceId}`;
    const numbers = v.rate
      ? fr
        ? [
            `Votre compteur d'eau ${t.deviceId} enregistre un écoulement continu d'environ ${v.rate}.`,
            `À ce rythme, ${v.volume} d'eau sont perdus chaque mois, soit environ ${v.cost} par mois (au prix de ${v.price}).`,
          ]
        : [
            `Your water meter ${t.deviceId} records a continuous flow of about ${v.rate}.`,
            `At this rate, ${v.volume} of water is lost every month, about ${v.cost} per month (at ${v.price}).`,
          ]
      : [
          fr
            ? `Votre compteur d'eau ${t.deviceId} enregistre un écoulement continu.`
            : `Your water meter ${t.deviceId} records a continuous flow.`,
        ];
    body = [...numbers, '', ...leakAdvice(v, locale)];
  } else {
    const sms = plainText(t, options).replace(/^Vigie( URGENT)? ?: ?/, '');
    const label = TYPE_LABELS[locale][t.type];
    const head = t.type === 'burst' && t.state === 'open' ? `URGENT – Vigie : ${label}` : `Vigie : ${label}`;
    subject = `${fr ? head : head.replace('Vigie :', 'Vigie:')} – ${t.deviceId}`;
    body = [sms.charAt(0).toUpperCase() + sms.slice(1)];
  }
  const url = options.unsubscribeUrl;
  const stop = url
    ? fr
      ? 'Pour ne plus recevoir ces alertes par email :'
      : 'To stop receiving these alerts by email:'
    : undefined;
  const text = [hello, '', ...body, '', footer, ...(stop ? [`${stop} ${url}`] : []), ''].join('\n');
  const html = residentHtml(locale, [hello, '', ...body], footer, stop && url ? { stop, url } : undefined);
  return { subject, text, html, ...(url ? { headers: residentEmailHeaders(url) } : {}) };
}

/** The HTML version of a resident email: one paragraph per block of lines, the footer small, the link clickable. */
function residentHtml(
  locale: Locale,
  lines: readonly string[],
  footer: string,
  unsubscribe: { readonly stop: string; readonly url: string } | undefined,
): string {
  const blocks: string[][] = [[]];
  for (const line of lines) {
    if (line === '') blocks.push([]);
    else blocks.at(-1)?.push(escapeHtml(line));
  }
  const paragraphs = blocks.filter((b) => b.length > 0).map((b) => `<p>${b.join('<br>')}</p>`);
  const link = unsubscribe
    ? `<br>${escapeHtml(unsubscribe.stop)} <a href="${escapeHtml(unsubscribe.url)}">${escapeHtml(unsubscribe.url)}</a>`
    : '';
  return (
    `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"></head><body>` +
    `${paragraphs.join('')}<p style="font-size:small;color:#555">${escapeHtml(footer)}${link}</p></body></html>`
  );
}

/** The operators' email: every transition of every type, with everything needed to act on it. */
export function renderOperatorEmail(t: AlertTransition, options: MessageOptions): EmailContent {
  const { locale } = options;
  const fr = locale === 'fr';
  const v = vars(t, options);
  const label = TYPE_LABELS[locale][t.type];
  const state = STATE_LABELS[locale][t.state];
  const severity = SEVERITY_LABELS[locale][t.severity];
  const subject = `[Vigie] ${state}${fr ? ' : ' : ': '}${label} – ${t.deviceId} (${severity})`;
  const rows: Array<[string, string]> = fr
    ? [
        ['Alerte', t.alertId],
        ['Appareil', `${t.deviceId} (${t.kind})`],
        ['Type', `${t.type} (${label})`],
        ['État', `${t.state} (${state})`],
        ['Gravité', `${t.severity} (${severity})`],
        ['Résumé', t.summary],
        ['Horodatage', `${t.ts} (${v.when})`],
      ]
    : [
        ['Alert', t.alertId],
        ['Device', `${t.deviceId} (${t.kind})`],
        ['Type', t.type],
        ['State', t.state],
        ['Severity', t.severity],
        ['Summary', t.summary],
        ['Time', `${t.ts} (${v.when})`],
      ];
  if (t.type === 'leak' && v.rate) {
    rows.push([
      fr ? 'Estimation' : 'Estimate',
      fr
        ? `${v.rate}, ${v.volume} et ${v.cost} par mois (à ${v.price})`
        : `${v.rate}, ${v.volume} and ${v.cost} per month (at ${v.price})`,
    ]);
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = rows.map(([k, value]) => `${`${k}${fr ? ' ' : ''}:`.padEnd(width + (fr ? 3 : 2))}${value}`);
  return {
    subject,
    text: [...lines, '', fr ? 'Détails :' : 'Details:', JSON.stringify(t.details, null, 2), ''].join('\n'),
  };
}
