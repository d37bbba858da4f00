import { describe, expect, it } from 'vitest';
import { BILLING_CLAIM_TIMEOUT_MS, mobilityConfigSchema } from './config.ts';
import { DEFAULT_TARIFFS } from './tariffs.ts';

describe('mobility config', () => {
  it('applies the defaults when the section is empty', () => {
    expect(mobilityConfigSchema.parse({})).toEqual({
      billingEnabled: true,
      billingCron: '0 6 1 * *',
      billingClaimTimeoutMs: BILLING_CLAIM_TIMEOUT_MS,
      tariffs: DEFAULT_TARIFFS,
    });
  });

  it('takes environment strings for the switch and the timeout when they come from variables', () => {
    expect(mobilityConfigSchema.parse({ billingEnabled: 'false', billingClaimTimeoutMs: '60000' })).toMatchObject({
      billingEnabled: false,
      billingClaimTimeoutMs: 60_000,
    });
  });

  it('refuses a bad cron, a tariff table that breaks its rules, a non-http link and unknown keys, naming each key', () => {
    const result = mobilityConfigSchema.safeParse({
      billingCron: 'every month',
      tariffs: { transit: { fareCents: 500, dailyCapCents: 450 } },
      accountUrl: 'javascript:alert(1)',
      extra: true,
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['billingCron', 'tariffs.transit.dailyCapCents', 'accountUrl', '']));
  });
});
