import { z } from 'zod';

/** The residents' service configuration (root section `residents`; VIGIE_RESIDENTS_* variables). */
export const residentsConfigSchema = z.strictObject({
  codeTtlMs: z.coerce
    .number()
    .int()
    .min(60_000)
    .max(3_600_000)
    .default(600_000)
    .describe('How long a sign-in code is valid, in ms (10 min).'),
  codeMaxAttempts: z.coerce
    .number()
    .int()
    .min(1)
    .max(10)
    .default(5)
    .describe('Wrong tries allowed for one sign-in code (5); then the resident asks for a new code.'),
  sessionTtlMs: z.coerce
    .number()
    .int()
    .min(300_000)
    .max(366 * 86_400_000)
    .default(30 * 86_400_000)
    .describe('How long a session lasts after sign-in, in ms (30 days); sign-out ends it earlier.'),
  signInPerAddressPerHour: z.coerce
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('Sign-in codes asked per hour for one phone number or email address (5); beyond: 429.'),
  signInPerIpPerHour: z.coerce
    .number()
    .int()
    .min(1)
    .default(20)
    .describe('Sign-in codes asked per hour from one IP address (20); beyond: 429.'),
  verifyPerIpPerHour: z.coerce
    .number()
    .int()
    .min(1)
    .default(60)
    .describe('Codes submitted per hour from one IP address (60), on top of the tries per code; beyond: 429.'),
  linkPerAccountPerHour: z.coerce
    .number()
    .int()
    .min(1)
    .default(10)
    .describe('Meter links (subscriber code) tried per hour by one resident (10); beyond: 429.'),
  cookieSecure: z
    .enum(['auto', 'always', 'never'])
    .default('auto')
    .describe(
      'Secure flag of the session cookie: auto (when the request came over https, or the public URL is https), ' +
        'always, never.',
    ),
});
/** The residents' service configuration. */
export type ResidentsConfig = z.output<typeof residentsConfigSchema>;
