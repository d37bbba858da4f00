import { describe, expect, it } from 'vitest';
import { alertingConfigSchema } from './config.ts';

describe('alertingConfigSchema', () => {
  it('applies the documented defaults when given nothing', () => {
    const c = alertingConfigSchema.parse({});
    expect(c).toMatchObject({
      locale: 'fr',
      priceEurPerM3: 4.34,
      operatorEmails: [],
      outboxDir: 'data/outbox',
      emailFrom: 'Vigie <alertes@vigie.local>',
      sendTimeoutMs: 10_000,
      maxConcurrentSends: 8,
      retry: { initialDelayMs: 500, maxDelayMs: 30_000, maxAttempts: 6 },
      twilio: { apiBaseUrl: 'https://api.twilio.com' },
    });
    expect(c.smtpUrl).toBeUndefined();
    expect(c.twilio.accountSid).toBeUndefined();
  });

  it('names both keys when Twilio settings are partial', () => {
    const r = alertingConfigSchema.safeParse({ twilio: { accountSid: `AC${'1'.repeat(32)}` } });
    expect(r.success).toBe(false);
    const text = JSON.stringify(r.error?.issues);
    expect(text).toContain('authToken');
    expect(text).toContain('fromNumber');
  });

  it('rejects a typo and a bad value with the key named when parsing', () => {
    const r = alertingConfigSchema.safeParse({ locales: 'fr', smtpUrl: 'http://x', operatorEmails: ['nope'] });
    expect(r.success).toBe(false);
    const paths = r.error?.issues.map((i) => i.path.join('.') || i.message) ?? [];
    expect(paths.join(' ')).toContain('smtpUrl');
    expect(paths.join(' ')).toContain('operatorEmails');
    expect(JSON.stringify(r.error?.issues)).toContain('locales');
  });

  it('accepts a full provider configuration when every key is valid', () => {
    const c = alertingConfigSchema.parse({
      twilio: { accountSid: `AC${'a'.repeat(32)}`, authToken: 'tok', fromNumber: '+33700000001' },
      smtpUrl: 'smtps://u:p@smtp.example.org:465',
      operatorEmails: ['ops@example.org'],
    });
    expect(c.twilio.fromNumber).toBe('+33700000001');
  });
});
