import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import { type VaultConfig, vaultConfigSchema } from './config.ts';

/** A random master key, `id:base64`. */
export const masterKey = (id = 'k1') => `${id}:${randomBytes(32).toString('base64')}`;

/** A vault config parsed through its schema, with a fresh master key unless `masterKeys` is given. */
export function vaultConfig(overrides: Partial<z.input<typeof vaultConfigSchema>> = {}): VaultConfig {
  return vaultConfigSchema.parse({ masterKeys: masterKey(), ...overrides });
}

/** A small PDF (the bytes start with `%PDF-`), different each call. */
export const pdfBytes = (text = randomBytes(8).toString('hex')) =>
  Buffer.from(`%PDF-1.7\n1 0 obj << /Title (${text}) >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`, 'latin1');

/** PNG signature followed by random bytes. */
export const pngBytes = () =>
  Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(64)]);
