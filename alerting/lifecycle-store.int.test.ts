import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import type { AppError } from '../core/errors.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createTestDatabase, twoStoresOnNewDatabase } from '../test/helpers/postgres.ts';
import { alertingMigrations } from './index.ts';
import { createLifecycleStore, type LifecycleStore, recordTransition } from './lifecycle-store.ts';
import { leakTransition } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');

let devices = 0;
/** A device id no other test uses (stores are shared within an engine). */
function newDevice(prefix = 'WM'): string {
  devices++;
  return `${prefix}-${String(devices).padStart(6, '0')}`;
}

const leak = leakTransition;

async function failure(promise: Promise<unknown>): Promise<AppError | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => err as AppError,
  );
}

/** The same suite on both engines: PGlite (the default) and the real PostgreSQL. */
for (const engine of ['pglite', 'postgres'] as const) {
  describe(`alert lifecycle store (${engine})`, () => {
    let store: SqlStore;
    let drop: () => Promise<void> = async () => {};
    beforeAll(async () => {
      if (engine === 'pglite') {
        store = await openStore({ pgliteDir: 'memory://' }, [alertingMigrations]);
      } else {
        const db = await createTestDatabase(inject('databaseUrl'));
        store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [alertingMigrations]);
        drop = db.drop;
      }
    });
    afterAll(async () => {
      await store?.close();
      await drop();
    });

    function lifecycle(): { clock: ManualClock; alerts: LifecycleStore } {
      const clock = new ManualClock(T0);
      return { clock, alerts: createLifecycleStore(store, { clock }) };
    }

    it('records a transition as an open alert with an opened event, once, when it is delivered twice', async () => {
      const { alerts } = lifecycle();
      const device = newDevice();
      await recordTransition(store, leak(device));
      await recordTransition(store, leak(device));
      const alert = await alerts.get(`${device}:leak:1`);
      expect(alert).toMatchObject({
        alertId: `${device}:leak:1`,
        deviceId: device,
        kind: 'water-meter',
        type: 'leak',
        state: 'open',
        lastTransition: 'open',
        severity: 'warning',
        details: { estimatedLph: 4.2 },
        openedAt: '2026-03-01T02:15:00.000Z',
        acknowledgedAt: null,
        acknowledgedBy: null,
        resolvedAt: null,
        resolvedBy: null,
      });
      expect(alert?.history).toEqual([
        {
          id: expect.any(Number),
          type: 'opened',
          at: '2026-03-01T02:15:00.000Z',
          by: null,
          text: 'Continuous flow for 24 h, about 4 L/h',
        },
      ]);
      expect(await alerts.get('WM-nope:leak:1')).toBeUndefined();
    });

    it('records who acknowledged and when, and changes nothing when acknowledged again', async () => {
      const { alerts, clock } = lifecycle();
      const device = newDevice();
      await recordTransition(store, leak(device));
      const first = await alerts.acknowledge(`${device}:leak:1`, 'alice', 'on my way');
      expect(first).toMatchObject({
        state: 'acknowledged',
        acknowledgedAt: new Date(T0).toISOString(),
        acknowledgedBy: 'alice',
      });
      clock.advance(60_000);
      const again = await alerts.acknowledge(`${device}:leak:1`, 'bob');
      expect(again).toEqual(first);
      const history = (await alerts.get(`${device}:leak:1`))?.history ?? [];
      expect(history.map((e) => [e.type, e.by, e.text])).toEqual([
        ['opened', null, 'Continuous flow for 24 h, about 4 L/h'],
        ['acknowledged', 'alice', 'on my way'],
      ]);
    });

    it('keeps an alert resolved by hand resolved while the detector still updates it, in recorded order', async () => {
      const { alerts, clock } = lifecycle();
      const device = newDevice();
      const id = `${device}:leak:1`;
      await recordTransition(store, leak(device));
      await alerts.acknowledge(id, 'alice');
      clock.advance(5 * 60_000);
      const resolved = await alerts.resolve(id, 'bob', 'valve closed');
      expect(resolved).toMatchObject({
        state: 'resolved',
        lastTransition: 'open',
        resolvedAt: new Date(T0 + 5 * 60_000).toISOString(),
        resolvedBy: 'bob',
        acknowledgedBy: 'alice',
      });
      // The condition is still there: the detector's update changes the evidence, not the lifecycle.
      await recordTransition(
        store,
        leak(device, {
          state: 'update',
          ts: '2026-03-01T06:15:00.000Z',
          severity: 'critical',
          summary: 'Continuous flow for 28 h, about 9 L/h',
          details: { estimatedLph: 9 },
        }),
      );
      clock.advance(60_000);
      expect(await alerts.resolve(id, 'carol')).toMatchObject({ resolvedBy: 'bob' }); // a no-op
      await alerts.comment(id, 'carol', 'checked on site');
      await recordTransition(
        store,
        leak(device, { state: 'resolved', ts: '2026-03-01T09:00:00.000Z', summary: 'Flow back to normal' }),
      );
      const alert = await alerts.get(id);
      expect(alert).toMatchObject({
        state: 'resolved',
        lastTransition: 'resolved',
        severity: 'warning',
        summary: 'Flow back to normal',
        details: { estimatedLph: 4.2 },
        updatedAt: '2026-03-01T09:00:00.000Z',
        resolvedAt: new Date(T0 + 5 * 60_000).toISOString(),
        resolvedBy: 'bob',
      });
      expect(alert?.history.map((e) => [e.type, e.by])).toEqual([
        ['opened', null],
        ['acknowledged', 'alice'],
        ['resolved', 'bob'],
        ['updated', null],
        ['comment', 'carol'],
        ['resolved', null],
      ]);
      const ids = alert?.history.map((e) => e.id) ?? [];
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);
    });

    it('leaves resolvedBy null when the detector resolves, and refuses to acknowledge a resolved alert', async () => {
      const { alerts } = lifecycle();
      const device = newDevice();
      const id = `${device}:leak:1`;
      await recordTransition(store, leak(device));
      await recordTransition(store, leak(device, { state: 'resolved', ts: '2026-03-02T02:15:00.000Z' }));
      expect(await alerts.get(id)).toMatchObject({
        state: 'resolved',
        resolvedAt: '2026-03-02T02:15:00.000Z',
        resolvedBy: null,
      });
      const error = await failure(alerts.acknowledge(id, 'alice'));
      expect(error?.code).toBe('ERR_ALERT_CONFLICT');
      expect(error?.message).toContain(id);
      const event = await alerts.comment(id, 'alice', 'post-mortem: meter replaced');
      expect(event).toMatchObject({ type: 'comment', by: 'alice', text: 'post-mortem: meter replaced' });
    });

    it('rejects every action on an unknown alert with ERR_ALERT_NOT_FOUND and writes nothing', async () => {
      const { alerts } = lifecycle();
      for (const action of [
        () => alerts.acknowledge('WM-none:leak:9', 'alice'),
        () => alerts.resolve('WM-none:leak:9', 'alice'),
        () => alerts.comment('WM-none:leak:9', 'alice', 'hello'),
      ]) {
        expect((await failure(action()))?.code).toBe('ERR_ALERT_NOT_FOUND');
      }
      const rows = await store.query('SELECT 1 FROM alerting_alert_events WHERE alert_id = $1', ['WM-none:leak:9']);
      expect(rows.rows).toEqual([]);
    });

    it('filters by state, type, kind, device and opening time, and pages newest first when asked', async () => {
      const { alerts } = lifecycle();
      const prefix = `F${engine === 'pglite' ? 'L' : 'P'}${devices}`;
      const ids: string[] = [];
      // Five alerts opened an hour apart on their own devices: leak, burst, leak, lamp-out, leak.
      const specs = [
        { type: 'leak', kind: 'water-meter' },
        { type: 'burst', kind: 'water-meter' },
        { type: 'leak', kind: 'water-meter' },
        { type: 'lamp-out', kind: 'streetlight' },
        { type: 'leak', kind: 'water-meter' },
      ] as const;
      for (const [i, spec] of specs.entries()) {
        const device = `${prefix}-${i}`;
        const t = leak(device, {
          ...spec,
          alertId: `${device}:${spec.type}:1`,
          ts: new Date(Date.parse('2030-01-01T00:00:00.000Z') + i * 3_600_000).toISOString(),
        });
        await recordTransition(store, t);
        ids.push(t.alertId);
      }
      await alerts.acknowledge(ids[0] as string, 'alice');
      await alerts.resolve(ids[1] as string, 'alice');
      const since = '2030-01-01T00:00:00.000Z';
      const until = '2030-01-02T00:00:00.000Z';
      const idsOf = async (filter: Parameters<LifecycleStore['list']>[0]) =>
        (await alerts.list({ since, until, ...filter })).alerts.map((a) => a.alertId);

      expect(await idsOf({})).toEqual([...ids].reverse());
      expect(await idsOf({ state: 'acknowledged' })).toEqual([ids[0]]);
      expect(await idsOf({ state: 'resolved' })).toEqual([ids[1]]);
      expect(await idsOf({ state: 'open' })).toEqual([ids[4], ids[3], ids[2]]);
      expect(await idsOf({ type: 'leak' })).toEqual([ids[4], ids[2], ids[0]]);
      expect(await idsOf({ kind: 'streetlight' })).toEqual([ids[3]]);
      expect(await idsOf({ deviceId: `${prefix}-2` })).toEqual([ids[2]]);
      expect(await idsOf({ since: '2030-01-01T01:00:00.000Z', until: '2030-01-01T03:00:00.000Z' })).toEqual([
        ids[2],
        ids[1],
      ]);

      // Pages of two: every alert once, in order; a newer alert arriving between pages shifts nothing (keyset).
      const seen: string[] = [];
      let page = await alerts.list({ since, until, limit: 2 });
      expect(page.total).toBe(5);
      seen.push(...page.alerts.map((a) => a.alertId));
      await recordTransition(
        store,
        leak(`${prefix}-9`, { alertId: `${prefix}-9:leak:1`, ts: '2030-01-01T23:00:00.000Z' }),
      );
      while (page.nextCursor) {
        page = await alerts.list({ since, until, limit: 2, cursor: page.nextCursor });
        seen.push(...page.alerts.map((a) => a.alertId));
      }
      expect(seen).toEqual([...ids].reverse());
      expect((await failure(alerts.list({ cursor: 'not-a-cursor' })))?.code).toBe('ERR_ALERT_CURSOR_INVALID');
    });
  });
}

describe('alert lifecycle store (two postgres instances)', () => {
  it('records one acknowledgement when two instances acknowledge the same alert at once', async () => {
    const [a, b] = await twoStoresOnNewDatabase(inject('databaseUrl'), [alertingMigrations]);
    await recordTransition(a, leak('WM-RACE'));
    const results = await Promise.all([
      createLifecycleStore(a).acknowledge('WM-RACE:leak:1', 'alice'),
      createLifecycleStore(b).acknowledge('WM-RACE:leak:1', 'bob'),
    ]);
    expect(results[0].acknowledgedBy).toBe(results[1].acknowledgedBy);
    const events = await a.query("SELECT actor FROM alerting_alert_events WHERE event = 'acknowledged'");
    expect(events.rows).toEqual([{ actor: results[0].acknowledgedBy }]);
  });
});
