import { z } from 'zod';
import { reorderToleranceMsSchema } from '../engine.ts';

/** The rollups stage's configuration (`rollups` section; every key defaulted). */
export const rollupsConfigSchema = z
  .strictObject({
    timeZone: z
      .string()
      .min(1)
      .default('Europe/Paris')
      .describe('Time zone of local days and night hours (set from VIGIE_TZ).'),
    reorderToleranceMs: reorderToleranceMsSchema,
    maxGapHours: z.coerce
      .number()
      .positive()
      .max(24 * 366)
      .default(168)
      .describe(
        'Longest silence between two readings whose consumption is spread evenly over the hours between, h (7 days); ' +
          'beyond, those hours get no rollup (counted).',
      ),
    jitterL: z.coerce
      .number()
      .nonnegative()
      .default(1)
      .describe(
        'Largest drop of the index taken as register jitter (±1 L is normal), L; a larger drop is a register reset or ' +
          'a replaced meter: the hours spanning it get no rollup (counted).',
      ),
    lampStandbyPowerW: z.coerce
      .number()
      .nonnegative()
      .default(2)
      .describe(
        'Draw up to which a streetlight counts as off for litHours, W (2: driver standby + controller node, as the ' +
          'streetlight model).',
      ),
    lampMaxGapMinutes: z.coerce
      .number()
      .positive()
      .max(24 * 60 * 31)
      .default(180)
      .describe(
        'Longest silence over which a streetlight’s power is held (or its energyWh counter spread), min (3 h, as the ' +
          'streetlight model); hours spanning a longer one get no rollup (counted).',
      ),
    lampMaxPowerW: z.coerce
      .number()
      .positive()
      .default(2_000)
      .describe(
        'Largest average draw a streetlight’s energyWh counter may show between two readings, W; a counter going ' +
          'back or faster than this (reset, replaced controller) is ignored for that interval and powerW used instead.',
      ),
    paymentMaxMinutes: z.coerce
      .number()
      .int()
      .positive()
      .max(60 * 24 * 31)
      .default(1_440)
      .describe(
        'Longest paid time a parking payment spreads over the following hours, min (24 h); beyond, its paid minutes ' +
          'are cut (counted; the revenue is kept). Bounds the open hours kept per meter.',
      ),
    nightStartHour: z.coerce
      .number()
      .int()
      .min(0)
      .max(23)
      .default(2)
      .describe('First local hour of the night window for the minimum night flow (02:00; DOMAIN.md: 02:00–05:00).'),
    nightEndHour: z.coerce
      .number()
      .int()
      .min(1)
      .max(24)
      .default(5)
      .describe('Local hour the night window ends (05:00, exclusive).'),
    districtLatenessHours: z.coerce
      .number()
      .int()
      .min(25)
      .max(24 * 31)
      .default(48)
      .describe(
        'How long (event time) after its end a district period still takes contributions, h (48); later ones are ' +
          'dropped and counted. At least 25 h, so that a day still sees its night hours.',
      ),
    checkpointIntervalMs: z.coerce
      .number()
      .int()
      .positive()
      .default(5_000)
      .describe('Least wall-clock time between two checkpoints of rollup state to the store, ms (5 s).'),
    devicesWarmupMs: z.coerce
      .number()
      .int()
      .nonnegative()
      .default(10_000)
      .describe(
        'Longest wait at start for devices.v1 to be read (districts) before readings are consumed, ms (10 s); the ' +
          'wait ends earlier once devices.v1 has been quiet for 500 ms.',
      ),
  })
  .superRefine((c, ctx) => {
    if (c.nightEndHour <= c.nightStartHour) {
      ctx.addIssue({
        code: 'custom',
        path: ['nightEndHour'],
        message: `nightEndHour (${c.nightEndHour}) must be after nightStartHour (${c.nightStartHour})`,
      });
    }
  });
/** The rollups' configuration, parsed. */
export type RollupsConfig = z.output<typeof rollupsConfigSchema>;
