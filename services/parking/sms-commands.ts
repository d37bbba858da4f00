import { OPT_OUT_KEYWORDS } from '../../core/sms-routing.ts';
import { toGsm7 } from '../../core/sms-text.ts';
import { EXAMPLE_PLATE, exampleStart, formatDuration, type Locale } from './reply-texts.ts';
import { findZone, type TariffTable } from './tariffs.ts';

/**
 * The parking SMS grammar (issue 8), pure: an inbound SMS body → a command, or an error with a code and a short
 * French (or English) reply that shows the right syntax with an example (one GSM-7 segment). Case, accents, extra
 * spaces, commas and a trailing `.`/`!` are ignored.
 *
 *   PARK | PARKING | STATIONNER | STATIONNEMENT | GARER  <zone> <plate> <duration>   (zone and plate may swap)
 *   PROLONGER | PROLONGATION | EXT | EXTEND              <duration> [plate]          (or [plate] <duration>)
 *   FIN | TERMINER                                       [plate]
 *   AIDE | HELP | INFO | ?
 *
 * duration: `90`, `90min`, `90 mn`, `1h30`, `1h 30`, `2h`, `2 h`, `1:30` (1 min – 24 h). plate: French SIV
 * `AB-123-CD` (dashes, spaces or none; normalized to `AB-123-CD`), old FNI `123 ABC 68` and foreign plates: 2–10
 * letters and digits with at least one digit, normalized upper-case without spaces. The plate is optional for
 * PROLONGER/FIN: the service then acts on the sender's only running session.
 *
 * STOP, END, CANCEL, QUIT, ARRET… sent ALONE never reach a service: the alerting stage takes them as an opt-out
 * from every SMS (alerting/webhooks/keywords.ts, same list as below). So stopping is FIN, and "STOP AB-123-CD" gets a
 * reply explaining FIN instead of being obeyed — obeying it would teach drivers to send STOP alone.
 */

/** Error codes of the parking grammar (a row each in docs/errors.md). */
export type ParkingCommandErrorCode =
  | 'ERR_PARKING_COMMAND_INVALID'
  | 'ERR_PARKING_ZONE_UNKNOWN'
  | 'ERR_PARKING_PLATE_INVALID'
  | 'ERR_PARKING_DURATION_INVALID'
  | 'ERR_PARKING_MAX_STAY_EXCEEDED';

/** What a parking SMS asks for. */
export type ParkingCommand =
  | {
      readonly kind: 'start';
      readonly zone: string;
      readonly plate: string;
      readonly plateFormat: PlateFormat;
      readonly minutes: number;
    }
  | { readonly kind: 'extend'; readonly minutes: number; readonly plate: string | undefined }
  | { readonly kind: 'stop'; readonly plate: string | undefined }
  | { readonly kind: 'help' };

/** Why a parking SMS was not understood: a code, a message for logs, and the reply to send (≤ 160 GSM-7). */
export interface ParkingCommandError {
  readonly code: ParkingCommandErrorCode;
  readonly message: string;
  readonly reply: string;
}

/** The outcome of parsing a parking SMS. */
export type ParkingParseResult =
  | { readonly ok: true; readonly command: ParkingCommand }
  | { readonly ok: false; readonly error: ParkingCommandError };

/** How a plate was recognised. */
export type PlateFormat = 'siv' | 'fni' | 'other';

const START_WORDS = new Set(['PARK', 'PARKING', 'STATIONNER', 'STATIONNEMENT', 'GARER']);
const EXTEND_WORDS = new Set(['PROLONGER', 'PROLONGATION', 'EXT', 'EXTEND']);
const STOP_WORDS = new Set(['FIN', 'TERMINER']);
const HELP_WORDS = new Set(['AIDE', 'HELP', 'INFO', '?']);
/** Opt-out keywords (core/sms-routing.ts), plus ARRETER: followed by a plate, a driver trying to stop parking. */
const OPT_OUT_WORDS = new Set([...OPT_OUT_KEYWORDS, 'ARRETER']);

/** Longest duration the grammar accepts, minutes (the zone's maximum stay is checked on top). */
export const MAX_DURATION_MINUTES = 24 * 60;

const H_UNIT = '(?:H|HR|HRS|HEURE|HEURES)';
const M_UNIT = '(?:M|MN|MIN|MINS|MINUTE|MINUTES)';
const RE_MINUTES = new RegExp(`^(\\d{1,4})${M_UNIT}?$`);
const RE_HOURS = new RegExp(`^(\\d{1,2})${H_UNIT}(?:(\\d{1,2})${M_UNIT}?)?$`);
const RE_CLOCK = /^(\d{1,2}):(\d{2})$/;

/** Minutes of a duration written `90`, `90MIN`, `1H30`, `2H`, `1:30` (upper-case, no spaces); undefined if not one. */
export function parseDuration(text: string): number | undefined {
  const t = text.toUpperCase();
  let m = RE_MINUTES.exec(t);
  if (m) return Number(m[1]);
  m = RE_HOURS.exec(t) ?? RE_CLOCK.exec(t);
  if (m) {
    const minutes = m[2] === undefined ? 0 : Number(m[2]);
    return minutes < 60 ? Number(m[1]) * 60 + minutes : undefined;
  }
  return undefined;
}

/** A plate in canonical form, or undefined: SIV `AB-123-CD`; FNI and foreign upper-case without separators. */
export function normalizePlate(text: string): { plate: string; format: PlateFormat } | undefined {
  const compact = fold(text).replace(/[\s\-.]/g, '');
  if (!/^[A-Z0-9]{2,10}$/.test(compact) || !/\d/.test(compact)) return undefined;
  if (/^[A-Z]{2}\d{3}[A-Z]{2}$/.test(compact)) {
    return { plate: `${compact.slice(0, 2)}-${compact.slice(2, 5)}-${compact.slice(5)}`, format: 'siv' };
  }
  if (/^\d{1,4}[A-Z]{1,3}(?:\d{2}|2A|2B|97\d)$/.test(compact)) return { plate: compact, format: 'fni' };
  return { plate: compact, format: 'other' };
}

function fold(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toUpperCase();
}

function tokenize(body: string): string[] {
  return fold(body)
    .replace(/[,;]/g, ' ')
    .replace(/[\s.!]+$/u, '')
    .trim()
    .split(/\s+/u)
    .filter((t) => t !== '');
}

/**
 * Joins up to 4 tokens into a duration: allowed only across a digit/letter boundary ("1H 30", "90 MIN"), never
 * digit/digit ("68 30" is the end of a plate and a duration) nor letter/letter.
 */
function joinable(tokens: readonly string[]): boolean {
  for (let i = 1; i < tokens.length; i++) {
    const a = (tokens[i - 1] as string).at(-1) as string;
    const b = (tokens[i] as string)[0] as string;
    if (/\d/.test(a) === /\d/.test(b)) return false;
  }
  return true;
}

/** The longest duration at the tail (`from: 'end'`) or head of `tokens`, and the tokens left. */
function takeDuration(
  tokens: readonly string[],
  from: 'start' | 'end',
): { minutes: number; rest: string[] } | undefined {
  for (let k = Math.min(4, tokens.length); k >= 1; k--) {
    const part = from === 'end' ? tokens.slice(tokens.length - k) : tokens.slice(0, k);
    if (!joinable(part)) continue;
    const minutes = parseDuration(part.join(''));
    if (minutes !== undefined) {
      return { minutes, rest: from === 'end' ? tokens.slice(0, tokens.length - k) : tokens.slice(k) };
    }
  }
  return undefined;
}

/** True when the SMS's first word is a parking keyword: route it to parking, not to problem reports. */
export function looksLikeParkingSms(body: string): boolean {
  const first = tokenize(body)[0] ?? '';
  return START_WORDS.has(first) || EXTEND_WORDS.has(first) || STOP_WORDS.has(first);
}

/**
 * Parses an inbound SMS body against `table` (zone names, maximum stays); replies in `locale` (fr by default).
 * Never throws; anything not understood is an error whose reply shows the right syntax.
 */
export function parseParkingSms(body: string, table: TariffTable, locale: Locale = 'fr'): ParkingParseResult {
  const en = locale === 'en';
  const fail = (code: ParkingCommandErrorCode, message: string, reply: string): ParkingParseResult => ({
    ok: false,
    error: { code, message, reply: toGsm7(reply) },
  });
  const syntax = (zone?: string, plate?: string) =>
    en
      ? `Send PARK zone plate duration, e.g. ${exampleStart(table, zone, plate)}`
      : `Envoyez PARK zone plaque durée, ex. ${exampleStart(table, zone, plate)}`;

  const tokens = tokenize(body.slice(0, 400));
  const [word, ...args] = tokens;
  if (word === undefined) {
    return fail('ERR_PARKING_COMMAND_INVALID', 'parking SMS: empty (a command)', syntax());
  }

  if (HELP_WORDS.has(word)) return { ok: true, command: { kind: 'help' } };

  if (STOP_WORDS.has(word)) {
    if (args.length === 0) return { ok: true, command: { kind: 'stop', plate: undefined } };
    const plate = normalizePlate(args.join(''));
    if (!plate) {
      return fail(
        'ERR_PARKING_PLATE_INVALID',
        `parking stop: plate ${args.join(' ').slice(0, 20)} (2–10 letters and digits)`,
        en
          ? `Plate not recognised. Send FIN, or FIN with the plate, e.g. FIN ${EXAMPLE_PLATE}`
          : `Plaque non reconnue. Envoyez FIN, ou FIN suivi de la plaque, ex. FIN ${EXAMPLE_PLATE}`,
      );
    }
    return { ok: true, command: { kind: 'stop', plate: plate.plate } };
  }

  if (EXTEND_WORDS.has(word)) {
    const extendSyntax = en
      ? `e.g. EXTEND 30, EXTEND 1h or EXTEND 30 ${EXAMPLE_PLATE}`
      : `ex. PROLONGER 30, PROLONGER 1h ou PROLONGER 30 ${EXAMPLE_PLATE}`;
    const found = takeDuration(args, 'start') ?? takeDuration(args, 'end');
    if (!found || found.minutes < 1 || found.minutes > MAX_DURATION_MINUTES) {
      return fail(
        'ERR_PARKING_DURATION_INVALID',
        `parking extension: duration ${args.join(' ').slice(0, 20)} (1 min to 24 h: 30, 90min, 1h30)`,
        en ? `Duration not recognised, ${extendSyntax}` : `Durée non reconnue, ${extendSyntax}`,
      );
    }
    if (found.rest.length === 0) {
      return { ok: true, command: { kind: 'extend', minutes: found.minutes, plate: undefined } };
    }
    const plate = normalizePlate(found.rest.join(''));
    if (!plate) {
      return fail(
        'ERR_PARKING_PLATE_INVALID',
        `parking extension: plate ${found.rest.join(' ').slice(0, 20)} (2–10 letters and digits)`,
        en ? `Plate not recognised, ${extendSyntax}` : `Plaque non reconnue, ${extendSyntax}`,
      );
    }
    return { ok: true, command: { kind: 'extend', minutes: found.minutes, plate: plate.plate } };
  }

  if (START_WORDS.has(word)) {
    if (args.length < 2) {
      return fail(
        'ERR_PARKING_COMMAND_INVALID',
        `parking start: ${args.length} words (zone, plate, duration)`,
        syntax(),
      );
    }
    // The zone first (as documented) or just before the duration (plate and zone swapped).
    let zone = findZone(table, args[0] as string);
    let rest = args.slice(1);
    if (zone === undefined) {
      const found = takeDuration(args, 'end');
      const before = found?.rest.at(-1);
      const swapped = before === undefined ? undefined : findZone(table, before);
      if (found && swapped !== undefined) {
        zone = swapped;
        rest = [...found.rest.slice(0, -1), ...args.slice(found.rest.length)];
      }
    }
    if (zone === undefined) {
      const zones = Object.keys(table.zones).join(', ');
      const given = (args[0] as string).slice(0, 12);
      return fail(
        'ERR_PARKING_ZONE_UNKNOWN',
        `parking start: zone ${given} (one of ${zones})`,
        en
          ? `Unknown zone ${given}. Zones: ${zones}. ${syntax()}`
          : `Zone ${given} inconnue. Zones : ${zones}. ${syntax()}`,
      );
    }
    const found = takeDuration(rest, 'end');
    if (!found || found.minutes < 1 || found.minutes > MAX_DURATION_MINUTES) {
      const plateGuess = normalizePlate((found ? found.rest : rest).join(''))?.plate;
      return fail(
        'ERR_PARKING_DURATION_INVALID',
        `parking start: duration ${(rest.at(-1) ?? '').slice(0, 12)} (1 min to 24 h: 30, 90min, 1h30)`,
        en
          ? `Duration missing or not recognised (30, 90min, 1h30). ${syntax(zone, plateGuess)}`
          : `Durée absente ou non reconnue (30, 90min, 1h30). ${syntax(zone, plateGuess)}`,
      );
    }
    const plate = found.rest.length === 0 ? undefined : normalizePlate(found.rest.join(''));
    if (!plate) {
      return fail(
        'ERR_PARKING_PLATE_INVALID',
        `parking start: plate ${found.rest.join(' ').slice(0, 20) || '(none)'} (2–10 letters and digits)`,
        en
          ? `Plate missing or not recognised. ${syntax(zone, undefined)}`
          : `Plaque absente ou non reconnue. ${syntax(zone, undefined)}`,
      );
    }
    const maxStay = table.zones[zone]?.maxStayMinutes ?? 0;
    if (found.minutes > maxStay) {
      const max = formatDuration(maxStay);
      const example = exampleStart(table, zone, plate.plate, max);
      return fail(
        'ERR_PARKING_MAX_STAY_EXCEEDED',
        `parking start: ${found.minutes} min in zone ${zone} (at most ${maxStay})`,
        en
          ? `Maximum stay in zone ${zone}: ${max}. E.g. ${example}`
          : `Durée max en zone ${zone} : ${max}. Ex. ${example}`,
      );
    }
    return {
      ok: true,
      command: { kind: 'start', zone, plate: plate.plate, plateFormat: plate.format, minutes: found.minutes },
    };
  }

  if (OPT_OUT_WORDS.has(word)) {
    const plate = normalizePlate(args.join(''))?.plate ?? EXAMPLE_PLATE;
    return fail(
      'ERR_PARKING_COMMAND_INVALID',
      `parking SMS: ${word} with more words (FIN ends parking)`,
      en
        ? `To stop parking, send FIN ${plate}. ${word} alone unsubscribes you from all our SMS.`
        : `Pour terminer un stationnement, envoyez FIN ${plate}. ${word} seul vous désinscrit de tous nos SMS.`,
    );
  }

  return fail(
    'ERR_PARKING_COMMAND_INVALID',
    `parking SMS: keyword ${word.slice(0, 12)} (PARK, PROLONGER, FIN, AIDE)`,
    en
      ? `Not understood. ${syntax()}. Extend: EXTEND 30. Stop: FIN. Help: HELP`
      : `Message non compris. ${syntax()}. Prolonger : PROLONGER 30. Terminer : FIN. Aide : AIDE`,
  );
}
