import { describe, expect, it } from 'vitest';
import { isGsm7, smsSegments } from '../../core/sms-text.ts';
import {
  extensionRefusedText,
  extensionText,
  formatDuration,
  formatEuros,
  formatLocalTime,
  formatUntil,
  helpText,
  noSessionText,
  receiptText,
  reminderText,
  stopText,
  whichPlateText,
} from './reply-texts.ts';
import { parseTariffTable, MULHOUSE_EXAMPLE_TARIFFS as T } from './tariffs.ts';

const TZ = 'Europe/Paris';
const at = (iso: string) => Date.parse(iso);
/** A long but realistic verification link (60 characters). */
const URL = 'https://stationnement.mulhouse-alsace.example/p/3Q0P-WH3X?k=bzUmrcybqMD_';
const fits = (text: string, segments: number) => isGsm7(text) && smsSegments(text).segments <= segments;

describe('parking reply texts', () => {
  it('formats euros, durations and local times the French and English way', () => {
    expect([formatEuros(240, 'fr'), formatEuros(5, 'fr'), formatEuros(12_345, 'en'), formatEuros(0, 'en')]).toEqual([
      '2,40 €',
      '0,05 €',
      '€123.45',
      '€0.00',
    ]);
    expect([formatDuration(45), formatDuration(60), formatDuration(90), formatDuration(605)]).toEqual([
      '45 min',
      '1h',
      '1h30',
      '10h05',
    ]);
    // 12:05Z is 14:05 in summer (CEST) and 13:05 in winter (CET).
    expect(formatLocalTime(at('2026-07-01T12:05:00Z'), TZ)).toBe('14:05');
    expect(formatLocalTime(at('2026-01-05T12:05:00Z'), TZ)).toBe('13:05');
    expect(formatUntil(at('2026-03-11T09:30:00+01:00'), at('2026-03-11T08:00:00+01:00'), TZ, 'fr')).toBe(
      "jusqu'à 09:30",
    );
    expect(formatUntil(at('2026-03-30T09:30:00+02:00'), at('2026-03-28T18:30:00+01:00'), TZ, 'fr')).toBe(
      "jusqu'au lun. 30/03 à 09:30",
    );
    expect(formatUntil(at('2026-03-30T09:30:00+02:00'), at('2026-03-28T18:30:00+01:00'), TZ, 'en')).toBe(
      'until Mon 30/03 09:30',
    );
  });

  it('writes the receipt with reference, zone, plate, end, amount and link within 2 segments', () => {
    const receipt = {
      reference: '3Q0P-WH3X',
      zone: 'rouge',
      plate: 'AB-123-CD',
      startMs: at('2026-03-10T18:30:00+01:00'),
      endMs: at('2026-03-11T09:30:00+01:00'),
      amountCents: 240,
      url: URL,
      timeZone: TZ,
    };
    const fr = receiptText({ ...receipt, locale: 'fr' });
    expect(fr).toBe(
      `Stationnement payé. Réf 3Q0P-WH3X, zone rouge, AB-123-CD, jusqu'au mer. 11/03 à 09:30, 2,40 €. Justificatif : ${URL} Prolonger : PROLONGER 30. Terminer : FIN`,
    );
    const en = receiptText({ ...receipt, locale: 'en', startMs: at('2026-03-11T08:00:00+01:00') });
    expect(en).toBe(
      `Parking paid. Ref 3Q0P-WH3X, zone rouge, AB-123-CD, until 09:30, €2.40. Receipt: ${URL} Extend: EXTEND 30. Stop: FIN`,
    );
    for (const text of [fr, en]) expect(fits(text, 2), text).toBe(true);
    // The longest plate (10 characters), zone (20) and amount still fit.
    const long = receiptText({
      ...receipt,
      plate: 'ABCDE12345',
      zone: 'centre-gare-nord-sud',
      amountCents: 123_456,
      locale: 'fr',
    });
    expect(fits(long, 2), long).toBe(true);
  });

  it('writes the reminder, extension, refusal and stop texts in one segment each', () => {
    const texts: [string, string][] = [
      [
        reminderText({
          plate: 'AB-123-CD',
          zone: 'rouge',
          endMs: at('2026-03-10T14:05:00+01:00'),
          nowMs: at('2026-03-10T13:59:00+01:00'),
          locale: 'fr',
          timeZone: TZ,
        }),
        'Stationnement AB-123-CD zone rouge : expire à 14:05, répondez PROLONGER 30 pour 30 min de plus, FIN pour terminer.',
      ],
      [
        reminderText({
          plate: 'AB-123-CD',
          zone: 'rouge',
          endMs: at('2026-03-10T14:05:00+01:00'),
          nowMs: at('2026-03-10T13:59:00+01:00'),
          extendMinutes: 15,
          locale: 'en',
          timeZone: TZ,
        }),
        'Parking AB-123-CD zone rouge ends at 14:05. Reply EXTEND 15 to add 15 min, FIN to stop.',
      ],
      [
        extensionText({
          reference: '3Q0P-WH3X',
          plate: 'AB-123-CD',
          addedMinutes: 30,
          endMs: at('2026-03-10T14:35:00+01:00'),
          amountCents: 120,
          nowMs: at('2026-03-10T14:00:00+01:00'),
          locale: 'fr',
          timeZone: TZ,
        }),
        "Stationnement AB-123-CD prolongé de 30 min, jusqu'à 14:35. Montant : 1,20 €. Réf 3Q0P-WH3X",
      ],
      [
        extensionRefusedText('rouge', 120, 30, 'fr'),
        'Prolongation refusée : durée max de 2h en zone rouge. Possible au plus : 30 min, envoyez PROLONGER 30',
      ],
      [
        extensionRefusedText('rouge', 120, 0, 'en'),
        'Not extended: the 2h maximum stay in zone rouge is reached. Please move your vehicle.',
      ],
      [
        stopText({
          reference: '3Q0P-WH3X',
          plate: 'AB-123-CD',
          stoppedAtMs: at('2026-03-10T13:05:00+01:00'),
          amountCents: 120,
          refundCents: 60,
          locale: 'fr',
          timeZone: TZ,
        }),
        'Stationnement AB-123-CD terminé à 13:05. Montant final : 1,20 € (0,60 € remboursés). Réf 3Q0P-WH3X',
      ],
      [
        stopText({
          reference: '3Q0P-WH3X',
          plate: 'AB-123-CD',
          stoppedAtMs: at('2026-03-10T13:05:00+01:00'),
          amountCents: 120,
          refundCents: 0,
          locale: 'en',
          timeZone: TZ,
        }),
        'Parking AB-123-CD stopped at 13:05. Final amount: €1.20. Ref 3Q0P-WH3X',
      ],
      [
        helpText(T, 'fr'),
        'Stationner : PARK zone plaque durée, ex. PARK rouge AB-123-CD 1h30. Prolonger : PROLONGER 30. Terminer : FIN. Zones : rouge, orange, vert',
      ],
      [
        noSessionText(T, 'fr'),
        'Aucun stationnement en cours pour ce numéro. Pour en démarrer un : PARK rouge AB-123-CD 1h30',
      ],
      [
        whichPlateText('extend', ['AB-123-CD', 'XY-987-ZT'], 'en'),
        'Several sessions running (AB-123-CD, XY-987-ZT). Add the plate, e.g. EXTEND 30 AB-123-CD',
      ],
      [
        whichPlateText('stop', ['AB-123-CD', 'XY-987-ZT'], 'fr'),
        'Plusieurs stationnements en cours (AB-123-CD, XY-987-ZT). Précisez la plaque, ex. FIN AB-123-CD',
      ],
    ];
    for (const [text, expected] of texts) {
      expect(text).toBe(expected);
      expect(fits(text, 1), text).toBe(true);
    }
  });

  it('cuts the zone list of the help text to one segment when a table has many zones', () => {
    const zones = Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [`secteur-${i}`, { ...T.zones.rouge, aliases: [] }]),
    );
    const text = helpText(parseTariffTable({ zones }), 'fr');
    expect(fits(text, 1), text).toBe(true);
    expect(text).toMatch(/Zones : secteur-0, .*\.\.\.$/);
  });
});
