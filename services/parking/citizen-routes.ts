import type { FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { CitizenPlugin } from '../http/citizen.ts';
import { CITIZEN_SECURITY, errorResponses } from '../http/server.ts';
import { type ParkingConfig, parkingConfigSchema, receiptLinkKey } from './config.ts';
import { receiptUrl } from './reference.ts';
import { createParkingStore, SESSION_STATUSES } from './store.ts';

/**
 * A driver's own parking receipts, in the citizen account's scope (services/http/citizen.ts): the SMS sessions paid
 * from the phone number the citizen signed in with — the proof of payment people want to find again — newest first,
 * each with its verification link (the same as in the SMS). A citizen signed in by email has none to show.
 */

const tags = ['my parking'];
const IsoTimestamp = z.iso.datetime({ offset: true });

const MyParking = z.object({
  sessions: z.array(
    z.object({
      reference: z.string(),
      plate: z.string().nullable(),
      zone: z.string(),
      startsAt: IsoTimestamp,
      endsAt: IsoTimestamp,
      paidMinutes: z.number().int(),
      amountCents: z.number().int().describe('Charged less refunded, euro cents'),
      status: z.enum(SESSION_STATUSES),
      receiptUrl: z.string().describe('The verification link of the receipt'),
    }),
  ),
});

/** The citizen's own parking routes (`GET /api/me/parking`). */
export function parkingCitizenRoutes(deps: {
  readonly store: SqlStore;
  readonly config?: ParkingConfig;
  readonly clock?: Clock;
  /** Base of the receipt links (the HTTP server's public URL). */
  readonly publicUrl: string;
}): CitizenPlugin {
  const config = deps.config ?? parkingConfigSchema.parse({});
  const sessions = createParkingStore(deps.store);
  const linkKey = receiptLinkKey(config);
  const clock = deps.clock ?? SYSTEM_CLOCK;

  return async (parent: FastifyInstance, auth) => {
    const app = parent.withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.get(
      '/api/me/parking',
      {
        onRequest: auth.session,
        schema: {
          security: CITIZEN_SECURITY,
          tags,
          summary: 'My parking receipts: the sessions paid by SMS from my phone, newest first (at most 100)',
          response: { 200: MyParking, ...errorResponses(401) },
        },
      },
      async (request) => {
        const citizen = auth.citizen(request);
        if (citizen.channel !== 'sms') return { sessions: [] };
        const nowMs = clock.nowMs();
        const list = await sessions.list({ phone: citizen.address, source: 'sms', limit: 100 });
        return {
          sessions: list.map((s) => ({
            reference: s.reference,
            plate: s.plate,
            zone: s.zone,
            startsAt: new Date(s.startMs).toISOString(),
            endsAt: new Date(s.endMs).toISOString(),
            paidMinutes: s.paidMinutes,
            amountCents: s.amountCents,
            status: s.status === 'running' && s.endMs <= nowMs ? 'expired' : s.status,
            receiptUrl: receiptUrl(deps.publicUrl, s.reference, linkKey),
          })),
        };
      },
    );
  };
}
