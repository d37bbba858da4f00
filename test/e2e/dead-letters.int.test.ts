import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOPICS } from '../../core/contracts/index.ts';
import { startWebStack, type WebStack } from '../helpers/web-stack.ts';

/**
 * A rejected message, end to end on what `vigie start` runs: a usage event for a mobility account that does not
 * exist yet is dead-lettered by the mobility service (ERR_MOBILITY_ACCOUNT_UNKNOWN); the operator sees it in the
 * dead letters, the account is created, the operator replays it, and the same bytes go through the mobility
 * service again — stored this time, once, even when replayed twice.
 */

const POLL = { timeout: 20_000, interval: 100 };

/** A page of GET /api/dead-letters, as far as this test reads it. */
interface Page {
  readonly items: Array<{ readonly id: number } & Record<string, unknown>>;
  readonly summary: { readonly byErrorCode: Array<{ errorCode: string; count: number }> };
}

describe('a dead letter replayed once its cause is fixed', () => {
  let stack: WebStack;
  beforeAll(async () => {
    stack = await startWebStack();
  });
  afterAll(() => stack?.close());

  it('stores the usage of an account created after it was refused, when an operator replays it', async () => {
    const [admin, operator, viewer] = [
      await stack.token('admin'),
      await stack.token('operator'),
      await stack.token('viewer'),
    ];
    const api = async (token: string, method: string, path: string, body?: unknown) => {
      const res = await fetch(`${stack.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: res.status, body: (await res.json()) as unknown };
    };
    const usage = JSON.stringify({
      usageId: 'tram-e2e-0001',
      accountId: 'acc-e2e-late',
      kind: 'transit-validation',
      startedAt: '2026-11-20T07:30:00+01:00',
      details: { line: '2' },
    });
    await stack.pipeline.bus.produce(TOPICS.mobilityUsage, [{ key: 'acc-e2e-late', value: usage }]);

    // 1. Refused, and shown to the operators (not to viewers: the bytes hold residents' data).
    const listed = async (status: string) =>
      (await api(operator, 'GET', `/api/dead-letters?status=${status}&errorCode=ERR_MOBILITY_ACCOUNT_UNKNOWN`))
        .body as Page;
    await expect.poll(async () => (await listed('open')).items?.length ?? 0, POLL).toBe(1);
    const letter = (await listed('open')).items[0] as Page['items'][number];
    expect(letter).toMatchObject({
      errorCode: 'ERR_MOBILITY_ACCOUNT_UNKNOWN',
      component: expect.stringContaining('mobility'),
      source: { type: 'bus', topic: TOPICS.mobilityUsage },
      status: 'open',
      rawPreview: usage,
    });
    expect((await listed('open')).summary.byErrorCode).toContainEqual({
      errorCode: 'ERR_MOBILITY_ACCOUNT_UNKNOWN',
      count: 1,
    });
    expect((await api(viewer, 'GET', '/api/dead-letters')).status).toBe(403);
    expect((await api(viewer, 'POST', `/api/dead-letters/${letter.id}/replay`, {})).status).toBe(403);

    // 2. The cause fixed: the account exists now.
    const account = await api(admin, 'POST', '/api/mobility/accounts', {
      accountId: 'acc-e2e-late',
      name: 'Léa Muller',
      email: 'lea.muller@example.org',
      phone: '06 11 22 33 44',
    });
    expect(account.status).toBe(201);

    // 3. Replayed: the same bytes through the mobility service, stored this time.
    const replay = await api(operator, 'POST', `/api/dead-letters/${letter.id}/replay`, {});
    expect(replay.status).toBe(200);
    const stored = async () =>
      (
        await stack.pipeline.store.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM mobility_usage WHERE usage_id = 'tram-e2e-0001' AND account_id = 'acc-e2e-late'`,
        )
      ).rows[0]?.n;
    await expect.poll(stored, POLL).toBe(1);
    const replayed = (await listed('replayed')).items;
    expect(replayed).toMatchObject([{ id: letter.id, status: 'replayed', replayCount: 1 }]);
    expect((await listed('open')).items).toEqual([]);

    // 4. Replayed again on purpose: refused without force, harmless with it (the usage id is stored once).
    expect((await api(operator, 'POST', `/api/dead-letters/${letter.id}/replay`, {})).status).toBe(409);
    const duplicates = () =>
      stack.pipeline.metrics.value('mobility_usage_events_total', { kind: 'transit-validation', outcome: 'duplicate' });
    const before = await duplicates();
    expect((await api(operator, 'POST', `/api/dead-letters/${letter.id}/replay?force=true`, {})).status).toBe(200);
    await expect.poll(duplicates, POLL).toBe(before + 1);
    expect(await stored()).toBe(1);
    expect((await listed('open')).items).toEqual([]);
  });
});
