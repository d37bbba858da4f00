/**
 * Time-limited share links: a citizen lets one city service download one document until a given millisecond.
 *
 * Token: `vs1.<keyId>.<claims>.<mac>` — `claims` is base64url JSON `{ documentId, service, expiresAtMs, nonce }`
 * (readable, not secret: it names what the holder may fetch), `mac` is HMAC-SHA-256 over `vs1.<keyId>.<claims>`
 * under a key derived with HKDF-SHA-256 from master key `keyId` (RFC 5869; info `vigie-vault/share-link/v1`), so
 * the links need no secret of their own and survive a rotation while the old master key stays configured.
 * The MAC is checked on the exact text, as a canonical base64url string compared in constant time: a base64 string
 * with other padding bits or an altered character never passes. Claims are parsed only once the MAC holds.
 *
 * Revocation is not here: the nonce is random (128 bits) so the store can keep revoked nonces and refuse them.
 */
import { createHmac, hkdfSync, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import type { VaultConfig } from './config.ts';
import type { MasterKeyring } from './crypto.ts';

const PREFIX = 'vs1';
const HKDF_INFO = 'vigie-vault/share-link/v1';
/** Longest token accepted before any work (a real one is ~200 characters). */
export const SHARE_TOKEN_MAX_CHARS = 1024;
const NONCE_BYTES = 16;

/** A city service's name as it appears in an actor (`service:<name>`) and a share link. */
export const serviceNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a service name: lower-case letters, digits and -, 1–63 characters');

/** What a share link grants: `service` may download `documentId` until `expiresAtMs` (exclusive). */
export const shareClaimsSchema = z.strictObject({
  documentId: z.string().min(1).max(128),
  service: serviceNameSchema,
  expiresAtMs: z.number().int().nonnegative(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
});
/** The claims of a share link. */
export type ShareClaims = z.output<typeof shareClaimsSchema>;

/** Why a share link is refused. */
export type ShareLinkRefusal = 'expired' | 'bad-signature' | 'malformed';

/**
 * The outcome of {@link ShareLinks.verify}. An expired link is authentic, so its claims come along: the store audits
 * the refusal in the owner's log. A forged or malformed one has none worth trusting.
 */
export type ShareLinkVerdict =
  | { readonly ok: true; readonly claims: ShareClaims }
  | { readonly ok: false; readonly reason: 'expired'; readonly claims: ShareClaims }
  | { readonly ok: false; readonly reason: Exclude<ShareLinkRefusal, 'expired'> };

/** Issues and verifies share links under one master keyring. */
export interface ShareLinks {
  /** A new token for `service` to fetch `documentId` until `expiresAtMs`, with a fresh nonce. */
  issue(grant: { documentId: string; service: string; expiresAtMs: number }): { token: string; claims: ShareClaims };
  /** The claims when `token` is authentic and `nowMs < expiresAtMs`; otherwise why not (with the claims if expired). */
  verify(token: string, nowMs: number): ShareLinkVerdict;
}

function macKey(masterKey: KeyObject): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), HKDF_INFO, 32));
}

/** Share links signed under the keyring's current master key, verifiable under any key still configured. */
export function createShareLinks(keyring: MasterKeyring, random: (bytes: number) => Buffer = randomBytes): ShareLinks {
  const macKeys = new Map([...keyring.keys].map(([id, key]) => [id, macKey(key)] as const));
  const mac = (key: Buffer, signed: string) => createHmac('sha256', key).update(signed, 'utf8').digest('base64url');

  return {
    issue(grant) {
      const parsed = shareClaimsSchema.safeParse({ ...grant, nonce: random(NONCE_BYTES).toString('base64url') });
      if (!parsed.success) {
        const paths = parsed.error.issues.map((issue) => issue.path.join('.')).join(', ');
        throw new AppError(
          'ERR_VAULT_SHARE_INVALID',
          `share link grant: invalid ${paths} (${z.prettifyError(parsed.error)})`,
        );
      }
      const claims = parsed.data;
      const key = macKeys.get(keyring.current);
      if (key === undefined) {
        throw new AppError('ERR_VAULT_KEY_UNKNOWN', `vault master key: ${keyring.current} (not in the keyring)`);
      }
      const signed = `${PREFIX}.${keyring.current}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return { token: `${signed}.${mac(key, signed)}`, claims };
    },

    verify(token, nowMs) {
      if (typeof token !== 'string' || token.length > SHARE_TOKEN_MAX_CHARS) return { ok: false, reason: 'malformed' };
      const parts = token.split('.');
      if (parts.length !== 4 || parts[0] !== PREFIX || parts.some((part) => part === '')) {
        return { ok: false, reason: 'malformed' };
      }
      const [, keyId, body, given] = parts as [string, string, string, string];
      // A key no longer configured cannot vouch for anything: removing a master key revokes its links.
      const key = macKeys.get(keyId);
      if (key === undefined) return { ok: false, reason: 'bad-signature' };
      const wanted = Buffer.from(mac(key, `${PREFIX}.${keyId}.${body}`), 'utf8');
      const presented = Buffer.from(given, 'utf8');
      if (wanted.length !== presented.length || !timingSafeEqual(wanted, presented)) {
        return { ok: false, reason: 'bad-signature' };
      }
      let claims: ShareClaims;
      try {
        const parsed = shareClaimsSchema.safeParse(JSON.parse(Buffer.from(body, 'base64url').toString('utf8')));
        if (!parsed.success) return { ok: false, reason: 'malformed' };
        claims = parsed.data;
      } catch {
        return { ok: false, reason: 'malformed' };
      }
      if (nowMs >= claims.expiresAtMs) return { ok: false, reason: 'expired', claims };
      return { ok: true, claims };
    },
  };
}

/** The life of a new link: the citizen's choice or the default, refused above the maximum (`ERR_VAULT_SHARE_INVALID`). */
export function shareLinkTtlSeconds(
  requestedSeconds: number | undefined,
  config: Pick<VaultConfig, 'shareLinkDefaultTtlSeconds' | 'shareLinkMaxTtlSeconds'>,
): number {
  if (requestedSeconds === undefined) return config.shareLinkDefaultTtlSeconds;
  if (
    !Number.isInteger(requestedSeconds) ||
    requestedSeconds < 60 ||
    requestedSeconds > config.shareLinkMaxTtlSeconds
  ) {
    throw new AppError(
      'ERR_VAULT_SHARE_INVALID',
      `share link ttlSeconds: ${requestedSeconds} (an integer from 60 to ${config.shareLinkMaxTtlSeconds})`,
    );
  }
  return requestedSeconds;
}
