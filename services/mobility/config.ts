import { validate } from 'node-cron';
import { z } from 'zod';
import { TariffTable } from './tariffs.ts';

/**
 * The mobility account's configuration (root section `mobility`): the monthly billing schedule (node-cron in the
 * city's time zone `VIGIE_TZ`), its claim timeout, the tariff table (default: the example table of tariffs.ts, not
 * the operator's prices) and the link shown at the end of the invoice email.
 */

/** Default age after which an unfinished billing claim may be retaken (a crashed run), ms: 15 min. */
export const BILLING_CLAIM_TIMEOUT_MS = 15 * 60_000;

/** The mobility account's configuration. */
export const mobilityConfigSchema = z.strictObject({
  billingEnabled: z
    .preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean())
    .default(true)
    .describe('Run the monthly billing schedule on this instance (false: runBilling by hand only)'),
  billingCron: z
    .string()
    .trim()
    .min(1)
    .refine((s) => validate(s), 'a cron expression node-cron accepts, e.g. "0 6 1 * *"')
    .default('0 6 1 * *')
    .describe("When the previous local month is billed, a cron expression in the city's time zone (the 1st, 06:00)"),
  billingClaimTimeoutMs: z.coerce
    .number()
    .int()
    .min(10_000)
    .max(86_400_000)
    .default(BILLING_CLAIM_TIMEOUT_MS)
    .describe('Age after which a billing run left unfinished (a crash) may be taken over by an instance, ms (15 min)'),
  tariffs: TariffTable.prefault({}).describe(
    "The tariff table (services/mobility/tariffs.ts); default: an example table, not the operator's prices",
  ),
  accountUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .describe('Where account holders see their invoices, linked at the end of the email; absent: no link'),
});
/** The mobility account's configuration, parsed. */
export type MobilityConfig = z.output<typeof mobilityConfigSchema>;
