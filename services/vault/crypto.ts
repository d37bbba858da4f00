/**
 * Envelope encryption of the citizen document vault (issue 8), with node:crypto only.
 *
 * - A **master keyring** comes from configuration (`masterKeys`: `id:base64,id:base64`, the first is current). Master
 *   keys only ever wrap data keys; they never touch a document.
 * - Each citizen has one random 256-bit **data key**, stored only wrapped: AES-256-GCM under the current master key,
 *   with the key id and the citizen id as additional authenticated data, so a wrapped key copied onto another
 *   citizen's row fails to unwrap. Deleting the wrapped key destroys every document of that citizen (crypto-shredding).
 * - A **document** is `version (1 byte) ‖ IV (12 random bytes) ‖ ciphertext ‖ tag (16 bytes)`, AES-256-GCM under the
 *   citizen's data key, with the version, citizen id and document id as AAD, so swapping two documents' blobs fails.
 *
 * Any failed authentication — a bit flipped anywhere, a wrong key, a wrong AAD, a truncated blob, an unknown
 * version — is one error, `ERR_VAULT_TAMPERED`: GCM cannot tell these apart, and the caller must not either.
 * Random 96-bit IVs are safe far beyond a citizen's document count (NIST SP 800-38D §8.3: 2^32 messages per key).
 * Keys are held as `KeyObject`s, which never print their bytes (not in logs, not in `util.inspect`).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { AppError } from '../../core/errors.ts';

/** Version byte of the current document and wrapped-key format. */
export const VAULT_FORMAT_VERSION = 1;
/** AES-256 key length, in bytes. */
export const KEY_BYTES = 32;
/** GCM IV length, in bytes (the 96 bits GCM is designed for). */
export const IV_BYTES = 12;
/** GCM tag length, in bytes (always the full 128 bits; Node would otherwise accept a truncated tag). */
export const TAG_BYTES = 16;
/** Bytes a blob adds to its plaintext: version, IV and tag (29). */
export const BLOB_OVERHEAD_BYTES = 1 + IV_BYTES + TAG_BYTES;

const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** The master keys: `current` wraps new data keys; the others only unwrap until everything is rewrapped. */
export interface MasterKeyring {
  /** Id of the key new wraps use (the first of `masterKeys`). */
  readonly current: string;
  /** Every configured master key by id. */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

/** A data key wrapped by the master key `keyId` (61 bytes: version, IV, 32-byte ciphertext, tag). */
export interface WrappedDataKey {
  /** Id of the master key that wrapped it. */
  readonly keyId: string;
  /** The wrapped bytes, bound to the citizen id. */
  readonly wrapped: Buffer;
}

/** What a document blob is bound to: decrypting with any other pair fails. */
export interface DocumentAad {
  readonly citizenId: string;
  readonly documentId: string;
}

/** Why a `masterKeys` text is unusable, or undefined when it is fine; never quotes key material. */
export function masterKeysProblem(text: string): string | undefined {
  const entries = text.split(',').map((entry) => entry.trim());
  const seen = new Set<string>();
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    const b64 = colon < 0 ? '' : entry.slice(colon + 1);
    if (!KEY_ID.test(id)) {
      return `master key #${index + 1}: id missing or invalid (id:base64, id of 1–32 characters A-Z a-z 0-9 _ -)`;
    }
    if (seen.has(id)) return `master key #${index + 1}: id ${id} appears twice (ids are unique)`;
    seen.add(id);
    if (!BASE64.test(b64) || Buffer.from(b64, 'base64').length !== KEY_BYTES) {
      return `master key ${id}: not a base64 32-byte key (e.g. \`openssl rand -base64 32\`)`;
    }
  }
  return undefined;
}

/** Parses `masterKeys` (`id:base64,id:base64`, first = current); throws `ERR_VAULT_KEY_INVALID` without quoting keys. */
export function createMasterKeyring(masterKeys: string): MasterKeyring {
  const problem = masterKeysProblem(masterKeys);
  if (problem !== undefined) throw new AppError('ERR_VAULT_KEY_INVALID', `vault masterKeys: ${problem}`);
  const keys = new Map<string, KeyObject>();
  for (const entry of masterKeys.split(',')) {
    const [id, b64] = entry.trim().split(':') as [string, string];
    const bytes = Buffer.from(b64, 'base64');
    keys.set(id, createSecretKey(bytes));
    bytes.fill(0);
  }
  const current = masterKeys.split(',')[0]?.trim().split(':')[0] ?? '';
  return { current, keys };
}

/** A fresh random 256-bit data key for one citizen. */
export function newDataKey(): KeyObject {
  const bytes = randomBytes(KEY_BYTES);
  const key = createSecretKey(bytes);
  bytes.fill(0);
  return key;
}

function masterKey(keyring: MasterKeyring, keyId: string): KeyObject {
  const key = keyring.keys.get(keyId);
  if (key === undefined) {
    throw new AppError(
      'ERR_VAULT_KEY_UNKNOWN',
      `vault master key: ${JSON.stringify(keyId)} (configured: ${[...keyring.keys.keys()].join(', ')}; a key still ` +
        'wrapping data keys must stay in masterKeys until they are rewrapped)',
    );
  }
  return key;
}

// JSON of an array: unambiguous framing of ids that may contain any character.
function wrapAad(keyId: string, citizenId: string): Buffer {
  return Buffer.from(JSON.stringify(['vigie-vault/data-key', VAULT_FORMAT_VERSION, keyId, citizenId]), 'utf8');
}

function documentAad(aad: DocumentAad): Buffer {
  return Buffer.from(
    JSON.stringify(['vigie-vault/document', VAULT_FORMAT_VERSION, aad.citizenId, aad.documentId]),
    'utf8',
  );
}

function seal(key: KeyObject, plaintext: Uint8Array, aad: Buffer): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(VAULT_FORMAT_VERSION), iv, body, cipher.getAuthTag()]);
}

function open(key: KeyObject, blob: Uint8Array, aad: Buffer, what: string): Buffer {
  const bytes = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (bytes.length < BLOB_OVERHEAD_BYTES || bytes[0] !== VAULT_FORMAT_VERSION) {
    throw new AppError('ERR_VAULT_TAMPERED', `${what}: failed authentication (truncated or unknown format version)`);
  }
  const iv = bytes.subarray(1, 1 + IV_BYTES);
  const tag = bytes.subarray(bytes.length - TAG_BYTES);
  const body = bytes.subarray(1 + IV_BYTES, bytes.length - TAG_BYTES);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch (cause) {
    throw new AppError(
      'ERR_VAULT_TAMPERED',
      `${what}: failed authentication (altered bytes, wrong key or bound to another citizen/document)`,
      { cause },
    );
  }
}

/** Wraps a citizen's data key under the current master key, bound to `citizenId`. */
export function wrapDataKey(keyring: MasterKeyring, dataKey: KeyObject, citizenId: string): WrappedDataKey {
  const raw = dataKey.export();
  try {
    const keyId = keyring.current;
    return { keyId, wrapped: seal(masterKey(keyring, keyId), raw, wrapAad(keyId, citizenId)) };
  } finally {
    raw.fill(0);
  }
}

/** Unwraps a data key; `ERR_VAULT_KEY_UNKNOWN` when its master key is gone, `ERR_VAULT_TAMPERED` when it fails. */
export function unwrapDataKey(keyring: MasterKeyring, wrapped: WrappedDataKey, citizenId: string): KeyObject {
  const key = masterKey(keyring, wrapped.keyId);
  const raw = open(key, wrapped.wrapped, wrapAad(wrapped.keyId, citizenId), `data key of citizen ${citizenId}`);
  if (raw.length !== KEY_BYTES) {
    raw.fill(0);
    throw new AppError('ERR_VAULT_TAMPERED', `data key of citizen ${citizenId}: ${raw.length} bytes (32 expected)`);
  }
  const dataKey = createSecretKey(raw);
  raw.fill(0);
  return dataKey;
}

/** Rewraps a data key under the current master key (rotation); returns the input unchanged when already current. */
export function rewrapDataKey(keyring: MasterKeyring, wrapped: WrappedDataKey, citizenId: string): WrappedDataKey {
  if (wrapped.keyId === keyring.current) return wrapped;
  return wrapDataKey(keyring, unwrapDataKey(keyring, wrapped, citizenId), citizenId);
}

/** Encrypts one document: `version ‖ IV ‖ ciphertext ‖ tag`, bound to its citizen and document ids. */
export function encryptDocument(dataKey: KeyObject, plaintext: Uint8Array, aad: DocumentAad): Buffer {
  return seal(dataKey, plaintext, documentAad(aad));
}

/** Decrypts one document blob; throws `ERR_VAULT_TAMPERED` on any alteration, wrong key or wrong ids. */
export function decryptDocument(dataKey: KeyObject, blob: Uint8Array, aad: DocumentAad): Buffer {
  return open(dataKey, blob, documentAad(aad), `document ${aad.documentId}`);
}
