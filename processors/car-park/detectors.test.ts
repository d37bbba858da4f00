import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { runThroughModel } from '../test-helpers.ts';
import * as carParkFull from './car-park-full.ts';
import { carParkModel, modelConfigSchema } from './model.ts';

const MIN = 60_000;
const model = carParkModel(modelConfigSchema.parse({}));
const detector = carParkFull.create(carParkFull.configSchema.parse({}));

function series(
  fromIso: string,
  free: readonly number[],
  extra: Record<string, number> = { capacity: 400 },
): Reading[] {
  const from = Date.parse(fromIso);
  return free.map((spacesFree, i) => ({
    deviceId: 'CP-000003',
    kind: 'car-park',
    ts: new Date(from + i * 15 * MIN).toISOString(),
    metrics: { spacesFree, ...extra },
  }));
}
const brief = (run: ReturnType<typeof runThroughModel>) =>
  run.signals.map((s) => `${s.signal.active ? 'on' : 'off'}@${new Date(s.tsMs).toISOString().slice(11, 16)}`);

describe('car-park model', () => {
  it('derives the occupancy from the capacity when the reading has none, and keeps a reported one', () => {
    const s = model.initialState();
    const r = series('2026-03-07T14:00:00Z', [40])[0] as Reading;
    expect(model.derive(s, r, Date.parse(r.ts))).toMatchObject({
      derived: { spacesFree: 40, capacity: 400, occupancyPct: 90, gap: false },
    });
    const own = series('2026-03-07T14:00:00Z', [40], { capacity: 400, occupancyPct: 91.5 })[0] as Reading;
    expect(model.derive(s, own, Date.parse(own.ts))).toMatchObject({ derived: { occupancyPct: 91.5 } });
    const bare = series('2026-03-07T14:00:00Z', [40], {})[0] as Reading;
    expect(model.derive(s, bare, Date.parse(bare.ts))).toMatchObject({
      derived: { capacity: null, occupancyPct: null },
    });
  });

  it('drops a reading on purpose when spacesFree is missing, negative or fractional', () => {
    const s = model.initialState();
    const at = Date.parse('2026-03-07T14:00:00Z');
    const r = (metrics: Record<string, number>): Reading => ({
      deviceId: 'CP-1',
      kind: 'car-park',
      ts: '2026-03-07T14:00:00Z',
      metrics,
    });
    expect(model.derive(s, r({ capacity: 10 }), at)).toEqual({ state: s, drop: 'missing-spacesFree' });
    expect(model.derive(s, r({ spacesFree: -1 }), at)).toEqual({ state: s, drop: 'invalid-spacesFree' });
    expect(model.derive(s, r({ spacesFree: 0.5 }), at)).toEqual({ state: s, drop: 'invalid-spacesFree' });
  });
});

describe('car-park-full', () => {
  it('applies its defaults and refuses a recovery level at or below the full level', () => {
    expect(carParkFull.configSchema.parse({})).toEqual({
      fullMaxSpaces: 2,
      recoverSpaces: 10,
      minMinutes: 30,
      severity: 'info',
    });
    expect(carParkFull.configSchema.safeParse({ fullMaxSpaces: 10 }).success).toBe(false);
    expect(detector.kinds).toEqual(['car-park']);
  });

  it('opens after 30 min with 2 spaces or fewer on a Saturday afternoon and resolves at 10 free', () => {
    const run = runThroughModel(model, detector, series('2026-03-07T13:00:00Z', [12, 2, 0, 1, 0, 5, 9, 10]));
    expect(brief(run)).toEqual(['on@13:45', 'off@14:45']);
    const opened = run.signals[0]?.signal;
    expect(opened?.active && opened.severity).toBe('info');
    expect(opened?.active && opened.summary).toBe('Car park full for 30 min: 1 space free of 400');
    expect(opened?.active && opened.details).toEqual({
      spacesFree: 1,
      capacity: 400,
      occupancyPct: 99.8,
      fullMinutes: 30,
      sinceTs: '2026-03-07T13:15:00.000Z',
    });
  });

  it('stays quiet on one busy reading, on a busy car park with spaces left, and across a gap', () => {
    expect(brief(runThroughModel(model, detector, series('2026-03-07T13:00:00Z', [20, 0, 3, 0, 3])))).toEqual([]);
    expect(brief(runThroughModel(model, detector, series('2026-03-07T13:00:00Z', [3, 3, 4, 3, 5, 3])))).toEqual([]);
    const gapped = [...series('2026-03-07T13:00:00Z', [0, 0]), ...series('2026-03-07T15:00:00Z', [0])];
    expect(brief(runThroughModel(model, detector, gapped))).toEqual([]);
  });
});
