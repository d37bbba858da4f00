import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { ManualClock } from '../../core/clock.ts';
import type { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { createTestDatabase, twoStoresOnNewDatabase } from '../../test/helpers/postgres.ts';
import { reportsMigrations } from './index.ts';
import { cleanPhoto } from './photo.ts';
import { createReportStore, type NewReport } from './store.ts';
import { jpegWithGps } from './test-helpers.ts';

const T0 = Date.parse('2026-03-10T08:00:00.000Z');
const WEB: NewReport = {
  category: 'roads',
  text: 'Nid de poule',
  latitude: 48.85,
  longitude: 2.35,
  locationSource: 'given',
  contact: { channel: 'sms', address: '+33612345678' },
  source: 'web',
  by: 'citizen',
};

async function fail(promise: Promise<unknown>): Promise<AppError | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => err as AppError,
  );
}

const ENGINES = {
  pglite: async (): Promise<SqlStore> => {
    const store = await openStore({ pgliteDir: 'memory://' }, [reportsMigrations]);
    onTestFinished(() => store.close());
    return store;
  },
  postgres: async (): Promise<SqlStore> => {
    const db = await createTestDatabase(inject('databaseUrl'));
    const store = await openStore({ databaseUrl: db.url, pgliteDir: 'memory://' }, [reportsMigrations]);
    onTestFinished(async () => {
      await store.close();
      await db.drop();
    });
    return store;
  },
};

describe.each(Object.keys(ENGINES) as Array<keyof typeof ENGINES>)('report store (%s)', (engine) => {
  it('creates a report with a reference, its photo and a received history row whose message is pending', async () => {
    const clock = new ManualClock(T0);
    const reports = createReportStore(await ENGINES[engine](), { clock });
    const photo = await cleanPhoto(await jpegWithGps(), { maxBytes: 1e6, maxEdgePx: 2048, maxInputPixels: 1e7 });
    const { report, created } = await reports.create({ ...WEB, photo });
    expect(created).toBe(true);
    expect(report).toMatchObject({
      reference: `R-2026-${String(report.id).padStart(6, '0')}`,
      status: 'received',
      hasPhoto: true,
      contact: { channel: 'sms', address: '+33612345678' },
      locale: 'fr',
      createdAt: new Date(T0).toISOString(),
    });
    expect((await reports.photo(report.id))?.bytes.equals(photo.bytes)).toBe(true);
    expect((await reports.getByReference(report.reference))?.history).toEqual([
      {
        id: expect.any(Number),
        status: 'received',
        at: new Date(T0).toISOString(),
        by: 'citizen',
        assignee: null,
        note: null,
      },
    ]);
    const pending = await reports.pendingNotices(10);
    expect(pending.map((p) => [p.report.id, p.event.status])).toEqual([[report.id, 'received']]);
    await reports.markNotified(pending.map((p) => p.event.id));
    expect(await reports.pendingNotices(10)).toEqual([]);
  });

  it('walks the workflow with who and when, and refuses impossible transitions with 409 when the status does not allow them', async () => {
    const clock = new ManualClock(T0);
    const reports = createReportStore(await ENGINES[engine](), { clock });
    const { report } = await reports.create(WEB);
    expect((await fail(reports.transition(report.id, 'start', 'otto')))?.code).toBe('ERR_REPORT_CONFLICT');
    clock.advance(60_000);
    await reports.transition(report.id, 'assign', 'otto', { assignee: 'Voirie Nord' });
    clock.advance(60_000);
    await reports.transition(report.id, 'start', 'otto');
    clock.advance(60_000);
    const done = await reports.transition(report.id, 'resolve', 'ada', { note: 'Rebouché' });
    expect(done).toMatchObject({ status: 'resolved', assignee: 'Voirie Nord', note: 'Rebouché' });
    for (const action of ['assign', 'start', 'resolve', 'reject'] as const) {
      const err = await fail(reports.transition(report.id, action, 'otto', { assignee: 'x', note: 'y' }));
      expect(err?.code, action).toBe('ERR_REPORT_CONFLICT');
      expect(err?.message).toContain('it is resolved');
    }
    expect((await fail(reports.transition(999_999, 'assign', 'otto')))?.code).toBe('ERR_REPORT_NOT_FOUND');
    const full = await reports.get(report.id);
    expect(full?.history.map((e) => [e.status, e.by, e.at, e.assignee, e.note])).toEqual([
      ['received', 'citizen', new Date(T0).toISOString(), null, null],
      ['assigned', 'otto', new Date(T0 + 60_000).toISOString(), 'Voirie Nord', null],
      ['in-progress', 'otto', new Date(T0 + 120_000).toISOString(), null, null],
      ['resolved', 'ada', new Date(T0 + 180_000).toISOString(), null, 'Rebouché'],
    ]);
    expect((await reports.pendingNotices(10)).map((p) => p.event.status)).toEqual([
      'received',
      'assigned',
      'in-progress',
      'resolved',
    ]);
  });

  it('creates one report per sourceRef and one open report per device, and a new one once it is closed', async () => {
    const reports = createReportStore(await ENGINES[engine]());
    const lamp: NewReport = {
      category: 'public-lighting',
      text: 'Lampe',
      source: 'alert',
      by: 'alerting',
      deviceId: 'SL-000001',
    };
    const first = await reports.create({ ...lamp, sourceRef: 'SL-000001:lamp-out:1' });
    expect(first.created).toBe(true);
    expect((await reports.create({ ...lamp, sourceRef: 'SL-000001:lamp-out:1' })).created).toBe(false);
    const second = await reports.create({ ...lamp, sourceRef: 'SL-000001:lamp-out:2' });
    expect(second).toMatchObject({ created: false, report: { id: first.report.id } });
    expect((await reports.pendingNotices(10)).length).toBe(0);
    await reports.transition(first.report.id, 'resolve', 'alerting', { note: 'back' });
    expect((await reports.create({ ...lamp, sourceRef: 'SL-000001:lamp-out:3' })).created).toBe(true);
  });

  it('lists newest first with filters and pages through every report once when given a cursor', async () => {
    const reports = createReportStore(await ENGINES[engine]());
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push((await reports.create({ ...WEB, category: i % 2 ? 'cleanliness' : 'roads' })).report.id);
    }
    await reports.transition(ids[0] as number, 'reject', 'otto', { note: 'doublon' });
    expect((await reports.list({ category: 'cleanliness' })).reports.map((r) => r.id)).toEqual([ids[3], ids[1]]);
    expect((await reports.list({ status: 'rejected' })).reports.map((r) => r.id)).toEqual([ids[0]]);
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await reports.list({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.total).toBe(5);
      seen.push(...page.reports.map((r) => r.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await fail(reports.list({ cursor: 'nope' })))?.code).toBe('ERR_REPORT_CURSOR_INVALID');
  });

  it('counts reports per month and category in the city time zone, zeros included', async () => {
    const clock = new ManualClock(Date.parse('2026-01-31T23:30:00Z')); // 1 February 00:30 in Paris
    const reports = createReportStore(await ENGINES[engine](), { clock });
    await reports.create(WEB);
    clock.set(Date.parse('2026-03-15T10:00:00Z'));
    await reports.create(WEB);
    await reports.create({ ...WEB, category: 'green-spaces' });
    const months = await reports.monthlyCounts('2026-01', '2026-03', 'Europe/Paris');
    expect(months.map((m) => [m.month, m.total, m.counts.roads, m.counts['green-spaces'], m.counts.other])).toEqual([
      ['2026-01', 0, 0, 0, 0],
      ['2026-02', 1, 1, 0, 0],
      ['2026-03', 2, 1, 1, 0],
    ]);
    expect((await fail(reports.monthlyCounts('2026-03', '2026-01', 'Europe/Paris')))?.code).toBe(
      'ERR_REPORT_STATS_INVALID',
    );
  });
});

describe('report store (two PostgreSQL clients)', () => {
  it('opens one report for a lamp when two instances open it at once, and lets one of two operators act', async () => {
    const [a, b] = await twoStoresOnNewDatabase(inject('databaseUrl'), [reportsMigrations]);
    const ra = createReportStore(a);
    const rb = createReportStore(b);
    const lamp: NewReport = {
      category: 'public-lighting',
      text: 'Lampe',
      source: 'alert',
      by: 'alerting',
      deviceId: 'SL-7',
    };
    const both = await Promise.all([
      ra.create({ ...lamp, sourceRef: 'SL-7:lamp-out:1' }),
      rb.create({ ...lamp, sourceRef: 'SL-7:lamp-out:2' }),
    ]);
    expect(both.filter((r) => r.created)).toHaveLength(1);
    expect(both[0].report.id).toBe(both[1].report.id);
    const id = both[0].report.id;
    const acts = await Promise.allSettled([
      ra.transition(id, 'reject', 'otto', { note: 'x' }),
      rb.transition(id, 'resolve', 'ada', { note: 'y' }),
    ]);
    expect(acts.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const refused = acts.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect((refused?.reason as AppError | undefined)?.code).toBe('ERR_REPORT_CONFLICT');
    expect((await ra.get(id))?.history).toHaveLength(2);
  });
});
