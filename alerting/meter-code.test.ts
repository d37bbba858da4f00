import { createHmac } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { METER_CODE_CHARS, meterCode, verifyMeterCode } from './meter-code.ts';

const SECRET = 'a-test-secret-of-at-least-32-characters!';

describe('meter-code', () => {
  it('gives 8 Crockford base32 characters shown XXXX-XXXX when asked for a meter', () => {
    const code = meterCode(SECRET, 'WM-000123');
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(code.replace('-', '')).toHaveLength(METER_CODE_CHARS);
  });

  it('gives the same code every time and another one for another meter or another secret', () => {
    const code = meterCode(SECRET, 'WM-000123');
    expect(meterCode(SECRET, 'WM-000123')).toBe(code);
    expect(meterCode(SECRET, 'WM-000124')).not.toBe(code);
    expect(meterCode(`${SECRET}x`, 'WM-000123')).not.toBe(code);
  });

  it('matches a known HMAC-SHA256 value when computed by hand', () => {
    // The first 40 bits of HMAC-SHA256("k", "meter-code:WM-1"), 5 bits at a time, computed here independently.
    const digest = hmacOf('k', 'meter-code:WM-1');
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    const bits = [...digest.subarray(0, 5)].map((b) => b.toString(2).padStart(8, '0')).join('');
    const chars = (bits.match(/.{5}/g) ?? []).map((b) => alphabet[Number.parseInt(b, 2)]).join('');
    expect(meterCode('k', 'WM-1')).toBe(`${chars.slice(0, 4)}-${chars.slice(4)}`);
  });

  it('accepts the code whatever the case, spaces and dashes when verifying', () => {
    const code = meterCode(SECRET, 'WM-000123');
    const raw = code.replace('-', '');
    for (const input of [code, raw, code.toLowerCase(), ` ${raw.slice(0, 2)} ${raw.slice(2, 6)}-${raw.slice(6)} `]) {
      expect(verifyMeterCode(SECRET, 'WM-000123', input)).toBe(true);
    }
  });

  it('reads O as 0 and I or L as 1 when the resident mistypes them', () => {
    const secret = findSecretWithCodeContaining(/[01]/);
    const code = meterCode(secret, 'WM-1');
    expect(verifyMeterCode(secret, 'WM-1', code.replace(/0/g, 'o').replace(/1/g, 'l'))).toBe(true);
    expect(verifyMeterCode(secret, 'WM-1', code.replace(/0/g, 'O').replace(/1/g, 'I'))).toBe(true);
  });

  it('refuses a wrong code, a code of another meter, a cut or extended code and an empty one', () => {
    const code = meterCode(SECRET, 'WM-000123');
    const raw = code.replace('-', '');
    const flipped = `${raw.slice(0, 7)}${raw[7] === 'A' ? 'B' : 'A'}`;
    expect(verifyMeterCode(SECRET, 'WM-000123', flipped)).toBe(false);
    expect(verifyMeterCode(SECRET, 'WM-000124', code)).toBe(false);
    expect(verifyMeterCode(SECRET, 'WM-000123', raw.slice(0, 7))).toBe(false);
    expect(verifyMeterCode(SECRET, 'WM-000123', `${raw}0`)).toBe(false);
    expect(verifyMeterCode(SECRET, 'WM-000123', '')).toBe(false);
    expect(verifyMeterCode(SECRET, 'WM-000123', `${code}${' '.repeat(100)}`)).toBe(false);
  });

  test.prop([fc.string({ minLength: 1, maxLength: 40 }), fc.string({ maxLength: 80 })])(
    'verifies its own code and never throws when given any device id and any input',
    (deviceId, input) => {
      expect(verifyMeterCode(SECRET, deviceId, meterCode(SECRET, deviceId))).toBe(true);
      const verdict = verifyMeterCode(SECRET, deviceId, input);
      expect(typeof verdict).toBe('boolean');
    },
  );
});

function hmacOf(key: string, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** A secret whose code for WM-1 holds a 0 or a 1 (to test the misreadings), found deterministically. */
function findSecretWithCodeContaining(pattern: RegExp): string {
  for (let i = 0; ; i++) if (pattern.test(meterCode(`s${i}`, 'WM-1'))) return `s${i}`;
}
