import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { maskRecipient } from '../../core/logging.ts';
import { toE164 } from '../../core/phone.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { roleAllows } from '../http/auth.ts';
import { BEARER_SECURITY, errorResponses, type HttpPlugin } from '../http/server.ts';
import { availabilityRoutes } from './availability.ts';
import { Invoice, InvoiceNumber } from './billing.ts';
import { createMobilityStore, type MobilityAccount } from './store.ts';
import { AccountId } from './usage.ts';

/**
 * The mobility account's operator API (bearer tokens, services/http/auth.ts): viewers read an account, its invoices
 * and one invoice (the holder's email and phone masked below `operator`); operators close an account (409
 * ERR_MOBILITY_ACCOUNT_CLOSED the second time); admins create accounts. Beside them, the
 * public availability map (`GET /api/mobility/availability`, availability.ts). A citizen's own accounts and invoices
 * are in the citizen account's scope (citizen-routes.ts).
 */

const TAG = 'mobility';
const IsoTimestamp = z.iso.datetime({ offset: true });
const EMAIL_STATES = ['pending', 'sending', 'queued', 'failed', 'none'] as const;

/** A mobility account as the API shows it. */
export const MobilityAccountSchema = z
  .object({
    accountId: z.string(),
    name: z.string(),
    email: z.string().describe('Masked for viewer tokens'),
    phone: z.string().nullable().describe('E.164; masked for viewer tokens'),
    locale: z.enum(['fr', 'en']),
    status: z.enum(['active', 'closed']),
    createdAt: IsoTimestamp,
    createdBy: z.string().describe('The token that created it'),
    closedAt: IsoTimestamp.nullable().describe('When it was closed; null while active'),
    closedBy: z.string().nullable().describe('The token that closed it, or citizen (the holder); null while active'),
    closeReason: z.string().nullable().describe('Why, as given when closing'),
  })
  .meta({ id: 'MobilityAccount' });

/** The optional body of a close: why (kept with the account). */
export const CloseAccountBody = z
  .strictObject({
    reason: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'printable characters only')
      .optional()
      .describe('Why the account is closed (1–500 characters)'),
  })
  .nullish()
  .describe('Optional: a POST with no body is fine (fastify gives null)');

const EmailState = z
  .enum(EMAIL_STATES)
  .describe('The invoice email: pending/sending, queued on notifications.v1, failed, or none (nothing used)');

/** An invoice as the API shows it: the stored invoice, when it was issued, and its email. */
export const MobilityInvoiceSchema = Invoice.extend({ issuedAt: IsoTimestamp, email: EmailState }).meta({
  id: 'MobilityInvoice',
});

const InvoiceList = z
  .object({
    accountId: z.string(),
    invoices: z.array(
      z.object({
        invoiceNumber: z.string(),
        month: z.string().describe('YYYY-MM, local'),
        totalCents: z.number().int(),
        issuedAt: IsoTimestamp,
        email: EmailState,
      }),
    ),
  })
  .meta({ id: 'MobilityInvoiceList' });

const NewAccountBody = z.strictObject({
  accountId: AccountId.optional().describe('The id usage events carry; absent: acc-<12 hex digits>'),
  name: z
    .string()
    .trim()
    .min(1)
    .max(120)
    .regex(/^[^\p{Cc}\p{Cf}]*$/u, 'printable characters only')
    .describe('The holder’s name'),
  email: z.email().max(254).describe('Where invoices are emailed'),
  phone: z
    .string()
    .max(32)
    .transform((v, ctx) => {
      const e164 = toE164(v);
      if (!e164) ctx.addIssue({ code: 'custom', message: 'an E.164 phone number (+33612345678) or a French one' });
      return e164 ?? v;
    })
    .optional()
    .describe('Optional phone, stored E.164'),
  locale: z.enum(['fr', 'en']).default('fr').describe('Language of the invoice email'),
});

const AccountParams = z.strictObject({ id: AccountId });
const InvoiceParams = z.strictObject({ number: InvoiceNumber });
const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(240).default(24).describe('Most invoices, newest month first (1–240)'),
});

/** What the routes need. */
export interface MobilityRoutesDeps {
  readonly store: SqlStore;
  readonly clock?: Clock | undefined;
  /** The public availability map's limit, requests per minute per IP address (default 60). */
  readonly availabilityPerMinutePerIp?: number | undefined;
}

/** The mobility routes, as a fastify plugin for `startHttp({ plugins })`. */
export function mobilityRoutes(deps: MobilityRoutesDeps): HttpPlugin {
  const mobility = createMobilityStore(deps.store, { clock: deps.clock ?? SYSTEM_CLOCK });

  const show = (a: MobilityAccount, request: FastifyRequest) => {
    const full = request.operator !== null && roleAllows(request.operator.role, 'operator');
    return full ? a : { ...a, email: maskRecipient(a.email), phone: a.phone === null ? null : maskRecipient(a.phone) };
  };
  const mustAccount = async (id: string) => {
    const account = await mobility.account(id);
    if (!account) throw new AppError('ERR_MOBILITY_ACCOUNT_NOT_FOUND', `account: ${id} (an existing account id)`);
    return account;
  };

  return async (app) => {
    const viewer = app.authorize('viewer');
    // The residents' availability map: public, rate-limited in its own scope (availability.ts).
    await app.register(
      availabilityRoutes({ store: deps.store, requestsPerMinutePerIp: deps.availabilityPerMinutePerIp }),
    );

    app.post(
      '/api/mobility/accounts',
      {
        onRequest: app.authorize('admin'),
        schema: {
          tags: [TAG],
          summary: 'Create a mobility account',
          description:
            'Opens an account (active) that usage events on mobility-usage.v1 name by accountId; it is billed each ' +
            'month from then on. Admin. 409 when the id exists.',
          security: BEARER_SECURITY,
          body: NewAccountBody,
          response: { 201: MobilityAccountSchema, ...errorResponses(400, 401, 403, 409) },
        },
      },
      async (request, reply) => {
        const by = request.operator?.name;
        if (!by) throw new Error('mobility routes: an action without authorize()');
        const account = await mobility.createAccount({ ...request.body, email: request.body.email.toLowerCase(), by });
        request.log.info({ accountId: account.accountId, by }, 'mobility: account created');
        return reply.code(201).send(account);
      },
    );

    app.post(
      '/api/mobility/accounts/:id/close',
      {
        onRequest: app.authorize('operator'),
        schema: {
          tags: [TAG],
          summary: 'Close a mobility account',
          description:
            'Closes the account now, recording when, the token and the reason. Usage started from then on is refused ' +
            '(dead-lettered, ERR_MOBILITY_USAGE_AFTER_CLOSE); usage started before, however late it arrives, is ' +
            'billed. The month of the close is invoiced once, up to the close, at the next monthly run; no month ' +
            'after it. Operator. 409 ERR_MOBILITY_ACCOUNT_CLOSED when it is closed already.',
          security: BEARER_SECURITY,
          params: AccountParams,
          body: CloseAccountBody,
          response: { 200: MobilityAccountSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const by = request.operator?.name;
        if (!by) throw new Error('mobility routes: an action without authorize()');
        const account = await mobility.closeAccount(request.params.id, { by, reason: request.body?.reason });
        request.log.info({ accountId: account.accountId, by }, 'mobility: account closed');
        return account;
      },
    );

    app.get(
      '/api/mobility/accounts/:id',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'One mobility account',
          description:
            'The account, with its status (and when, by whom and why it was closed); its email and phone masked for ' +
            'viewer tokens. Viewer.',
          security: BEARER_SECURITY,
          params: AccountParams,
          response: { 200: MobilityAccountSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => show(await mustAccount(request.params.id), request),
    );

    app.get(
      '/api/mobility/accounts/:id/invoices',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'An account’s invoices',
          description: 'Its monthly invoices, newest month first (a month with no usage: total 0, no email). Viewer.',
          security: BEARER_SECURITY,
          params: AccountParams,
          querystring: ListQuery,
          response: { 200: InvoiceList, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const account = await mustAccount(request.params.id);
        return {
          accountId: account.accountId,
          invoices: await mobility.invoicesOf(account.accountId, request.query.limit),
        };
      },
    );

    app.get(
      '/api/mobility/invoices/:number',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'One invoice',
          description: 'The invoice as issued (lines, subtotals, caps applied, usage counts) and its email. Viewer.',
          security: BEARER_SECURITY,
          params: InvoiceParams,
          response: { 200: MobilityInvoiceSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const invoice = await mobility.invoice(request.params.number);
        if (!invoice) {
          throw new AppError('ERR_MOBILITY_INVOICE_NOT_FOUND', `invoice: ${request.params.number} (an issued invoice)`);
        }
        return invoice;
      },
    );
  };
}
