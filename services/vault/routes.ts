import multipart from '@fastify/multipart';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { CitizenPlugin } from '../http/citizen.ts';
import { useRateLimits } from '../http/rate-limit.ts';
import { CITIZEN_SECURITY, errorBody, errorResponses, type HttpPlugin } from '../http/server.ts';
import type { VaultConfig } from './config.ts';
import {
  AUDIT_ACTIONS,
  AUDIT_OUTCOMES,
  AUDIT_REASONS,
  contentDisposition,
  DOCUMENT_CONTENT_TYPES,
  DOCUMENT_TYPE_LABELS_FR,
  documentTypeSchema,
} from './documents.ts';
import { serviceNameSchema } from './share-link.ts';
import { createVaultStore, MAX_AUDIT_PAGE, type OpenedDocument, type VaultShare, type VaultStore } from './store.ts';

/**
 * The document vault's HTTP routes (issue 8).
 *
 * Citizen ({@link vaultCitizenRoutes}, in the citizen account's scope: its session cookie, and its CSRF token on
 * every POST and DELETE): `/api/me/documents` — upload (multipart: `type` and one file `file`, ≤ `maxDocumentBytes`,
 * PDF/JPEG/PNG by its bytes), list, download, delete, share with a city service (a link for `ttlSeconds`), list and
 * revoke links — and `GET /api/me/audit`, the citizen's own log. Another citizen's document and a missing one answer
 * the same 404 (ERR_VAULT_DOCUMENT_NOT_FOUND); the attempt is in the owner's log.
 *
 * Public ({@link vaultSharedRoutes}): `GET /api/vault/shared/<token>`, a city service opening a link: the file, or
 * 404 ERR_VAULT_SHARE_NOT_FOUND (forged, malformed, unknown, its document deleted — nothing said about which),
 * 410 ERR_VAULT_SHARE_EXPIRED or ERR_VAULT_SHARE_REVOKED (an authentic link that no longer opens), 429 past
 * `sharedOpensPerHourPerIp` (counted in this process). Every answer is audited.
 */

const TAG = 'document vault';
const HOUR_MS = 3_600_000;
/** Room for the multipart framing and the `type` field around the file. */
const MULTIPART_OVERHEAD_BYTES = 64 * 1024;

/** What the vault's routes need. */
export interface VaultRoutesDeps {
  readonly store: SqlStore;
  /** The `vault` section (masterKeys required: ERR_VAULT_KEY_INVALID otherwise). */
  readonly config: VaultConfig;
  readonly clock?: Clock | undefined;
  readonly metrics?: Metrics | undefined;
  /** Base of the share links handed out (http.publicUrl); absent: the links are paths. */
  readonly publicUrl?: string | undefined;
  /** A vault store already made (createVault shares one); default: made from `store` and `config`. */
  readonly vault?: VaultStore | undefined;
}

const IsoTimestamp = z.iso.datetime({ offset: true });

/** A document as its owner sees it. */
export const VaultDocumentSchema = z
  .object({
    id: z.string().describe('UUID'),
    type: documentTypeSchema,
    typeLabel: z.string().describe('The type, in French'),
    fileName: z.string(),
    contentType: z.enum(DOCUMENT_CONTENT_TYPES).describe('Read from the bytes at upload'),
    sizeBytes: z.number().int(),
    createdAt: IsoTimestamp,
  })
  .meta({ id: 'VaultDocument' });

/** A share link as its owner sees it. */
export const VaultShareSchema = z
  .object({
    nonce: z.string().describe('Revokes the link: DELETE /api/me/documents/{id}/shares/{nonce}'),
    documentId: z.string(),
    service: z.string().describe('The city service it was made for'),
    createdAt: IsoTimestamp,
    expiresAt: IsoTimestamp,
    revokedAt: IsoTimestamp.nullable(),
  })
  .meta({ id: 'VaultShare' });

const IssuedShareSchema = VaultShareSchema.extend({
  token: z.string().describe('The link’s token (shown once)'),
  url: z.string().describe('What the city service opens: GET /api/vault/shared/{token}'),
}).meta({ id: 'VaultIssuedShare' });

const AuditEntrySchema = z
  .object({
    id: z.number().int().describe('Pages: pass the last one as `before`'),
    at: IsoTimestamp,
    citizenId: z.string().describe('The owner: you'),
    documentId: z.string().optional(),
    action: z.enum(AUDIT_ACTIONS),
    actor: z.string().describe('owner, citizen:<id> (refused), service:<name> (a share link), operator:<name>'),
    outcome: z.enum(AUDIT_OUTCOMES),
    reason: z.enum(AUDIT_REASONS).optional().describe('Why it was refused or failed'),
  })
  .meta({ id: 'VaultAuditEntry' });

const DocumentParams = z.strictObject({ id: z.string().min(1).max(64).describe('The document’s id') });

const ShareParams = z.strictObject({
  id: z.string().min(1).max(64).describe('The document’s id'),
  nonce: z.string().min(1).max(64).describe('The link’s nonce'),
});

const showDocument = (d: OpenedDocument['document']) => ({
  id: d.id,
  type: d.type,
  typeLabel: DOCUMENT_TYPE_LABELS_FR[d.type],
  fileName: d.fileName,
  contentType: d.contentType,
  sizeBytes: d.sizeBytes,
  createdAt: new Date(d.createdMs).toISOString(),
});

const showShare = (s: VaultShare) => ({
  nonce: s.nonce,
  documentId: s.documentId,
  service: s.service,
  createdAt: new Date(s.createdMs).toISOString(),
  expiresAt: new Date(s.expiresMs).toISOString(),
  revokedAt: s.revokedMs === null ? null : new Date(s.revokedMs).toISOString(),
});

/** Statuses the server's suffix mapping (services/http httpStatusOf) does not give these codes. */
const STATUS_OF: Readonly<Record<string, 410 | 415>> = {
  ERR_VAULT_DOCUMENT_UNSUPPORTED: 415,
  ERR_VAULT_SHARE_EXPIRED: 410,
  ERR_VAULT_SHARE_REVOKED: 410,
};

/** Runs `fn`; answers the vault errors whose status the server does not know itself, rethrows the others. */
async function answering<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (err) {
    const status = err instanceof AppError ? STATUS_OF[err.code] : undefined;
    if (status === undefined) throw err;
    const { code, message } = err as AppError;
    return reply.code(status).send(errorBody(code, message) as never);
  }
}

/** Sends a document's bytes as an attachment nobody caches, sniffs or renders in the API's origin. */
function sendFile(reply: FastifyReply, opened: OpenedDocument): FastifyReply {
  return reply
    .type(opened.document.contentType)
    .header('content-disposition', contentDisposition(opened.document.fileName))
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('referrer-policy', 'no-referrer')
    .send(opened.bytes as never);
}

function vaultOf(deps: VaultRoutesDeps): VaultStore {
  return deps.vault ?? createVaultStore(deps.store, { config: deps.config, metrics: deps.metrics });
}

/** The citizen's vault routes under `/api/me/…`, for `residentRoutes({ citizenPlugins })`. */
export function vaultCitizenRoutes(deps: VaultRoutesDeps): CitizenPlugin {
  const { config } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const vault = vaultOf(deps);
  const base = (deps.publicUrl ?? '').replace(/\/+$/, '');

  return async (parent, auth) => {
    const app = parent.withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(multipart, {
      limits: { fileSize: config.maxDocumentBytes, files: 1, fields: 4, fieldSize: 1024, parts: 5 },
    });
    const citizenId = (request: FastifyRequest) => auth.citizen(request).id;

    app.post(
      '/api/me/documents',
      {
        onRequest: auth.session,
        bodyLimit: config.maxDocumentBytes + MULTIPART_OVERHEAD_BYTES,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'Put a document in my vault',
          description:
            'multipart/form-data with `type` (tax-notice, proof-of-address, birth-certificate, identity-card, ' +
            `other) and one file \`file\`: a PDF, JPEG or PNG (read from its bytes) of at most ${config.maxDocumentBytes} ` +
            'bytes. Encrypted at rest under your own key. ' +
            `At most ${config.maxDocumentsPerCitizen} documents (409 ERR_VAULT_LIMIT_CONFLICT).`,
          consumes: ['multipart/form-data'],
          response: { 201: VaultDocumentSchema, ...errorResponses(400, 401, 403, 409, 413, 415) },
        },
      },
      async (request, reply) => {
        const id = citizenId(request);
        if (!request.isMultipart()) {
          return reply
            .code(415)
            .send(
              errorBody(
                'ERR_HTTP_UNSUPPORTED_MEDIA_TYPE',
                `request: ${request.headers['content-type'] ?? 'no body type'} (multipart/form-data with a file field file)`,
              ),
            );
        }
        const fields: Record<string, string> = {};
        let file: { bytes: Buffer; fileName: string } | undefined;
        try {
          for await (const part of request.parts()) {
            if (part.type === 'file') {
              if (part.fieldname !== 'file' || file) {
                part.file.resume();
                return reply
                  .code(400)
                  .send(
                    errorBody(
                      'ERR_HTTP_VALIDATION',
                      `file field: ${part.fieldname.slice(0, 40)} (one file, named file)`,
                    ),
                  );
              }
              file = { bytes: await part.toBuffer(), fileName: part.filename ?? '' };
            } else {
              fields[part.fieldname] = String(part.value);
            }
          }
        } catch (err) {
          if ((err as { code?: string }).code === 'FST_REQ_FILE_TOO_LARGE') {
            await vault.refuseUpload(id, 'too-large', clock.nowMs());
            throw new AppError(
              'ERR_VAULT_DOCUMENT_TOO_LARGE',
              `document size: more than ${config.maxDocumentBytes} bytes (at most ${config.maxDocumentBytes} bytes)`,
            );
          }
          throw err;
        }
        const type = documentTypeSchema.safeParse(fields.type);
        if (!type.success || file === undefined) {
          const issues = [
            ...(type.success
              ? []
              : [{ path: 'body.type', message: `one of ${documentTypeSchema.options.join(', ')}` }]),
            ...(file === undefined ? [{ path: 'body.file', message: 'a file (PDF, JPEG or PNG)' }] : []),
          ];
          return reply
            .code(400)
            .send(
              errorBody(
                'ERR_HTTP_VALIDATION',
                `document: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
                issues,
              ),
            );
        }
        const upload = { type: type.data, fileName: file.fileName, bytes: file.bytes };
        return answering(reply, async () => {
          const document = await vault.upload(id, upload, clock.nowMs());
          return reply.code(201).send(showDocument(document));
        });
      },
    );

    app.get(
      '/api/me/documents',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'My documents, newest first',
          response: { 200: z.object({ documents: z.array(VaultDocumentSchema) }), ...errorResponses(401) },
        },
      },
      async (request) => ({
        documents: (await vault.list(citizenId(request), clock.nowMs())).map(showDocument),
      }),
    );

    app.get(
      '/api/me/documents/:id',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'Download one of my documents',
          description:
            'The file as uploaded (Content-Disposition: attachment; never cached). 404 for an id that is not one ' +
            'of yours; 500 ERR_VAULT_TAMPERED when the stored bytes fail their check (nothing is returned).',
          params: DocumentParams,
          response: errorResponses(401, 404, 500),
        },
      },
      async (request, reply) =>
        sendFile(reply, await vault.download(citizenId(request), request.params.id, clock.nowMs())),
    );

    app.delete(
      '/api/me/documents/:id',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'Delete one of my documents (and its share links)',
          params: DocumentParams,
          response: { 204: z.null(), ...errorResponses(401, 403, 404) },
        },
      },
      async (request, reply) => {
        await vault.remove(citizenId(request), request.params.id, clock.nowMs());
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/api/me/documents/:id/share',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'Share one of my documents with a city service through a time-limited link',
          description:
            `The link opens the document until it expires (ttlSeconds: 60 to ${config.shareLinkMaxTtlSeconds}, ` +
            `default ${config.shareLinkDefaultTtlSeconds}) or you revoke it. Every opening is in your audit log.`,
          params: DocumentParams,
          body: z.strictObject({
            service: serviceNameSchema.describe('The city service, e.g. etat-civil'),
            ttlSeconds: z.number().int().positive().optional().describe('Life of the link, in seconds'),
          }),
          response: { 201: IssuedShareSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const share = await vault.share(citizenId(request), request.params.id, request.body, clock.nowMs());
        return reply
          .code(201)
          .send({ ...showShare(share), token: share.token, url: `${base}/api/vault/shared/${share.token}` });
      },
    );

    app.get(
      '/api/me/documents/:id/shares',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'The share links of one of my documents not expired yet (revoked ones included)',
          params: DocumentParams,
          response: { 200: z.object({ shares: z.array(VaultShareSchema) }), ...errorResponses(401, 404) },
        },
      },
      async (request) => ({
        shares: (await vault.shares(citizenId(request), request.params.id, clock.nowMs())).map(showShare),
      }),
    );

    app.delete(
      '/api/me/documents/:id/shares/:nonce',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'Revoke a share link (it opens nothing from now on)',
          params: ShareParams,
          response: { 204: z.null(), ...errorResponses(401, 403, 404) },
        },
      },
      async (request, reply) => {
        await vault.revoke(citizenId(request), request.params.id, request.params.nonce, clock.nowMs());
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/api/me/audit',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags: [TAG],
          summary: 'My vault’s audit log: every access to my documents, allowed or not, newest first',
          querystring: z.strictObject({
            limit: z.coerce.number().int().min(1).max(MAX_AUDIT_PAGE).default(100),
            before: z.coerce.number().int().positive().optional().describe('Entries before this id (paging)'),
          }),
          response: { 200: z.object({ events: z.array(AuditEntrySchema) }), ...errorResponses(400, 401) },
        },
      },
      async (request) => ({
        events: await vault.auditLog(citizenId(request), {
          limit: request.query.limit,
          beforeId: request.query.before,
        }),
      }),
    );
  };
}

/** The public route a city service opens a share link with, for `startHttp({ plugins })`. */
export function vaultSharedRoutes(deps: VaultRoutesDeps): HttpPlugin {
  const { config } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const vault = vaultOf(deps);

  return async (app) => {
    await useRateLimits(app);
    // A wildcard, not `:token`: the router refuses a parameter over maxParamLength (100 characters by default)
    // with 414, and a token is about 250; a wildcard is not held to it (find-my-way).
    app.get(
      '/api/vault/shared/*',
      {
        config: {
          rateLimit: {
            max: config.sharedOpensPerHourPerIp,
            timeWindow: HOUR_MS,
            errorResponseBuilder: (_req: FastifyRequest, ctx: { max: number; after: string }) =>
              new AppError(
                'ERR_VAULT_RATE_LIMITED',
                `share links: more than ${ctx.max} opened from this address (try again in ${ctx.after})`,
              ),
          },
        },
        schema: {
          tags: [TAG],
          summary: 'Open a document shared with a city service (public, by its link)',
          description:
            'The document a citizen shared, as an attachment, while the link lives. 404 ERR_VAULT_SHARE_NOT_FOUND ' +
            'for a link the vault did not make, an altered one, or one whose document is deleted; 410 ' +
            'ERR_VAULT_SHARE_EXPIRED or ERR_VAULT_SHARE_REVOKED for an authentic link that no longer opens. ' +
            `Each opening is in the citizen’s audit log. At most ${config.sharedOpensPerHourPerIp} per hour per IP address.`,
          params: z.strictObject({ '*': z.string().max(2048).describe('The token: vs1.<keyId>.<claims>.<mac>') }),
          response: errorResponses(404, 410, 429, 500),
        },
      },
      async (request, reply) =>
        answering(reply, async () => {
          const opened = await vault.openShared(request.params['*'], clock.nowMs());
          return sendFile(reply.header('x-document-type', opened.document.type), opened);
        }),
    );
  };
}
