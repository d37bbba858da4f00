import { describe, expect, it } from 'vitest';
import { buildDetectors, buildModels, DETECTORS, processorsConfigSchema } from './registry.ts';

describe('processors registry', () => {
  it('yields every default when the config is empty', () => {
    const config = processorsConfigSchema.parse({});
    expect(config).toMatchObject({
      reorderToleranceMs: 900_000,
      tickIntervalMs: 900_000,
      checkpointIntervalMs: 5_000,
      alertUpdate: { updateChangeRatio: 0.25, updateMinIntervalMs: 3_600_000 },
      deviceFlag: { severity: 'warning' },
      lowBattery: { lowBatteryPct: 10, recoverBatteryPct: 15 },
      noData: { reportingIntervalMinutes: 15, noDataIntervals: 8 },
    });
    expect(Object.keys(config.waterMeter).sort()).toEqual(['backflow', 'burst', 'leak', 'model', 'no-consumption']);
  });

  it('names the key when a value is invalid or unknown', () => {
    const r = processorsConfigSchema.safeParse({ reorderToleranceMs: -1, noData: { noDataIntervalz: 3 }, extra: 1 });
    const paths = r.error?.issues.map((i) => [...i.path, ...('keys' in i ? i.keys : [])].join('.'));
    expect(paths).toEqual(expect.arrayContaining(['reorderToleranceMs', 'noData.noDataIntervalz', 'extra']));
  });

  it('coerces numbers when values come from the environment as strings', () => {
    expect(processorsConfigSchema.parse({ checkpointIntervalMs: '250' }).checkpointIntervalMs).toBe(250);
  });

  it('lists detectors alphabetically, one per alert type, when built', () => {
    const names = DETECTORS.map((d) => d.name);
    expect(names).toEqual([...names].sort());
    const detectors = buildDetectors(processorsConfigSchema.parse({}));
    expect(detectors.map((d) => d.type)).toEqual(names);
    expect(Object.keys(buildModels(processorsConfigSchema.parse({})))).toEqual([
      'water-meter',
      'streetlight',
      'bike-station',
      'car-park',
    ]);
  });
});
