import { describe, expect, it } from 'vitest';
import { ALERT_TYPES } from '../../core/contracts/index.ts';
import {
  createWaterMeterDetectors,
  modelConfigSchema,
  WATER_METER_DETECTORS,
  waterMeterConfigSchema,
  waterMeterModel,
} from './index.ts';
import { describeHousehold, HOUR_MS, householdSeries, runDetector, shiftIndexFrom, T0_MS } from './test-helpers.ts';

describe('water-meter', () => {
  it('gives every default when the config is empty', () => {
    const config = waterMeterConfigSchema.parse({});
    expect(config.model).toEqual(modelConfigSchema.parse({}));
    for (const module of WATER_METER_DETECTORS) {
      expect(config[module.name], module.name).toEqual(module.configSchema.parse({}));
    }
    expect(Object.keys(config).sort()).toEqual(['backflow', 'burst', 'leak', 'model', 'no-consumption']);
  });

  it('names the key when a config value is invalid', () => {
    const nested = waterMeterConfigSchema.safeParse({ leak: { windowHours: -1 } });
    expect(nested.error?.issues[0]?.path).toEqual(['leak', 'windowHours']);
    const typo = waterMeterConfigSchema.safeParse({ leaks: {} });
    expect(JSON.stringify(typo.error?.issues)).toContain('leaks');
  });

  it('lists its detectors alphabetically, each named after the alert type it raises', () => {
    const names = WATER_METER_DETECTORS.map((m) => m.name);
    expect(names).toEqual([...names].sort());
    const detectors = createWaterMeterDetectors(waterMeterConfigSchema.parse({}));
    expect(detectors.map((d) => d.type)).toEqual(names);
    for (const d of detectors) {
      expect(ALERT_TYPES).toContain(d.type);
      expect(d.kinds).toEqual(['water-meter']);
    }
    expect(waterMeterModel(modelConfigSchema.parse({})).kind).toBe('water-meter');
  });

  const swapHours = 10 * 24 + 13.25; // day 10, 13:15
  it.each([
    { what: 'a counter reset to near 0 on day 10', map: (i: number) => i - 123_000 },
    { what: 'a new meter starting at 0 on day 10', map: (i: number, atSwap: number) => i - atSwap },
    { what: 'a new meter with a far higher index on day 10', map: (i: number) => i + 5_000_000 },
  ])('raises no backflow, burst, leak or no-consumption when $what', ({ map }) => {
    const detectors = createWaterMeterDetectors(waterMeterConfigSchema.parse({}));
    for (const seed of [2, 7, 11, 30]) {
      const series = householdSeries(seed, 20);
      const atSwap = series.find((r) => Date.parse(r.ts) >= T0_MS + swapHours * HOUR_MS)?.metrics.indexL ?? 0;
      const readings = shiftIndexFrom(series, swapHours, (i) => map(i, atSwap));
      for (const detector of detectors) {
        expect(runDetector(detector, readings).signals, `${detector.type} ${describeHousehold(seed)}`).toEqual([]);
      }
    }
  });
});
