/**
 * District rollups of one partition of `rollups-by-district.v1` (devices' final rollups keyed by district): the group
 * rollups (group-rollups.ts) of scope `district`, for every kind rolled up. Kept as its own name for the stage and
 * its tests.
 */
import type { Rollup } from '../../core/contracts/index.ts';
import type { LocalCalendar } from '../../core/local-time.ts';
import { createGroupRollups, type GroupDropReason, type GroupRollups } from './group-rollups.ts';

/** Why a device rollup was not added to its district: `duplicate`, `late` (its period expired) or `invalid`. */
export type DistrictDropReason = GroupDropReason;

/** Options of {@link createDistrictRollups}. */
export interface DistrictRollupsOptions {
  readonly config: {
    readonly districtLatenessHours: number;
    readonly nightStartHour: number;
    readonly nightEndHour: number;
  };
  readonly calendar: LocalCalendar;
  readonly onDrop?: (reason: DistrictDropReason, rollup: Rollup) => void;
}

/** District rollups of one partition; state keys `m:<deviceId>`, `d:<district>` (`ERR_ROLLUP_STATE` when unreadable). */
export type DistrictRollups = GroupRollups;

/** Creates the district rollups of one partition. */
export function createDistrictRollups(options: DistrictRollupsOptions): DistrictRollups {
  return createGroupRollups({ ...options, scope: 'district' });
}
