/**
 * What the vault stores about a document, apart from its bytes: its type, its content type (read from the bytes,
 * never from the upload's claim), a file name safe to show and to put in a header, and the audit event every access
 * leaves behind (allowed or not).
 */
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';
import { serviceNameSchema } from './share-link.ts';

/** The kinds of administrative document a citizen keeps. */
export const DOCUMENT_TYPES = [
  'tax-notice',
  'proof-of-address',
  'birth-certificate',
  'identity-card',
  'other',
] as const;
/** One document type. */
export const documentTypeSchema = z.enum(DOCUMENT_TYPES);
/** One document type. */
export type DocumentType = z.output<typeof documentTypeSchema>;

/** The French names citizens see. */
export const DOCUMENT_TYPE_LABELS_FR: Readonly<Record<DocumentType, string>> = {
  'tax-notice': 'Avis d’imposition',
  'proof-of-address': 'Justificatif de domicile',
  'birth-certificate': 'Acte de naissance',
  'identity-card': 'Carte d’identité',
  other: 'Autre document',
};

/** Content types the vault accepts, each recognised by its first bytes. */
export const DOCUMENT_CONTENT_TYPES = ['application/pdf', 'image/jpeg', 'image/png'] as const;
/** One accepted content type. */
export type DocumentContentType = (typeof DOCUMENT_CONTENT_TYPES)[number];

const EXTENSIONS: Readonly<Record<DocumentContentType, readonly string[]>> = {
  'application/pdf': ['.pdf'],
  'image/jpeg': ['.jpg', '.jpeg'],
  'image/png': ['.png'],
};

const startsWith = (bytes: Uint8Array, signature: readonly number[]) =>
  bytes.length >= signature.length && signature.every((byte, index) => bytes[index] === byte);

/**
 * The content type the bytes carry, or undefined: `%PDF-` (ISO 32000-1 §7.5.2, required at offset 0 here although
 * readers tolerate junk before it), JPEG SOI + marker `FF D8 FF`, PNG's 8-byte signature (RFC 2083 §3.1).
 */
export function detectContentType(bytes: Uint8Array): DocumentContentType | undefined {
  if (startsWith(bytes, [0x25, 0x50, 0x44, 0x46, 0x2d])) return 'application/pdf';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  return undefined;
}

/** Checks an upload's size and type; throws `ERR_VAULT_DOCUMENT_TOO_LARGE` (413) or `ERR_VAULT_DOCUMENT_UNSUPPORTED` (415). */
export function checkDocumentBytes(bytes: Uint8Array, maxDocumentBytes: number): DocumentContentType {
  if (bytes.length > maxDocumentBytes) {
    throw new AppError(
      'ERR_VAULT_DOCUMENT_TOO_LARGE',
      `document size: ${bytes.length} bytes (at most ${maxDocumentBytes} bytes)`,
    );
  }
  const contentType = detectContentType(bytes);
  if (contentType === undefined) {
    const head = Buffer.from(bytes.subarray(0, 8)).toString('hex');
    throw new AppError(
      'ERR_VAULT_DOCUMENT_UNSUPPORTED',
      `document type: ${bytes.length === 0 ? 'empty file' : `bytes ${head}…`} (a PDF, JPEG or PNG file)`,
    );
  }
  return contentType;
}

const FILE_NAME_MAX_CHARS = 120;
// Control characters, the characters Windows forbids, and bidi/format controls that disguise an extension.
const UNSAFE_CHARS = /[\p{Cc}\p{Cf}<>:"/\\|?*]/gu;

/**
 * A file name safe to store, display and send back: the last path segment only, NFC, no control or bidi characters,
 * no leading dots, at most 120 characters, and the extension of the actual content type (`.pdf`, `.jpg`/`.jpeg`,
 * `.png`) — added when the given one does not match. Empty after cleaning: `document`.
 */
export function sanitizeFileName(name: string, contentType: DocumentContentType): string {
  const lastSegment = name.split(/[/\\]/).pop() ?? '';
  let clean = lastSegment.normalize('NFC').replace(UNSAFE_CHARS, '').replace(/\s+/g, ' ').trim();
  clean = clean.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  const allowed = EXTENSIONS[contentType];
  const lower = clean.toLowerCase();
  const ext = allowed.find((candidate) => lower.endsWith(candidate)) ?? allowed[0] ?? '';
  let stem = allowed.some((candidate) => lower.endsWith(candidate)) ? clean.slice(0, clean.length - ext.length) : clean;
  stem = stem.replace(/[.\s]+$/, '');
  if (stem === '') stem = 'document';
  const stemChars = [...stem].slice(0, FILE_NAME_MAX_CHARS - ext.length).join('');
  return `${stemChars.replace(/[.\s]+$/, '') || 'document'}${ext}`;
}

/** A `Content-Disposition: attachment` value for a sanitised name (RFC 6266 §4.3, RFC 8187 `filename*`). */
export function contentDisposition(fileName: string): string {
  const ascii = fileName
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^\x20-\x7e]/g, '_')
    .replace(/["\\%]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * What an audit event records: `list` the owner's listing (of documents, or of a document's links), `share` a link
 * made, `revoke` a link revoked, `share-download` a city service opening a link. `denied` is an attempt refused
 * before its action was known (e.g. a malformed link).
 */
export const AUDIT_ACTIONS = [
  'upload',
  'list',
  'download',
  'share',
  'revoke',
  'share-download',
  'delete',
  'account-delete',
  'denied',
] as const;
/** One audited action. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** How an audited attempt ended. */
export const AUDIT_OUTCOMES = ['allowed', 'denied', 'failed'] as const;
/** One outcome: `denied` refused by a rule, `failed` refused because the bytes or keys did not check out. */
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * Who acted: the owner, another signed-in citizen (always refused), a city service through a share link, a named
 * operator, or `anonymous` — whoever presented a link that did not verify (its claims are not trusted). The event's
 * `citizenId` is always the document's owner: the log is theirs.
 */
export const auditActorSchema = z.union([
  z.literal('owner'),
  z.literal('anonymous'),
  z.templateLiteral(['citizen:', z.string().regex(/^[A-Za-z0-9_-]{1,64}$/)]),
  z.templateLiteral(['service:', serviceNameSchema]),
  z.templateLiteral(['operator:', z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/)]),
]);
/** Who acted. */
export type AuditActor = z.output<typeof auditActorSchema>;

/**
 * Why an attempt was refused or failed; a bounded set so the log can be counted: another citizen's document, a
 * share link's refusal, a failed decryption, an unknown master key, a revoked link, a missing document, an upload
 * refused by its size, its type or the citizen's document limit.
 */
export const AUDIT_REASONS = [
  'not-owner',
  'not-found',
  'expired',
  'bad-signature',
  'malformed',
  'revoked',
  'wrong-service',
  'tampered',
  'key-unknown',
  'too-large',
  'unsupported',
  'limit',
] as const;
/** One reason. */
export type AuditReason = (typeof AUDIT_REASONS)[number];

/** One line of the append-only audit log: every access to a vault document, allowed or not. */
export const auditEventSchema = z
  .strictObject({
    at: z.iso.datetime({ offset: true }),
    citizenId: z.string().min(1).max(64),
    documentId: z.string().min(1).max(128).optional(),
    action: z.enum(AUDIT_ACTIONS),
    actor: auditActorSchema,
    outcome: z.enum(AUDIT_OUTCOMES),
    reason: z.enum(AUDIT_REASONS).optional(),
  })
  .superRefine((event, ctx) => {
    // A refusal without a reason cannot be investigated; a success with one is a bug in the caller.
    if ((event.outcome === 'allowed') !== (event.reason === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['reason'],
        message: `reason: ${event.reason ?? 'absent'} with outcome ${event.outcome} (required unless allowed)`,
      });
    }
    if (event.action === 'denied' && event.outcome !== 'denied') {
      ctx.addIssue({ code: 'custom', path: ['outcome'], message: 'outcome must be denied when action is denied' });
    }
  });
/** One audit event. */
export type AuditEvent = z.output<typeof auditEventSchema>;
