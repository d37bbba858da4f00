import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { isGsm7, MAX_SMS_SEGMENTS, smsSegments, toGsm7 } from './sms-text.ts';

describe('sms-text', () => {
  it('accepts the French accents of the GSM-7 alphabet when checking a text', () => {
    expect(isGsm7('Vérifiez à côté')).toBe(false); // ô is not in GSM-7
    expect(isGsm7("Vérifiez les chasses d'eau, là où ça fuit")).toBe(false); // ç is not either
    expect(isGsm7("Vérifiez là où l'eau coule, 13,12 €")).toBe(true);
  });

  it('counts 160 septets in one segment and 153 per segment beyond when the text is GSM-7', () => {
    expect(smsSegments('a'.repeat(160))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsSegments('a'.repeat(161))).toEqual({ encoding: 'GSM-7', units: 161, segments: 2 });
    expect(smsSegments('a'.repeat(306))).toEqual({ encoding: 'GSM-7', units: 306, segments: 2 });
    expect(smsSegments('a'.repeat(307)).segments).toBe(3);
  });

  it('counts the euro sign as two septets when measuring a text', () => {
    expect(smsSegments('€'.repeat(80))).toEqual({ encoding: 'GSM-7', units: 160, segments: 1 });
    expect(smsSegments(`${'€'.repeat(80)}a`).segments).toBe(2);
  });

  it('counts 70 then 67 characters per segment when the text needs UCS-2', () => {
    expect(smsSegments('ê'.repeat(70))).toEqual({ encoding: 'UCS-2', units: 70, segments: 1 });
    expect(smsSegments('ê'.repeat(71))).toEqual({ encoding: 'UCS-2', units: 71, segments: 2 });
  });

  it('rewrites typography and no-break spaces into GSM-7 when converting', () => {
    expect(toGsm7('Coût d’eau\u202f: 3,0\u00a0m³ «\u00a0ok\u00a0» — façade…')).toBe(
      'Cout d\'eau : 3,0 m3 " ok " - facade...',
    );
  });

  it('cuts a long text to three segments with an ellipsis when converting', () => {
    const out = toGsm7('mot '.repeat(300));
    expect(out.endsWith('...')).toBe(true);
    expect(smsSegments(out).segments).toBe(MAX_SMS_SEGMENTS);
  });

  test.prop([fc.string({ unit: 'grapheme', maxLength: 800 })])(
    'always yields GSM-7 within three segments when given any text',
    (text) => {
      const out = toGsm7(text);
      expect(isGsm7(out)).toBe(true);
      expect(smsSegments(out).segments).toBeLessThanOrEqual(MAX_SMS_SEGMENTS);
    },
  );
});
