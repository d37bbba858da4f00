import type { FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { Citizen, CitizenPlugin } from '../http/citizen.ts';
import { CITIZEN_SECURITY, errorResponses } from '../http/server.ts';
import { InvoiceNumber } from './billing.ts';
import { CloseAccountBody, MobilityAccountSchema, MobilityInvoiceSchema } from './routes.ts';
import { createMobilityStore, type MobilityAccount } from './store.ts';
import { AccountId } from './usage.ts';

/**
 * A citizen's own mobility accounts and invoices, in the citizen account's scope (services/http/citizen.ts): the
 * accounts whose phone (a citizen signed in by SMS) or email (signed in by email) is the citizen's — the sign-in
 * proved they hold it. `GET /api/me/mobility` lists them with their invoices; `GET /api/me/mobility/invoices/:number`
 * shows one of them; any other invoice, existing or not, is the same 404. `POST /api/me/mobility/accounts/:id/close`
 * closes one of them (recorded as closed by `citizen`; CSRF token required like every citizen POST); another's
 * account, existing or not, is the same 404; closed already, 409 ERR_MOBILITY_ACCOUNT_CLOSED.
 */

const tags = ['my mobility account'];

/** An account as its holder sees it: who closed it and why stay with the operators. */
const MyMobilityAccount = MobilityAccountSchema.omit({ closedBy: true, closeReason: true }).meta({
  id: 'MyMobilityAccount',
});

const MyMobility = z.object({
  accounts: z.array(MyMobilityAccount),
  invoices: z.array(
    z.object({
      accountId: z.string(),
      invoiceNumber: z.string(),
      month: z.string().describe('YYYY-MM, local'),
      totalCents: z.number().int(),
      issuedAt: z.iso.datetime({ offset: true }),
    }),
  ),
});

/** The citizen's own mobility routes. */
export function mobilityCitizenRoutes(deps: { readonly store: SqlStore; readonly clock?: Clock }): CitizenPlugin {
  const mobility = createMobilityStore(deps.store, { clock: deps.clock ?? SYSTEM_CLOCK });
  const accountsOf = (citizen: Citizen): Promise<MobilityAccount[]> =>
    citizen.channel === 'sms' ? mobility.accountsByPhone(citizen.address) : mobility.accountsByEmail(citizen.address);

  return async (parent: FastifyInstance, auth) => {
    const app = parent.withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);

    app.get(
      '/api/me/mobility',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags,
          summary: 'My mobility accounts and their invoices (newest month first)',
          response: { 200: MyMobility, ...errorResponses(401) },
        },
      },
      async (request) => {
        const accounts = await accountsOf(auth.citizen(request));
        const invoices = [];
        for (const a of accounts) {
          for (const i of await mobility.invoicesOf(a.accountId, 36)) {
            invoices.push({
              accountId: a.accountId,
              invoiceNumber: i.invoiceNumber,
              month: i.month,
              totalCents: i.totalCents,
              issuedAt: i.issuedAt,
            });
          }
        }
        invoices.sort((x, y) => y.month.localeCompare(x.month) || x.accountId.localeCompare(y.accountId));
        return { accounts, invoices };
      },
    );

    app.get(
      '/api/me/mobility/invoices/:number',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags,
          summary: 'One of my invoices, with its lines',
          params: z.strictObject({ number: InvoiceNumber }),
          response: { 200: MobilityInvoiceSchema, ...errorResponses(400, 401, 404) },
        },
      },
      async (request) => {
        const mine = new Set((await accountsOf(auth.citizen(request))).map((a) => a.accountId));
        const invoice = await mobility.invoice(request.params.number);
        if (!invoice || !mine.has(invoice.accountId)) {
          throw new AppError('ERR_MOBILITY_INVOICE_NOT_FOUND', `invoice: ${request.params.number} (one of yours)`);
        }
        return invoice;
      },
    );

    app.post(
      '/api/me/mobility/accounts/:id/close',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags,
          summary: 'Close one of my mobility accounts',
          description:
            'From now on nothing more is billed on it: its trips and sessions up to now are on the invoice of this ' +
            'month, issued on the 1st of the next one, and no invoice follows. Another account may be opened later. ' +
            '404 for an account that is not yours; 409 ERR_MOBILITY_ACCOUNT_CLOSED when it is closed already.',
          params: z.strictObject({ id: AccountId }),
          body: CloseAccountBody,
          response: { 200: MyMobilityAccount, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const mine = await accountsOf(auth.citizen(request));
        if (!mine.some((a) => a.accountId === id)) {
          throw new AppError('ERR_MOBILITY_ACCOUNT_NOT_FOUND', `account: ${id} (one of yours)`);
        }
        const account = await mobility.closeAccount(id, { by: 'citizen', reason: request.body?.reason });
        request.log.info({ accountId: account.accountId, by: 'citizen' }, 'mobility: account closed by its holder');
        return account;
      },
    );
  };
}
