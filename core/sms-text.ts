/**
 * SMS text rules (3GPP TS 23.038): a message in the GSM 7-bit alphabet holds 160 septets in one segment, 153 per
 * segment once concatenated; anything outside it switches the whole message to UCS-2, 70 / 67 characters per
 * segment. French accents é è à ù ì ò É Ç are in the alphabet; ê â î ô û ç ë ï œ, the euro's neighbours ³ « » ’ …
 * and the no-break spaces Intl puts in fr-FR numbers are not. So every SMS goes through {@link toGsm7}: it keeps
 * the message in GSM-7 (3 segments at most), replacing what is outside by its nearest GSM-7 spelling.
 */

const GSM7_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
/** Characters of the extension table: each costs two septets (escape + char). */
const GSM7_EXTENDED = '^{}\\[~]|€\f';

const BASIC = new Set(GSM7_BASIC);
const EXTENDED = new Set(GSM7_EXTENDED);

/** Nearest GSM-7 spelling of common characters outside the alphabet. */
const REPLACEMENTS: Record<string, string> = {
  '\u00a0': ' ',
  '\u202f': ' ',
  '\u2009': ' ',
  '\u2007': ' ',
  '\t': ' ',
  '’': "'",
  '‘': "'",
  '“': '"',
  '”': '"',
  '«': '"',
  '»': '"',
  '…': '...',
  '–': '-',
  '—': '-',
  '·': '-',
  '•': '-',
  '³': '3',
  '²': '2',
  '°': 'o',
  ç: 'c',
  œ: 'oe',
  Œ: 'OE',
  À: 'A',
};

/** Maximum segments of any SMS Vigie sends. */
export const MAX_SMS_SEGMENTS = 3;

/** True when every character of `text` is in the GSM 7-bit alphabet (basic or extension table). */
export function isGsm7(text: string): boolean {
  for (const ch of text) if (!BASIC.has(ch) && !EXTENDED.has(ch)) return false;
  return true;
}

/** Septets (GSM-7) or UTF-16 units (UCS-2) of `text`, and the segments it takes. */
export function smsSegments(text: string): { encoding: 'GSM-7' | 'UCS-2'; units: number; segments: number } {
  if (isGsm7(text)) {
    let units = 0;
    for (const ch of text) units += EXTENDED.has(ch) ? 2 : 1;
    return { encoding: 'GSM-7', units, segments: units <= 160 ? 1 : Math.ceil(units / 153) };
  }
  const units = text.length;
  return { encoding: 'UCS-2', units, segments: units <= 70 ? 1 : Math.ceil(units / 67) };
}

/**
 * Rewrites `text` into the GSM-7 alphabet (nearest spelling, accents dropped where the alphabet lacks them, `?`
 * for the rest), collapses runs of spaces, and cuts it to at most {@link MAX_SMS_SEGMENTS} segments with "...".
 */
export function toGsm7(text: string): string {
  let out = '';
  for (const ch of text) {
    if (BASIC.has(ch) || EXTENDED.has(ch)) out += ch;
    else if (REPLACEMENTS[ch] !== undefined) out += REPLACEMENTS[ch];
    else {
      const stripped = ch.normalize('NFD').replace(/\p{M}/gu, '');
      out += [...stripped].every((c) => BASIC.has(c)) && stripped.length > 0 ? stripped : '?';
    }
  }
  out = out.replace(/ {2,}/g, ' ').trim();
  const budget = MAX_SMS_SEGMENTS * 153;
  if (smsSegments(out).units <= budget) return out;
  let units = 0;
  let cut = '';
  for (const ch of out) {
    const cost = EXTENDED.has(ch) ? 2 : 1;
    if (units + cost > budget - 3) break;
    units += cost;
    cut += ch;
  }
  return `${cut.trimEnd()}...`;
}
