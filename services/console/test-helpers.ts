import type { AlertTransition, DeviceInfo, Rollup } from '../../core/contracts/index.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore as openEngineStore } from '../../test/helpers/postgres.ts';
import { httpMigrations } from '../http/index.ts';
import { consoleMigrations } from './index.ts';

/**
 * A store of `engine` with the operator tokens' migrations and the console's, closed (and its database dropped) when
 * the test ends.
 */
export function openTestStore(engine: 'pglite' | 'postgres'): Promise<SqlStore> {
  return openEngineStore(engine, [httpMigrations, consoleMigrations]);
}

/** A registry record (devices.v1). */
export function device(deviceId: string, more: Partial<DeviceInfo> = {}): DeviceInfo {
  return {
    deviceId,
    kind: 'water-meter',
    district: 'north',
    lat: 47.75,
    lon: 7.33,
    active: true,
    updatedAt: '2026-03-01T00:00:00.000Z',
    ...more,
  };
}

/** An alert transition (alerts.v1) of episode `episode`. */
export function transition(
  deviceId: string,
  state: AlertTransition['state'],
  ts: string,
  more: Partial<AlertTransition> & { episode?: number } = {},
): AlertTransition {
  const { episode = 1, ...rest } = more;
  const type = rest.type ?? 'leak';
  return {
    alertId: `${deviceId}:${type}:${episode}`,
    type,
    deviceId,
    kind: 'water-meter',
    state,
    ts,
    severity: 'critical',
    summary: 'Continuous flow for 24 h, about 4 L/h',
    details: {},
    ...rest,
  };
}

/** A device rollup (rollups.v1). */
export function rollup(
  deviceId: string,
  period: 'hour' | 'day',
  start: string,
  values: Record<string, number>,
): Rollup {
  return { kind: 'water-meter', scope: 'device', deviceId, district: 'north', period, start, values };
}

/** A bus message of a JSON value, keyed as its topic wants (deviceId; deviceId:type for alerts). */
export function message(value: DeviceInfo | AlertTransition | Rollup | Record<string, unknown>) {
  const v = value as { deviceId?: string; type?: string; state?: string };
  const key = v.state !== undefined && v.type !== undefined ? `${v.deviceId}:${v.type}` : (v.deviceId ?? 'none');
  return { key, value: JSON.stringify(value) };
}
