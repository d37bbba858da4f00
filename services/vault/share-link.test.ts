import { randomBytes } from 'node:crypto';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { vaultConfigSchema } from './config.ts';
import { createMasterKeyring } from './crypto.ts';
import { createShareLinks, SHARE_TOKEN_MAX_CHARS, shareLinkTtlSeconds } from './share-link.ts';

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');
const EXPIRES_AT_MS = Date.parse('2025-03-30T01:59:59.999Z');
const GRANT = { documentId: 'doc-7', service: 'etat-civil', expiresAtMs: EXPIRES_AT_MS };

const links = (text = `k1:${KEY_A}`) => createShareLinks(createMasterKeyring(text));

describe('vault share links', () => {
  it('returns the claims when the token is authentic and not expired', () => {
    const shares = links();
    const { token, claims } = shares.issue(GRANT);
    expect(claims).toMatchObject(GRANT);
    expect(claims.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(token.startsWith('vs1.k1.')).toBe(true);
    expect(shares.verify(token, EXPIRES_AT_MS - 3_600_000)).toEqual({ ok: true, claims });
  });

  it('expires to the millisecond when now reaches expiresAtMs', () => {
    const shares = links();
    const { token, claims } = shares.issue(GRANT);
    expect(shares.verify(token, EXPIRES_AT_MS - 1).ok).toBe(true);
    expect(shares.verify(token, EXPIRES_AT_MS)).toEqual({ ok: false, reason: 'expired', claims });
    expect(shares.verify(token, EXPIRES_AT_MS + 1)).toEqual({ ok: false, reason: 'expired', claims });
  });

  it('gives each link its own nonce when the same grant is issued twice', () => {
    const shares = links();
    expect(shares.issue(GRANT).claims.nonce).not.toBe(shares.issue(GRANT).claims.nonce);
  });

  it('refuses the token when any single character is changed', () => {
    const shares = links();
    const { token } = shares.issue(GRANT);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.';
    for (let index = 0; index < token.length; index += 1) {
      const original = token[index] as string;
      // Two replacements per position: the next character and its case twin, which tests base64 padding bits too.
      for (const replacement of [alphabet[(alphabet.indexOf(original) + 1) % alphabet.length] as string, 'A']) {
        if (replacement === original) continue;
        const altered = token.slice(0, index) + replacement + token.slice(index + 1);
        const verdict = shares.verify(altered, 0);
        expect(verdict.ok, `position ${index}: ${original}→${replacement}`).toBe(false);
      }
    }
  });

  it('says bad-signature when the MAC or the claims are altered', () => {
    const shares = links();
    const { token } = shares.issue(GRANT);
    const [prefix, keyId, body, mac] = token.split('.') as [string, string, string, string];
    const flippedMac = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    expect(shares.verify([prefix, keyId, body, flippedMac].join('.'), 0)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    const forged = Buffer.from(JSON.stringify({ ...GRANT, expiresAtMs: EXPIRES_AT_MS * 2, nonce: 'x'.repeat(22) }));
    expect(shares.verify([prefix, keyId, forged.toString('base64url'), mac].join('.'), 0)).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
  });

  it('says bad-signature when the token was made under another master key', () => {
    const { token } = links(`k1:${KEY_B}`).issue(GRANT);
    expect(links().verify(token, 0)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('keeps old links valid through a rotation and revokes them when their master key is removed', () => {
    const { token } = links(`k1:${KEY_A}`).issue(GRANT);
    expect(links(`k2:${KEY_B},k1:${KEY_A}`).verify(token, 0).ok).toBe(true);
    expect(links(`k2:${KEY_B},k1:${KEY_A}`).issue(GRANT).token.startsWith('vs1.k2.')).toBe(true);
    expect(links(`k2:${KEY_B}`).verify(token, 0)).toEqual({ ok: false, reason: 'bad-signature' });
  });

  it('says malformed when the token does not have the expected shape', () => {
    const shares = links();
    const { token } = shares.issue(GRANT);
    const cases = [
      '',
      'vs1',
      'vs1.k1.abc',
      `vs2${token.slice(3)}`,
      `${token}.extra`,
      token.replace('.k1.', '..'),
      'x'.repeat(SHARE_TOKEN_MAX_CHARS + 1),
    ];
    for (const text of cases) {
      expect(shares.verify(text, 0), text.slice(0, 40)).toEqual({ ok: false, reason: 'malformed' });
    }
  });

  it('refuses a grant when the service name or document id is invalid', () => {
    const shares = links();
    for (const grant of [
      { ...GRANT, service: 'Etat Civil' },
      { ...GRANT, documentId: '' },
      { ...GRANT, expiresAtMs: 1.5 },
    ]) {
      expect(() => shares.issue(grant)).toThrow(AppError);
    }
  });

  const anyText = links();
  test.prop([fc.string({ maxLength: 300 })])('never throws and never accepts when given any text', (text) => {
    expect(anyText.verify(text, 0).ok).toBe(false);
  });
});

describe('vault share link ttl', () => {
  const config = vaultConfigSchema.parse({});

  it('uses the default when the citizen names none and accepts up to the maximum', () => {
    expect(shareLinkTtlSeconds(undefined, config)).toBe(86_400);
    expect(shareLinkTtlSeconds(7 * 86_400, config)).toBe(7 * 86_400);
  });

  it('refuses a ttl when it is above the maximum, below a minute or fractional', () => {
    for (const ttl of [7 * 86_400 + 1, 59, 90.5, Number.NaN]) {
      let code: string | undefined;
      try {
        shareLinkTtlSeconds(ttl, config);
      } catch (err) {
        code = (err as AppError).code;
      }
      expect(code, String(ttl)).toBe('ERR_VAULT_SHARE_INVALID');
    }
  });
});
