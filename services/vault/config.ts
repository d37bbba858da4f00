import { z } from 'zod';
import { masterKeysProblem } from './crypto.ts';

/** The `masterKeys` secret: `id:base64,id:base64`; opaque in types, never printed. */
const masterKeysSecret = z
  .string()
  .superRefine((text, ctx) => {
    const problem = masterKeysProblem(text);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem, input: '[secret]' });
  })
  .brand<'Secret'>()
  .meta({ secret: true });

const MIB = 1024 * 1024;
const DAY_SECONDS = 86_400;

/** The document vault's configuration (root section `vault`; VIGIE_VAULT_* variables). */
export const vaultConfigSchema = z
  .strictObject({
    masterKeys: masterKeysSecret
      .optional()
      .describe(
        'Master keys wrapping each citizen’s data key (VIGIE_VAULT_MASTER_KEYS): `id:base64,id:base64`, each a ' +
          'base64 32-byte key; the first wraps new keys, the others only unwrap until rewrapped; a secret; absent: ' +
          'the vault refuses to start (ERR_VAULT_KEY_INVALID).',
      ),
    maxDocumentBytes: z.coerce
      .number()
      .int()
      .min(64 * 1024)
      .max(32 * MIB)
      .default(10 * MIB)
      .describe('Largest document accepted, in bytes (10 MiB); a larger one gets 413 ERR_VAULT_DOCUMENT_TOO_LARGE.'),
    maxDocumentsPerCitizen: z.coerce
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe('Documents one citizen may keep (100); one more gets 409 ERR_VAULT_LIMIT_CONFLICT.'),
    shareLinkMaxTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * DAY_SECONDS)
      .default(7 * DAY_SECONDS)
      .describe('Longest life a citizen may give a share link, in seconds (7 days).'),
    shareLinkDefaultTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * DAY_SECONDS)
      .default(DAY_SECONDS)
      .describe('Life of a share link when the citizen names none, in seconds (24 h).'),
    sharedOpensPerHourPerIp: z.coerce
      .number()
      .int()
      .min(1)
      .max(100_000)
      .default(60)
      .describe(
        'Share links one IP address may open per hour on GET /api/vault/shared/:token (60; counted by every instance together); ' +
          'more get 429 ERR_VAULT_RATE_LIMITED.',
      ),
  })
  .superRefine((config, ctx) => {
    if (config.shareLinkDefaultTtlSeconds > config.shareLinkMaxTtlSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['shareLinkDefaultTtlSeconds'],
        message:
          `shareLinkDefaultTtlSeconds (${config.shareLinkDefaultTtlSeconds}) must not exceed ` +
          `shareLinkMaxTtlSeconds (${config.shareLinkMaxTtlSeconds})`,
      });
    }
  });
/** The vault's configuration. */
export type VaultConfig = z.output<typeof vaultConfigSchema>;
