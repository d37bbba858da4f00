import { describe, expect, it, onTestFinished } from 'vitest';
import { type Rollup, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { BUS_AND_ENGINE, openTestBus } from '../../test/helpers/bus.ts';
import { dailyConsumption, monthlyConsumption } from './consumption.ts';
import { createResidents } from './index.ts';
import { openTestStore } from './test-helpers.ts';

const POLL = { timeout: 60_000, interval: 50 };
const TZ = 'Europe/Paris';

function rollup(deviceId: string, period: 'hour' | 'day', start: string, consumptionL: number): Rollup {
  return { kind: 'water-meter', scope: 'device', deviceId, district: 'north', period, start, values: { consumptionL } };
}

describe.each(BUS_AND_ENGINE)('residents consumption read model on the %s bus and %s', (busKind, engine) => {
  it('stores meter hours and days, replaces a later record, counts what it ignores or drops, and sums local months across DST', async () => {
    const store = await openTestStore(engine);
    const bus = await openTestBus(busKind, 'residents');
    const metrics = new Metrics();
    const residents = createResidents({ bus, store, metrics, logger: silentLogger() });
    const json = (r: unknown) => ({ key: 'WM-1', value: JSON.stringify(r) });
    // 1. Records on the topic before the read model starts (it reads from the beginning).
    await bus.ensureTopic(TOPICS.rollups);
    await bus.produce(TOPICS.rollups, [
      // March 29 2026: clocks go forward, the local day starts at 23:00Z on the 28th and lasts 23 h.
      json(rollup('WM-1', 'day', '2026-03-28T23:00:00.000Z', 100)),
      // March 31 and April 1 (local): April 1 starts at 22:00Z on March 31, which a UTC month would misplace.
      json(rollup('WM-1', 'day', '2026-03-30T22:00:00.000Z', 10)),
      json(rollup('WM-1', 'day', '2026-03-31T22:00:00.000Z', 7)),
      // October 25 2026: clocks go back, the local day starts at 22:00Z on the 24th and lasts 25 h.
      json(rollup('WM-1', 'day', '2026-10-24T22:00:00.000Z', 250)),
      // November 1 (local) starts at 23:00Z on October 31.
      json(rollup('WM-1', 'day', '2026-10-31T23:00:00.000Z', 40)),
      // November 2: no day rollup yet, three hours so far (two of them at 00:xx local, i.e. 23:xxZ on the 1st).
      json(rollup('WM-1', 'hour', '2026-11-01T23:00:00.000Z', 1.5)),
      json(rollup('WM-1', 'hour', '2026-11-02T00:00:00.000Z', 2)),
      json(rollup('WM-1', 'hour', '2026-11-02T06:00:00.000Z', 3)),
      // Hours of a day that has its day rollup: the day rollup wins.
      json(rollup('WM-1', 'hour', '2026-10-31T23:00:00.000Z', 39)),
      json(rollup('WM-2', 'day', '2026-10-24T22:00:00.000Z', 999)),
      // Ignored on purpose: a district, a streetlight.
      json({
        ...rollup('WM-1', 'day', '2026-10-24T22:00:00.000Z', 900),
        scope: 'district',
        deviceId: undefined,
        devices: 3,
      }),
      json({ ...rollup('SL-1', 'day', '2026-10-24T22:00:00.000Z', 1), kind: 'streetlight', circuit: 'C-1' }),
      // Invalid: not JSON, not a Rollup, no consumption.
      { key: 'WM-1', value: '{not json' },
      json({ kind: 'water-meter', scope: 'device', deviceId: 'WM-1' }),
      json({ ...rollup('WM-1', 'day', '2026-10-24T22:00:00.000Z', 1), values: { nightMinFlowLph: 1 } }),
    ]);
    await residents.start();
    onTestFinished(() => residents.close());
    await expect.poll(() => metrics.value('residents_consumption_rollups_total'), POLL).toBe(15);
    // 2. A later record of the same day (late readings) replaces it.
    await bus.produce(TOPICS.rollups, [json(rollup('WM-1', 'day', '2026-10-24T22:00:00.000Z', 260))]);
    await expect.poll(() => metrics.value('residents_consumption_rollups_total', { outcome: 'stored' }), POLL).toBe(11);
    expect(await metrics.value('residents_consumption_rollups_total', { outcome: 'ignored' })).toBe(2);
    expect(await metrics.value('residents_consumption_rollups_total', { outcome: 'invalid' })).toBe(3);

    // 3. Days: the day rollup, else the hours so far (partial); local dates on DST days.
    expect(await dailyConsumption(store, 'WM-1', { from: '2026-10-24', to: '2026-11-03' }, TZ)).toEqual([
      { date: '2026-10-25', consumptionL: 260, partial: false },
      { date: '2026-11-01', consumptionL: 40, partial: false },
      { date: '2026-11-02', consumptionL: 6.5, partial: true },
    ]);
    expect(await dailyConsumption(store, 'WM-1', { from: '2026-03-29', to: '2026-03-29' }, TZ)).toEqual([
      { date: '2026-03-29', consumptionL: 100, partial: false },
    ]);
    // 4. Months: sums of local days (April 1 and November 1 in their own month, not the one their UTC start is in).
    expect(await monthlyConsumption(store, 'WM-1', { from: '2026-01', to: '2026-12' }, TZ)).toEqual([
      { month: '2026-03', consumptionL: 110, days: 2, partial: false },
      { month: '2026-04', consumptionL: 7, days: 1, partial: false },
      { month: '2026-10', consumptionL: 260, days: 1, partial: false },
      { month: '2026-11', consumptionL: 46.5, days: 2, partial: true },
    ]);
    expect(await monthlyConsumption(store, 'WM-2', { from: '2026-10', to: '2026-10' }, TZ)).toEqual([
      { month: '2026-10', consumptionL: 999, days: 1, partial: false },
    ]);
  });
});
