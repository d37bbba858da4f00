import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { MULHOUSE_EXAMPLE_TARIFFS, parseTariffTable, REMINDER_LEAD_MINUTES, type TariffTable } from './tariffs.ts';

/** A secret string: opaque in types, never printed. */
const secret = z.string().min(32).brand<'Secret'>().meta({ secret: true });

/** The parking service's configuration (root section `parking`; VIGIE_PARKING_* variables). */
export const parkingConfigSchema = z
  .strictObject({
    tariffs: z
      .union([z.string().trim().min(1), z.record(z.string(), z.unknown())])
      .optional()
      .describe(
        'The tariff table (services/parking/tariffs.ts TariffTable): JSON text, or the path of a JSON file ' +
          '(VIGIE_PARKING_TARIFFS); absent: MULHOUSE_EXAMPLE_TARIFFS, an example, not the city’s official prices.',
      ),
    receiptLinkSecret: secret
      .optional()
      .describe(
        'Key of the receipt verification links (VIGIE_PARKING_RECEIPT_LINK_SECRET, ≥ 32 characters); a secret; absent: ' +
          'a random key per process (links in receipts die on restart and work on that instance only).',
      ),
    receiptLinkDays: z.coerce
      .number()
      .int()
      .min(1)
      .max(3660)
      .default(90)
      .describe(
        'How long a receipt link works after its session ends, in days (90: long enough to contest a ' +
          'post-parking charge); then 404 like an unknown one.',
      ),
    reminderLeadMinutes: z.coerce
      .number()
      .int()
      .min(1)
      .max(60)
      .default(REMINDER_LEAD_MINUTES)
      .describe('Minutes before a session ends that its reminder SMS is sent (6: PayByPhone reminds 5–7 min before).'),
    sweepIntervalMs: z.coerce
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(15_000)
      .describe(
        'How often due reminders are sent and ended sessions marked expired, in milliseconds (15 s: a reminder ' +
          'leaves at most this late).',
      ),
    receiptLookupsPerHourPerIp: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(60)
      .describe('Receipt pages (GET /p/:reference) one IP address may open per hour (60); more get 429.'),
    revenueEvents: z
      .enum(['publish', 'off'])
      .default('publish')
      .describe(
        'publish: each SMS start and extension is also produced to events.parking-meter.v1 as a `payment` (method ' +
          'sms) of the virtual meter `sms-<zone>`, so the rollups count SMS revenue; off: nothing is produced.',
      ),
  })
  .superRefine((c, ctx) => {
    if (c.tariffs === undefined || (typeof c.tariffs === 'string' && !c.tariffs.startsWith('{'))) return;
    try {
      resolveTariffs(c.tariffs);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['tariffs'], message: (err as Error).message });
    }
  });
/** The parking service's configuration. */
export type ParkingConfig = z.output<typeof parkingConfigSchema>;

/**
 * The tariff table a config names: inline (an object or JSON text starting with `{`), a JSON file's path, or the
 * example. Throws ERR_PARKING_TARIFF_INVALID naming the file or the bad keys.
 */
export function resolveTariffs(tariffs: ParkingConfig['tariffs']): TariffTable {
  if (tariffs === undefined) return MULHOUSE_EXAMPLE_TARIFFS;
  if (typeof tariffs !== 'string') return parseTariffTable(tariffs);
  let text = tariffs;
  if (!tariffs.startsWith('{')) {
    try {
      text = readFileSync(tariffs, 'utf8');
    } catch (cause) {
      throw new AppError(
        'ERR_PARKING_TARIFF_INVALID',
        `tariff file: ${tariffs} unreadable (${(cause as Error).message}) (a JSON file, or JSON text)`,
        { cause },
      );
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new AppError(
      'ERR_PARKING_TARIFF_INVALID',
      `tariff table: not JSON (${(cause as Error).message}) (a TariffTable, services/parking/README.md)`,
      { cause },
    );
  }
  return parseTariffTable(json);
}

/** The link key of this process when no secret is configured: made once, shared by the service and its routes. */
const PROCESS_LINK_KEY: Uint8Array = randomBytes(32);

/** The key of the receipt links: the configured secret, else this process's random key. */
export function receiptLinkKey(config: ParkingConfig): Uint8Array {
  return config.receiptLinkSecret ? Buffer.from(config.receiptLinkSecret, 'utf8') : PROCESS_LINK_KEY;
}
