import { validate } from 'node-cron';
import { z } from 'zod';

/**
 * Settings of the alerting schedules (node-cron, in the city's time zone `VIGIE_TZ`): the operators' daily digest
 * and the residents' monthly consumption summary. Nested into the alerting config as `schedules`.
 */

/** A cron expression node-cron accepts (5 fields, or 6 with seconds first). */
const cronExpression = (example: string) =>
  z
    .string()
    .trim()
    .min(1)
    .refine((s) => validate(s), `a cron expression node-cron accepts, e.g. "${example}"`);

/** Settings of the alerting schedules. */
export const schedulesConfigSchema = z.strictObject({
  enabled: z
    .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
    .default(true)
    .describe('Run the daily digest and the monthly summary (false: neither runs on this instance)'),
  digestCron: cronExpression('0 7 * * *')
    .default('0 7 * * *')
    .describe("When the operators' daily digest is queued, a cron expression in the city's time zone (07:00)"),
  monthlySummaryCron: cronExpression('0 9 1 * *')
    .default('0 9 1 * *')
    .describe(
      "When residents' summary of the previous month is queued, a cron expression in the city's time zone (the 1st at 09:00)",
    ),
});

/** Settings of the alerting schedules, parsed. */
export type SchedulesConfig = z.output<typeof schedulesConfigSchema>;
