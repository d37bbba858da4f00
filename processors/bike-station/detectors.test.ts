import { describe, expect, it } from 'vitest';
import type { Reading } from '../../core/contracts/index.ts';
import { runThroughModel } from '../test-helpers.ts';
import { bikeStationModel, modelConfigSchema } from './model.ts';
import * as stationEmpty from './station-empty.ts';
import * as stationFull from './station-full.ts';

const MIN = 60_000;
const model = bikeStationModel(modelConfigSchema.parse({}));
const empty = stationEmpty.create(stationEmpty.configSchema.parse({}));
const full = stationFull.create(stationFull.configSchema.parse({}));

/** Readings every 15 min from `fromIso` (UTC), one per (bikes, docks) pair. */
function series(fromIso: string, counts: ReadonlyArray<readonly [number, number]>): Reading[] {
  const from = Date.parse(fromIso);
  return counts.map(([bikes, docks], i) => ({
    deviceId: 'BS-000007',
    kind: 'bike-station',
    ts: new Date(from + i * 15 * MIN).toISOString(),
    metrics: { bikesAvailable: bikes, docksAvailable: docks, capacity: 20 },
  }));
}
const brief = (run: ReturnType<typeof runThroughModel>) =>
  run.signals.map((s) => `${s.signal.active ? 'on' : 'off'}@${new Date(s.tsMs).toISOString().slice(11, 16)}`);

describe('station-empty', () => {
  it('applies its defaults and refuses a recovery level at or below the empty level', () => {
    expect(stationEmpty.configSchema.parse({})).toEqual({
      emptyMaxBikes: 0,
      recoverBikes: 2,
      minMinutes: 60,
      severity: 'warning',
    });
    expect(stationEmpty.configSchema.safeParse({ emptyMaxBikes: 2, recoverBikes: 2 }).success).toBe(false);
    expect(empty.kinds).toEqual(['bike-station']);
  });

  it('opens after an hour at 0 bikes on a weekday morning, with the numbers, and resolves when 2 bikes are back', () => {
    // 07:00 UTC = 08:00 in Mulhouse (CET).
    const run = runThroughModel(
      model,
      empty,
      series('2026-03-02T07:00:00Z', [
        [3, 17],
        [0, 20],
        [0, 20],
        [0, 20],
        [0, 20],
        [0, 20],
        [1, 19],
        [0, 20],
        [2, 18],
      ]),
    );
    expect(brief(run)).toEqual(['on@08:15', 'off@09:00']);
    const opened = run.signals[0]?.signal;
    expect(opened?.active && opened.summary).toBe(
      'Bike station empty for 60 min (since 08:15): no bike to rent, 20 docks free',
    );
    expect(opened?.active && opened.details).toEqual({
      bikesAvailable: 0,
      docksAvailable: 20,
      capacity: 20,
      emptyMinutes: 60,
      sinceTs: '2026-03-02T07:15:00.000Z',
    });
  });

  it('stays quiet when the rebalancing truck comes within 45 minutes, and at night', () => {
    expect(
      brief(
        runThroughModel(
          model,
          empty,
          series('2026-03-02T07:00:00Z', [
            [0, 20],
            [0, 20],
            [0, 20],
            [10, 10],
          ]),
        ),
      ),
    ).toEqual([]);
    // From 21:00 UTC (22:00 local) to 06:00 UTC: the night does not count, the count starts at 06:00 local
    // (05:00 UTC) and the alert opens an hour later.
    const night = Array.from({ length: 37 }, () => [0, 20] as const);
    expect(brief(runThroughModel(model, empty, series('2026-03-02T21:00:00Z', night)))).toEqual(['on@06:00']);
  });
});

describe('station-full', () => {
  it('applies its defaults', () => {
    expect(stationFull.configSchema.parse({})).toEqual({
      fullMaxDocks: 0,
      recoverDocks: 2,
      minMinutes: 60,
      severity: 'warning',
    });
    expect(full.kinds).toEqual(['bike-station']);
  });

  it('opens after an hour with no free dock by day and resolves when 2 docks are free', () => {
    const run = runThroughModel(
      model,
      full,
      series('2026-03-02T08:00:00Z', [
        [20, 0],
        [20, 0],
        [20, 0],
        [19, 1],
        [20, 0],
        [20, 0],
        [20, 0],
        [20, 0],
        [20, 0],
        [18, 2],
      ]),
    );
    expect(brief(run)).toEqual(['on@10:00', 'off@10:15']);
    const opened = run.signals[0]?.signal;
    expect(opened?.active && opened.summary).toBe(
      'Bike station full for 60 min (since 10:00): no dock to return a bike, 20 bikes docked',
    );
    expect(opened?.active && opened.details).toMatchObject({ docksAvailable: 0, fullMinutes: 60 });
  });

  it('does not open on an empty station, nor station-empty on a full one', () => {
    const counts = Array.from({ length: 8 }, () => [0, 20] as const);
    expect(brief(runThroughModel(model, full, series('2026-03-02T08:00:00Z', counts)))).toEqual([]);
    const fullCounts = Array.from({ length: 8 }, () => [20, 0] as const);
    expect(brief(runThroughModel(model, empty, series('2026-03-02T08:00:00Z', fullCounts)))).toEqual([]);
  });
});
