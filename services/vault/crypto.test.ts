import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { vaultConfigSchema } from './config.ts';
import {
  BLOB_OVERHEAD_BYTES,
  createMasterKeyring,
  decryptDocument,
  encryptDocument,
  IV_BYTES,
  newDataKey,
  rewrapDataKey,
  TAG_BYTES,
  unwrapDataKey,
  wrapDataKey,
} from './crypto.ts';

const KEY_A = randomBytes(32).toString('base64');
const KEY_B = randomBytes(32).toString('base64');
const AAD = { citizenId: '42', documentId: 'doc-1' };
const PLAINTEXT = Buffer.from('%PDF-1.7 avis d’imposition 2024 …');

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return err instanceof AppError ? err.code : `not an AppError: ${String(err)}`;
  }
  return undefined;
}

describe('vault crypto', () => {
  it('round-trips a document when key and ids match', () => {
    const dataKey = newDataKey();
    const blob = encryptDocument(dataKey, PLAINTEXT, AAD);
    expect(blob.length).toBe(PLAINTEXT.length + BLOB_OVERHEAD_BYTES);
    expect(blob[0]).toBe(1);
    expect(blob.includes(Buffer.from('imposition'))).toBe(false);
    expect(decryptDocument(dataKey, blob, AAD).equals(PLAINTEXT)).toBe(true);
  });

  it('uses a fresh IV when the same document is encrypted twice', () => {
    const dataKey = newDataKey();
    const one = encryptDocument(dataKey, PLAINTEXT, AAD);
    const two = encryptDocument(dataKey, PLAINTEXT, AAD);
    expect(one.subarray(1, 1 + IV_BYTES).equals(two.subarray(1, 1 + IV_BYTES))).toBe(false);
    expect(one.equals(two)).toBe(false);
  });

  it('detects tampering when any bit of any region is flipped', () => {
    const dataKey = newDataKey();
    const blob = encryptDocument(dataKey, PLAINTEXT, AAD);
    const regions = {
      version: [0],
      iv: [1, IV_BYTES],
      ciphertext: [1 + IV_BYTES, 1 + IV_BYTES + Math.floor(PLAINTEXT.length / 2), blob.length - TAG_BYTES - 1],
      tag: [blob.length - TAG_BYTES, blob.length - 1],
    };
    for (const [region, offsets] of Object.entries(regions)) {
      for (const offset of offsets) {
        for (let bit = 0; bit < 8; bit += 1) {
          const tampered = Buffer.from(blob);
          tampered[offset] = (tampered[offset] as number) ^ (1 << bit);
          expect(
            codeOf(() => decryptDocument(dataKey, tampered, AAD)),
            `${region} byte ${offset} bit ${bit}`,
          ).toBe('ERR_VAULT_TAMPERED');
        }
      }
    }
  });

  it('detects tampering when every single byte is altered', () => {
    const dataKey = newDataKey();
    const blob = encryptDocument(dataKey, PLAINTEXT, AAD);
    for (let offset = 0; offset < blob.length; offset += 1) {
      const tampered = Buffer.from(blob);
      tampered[offset] = (tampered[offset] as number) ^ 0xff;
      expect(
        codeOf(() => decryptDocument(dataKey, tampered, AAD)),
        `byte ${offset}`,
      ).toBe('ERR_VAULT_TAMPERED');
    }
  });

  it('refuses a blob when it is truncated or extended', () => {
    const dataKey = newDataKey();
    const blob = encryptDocument(dataKey, PLAINTEXT, AAD);
    for (const length of [0, 1, BLOB_OVERHEAD_BYTES - 1, BLOB_OVERHEAD_BYTES, blob.length - 1]) {
      expect(
        codeOf(() => decryptDocument(dataKey, blob.subarray(0, length), AAD)),
        `length ${length}`,
      ).toBe('ERR_VAULT_TAMPERED');
    }
    expect(codeOf(() => decryptDocument(dataKey, Buffer.concat([blob, Buffer.of(0)]), AAD))).toBe('ERR_VAULT_TAMPERED');
  });

  it('refuses a document when the key, the citizen or the document id is wrong', () => {
    const dataKey = newDataKey();
    const blob = encryptDocument(dataKey, PLAINTEXT, AAD);
    expect(codeOf(() => decryptDocument(newDataKey(), blob, AAD))).toBe('ERR_VAULT_TAMPERED');
    expect(codeOf(() => decryptDocument(dataKey, blob, { ...AAD, citizenId: '43' }))).toBe('ERR_VAULT_TAMPERED');
    expect(codeOf(() => decryptDocument(dataKey, blob, { ...AAD, documentId: 'doc-2' }))).toBe('ERR_VAULT_TAMPERED');
  });

  it('refuses swapped ciphertexts when two documents exchange blobs', () => {
    const dataKey = newDataKey();
    const one = encryptDocument(dataKey, Buffer.from('one'), { citizenId: '42', documentId: 'a' });
    const two = encryptDocument(dataKey, Buffer.from('two'), { citizenId: '42', documentId: 'b' });
    expect(codeOf(() => decryptDocument(dataKey, two, { citizenId: '42', documentId: 'a' }))).toBe(
      'ERR_VAULT_TAMPERED',
    );
    expect(codeOf(() => decryptDocument(dataKey, one, { citizenId: '42', documentId: 'b' }))).toBe(
      'ERR_VAULT_TAMPERED',
    );
  });

  it('keeps ids apart when they contain the separator characters', () => {
    const dataKey = newDataKey();
    const blob = encryptDocument(dataKey, PLAINTEXT, { citizenId: '4","2', documentId: 'x' });
    expect(codeOf(() => decryptDocument(dataKey, blob, { citizenId: '4', documentId: '2","x' }))).toBe(
      'ERR_VAULT_TAMPERED',
    );
  });

  test.prop([fc.uint8Array({ maxLength: 4096 }), fc.string(), fc.string()])(
    'round-trips any bytes when key and ids match',
    (bytes, citizenId, documentId) => {
      const dataKey = newDataKey();
      const blob = encryptDocument(dataKey, bytes, { citizenId, documentId });
      expect(new Uint8Array(decryptDocument(dataKey, blob, { citizenId, documentId }))).toEqual(bytes);
    },
  );
});

describe('vault keyring', () => {
  it('parses ids and keys when masterKeys is well formed, first one current', () => {
    const keyring = createMasterKeyring(` k2:${KEY_B} , k1:${KEY_A}`);
    expect(keyring.current).toBe('k2');
    expect([...keyring.keys.keys()]).toEqual(['k2', 'k1']);
    expect(keyring.keys.get('k1')?.export().toString('base64')).toBe(KEY_A);
  });

  it('rejects masterKeys without quoting the key when it is malformed', () => {
    const short = randomBytes(16).toString('base64');
    const cases = ['', 'k1', `k1:${short}`, `k1:${KEY_A},k1:${KEY_B}`, `bad id:${KEY_A}`, `k1:${KEY_A}!`, `:${KEY_A}`];
    for (const text of cases) {
      let error: unknown;
      try {
        createMasterKeyring(text);
      } catch (err) {
        error = err;
      }
      expect(error, text).toBeInstanceOf(AppError);
      expect((error as AppError).code).toBe('ERR_VAULT_KEY_INVALID');
      expect((error as AppError).message).not.toContain(short);
      expect((error as AppError).message).not.toContain(KEY_A);
    }
  });

  it('never prints key bytes when a keyring or data key is inspected', () => {
    const keyring = createMasterKeyring(`k1:${KEY_A}`);
    const dataKey = newDataKey();
    const shown = inspect({ keyring, dataKey }, { depth: 10 });
    expect(shown).not.toContain(KEY_A);
    expect(shown).not.toContain(Buffer.from(KEY_A, 'base64').toString('hex'));
    expect(shown).not.toContain(dataKey.export().toString('hex'));
  });

  it('unwraps the same data key when the citizen matches', () => {
    const keyring = createMasterKeyring(`k1:${KEY_A}`);
    const dataKey = newDataKey();
    const wrapped = wrapDataKey(keyring, dataKey, '42');
    expect(wrapped.keyId).toBe('k1');
    expect(wrapped.wrapped.length).toBe(32 + BLOB_OVERHEAD_BYTES);
    expect(wrapped.wrapped.includes(dataKey.export())).toBe(false);
    expect(unwrapDataKey(keyring, wrapped, '42').export().equals(dataKey.export())).toBe(true);
  });

  it('refuses a wrapped key when it is moved to another citizen, altered or under another master key', () => {
    const keyring = createMasterKeyring(`k1:${KEY_A}`);
    const wrapped = wrapDataKey(keyring, newDataKey(), '42');
    expect(codeOf(() => unwrapDataKey(keyring, wrapped, '43'))).toBe('ERR_VAULT_TAMPERED');
    const altered = Buffer.from(wrapped.wrapped);
    altered[20] = (altered[20] as number) ^ 1;
    expect(codeOf(() => unwrapDataKey(keyring, { ...wrapped, wrapped: altered }, '42'))).toBe('ERR_VAULT_TAMPERED');
    const other = createMasterKeyring(`k1:${KEY_B}`);
    expect(codeOf(() => unwrapDataKey(other, wrapped, '42'))).toBe('ERR_VAULT_TAMPERED');
  });

  it('still decrypts after rotation when the data key is rewrapped under the new master key', () => {
    const before = createMasterKeyring(`k1:${KEY_A}`);
    const dataKey = newDataKey();
    const wrapped = wrapDataKey(before, dataKey, '42');
    const blob = encryptDocument(dataKey, PLAINTEXT, AAD);

    // 1. Rotation: k2 becomes current, k1 stays to unwrap.
    const rotating = createMasterKeyring(`k2:${KEY_B},k1:${KEY_A}`);
    const rewrapped = rewrapDataKey(rotating, wrapped, '42');
    expect(rewrapped.keyId).toBe('k2');
    expect(rewrapDataKey(rotating, rewrapped, '42')).toBe(rewrapped);

    // 2. Once everything is rewrapped, k1 is removed: the rewrapped key still opens the document.
    const after = createMasterKeyring(`k2:${KEY_B}`);
    const unwrapped = unwrapDataKey(after, rewrapped, '42');
    expect(decryptDocument(unwrapped, blob, AAD).equals(PLAINTEXT)).toBe(true);

    // 3. A key still wrapped under the removed k1 fails clearly.
    expect(codeOf(() => unwrapDataKey(after, wrapped, '42'))).toBe('ERR_VAULT_KEY_UNKNOWN');
    expect(codeOf(() => rewrapDataKey(after, wrapped, '42'))).toBe('ERR_VAULT_KEY_UNKNOWN');
  });
});

describe('vault config', () => {
  it('applies the defaults when nothing is set', () => {
    expect(vaultConfigSchema.parse({})).toEqual({
      maxDocumentBytes: 10 * 1024 * 1024,
      maxDocumentsPerCitizen: 100,
      shareLinkMaxTtlSeconds: 7 * 86_400,
      shareLinkDefaultTtlSeconds: 86_400,
      sharedOpensPerHourPerIp: 60,
    });
  });

  it('reads environment strings and rejects bad values naming the key', () => {
    const parsed = vaultConfigSchema.parse({ masterKeys: `k1:${KEY_A}`, maxDocumentBytes: '1048576' });
    expect(parsed.maxDocumentBytes).toBe(1_048_576);
    expect(createMasterKeyring(parsed.masterKeys ?? '').current).toBe('k1');
    const result = vaultConfigSchema.safeParse({ masterKeys: 'k1:c2hvcnQ=', maxDocumentBytes: 1, typo: 1 });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((issue) => issue.path.join('.') || issue.message);
    expect(paths).toEqual(expect.arrayContaining(['masterKeys', 'maxDocumentBytes']));
    expect(JSON.stringify(result.error?.issues)).toContain('typo');
    expect(JSON.stringify(result.error?.issues)).not.toContain('c2hvcnQ=');
  });

  it('rejects a default share ttl when it exceeds the maximum, naming both keys', () => {
    const result = vaultConfigSchema.safeParse({ shareLinkMaxTtlSeconds: 3600, shareLinkDefaultTtlSeconds: 7200 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toMatch(/shareLinkDefaultTtlSeconds.*shareLinkMaxTtlSeconds/);
  });

  it('marks masterKeys secret and describes every key when the schema is documented', () => {
    for (const [key, schema] of Object.entries(vaultConfigSchema.shape)) {
      expect(schema.description, key).toBeTruthy();
    }
    expect(JSON.stringify(vaultConfigSchema.shape.masterKeys.unwrap().meta())).toContain('"secret":true');
  });
});
