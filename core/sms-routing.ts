/**
 * Which citizen service an inbound SMS (`inbound-sms.v1`) is for. Every service consuming that topic asks this one
 * function, so each message is acted on by exactly one of them: the parking service takes its own commands, the
 * reports service everything else. Only the keyword lists live here — the grammar itself is the parking service's
 * (services/parking/sms-commands.ts, whose tests check these lists match it).
 *
 * Parking when the first word (case, accents, trailing `.`/`!`/`,` ignored) is a parking command:
 * - a start, extension or stop keyword (PARK, STATIONNER, GARER, PROLONGER, EXT, EXTEND, FIN, TERMINER and their
 *   variants below);
 * - AIDE, HELP or INFO followed by PARKING, PARK or STATIONNEMENT ("AIDE PARKING"). A bare AIDE stays with the
 *   reports service, the city number's general service: the short number is shared, and a driver asks for help
 *   with the word parking;
 * - an opt-out word (STOP, END, ARRET…) followed by something shaped like a plate (2–10 letters and digits with at
 *   least one digit): "STOP AB-123-CD" is a driver trying to stop parking, and the parking service answers that
 *   FIN does it. STOP alone never reaches a service (the alerting stage's opt-out, alerting/webhooks/keywords.ts).
 */

/** First words that make an SMS a parking command (start, extension, stop). */
export const PARKING_KEYWORDS: readonly string[] = [
  'PARK',
  'PARKING',
  'STATIONNER',
  'STATIONNEMENT',
  'GARER',
  'PROLONGER',
  'PROLONGATION',
  'EXT',
  'EXTEND',
  'FIN',
  'TERMINER',
];

/** Help words that go to parking when followed by one of {@link PARKING_HELP_TOPICS}. */
const HELP_WORDS = new Set(['AIDE', 'HELP', 'INFO']);
/** Second words of a parking help request ("AIDE PARKING"). */
export const PARKING_HELP_TOPICS: readonly string[] = ['PARKING', 'PARK', 'STATIONNEMENT', 'STATIONNER'];
/**
 * Keywords that, alone, stop every SMS to the number: Twilio's standard opt-out words — Twilio itself stops sending
 * to a number that texts them (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out) — plus the French
 * ones residents use. The alerting stage's webhook acts on them (alerting/webhooks/keywords.ts).
 */
export const OPT_OUT_KEYWORDS: readonly string[] = [
  'STOP',
  'STOPALL',
  'UNSUBSCRIBE',
  'CANCEL',
  'END',
  'QUIT',
  'REVOKE',
  'OPTOUT',
  'ARRET',
  'DESINSCRIPTION',
];
/** Opt-out words, plus ARRETER, that followed by a plate mean a parking stop. */
const OPT_OUT_WORDS = new Set([...OPT_OUT_KEYWORDS, 'ARRETER']);

const KEYWORDS = new Set(PARKING_KEYWORDS);
const TOPICS = new Set(PARKING_HELP_TOPICS);

/** The citizen services that act on inbound SMS. */
export type SmsService = 'parking' | 'reports';

function words(body: string): string[] {
  return body
    .slice(0, 200)
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/[,;]/g, ' ')
    .replace(/[\s.!]+$/u, '')
    .trim()
    .split(/\s+/u)
    .filter((w) => w !== '');
}

/** The service an inbound SMS body is for: `parking` for a parking command, else `reports`. */
export function smsService(body: string): SmsService {
  const [first, ...rest] = words(body);
  if (first === undefined) return 'reports';
  if (KEYWORDS.has(first)) return 'parking';
  if (HELP_WORDS.has(first) && rest.length === 1 && TOPICS.has(rest[0] as string)) return 'parking';
  if (OPT_OUT_WORDS.has(first) && rest.length > 0) {
    const plate = rest.join('').replace(/[-.]/g, '');
    if (/^[A-Z0-9]{2,10}$/.test(plate) && /\d/.test(plate)) return 'parking';
  }
  return 'reports';
}
