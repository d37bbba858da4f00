import { describe, expect, it } from 'vitest';
import { parseRetryAfterMs, safeFileName, scrub } from './channel.ts';

describe('channel helpers', () => {
  it('reads Retry-After as seconds or as an HTTP date when parsing', () => {
    expect(parseRetryAfterMs('3')).toBe(3000);
    expect(parseRetryAfterMs('0.5')).toBe(500);
    expect(parseRetryAfterMs('Wed, 21 Oct 2026 07:28:10 GMT', Date.parse('Wed, 21 Oct 2026 07:28:00 GMT'))).toBe(
      10_000,
    );
    expect(parseRetryAfterMs(undefined)).toBeUndefined();
    expect(parseRetryAfterMs('soon')).toBeUndefined();
  });

  it('masks recipients, phone numbers and secrets when scrubbing a provider message', () => {
    const text = scrub(
      "The 'To' number +33612345678 is not valid; token s3cr3t-token; mail bob@example.org; other +15005550001",
      ['s3cr3t-token'],
      ['bob@example.org'],
    );
    expect(text).not.toContain('+33612345678');
    expect(text).not.toContain('+15005550001');
    expect(text).not.toContain('s3cr3t-token');
    expect(text).not.toContain('bob@example.org');
    expect(text).toContain('+336•••••78');
    expect(text).toContain('b•••@example.org');
  });

  it('makes a bounded, safe and distinct file name when given any idempotency key', () => {
    const a = safeFileName('WM-1:leak:1:open:email:a/b@x.org', 'abcdef0123456789');
    expect(a).toBe('WM-1_leak_1_open_email_a_b_x.org-abcdef012345');
    expect(safeFileName('x'.repeat(500), '0'.repeat(64)).length).toBeLessThanOrEqual(113);
  });
});
