import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import {
  newReference,
  normalizeReference,
  parseReference,
  REFERENCE_ALPHABET,
  REFERENCE_PATTERN,
  receiptToken,
  receiptUrl,
  verifyReceiptToken,
} from './reference.ts';

const SECRET = 'a-test-secret-of-32-characters!!';
const fixed = (bytes: number[]) => () => Uint8Array.from(bytes);

describe('parking reference', () => {
  it('makes an 8-character reference with a Luhn mod 32 check character from 35 random bits', () => {
    // 5 zero bytes → body 0000000; Luhn mod 32 of all zeros → check 0.
    expect(newReference(fixed([0, 0, 0, 0, 0]))).toBe('0000-0000');
    // 0x0000000001: low 5 bits = 1 → first body character 1, the others 0: body "1000000".
    // Luhn from the right: the rightmost body char is doubled; "1" is the 7th from the right (odd position:
    // doubled) → 2; sum 2; check = (32 − 2) mod 32 = 30 → 'Y'.
    expect(newReference(fixed([0, 0, 0, 0, 1]))).toBe('1000-000Y');
    const ref = newReference();
    expect(ref).toMatch(REFERENCE_PATTERN);
    expect(normalizeReference(ref)).toBe(ref);
  });

  it('reads a reference back when case, dashes, spaces and I/L/O differ', () => {
    expect(parseReference('1000000y')).toBe('1000-000Y');
    expect(parseReference(' l000 - OOOY ')).toBe('1000-000Y');
    expect(parseReference('i000-000y')).toBe('1000-000Y');
  });

  it('refuses a reference with a wrong character, a swap or a wrong length', () => {
    for (const bad of ['1000-000X', '0100-000Y', '1000-000', '1000-000YY', '1000-000U', '']) {
      expect(normalizeReference(bad), bad).toBeUndefined();
    }
    try {
      parseReference('1000-000X');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('ERR_PARKING_REFERENCE_INVALID');
    }
  });

  it('signs the verification link so only that reference and that secret verify', () => {
    const token = receiptToken(SECRET, '1000-000Y');
    expect(token).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(receiptUrl('https://vigie.example/', '1000-000Y', SECRET)).toBe(
      `https://vigie.example/p/1000-000Y?k=${token}`,
    );
    expect(verifyReceiptToken(SECRET, '1000-000Y', token)).toBe(true);
    expect(verifyReceiptToken(SECRET, '1000000y', token)).toBe(true);
    expect(verifyReceiptToken(SECRET, '0000-0000', token)).toBe(false);
    expect(verifyReceiptToken(`${SECRET}x`, '1000-000Y', token)).toBe(false);
    expect(verifyReceiptToken(SECRET, '1000-000Y', token.slice(0, 11))).toBe(false);
    expect(verifyReceiptToken(SECRET, 'nonsense', token)).toBe(false);
    expect(() => receiptToken('short', '1000-000Y')).toThrow(/at least 16/);
  });

  test.prop([fc.uint8Array({ minLength: 5, maxLength: 5 }), fc.nat({ max: 7 }), fc.nat({ max: 31 })])(
    'detects any single wrong character of any reference',
    (bytes, position, shift) => {
      const ref = newReference(() => bytes);
      const compact = ref.replace('-', '');
      const old = compact[position] as string;
      const replacement = REFERENCE_ALPHABET[(REFERENCE_ALPHABET.indexOf(old) + 1 + (shift % 31)) % 32] as string;
      const typo = compact.slice(0, position) + replacement + compact.slice(position + 1);
      expect(normalizeReference(compact)).toBe(ref);
      expect(normalizeReference(typo)).toBeUndefined();
    },
  );
});
