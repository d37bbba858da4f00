import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { isGsm7, smsSegments } from '../../core/sms-text.ts';
import {
  looksLikeParkingSms,
  normalizePlate,
  type ParkingCommand,
  type ParkingParseResult,
  parseDuration,
  parseParkingSms,
} from './sms-commands.ts';
import { MULHOUSE_EXAMPLE_TARIFFS as T } from './tariffs.ts';

const command = (r: ParkingParseResult): ParkingCommand => {
  if (!r.ok) throw new Error(`expected a command, got ${r.error.code}: ${r.error.reply}`);
  return r.command;
};
const error = (r: ParkingParseResult) => {
  if (r.ok) throw new Error(`expected an error, got ${JSON.stringify(r.command)}`);
  return r.error;
};
const oneSegment = (text: string) => isGsm7(text) && smsSegments(text).segments === 1;

describe('parking sms commands', () => {
  it.each([
    ['PARK rouge AB-123-CD 90', 'rouge', 'AB-123-CD', 90],
    ['park Rouge ab123cd 90min', 'rouge', 'AB-123-CD', 90],
    ['Stationner ROUGE ab 123 cd 1h30', 'rouge', 'AB-123-CD', 90],
    ['  garer   vért  AB.123.CD   2h !', 'vert', 'AB-123-CD', 120],
    ['PARK red AB-123-CD 45 min', 'rouge', 'AB-123-CD', 45],
    ['PARK orange AB123CD 1 h 30', 'orange', 'AB-123-CD', 90],
    ['PARK orange AB123CD 1h 30mn', 'orange', 'AB-123-CD', 90],
    ['PARK orange AB123CD 1:15', 'orange', 'AB-123-CD', 75],
    ['PARK, rouge, AB-123-CD, 30.', 'rouge', 'AB-123-CD', 30],
    ['stationnement vert 123 ABC 68 2h', 'vert', '123ABC68', 120],
    ['PARK rouge 123 ABC 68 30min', 'rouge', '123ABC68', 30],
    ['PARK rouge B 1234 XY 30', 'rouge', 'B1234XY', 30],
    ['PARK AB-123-CD rouge 45', 'rouge', 'AB-123-CD', 45],
  ])('reads a start when the SMS is %j', (body, zone, plate, minutes) => {
    expect(command(parseParkingSms(body, T))).toMatchObject({ kind: 'start', zone, plate, minutes });
  });

  it('reads extend, stop and help when the keyword is French or English, with or without a plate', () => {
    expect(command(parseParkingSms('PROLONGER 30', T))).toEqual({ kind: 'extend', minutes: 30, plate: undefined });
    expect(command(parseParkingSms('prolonger 1h ab-123-cd', T))).toEqual({
      kind: 'extend',
      minutes: 60,
      plate: 'AB-123-CD',
    });
    expect(command(parseParkingSms('EXTEND AB 123 CD 15', T))).toEqual({
      kind: 'extend',
      minutes: 15,
      plate: 'AB-123-CD',
    });
    expect(command(parseParkingSms('ext 45min', T))).toMatchObject({ kind: 'extend', minutes: 45 });
    expect(command(parseParkingSms('Fin', T))).toEqual({ kind: 'stop', plate: undefined });
    expect(command(parseParkingSms('terminer AB 123 CD.', T))).toEqual({ kind: 'stop', plate: 'AB-123-CD' });
    for (const body of ['AIDE', 'help', 'Info', '?'])
      expect(command(parseParkingSms(body, T))).toEqual({ kind: 'help' });
  });

  it('never takes STOP or ARRET as a parking stop and explains FIN when they come with a plate', () => {
    for (const body of ['STOP AB-123-CD', 'arrêt ab123cd', 'END parking', 'cancel AB-123-CD']) {
      const e = error(parseParkingSms(body, T));
      expect(e.code).toBe('ERR_PARKING_COMMAND_INVALID');
      expect(e.reply).toContain('FIN ');
      expect(oneSegment(e.reply), e.reply).toBe(true);
    }
    expect(error(parseParkingSms('STOP AB-123-CD', T)).reply).toBe(
      'Pour terminer un stationnement, envoyez FIN AB-123-CD. STOP seul vous désinscrit de tous nos SMS.',
    );
  });

  it.each([
    [
      'PARK bleu AB-123-CD 30',
      'ERR_PARKING_ZONE_UNKNOWN',
      'Zone BLEU inconnue. Zones : rouge, orange, vert. Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge AB-123-CD',
      'ERR_PARKING_DURATION_INVALID',
      'Durée absente ou non reconnue (30, 90min, 1h30). Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge AB-123-CD 0',
      'ERR_PARKING_DURATION_INVALID',
      'Durée absente ou non reconnue (30, 90min, 1h30). Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge AB-123-CD 1h75',
      'ERR_PARKING_DURATION_INVALID',
      'Durée absente ou non reconnue (30, 90min, 1h30). Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge AB-123-CD 25h',
      'ERR_PARKING_DURATION_INVALID',
      'Durée absente ou non reconnue (30, 90min, 1h30). Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge 30',
      'ERR_PARKING_PLATE_INVALID',
      'Plaque absente ou non reconnue. Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge ABC-DEF 30',
      'ERR_PARKING_PLATE_INVALID',
      'Plaque absente ou non reconnue. Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30',
    ],
    [
      'PARK rouge AB-123-CD 3h',
      'ERR_PARKING_MAX_STAY_EXCEEDED',
      'Durée max en zone rouge : 2h. Ex. PARK rouge AB-123-CD 2h',
    ],
    [
      'PARK vert XY-987-ZT 11h',
      'ERR_PARKING_MAX_STAY_EXCEEDED',
      'Durée max en zone vert : 10h. Ex. PARK vert XY-987-ZT 10h',
    ],
    ['PARK', 'ERR_PARKING_COMMAND_INVALID', 'Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30'],
    ['', 'ERR_PARKING_COMMAND_INVALID', 'Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30'],
    [
      'PROLONGER',
      'ERR_PARKING_DURATION_INVALID',
      'Durée non reconnue, ex. PROLONGER 30, PROLONGER 1h ou PROLONGER 30 AB-123-CD',
    ],
    [
      'PROLONGER 30 ?!?',
      'ERR_PARKING_PLATE_INVALID',
      'Plaque non reconnue, ex. PROLONGER 30, PROLONGER 1h ou PROLONGER 30 AB-123-CD',
    ],
    [
      'FIN la voiture',
      'ERR_PARKING_PLATE_INVALID',
      'Plaque non reconnue. Envoyez FIN, ou FIN suivi de la plaque, ex. FIN AB-123-CD',
    ],
    [
      'Bonjour, il y a un nid de poule',
      'ERR_PARKING_COMMAND_INVALID',
      'Message non compris. Envoyez PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30. Prolonger : PROLONGER 30. Terminer : FIN. Aide : AIDE',
    ],
  ])('replies with the syntax and an example when the SMS is %j', (body, code, reply) => {
    const e = error(parseParkingSms(body, T));
    expect(e.code).toBe(code);
    expect(e.reply).toBe(reply);
    expect(oneSegment(e.reply), e.reply).toBe(true);
  });

  it('replies in English when the locale is en', () => {
    expect(error(parseParkingSms('PARK blue AB-123-CD 30', T, 'en')).reply).toBe(
      'Unknown zone BLUE. Zones: rouge, orange, vert. Send PARK zone plate duration, e.g. PARK rouge AB-123-CD 1h30',
    );
    expect(error(parseParkingSms('PARK rouge AB-123-CD 3h', T, 'en')).reply).toBe(
      'Maximum stay in zone rouge: 2h. E.g. PARK rouge AB-123-CD 2h',
    );
  });

  it('normalizes SIV plates with dashes and FNI or foreign plates without separators', () => {
    expect(normalizePlate('ab 123 cd')).toEqual({ plate: 'AB-123-CD', format: 'siv' });
    expect(normalizePlate('AB-123-CD')).toEqual({ plate: 'AB-123-CD', format: 'siv' });
    expect(normalizePlate('1234 AB 2a')).toEqual({ plate: '1234AB2A', format: 'fni' });
    expect(normalizePlate('m ab 1234')).toEqual({ plate: 'MAB1234', format: 'other' });
    expect(normalizePlate('1A')).toEqual({ plate: '1A', format: 'other' });
    for (const bad of ['A', 'ABCDEF', 'AB-123-CD-EF-12', 'AB_123', ''])
      expect(normalizePlate(bad), bad).toBeUndefined();
  });

  it('reads durations in minutes, hours and hours-minutes and refuses malformed ones', () => {
    const table: [string, number | undefined][] = [
      ['90', 90],
      ['90MIN', 90],
      ['90mn', 90],
      ['1H30', 90],
      ['1h05', 65],
      ['2H', 120],
      ['2heures', 120],
      ['1:30', 90],
      ['1H60', undefined],
      ['H30', undefined],
      ['1.5H', undefined],
      ['', undefined],
    ];
    for (const [text, minutes] of table) expect(parseDuration(text), text).toBe(minutes);
  });

  it('tells parking SMS from other messages by their first word', () => {
    expect(looksLikeParkingSms('park rouge AB-123-CD 30')).toBe(true);
    expect(looksLikeParkingSms('Prolonger 30')).toBe(true);
    expect(looksLikeParkingSms('fin')).toBe(true);
    expect(looksLikeParkingSms('Lampadaire éteint rue de la Fin')).toBe(false);
    expect(looksLikeParkingSms('')).toBe(false);
  });

  test.prop([fc.string({ maxLength: 300 })])('never throws and replies in one GSM-7 segment for any text', (body) => {
    const r = parseParkingSms(body, T);
    if (!r.ok) expect(oneSegment(r.error.reply), r.error.reply).toBe(true);
  });

  test.prop([
    fc.constantFrom('PARK', 'park', 'Stationner', 'GARER'),
    fc.constantFrom('rouge', 'ORANGE', 'vert', 'red', 'Vért'),
    fc.stringMatching(/^[A-HJ-NP-TV-Z]{2}[0-9]{3}[A-HJ-NP-TV-Z]{2}$/),
    fc.constantFrom(' ', '-', ''),
    fc.integer({ min: 1, max: 120 }),
    fc.constantFrom('', 'min', ' min', 'mn', 'hm'),
  ])('reads back any well-formed start', (word, zone, plate, sep, minutes, unit) => {
    const written = `${plate.slice(0, 2)}${sep}${plate.slice(2, 5)}${sep}${plate.slice(5)}`;
    const duration =
      unit === 'hm' ? `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}` : `${minutes}${unit}`;
    const c = command(parseParkingSms(`${word} ${zone} ${written} ${duration}`, T));
    expect(c).toMatchObject({
      kind: 'start',
      plate: `${plate.slice(0, 2)}-${plate.slice(2, 5)}-${plate.slice(5)}`,
      minutes,
    });
  });
});
