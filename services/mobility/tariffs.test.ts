import { describe, expect, it } from 'vitest';
import {
  BikeTariff,
  bikeRentalCents,
  CarShareTariff,
  carShareTripCents,
  DEFAULT_TARIFFS,
  parseTariffTable,
  startedMinutes,
  TariffTable,
  TransitTariff,
} from './tariffs.ts';

const MIN = 60_000;

describe('tariffs', () => {
  it('fills the example table when nothing is configured', () => {
    expect(DEFAULT_TARIFFS).toEqual({
      id: 'example-2026',
      transit: { fareCents: 150, transferWindowMinutes: 60, dailyCapCents: 450, monthlyCapCents: 3900 },
      bike: { freeMinutes: 30, blockMinutes: 30, blockCents: 100, dailyCapCents: 500 },
      carShare: { timeBlockMinutes: 15, timeBlockCents: 75, kmCents: 30 },
    });
    expect(parseTariffTable({ transit: { fareCents: 170 } }).transit).toMatchObject({
      fareCents: 170,
      dailyCapCents: 450,
    });
  });

  it('refuses a table when a key is unknown, a price is not whole cents or caps contradict the fare', () => {
    expect(() => parseTariffTable({ transit: { fare: 150 } })).toThrow(
      expect.objectContaining({ code: 'ERR_MOBILITY_TARIFF_INVALID' }),
    );
    expect(() => parseTariffTable({ bike: { blockCents: 1.5 } })).toThrow(/bike\.blockCents/);
    expect(() => parseTariffTable({ transit: { fareCents: 500 } })).toThrow(
      /transit\.dailyCapCents below transit\.fareCents/,
    );
    expect(() => parseTariffTable({ transit: { monthlyCapCents: 400 } })).toThrow(
      /transit\.monthlyCapCents below transit\.dailyCapCents/,
    );
    expect(() => parseTariffTable({ bike: { dailyCapCents: 50 } })).toThrow(
      /bike\.dailyCapCents below bike\.blockCents/,
    );
    expect(() => parseTariffTable({ bike: { blockMinutes: 0 } })).toThrow(/bike\.blockMinutes/);
  });

  it('describes every key of the table when the config reference is generated from it', () => {
    for (const schema of [TariffTable, TransitTariff, BikeTariff, CarShareTariff]) {
      for (const [key, value] of Object.entries(schema.shape)) {
        expect(value.description, key).toBeTruthy();
      }
    }
  });

  it('counts started minutes when a duration has seconds', () => {
    expect(startedMinutes(0)).toBe(0);
    expect(startedMinutes(75 * MIN)).toBe(75);
    expect(startedMinutes(30 * MIN + 1_000)).toBe(31);
  });

  it('prices a bike rental by started 30-minute blocks after 30 free minutes', () => {
    const b = DEFAULT_TARIFFS.bike;
    expect(bikeRentalCents(30 * MIN, b)).toBe(0); // 30 free
    expect(bikeRentalCents(30 * MIN + 1_000, b)).toBe(100); // 31 started minutes: 1 over → 1 block
    expect(bikeRentalCents(60 * MIN, b)).toBe(100); // 30 over → 1 block
    expect(bikeRentalCents(61 * MIN, b)).toBe(200); // 31 over → 2 blocks
    expect(bikeRentalCents(130 * MIN, b)).toBe(400); // 100 over → 4 blocks
  });

  it('prices a car-share trip by started quarter hours plus km rounded half up to the cent', () => {
    const c = DEFAULT_TARIFFS.carShare;
    expect(carShareTripCents(210 * MIN, 42.5, c)).toBe(2325); // 14 × 75 = 1050 + 42 500 m × 30 / 1000 = 1275
    expect(carShareTripCents(16 * MIN, 12.345, c)).toBe(520); // 2 × 75 = 150 + 370.35 → 370
    expect(carShareTripCents(15 * MIN, 0.05, c)).toBe(77); // 75 + 1.5 → 2
    expect(carShareTripCents(0, 0, c)).toBe(0);
    expect(carShareTripCents(MIN, 0.1 + 0.2, c)).toBe(84); // 1 block 75 + 300 m × 30 / 1000 = 9 (no float drift)
  });
});
