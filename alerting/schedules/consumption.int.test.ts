import { describe, expect, it, onTestFinished } from 'vitest';
import { type Rollup, TOPICS } from '../../core/contracts/index.ts';
import { silentLogger } from '../../core/logging.ts';
import { Metrics } from '../../core/metrics.ts';
import { BUS_AND_ENGINE, openTestBus } from '../../test/helpers/bus.ts';
import { createConsumptionReadModel } from './consumption.ts';
import { openTestStore } from './test-helpers.ts';

const POLL = { timeout: 60_000, interval: 50 };

function dayRollup(deviceId: string, start: string, values: Record<string, number>): Rollup {
  return { kind: 'water-meter', scope: 'device', deviceId, district: 'north', period: 'day', start, values };
}

describe.each(BUS_AND_ENGINE)('consumption read model on the %s bus and %s', (busKind, engine) => {
  it('stores each meter day under its local date, replaces it with a later record, and counts what it ignores or drops', async () => {
    const store = await openTestStore(engine);
    const bus = await openTestBus(busKind, 'consumption');
    const metrics = new Metrics();
    const model = createConsumptionReadModel({ bus, store, metrics, logger: silentLogger(), timeZone: 'Europe/Paris' });
    // 1. Records already on the topic before the read model starts (fromBeginning).
    await bus.ensureTopic(TOPICS.rollups);
    const json = (r: unknown) => ({ key: 'WM-1', value: JSON.stringify(r) });
    await bus.produce(TOPICS.rollups, [
      // The day clocks go back: local 2026-10-25 starts at 22:00Z on the 24th (and lasts 25 h).
      json(dayRollup('WM-1', '2026-10-24T22:00:00.000Z', { consumptionL: 120, nightMinFlowLph: 0.5 })),
      json(dayRollup('WM-1', '2026-10-25T23:00:00.000Z', { consumptionL: 95 })),
      // Ignored on purpose: an hour, a district, a streetlight.
      json({ ...dayRollup('WM-1', '2026-10-25T10:00:00.000Z', { consumptionL: 4 }), period: 'hour' }),
      json({
        kind: 'water-meter',
        scope: 'district',
        district: 'north',
        period: 'day',
        start: '2026-10-24T22:00:00.000Z',
        values: { consumptionL: 900 },
        devices: 3,
      }),
      json({
        kind: 'streetlight',
        scope: 'device',
        deviceId: 'SL-1',
        district: 'north',
        circuit: 'C-1',
        period: 'day',
        start: '2026-10-24T22:00:00.000Z',
        values: { energyWh: 700 },
      }),
      // Invalid: not JSON, not a Rollup, no consumption.
      { key: 'WM-1', value: '{not json' },
      json({ kind: 'water-meter', scope: 'device', deviceId: 'WM-1' }),
      json(dayRollup('WM-2', '2026-10-24T22:00:00.000Z', { nightMinFlowLph: 1 })),
    ]);
    await model.start();
    onTestFinished(() => model.close());
    await expect.poll(() => metrics.value('alerting_consumption_rollups_total'), POLL).toBe(8);
    // 2. A later record of the same day (late readings) replaces it.
    await bus.produce(TOPICS.rollups, [json(dayRollup('WM-1', '2026-10-24T22:00:00.000Z', { consumptionL: 130 }))]);
    await expect.poll(() => metrics.value('alerting_consumption_rollups_total', { outcome: 'stored' }), POLL).toBe(3);
    expect(await metrics.value('alerting_consumption_rollups_total', { outcome: 'ignored' })).toBe(3);
    expect(await metrics.value('alerting_consumption_rollups_total', { outcome: 'invalid' })).toBe(3);
    const rows = await store.query<{ device_id: string; day: string; consumption_l: number; night: number | null }>(
      `SELECT device_id, to_char(day, 'YYYY-MM-DD') AS day, consumption_l, night_min_flow_lph AS night
         FROM alerting_consumption_daily ORDER BY device_id, day`,
    );
    expect(rows.rows).toEqual([
      { device_id: 'WM-1', day: '2026-10-25', consumption_l: 130, night: null },
      { device_id: 'WM-1', day: '2026-10-26', consumption_l: 95, night: null },
    ]);
  });
});
