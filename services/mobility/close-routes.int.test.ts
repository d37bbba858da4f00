import { describe, expect, it } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { createMemoryBus } from '../../core/bus/memory.ts';
import { ManualClock } from '../../core/clock.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { httpMigrations } from '../http/index.ts';
import { residentsMigrations } from '../residents/index.ts';
import { startResidentsServer } from '../residents/test-helpers.ts';
import { mobilityCitizenRoutes } from './citizen-routes.ts';
import { mobilityMigrations, mobilityRoutes } from './index.ts';
import { createAccount, mobilityOn } from './test-env.ts';

/** The accounts exist from 1 October; the operator closes one on the 10th at 10:00 (Paris), the holder at 11:00. */
const OPENED_MS = Date.parse('2026-10-01T08:00:00Z');
const OPERATOR_CLOSE_MS = Date.parse('2026-10-10T10:00:00+02:00');
const CITIZEN_CLOSE_MS = Date.parse('2026-10-10T11:00:00+02:00');

type ErrorJson = { error?: { code: string; message: string; issues?: Array<{ path: string }> } };

describe.each(['pglite', 'postgres'] as const)('closing a mobility account over HTTP on %s', (engine) => {
  it('closes an account for an operator and for its holder, refuses anyone else, and answers 409 to a second close', async () => {
    const store = await openTestStore(engine, [
      alertingMigrations,
      residentsMigrations,
      httpMigrations,
      mobilityMigrations,
    ]);
    const clock = new ManualClock(OPENED_MS);
    const { mobility } = mobilityOn(store, createMemoryBus(), clock);
    await createAccount(mobility, 'acc-lea', { phone: '+33611223344', email: 'lea@example.org' });
    await createAccount(mobility, 'acc-tom', { email: 'tom@example.org' });
    await createAccount(mobility, 'acc-moved', { email: 'moved@example.org' });
    await createAccount(mobility, 'acc-quiet', { email: 'quiet@example.org' });
    const web = await startResidentsServer({
      store,
      clock,
      citizenPlugins: [mobilityCitizenRoutes({ store, clock })],
      plugins: [mobilityRoutes({ store, clock })],
    });
    const viewer = (await web.app.operatorTokens.create('vera', 'viewer')).token;
    const operator = (await web.app.operatorTokens.create('otto', 'operator')).token;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
    const operatorClose = (id: string, json?: unknown, token = operator) =>
      web.call('POST', `/api/mobility/accounts/${id}/close`, {
        ...(json === undefined ? {} : { json }),
        headers: bearer(token),
      });
    const code = (r: { status: number; body: unknown }) => [r.status, (r.body as ErrorJson).error?.code];

    // 1. The operator's route: no token, a viewer, an unknown account, a reason too long — nothing closed.
    const reason = 'Déménagement hors de la métropole';
    expect((await web.call('POST', '/api/mobility/accounts/acc-moved/close', { json: { reason } })).status).toBe(401);
    expect(code(await operatorClose('acc-moved', { reason }, viewer))).toEqual([403, 'ERR_HTTP_FORBIDDEN']);
    expect(code(await operatorClose('acc-none', { reason }))).toEqual([404, 'ERR_MOBILITY_ACCOUNT_NOT_FOUND']);
    const tooLong = await operatorClose('acc-moved', { reason: 'x'.repeat(501) });
    expect([tooLong.status, (tooLong.body as ErrorJson).error?.issues?.map((i) => i.path)]).toEqual([
      400,
      ['body.reason'],
    ]);
    expect((await mobility.store.account('acc-moved'))?.status).toBe('active');

    // 2. An operator closes it: when, who, why; the second time is a 409 and changes nothing.
    clock.set(OPERATOR_CLOSE_MS);
    const closed = await operatorClose('acc-moved', { reason: `  ${reason} ` });
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({
      accountId: 'acc-moved',
      status: 'closed',
      closedAt: '2026-10-10T08:00:00.000Z',
      closedBy: 'otto',
      closeReason: reason,
    });
    clock.advance(60_000);
    const twice = await operatorClose('acc-moved');
    expect(code(twice)).toEqual([409, 'ERR_MOBILITY_ACCOUNT_CLOSED']);
    expect((twice.body as ErrorJson).error?.message).toContain('2026-10-10T08:00:00.000Z');
    // A POST with no body at all closes too (no reason recorded).
    const quiet = await operatorClose('acc-quiet');
    expect(quiet.body).toMatchObject({ status: 'closed', closedBy: 'otto', closeReason: null });

    // 3. The GET routes show it: a viewer sees the status and when; an active account has closedAt null.
    const shown = await web.call('GET', '/api/mobility/accounts/acc-moved', { headers: bearer(viewer) });
    expect(shown.body).toMatchObject({
      status: 'closed',
      closedAt: '2026-10-10T08:00:00.000Z',
      closedBy: 'otto',
      closeReason: reason,
    });
    const active = await web.call('GET', '/api/mobility/accounts/acc-lea', { headers: bearer(viewer) });
    expect(active.body).toMatchObject({ status: 'active', closedAt: null, closedBy: null, closeReason: null });

    // 4. The holder's route: no session, no CSRF token, someone else's account, a missing one — nothing closed.
    clock.set(CITIZEN_CLOSE_MS);
    const lea = await web.signIn('+33611223344');
    const tom = await web.signIn('tom@example.org');
    const citizenClose = (id: string, as = lea, csrf?: string | null) =>
      web.call('POST', `/api/me/mobility/accounts/${id}/close`, {
        as,
        ...(csrf === undefined ? {} : { csrf }),
      });
    expect((await web.call('POST', '/api/me/mobility/accounts/acc-lea/close')).status).toBe(401);
    expect(code(await citizenClose('acc-lea', lea, null))).toEqual([403, 'ERR_RESIDENT_CSRF_FORBIDDEN']);
    const others = await citizenClose('acc-tom');
    const missing = await citizenClose('acc-none');
    expect([code(others), code(missing)]).toEqual([
      [404, 'ERR_MOBILITY_ACCOUNT_NOT_FOUND'],
      [404, 'ERR_MOBILITY_ACCOUNT_NOT_FOUND'],
    ]);
    expect((others.body as ErrorJson).error?.message).toBe('account: acc-tom (one of yours)');
    expect((missing.body as ErrorJson).error?.message).toBe('account: acc-none (one of yours)');
    // An operator's account closed already is not the citizen's either (the same 404, not a 409 that tells).
    expect(code(await citizenClose('acc-moved', tom))).toEqual([404, 'ERR_MOBILITY_ACCOUNT_NOT_FOUND']);
    expect((await mobility.store.account('acc-tom'))?.status).toBe('active');
    expect((await mobility.store.account('acc-lea'))?.status).toBe('active');

    // 5. Léa closes hers: the reply and her list say closed and when, not who or why (the operators' notes).
    const mine = await citizenClose('acc-lea');
    expect(mine.status).toBe(200);
    expect(mine.body).toEqual({
      accountId: 'acc-lea',
      name: 'Holder acc-lea',
      email: 'lea@example.org',
      phone: '+33611223344',
      locale: 'fr',
      status: 'closed',
      createdAt: new Date(OPENED_MS).toISOString(),
      createdBy: 'test',
      closedAt: '2026-10-10T09:00:00.000Z',
    });
    expect(code(await citizenClose('acc-lea'))).toEqual([409, 'ERR_MOBILITY_ACCOUNT_CLOSED']);
    const list = await web.call('GET', '/api/me/mobility', { as: lea });
    expect(list.body.accounts).toEqual([mine.body]);
    const seen = await web.call('GET', '/api/mobility/accounts/acc-lea', { headers: bearer(operator) });
    expect(seen.body).toMatchObject({ closedAt: '2026-10-10T09:00:00.000Z', closedBy: 'citizen', closeReason: null });
    // Tom's account stays open, and he sees it so.
    const his = await web.call('GET', '/api/me/mobility', { as: tom });
    expect(his.body.accounts).toMatchObject([{ accountId: 'acc-tom', status: 'active', closedAt: null }]);
  });
});
