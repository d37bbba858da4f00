import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import type { AppError } from '../../core/errors.ts';
import {
  auditEventSchema,
  checkDocumentBytes,
  contentDisposition,
  DOCUMENT_TYPE_LABELS_FR,
  DOCUMENT_TYPES,
  detectContentType,
  sanitizeFileName,
} from './documents.ts';

const PDF = Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj\n');
const JPEG = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46]);
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]);

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (err) {
    return (err as AppError).code;
  }
  return undefined;
}

describe('vault documents', () => {
  it('labels every document type in French', () => {
    expect(DOCUMENT_TYPES.map((type) => DOCUMENT_TYPE_LABELS_FR[type])).toEqual([
      'Avis d’imposition',
      'Justificatif de domicile',
      'Acte de naissance',
      'Carte d’identité',
      'Autre document',
    ]);
  });

  it('reads the content type from the bytes when they start with a known signature', () => {
    expect(detectContentType(PDF)).toBe('application/pdf');
    expect(detectContentType(JPEG)).toBe('image/jpeg');
    expect(detectContentType(PNG)).toBe('image/png');
    for (const bytes of [
      Buffer.alloc(0),
      Buffer.from('%PDF'),
      Buffer.from(' %PDF-1.7'),
      Buffer.from('<html>'),
      PNG.subarray(0, 7),
    ]) {
      expect(detectContentType(bytes), bytes.toString('hex')).toBeUndefined();
    }
  });

  it('refuses an upload when it is too large, empty or of another type', () => {
    expect(checkDocumentBytes(PDF, 1024)).toBe('application/pdf');
    expect(checkDocumentBytes(PDF, PDF.length)).toBe('application/pdf');
    expect(codeOf(() => checkDocumentBytes(PDF, PDF.length - 1))).toBe('ERR_VAULT_DOCUMENT_TOO_LARGE');
    expect(codeOf(() => checkDocumentBytes(Buffer.alloc(0), 1024))).toBe('ERR_VAULT_DOCUMENT_UNSUPPORTED');
    expect(codeOf(() => checkDocumentBytes(Buffer.from('GIF89a'), 1024))).toBe('ERR_VAULT_DOCUMENT_UNSUPPORTED');
  });

  it('cleans file names when they carry paths, controls or the wrong extension', () => {
    const cases: [string, Parameters<typeof sanitizeFileName>[1], string][] = [
      ['avis-impot-2024.pdf', 'application/pdf', 'avis-impot-2024.pdf'],
      ['Avis d’imposition 2024.PDF', 'application/pdf', 'Avis d’imposition 2024.pdf'],
      ['../../etc/passwd', 'application/pdf', 'passwd.pdf'],
      ['C:\\Users\\marie\\acte.pdf', 'application/pdf', 'acte.pdf'],
      ['facture.pdf.exe', 'application/pdf', 'facture.pdf.exe.pdf'],
      ['photo\u202Egpj.exe', 'image/jpeg', 'photogpj.exe.jpg'],
      ['carte\r\n"identité".jpeg', 'image/jpeg', 'carteidentité.jpeg'],
      ['...', 'image/png', 'document.png'],
      ['', 'image/png', 'document.png'],
      ['  .hidden  ', 'image/png', 'hidden.png'],
      ['scan.jpg', 'image/png', 'scan.jpg.png'],
      ['e\u0301tat.pdf', 'application/pdf', 'état.pdf'],
    ];
    for (const [given, type, wanted] of cases) expect(sanitizeFileName(given, type), given).toBe(wanted);
  });

  test.prop([fc.string({ maxLength: 400 }), fc.constantFrom('application/pdf', 'image/jpeg', 'image/png' as const)])(
    'always gives a short, path-free name with the right extension when given any text',
    (name, type) => {
      const clean = sanitizeFileName(name, type);
      expect([...clean].length).toBeLessThanOrEqual(120);
      expect(clean).not.toMatch(/[/\\<>:"|?*\p{Cc}\p{Cf}]/u);
      expect(clean.startsWith('.')).toBe(false);
      expect(clean.toLowerCase()).toMatch(
        type === 'image/jpeg' ? /\.jpe?g$/ : type === 'image/png' ? /\.png$/ : /\.pdf$/,
      );
    },
  );

  it('writes an attachment header with an ASCII fallback and the UTF-8 name', () => {
    expect(contentDisposition('Carte d’identité.pdf')).toBe(
      `attachment; filename="Carte d_identite.pdf"; filename*=UTF-8''Carte%20d%E2%80%99identit%C3%A9.pdf`,
    );
    expect(contentDisposition("l'acte (copie).pdf")).toBe(
      `attachment; filename="l'acte (copie).pdf"; filename*=UTF-8''l%27acte%20%28copie%29.pdf`,
    );
  });
});

describe('vault audit events', () => {
  const event = {
    at: '2025-06-01T08:30:00.000Z',
    citizenId: '42',
    documentId: 'doc-7',
    action: 'share-download',
    actor: 'service:etat-civil',
    outcome: 'allowed',
  };

  it('accepts each actor form when it is well formed', () => {
    for (const actor of ['owner', 'citizen:43', 'service:etat-civil', 'operator:marie.dupont']) {
      expect(auditEventSchema.safeParse({ ...event, actor }).success, actor).toBe(true);
    }
    for (const actor of ['service:', 'service:Etat Civil', 'admin', 'operator:', 'citizen:4 2']) {
      expect(auditEventSchema.safeParse({ ...event, actor }).success, actor).toBe(false);
    }
  });

  it('requires a reason when the outcome is not allowed, and none when it is', () => {
    expect(auditEventSchema.safeParse({ ...event, outcome: 'denied' }).success).toBe(false);
    expect(auditEventSchema.safeParse({ ...event, outcome: 'denied', reason: 'expired' }).success).toBe(true);
    expect(auditEventSchema.safeParse({ ...event, reason: 'expired' }).success).toBe(false);
    expect(auditEventSchema.safeParse({ ...event, outcome: 'denied', reason: 'because' }).success).toBe(false);
  });

  it('records a denied attempt when no document id is known', () => {
    const { documentId: _, ...withoutDocument } = event;
    const denied = {
      ...withoutDocument,
      action: 'denied',
      actor: 'citizen:43',
      outcome: 'denied',
      reason: 'not-owner',
    };
    expect(auditEventSchema.parse(denied)).toEqual(denied);
    expect(auditEventSchema.safeParse({ ...denied, outcome: 'allowed', reason: undefined }).success).toBe(false);
  });
});
