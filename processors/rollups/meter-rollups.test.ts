import { describe, expect, it } from 'vitest';
import type { Reading, Rollup } from '../../core/contracts/index.ts';
import { createLocalCalendar, HOUR_MS } from '../../core/local-time.ts';
import { rollupsConfigSchema } from './config.ts';
import { createMeterRollups, type MeterDropReason } from './meter-rollups.ts';

const calendar = createLocalCalendar('Europe/Paris');
const T0 = Date.parse('2026-03-01T23:00:00Z'); // local midnight of 2026-03-02
const MIN = 60_000;

const wm = (deviceId: string, minutes: number, indexL: number): Reading => ({
  deviceId,
  kind: 'water-meter',
  ts: new Date(T0 + minutes * MIN).toISOString(),
  metrics: { indexL },
});

/** Two meters over 26 h, a reading every 15 min (A: 12 L/h; B: 20 L/h, 4 L/h at night). */
function stream(): Reading[] {
  const out: Reading[] = [];
  let a = 100;
  let b = 5000;
  for (let m = 0; m <= 26 * 60; m += 15) {
    out.push(wm('WM-A', m, a), wm('WM-B', m, b));
    a += 3;
    const hour = Math.floor(m / 60) % 24;
    b += hour >= 2 && hour < 5 ? 1 : 5;
  }
  return out;
}

function runAll(readings: readonly Reading[], overrides: Record<string, unknown> = {}) {
  const drops: MeterDropReason[] = [];
  const meters = createMeterRollups({
    config: rollupsConfigSchema.parse(overrides),
    calendar,
    districtOf: (id) => (id === 'WM-A' ? 'north' : 'unassigned'),
    onDrop: (reason) => drops.push(reason),
  });
  const out: Rollup[] = [];
  for (const r of readings) out.push(...meters.push(r));
  out.push(...meters.flush());
  return { out, drops, meters };
}

/** The rollups of one meter in emission order, as `[period, start, values]`. */
const of = (out: readonly Rollup[], id: string) =>
  out.filter((r) => r.deviceId === id).map((r) => [r.period, r.start, r.values]);

describe('meter rollups', () => {
  it('emits each meter’s hours and its day with its district when the readings come in order', () => {
    const { out } = runAll(stream());
    const a = out.filter((r) => r.deviceId === 'WM-A');
    expect(a.filter((r) => r.period === 'hour')).toHaveLength(26);
    expect(a.find((r) => r.period === 'day')).toEqual({
      kind: 'water-meter',
      scope: 'device',
      deviceId: 'WM-A',
      district: 'north',
      period: 'day',
      start: '2026-03-01T23:00:00.000Z',
      values: { consumptionL: 288, nightMinFlowLph: 12 },
    });
    const bDay = out.find((r) => r.deviceId === 'WM-B' && r.period === 'day');
    expect(bDay?.district).toBe('unassigned');
    expect(bDay?.values).toEqual({ consumptionL: 21 * 20 + 3 * 4, nightMinFlowLph: 4 });
  });

  it('gives the same rollups when readings arrive out of order within the tolerance and duplicated', () => {
    const ordered = runAll(stream()).out;
    const shuffled = stream();
    // Swap neighbours and send every 7th reading twice.
    for (let i = 0; i + 3 < shuffled.length; i += 4) {
      [shuffled[i], shuffled[i + 2]] = [shuffled[i + 2] as Reading, shuffled[i] as Reading];
    }
    const withDuplicates = shuffled.flatMap((r, i) => (i % 7 === 0 ? [r, r] : [r]));
    const { out, drops } = runAll(withDuplicates);
    expect(of(out, 'WM-A')).toEqual(of(ordered, 'WM-A'));
    expect(of(out, 'WM-B')).toEqual(of(ordered, 'WM-B'));
    expect(drops.filter((d) => d === 'duplicate')).toHaveLength(Math.ceil(shuffled.length / 7));
    expect(drops.filter((d) => d !== 'duplicate')).toEqual([]);
  });

  it('drops a reading as late when it is older than what the meter already released', () => {
    const readings = [wm('WM-A', 0, 100), wm('WM-A', 60, 110), wm('WM-A', 120, 120), wm('WM-A', 30, 105)];
    const { drops } = runAll(readings, { reorderToleranceMs: 0 });
    expect(drops).toEqual(['late']);
  });

  it('drops a reading without indexL on purpose', () => {
    const { drops } = runAll([{ ...wm('WM-A', 0, 1), metrics: { batteryPct: 80 } }]);
    expect(drops).toEqual(['no-index']);
  });

  it('gives identical output when the same readings are replayed', () => {
    expect(runAll(stream()).out).toEqual(runAll(stream()).out);
  });

  it('continues exactly where it was when restored from a snapshot mid-stream', () => {
    const all = stream();
    const whole = runAll(all).out;
    const config = rollupsConfigSchema.parse({});
    const districtOf = (id: string) => (id === 'WM-A' ? 'north' : 'unassigned');
    const first = createMeterRollups({ config, calendar, districtOf });
    const out: Rollup[] = [];
    const cut = Math.floor(all.length * 0.6);
    for (const r of all.slice(0, cut)) out.push(...first.push(r));
    const second = createMeterRollups({ config, calendar, districtOf });
    for (const id of first.takeDirty()) second.restore(id, first.snapshot(id));
    second.restoreClock(first.snapshotClock());
    for (const r of all.slice(cut)) out.push(...second.push(r));
    out.push(...second.flush());
    expect(out).toEqual(whole);
  });

  it('releases a quiet meter’s buffered reading when the partition’s watermark passes the next hour', () => {
    const meters = createMeterRollups({
      config: rollupsConfigSchema.parse({}),
      calendar,
      districtOf: () => 'unassigned',
    });
    meters.push(wm('WM-A', 0, 100));
    meters.push(wm('WM-A', 60, 130)); // buffered: the watermark is 15 min behind
    const out = meters.push(wm('WM-B', 2 * 60, 1)); // another meter moves the watermark past the hour
    expect(out.map((r) => [r.deviceId, r.start, r.values.consumptionL])).toEqual([
      ['WM-A', new Date(T0).toISOString(), 30],
    ]);
    expect(HOUR_MS).toBe(60 * MIN);
  });

  it('refuses an unreadable snapshot with ERR_ROLLUP_STATE', () => {
    const meters = createMeterRollups({ config: rollupsConfigSchema.parse({}), calendar, districtOf: () => 'x' });
    expect(() => meters.restore('WM-A', '{"v":2}')).toThrow(expect.objectContaining({ code: 'ERR_ROLLUP_STATE' }));
    expect(() => meters.restoreClock('not json')).toThrow(expect.objectContaining({ code: 'ERR_ROLLUP_STATE' }));
  });
});
