import { describe, expect, it } from 'vitest';
import { residentsConfigSchema } from './config.ts';

describe('residents config', () => {
  it('applies the defaults when nothing is set', () => {
    expect(residentsConfigSchema.parse({})).toEqual({
      codeTtlMs: 600_000,
      codeMaxAttempts: 5,
      sessionTtlMs: 30 * 86_400_000,
      signInPerAddressPerHour: 5,
      signInPerIpPerHour: 20,
      verifyPerIpPerHour: 60,
      linkPerAccountPerHour: 10,
      cookieSecure: 'auto',
    });
  });

  it('reads numbers from environment strings and rejects bad values naming the key', () => {
    expect(residentsConfigSchema.parse({ codeTtlMs: '120000' }).codeTtlMs).toBe(120_000);
    const result = residentsConfigSchema.safeParse({ codeTtlMs: 10, cookieSecure: 'yes', typo: 1 });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.') || i.message);
    expect(paths).toEqual(expect.arrayContaining(['codeTtlMs', 'cookieSecure']));
    expect(JSON.stringify(result.error?.issues)).toContain('typo');
  });

  it('describes every key when the schema is documented', () => {
    for (const [key, schema] of Object.entries(residentsConfigSchema.shape)) {
      expect(schema.description, key).toBeTruthy();
    }
  });
});
