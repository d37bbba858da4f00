import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { bikeStationModel, modelConfigSchema } from './model.ts';

const model = bikeStationModel(modelConfigSchema.parse({}));
const reading = (ts: string, metrics: Record<string, number>): Reading => ({
  deviceId: 'BS-000001',
  kind: 'bike-station',
  ts,
  metrics,
});
const derive = (state: { lastTsMs: number | null }, r: Reading) => model.derive(state, r, Date.parse(r.ts));

describe('bike-station model', () => {
  it('applies its defaults and refuses a day that ends before it starts', () => {
    expect(modelConfigSchema.parse({})).toEqual({
      timeZone: 'Europe/Paris',
      dayStart: '06:00',
      dayEnd: '22:00',
      maxGapMinutes: 90,
    });
    expect(modelConfigSchema.safeParse({ dayStart: '22:00', dayEnd: '06:00' }).success).toBe(false);
    expect(modelConfigSchema.safeParse({ timeZone: 'Mars/Olympus' }).success).toBe(false);
  });

  it('derives the counts and places the reading in the local day (Europe/Paris, winter and summer time)', () => {
    const winter = derive(
      model.initialState(),
      reading('2026-03-02T05:00:00Z', { bikesAvailable: 3, docksAvailable: 9 }),
    );
    expect(winter).toEqual({
      state: { lastTsMs: Date.parse('2026-03-02T05:00:00Z') },
      derived: { bikes: 3, docks: 9, ebikes: null, capacity: null, localTime: '06:00', day: true, gap: false },
    });
    const night = derive(
      model.initialState(),
      reading('2026-03-02T04:59:00Z', { bikesAvailable: 3, docksAvailable: 9 }),
    );
    expect('derived' in night && night.derived.day).toBe(false);
    const summer = derive(
      model.initialState(),
      reading('2026-07-01T20:00:00Z', { bikesAvailable: 0, docksAvailable: 20, ebikesAvailable: 0, capacity: 20 }),
    );
    expect('derived' in summer && summer.derived).toMatchObject({ localTime: '22:00', day: false, capacity: 20 });
  });

  it('flags a gap when more than maxGapMinutes separate two readings', () => {
    const first = derive(
      model.initialState(),
      reading('2026-03-02T08:00:00Z', { bikesAvailable: 1, docksAvailable: 1 }),
    );
    const soon = derive(first.state, reading('2026-03-02T09:30:00Z', { bikesAvailable: 1, docksAvailable: 1 }));
    const late = derive(first.state, reading('2026-03-02T09:31:00Z', { bikesAvailable: 1, docksAvailable: 1 }));
    expect('derived' in soon && soon.derived.gap).toBe(false);
    expect('derived' in late && late.derived.gap).toBe(true);
  });

  it('drops a reading on purpose when a count is missing, negative or fractional', () => {
    const s = model.initialState();
    const ts = '2026-03-02T08:00:00Z';
    expect(derive(s, reading(ts, { docksAvailable: 1 }))).toEqual({ state: s, drop: 'missing-bikesAvailable' });
    expect(derive(s, reading(ts, { bikesAvailable: 1 }))).toEqual({ state: s, drop: 'missing-docksAvailable' });
    expect(derive(s, reading(ts, { bikesAvailable: -1, docksAvailable: 1 }))).toEqual({
      state: s,
      drop: 'invalid-counts',
    });
    expect(derive(s, reading(ts, { bikesAvailable: 1, docksAvailable: 1.5 }))).toEqual({
      state: s,
      drop: 'invalid-counts',
    });
    expect(derive(s, reading(ts, { bikesAvailable: 1, docksAvailable: 1, capacity: -2 }))).toEqual({
      state: s,
      drop: 'invalid-counts',
    });
  });
});
