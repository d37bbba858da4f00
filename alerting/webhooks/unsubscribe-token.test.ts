import { describe, expect, it } from 'vitest';
import { unsubscribeToken, unsubscribeUrl, verifyUnsubscribeToken } from './unsubscribe-token.ts';

const SECRET = 'a-test-secret-of-more-than-32-characters';

describe('unsubscribe token', () => {
  it('names its subscription when the signature is right', () => {
    const token = unsubscribeToken(SECRET, 42);
    expect(token).toMatch(/^42\.[A-Za-z0-9_-]{32}$/);
    expect(verifyUnsubscribeToken(SECRET, token)).toBe(42);
  });

  it.each([
    ['another id with the same signature', (t: string) => t.replace(/^42\./, '43.')],
    ['a changed signature', (t: string) => `${t.slice(0, -1)}${t.endsWith('A') ? 'B' : 'A'}`],
    ['a cut signature', (t: string) => t.slice(0, -2)],
    ['no signature', () => '42'],
    ['garbage', () => '../../etc/passwd'],
    ['an id of zero', () => '0.abc'],
  ])('is refused when it has %s', (_name, change) => {
    expect(verifyUnsubscribeToken(SECRET, change(unsubscribeToken(SECRET, 42)))).toBeUndefined();
  });

  it('is refused when signed with another secret', () => {
    expect(verifyUnsubscribeToken(SECRET, unsubscribeToken(`${SECRET}x`, 42))).toBeUndefined();
  });

  it('builds the link under the public URL when one has a trailing slash', () => {
    expect(unsubscribeUrl('https://vigie.example.org/', SECRET, 7)).toBe(
      `https://vigie.example.org/u/${unsubscribeToken(SECRET, 7)}`,
    );
  });
});
