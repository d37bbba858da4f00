/**
 * The per-lamp rollups of one partition of `readings.streetlight.v1`: {@link stepLamp} on each lamp's power and
 * energy counter, through the ordered per-device rollups (ordered-rollups.ts: duplicates, reorder buffer, late
 * readings, snapshots). A reading without a numeric `powerW` (required by the contract) is dropped (`no-power`).
 * Memory per lamp: ≈ 1 KiB (two meter states, the buffer, 4 timestamps); a snapshot row ≈ 600 bytes of JSON.
 */
import { z } from 'zod';
import type { Rollup } from '../../core/contracts/index.ts';
import type { LocalCalendar } from '../../core/local-time.ts';
import { type LampConfig, type LampPeriod, type LampRollupState, stepLamp } from './lamp.ts';
import { MeterStateSchema } from './meter-rollups.ts';
import type { OrderedKind, Place } from './ordered-rollups.ts';

/** Circuit of a lamp the registry places on none (rollups still count it, under this name). */
export const UNASSIGNED_CIRCUIT = 'unassigned';

const LampStateSchema = z.object({
  lastPowerW: z.number(),
  lastEnergyWh: z.number().nullable(),
  energyWh: z.number(),
  litHours: z.number(),
  energy: MeterStateSchema,
  lit: MeterStateSchema,
});

/** Builds the rollup record of a lamp's final period (circuit `unassigned` when the registry has none). */
export function lampRollup(deviceId: string, place: Place, p: LampPeriod): Rollup {
  return {
    kind: 'streetlight',
    scope: 'device',
    deviceId,
    district: place.district,
    circuit: place.circuit ?? UNASSIGNED_CIRCUIT,
    period: p.period,
    start: new Date(p.startMs).toISOString(),
    values: { energyWh: p.energyMwh / 1000, litHours: p.litMilliHours / 1000 },
  };
}

/** The streetlight kind for the ordered rollups: [powerW, energyWh | null], {@link stepLamp}, {@link lampRollup}. */
export function streetlightKind(
  config: LampConfig,
  calendar: LocalCalendar,
): OrderedKind<[number, number | null], LampRollupState, LampPeriod> {
  return {
    extract: (reading) => {
      const { powerW, energyWh } = reading.metrics;
      if (typeof powerW !== 'number' || !Number.isFinite(powerW)) return { drop: 'no-power' };
      return [powerW, typeof energyWh === 'number' && Number.isFinite(energyWh) ? energyWh : null];
    },
    step: (state, tsMs, [powerW, energyWh]) => stepLamp(state, tsMs, powerW, energyWh, calendar, config),
    toRollup: lampRollup,
    valueSchema: z.tuple([z.number(), z.number().nullable()]),
    stateSchema: LampStateSchema,
  };
}
