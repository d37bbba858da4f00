import { describe, expect, it } from 'vitest';
import { schedulesConfigSchema } from './config.ts';

describe('schedulesConfigSchema', () => {
  it('applies the defaults when nothing is given', () => {
    expect(schedulesConfigSchema.parse({})).toEqual({
      enabled: true,
      digestCron: '0 7 * * *',
      monthlySummaryCron: '0 9 1 * *',
    });
  });

  it('accepts a six-field cron with seconds when one is given', () => {
    expect(schedulesConfigSchema.parse({ digestCron: '30 0 7 * * 1-5' }).digestCron).toBe('30 0 7 * * 1-5');
  });

  it.each([
    ['digestCron', '0 25 * * *'],
    ['digestCron', 'every day'],
    ['monthlySummaryCron', '0 9 32 * *'],
  ])('rejects %s %s with a message naming the key when the expression is invalid', (key, value) => {
    const result = schedulesConfigSchema.safeParse({ [key]: value });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual([key]);
    expect(result.error?.issues[0]?.message).toContain('cron expression');
  });

  it('rejects an unknown key when there is a typo', () => {
    expect(schedulesConfigSchema.safeParse({ digestCrn: '0 7 * * *' }).success).toBe(false);
  });

  it('describes every key when the config reference is generated', () => {
    for (const [key, schema] of Object.entries(schedulesConfigSchema.shape)) {
      expect(schema.description, key).toBeTruthy();
    }
  });
});
