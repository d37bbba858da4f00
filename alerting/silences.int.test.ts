import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import type { AppError } from '../core/errors.ts';
import { openStore } from '../core/store/open.ts';
import type { SqlStore } from '../core/store/store.ts';
import { createTestDatabase } from '../test/helpers/postgres.ts';
import { alertingMigrations } from './index.ts';
import { activeSilence, createSilences, type SilencedAlert, type SilenceInput, silenceMutes } from './silences.ts';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

let windows = 0;
/**
 * A time of its own for each test (60 days apart, silences last at most 30): a kind or district silence of one
 * test is never in force at another test's times, on the store the tests of an engine share.
 */
function newWindow(): number {
  windows++;
  return Date.parse('2026-01-01T00:00:00.000Z') + windows * 60 * DAY_MS;
}

let devices = 0;
/** A device id (and district) no other test uses. */
function newDevice(prefix = 'WM'): string {
  devices++;
  return `${prefix}-${String(devices).padStart(6, '0')}`;
}

const iso = (ms: number) => new Date(ms).toISOString();

async function failure(promise: Promise<unknown>): Promise<AppError | undefined> {
  return promise.then(
    () => undefined,
    (err: unknown) => err as AppError,
  );
}

/** The same suite on both engines: PGlite (the default) and the real PostgreSQL. */
for (const engine of ['pglite', 'postgres'] as const) {
  describe(`silences store (${engine})`, () => {
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

    function setup() {
      const t0 = newWindow();
      const clock = new ManualClock(t0);
      const silences = createSilences(store, { clock });
      const create = (input: Partial<SilenceInput>, by = 'otto') =>
        silences.create({ endsAt: iso(t0 + HOUR_MS), reason: 'works on the main', ...input }, by);
      const match = async (alert: SilencedAlert, atMs: number) => (await activeSilence(store, alert, atMs))?.id;
      return { t0, clock, silences, create, match };
    }

    async function placeDevice(deviceId: string, kind: string, district: string | null): Promise<void> {
      await store.query(
        `INSERT INTO alerting_devices (device_id, kind, district, active, updated_at) VALUES ($1, $2, $3, true, now())
         ON CONFLICT (device_id) DO UPDATE SET district = EXCLUDED.district`,
        [deviceId, kind, district],
      );
    }

    it('creates a silence starting now, by its creator, and reads it back when asked by id', async () => {
      const { t0, silences, create } = setup();
      const device = newDevice();
      const created = await create({ deviceId: device, reason: '  meter replaced  ' });
      expect(created).toEqual({
        id: expect.any(Number),
        deviceId: device,
        district: null,
        kind: null,
        type: null,
        scope: 'silence',
        startsAt: iso(t0),
        endsAt: iso(t0 + HOUR_MS),
        reason: 'meter replaced',
        createdBy: 'otto',
        createdAt: iso(t0),
        endedAt: null,
        endedBy: null,
        state: 'active',
      });
      expect(await silences.get(created.id)).toEqual(created);
      expect(await silences.get(created.id + 1_000_000)).toBeUndefined();
    });

    it('refuses a silence with ERR_SILENCE_INVALID and stores nothing when its matchers, times or reason are wrong', async () => {
      const { t0, silences, create } = setup();
      const device = newDevice();
      const cases: Array<[string, Partial<SilenceInput> & Record<string, unknown>]> = [
        ['no matcher', {}],
        ['a type alone', { type: 'leak' }],
        ['endsAt before startsAt', { deviceId: device, startsAt: iso(t0 + 2 * HOUR_MS) }],
        ['endsAt equal to startsAt', { deviceId: device, startsAt: iso(t0 + HOUR_MS) }],
        ['more than 30 days', { deviceId: device, endsAt: iso(t0 + 30 * DAY_MS + 1) }],
        [
          'more than 30 days from startsAt',
          { deviceId: device, startsAt: iso(t0 + DAY_MS), endsAt: iso(t0 + 32 * DAY_MS) },
        ],
        ['ended already', { deviceId: device, startsAt: iso(t0 - 2 * HOUR_MS), endsAt: iso(t0 - HOUR_MS) }],
        ['an unknown kind', { kind: 'toaster' as never }],
        ['an unknown type', { deviceId: device, type: 'flood' as never }],
        ['a bad device id', { deviceId: 'WM/1' }],
        ['an unknown scope', { deviceId: device, scope: 'mute' as never }],
        ['an empty reason', { deviceId: device, reason: '   ' }],
        ['a reason too long', { deviceId: device, reason: 'x'.repeat(501) }],
        ['a time without offset', { deviceId: device, endsAt: '2026-03-01T10:00:00' }],
        ['an unknown key', { deviceId: device, by: 'mallory' }],
      ];
      for (const [name, input] of cases) {
        const err = await failure(create(input));
        expect(err?.code, name).toBe('ERR_SILENCE_INVALID');
      }
      expect((await silences.list({ state: 'all', limit: 500 })).filter((s) => s.deviceId === device)).toEqual([]);
      // Exactly 30 days is allowed; so is a start in the past.
      expect((await create({ deviceId: device, endsAt: iso(t0 + 30 * DAY_MS) })).state).toBe('active');
      expect((await create({ deviceId: device, startsAt: iso(t0 - DAY_MS) })).startsAt).toBe(iso(t0 - DAY_MS));
    });

    it('matches every alert of a device and none of another when silenced by device', async () => {
      const { t0, create, match } = setup();
      const device = newDevice();
      const other = newDevice();
      const { id } = await create({ deviceId: device });
      expect(await match({ deviceId: device, kind: 'water-meter', type: 'leak' }, t0)).toBe(id);
      expect(await match({ deviceId: device, kind: 'water-meter', type: 'no-data' }, t0)).toBe(id);
      expect(await match({ deviceId: other, kind: 'water-meter', type: 'leak' }, t0)).toBeUndefined();
    });

    it('matches by district, given by the caller or read from alerting_devices, and not devices elsewhere or nowhere', async () => {
      const { t0, create, match } = setup();
      const district = `D-${newDevice('north')}`;
      const [inside, elsewhere, nowhere, unknown, given] = [
        newDevice(),
        newDevice(),
        newDevice(),
        newDevice(),
        newDevice(),
      ];
      await placeDevice(inside as string, 'water-meter', district);
      await placeDevice(elsewhere as string, 'water-meter', `${district}-south`);
      await placeDevice(nowhere as string, 'water-meter', null);
      const { id } = await create({ district, scope: 'maintenance' });
      const at = t0 + 10 * 60_000;
      expect(await match({ deviceId: inside as string, kind: 'water-meter', type: 'leak' }, at)).toBe(id);
      expect(await match({ deviceId: elsewhere as string, kind: 'water-meter', type: 'leak' }, at)).toBeUndefined();
      expect(await match({ deviceId: nowhere as string, kind: 'water-meter', type: 'leak' }, at)).toBeUndefined();
      expect(await match({ deviceId: unknown as string, kind: 'water-meter', type: 'leak' }, at)).toBeUndefined();
      // The caller's district wins over the table (the router knows it first).
      expect(await match({ deviceId: given as string, kind: 'water-meter', type: 'leak', district }, at)).toBe(id);
      expect(
        await match({ deviceId: inside as string, kind: 'water-meter', type: 'leak', district: 'other' }, at),
      ).toBeUndefined();
    });

    it('matches every device of a kind, and only the type given when silenced by kind and type', async () => {
      const { t0, create, match } = setup();
      const [lamp, meter] = [newDevice('SL'), newDevice()];
      const lamps = await create({ kind: 'streetlight' });
      const leaks = await create({ kind: 'water-meter', type: 'leak' });
      expect(await match({ deviceId: lamp as string, kind: 'streetlight', type: 'lamp-out' }, t0)).toBe(lamps.id);
      expect(await match({ deviceId: lamp as string, kind: 'streetlight', type: 'day-burner' }, t0)).toBe(lamps.id);
      expect(await match({ deviceId: meter as string, kind: 'water-meter', type: 'leak' }, t0)).toBe(leaks.id);
      expect(await match({ deviceId: meter as string, kind: 'water-meter', type: 'burst' }, t0)).toBeUndefined();
      expect(await match({ deviceId: meter as string, kind: 'sensor', type: 'leak' }, t0)).toBeUndefined();
    });

    it('is in force from startsAt included to endsAt excluded, and upcoming before', async () => {
      const { t0, clock, silences, create, match } = setup();
      const device = newDevice();
      const alert: SilencedAlert = { deviceId: device, kind: 'water-meter', type: 'leak' };
      const startsMs = t0 + DAY_MS;
      const endsMs = startsMs + 2 * HOUR_MS;
      const future = await create({ deviceId: device, startsAt: iso(startsMs), endsAt: iso(endsMs) });
      expect(future.state).toBe('upcoming');
      expect(await match(alert, t0)).toBeUndefined();
      expect(await match(alert, startsMs - 1)).toBeUndefined();
      expect(await match(alert, startsMs)).toBe(future.id);
      expect(await match(alert, endsMs - 1)).toBe(future.id);
      expect(await match(alert, endsMs)).toBeUndefined();
      expect((await activeSilence(store, alert, startsMs))?.state).toBe('active');
      clock.set(endsMs);
      expect((await silences.get(future.id))?.state).toBe('ended');
    });

    it('keeps a silence ended early in history, in force only before it ended, and refuses to end it twice', async () => {
      const { t0, clock, silences, create, match } = setup();
      const device = newDevice();
      const alert: SilencedAlert = { deviceId: device, kind: 'water-meter', type: 'leak' };
      const silence = await create({ deviceId: device, endsAt: iso(t0 + 4 * HOUR_MS) });
      clock.set(t0 + HOUR_MS);
      const ended = await silences.end(silence.id, 'ada');
      expect(ended).toEqual({
        ...silence,
        endedAt: iso(t0 + HOUR_MS),
        endedBy: 'ada',
        state: 'ended',
      });
      expect(await match(alert, t0 + HOUR_MS - 1)).toBe(silence.id);
      expect(await match(alert, t0 + HOUR_MS)).toBeUndefined();
      expect(await match(alert, t0 + 2 * HOUR_MS)).toBeUndefined();
      const again = await failure(silences.end(silence.id, 'otto'));
      expect(again?.code).toBe('ERR_SILENCE_CONFLICT');
      expect(again?.message).toContain('by ada');
      expect(await silences.get(silence.id)).toEqual(ended);
      expect((await failure(silences.end(999_999_999, 'ada')))?.code).toBe('ERR_SILENCE_NOT_FOUND');

      // Ending an upcoming one: never in force. One that ran out by itself cannot be ended.
      const upcoming = await create({
        deviceId: device,
        startsAt: iso(t0 + 2 * HOUR_MS),
        endsAt: iso(t0 + 3 * HOUR_MS),
      });
      expect((await silences.end(upcoming.id, 'ada')).state).toBe('ended');
      expect(await match(alert, t0 + 2 * HOUR_MS)).toBeUndefined();
      const short = await create({ deviceId: device, endsAt: iso(t0 + 2 * HOUR_MS) });
      clock.set(t0 + 2 * HOUR_MS);
      expect((await failure(silences.end(short.id, 'ada')))?.code).toBe('ERR_SILENCE_CONFLICT');
    });

    it('prefers a maintenance over a silence, then the one ending last, when several match', async () => {
      const { t0, clock, silences, create, match } = setup();
      const device = newDevice();
      const alert: SilencedAlert = { deviceId: device, kind: 'parking-meter', type: 'fault' };
      const long = await create({ deviceId: device, endsAt: iso(t0 + 10 * HOUR_MS) });
      const longer = await create({ deviceId: device, type: 'fault', endsAt: iso(t0 + 20 * HOUR_MS) });
      expect(await match(alert, t0)).toBe(longer.id);
      const maintenance = await create({ kind: 'parking-meter', scope: 'maintenance', endsAt: iso(t0 + HOUR_MS) });
      const found = await activeSilence(store, alert, t0);
      expect(found).toMatchObject({ id: maintenance.id, scope: 'maintenance', state: 'active' });
      expect(await match(alert, t0 + HOUR_MS)).toBe(longer.id);
      // Ended early, the longer one now ends first (at its endedAt), even at times it was still in force.
      clock.set(t0 + 2 * HOUR_MS);
      await silences.end(longer.id, 'ada');
      expect(await match(alert, t0 + 2 * HOUR_MS)).toBe(long.id);
      expect(await match(alert, t0 + 2 * HOUR_MS - 1)).toBe(long.id);
      expect(await match(alert, t0 + 11 * HOUR_MS)).toBeUndefined();
    });

    it('lists silences by state at the clock, newest created first, up to the limit', async () => {
      const { t0, clock, silences, create } = setup();
      const device = newDevice();
      const a = await create({ deviceId: device, endsAt: iso(t0 + HOUR_MS) });
      clock.advance(1000);
      const b = await create({ deviceId: device, startsAt: iso(t0 + DAY_MS), endsAt: iso(t0 + 2 * DAY_MS) });
      clock.advance(1000);
      const c = await create({ deviceId: device, endsAt: iso(t0 + 3 * HOUR_MS) });
      clock.advance(1000);
      const d = await create({ deviceId: device, endsAt: iso(t0 + 3 * HOUR_MS) });
      await silences.end(d.id, 'ada');
      clock.set(t0 + 2 * HOUR_MS); // a has run out, c is still on, b is tomorrow, d was ended
      const ids = async (state?: 'active' | 'upcoming' | 'ended' | 'all') =>
        (await silences.list(state ? { state, limit: 500 } : {}))
          .filter((s) => s.deviceId === device)
          .map((s) => [s.id, s.state]);
      expect(await ids()).toEqual([[c.id, 'active']]);
      expect(await ids('active')).toEqual([[c.id, 'active']]);
      expect(await ids('upcoming')).toEqual([[b.id, 'upcoming']]);
      expect(await ids('ended')).toEqual([
        [d.id, 'ended'],
        [a.id, 'ended'],
      ]);
      expect(await ids('all')).toEqual([
        [d.id, 'ended'],
        [c.id, 'active'],
        [b.id, 'upcoming'],
        [a.id, 'ended'],
      ]);
      expect(await silences.list({ state: 'all', limit: 2 })).toHaveLength(2);
    });
  });
}

describe('silence scopes', () => {
  it('mutes the operators for a silence, and everybody for a maintenance', () => {
    expect(silenceMutes('silence', 'operator')).toBe(true);
    expect(silenceMutes('silence', 'resident')).toBe(false);
    expect(silenceMutes('maintenance', 'operator')).toBe(true);
    expect(silenceMutes('maintenance', 'resident')).toBe(true);
  });
});
